"""Fold-free targets: a target face whose control landmarks cross is untangled before the warp.

The motion field is a thin-plate spline through the control landmarks (generator/layers/
motion). Where the target's landmarks cross each other — a big turn pushes the far cheek's
points past the ones in front of them, looking down pulls the nose tip over the upper lip,
and a portrait's own depths can exaggerate both — the spline folds over, and the warp's
inversion takes one side of the fold here and the other there: the picture tears along it
(sadtalker_art_6 × lp_d3 f262: 38 of the 196 control triangles flipped, 8.8 % of the motion
grid folded, the face cut from the nose to the chin). The driver's own mesh crosses too (14
triangles there): it is occlusion, which a 2D warp cannot draw. So the target degrades
gracefully instead: where a triangle of the source's control mesh (its Delaunay
triangulation) shrinks below UNFOLD_AREA of its area or turns over, its corners'
displacements are pulled towards the triangle's mean displacement — a triangle moved as one
piece has its source shape again (the shape-matching step of Müller et al., "Meshless
deformations based on shape matching", SIGGRAPH 2005, with translation only) — a few steps,
until none is left (or UNFOLD_STEPS). Every other landmark moves with the triangle it lies in
(barycentric), so the eyes and lips drawn from their own landmarks stay on the warped face. A
target whose mesh does not fold comes back unchanged (the same array).

Slivers — triangles of the hull with under UNFOLD_SLIVER of the median area — are left out:
they turn over with a pixel's noise and cover nothing. So are triangles the source itself
holds turned over against a frontal face (the template's): a three-quarter portrait's far
cheek already lies folded behind its face, and a turn towards the camera unfolding it is no
fold. (Applied to the generator's input, :meth:`streamfx.animator.Animator.pose`; the
retargeter's target stays the geometry it modelled.)
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import Delaunay

from streamfx import landmarks as L

#: a control triangle folding below this share of its source area (or turning over) is relaxed
UNFOLD_AREA = 0.15
#: at most this many steps a frame, each moving a folded triangle's corners this far towards
#: the triangle's mean displacement
UNFOLD_STEPS = 40
UNFOLD_RATE = 0.5
#: triangles under this share of the median source area (the hull's slivers) are not checked
UNFOLD_SLIVER = 0.1


class ControlMesh:
    """The source's control landmarks (``landmarks.CONTROL``) as a Delaunay mesh: its
    triangles, their signed source areas, and every landmark's barycentric weights in the
    triangle it lies in (0 outside the mesh)."""

    def __init__(self, source: np.ndarray):
        """``source``: the portrait's landmarks, ``N×2`` or ``N×3`` pixels."""
        pts = np.asarray(source, np.float64)[:, :2]
        self.index = np.asarray(L.CONTROL, np.int64)
        self.points = pts[self.index]
        mesh = Delaunay(self.points)
        tri = mesh.simplices
        area = _areas(self.points, tri)
        # (each triangle is compared with its own signed source area: the orientation varies.)
        # A three-quarter portrait's far side may already lie folded in the source, the far
        # cheek's outline behind the face: a turn towards the camera unfolds it, which is no
        # fold — only triangles that lie as they do on a frontal face (the template's) count
        template = np.asarray(L.template_landmarks(), np.float64)[self.index, :2]
        upright = np.sign(_areas(template, tri)) == np.sign(area)
        keep = upright & (np.abs(area) >= UNFOLD_SLIVER * np.median(np.abs(area)))
        self.triangles, self.area = tri[keep], area[keep]
        weights = np.zeros((len(pts), len(self.index)))
        inside = mesh.find_simplex(pts)
        for i in np.flatnonzero(inside >= 0):
            t = mesh.transform[inside[i]]
            b = t[:2] @ (pts[i] - t[2])
            weights[i, tri[inside[i]]] = (b[0], b[1], 1.0 - b[0] - b[1])
        self.weights = weights  # N×n

    def folded(self, control: np.ndarray) -> np.ndarray:
        """Which triangles (bool, over :attr:`triangles`) have folded at ``control`` (``n×2``)."""
        return _areas(control, self.triangles) / self.area < UNFOLD_AREA


def unfold_target(target: np.ndarray, mesh: ControlMesh) -> np.ndarray:
    """``target`` (``N×2`` or ``N×3`` pixels) with its control mesh untangled (see the module
    docstring): a new array where anything folded, else ``target`` itself."""
    ctrl = np.asarray(target[mesh.index, :2], np.float64)
    bad = mesh.folded(ctrl)
    if not bad.any():
        return target
    moved = ctrl - mesh.points
    start = moved.copy()
    for _ in range(UNFOLD_STEPS):
        # each folded triangle's corners move towards the triangle's mean displacement: a
        # triangle moved as one piece has its source shape again (a corner shared by several
        # takes their average)
        tri = mesh.triangles[bad]
        towards, count = np.zeros_like(moved), np.zeros(len(moved))
        np.add.at(towards, tri.ravel(), np.repeat(moved[tri].mean(axis=1), 3, axis=0))
        np.add.at(count, tri.ravel(), 1.0)
        corners = count > 0
        moved[corners] += UNFOLD_RATE * (towards[corners] / count[corners, None] - moved[corners])
        bad = mesh.folded(mesh.points + moved)
        if not bad.any():
            break
    out = np.array(target, copy=True)
    out[:, :2] += (mesh.weights @ (moved - start)).astype(out.dtype)
    out[mesh.index, :2] = (mesh.points + moved).astype(out.dtype)
    return out


def _areas(p: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Signed areas of triangles ``tri`` (``T×3`` indices) over points ``p`` (``n×2``)."""
    a, b, c = p[tri[:, 0]], p[tri[:, 1]], p[tri[:, 2]]
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))

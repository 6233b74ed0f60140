"""The motion field: target landmarks → forward displacement on the coarse grid.

Per source: a thin-plate spline solved on the control landmarks inside the face, and a
least-squares head similarity on the skull's landmarks (``landmarks.SKULL``: hair, ears and
neck follow the skull, not the expression), both evaluated on the grid and multiplied by masks — the TPS
by an ellipse around the face, the similarity by the rest of the head zone
(:func:`~streamfx.generator.geometry.head_weight`: the whole head layer moves as one piece
and the motion fades out only down the neck; the warp composites the layer over the still
background plate, so the background never bends) — and a turn's parallax on the head zone
(yaw and pitch read from the rigid landmarks' depth changes: a head turning on its neck swings
its face, not its outline) and its foreshortening (nor does the outline shrink), folded
into the matrices ``face_field``, ``head_field``, ``turn_field`` and ``fore_field``, in
float64 (the TPS weights alone reach the thousands and cancel, which float32, and any
engine's summation order, would amplify).

Per frame: matmuls of the landmarks' displacements and depth changes (over the grid points
that move at all) and of the turn's angles squared, their masks, and a clamp to ``max_shift``. The masks blend from the
resting fade below the chin to a longer one as the chin moves away from its place
(``NECK_EASE``): over the short fade a chin moved far towards the body folded the neck over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from streamfx import landmarks as L
from streamfx.generator.basics import SourceBasics
from streamfx.generator.constants import (
    EYEWEAR_LENS,
    FACE_MASK_SHAPE,
    FRAME_PIN,
    HEAD_DEPTH,
    NECK_EASE,
    NECK_LONGEST,
    NORM_EPSILON,
    TPS_REGULARISATION,
)
from streamfx.generator.geometry import (
    falloff_mask,
    head_weight,
    similarity_rows,
    smoothstep,
    tps_kernel,
)
from streamfx.generator.head import edge_contact, spread_along
from streamfx.generator.layers.base import Frame, Layer
from streamfx.generator.layers.eyes import EyeShape, eyes_of
from streamfx.generator.ops.base import Ops


@dataclass(frozen=True)
class MotionConsts:
    control_idx: np.ndarray  # K landmark indices
    rigid_idx: np.ndarray  # R
    control: np.ndarray  # K×2 the source's control points
    rigid_source: np.ndarray  # R×2
    face_field: np.ndarray  # M×K: control displacements → the TPS displacement, moving grid points
    head_field: np.ndarray  # 2M×2R: rigid displacements → the head-similarity field
    turn_idx: np.ndarray  # T landmark indices a turn is read from (their depths)
    turn_depth: np.ndarray  # T×1 the source's depths there
    turn_field: np.ndarray  # 2M×T: depth changes → a turn's parallax on the head layer
    turn_angles: np.ndarray  # 2×T: depth changes → the turn's (yaw, pitch), radians
    fore_field: np.ndarray  # 2M×2: (yaw², pitch²) → the head similarity's foreshortening undone
    face_w: np.ndarray  # 2×M×1: the TPS's mask at rest, and how much more of it the longest neck fade adds
    head_w: np.ndarray  # 2×2M×1: the same for the head's motion (similarity and parallax)
    chin_idx: np.ndarray  # 1: the chin's landmark
    chin: np.ndarray  # 1×2: the source's chin (the neck's fade lengthens as it moves away)
    chin_ease: tuple[float, float]  # the chin's distance from it where the lengthening starts and ends, pixels
    rows: np.ndarray  # M: the grid points that move at all (the warp inverts the field there alone)
    moving: np.ndarray  # G: each grid point's row among the M moving ones (0 for a still one)
    still: np.ndarray  # 1×G×1 float32: 0 where a grid point never moves (both masks zero), else 1
    max_shift: float
    inward: tuple[np.ndarray, np.ndarray]  # 1×M×2 each: the share kept of a + and a − displacement (frame_pins)


@dataclass(frozen=True)
class MotionFields:
    """What :func:`motion_fields` solves (G grid points, K control, R skull, T rigid landmarks)."""

    face_field: np.ndarray  # G×K: control displacements → the TPS displacement
    head_field: np.ndarray  # 2G×2R: skull displacements → the head-similarity field
    turn_field: np.ndarray  # 2G×T: depth changes → a turn's parallax on the head layer
    turn_angles: np.ndarray  # 2×T: depth changes → (yaw, pitch), radians
    fore_field: np.ndarray  # 2G×2: (yaw², pitch²) → the head similarity's foreshortening undone
    face_w: np.ndarray  # 2×G×1: the TPS's mask at rest, and what the longest neck fade adds
    head_w: np.ndarray  # 2×2G×1: the same for the head's motion


def motion_fields(src: SourceBasics) -> MotionFields:
    """A source's motion fields: the TPS, the head similarity, a turn's parallax and its
    foreshortening, solved, evaluated on the grid and folded into one float32 matrix each
    (computed in float64), and their masks (at rest, and what the longest neck fade adds)."""
    lm = src.landmarks
    io = L.interocular(lm)
    # TPS on normalised coordinates so the regulariser means the same at any resolution
    control = lm[L.CONTROL, :2]
    c0 = control.mean(axis=0)
    cn = (control - c0) / io
    k = len(cn)
    kmat = tps_kernel(((cn[:, None] - cn[None]) ** 2).sum(-1)) + TPS_REGULARISATION * np.eye(k)
    p = np.concatenate([np.ones((k, 1)), cn], axis=1)
    system = np.zeros((k + 3, k + 3))
    system[:k, :k], system[:k, k:], system[k:, :k] = kmat, p, p.T
    tps_inverse = np.linalg.inv(system)[:, :k]
    flat = src.grid.reshape(-1, 2)
    gn = (flat - c0) / io
    basis = np.concatenate([tps_kernel(((gn[:, None] - cn[None]) ** 2).sum(-1)), np.ones((len(gn), 1)), gn], axis=1)
    # the head layer moves as one piece over the still background plate: the head's motion is
    # full over the whole head zone (the layer's matte decides what of it shows) and fades
    # out only down the neck, to the still body
    # — at rest, and with the longest fade below the chin (the motion layer blends between them
    # as the chin moves away from its place: NECK_EASE)
    masks = (head_weight(lm, flat), head_weight(lm, flat, NECK_LONGEST))
    # inside the face the landmarks are the truth; beyond it (hair, ears, neck) only the
    # head's rigid motion is, since extrapolating expressions there makes hair swim
    face_masks = [np.minimum(falloff_mask(lm, flat, *FACE_MASK_SHAPE), m) for m in masks]
    # glasses are rigid: over them the head's motion alone (a smile's cheeks bent the frame's
    # lower rims, a wink pulled one into a wave), and no turn parallax — they sit in front of
    # the face, not behind it as the head's outline does
    glasses = eyewear_weight(eyes_of(src), flat)
    face_masks = [fm * (1.0 - glasses) for fm in face_masks]
    head_ws = [m - fm for m, fm in zip(masks, face_masks, strict=True)]
    face_w = np.stack([face_masks[0], face_masks[1] - face_masks[0]])[..., None].astype(np.float32)
    head_w = np.stack([np.repeat(w, 2) for w in (head_ws[0], head_ws[1] - head_ws[0])])[..., None].astype(np.float32)
    rigid_inverse = np.linalg.pinv(similarity_rows((lm[L.SKULL, :2] - c0) / io))
    face_field = (basis @ tps_inverse).astype(np.float32)
    similarity = similarity_rows(gn) @ rigid_inverse  # 2G×2R: skull displacements → the head's motion
    head_field = similarity.astype(np.float32)
    # A turn (yaw, pitch) moves each landmark in 2D by its depth: the skull's similarity reads
    # that as a slide (and, as the nose's bridge lies in front of the eyes' corners, a little
    # roll), and hair and the head's outline would swing out with the face — though the outline
    # of a head turning on its neck barely moves. The turn shows in the landmarks' depth changes
    # (the retargeter carries the driver's; mediapipe's z grows away from the camera):
    # Δz ≈ −yaw·x + pitch·y + a shift and a scale in depth (leaning in scales z with the face),
    # fitted on the rigid landmarks. Each skull point's own parallax, (yaw, −pitch)·(its depth −
    # theirs), comes off before the similarity is fitted, and the head layer then moves as points
    # HEAD_DEPTH behind the skull points do (small angles: sin θ ≈ θ).
    rigid = lm[L.RIGID].astype(np.float64)
    rn = (rigid[:, :2] - c0) / io
    rz = (rigid[:, 2] - rigid[:, 2].mean()) / io
    design = np.stack([-rn[:, 0], rn[:, 1], np.ones(len(rn)), rz], axis=1)
    yaw_pitch = np.linalg.pinv(design)[:2] / io  # 2×T: depth changes (px) → (yaw, pitch), radians
    turn = np.stack([yaw_pitch[0], -yaw_pitch[1]])  # 2×T: → the parallax (dx, dy) per pixel of depth
    skull_z = lm[L.SKULL, 2].astype(np.float64)
    parallax = (np.repeat(skull_z - skull_z.mean(), 2)[:, None] * np.tile(turn, (len(skull_z), 1)))  # 2R×T
    behind = HEAD_DEPTH * io * np.tile(turn, (len(gn), 1)) * np.repeat(1.0 - glasses, 2)[:, None]  # 2G×T
    turn_field = (behind - similarity @ parallax).astype(np.float32)
    # A turn by Δ also foreshortens: a point's x goes from X·cos θ₀ + Z·sin θ₀ to that at
    # θ₀ + Δ, which is x + Δ·z − (Δ²/2)·x + … (θ₀ the portrait's own turn, z its depth there).
    # The parallax above is the first term; the second shrinks the skull points' spread across
    # the face (up and down it, for a pitch), which the similarity reads as the head shrinking —
    # though the outline of a head turning on its neck keeps its size (a sphere's does
    # exactly). So it comes off too: each skull point's offset from their centre × Δ²/2 is
    # added back before the fit (per frame: the turn's angles squared, × these two columns).
    skull = lm[L.SKULL, :2].astype(np.float64)
    spread = skull - skull.mean(axis=0)
    across, along = np.zeros(2 * len(skull)), np.zeros(2 * len(skull))
    across[0::2], along[1::2] = spread[:, 0], spread[:, 1]
    # (not over glasses: they sit on the face, and foreshorten with it)
    fore_field = (0.5 * similarity @ np.stack([across, along], axis=1)
                  * np.repeat(1.0 - glasses, 2)[:, None]).astype(np.float32)  # 2G×2
    return MotionFields(face_field, head_field, turn_field, yaw_pitch.astype(np.float32), fore_field, face_w, head_w)


def frame_pins(pts: np.ndarray, shape: tuple[int, int], io: float, cover: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How much of a displacement away from the picture's edge each point keeps (1×N×2 for a
    positive x, y displacement and 1×N×2 for a negative one; ``pts`` N×2 pixels of an H×W
    picture): 0 on an edge the head layer is held at (:func:`~streamfx.generator.head.edge_contact`),
    rising over ``FRAME_PIN`` × the inter-ocular distance; 1 near an edge it does not reach or only
    grazes (``cover``: the layer's coverage, H×W uint8).

    Content moving away from an edge uncovers what lies past the frame, which a portrait does
    not have: a close-up shrinking as the performer leans back pulled the chest up from below
    the picture, and the edge's last row, repeated, drew vertical streaks down the neck (the
    hair at the top and sides alike, on a head moving down or sideways). Where the layer
    reaches an edge, motion away from it fades out, so the edge stays and what is beside it
    stretches — the neck, as the head layer's own fade down the neck does; the points' order
    never reverses (a field that only stretches cannot fold). Where the background lies between
    the layer and the edge, nothing past the frame is needed: the head moves whole and the
    plate shows behind it (pinned there, a head moving down drew its hair up into a horn from
    the top of the picture, lp_d12). Motion towards an edge is kept: what leaves the frame
    needs nothing past it."""
    h, w = shape
    reach = FRAME_PIN * io

    def keep(d: np.ndarray) -> np.ndarray:
        return smoothstep(0.0, reach, np.maximum(d, 0.0))

    x, y = pts[:, 0], pts[:, 1]
    held = [spread_along(t, reach) for t in edge_contact(cover, io).held]
    rows, cols = np.arange(h), np.arange(w)
    left, right = (np.interp(y, rows, p) for p in (held[0], held[2]))
    top, bottom = (np.interp(x, cols, p) for p in (held[1], held[3]))

    def pinned(reached: np.ndarray, d: np.ndarray) -> np.ndarray:
        return 1.0 - reached * (1.0 - keep(d))

    # moving right leaves the left edge, down the top
    plus = np.stack([pinned(left, x), pinned(top, y)], axis=1)
    minus = np.stack([pinned(right, w - 1 - x), pinned(bottom, h - 1 - y)], axis=1)
    return plus[None].astype(np.float32), minus[None].astype(np.float32)


def eyewear_weight(eyes: Sequence[EyeShape], pts: np.ndarray) -> np.ndarray:
    """0…1 at points (N×2 pixels): over a pair of glasses — a soft box around each eye, just past
    its eyewear rim's top edge above it (EyeShape.rim) and EYEWEAR_LENS beside and below it; 0
    everywhere without glasses."""
    side, side_fade, up, up_fade, down, down_fade = EYEWEAR_LENS
    weight = np.zeros(len(pts))
    top = min((e.rim for e in eyes), default=0.0)
    if top >= 0.0:
        return weight
    for e in eyes:  # both eyes: a frame holds both lenses, though a rim may show over one only
        w = e.width
        d = pts - (e.origin + 0.5 * w * e.axis)
        along, v = np.abs(d @ e.axis), d @ e.down
        rim = e.rim if e.rim < 0.0 else top
        across = np.clip((side * w + side_fade * w - along) / (side_fade * w), 0.0, 1.0)
        above = np.clip((v - rim + (up + up_fade) * w) / (up_fade * w), 0.0, 1.0)
        below = np.clip(((down + down_fade) * w - v) / (down_fade * w), 0.0, 1.0)
        weight = np.maximum(weight, across * above * below)
    return weight


class MotionLayer(Layer):
    name = "motion"
    kind = "field"
    stage = "motion"
    settings = ("grid_step",)

    def prepare(self, src: SourceBasics) -> MotionConsts:
        f = motion_fields(src)
        face_field, head_field, turn_field, face_w, head_w = f.face_field, f.head_field, f.turn_field, f.face_w, f.head_w
        lm = src.landmarks
        # most of the grid (background, body) never moves: the products run over the rows that
        # do, and a gather spreads them back (a third of the work on a head-and-shoulders photo)
        moves = (face_w.sum(axis=0)[:, 0] != 0) | (head_w.sum(axis=0)[:, 0].reshape(-1, 2) != 0).any(axis=1)
        rows = np.flatnonzero(moves)
        if len(rows) == 0:
            rows = np.zeros(1, np.int64)
        where = np.zeros(len(face_field), np.int64)
        where[rows] = np.arange(len(rows))
        head_rows = np.stack([2 * rows, 2 * rows + 1], axis=1).ravel()
        return MotionConsts(
            control_idx=np.asarray(L.CONTROL, np.int64), rigid_idx=np.asarray(L.SKULL, np.int64),
            control=lm[L.CONTROL, :2].astype(np.float32), rigid_source=lm[L.SKULL, :2].astype(np.float32),
            face_field=np.ascontiguousarray(face_field[rows]), head_field=np.ascontiguousarray(head_field[head_rows]),
            turn_idx=np.asarray(L.RIGID, np.int64), turn_depth=lm[L.RIGID, 2:3].astype(np.float32),
            turn_field=np.ascontiguousarray(turn_field[head_rows]), turn_angles=f.turn_angles,
            fore_field=np.ascontiguousarray(f.fore_field[head_rows]),
            face_w=np.ascontiguousarray(face_w[:, rows]), head_w=np.ascontiguousarray(head_w[:, head_rows]),
            chin_idx=np.array([L.CHIN_TIP], np.int64), chin=lm[L.CHIN_TIP:L.CHIN_TIP + 1, :2].astype(np.float32),
            chin_ease=(NECK_EASE[0] * L.interocular(lm), NECK_EASE[1] * L.interocular(lm)),
            rows=rows, moving=where, still=moves.astype(np.float32).reshape(1, -1, 1), max_shift=src.max_shift,
            inward=frame_pins(src.grid.reshape(-1, 2)[rows], (src.image.shape[0], src.image.shape[1]),
                              L.interocular(lm), 255 - src.layer[..., -1]))

    def apply(self, ops: Ops, k: MotionConsts, frame: Frame) -> None:
        t = frame.target
        n_moving, n_rigid = len(k.face_field), len(k.rigid_idx)
        ctrl = ops.gather(t, ops.const(k.control_idx), axis=1)
        d_ctrl = ops.sub(ctrl, ops.const(k.control, "control"))
        # how far the fade below the chin has lengthened (0: at rest … 1: the longest): a chin
        # moved far towards the body would fold the neck over a short fade
        d_chin = ops.sub(ops.gather(t, ops.const(k.chin_idx), axis=1), ops.const(k.chin, "chin"))
        chin_moved = ops.per_frame(ops.sqrt(ops.reduce_sum(ops.mul(d_chin, d_chin), (2,))))  # B×1×1
        lo, hi = k.chin_ease
        longer = ops.clip01(ops.mul(ops.sub(chin_moved, ops.f(lo)), ops.f(1.0 / max(hi - lo, 1e-6))))
        face_w = ops.add(ops.const(k.face_w[0:1], "face_w_rest"), ops.mul(longer, ops.const(k.face_w[1:2], "face_w_more")))
        head_w = ops.add(ops.const(k.head_w[0:1], "head_w_rest"), ops.mul(longer, ops.const(k.head_w[1:2], "head_w_more")))
        nonrigid = ops.mul(face_w, ops.matmul(ops.const(k.face_field, "face_field"), d_ctrl))  # B×M×2
        rig = ops.gather(t, ops.const(k.rigid_idx), axis=1)
        d_rig = ops.sub(rig, ops.const(k.rigid_source, "rigid_source"))
        d_rig = ops.reshape(d_rig, (0, 2 * n_rigid, 1))
        rigid = ops.matmul(ops.const(k.head_field, "head_field"), d_rig)  # B×2M×1
        d_depth = ops.sub(ops.gather(frame.depth, ops.const(k.turn_idx), axis=1), ops.const(k.turn_depth, "turn_depth"))
        rigid = ops.add(rigid, ops.matmul(ops.const(k.turn_field, "turn_field"), d_depth))  # a turn's parallax
        angles = ops.matmul(ops.const(k.turn_angles, "turn_angles"), d_depth)  # B×2×1: yaw, pitch
        rigid = ops.add(rigid, ops.matmul(ops.const(k.fore_field, "fore_field"), ops.mul(angles, angles)))
        rigid = ops.reshape(ops.mul(head_w, rigid), (0, n_moving, 2))
        disp = ops.add(nonrigid, rigid)
        # clamp to the margin the region of interest was grown by
        norm = ops.sqrt(ops.reduce_sum(ops.mul(disp, disp), (2,)))
        scale = ops.minimum(ops.f(1.0), ops.div(ops.f(k.max_shift), ops.maximum(norm, ops.f(NORM_EPSILON))))
        disp = ops.mul(disp, scale)
        # nothing is pulled in from past the picture's edge (frame_pins)
        gain_up, gain_down = k.inward
        disp = ops.add(ops.mul(ops.maximum(disp, ops.f(0.0)), ops.const(gain_up, "inward_plus")),
                       ops.mul(ops.minimum(disp, ops.f(0.0)), ops.const(gain_down, "inward_minus")))
        # back onto the whole grid (B×G×2), zero where nothing moves
        full = ops.gather(disp, ops.const(k.moving, "moving"), axis=1)
        frame.displacement = ops.mul(full, ops.const(k.still, "still"))

"""The person matte of a portrait (mediapipe selfie segmentation, bundled model), and the
cut-out alpha that transparent outputs carry.

Two mattes, two jobs: :func:`person_matte` tells the generator how far the hair reaches (a
soft, stable region); :func:`cutout_alpha` is what the output's alpha channel shows — the
same segmentation refined at the edges against the picture itself (a guided filter, so
strands of hair keep their own edge instead of the model's blurry one), or the portrait's
own alpha channel when it has one.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Pixels with less alpha than this are hidden: their colour is replaced on loading.
HIDDEN_ALPHA = 1


def has_alpha(image: np.ndarray) -> bool:
    """True for an H×W×4 image."""
    return image.ndim == 3 and image.shape[2] == 4


def source_matte(image: np.ndarray) -> np.ndarray:
    """The matte a portrait is prepared with: its own alpha channel if it has one."""
    if has_alpha(image):
        return np.ascontiguousarray(image[..., 3])
    return person_matte(image[..., :3])


def cutout_alpha(image: np.ndarray, person: np.ndarray | None = None) -> np.ndarray:
    """The alpha (H×W uint8) that cuts the subject out: the image's own, else a refined person
    matte (``person``: :func:`person_matte` of the image, when already computed)."""
    if has_alpha(image):
        return np.ascontiguousarray(image[..., 3])
    rgb = np.ascontiguousarray(image[..., :3])
    coarse = person_matte(rgb) if person is None else person
    # guided filter: the matte takes the picture's edges (hair, ears) — radius and eps
    # scale with the image, so a 4K portrait refines like a 512 px one
    r = max(2, round(max(rgb.shape[:2]) / 160))
    refined = cv2.ximgproc.guidedFilter(rgb, coarse, r, (0.02 * 255) ** 2)
    # keep it a matte: the guided filter overshoots a little at strong edges
    return np.clip(refined, 0, 255).astype(np.uint8)


def neutralise_hidden_colour(rgba: np.ndarray) -> np.ndarray:
    """A copy of ``rgba`` whose fully transparent pixels carry the colour of the nearest visible one.

    Editors store anything under alpha = 0 (a magenta key, black, leftovers). That colour must
    never show: warping and resizing mix a pixel with its neighbours, so hidden colour would
    bleed into the visible edge, and outputs without alpha would show it outright. Filling
    the hidden area with the edge's own colours makes every mix look right.
    """
    out = np.array(rgba, dtype=np.uint8, copy=True)
    hidden = out[..., 3] < HIDDEN_ALPHA
    if not hidden.any():
        return out
    if hidden.all():
        out[..., :3] = 0
        return out
    # every hidden pixel gets the label of its nearest visible pixel; labels number the
    # visible pixels in scan order (OpenCV's DIST_LABEL_PIXEL)
    _, labels = cv2.distanceTransformWithLabels(hidden.astype(np.uint8), cv2.DIST_L2, 3,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    visible_rgb = out[..., :3][~hidden]
    out[..., :3][hidden] = visible_rgb[labels[hidden] - 1]
    return out


def person_matte(rgb: np.ndarray) -> np.ndarray:
    """Alpha (H×W uint8, 255 = person) for a still portrait; computed once per source."""
    from streamfx.tracking import mp  # deferred: loading images must not load mediapipe

    h, w = rgb.shape[:2]
    s = min(1.0, 1024 / max(h, w))
    small = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else rgb
    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
        m = seg.process(np.ascontiguousarray(small)).segmentation_mask
    if m is None:
        return np.full((h, w), 255, np.uint8)
    m = cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    # a soft but not mushy edge: stretch the probability around 0.5
    return np.clip((m - 0.25) * 2.0 * 255, 0, 255).astype(np.uint8)

"""The evaluation's measures on synthetic images and made-up landmarks, where the answer is known.

Landmarks come from the built-in template face posed by :class:`~streamfx.motion.FaceRig`
(no tracker involved), so every expected value follows from the construction.
"""

from __future__ import annotations

import argparse
import math

import cv2
import numpy as np
import pytest

from streamfx import evaluation as E
from streamfx import landmarks as L
from streamfx.errors import InputError
from streamfx.eval_options import add_arguments as add_eval_arguments
from streamfx.motion import CHANNELS, FaceRig

SIZE = 400


def _rig() -> FaceRig:
    """The template face, 100 px between the eyes, centred in a 400² image."""
    tpl = L.template_landmarks().copy()
    tpl[:, :2] = tpl[:, :2] * 100 + np.array([200, 170], np.float32)
    tpl[:, 2] *= 100
    return FaceRig(tpl)


def _pose(rig: FaceRig, **channels: float) -> np.ndarray:
    p = dict.fromkeys(CHANNELS, 0.0)
    p.update(channels)
    return rig.pose(p)


def _rotated(lm: np.ndarray, deg: float, scale: float = 1.0) -> np.ndarray:
    a = math.radians(deg)
    r = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], np.float32)
    out = lm.copy()
    c = lm[:, :2].mean(axis=0)
    out[:, :2] = (lm[:, :2] - c) @ r.T + c
    return out


def _face_image(lm: np.ndarray, mouth_colour: tuple[int, int, int]) -> np.ndarray:
    """Skin inside the face oval, grey outside, and the inner-lip polygon filled with ``mouth_colour``."""
    img = np.full((SIZE, SIZE, 3), 90, np.uint8)
    cv2.fillPoly(img, [np.round(lm[L.FACE_OVAL, :2]).astype(np.int32)], (205, 160, 130))
    cv2.fillPoly(img, [np.round(lm[L.LIPS_OUTER, :2]).astype(np.int32)], (190, 70, 80))  # saturated lips
    cv2.fillPoly(img, [np.round(lm[L.LIPS_INNER, :2] * 16).astype(np.int32)], mouth_colour, shift=4)
    return img


# ---- landmark measures -------------------------------------------------------------------
def test_per_eye_openness_sees_a_wink_that_the_two_eye_mean_halves() -> None:
    rig = _rig()
    open_r, open_l = L.eye_openness_each(_pose(rig))
    wink_r, wink_l = L.eye_openness_each(_pose(rig, blink_left=1.0))
    assert open_r > 0.25 and open_l > 0.25
    assert wink_l < 0.05 and wink_r == pytest.approx(open_r)
    assert L.eye_openness(_pose(rig, blink_left=1.0)) == pytest.approx((wink_r + wink_l) / 2)


def test_gaze_follows_the_iris_and_ignores_head_roll_and_scale() -> None:
    rig = _rig()
    ahead = L.gaze(_pose(rig))
    right = L.gaze(_pose(rig, gaze_x=1.0))
    down = L.gaze(_pose(rig, gaze_y=1.0))
    assert (right[:, 0] - ahead[:, 0] > 0.2).all() and np.allclose(right[:, 1], ahead[:, 1], atol=1e-3)
    assert (down[:, 1] - ahead[:, 1] > 0.1).all() and np.allclose(down[:, 0], ahead[:, 0], atol=1e-3)
    np.testing.assert_allclose(L.gaze(_rotated(_pose(rig, gaze_x=1.0), 30, 1.7)), right, atol=1e-4)


def test_brow_height_and_lip_gap_grow_with_raised_brows_and_an_open_mouth() -> None:
    rig = _rig()
    rest = _pose(rig)
    assert L.brow_height(_pose(rig, brow_raise=1.0)) > L.brow_height(rest) + 0.1
    assert L.brow_height(_rotated(rest, -25, 0.5)) == pytest.approx(L.brow_height(rest), abs=1e-4)
    assert L.lip_gap(_pose(rig, mouth_open=1.0)) > L.lip_gap(rest) + 0.3
    assert L.lip_gap(_rotated(rest, 40, 2.0)) == pytest.approx(L.lip_gap(rest), abs=1e-4)


def test_open_frames_are_those_opened_past_the_source_by_the_margin() -> None:
    rig = _rig()
    openings = [0.0, 0.02, 0.05, 0.3, 0.6, 1.0, 0.0]
    gaps = [L.lip_gap(_pose(rig, mouth_open=a)) for a in openings]
    assert E.open_frames(gaps, gaps[0]).tolist() == [False, False, False, True, True, True, False]
    # a source that is already open moves the bar up with it
    assert E.open_frames(gaps, gaps[4]).tolist() == [False, False, False, False, False, True, False]


# ---- image measures ----------------------------------------------------------------------
def test_mouth_box_is_the_outer_lips_padded_by_a_quarter_of_their_width() -> None:
    lm = _pose(_rig())
    pts = lm[L.LIPS_OUTER, :2]
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    p = 0.25 * (x1 - x0)
    assert E.mouth_box(lm, SIZE, SIZE) == (math.floor(x0 - p), math.floor(y0 - p), math.ceil(x1 + p), math.ceil(y1 + p))
    # clipped to the image
    shifted = lm.copy()
    shifted[:, 0] -= x0 + 5
    assert E.mouth_box(shifted, SIZE, SIZE)[0] == 0


@pytest.mark.parametrize(("colour", "share"), [((250, 250, 245), 1.0), ((35, 20, 25), 0.0), ((230, 60, 60), 0.0)],
                         ids=["white teeth", "dark hole", "bright red tongue"])
def test_teeth_share_inside_the_inner_lips(colour: tuple[int, int, int], share: float) -> None:
    lm = _pose(_rig(), mouth_open=0.6)
    img = _face_image(lm, colour)
    inner = E.inner_lip_mask(lm, SIZE, SIZE)
    assert inner.sum() > 300
    assert E.teeth_share(img, inner, lm) == pytest.approx(share, abs=0.03)


def test_teeth_share_does_not_depend_on_exposure() -> None:
    """Teeth in a dim frame are still the brightest thing in the face: a fixed brightness bar
    would call them dark."""
    lm = _pose(_rig(), mouth_open=0.6)
    img = _face_image(lm, (250, 250, 245))
    inner = E.inner_lip_mask(lm, SIZE, SIZE)
    for gain in (0.35, 0.6, 1.0):
        dim = np.clip(img.astype(np.float32) * gain, 0, 255).astype(np.uint8)
        assert E.teeth_share(dim, inner, lm) == pytest.approx(1.0, abs=0.03), gain


def test_pale_lips_on_pale_skin_are_not_teeth() -> None:
    """On a pale, flatly lit face the lips are as unsaturated as teeth in absolute terms
    (S ≈ 0.24 here, under a fixed 0.35 bar): judged against the skin's saturation they are
    not teeth, while white teeth still are."""
    lm = _pose(_rig(), mouth_open=0.6)
    skin, lips, teeth = (200, 172, 152), (196, 156, 149), (245, 240, 230)
    for mouth, share in ((lips, 0.0), (teeth, 1.0)):
        img = _face_image(lm, mouth)
        img[np.all(img == (205, 160, 130), axis=-1)] = skin
        assert E.teeth_share(img, E.inner_lip_mask(lm, SIZE, SIZE), lm) == pytest.approx(share, abs=0.03), mouth


def test_teeth_share_of_an_empty_polygon_is_undefined() -> None:
    lm = _pose(_rig())
    img = _face_image(lm, (250, 250, 245))
    empty = np.zeros((SIZE, SIZE), bool)
    assert math.isnan(E.teeth_share(img, empty, lm))


def test_ssim_of_identical_crops_is_one_and_of_tiny_crops_undefined() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    assert E.ssim(img, img.copy()) == pytest.approx(1.0)
    assert E.ssim(img, 255 - img) < 0.2
    assert math.isnan(E.ssim(img[:8, :40], img[:8, :40]))


# ---- correlations ------------------------------------------------------------------------
def test_pearson_copied_reversed_constant_and_missing() -> None:
    x = np.sin(np.linspace(0, 6, 50)) + np.linspace(0, 1, 50)
    assert E.pearson(x, x.copy()) == pytest.approx(1.0)
    ramp = np.arange(20.0)
    assert E.pearson(ramp, ramp[::-1]) == pytest.approx(-1.0)
    assert math.isnan(E.pearson(x, np.full(50, 0.3)))
    assert math.isnan(E.pearson([1.0, 2.0], [1.0, 2.0]))
    gappy = x.copy()
    gappy[::3] = np.nan  # frames where the output's face was not found are left out, not zeroed
    assert E.pearson(x, gappy) == pytest.approx(1.0)


def test_eye_corr_per_eye_catches_swapped_winks_that_a_two_eye_mean_misses() -> None:
    n = 60
    right = np.full(n, 0.3)
    left = np.full(n, 0.3)
    right[10:15] = right[40:44] = 0.03  # right-eye winks
    left[25:30] = 0.03  # a left-eye wink
    ref = np.stack([right, left], axis=1)
    same = E.eye_corr(ref, ref.copy())
    assert same["eye_corr"] == pytest.approx(1.0) and same["eye_corr_r"] == pytest.approx(1.0)
    swapped = E.eye_corr(ref, ref[:, ::-1].copy())  # the output winks the wrong eye
    assert swapped["eye_corr_2eye"] == pytest.approx(1.0)
    assert swapped["eye_corr"] < 0


def test_gaze_corr_per_axis_and_eye() -> None:
    t = np.linspace(0, 8, 80)
    g = np.zeros((80, 2, 2))
    g[:, :, 0] = 0.2 * np.sin(t)[:, None]
    g[:, :, 1] = 0.1 * np.cos(1.3 * t)[:, None] + np.array([0.0, 0.01])
    c = E.gaze_corr(g, g.copy())
    assert c["gaze_corr"] == pytest.approx(1.0)
    flipped = g.copy()
    flipped[:, :, 0] *= -1  # looks left when the driver looks right
    c = E.gaze_corr(g, flipped)
    assert c["gaze_corr_x"] == pytest.approx(-1.0) and c["gaze_corr_y"] == pytest.approx(1.0)
    assert c["gaze_corr"] == pytest.approx(0.0, abs=1e-9)


# ---- per-clip summaries ------------------------------------------------------------------
def _clip(gaps: list[float], teeth_real: list[float], teeth_out: list[float], mouth_ssim: list[float]) -> E.ClipScores:
    s = E.ClipScores(clip="made-up", frames=len(gaps), source_gap=gaps[0])
    s.gap, s.teeth_real = gaps, teeth_real
    for m in E.METHODS:
        d = s.metrics[m]
        n = len(gaps)
        d["ssim"], d["ssim_face"], d["psnr"], d["psnr_face"] = [0.9] * n, [0.8] * n, [30.0] * n, [28.0] * n
        d["akd"], d["mouth_ssim"], d["teeth"] = [0.02] * n, mouth_ssim, teeth_out
        s.found[m] = n
        s.eyes[m] = [(0.3 + 0.01 * i, 0.3) for i in range(n)]
        s.gazes[m] = [[[0.0, 0.0], [0.0, 0.0]]] * n
    s.eyes["truth"] = [(0.3 + 0.01 * i, 0.3 - 0.01 * i) for i in range(n)]
    s.gazes["truth"] = [[[0.0, 0.0], [0.0, 0.0]]] * n
    return s


def test_clip_scores_count_teeth_and_mouth_only_on_open_frames() -> None:
    #            source  closed  open   open   closed
    gaps = [0.01, 0.03, 0.20, 0.30, 0.02]
    s = _clip(gaps, teeth_real=[0.0, 0.9, 0.5, 0.3, 0.9], teeth_out=[0.0, 0.0, 0.1, 0.3, 0.0],
              mouth_ssim=[1.0, 0.9, 0.5, 0.7, 0.9])
    assert s.open.tolist() == [False, False, True, True, False]
    out = s.summary()["streamfx"]
    assert out["teeth_err"] == pytest.approx((0.4 + 0.0) / 2)
    assert out["mouth_ssim_open"] == pytest.approx(0.6)
    assert out["mouth_ssim"] == pytest.approx(0.8)
    assert out["eye_corr_r"] == pytest.approx(1.0) and math.isnan(out["eye_corr_l"])  # the output's left eye never moves
    clip = s.clip_summary()
    assert clip == {"frames": 5, "open_frames": 2, "source_gap": 0.01, "real_teeth_share": pytest.approx(0.4),
                    "shows_teeth": True}
    table = E.self_table([s])
    assert "| made-up | streamfx |" in table and "mouth SSIM (open)" in table and "teeth err" in table
    assert "| made-up | 5 | 2 | 0.010 | 0.400 | yes |" in table


def test_a_clip_without_open_frames_has_no_teeth_error() -> None:
    s = _clip([0.01, 0.02, 0.03], [0.0] * 3, [0.0] * 3, [1.0] * 3)
    out = s.summary()["streamfx"]
    assert math.isnan(out["teeth_err"]) and math.isnan(out["mouth_ssim_open"])
    assert s.clip_summary()["shows_teeth"] is False
    assert "| made-up | 3 | 0 | 0.010 | — | no |" in E.self_table([s])


def test_cross_combined_takes_min_and_mean_over_drivers() -> None:
    def row(p: str, d: str, mouth: float, eye: float) -> dict[str, object]:
        return {"portrait": p, "driver": d, "route": "tracker", "frames": 10, "face_found": 1.0, "mouth_corr": mouth,
                "eye_corr_r": eye, "eye_corr_l": eye, "eye_corr": eye, "gaze_corr": 0.5}

    rows: list[dict[str, object]] = [row("a.jpg", "d1", 0.9, 0.8), row("a.jpg", "d2", 0.5, 0.6), row("b.jpg", "d1", 0.7, math.nan),
            row("b.jpg", "d2", 0.9, 0.9), {"portrait": "c.png", "driver": "d1", "error": "no readable face"}]
    c = {r["portrait"]: r for r in E.cross_combined(rows)}
    assert c["a.jpg"]["mouth_corr_min"] == pytest.approx(0.5) and c["a.jpg"]["mouth_corr_mean"] == pytest.approx(0.7)
    assert math.isnan(float(c["b.jpg"]["eye_corr_min"]))  # type: ignore[arg-type]  # undefined on one driver: no guaranteed minimum
    assert c["b.jpg"]["eye_corr_mean"] == pytest.approx(0.9)
    assert c["c.png"]["errors"] == 1 and math.isnan(float(c["c.png"]["mouth_corr_min"]))  # type: ignore[arg-type]
    table = E.combined_table(E.cross_combined(rows))
    assert "| a.jpg | 2 | 0.50 | 0.70 | 0.60 | 0.70 |" in table and "(1 no face)" in table


# ---- the hardest moments -----------------------------------------------------------------
def test_pick_moments_finds_each_moment_in_a_made_up_sequence() -> None:
    rng = np.random.default_rng(1)
    rig = _rig()
    events = {4: {"mouth_open": 0.9}, 9: {"blink_left": 1.0}, 13: {"brow_raise": 0.8}, 17: {"gaze_x": 0.9},
              21: {}}  # 21: the neutral face itself
    seq: list[np.ndarray | None] = []
    for i in range(25):
        # everything else talks a little, blinks a little, looks about a little
        ch = {"mouth_open": rng.uniform(0.05, 0.3), "blink_left": rng.uniform(0, 0.2), "blink_right": rng.uniform(0, 0.2),
              "brow_raise": rng.uniform(-0.2, 0.2), "gaze_x": rng.uniform(-0.3, 0.3), "gaze_y": rng.uniform(-0.3, 0.3),
              "yaw": rng.uniform(-5, 5), "roll": rng.uniform(-5, 5)}
        if i in events:
            ch = {"yaw": 2.0, **events[i]}
        seq.append(_pose(rig, **ch))
    seq[2] = seq[11] = None  # frames without a face keep their places
    picked = {m.what: m.index for m in E.pick_moments(seq)}
    assert picked == {"widest mouth": 4, "wink": 9, "raised brows": 13, "gaze change": 17, "most neutral": 21}
    assert E.pick_moments([None, None]) == []


def test_pick_head_moments_finds_the_largest_moves_in_a_made_up_sequence() -> None:
    """Issue 12's sheets: the largest yaw, pitch and roll, and the nearest and farthest face."""
    rng = np.random.default_rng(2)
    rig = _rig()
    seq: list[np.ndarray | None] = []
    for i in range(25):
        ch = {"yaw": rng.uniform(-4, 4), "pitch": rng.uniform(-3, 3), "roll": rng.uniform(-3, 3)}
        ch.update({5: {"yaw": 30.0}, 10: {"pitch": 20.0}, 15: {"roll": 25.0}}.get(i, {}))
        lm = _pose(rig, **ch)
        if i == 19:
            lm = _rotated(lm, 0.0, 1.3)  # leaning in
        if i == 22:
            lm = _rotated(lm, 0.0, 0.75)  # leaning back
        seq.append(lm)
    seq[3] = None
    picked = {m.what: m.index for m in E.pick_head_moments(seq)}
    assert picked["largest yaw"] == 5 and picked["largest pitch"] == 10 and picked["largest roll (deg)"] == 15
    assert picked["nearest (io x median)"] == 19 and picked["farthest (io x median)"] == 22
    assert "most neutral" in picked and E.pick_head_moments([None]) == []


# ---- the command line checks its inputs before the long runs ------------------------------
def _args(tmp_path, **kw: object) -> argparse.Namespace:  # type: ignore[no-untyped-def]
    p = argparse.ArgumentParser()
    add_eval_arguments(p)
    argv = ["--driving", str(tmp_path), "--sources", str(tmp_path), "--out", str(tmp_path / "out")]
    for k, v in kw.items():
        argv += [f"--{k.replace('_', '-')}", *([str(x) for x in v] if isinstance(v, list) else [str(v)])]
    return p.parse_args(argv)


def test_several_cross_drivers_and_extra_clips_parse_and_missing_ones_fail_early(tmp_path) -> None:  # type: ignore[no-untyped-def]
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    args = _args(tmp_path, cross_driver=[a, b], extra_clips=[a])
    assert args.cross_driver == [a, b] and args.extra_clips == [a]
    with pytest.raises(InputError, match="cross driver .*a.mp4' does not exist"):
        E.main(_args(tmp_path, mode="cross", cross_driver=[a, b]))
    with pytest.raises(InputError, match="extra clip .*a.mp4' does not exist"):
        E.main(_args(tmp_path, mode="self", extra_clips=[a]))
    assert not (tmp_path / "out").exists()  # nothing written before the inputs were checked

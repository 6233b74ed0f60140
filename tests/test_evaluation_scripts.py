"""`streamfx eval` with several drivers and extra clips, and the contact-sheet script, on a
few frames of the real media (real tracker, real Animator)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from tests.conftest import ROOT, case, media


def test_eval_takes_extra_clips_and_several_cross_drivers(tmp_path: Path) -> None:
    """Self-reenactment of an extra clip (from outside --driving) and cross-reenactment
    with two drivers: a table per driver, a min/mean table over them, every measure in the JSON."""
    zoom = case("driver_zoom_pan.mp4")
    d10, d3 = media("driving", "lp_d10.mp4"), media("driving", "lp_d3.mp4")
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "a.jpg").symlink_to(media("source", "lp_s12.jpg"))
    empty = tmp_path / "no_clips"
    empty.mkdir()
    p = subprocess.run([sys.executable, "scripts/eval.py", "--driving", str(empty), "--extra-clips", str(zoom),
                        "--frames", "5", "--sources", str(sources), "--cross-driver", str(d10), str(d3),
                        "--cross-frames", "5", "--out", str(tmp_path / "eval")],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    report = json.loads((tmp_path / "eval" / "eval.json").read_text())
    ours = report["self"]["driver_zoom_pan"]["streamfx"]
    for k in ("mouth_ssim", "mouth_ssim_open", "teeth_err", "eye_corr", "eye_corr_r", "eye_corr_l", "gaze_corr"):
        assert k in ours, k
    assert 0.3 < ours["mouth_ssim"] <= 1.0
    clip = report["self_clips"]["driver_zoom_pan"]
    assert clip["frames"] == 5 and set(clip) >= {"open_frames", "real_teeth_share", "shows_teeth"}
    assert len(report["self_frames"]["driver_zoom_pan"]["gap"]) == 5
    rows = report["cross"]
    assert [(r["portrait"], r["driver"]) for r in rows] == [("a.jpg", "lp_d10.mp4"), ("a.jpg", "lp_d3.mp4")]
    assert all(r["frames"] == 5 and "gaze_corr" in r and "eye_corr_l" in r for r in rows)
    (combined,) = report["cross_combined"]
    assert combined["portrait"] == "a.jpg" and combined["drivers"] == 2
    md = (tmp_path / "eval" / "eval.md").read_text()
    assert "driver: lp_d10.mp4" in md and "driver: lp_d3.mp4" in md
    assert "over 2 drivers (lp_d10.mp4, lp_d3.mp4): min and mean" in md
    assert "| driver_zoom_pan | streamfx |" in md and "mouth SSIM (open)" in md


def test_contact_sheet_for_a_folder_of_portraits(tmp_path: Path) -> None:
    """One sheet per readable portrait (five labelled moments: driver | output | mouth | eyes);
    a portrait without a face is skipped with a message, not a traceback."""
    driver = media("driving", "lp_d14.mp4")
    folder = tmp_path / "portraits"
    folder.mkdir()
    (folder / "einstein.jpg").symlink_to(media("source", "lp_s12.jpg"))
    cv2.imwrite(str(folder / "blank.png"), np.full((200, 200, 3), 127, np.uint8))
    p = subprocess.run([sys.executable, "scripts/contact_sheet.py", "--sheet-all", str(folder), str(driver),
                        "--frames", "16", "--out-dir", str(tmp_path / "sheets")],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert "skipped blank.png" in p.stderr and "Traceback" not in p.stderr
    sheet = tmp_path / "sheets" / "einstein__lp_d14.png"
    assert f"wrote {sheet}" in p.stdout
    assert not (tmp_path / "sheets" / "blank__lp_d14.png").exists()
    img = cv2.imread(str(sheet))
    assert img is not None and img.shape[0] > 5 * 360 and img.shape[1] > 2 * 360
    for what in ("widest mouth", "wink", "raised brows", "gaze change", "most neutral"):
        assert f"{what} (" in p.stderr, what
    # five rows (title 32 + gap 6; per row: label 26, tile labels 20, frames 360 tall, gap 6),
    # each with a picture of the driver and of the output, not the background
    row = 26 + 20 + 360 + 6
    for r in range(5):
        y = 38 + r * row + 46
        driver_tile, output_tile = img[y:y + 360, :300], img[y:y + 360, 372:672]
        assert driver_tile.std() > 10 and output_tile.std() > 10, r


def test_contact_sheet_refuses_a_script_driver_in_one_line(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "scripts/contact_sheet.py", str(tmp_path / "x.jpg"), "talk"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode != 0
    assert p.stderr.strip().splitlines()[-1] == (
        "contact sheet: error: driver 'talk' is not a video file — a contact sheet shows the driver's frames")


def test_contact_sheet_of_chosen_frames_says_where_the_face_was_lost(tmp_path: Path, portrait_file: Path) -> None:
    """--at shows the driver frames given, one row each, labelled with whether the animator
    used the driver's face there (a face leaving the frame: in use, then lost)."""
    driver = case("driver_face_leaves_frame.mp4")
    out = tmp_path / "leaving.png"
    p = subprocess.run([sys.executable, "scripts/contact_sheet.py", str(portrait_file), str(driver),
                        "--at", "30,45", "--frames", "50", "-o", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert "frame 30, driver face in use" in p.stderr
    assert "frame 45, driver face lost (pose held or eased)" in p.stderr
    img = cv2.imread(str(out))
    row = 26 + 20 + 360 + 6
    assert img is not None and img.shape[0] == 38 + 2 * row
    for bad, says in (("45-30", "is not a list of frames"), ("60", "the driver has 50 frames")):
        p = subprocess.run([sys.executable, "scripts/contact_sheet.py", str(portrait_file), str(driver),
                            "--at", bad, "--frames", "50", "-o", str(tmp_path / "bad.png")],
                           cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert p.returncode != 0 and "Traceback" not in p.stderr
        last = p.stderr.strip().splitlines()[-1]
        assert last.startswith("contact sheet: error: --at") and says in last, p.stderr


def test_eval_script_says_in_one_line_what_is_missing(tmp_path: Path) -> None:
    """A new user's clone without ../shared/media: scripts/eval.py gave a traceback. It runs
    `streamfx eval`, so a missing folder is one line naming it and the fix, exit code 2, and
    no output folder is made."""
    p = subprocess.run([sys.executable, "scripts/eval.py", "--mode", "self", "--driving", str(tmp_path / "nowhere"),
                        "--out", str(tmp_path / "eval")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not exist" in lines[0] and "--driving" in lines[0], p.stderr
    assert not (tmp_path / "eval").exists()

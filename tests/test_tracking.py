"""FaceTracker: real mediapipe on real images."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from streamfx import landmarks as L
from streamfx.errors import NoFaceError
from streamfx.tracking import FaceTracker, find_portrait_landmarks, landmark_array, track_portrait
from tests.conftest import media


def test_portrait_landmarks_shape_and_anatomy(portrait_landmarks: np.ndarray) -> None:
    lm = portrait_landmarks
    assert lm.shape == (478, 3) and lm.dtype == np.float32
    # subject's right eye is on the image's left; nose between the eyes; mouth below nose
    assert lm[33, 0] < lm[263, 0]
    assert lm[33, 0] < lm[L.NOSE_TIP, 0] < lm[263, 0]
    assert lm[L.NOSE_TIP, 1] < lm[13, 1] < lm[L.CHIN_TIP, 1]
    # the astronaut's face sits in the upper-middle of the 512² photo
    assert 150 < lm[L.NOSE_TIP, 0] < 300 and 80 < lm[L.NOSE_TIP, 1] < 200
    assert 30 < L.interocular(lm) < 90


def test_small_face_in_large_image_is_found_by_detect_then_crop(portrait: np.ndarray, portrait_landmarks: np.ndarray) -> None:
    # the astronaut shrunk into a corner of a 2048² canvas: the mesh's own short-range
    # detector misses faces this small, the detect-then-crop path must not
    canvas = np.full((2048, 2048, 3), 200, np.uint8)
    small = cv2.resize(portrait, (400, 400), interpolation=cv2.INTER_AREA)
    canvas[1500:1900, 1400:1800] = small
    lm = find_portrait_landmarks(canvas)
    assert lm is not None
    expected = portrait_landmarks[:, :2] * (400 / 512) + np.array([1400, 1500])
    err = np.linalg.norm(lm[:, :2] - expected, axis=1).mean()
    assert err < 0.1 * L.interocular(expected), err


def test_no_face_is_one_clear_error_naming_the_file() -> None:
    blank = np.zeros((300, 300, 3), np.uint8)
    blank[:, :150] = (30, 120, 200)
    with pytest.raises(NoFaceError) as e:
        track_portrait(blank, "wall.jpg")
    msg = str(e.value)
    assert "wall.jpg" in msg and "--landmarks" in msg and "\n" not in msg


def test_video_mode_tracks_a_real_clip() -> None:
    import av

    clip = media("driving", "lp_d19.mp4")
    tracker = FaceTracker()
    found = 0
    with av.open(str(clip)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i >= 30:
                break
            found += tracker.track(f.to_ndarray(format="rgb24")) is not None
    tracker.close()
    assert found == 30


@pytest.mark.parametrize("name", ["lp_s2.jpg", "lp_s9.jpg", "lp_s6.jpg", "lp_s7.jpg"])
def test_shared_portraits_are_read(name: str) -> None:
    from streamfx.imageio import load_image

    img = load_image(media("source", name))
    lm = find_portrait_landmarks(img)
    assert lm is not None
    x0, y0, x1, y1 = L.face_box(lm, img.shape[1], img.shape[0])
    assert x1 - x0 > 0.1 * img.shape[1]


def test_landmark_lists_are_read_whole_and_exactly() -> None:
    # the fast read of a mesh's points (its serialized bytes) gives the same floats as reading
    # them one by one, and a list holding more than x, y, z is read the slow way, still exactly
    from mediapipe.framework.formats import landmark_pb2

    rng = np.random.default_rng(3)
    xyz = rng.normal(0.5, 0.3, (478, 3)).astype(np.float32)
    xyz[5] = 0.0  # set zeros are still serialized: the layout stays fixed
    plain = landmark_pb2.NormalizedLandmarkList()
    for x, y, z in xyz:
        plain.landmark.add(x=x, y=y, z=z)
    assert np.array_equal(landmark_array(plain), xyz)
    with_visibility = landmark_pb2.NormalizedLandmarkList()
    with_visibility.CopyFrom(plain)
    with_visibility.landmark[7].visibility = 0.9
    assert np.array_equal(landmark_array(with_visibility), xyz)
    assert landmark_array(landmark_pb2.NormalizedLandmarkList()).shape == (0, 3)

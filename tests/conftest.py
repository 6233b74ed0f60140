"""Shared fixtures. Real media lives in ../shared/media; tests that need it skip without it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("GLOG_minloglevel", "2")

ROOT = Path(__file__).resolve().parent.parent
MEDIA = ROOT.parent / "shared" / "media"


def media(*parts: str) -> Path:
    """A path in ../shared/media, or skip the test with a message saying what is missing."""
    p = MEDIA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"evaluation media {p} is absent (it lives in ../shared/media, outside the project)")
    return p


@pytest.fixture(scope="session")
def portrait() -> np.ndarray:
    from streamfx.imageio import demo_portrait

    return demo_portrait()


@pytest.fixture(scope="session")
def portrait_landmarks(portrait: np.ndarray) -> np.ndarray:
    from streamfx.tracking import track_portrait

    return track_portrait(portrait, "astronaut")


@pytest.fixture(scope="session")
def portrait_file(tmp_path_factory: pytest.TempPathFactory, portrait: np.ndarray) -> Path:
    from streamfx.imageio import save_image

    p = tmp_path_factory.mktemp("portrait") / "astronaut.png"
    save_image(p, portrait)
    return p

"""Shared fixtures. Real media lives in ../shared/media; tests that need it skip without it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("GLOG_minloglevel", "2")

ROOT = Path(__file__).resolve().parent.parent
MEDIA = ROOT.parent / "shared" / "media"
CASES = ROOT.parent / "shared" / "cases"


def media(*parts: str) -> Path:
    """A path in ../shared/media, or skip the test with a message saying what is missing."""
    p = MEDIA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"evaluation media {p} is absent (it lives in ../shared/media, outside the project)")
    return p


def case(name: str) -> Path:
    """A failing-case file in ../shared/cases, or skip the test with a message saying what is missing."""
    p = CASES / name
    if not p.exists():
        pytest.skip(f"failing-case file {p} is absent (it lives in ../shared/cases, outside the project)")
    return p


#: Debian's Chromium and the flags a headless, network-less run needs (loopback WebRTC too)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required",
    # plain IPs in Chromium's candidates: nothing resolves mDNS names in a container
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium through Playwright (never ``playwright install``)."""
    pw_sync = pytest.importorskip("playwright.sync_api")
    with pw_sync.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


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


# -- CI: nothing is silently skipped ------------------------------------------------------
# In CI (CI=true) a missing Chromium, OBS, SFU, shared media or Python package is a broken
# set-up, not a reason to pass: such a skip is reported as a failure with its reason. Only
# tests that need hardware CI cannot have (a GPU, TensorRT, a real webcam or loopback
# device) may skip there; they carry the ``hardware`` marker.
def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if (report.skipped and _in_ci() and not hasattr(report, "wasxfail")
            and item.get_closest_marker("hardware") is None):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where nothing may be skipped but hardware tests: {reason}"

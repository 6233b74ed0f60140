"""``streamfx doctor``: which engines, virtual camera, browser and OBS work here, and why not."""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import socket


def add_doctor_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


def engine_report() -> tuple[list[dict[str, object]], str]:
    """Every engine (works here, and why not) and what ``--engine auto`` picks, from the registry."""
    from engines import available_engines, resolve

    rows = [{"name": s.name, "ok": s.ok, "reason": s.reason} for s in available_engines()]
    return rows, resolve("auto")


def print_engines(rows: list[dict[str, object]]) -> None:
    for r in rows:
        print(f"  {'ok ' if r['ok'] else 'no '} {r['name']:<12} {r['reason']}")


def _module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False


def _virtual_camera() -> tuple[bool, str]:
    if not _module("pyvirtualcam"):
        return False, "pyvirtualcam is not installed (pip install pyvirtualcam)"
    import platform

    from streamfx.sinks.vcam import DEVICE_LABEL, find_v4l2_device, setup_hint

    if platform.system() == "Linux":
        device = find_v4l2_device()
        if device:
            return True, f"{DEVICE_LABEL} is {device} (v4l2loopback)"
        return False, f"no v4l2loopback device labelled {DEVICE_LABEL}; {setup_hint('Linux')}"
    return True, f"pyvirtualcam installed (OBS Virtual Camera backend); if it fails: {setup_hint()}"


def _browser() -> tuple[bool, str]:
    for exe in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "firefox"):
        found = shutil.which(exe)
        if found:
            return True, f"{exe} at {found} (WebRTC preview and tests)"
    return False, "no Chromium/Chrome/Firefox on PATH (apt-get install chromium)"


def _obs() -> tuple[bool, str]:
    if not _module("obsws_python"):
        return False, "obsws-python is not installed (pip install obsws-python)"
    exe = shutil.which("obs")
    listening = _port_open(4455)
    if listening:
        return True, "OBS WebSocket answering on localhost:4455"
    where = f"OBS at {exe}, but" if exe else "OBS not on PATH and"
    return False, f"{where} nothing listens on localhost:4455 (start OBS, Tools → WebSocket Server Settings)"


def run_doctor(args: argparse.Namespace) -> int:
    rows, auto = engine_report()
    checks = {"virtual camera": _virtual_camera(), "browser": _browser(), "OBS": _obs()}
    if args.json:
        print(json.dumps({"engines": rows, "auto": auto,
                          "checks": {k: {"ok": ok, "reason": why} for k, (ok, why) in checks.items()}}, indent=2))
        return 0
    print("engines:")
    print_engines(rows)
    print(f"  --engine auto → {auto}")
    print("outputs:")
    for k, (ok, why) in checks.items():
        print(f"  {'ok ' if ok else 'no '} {k:<14} {why}")
    return 0

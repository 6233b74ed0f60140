"""``streamfx export-onnx``, ``build-engine``, ``doctor`` and ``engines``."""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import socket
from pathlib import Path

from streamfx.errors import (
    DeviceUnavailableError,
    InputError,
    OutputError,
    refuse_overwriting_inputs,
)
from streamfx.options import face_number


def _add_source_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="portrait image (jpg, png, webp, bmp)")
    p.add_argument("--landmarks", help="landmarks file for faces the tracker cannot read (docs/landmarks.md)")
    p.add_argument("--max-size", type=int, default=2048, help="downscale the portrait's longer side to this (default 2048)")
    p.add_argument("--no-mouth", dest="mouth_synthesis", action="store_false",
                   help="leave the mouth-interior layer out of the graph (the eyelids stay)")
    p.add_argument("--face", type=face_number, metavar="N",
                   help="which face of a group photo, counted from the left (default: the largest)")


def _prepare(args: argparse.Namespace) -> object:
    from streamfx.generator import GeneratorSettings, prepare_source
    from streamfx.matte import source_matte
    from streamfx.render import load_source
    from streamfx.tracking import track_portrait

    image, lm = load_source(args.source, args.max_size, args.landmarks)
    if lm is None:
        lm = track_portrait(image, args.source, args.face, how_to_choose="--face N picks another", verb="using")
    elif args.face is not None:
        raise InputError("--face picks one of the faces the tracker finds, --landmarks gives the face "
                         "itself — use one or the other")
    # the same source tensors the Animator prepares, hair mask included
    return prepare_source(image, lm, None, GeneratorSettings(mouth_synthesis=args.mouth_synthesis),
                          source_matte(image))


# ---- export-onnx ---------------------------------------------------------------------------
def add_export_arguments(p: argparse.ArgumentParser) -> None:
    _add_source_arguments(p)
    p.add_argument("-o", "--output", default="generator.onnx", help="the .onnx file to write (default generator.onnx)")


def run_export(args: argparse.Namespace) -> int:
    import onnx

    from engines.onnx_graph import INPUT_NAME, OUTPUT_NAME, build_graph, graph_hash
    from streamfx.generator import GeneratorSettings, SourceTensors

    out = Path(args.output)
    refuse_overwriting_inputs(out, args.source, args.landmarks)
    if out.suffix.lower() != ".onnx":
        raise OutputError(f"'{out}' should end in .onnx")
    if not out.parent.exists():
        raise OutputError(f"folder '{out.parent}' does not exist — create it or choose another --output")
    src = _prepare(args)
    assert isinstance(src, SourceTensors)
    model = build_graph(src, GeneratorSettings(mouth_synthesis=args.mouth_synthesis))
    onnx.save(model, str(out))
    h, w = src.image.shape[:2]
    c = src.image.shape[2]
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, {len(model.graph.node)} nodes, opset "
          f"{model.opset_import[0].version}, hash {graph_hash(model)})")
    print(f"  input  {INPUT_NAME}: float32 [B, 478, 3]  target landmarks, source pixels")
    print(f"  output {OUTPUT_NAME}: uint8 [B, {h}, {w}, {c}]  animated frame")
    return 0


# ---- build-engine --------------------------------------------------------------------------
def add_build_arguments(p: argparse.ArgumentParser) -> None:
    _add_source_arguments(p)
    p.add_argument("--max-batch", type=int, default=8, help="largest batch the engine accepts (default 8)")
    p.add_argument("--fp16", action="store_true", help="allow FP16 in the mouth/eyelid stage (the warp stays FP32)")
    p.add_argument("--cache-dir", help="where plans are cached (default ~/.cache/streamfx/trt)")


def run_build(args: argparse.Namespace) -> int:
    from engines import status
    from engines.base import EngineSettings
    from engines.tensorrt_engine import ensure_plan
    from streamfx.generator import GeneratorSettings, SourceTensors

    st = status("tensorrt")
    if not st.ok:
        raise DeviceUnavailableError(f"cannot build a TensorRT engine here: {st.reason}")
    settings = EngineSettings(generator=GeneratorSettings(mouth_synthesis=args.mouth_synthesis),
                              max_batch=args.max_batch, fp16=args.fp16,
                              cache_dir=Path(args.cache_dir) if args.cache_dir else None).validate()
    src = _prepare(args)
    assert isinstance(src, SourceTensors)
    path, built = ensure_plan(src, settings)
    print(f"{'built' if built else 'already cached'}: {path}")
    return 0


# ---- engines / doctor ----------------------------------------------------------------------
def add_engines_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _engine_report() -> tuple[list[dict[str, object]], str]:
    from engines import available_engines, resolve

    rows = [{"name": s.name, "ok": s.ok, "reason": s.reason} for s in available_engines()]
    return rows, resolve("auto")


def _print_engines(rows: list[dict[str, object]]) -> None:
    for r in rows:
        print(f"  {'ok ' if r['ok'] else 'no '} {r['name']:<12} {r['reason']}")


def run_engines(args: argparse.Namespace) -> int:
    rows, auto = _engine_report()
    if args.json:
        print(json.dumps({"engines": rows, "auto": auto}, indent=2))
        return 0
    _print_engines(rows)
    print(f"--engine auto → {auto}")
    return 0


def add_doctor_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


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
    rows, auto = _engine_report()
    checks = {"virtual camera": _virtual_camera(), "browser": _browser(), "OBS": _obs()}
    if args.json:
        print(json.dumps({"engines": rows, "auto": auto,
                          "checks": {k: {"ok": ok, "reason": why} for k, (ok, why) in checks.items()}}, indent=2))
        return 0
    print("engines:")
    _print_engines(rows)
    print(f"  --engine auto → {auto}")
    print("outputs:")
    for k, (ok, why) in checks.items():
        print(f"  {'ok ' if ok else 'no '} {k:<14} {why}")
    return 0

"""``streamfx export-onnx``, ``build-engine`` and ``engines`` (``doctor`` is streamfx.doctor)."""

from __future__ import annotations

import argparse
import json
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


# ---- engines --------------------------------------------------------------------------------
def add_engines_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run_engines(args: argparse.Namespace) -> int:
    from streamfx.doctor import engine_report, print_engines

    rows, auto = engine_report()
    if args.json:
        print(json.dumps({"engines": rows, "auto": auto}, indent=2))
        return 0
    print_engines(rows)
    print(f"--engine auto → {auto}")
    return 0

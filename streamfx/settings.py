"""One settings object for an animation: retargeting, the generator's layers, the engine.

:class:`AnimatorSettings` is what ``render``, ``live``, the control panel and the library
all build and validate the same way (``validate()``), so an engine option given on the
command line (``--device``, ``--threads``, ``--fp16``) reaches the engine whichever way
the animation runs. Changes while running go through one path, :meth:`AnimatorSettings.
with_live`: the panel checks a request with it, and :meth:`streamfx.animator.Animator.
update_settings` applies what it returns.

The engine names live here too, so that the command line can offer them without importing
the engines (engines are reached through their registry, :func:`engines.create_engine`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from functools import cache
from pathlib import Path

from streamfx.errors import InputError
from streamfx.generator.settings import GeneratorSettings
from streamfx.retarget import RetargetSettings

ENGINE_NAMES = ("opencv", "onnxruntime", "cuda", "tensorrt")
ENGINE_CHOICES = ("auto", *ENGINE_NAMES)


@dataclass
class EngineSettings:
    """How an engine runs; ``generator`` is shared with the animator (it may change live)."""

    generator: GeneratorSettings = field(default_factory=GeneratorSettings)
    device: str = "cuda:0"
    """torch device for the ``cuda`` engine (``cpu`` is accepted, for parity checks)."""
    threads: int = 0
    """CPU threads for ONNX Runtime (0 = its default: one per core)."""
    max_batch: int = 8
    """Largest batch the GPU engines plan for (TensorRT profile, CUDA graphs)."""
    fp16: bool = False
    """TensorRT: let the builder use FP16 for the colour layers (the warp stays FP32)."""
    cuda_graphs: bool = True
    """cuda engine: replay captured CUDA graphs for repeated batch sizes."""
    cache_dir: Path | None = None
    """TensorRT engine cache (default ~/.cache/streamfx/trt)."""

    def validate(self) -> EngineSettings:
        self.generator.validate()
        if self.threads < 0:
            raise InputError(f"engine threads must be 0 (auto) or positive, not {self.threads}")
        if not 1 <= self.max_batch <= 64:
            raise InputError(f"max_batch must be between 1 and 64, not {self.max_batch}")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise InputError(f"device must be 'cpu' or 'cuda[:N]', not '{self.device}'")
        return self


#: retargeting settings that may change live (the reference is chosen offline; live has calibrate)
RETARGET_LIVE_KEYS = frozenset(f.name for f in fields(RetargetSettings)) - {"reference"}


@cache
def generator_live_keys() -> frozenset[str]:
    """Generator settings that may change live: the layers' switches and the frame filters'.

    A function, not a constant, because it asks the layer stack, which loads NumPy, OpenCV and
    every layer: the command line's options import this module and must stay light."""
    from streamfx.generator.stack import LayerStack

    return LayerStack.default().live_keys()


@dataclass
class AnimatorSettings:
    """Everything that shapes an animation but the portrait and the driver."""

    retarget: RetargetSettings = field(default_factory=RetargetSettings)
    engine: str = "opencv"
    """Generator engine by name (see docs/engines.md); ``auto`` = the fastest that works here."""
    engine_options: EngineSettings = field(default_factory=EngineSettings)
    """How it runs; ``engine_options.generator`` holds the generator layers' settings."""
    align: bool = True
    """Align the driver's landmarks to its image by optical flow (streamfx.alignment)."""

    @property
    def generator(self) -> GeneratorSettings:
        """The generator layers' settings (shared with the engine, which reads them live)."""
        return self.engine_options.generator

    @classmethod
    def of(cls, retarget: RetargetSettings | None = None, generator: GeneratorSettings | None = None,
           engine: str = "opencv", align: bool = True, **engine_options: object) -> AnimatorSettings:
        """Validated settings from their parts (keyword engine options: device, threads, fp16…)."""
        options = EngineSettings(generator=generator or GeneratorSettings(), **engine_options)  # type: ignore[arg-type]
        return cls(retarget=retarget or RetargetSettings(), engine=engine, engine_options=options,
                   align=align).validate()

    def validate(self) -> AnimatorSettings:
        """Check every part (raises a one-line InputError); returns self."""
        self.retarget.validate()
        if self.engine not in ENGINE_CHOICES:
            raise InputError(f"unknown engine '{self.engine}' — choose one of {', '.join(ENGINE_CHOICES)}")
        self.engine_options.validate()
        return self

    def copy(self) -> AnimatorSettings:
        """A copy whose parts are copies too (another animator's to change)."""
        return replace(self, retarget=replace(self.retarget),
                       engine_options=replace(self.engine_options, generator=replace(self.generator)))

    # ---- live changes ------------------------------------------------------------------------
    @staticmethod
    def live_types() -> dict[str, type]:
        """Settings that may change while running, and their types (bool or float)."""
        types: dict[str, type] = {}
        for cls, keys in ((RetargetSettings, RETARGET_LIVE_KEYS), (GeneratorSettings, generator_live_keys())):
            types.update({f.name: bool if f.type in (bool, "bool") else float for f in fields(cls) if f.name in keys})
        return types

    def live_values(self) -> dict[str, object]:
        """The current value of every live setting (and the retargeting's reference choice)."""
        values: dict[str, object] = asdict(self.retarget)
        values.update({k: getattr(self.generator, k) for k in sorted(generator_live_keys())})
        return values

    def with_live(self, **changes: object) -> AnimatorSettings:
        """A validated copy with live ``changes`` applied; an unknown or out-of-range one is an
        InputError and nothing changes. Each part is a new object (the old ones are untouched)."""
        unknown = set(changes) - RETARGET_LIVE_KEYS - generator_live_keys()
        if unknown:
            raise InputError(f"unknown setting(s) {sorted(unknown)}; known: {', '.join(sorted(self.live_types()))}")
        retarget = {k: v for k, v in changes.items() if k in RETARGET_LIVE_KEYS}
        generator = {k: v for k, v in changes.items() if k in generator_live_keys()}
        return replace(self, retarget=self.retarget.updated(**retarget),
                       engine_options=replace(self.engine_options, generator=self.generator.updated(**generator))
                       ).validate()

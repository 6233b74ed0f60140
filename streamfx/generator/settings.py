"""The generator's settings: one block of fields per layer, and which of them may change live.

A layer reads only its own fields (named in the layer's ``settings`` class attribute);
the fields a layer lists in ``live`` may change while it runs — toggling a compiled layer
rebuilds the engine's graph, see :meth:`streamfx.generator.stack.LayerStack.key`. The
rest shape the per-source precomputation and need a new ``prepare``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from streamfx.errors import InputError


@dataclass
class GeneratorSettings:
    # motion field (layers/motion.py) — shapes the prepared source, not live
    grid_step: float = 5.0
    """Coarse motion-grid spacing in source pixels (clamped to 32–96 cells a side)."""
    # the mouth (layers/mouth.py)
    mouth_synthesis: bool = True
    """Redraw the lips where the target's part and draw a mouth interior between them (teeth,
    tongue, throat; the source's own teeth moved rigidly) (``--no-mouth``: off)."""
    # the driver's mouth interior (layers/driver_mouth.py)
    driver_mouth: bool = True
    """With a camera or video driver, put the driver's own mouth interior, matched to the
    portrait, between the lips (``--no-driver-mouth``: off)."""
    # eyelids (layers/eyelids.py)
    eyelids: bool = True
    """Slide the source's lids to the target's lid edges: blinks, winks, wide-open eyes (``--no-eyelids``: off,
    the eyes keep the source's opening)."""
    # irises (layers/irises.py)
    gaze: bool = True
    """Move the source's irises to where the driver looks (``--no-gaze``: off, the irises keep their place)."""
    # expression detail (layers/detail.py)
    detail: float = 0.5
    """How much of the driver's expression detail (creases, as a ratio image) to carry over,
    0 (off) … 1 (``--detail``); needs a driver image (a camera or video)."""
    # colour match (layers/filters.py)
    color_match: bool = False
    """Match the face region's colour statistics to the source (for strong lighting drift)."""
    # sharpen (layers/filters.py)
    sharpen: float = 0.0
    """Unsharp-mask amount (0 = off, 0.3 = mild)."""

    def validate(self) -> GeneratorSettings:
        if not 0.0 <= self.sharpen <= 2.0:
            raise InputError(f"--sharpen must be between 0 and 2, not {self.sharpen}")
        if not 0.0 <= self.detail <= 1.0:
            raise InputError(f"--detail must be between 0 and 1, not {self.detail}")
        if self.grid_step <= 0:
            raise InputError("grid_step must be positive")
        return self

    def updated(self, **kw: object) -> GeneratorSettings:
        """A validated copy with ``kw`` applied; unknown names are an InputError."""
        known = {f.name for f in fields(self)}
        bad = set(kw) - known
        if bad:
            raise InputError(f"unknown generator setting(s) {sorted(bad)}; known: {sorted(known)}")
        d = asdict(self)
        d.update(kw)
        return GeneratorSettings(**d).validate()  # type: ignore[arg-type]

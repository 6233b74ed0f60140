"""Sinks: where animated frames go (files, the virtual camera, WebRTC viewers)."""

from __future__ import annotations

import abc
from collections.abc import Callable

import numpy as np


class FrameSink(abc.ABC):
    """Receives RGB (H×W×3) or RGBA (H×W×4) uint8 frames at a fixed size."""

    name: str = "sink"
    accepts_alpha: bool = False
    """True for sinks that keep RGBA frames' alpha; the live pipeline hands the others RGB
    (a transparent canvas over black, flattened once for all of them)."""
    paced: bool = False
    """True for devices with a frame rate (a virtual camera): the live pipeline sends them
    at most one frame per output interval, the newest, and repeats the last when none is new."""

    @abc.abstractmethod
    def open(self, width: int, height: int, fps: float) -> None: ...

    @abc.abstractmethod
    def write(self, frame: np.ndarray, timestamp: float | None = None) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> FrameSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


SinkFactory = Callable[..., FrameSink]
_REGISTRY: dict[str, SinkFactory] = {}


def register_sink(name: str) -> Callable[[SinkFactory], SinkFactory]:
    def deco(factory: SinkFactory) -> SinkFactory:
        _REGISTRY[name] = factory
        return factory

    return deco


def sink_factory(name: str) -> SinkFactory:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown sink {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None

"""Driver sources: what performs the motion (a camera, a video file or a motion script)."""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from streamfx.generator.appearance import DriverAppearance


@dataclass
class DriverFrame:
    """One driver sample.

    Video and camera sources fill ``image``; the motion-script source fills ``landmarks``
    directly (478×3, pixel coordinates) and needs no tracking.
    """

    index: int
    timestamp: float
    """Media time in seconds (files, scripts) or seconds since the source opened (cameras)."""
    captured_at: float
    """``time.perf_counter()`` when the frame was read: the start of motion-to-output latency."""
    image: np.ndarray | None = None
    """RGB uint8, H×W×3."""
    landmarks: np.ndarray | None = None
    appearance: DriverAppearance | None = None
    """What the generator's appearance layers took from ``image`` (set when it is tracked), so
    the image itself can be dropped before rendering."""
    extra: dict[str, float] = field(default_factory=dict)


class FrameSource(abc.ABC):
    """A stream of driver frames. Iterate it; ``close()`` releases the device or file."""

    #: frames per second (nominal for cameras)
    fps: float = 30.0
    #: number of frames when known in advance (files, scripts), else None
    frame_count: int | None = None
    #: (width, height) of images, when the source yields images
    size: tuple[int, int] | None = None
    #: True when frames come at real-time pace (cameras, paced files)
    live: bool = False

    @abc.abstractmethod
    def __iter__(self) -> Iterator[DriverFrame]: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        pass

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


SourceFactory = Callable[..., FrameSource]
_REGISTRY: dict[str, SourceFactory] = {}


def register_source(name: str) -> Callable[[SourceFactory], SourceFactory]:
    def deco(factory: SourceFactory) -> SourceFactory:
        _REGISTRY[name] = factory
        return factory

    return deco


def source_factory(name: str) -> SourceFactory:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown source kind {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None

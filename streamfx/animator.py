"""The animator: one driver frame in, one animated portrait frame out.

Wires tracker → retargeter → generator for a single source portrait. Both the offline
renderer and the live pipeline drive it; it is thread-safe, so a control panel can swap
the portrait or change a gain while a worker thread is stepping it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import fields

import numpy as np

from streamfx.alignment import AlignSettings
from streamfx.generator import GeneratorSettings, LayerStack, prepare_source
from streamfx.generator.appearance import DriverAppearance, extract_appearance
from streamfx.matte import cutout_alpha, has_alpha, source_matte
from streamfx.mesh_unfold import ControlMesh, unfold_target
from streamfx.motion import FaceRig, MotionScript
from streamfx.retarget import MotionRetargeter, RetargetSettings
from streamfx.settings import AnimatorSettings, generator_live_keys
from streamfx.sources.base import DriverFrame
from streamfx.track_gate import TrackGate
from streamfx.tracking import FaceTracker, track_portrait
from streamfx.voice import MouthHandover

#: the generator settings that may change while running (the rest shape the precomputed source)
GENERATOR_KEYS = generator_live_keys()


class Animator:
    def __init__(self, source_image: np.ndarray, *, source_landmarks: np.ndarray | None = None,
                 source_name: str = "source", settings: AnimatorSettings | None = None,
                 retarget: RetargetSettings | None = None, generator: GeneratorSettings | None = None,
                 engine: str | None = None, align: bool | None = None,
                 with_alpha: bool = False, track_drivers: bool = True):
        """``settings`` holds everything but the portrait; ``retarget``, ``generator``, ``engine``
        and ``align``, where given, replace its parts (validated together either way)."""
        self._lock = threading.RLock()
        self.source_name = source_name
        # a portrait with its own alpha is always cut out: what lies under its alpha = 0 is
        # not part of the picture (outputs without alpha composite it over a background)
        self.with_alpha = with_alpha or has_alpha(source_image)
        self.settings = _merged(settings, retarget, generator, engine, align)
        # the engine renders with the generator's (live-updatable) settings; any engine but
        # opencv falls back to opencv with a notice if it fails (engines.FallbackEngine)
        from engines import create_engine

        self.engine = create_engine(self.settings.engine, self.settings.engine_options)
        # drivers' landmarks are aligned to their images (streamfx.alignment) unless align=False
        self._tracker = (FaceTracker(static=False, align=AlignSettings() if self.settings.align else None)
                         if track_drivers else None)
        # poses the tracker cannot have seen (a face half out of the frame, a one-frame jump)
        # count as lost, so the retargeter holds the last good pose instead of a torn one
        self.gate = TrackGate()
        self.timings: dict[str, float] = {"track": 0.0, "retarget": 0.0, "generate": 0.0}
        # the driver's neutral frame's appearance (the detail layer measures creases against it)
        self._reference_look: DriverAppearance | None = None
        self._reference_seen: np.ndarray | None = None
        # the last driver face's look, held (and faded) with its pose while the face is lost
        self._held_look: DriverAppearance | None = None
        self.face_found = False
        self._handover = MouthHandover()
        self._prepare(source_image, source_landmarks)
        self.retargeter = MotionRetargeter(self.source_landmarks, self.settings.retarget, idle=self._idle)

    @property
    def generator_settings(self) -> GeneratorSettings:
        """The generator layers' settings, shared with the engine (which reads them live)."""
        return self.settings.generator

    # ---- source --------------------------------------------------------------------------
    def _prepare(self, image: np.ndarray, landmarks: np.ndarray | None) -> None:
        rgb = np.ascontiguousarray(image[..., :3])
        lm = landmarks if landmarks is not None else track_portrait(rgb, self.source_name)
        # the person matte lets the hair move with the head; with_alpha also cuts the
        # background out of the output, with the matte refined at the edges (a portrait's
        # own alpha channel wins for both)
        person = source_matte(image)
        alpha = cutout_alpha(image, person) if self.with_alpha else None
        src = prepare_source(rgb, lm, alpha, self.generator_settings, person)
        self.engine.prepare(src)
        self._stack: LayerStack = src.stack
        self.source_image = image
        self.source_landmarks = lm.astype(np.float32)
        self._mesh = ControlMesh(self.source_landmarks)
        self._idle_rig = FaceRig(self.source_landmarks)
        self._idle_script = MotionScript.builtin("idle")

    def _idle(self, t: float) -> np.ndarray:
        return self._idle_rig.pose(self._idle_script.params(t % self._idle_script.duration))

    def set_source(self, image: np.ndarray, landmarks: np.ndarray | None = None, name: str = "upload") -> None:
        """Swap the portrait; raises NoFaceError (and keeps the old one) if it has no face."""
        with self._lock:
            old = self.source_name
            self.source_name = name
            self.with_alpha = self.with_alpha or has_alpha(image)
            try:
                self._prepare(image, landmarks)
            except Exception:
                self.source_name = old
                raise
            self.retargeter.set_source(self.source_landmarks)

    @property
    def size(self) -> tuple[int, int]:
        return self.source_image.shape[1], self.source_image.shape[0]

    # ---- controls ------------------------------------------------------------------------
    def calibrate(self) -> None:
        with self._lock:
            self.retargeter.calibrate()
            if self._tracker is not None:
                self._tracker.rekey()  # the new neutral frame is also the new keyframe
            self.gate.reset()

    def set_reference(self, driver_landmarks: np.ndarray, appearance: DriverAppearance | None = None) -> None:
        """Take this driver face (and what its image looked like, if known) as neutral."""
        with self._lock:
            self.retargeter.set_reference(driver_landmarks)
            self._reference_seen = self.retargeter.reference_face
            self._reference_look = appearance

    def update_settings(self, **kw: object) -> None:
        """Change live settings (AnimatorSettings.live_types); all or none: a bad value raises
        InputError and nothing changes."""
        with self._lock:
            new = self.settings.with_live(**kw)
            retarget = {k: v for k, v in kw.items() if k not in GENERATOR_KEYS}
            if retarget:
                mirror_was = self.retargeter.settings.mirror
                self.retargeter.update_settings(**retarget)
                if self._tracker is not None and self.retargeter.settings.mirror != mirror_was:
                    self._tracker.rekey()  # the keyframe was the other way round
                    self.gate.reset()
            # in place: the engine holds this object and reads it each frame
            for f in fields(GeneratorSettings):
                setattr(self.settings.generator, f.name, getattr(new.generator, f.name))
            self.settings.retarget = self.retargeter.settings

    def settings_dict(self) -> dict[str, object]:
        with self._lock:
            return self.settings.live_values()

    # ---- per frame -----------------------------------------------------------------------
    @property
    def tracks_drivers(self) -> bool:
        """Whether driver images are tracked here (else only landmarks-carrying frames animate)."""
        return self._tracker is not None

    def track(self, frame: DriverFrame) -> np.ndarray | None:
        """Driver landmarks for a frame (tracked from its image, or given by a script)."""
        if frame.landmarks is not None:
            return frame.landmarks
        if frame.image is None or self._tracker is None:
            return None
        return self.admit(frame, self.measure(frame))

    def _driver_image(self, frame: DriverFrame) -> np.ndarray:
        assert frame.image is not None
        return frame.image[:, ::-1] if self.retargeter.settings.mirror else frame.image

    def measure(self, frame: DriverFrame) -> np.ndarray | None:
        """The first half of :meth:`track`: the tracker's landmarks (478×3 pixels, mesh +
        alignment) for a frame with an image, not yet checked. Frames in order (the tracker
        follows the face from frame to frame); it may run on another thread than :meth:`admit`."""
        assert self._tracker is not None
        return self._tracker.track(self._driver_image(frame))

    def admit(self, frame: DriverFrame, measured: np.ndarray | None) -> np.ndarray | None:
        """The second half of :meth:`track`: ``measured`` through the track gate (None: a pose
        the tracker cannot have seen) and, when it passes, the frame's appearance. Frames in order."""
        image = self._driver_image(frame)
        h, w = image.shape[:2]
        lm = self.gate.check(measured, w, h, frame.timestamp)
        if lm is not None and frame.appearance is None:
            frame.appearance = self.appearance_of(image, lm)
        return lm

    def appearance_of(self, image: np.ndarray, landmarks: np.ndarray) -> DriverAppearance | None:
        """What the appearance layers take from a driver image (None when none is enabled)."""
        if not self._stack.wants_appearance(self.generator_settings):
            return None
        return extract_appearance(self._stack.layers, np.ascontiguousarray(image), landmarks)

    def step(self, frame: DriverFrame) -> np.ndarray:
        """The animated portrait for this driver frame, RGB."""
        out = self._step(frame)
        return out[..., :3] if out.shape[2] == 4 else out

    def pose(self, frame: DriverFrame, *, tracked: bool = False) -> tuple[np.ndarray, DriverAppearance | None]:
        """The sequential half of a step, frames in order: the driver's landmarks (tracked
        unless the frame has them), retargeted onto the portrait (478×3 target landmarks, the
        retargeter's filters and hold/ease of a lost face), and the driver's appearance with its
        reference's, for the generator (a lost face's last look held and faded with its pose, a
        returning face's faded in: ``weight`` follows the retargeter's ``presence``). :meth:`render` turns it into the frame; a render hands
        poses to worker processes (:mod:`streamfx.generator_pool`). ``tracked``: the frame's
        ``landmarks`` already hold what :meth:`track` gave (None: no face), as a render sets them."""
        t0 = time.perf_counter()
        driver = frame.landmarks if tracked else self.track(frame)
        t1 = time.perf_counter()
        with self._lock:
            target = self.retargeter.update(driver, frame.timestamp)
            if "voice_mouth_open" in frame.extra:  # webcam+mic: the voice's mouth while the face is lost
                voice = {k.removeprefix("voice_"): v for k, v in frame.extra.items() if k.startswith("voice_")}
                target = self._handover.apply(target, self._idle_rig, voice, driver is not None, frame.timestamp)
            # landmarks pushed past each other (a big turn, the nose over the lips looking
            # down) would fold the warp and tear the picture: the generator gets them
            # untangled, compressed instead (mesh_unfold); the retargeter's own target stays
            # the geometry it modelled
            target = unfold_target(target, self._mesh)
            seen = frame.appearance if driver is not None else None
            if driver is not None:
                look = self._held_look = seen
            else:
                # the last look stays with the held pose and fades out as it eases (weight
                # below); not under a voice moving the mouth: that mouth is not the one seen
                look = None if "voice_mouth_open" in frame.extra else self._held_look
            weight = self.retargeter.presence
            if self.retargeter.reference_face is not self._reference_seen:  # set from this frame
                self._reference_seen = self.retargeter.reference_face
                self._reference_look = seen
            elif self._reference_look is None and seen is not None:
                # an appearance layer switched on live after the reference was taken: the face
                # now is its neutral until the performer calibrates
                self._reference_look = seen
        self.face_found = driver is not None
        self.timings = {"track": (t1 - t0) * 1e3, "retarget": (time.perf_counter() - t1) * 1e3, "generate": 0.0}
        return target, None if look is None else look.with_reference(self._reference_look, weight)

    def frame_shape(self) -> tuple[int, ...]:
        """The shape of the frames :meth:`render` returns now, H×W×C (C = 4 with alpha)."""
        return tuple(self.render(self.source_landmarks, None).shape)

    def render(self, target: np.ndarray, look: DriverAppearance | None) -> np.ndarray:
        """A pose (:meth:`pose`) → the frame, H×W×3 uint8 (×4 with alpha)."""
        with self._lock:
            return self.engine.render(target, look)

    def _step(self, frame: DriverFrame) -> np.ndarray:
        target, look = self.pose(frame)
        t0 = time.perf_counter()
        out = self.render(target, look)
        self.timings["generate"] = (time.perf_counter() - t0) * 1e3
        return out

    def use_alpha(self) -> None:
        """Render RGBA from now on (the portrait prepared again with its cut-out matte)."""
        with self._lock:
            if not self.with_alpha:
                self.with_alpha = True
                self._prepare(self.source_image, self.source_landmarks)

    def step_rgba(self, frame: DriverFrame) -> np.ndarray:
        """The animated portrait for this driver frame, RGBA: the subject cut out (the
        portrait's own alpha, or its person matte), moved with the same motion as the picture."""
        self.use_alpha()
        return self._step(frame)

    def render_landmarks(self, target: np.ndarray) -> np.ndarray:
        return self.render(target, None)

    def close(self) -> None:
        self.engine.close()
        if self._tracker is not None:
            self._tracker.close()


def _merged(settings: AnimatorSettings | None, retarget: RetargetSettings | None, generator: GeneratorSettings | None,
            engine: str | None, align: bool | None) -> AnimatorSettings:
    """``settings`` (or the defaults) with the parts given separately put in, validated."""
    base = settings or AnimatorSettings()
    return AnimatorSettings.of(
        retarget=retarget or base.retarget, generator=generator or base.generator,
        engine=base.engine if engine is None else engine, align=base.align if align is None else align,
        **{f.name: getattr(base.engine_options, f.name) for f in fields(base.engine_options) if f.name != "generator"})

"""OBS Studio integration over obs-websocket v5 (the live-event overlay).

``streamfx obs setup`` puts the animated portrait into an OBS scene as an input named
"AnimCam": a Browser source on the transparent overlay page (``/overlay``) where OBS has
one (the Windows and macOS builds), otherwise a Media source pulling the NUT stream with
alpha that ``streamfx live`` serves (``--obs-stream``, streamfx/sinks/stream.py).
``status`` and ``remove`` report on it and take it out again. See :mod:`obs_bridge.bridge`.
"""

"""OBS Studio integration over obs-websocket v5 (the live-event overlay).

The package is part of the distribution from the start so that the layout is fixed; until
the bridge lands, OBS takes StreamFX as the AnimCam virtual camera or as a Browser source
on the WebRTC viewer (``/?embed=1``) — see docs/live.md.
"""

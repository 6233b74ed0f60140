"""StreamFX: bring a single still portrait to life from a webcam, a video or a motion script."""

__version__ = "0.1.0"

"""The generator's tuning constants, in one place, with names.

Lengths are in units of something on the face (the inter-ocular distance, the mouth's or
an eye's width) so that a portrait looks the same at any resolution; the unit is in each
name's comment. Every layer and every ops backend reads these names — never a literal.
"""

from __future__ import annotations

# ---- source region and motion field (source.py, layers/motion.py) ---------------------------
MAX_SHIFT = 1.2
"""Largest displacement of the motion field, × the inter-ocular distance; the region of
interest is grown by it."""
ROI_MARGIN = 4
"""Extra pixels around the moving region (and the step of the coarse mask it is found on)."""
GRID_CELLS = (32, 96)
"""Fewest and most cells a side of the coarse motion grid."""
TPS_REGULARISATION = 2e-3
"""Thin-plate-spline smoothing, in inter-ocular units: tames near-duplicate control points."""
INVERT_ITERATIONS = 3
"""Newton iterations that invert the forward motion field."""
NEWTON_MIN_DET = 0.1
"""Where the field folds (det(I + J) below this), the inversion takes a fixed-point step instead."""
NEWTON_MAX_STEP = 2.0
"""A Newton step moves at most this many grid cells (near a fold the linearisation overshoots)."""
NORM_EPSILON = 1e-6
"""Keeps the displacement clamp's division finite at zero motion."""

HEAD_MASK_SHAPE = (1.15, 1.35, 1.05, 0.55)
"""The head ellipse (falloff_mask): its scale beside, above and below the face oval, and the
width of its smooth falloff."""
FACE_MASK_SHAPE = (1.35, 1.35, 1.2, 0.4)
"""The face-oval ellipse inside which expressions move the image (the rest follows the head)."""
HAIR_BLUR = 0.15
"""Person-matte blur σ, × the inter-ocular distance: hair's soft motion edge."""
HAIR_CHIN = (0.7, 1.05)
"""Hair weight fades out between these depths below the oval's centre, × its lower extent."""
HAIR_REACH = (1.75, 2.2)
"""…and beyond this radius from the head, × the oval's size (a raised hand is not hair)."""

# ---- mouth interior (layers/mouth.py) -------------------------------------------------------
MOUTH_FEATHER = 0.035
"""Cavity edge softness, × the mouth's width …"""
MOUTH_FEATHER_MIN = 1.0
"""… and at least this many pixels."""
MOUTH_OPEN_FROM = 0.02
"""The cavity appears once the lips part this much wider than the source's (× mouth width) …"""
MOUTH_OPEN_RAMP = 0.06
"""… and is fully drawn this much further."""
CAVITY_SHADE = (0.22, 0.25)
"""Cavity colour = lip colour × (dark + light · (2·depth − 1)²): darkest in the middle."""
TEETH_SHOWN_GAP = 0.06
"""A source whose inner lips part at least this much (× mouth width) may show teeth."""
TEETH_BAND = (0.8, 0.08, 0.45)
"""Upper teeth height: the source's gap × this, at least × mouth width, at most × the opening."""
TEETH_CENTRE = 0.75
"""Teeth fade out towards the mouth corners over this share of the half-width."""
LOWER_TEETH = 0.4
"""Lower teeth height, × the upper band."""
TEETH_BRIGHT = (0.55, 110.0, 0.15, 20)
"""Teeth detection: value > share of the brightest, saturation below, share of pixels, fewest pixels."""
LIP_FALLBACK_RGB = (150.0, 80.0, 80.0)
"""Lip colour when the lips cover too few pixels to measure."""

# ---- eyelids (layers/eyelids.py) ------------------------------------------------------------
LID_FEATHER = (0.04, 0.7)
"""Lid edge softness, × the eye's width, at least pixels."""
LID_OPEN_FEATHER = 2.5
"""The source lid's edge is softer still: × the feather."""
LASH_WIDTH = (0.05, 0.8)
"""Lash-line half-width, × the eye's width, at least pixels."""
LASH_MIN_BULGE = 0.05
"""No lash near the corners, where the lid curve's bulge is below this."""
LASH_CLOSING = 0.3
"""The lash line is fully drawn once the lid has come down this share of the source's opening."""
LID_SHADOW = 0.12
"""The lid darkens by this share towards its edge (a crease shadow)."""
LID_BOX = (0.6, 2.0)
"""The window an eye's layer is drawn in: centre ± (this × the eye's width + pixels)."""
LID_SAMPLES = (0.25, 0.75, 7)
"""Where along the eye the lid and lash colours are sampled: from, to, count."""
LID_SKIN_AT = (-0.22, -0.30)
"""Lid-skin samples, above the lid edge, × the eye's width."""
LASH_AT = (0.0, 0.04)
"""Lash samples, at and just below the lid edge, × the eye's width."""
LID_FALLBACK_RGB = (180.0, 140.0, 120.0)
LASH_FALLBACK_RGB = (40.0, 30.0, 30.0)

# ---- colour filters (layers/filters.py) -----------------------------------------------------
COLOUR_SAMPLE_STEP = 4
"""Colour match measures every this-many-th pixel of the face box."""
COLOUR_MIN_SAMPLES = 16
COLOUR_GAIN = (0.8, 1.25)
"""Colour match scales each channel's contrast by at most this much."""
SHARPEN_SIGMA = 1.0
"""Unsharp-mask blur σ, pixels."""

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
INVERT_ITERATIONS = 4
"""Fixed-point iterations that invert the forward motion field."""
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

# ---- expression detail (layers/detail.py) --------------------------------------------------
# Lengths in inter-ocular units (io) of the canonical face (the template face of
# streamfx.landmarks), where the driver's creases are measured and kept.
DETAIL_PX_PER_IO = 40.0
"""The canonical face's scale: pixels per inter-ocular distance (≈ 100 px across the face)."""
DETAIL_BOUNDS = (-1.2, -0.95, 1.2, 1.85)
"""The canonical patch: x0, y0, x1, y1 around the template face (eyes on y = 0), io."""
DETAIL_SPLINE_SMOOTHING = 0.01
"""Thin-plate-spline smoothing of the landmark warps to and from the canonical face (tames
landmark jitter), in units of the points' RMS spread."""
DETAIL_SPLINE_CELLS = 24
"""The canonical→face spline is evaluated on this many nodes a side of the canonical patch
(and its inverse on as many over the target face's box), and interpolated between."""
DETAIL_INVERT_ITERATIONS = 5
"""Fixed-point iterations that invert the canonical→target warp."""
DETAIL_MIN_FACE = 4.0
"""A driver face with its eyes closer than this many pixels has no creases to measure."""
DETAIL_LOG_OFFSET = 8.0
"""log(luminance + this), luminance 0–255: dark noise does not become huge ratios."""
DETAIL_BAND = (0.015, 0.2)
"""The crease band: Gaussian σ of the fine and coarse blurs whose difference is kept, io
(finer is noise and misalignment, coarser is lighting and head turns)."""
DETAIL_FACE_INSET = (0.04, 0.1)
"""The face border: creases fade in from this far inside the oval over this width, io."""
DETAIL_EYE_MARGIN = (0.12, 0.06)
"""Eyes (lids, irises) are left out to this far around their contour, fading over this, io."""
DETAIL_MOUTH_MARGIN = (0.06, 0.06)
"""The mouth (lips and what opens between them) is left out likewise, io …"""
DETAIL_BROW_MARGIN = (0.05, 0.06)
"""… the brows (hair that moves over the skin) …"""
DETAIL_NOSTRIL_MARGIN = (0.04, 0.05)
"""… and the nose from :data:`DETAIL_NOSE_BELOW` above its tip down (nostrils flare)."""
DETAIL_NOSE_BELOW = 0.05
DETAIL_STRONG = (0.2, 0.35)
"""A change of the crease band (log-luminance) this large is a feature that moved and the
landmarks did not follow (a brow, hair at the face's side, a lip's edge), not a crease: the
change fades out between these two …"""
DETAIL_STRONG_REACH = 0.12
"""… and this far around them, io."""
DETAIL_CORING = 0.005
"""Log-luminance changes this small are noise (video compression, sensor), not creases."""
DETAIL_GAIN = (0.85, 1.15)
"""The luminance change is clamped to these factors."""
DETAIL_TEXTURE_BAND = (0.015, 0.05)
"""A face's fine texture (pores, grain, brush strokes; what a flat cartoon lacks): the RMS of
the band between these Gaussian σ over the skin, io."""
DETAIL_MIN_CONTRAST = 0.25
"""Creases are as strong, relative to the portrait's texture, as they are to the driver's
(a flat cartoon takes softer ones than the photo driving it), but at least this share of
the driver's and at most all of it."""

# ---- colour filters (layers/filters.py) -----------------------------------------------------
COLOUR_SAMPLE_STEP = 4
"""Colour match measures every this-many-th pixel of the face box."""
COLOUR_MIN_SAMPLES = 16
COLOUR_GAIN = (0.8, 1.25)
"""Colour match scales each channel's contrast by at most this much."""
SHARPEN_SIGMA = 1.0
"""Unsharp-mask blur σ, pixels."""

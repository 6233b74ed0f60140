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

# ---- eyes: their frame, lids and irises (layers/eyes.py, eyelids.py, irises.py) ------------
EYE_BOX = (0.65, 0.8, 0.6, 2.0)
"""The window an eye's layers are drawn in, from the corners' centre, × the eye's width: to either
side, up (the upper lid's band reaches far above a wide-open eye) and down; plus pixels."""
EYE_FEATHER = (0.04, 0.7)
"""Lid edge softness, × the eye's width, at least pixels."""
EYE_SIDE_FADE = (0.08, 0.1)
"""Beyond the corners the lid layers fade out: from this far past a corner (× the eye's width)
over this much more."""
UPPER_LID_BAND = (0.36, 0.12)
"""The upper lid's skin that slides over the eye: from this far above the lid edge, × the eye's
width (it stretches, as a lid unfolds from its crease), and the band at the edge that moves
unstretched (the lashes)."""
LOWER_LID_BAND = (0.3, 0.08)
"""The same for the lower lid, below its edge."""
LASH_THIN = (0.5, 0.25)
"""A lid's lash band thins by up to this share as the lid comes down, fully once it came this
far (× the eye's width): lashes turn down as an eye closes."""
LID_SKIN_BELOW = (0.12, 0.3)
"""The lit skin a closing lid's unfolding part tends to is measured this far below the lower lid,
× the eye's width."""
LID_UNFOLD = 0.6
"""How far a closing lid's newly unfolded skin takes that lit colour (0: the stretched skin as is)."""
LID_EDGE_MARGIN = 0.03
"""A moving lid's band starts this far outside the mesh's lid line, × the eye's width."""
LASH_OVERHANG = 0.03
"""A closed eye's upper lashes hang this far over the lower lid, × the eye's width."""
LID_WIDEN = 0.6
"""A lid opens wider than the source's by at most this share of its stretching band."""
LID_FADE = 0.06
"""A lid band fades into the warped image over this, × the eye's width, at its far end."""

SCLERA_FALLBACK_RGB = (228.0, 222.0, 215.0)
"""The white of the eye when the source shows too little of it to measure."""
IRIS_FALLBACK_RGB = (80.0, 60.0, 50.0)
"""The iris colour when the source shows too little of it to measure."""
EYE_SAMPLE_INSET = (0.02, 1.0)
"""Colours are sampled this far inside the eye's outline, × the eye's width, at least pixels."""
IRIS_SAMPLE_RING = (0.4, 0.9)
"""The iris colour is measured between these shares of its radius (not the pupil, not its rim)."""
SCLERA_SAMPLE = (1.1, (0.6, 0.95), 6)
"""The sclera is measured outside the iris × this, from the pixels between these quantiles of
brightness (not the lashes' shadow, not a highlight), and needs at least this many pixels;
with fewer (a statue, a squint) it is the eye's own brightest colour."""
IRIS_GONE = 1.2
"""Where the iris was is painted over out to this × its radius (its dark rim, the limbus, too)."""
SCLERA_BESIDE = 1.3
"""Where the iris moved away, the sclera is taken from beside it, × its radius from its centre."""
LID_SHADOW = (0.3, 0.18)
"""What an eye layer fills in darkens towards the upper lid, by up to this share, over this
distance below it (× the eye's width): the lid's shadow."""
IRIS_SEARCH = (5, 0.04, (0.14, 0.4), (0.85, 1.45), 4.0, 0.15)
"""The iris fit (eye_fit.fit_iris): rows scanned, their spread about the mesh's centre (× the
eye's width); the radius' range (× the eye's width, and × the mesh's radius: a cartoon's iris
is a third bigger than the mesh's, a pupil's edge is well inside);
the weakest edge that counts (grey levels per 1/64 of the eye's width); how far from the mesh's
centre the fitted one may lie (× the eye's width)."""
IRIS_EDGE = (0.03, 0.7)
"""The iris disc's edge softness, × the eye's width, at least pixels."""
IRIS_REACH = (0.32, 0.15)
"""How far the iris moves from its place in the source, × the eye's width: along and across the eye."""

# ---- colour filters (layers/filters.py) -----------------------------------------------------
COLOUR_SAMPLE_STEP = 4
"""Colour match measures every this-many-th pixel of the face box."""
COLOUR_MIN_SAMPLES = 16
COLOUR_GAIN = (0.8, 1.25)
"""Colour match scales each channel's contrast by at most this much."""
SHARPEN_SIGMA = 1.0
"""Unsharp-mask blur σ, pixels."""

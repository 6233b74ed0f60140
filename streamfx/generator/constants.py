"""The generator's tuning constants, in one place, with names.

Lengths are in units of something on the face (the inter-ocular distance, the mouth's or
an eye's width) so that a portrait looks the same at any resolution; the unit is in each
name's comment. Every layer and every ops backend reads these names — never a literal.
"""

from __future__ import annotations

# ---- source region and motion field (source.py, layers/motion.py) ---------------------------
MAX_SHIFT = 1.4
"""Largest displacement of the motion field, × the inter-ocular distance; the region of
interest is grown by it (1.4: the target landmarks are bounded at 0.85 of it, 1.19 io — as
far as the field reached before the bound — and the field around them has room to go on)."""
MOTION_BOUND = 0.85
"""No target landmark moves further than this share of ``MAX_SHIFT`` from the source's: a
driver beyond it moves the head that far and no further (the field under the landmarks stays
within its clamp, so the eyes and lips drawn at the landmarks sit on the warped face)."""
ROI_MARGIN = 4
"""Extra pixels around the moving region (and the step of the coarse mask it is found on)."""
GRID_CELLS = (32, 96)
"""Fewest and most cells a side of the coarse motion grid."""
TPS_REGULARISATION = 2e-2
"""Thin-plate-spline smoothing, in inter-ocular units: tames near-duplicate control points.
A turned face crowds its far side's control points together (foreshortened), and an exact
spline through their different motions swings wildly between and beyond them: a three-quarter
portrait (lp_s10) turned further showed the background stretched into its far cheek as a black
spike, a 3D cartoon's (lp_s7) jaw a notch and its ear a point. At 2e-3 they showed; at 2e-2 they
are gone, and self-reenactment's face SSIM is as high or higher on every evaluation clip."""
INVERT_ITERATIONS = 4
"""Newton iterations that invert the forward motion field. Each moves at most NEWTON_MAX_STEP
cells, so together they must cover a head's whole move in grid cells: a 512 px portrait (5 px
cells) turned by an inter-ocular distance moves ~18 cells."""
NEWTON_MIN_DET = 0.1
"""Where the field folds (det(I + J) below this), the inversion takes a fixed-point step instead."""
NEWTON_MAX_STEP = (2.0, 6.0)
"""A Newton step moves at most NEWTON_REACH × the residual, and never less than the first nor more
than the second of these many grid cells. At 2 cells everywhere the inversion stopped part way
on big moves: up to 17% of the grid 1 px or more off, the warped eyes 12 px from their target
(lp_s42 x lp_d12). At 6 everywhere, near a fold the linearisation overshot to the fold's other
side: a double nostril (sadtalker_art_6 x lp_d3 f150)."""
NEWTON_REACH = 1.5
"""A Newton step is at most this × the residual it corrects (see NEWTON_MAX_STEP)."""
NORM_EPSILON = 1e-6
"""Keeps the displacement clamp's division finite at zero motion."""

HEAD_MASK_SHAPE = (1.15, 1.35, 1.05, 0.55)
"""The head ellipse (falloff_mask): its scale beside, above and below the face oval, and the
width of its smooth falloff."""
FACE_MASK_SHAPE = (1.35, 1.35, 1.2, 0.4)
"""The face-oval ellipse inside which expressions move the image (the rest follows the head)."""
HAIR_CHIN = (0.7, 1.05)
"""The head's motion beyond the face fades out between these depths below the oval's centre,
× its lower extent (geometry.head_weight): the neck bridges head and still body."""
NECK_FOLD_FREE = 1.8
"""At its longest, the fade below the chin is this × the furthest a landmark may move
(``MOTION_BOUND × MAX_SHIFT``): a smoothstep over a length F has a slope of at most 1.5 / F, so
a chin moved T towards the body compresses the neck to 1 − 1.5·T / F of its height — at the
bound to a sixth, never folded over (a fold drew the chin's underside as a ragged, smeared
patch on the neck)."""
NECK_LONGEST = NECK_FOLD_FREE * MOTION_BOUND * MAX_SHIFT
"""That longest fade below the chin, × the inter-ocular distance (geometry.head_weight's ``neck``)."""
FRAME_PIN = 0.5
"""Near an edge of the picture that the head layer is held at (EDGE_CONTACT), motion away from
it fades out over this far (× the inter-ocular distance; layers.motion.frame_pins): what it
would uncover lies past the frame."""
EDGE_CONTACT = (0.03, 0.25, 1.0, 0.15)
"""Where the head layer reaches an edge of the picture (head.edge_contact): its coverage exceeds
the second share within the first × the inter-ocular distance of the edge. A stretch of contact
at least the third × the inter-ocular distance long is held (what lies past the frame is more of
the head: hair cut by it, the body), and only there is motion away from the edge pinned
(FRAME_PIN); a shorter one grazes (a crown or a curl just touching the frame): the head moves
away from it whole and the plate shows past its hair's tips, and within the fourth × the
inter-ocular distance of that edge the matte's soft margin stays with the plate
(head.grazing_release)."""
EDGE_MARGIN = (1.0 / 3.0, 2.0 / 3.0)
"""Near an edge the head layer grazes, coverage below the first share is the matte's soft margin
of background (it stays with the plate), above the second hair (it moves with the head)."""
NECK_EASE = (0.25, 0.8)
"""The fade below the chin lengthens from the resting one to the longest as the chin moves
from the first to the second of these distances from its place, × the inter-ocular distance:
small moves keep the body still, large ones let the neck and shoulders follow a little."""

# ---- the head layer and the background plate (head.py, layers/motion.py, layers/warp.py) ---
HEAD_REACH = (2.2, 3.0)
"""The head layer moves fully out to this radius from the face oval's centre (× its half-width
beside, × its upper extent above) and not at all beyond the second (geometry.head_weight):
big hair moves as one piece, a raised hand or a second person far off does not."""
FACE_LAYER_SHAPE = (1.05, 1.1, 1.0, 0.15)
"""An ellipse around the face oval that is always part of the head layer, whatever the person
matte says (statues, cartoons and paintings the matte may miss)."""
LAYER_GROW = 0.04
"""The person matte is grown by this much (× the inter-ocular distance) before it cuts the head
layer out: a segmenter's matte sits tight inside hair's fine fringe, and a fringe left out stays
behind in the plate as a dark arc where the head was."""
MATTE_EDGE = 0.1
"""A person matte's soft values (≤ 127) count as the head's out to this far from its confident
part (× the inter-ocular distance): hair's fine fringe; fainter stretches further off are the
segmenter half-believing background, not this head (head.attached)."""
LAYER_FRINGE = 0.1
"""Beyond the matte, over this far (× the inter-ocular distance) the hair's blur fades into the
background: there the plate fades from the fill to the portrait, and the layer holds the rest
at the least coverage the colours prove (head.premultiply). Left in the plate, the fringe traced
the head's old outline on the wall as a faint line wherever the head moved off it
(driver_zoom_pan, lp_s2 at 2048 px)."""
LAYER_EDGE = 0.02
"""Blur σ of the person matte that cuts the head layer out, × the inter-ocular distance."""
HEAD_DEPTH = 1.2
"""How far behind the face's rigid landmarks the head turns about, × the inter-ocular distance
(the mesh's depth scale): the head's outline, hair and ears move as points that deep do. A turn
(yaw, pitch; read from the landmarks' depths) swings the face across a head whose outline
barely shifts; 0 moves the whole head layer with the face's 2D similarity."""
PLATE_SCALE = 40.0
"""The background behind the head is inpainted at the resolution where the inter-ocular
distance is this many pixels (at most full resolution), then upsampled: a large hole filled
smoothly reads as out-of-focus background, and the fill still meets the background it continues
without a visible seam (at 16 px the fill's edge showed as a grey ring where the head left)."""
PLATE_SMOOTH = 0.5
"""The fill is then blurred by this σ (× the inter-ocular distance), so the seams where the
inpainting's fronts meet melt into a smooth gradient."""
PLATE_RADIUS = 5
"""cv2.inpaint's neighbourhood at that resolution, pixels (1/8 of the inter-ocular distance:
a smaller one draws the background's edges into the hole as fan-shaped streaks)."""
GRAIN_RING = 0.25
"""The fill gets the grain of the background within this far of the hole (× the inter-ocular
distance; head.matched_grain) …"""
GRAIN_SCALE = 1.0
"""… its detail in octaves, a Laplacian pyramid's levels: the finest what a blur of about this
many pixels takes away, each next one twice as coarse (head.matched_grain) …"""
GRAIN_COARSEST = 0.08
"""… up to a blur of this σ (× the inter-ocular distance; coarser shading is the smooth fill's) …"""
GRAIN_WINDOW = 7
"""… each octave's energy over windows this many of its level's pixels wide …"""
GRAIN_FLAT = 0.2
"""… taken where its energy is at most this quantile over the ring: the flattest patches, where
detail is what the background has everywhere (a plain wall's grain, not the edge of a window
frame beside it; a painted ground's brushwork, which it has everywhere)."""
PLATE_REACH = 0.03
"""The inpainting takes its colours from this far (× the inter-ocular distance) outside the
head layer's matte, not from the matte's feather: the fill reads as background, not hair."""

# ---- a textured background behind the head (quilting.py) ---------------------------------------
QUILT_BAND = (0.02, 0.08)
"""Texture is measured as the RMS of the background's band-pass between Gaussian blurs of these
σ (× the inter-ocular distance): the scales the quilting copies; film grain lies below the band,
a soft shadow or a lit gradient above it."""
QUILT_SPREAD = 0.1
"""… its local RMS over about this far (σ, × the inter-ocular distance) …"""
QUILT_PLAIN = 5.0
"""… and at or below this (grey levels) a picture is plain there (a wall, a studio backdrop, a
mottled painted ground, a soft shadow; heavy film grain in a small scan reads up to 4: lp_s12's
backdrop, whose quilted fill came out smoother and lighter than the grainy smooth fill)."""
QUILT_RING = 0.5
"""The background is quilted behind the head only if, within this far of the hole (× the
inter-ocular distance) …"""
QUILT_RING_SHARE = 0.25
"""… this quantile of its texture is above ``QUILT_PLAIN``: three quarters of it textured. Where
it is partly plain (a curtain beside a wall, a landscape under a plain sky), quilted fills showed
blotches in the plain parts and textured islands where a textured block landed in them, and
mixing the two by how textured they are showed both, ghosted: the smooth fill stays there."""
QUILT_SCALE = 32.0
"""Blocks are matched where the inter-ocular distance is this many pixels (then full-resolution
pixels are copied) …"""
QUILT_STEP = 6
"""… one block per this many pixels square there (0.19 of the eyes' distance) …"""
QUILT_OVERLAP = 3
"""… reaching this many pixels further on each side, where it is matched to what is there and
joined along the least-error path."""
QUILT_REACH = 2.5
"""Blocks are copied from background within this far of where they go (× the inter-ocular
distance): what lies behind a head is most like what is beside it."""
QUILT_TOLERANCE = 1.15
"""Any block whose difference is within this factor of the best may be drawn (seeded): always
the best repeats one block in stripes."""
QUILT_COHERENCE = 1.5
"""A neighbour's offset continued (one piece, no seam) is taken unless it differs this many
times more than the best block."""
QUILT_SALIENT = 0.9
"""Background blocks more detailed than this quantile of those near the hole are never copied:
text, a logo or a frame's edge, copied, reads as a duplicate rather than as background."""

# ---- hair's loose strands (strands.py) ------------------------------------------------------
STRAND_REACH = 0.35
"""Loose strands are looked for this far beyond the head layer's matte (× the inter-ocular
distance): a segmenter's matte stops where hair is dense, and flyaway strands beyond it stayed
in the plate — left behind in the air, with a hard edge where the fill began, when the head
moved (lp_s2's curls)."""
STRAND_WIDTH = 0.05
"""The morphological (black-hat or top-hat) filter that finds them is this wide (× the
inter-ocular distance, at least 5 px): strands are thinner, the hair's edge is not."""
STRAND_LENGTH = 0.05
"""Responses adding up to less than this (× the inter-ocular distance, at least 3 px) are the
grain's darkest specks, not a line."""
STRAND_THIN = 0.025
"""A strand keeps at least ``STRAND_THIN_SHARE`` of its response through a filter this wide
(× the inter-ocular distance, at least 3 px: a strand is 1–2 px wide in a portrait whose eyes
are 100 px apart, 2–4 px at twice that): a picture frame's edge a few pixels wide that the hair
cuts off does not (lp_d9's, taken for a strand, moved with the head)."""
STRAND_THIN_SHARE = 0.5
STRAND_CONTRAST = 30.0
"""Hair and background must differ by this many grey levels (medians) for strands to show."""
STRAND_NOISE = (3.0, 6.0)
"""A strand's pixels stand this many noise σ (the filter's robust spread beyond the matte: film
grain, JPEG noise) above the background, and at least one of them the second; …"""
STRAND_SHARE = (0.06, 0.12)
"""… and at least these shares of the hair–background contrast."""
STRAND_GAP = 0.04
"""Pieces of a strand broken by less than this (× the inter-ocular distance) are one strand."""
STRAND_BUSY = 0.01
"""Strands are believed only where the background beyond them is plain: where more than this
share of the ring beyond the search band (within an inter-ocular distance) also responds to the
filter — foliage, text, a patterned wall — thin dark lines are the background's own."""

# ---- the mouth (layers/mouth.py, layers/mouth_shape.py, layers/driver_mouth.py) -------------
# The mouth's own frame: u runs 0…1 from one inner lip corner to the other, v down from that
# axis in pixels; "width" is the inner corners' distance.
MOUTH_TABLE = (-0.4, 1.4, 37)
"""The four lip contours (outer upper, inner upper, inner lower, outer lower) are tabulated along
u from, to, in this many bins, per frame (piecewise linear through their landmarks)."""
MOUTH_FEATHER = 0.04
"""Edge softness of the mouth's interior, × the width …"""
MOUTH_FEATHER_MIN = 1.5
"""… and at least this many pixels …"""
MOUTH_FEATHER_SHARE = 0.25
"""… and the driver's interior's at most this share of the opening where it is narrower (a
speaking mouth's): the soft edge inside both lips would otherwise never let it cover a narrow
opening, and the lips or the drawn teeth under it showed through, greyed."""
LIP_MARGIN = 0.12
"""The lips are redrawn from the source between the four contours (the warp does not part
them) and this far beyond the outer contour, × the width, fading back into the warp …"""
LIP_EDGE = 0.15
"""Under a drawn interior, the lips' inner edge is sampled this share of the lip into it (not the
dark seam between closed lips, which the interior's soft edge would show as an outline)."""
LIP_INSET = (0.04, 0.15)
"""Where the opening differs from the source's, the lips reach this far into it (× the width,
at most this share of the opening): the tracked inner lip lies a little inside the lip's edge."""
LIP_CORNER_FADE = 0.2
"""… and over this share of the outer corners' distance inside them."""
MOUTH_OWN = (0.02, 0.06)
"""The source's own interior is kept while the inner-lip gap (× the width) differs from the
source's by less than the first; the drawn interior replaces it over the second."""
THROAT_SHADE = (0.16, 0.5)
"""The throat: lip colour × (dark + light · edge²), edge 0 mid-opening, 1 at the lips."""
TONGUE = (0.55, 0.35, 0.7, 0.35)
"""The tongue: height as a share of the opening, at most × the width; lip colour × this, and
its top lit by this share more."""
TEETH_ROW_UPPER = (0.14, 0.6)
"""Drawn upper teeth: height × the width, at most this share of the opening — a narrow opening
(a smile) is all teeth, a wide one shows rows of their own size (never stretched)."""
TEETH_ROW_LOWER = (0.1, 0.4, 0.75)
"""Drawn lower teeth: height × the width, at most this share of the opening; in shadow (× colour)."""
TOOTH_WIDTH = (0.13, 0.12, 0.1)
"""Drawn teeth: a tooth is this share of the width wide; the line between two this share of a
tooth, darker by this share."""
TEETH_SIDE_SHADE = 0.45
"""Teeth darken towards the mouth corners by up to this share (they turn away, into shadow) …"""
TEETH_LIP_SHADE = 0.2
"""… and by this share next to the lip they hang from (its shadow)."""
TEETH_FALLBACK_RGB = (236.0, 230.0, 214.0)
"""Off-white drawn teeth for a portrait that shows none, scaled to its brightness and tint."""
TEETH_TINT = (0.35, 1.1)
"""… the portrait's skin tint mixed in by this share; the face's light tones × this (at most 255)."""
TEETH_MATTE = (0.62, 0.75, (0.15, 0.5), 0.08, 12)
"""The source's teeth: value above this share of the brightest in its opening; saturation
below this share of the lips' (within these bounds, 0–1: a JPEG's chroma smears the lips'
red into small teeth); at least this share of the opening's pixels and this many pixels."""
TEETH_COLOURFUL = 0.15
"""Saturation (HSV, 0–1: the face's for drawn teeth, the lips' for the driver's) from which a
portrait counts as in colour. Below it the teeth's own tint fades to grey with it: a black-and-
white photo's teeth are grey (they were the off-white's warm cream, and the driver's yellowish
patches showed as brown smudges in an otherwise grey picture)."""
TEETH_WHITEN = 0.5
"""Drawn teeth take the source's teeth colour with this share of its saturation removed."""
TEETH_EXTEND = 0.12
"""The source's teeth continue this far (× the width) past the lip edge that hid them, so a
wider opening shows more of them rather than a gap."""
MOUSTACHE = (0.6, 0.5, (0.05, 0.2), 0.35, 0.5, 1.0)
"""Hair over the upper lip (mouth_shape.moustache_sprite). A moustache: the upper lip's band
darker (median brightness) than the first × both the lower lip's and the skin's below the
mouth, and the skin just above the lip (between these × the mouth's width above its outer
contour) darker than the second × that skin. A pixel is hair by where its brightness lies
between the hair's and the lower lip's (fully below the fourth share of the way, none past the
fifth); the sprite reaches up to the last × the mouth's width above the outer lip."""
MOUSTACHE_LIFT = 0.5
"""A moustache rises with this share of the upper lip's own rise (beyond the skull's motion)."""
JAW = [152, 175, 199, 200, 18, 421, 201, 428, 208, 171, 396, 32, 262, 148, 176, 377, 400]
"""Landmarks the lower teeth move with beyond the head's motion: the chin, which the jaw carries
(the lower lip also moves on its own: anchored to it, the lower teeth followed a pout;
self-reenactment's teeth error is lower with the chin)."""
LIP_FALLBACK_RGB = (150.0, 80.0, 80.0)
"""Lip colour when the lips cover too few pixels to measure."""

# ---- the driver's mouth interior (layers/driver_mouth.py) ---------------------------------
DRIVER_PATCH = (32, 64, 0.15)
"""The canonical patch of the driver's inner mouth: rows (s, 0 at the upper inner lip, 1 at
the lower), columns (u, 0…1 between the inner corners), and its margin beyond each lip (× the
opening)."""
DRIVER_OPEN = (0.03, 0.05)
"""The driver's interior shows once its inner-lip gap (× its width) passes the first, fully
over the second."""
DRIVER_TONE_GAIN = (0.5, 2.0)
"""The tone match scales each channel by the portrait's skin over the driver's, within this."""
TEETH_MIN_PIXELS = 8
"""Driver patch pixels that must show teeth before its teeth's colour is matched to the portrait's."""
LUMA_RGB = (0.299, 0.587, 0.114)
"""Rec. 601 luma weights of R, G, B."""
DRIVER_SATURATION = (0.0, 1.0)
"""The patch's saturation × (portrait's lips' / driver's lips'), clamped to this: less colourful
in a muted or grey portrait, never more than the driver's own (lipstick is no guide to a tongue)."""
DRIVER_DETAIL = (0.0, 1.5, 1.2)
"""The patch's fine detail × (portrait's detail / driver's), clamped to these; measured over a
Gaussian blur of this σ × (pixels per patch pixel)."""
SKIN_RING = (0.15, 0.45)
"""Skin colour for the tone match: between these distances (× the width) outside the outer lips."""
LOOK_WIDTH = 64.0
"""A mouth's colours and detail are measured with it under twice this wide (pixels): a wider
one is shrunk first by a whole factor (one pixel per column of the driver's patch or more)."""

# ---- eyes: their frame, lids and irises (layers/eyes.py, eyelids.py, irises.py) ------------
EYE_BOX = (0.65, 0.8, 0.6, 2.0)
"""The window an eye's layers are drawn in, from the corners' centre, × the eye's width: to either
side, up (the upper lid's band reaches far above a wide-open eye) and down; plus pixels."""
EYE_FEATHER = (0.04, 0.7)
"""Lid edge softness, × the eye's width, at least pixels."""
EYE_SIDE_FADE = (0.08, 0.1)
"""Beyond the corners the lid layers fade out: from this far past a corner (× the eye's width)
over this much more."""
EYE_PLACE = (0.45, 0.3, 0.5)
"""An eye is drawn where the warp put it: in an affine frame through its warped corners and the
warped points this far above and below their centre (× the eye's width: past where the lid bands
end, so a band meets the warped skin beside it as the warp shows it); a v axis keeps at least the
last share of the corners' scale across them. The target's lids are measured in it."""
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
"""The lit skin a closing lid's unfolding part takes is measured this far below the lower lid, ×
the eye's width, …"""
LID_SKIN_ABOVE = (0.4, 0.55)
"""… or this far above the upper lid (the brow bone, past the crease), …"""
LID_SKIN_OWN = (0.15, 0.3)
"""… or this far above it (the lid's own skin, past its lashes), whichever is brightest: a lid
lit from the front (a soft photo's) is paler than the skin below the eye and the brow bone, and
closed in their colour it showed as a darker flat patch."""
LID_TONE = (0.08, 0.6, 0.2)
"""A closing lid's unfolding skin takes the skin's tone (blurred over this × the eye's width) at
its band's far end, column by column; where that is darker than the lit skin's luma × the second,
the lit skin, wholly, and the tone fully from the second + the third (a brow, a deep shadow)."""
LID_UNFOLD = 0.6
"""How far a closing lid's newly unfolded skin takes the lit skin (0: the stretched skin as is)."""
LASH_CLOSE = 0.35
"""A closing upper lid's stretched skin (beyond its lash band) comes from the source with its
dark lines thinner than this × the eye's width — lashes, a drawn crease — closed out (eyes.bare_skin):
stretched down a closed lid, each drew a streak (a cartoon's or a soft photo's long lashes). Dense
lashes that a soft photo blurs into one dark band close out only under a disc wider than the band;
broad shading (eyeshadow, a crease's shade) is wider still and stays."""
LID_DETAIL = (0.05, 24.0)
"""The lit skin keeps the source's detail finer than a Gaussian of this × the eye's width (the
shading coarser than that — the crease's shadow — goes), each channel within ± this many levels."""
LID_DETAIL_SPREAD = 3.0
"""… and within this × its robust spread over the crop: texture keeps its strength, a crease's or
a cartoon's drawn lid line (an outlier) does not stack into bands down a closing lid."""
LID_DETAIL_LINES = (0.01, 0.05)
"""… weighted down where it is line-like (eyes.coherence: the structure tensor's gradients at
this × the eye's width, integrated over this × it): lashes, a crease, an iris's rim do not move
down a closing lid as arcs; pores and grain stay."""
LID_CREASE = 0.2
"""A closing upper lid is drawn this far past its band's far end, × the eye's width, without the
fine dark lines there (its crease), by how far it came down."""
LID_EDGE_MARGIN = 0.03
"""A moving lid's band starts this far outside the mesh's lid line, × the eye's width."""
LASH_OVERHANG = 0.03
"""A closed eye's upper lashes hang this far over the lower lid, × the eye's width."""
WHITE_BEYOND = (0.15, 0.5, 0.02)
"""The eye's white outside the mesh's outline (a cartoon's bigger eye) is looked for within this ×
the eye's width of it, and kept only if it covers at most this × the eye's own area and at most
this share of it lies on the search's edge (pale skin runs on to it, an eye's white ends at a rim)."""
LID_MEET = 0.05
"""Lids whose gap (the widest along the eye) is below this × its width are drawn closing along one line
(their mean), wholly from half that."""
LID_WIDEN = 0.6
"""A lid opens wider than the source's by at most this share of its stretching band."""
LID_FADE = 0.06
"""A lid band fades into the warped image over this, × the eye's width, at its far end."""
LID_REACH = (25, 2.0, 0.06)
"""A lid band ends short of what is not lid skin (layers/eyes.lid_reach), measured in this many
columns along the eye (its side fades included), this many pixels before it, and never within
this × the eye's width past the lash band."""
EYEWEAR_LENS = (1.3, 0.5, 0.03, 0.7, 1.0, 0.8)
"""Behind glasses (an eyewear rim over an eye, EYEWEAR_RIM) the motion field is the head's rigid
motion over a box around each eye (layers/motion.eyewear_weight), × the eye's width: wholly
within the first to either side of its centre, fading out over the second more; up to the rim's
top edge and the third more, fading out over the fourth (the brows above it still move); down
to the fifth, fading out over the last more (the cheeks take up the difference, not the lens's
lower rim). The fades are long enough to take a frown's brows or a turn's far cheek: over
fades of 0.35 and 0.4 the field folded along the rims and the picture tore there
(sadtalker_art_6 × lp_d3 f150, f262: 1.5-1.6 % of the motion grid folded, 1.1-1.2 % now, in the
lower fade and at the far temple, the rims intact; f100: 0.3 %, none now)."""
EYEWEAR_RIM = (0.2, 0.6, 0.12, 0.9)
"""An eyewear rim across a lid band: pixels darker than the first × the lid's lit skin, in a run
at most the third × the eye's width thick with skin (brighter than the second × it) beyond, in
at least the fourth share of the columns over the eye's middle."""

SCLERA_FALLBACK_RGB = (228.0, 222.0, 215.0)
"""The white of the eye when the source shows too little of it to measure."""
IRIS_FALLBACK_RGB = (80.0, 60.0, 50.0)
"""The iris colour when the source shows too little of it to measure."""
EYE_SAMPLE_INSET = (0.02, 1.0)
"""Colours are sampled this far inside the eye's outline, × the eye's width, at least pixels."""
IRIS_HIDDEN_TEXTURE = 0.5
"""… at this share of its contrast about the iris's measured colour (its tone above and below
the centre differs)."""
IRIS_SIDES = 0.5
"""What the source's lids hid of an iris takes its rings from its centre row (layers.irises.
hidden_iris): from both sides, mixed over this share of its radius about the vertical through
its centre."""
IRIS_SAMPLE_RING = (0.4, 0.9)
"""The iris colour is measured between these shares of its radius (not the pupil, not its rim)."""
SCLERA_SAMPLE = (1.1, (0.6, 0.95), 6)
"""The sclera is measured outside the iris × this, from the pixels between these quantiles of
brightness (not the lashes' shadow, not a highlight), and needs at least this many pixels;
with fewer (a statue, a squint) it is the eye's own brightest colour."""
IRIS_GONE = 1.2
"""Where the iris was is painted over out to this × its radius (its dark rim, the limbus, too)."""
SCLERA_BESIDE = 1.1
"""The sclera plate takes the visible white from beyond this × the iris's radius from its centre."""
SCLERA_DARKEST = 0.75
"""… not pixels darker than this × the sclera's measured brightness (lashes, the lid's line) …"""
SCLERA_MAX_SATURATION = 0.3
"""… and pixels more saturated than this (HSV's S) are skin or iris, not the white of the eye."""
SCLERA_SHADOWED = (0.65, 0.6, 1.05)
"""A white measured darker than the lit skin beside the eye, and more saturated than the second
× the skin's, in an eye whose iris is darker than the first × the skin, is a narrow eye's
shadowed corner: what opens up shows it raised to the third × the skin's brightness, its tint cut
to the second × the skin's saturation (layers/eyes.exposed_sclera)."""
SCLERA_SPREAD = (1.2, 0.6, 0.3)
"""Behind the iris and under the lids the plate is the visible sclera's local mean over Gaussians
of these × the iris's radius, coarse to fine."""
SCLERA_TRUST = (0.02, 0.25)
"""It is trusted fully where at least the first share of the coarsest Gaussian's weight lay on
visible sclera; a finer scale takes over where the second share of its weight did."""
LID_SHADOW = (0.3, 0.18)
"""What an eye layer fills in darkens towards the upper lid, by up to this share, over this
distance below it (× the eye's width): the lid's shadow."""
SLIT_SHADOW = 0.12
"""Light reaches between two lids a gap g apart as g⁴ / (g⁴ + g₀⁴), g₀ this × the eye's width —
the lashes' length — so an eye nearly closed is dark between its lids, not a white sliver, and a
half-open one is lit as the source's (layers/eyes.slit_shade)."""
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
IRIS_CORNER = 1.0
"""Along the eye, the iris's centre stays at least this × its radius from either corner."""

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

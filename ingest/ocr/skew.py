"""Scan skew: how far a page's lines of text are turned from level, and the page
straightened before it is read.

Sheet-fed scanners feed pages a few degrees askew all day, and tesseract loses words on
such pages: on generated report pages, half of them at 2 degrees and nearly all at 7.

The method is a projection-profile search, written with Pillow alone. Of the maintained
libraries, `deskew` and `jdeskew` need numpy plus scikit-image or OpenCV, none of which
the project installs (tens of megabytes the pipeline would load into every OCR worker
for this one step), and Debian's `unpaper` is not installed either and would be one
more external program rewriting the whole image to answer a question about one number.

The profile needs none of that: the page is reduced to about 50 dpi, its ink turned at
each candidate angle (Pillow's C code), and each turned image squeezed to one column of
row averages. At the right angle the lines of text fall into sharp bands of ink and
white, so the sum of squared steps between neighbouring rows peaks; a page lying
sideways is read the same way through its column averages. A coarse search over
+-MAX_SKEW degrees, then two finer ones around the best, costs about 40 small
rotations: 25-40 ms on a 300-dpi letter page (86 ms on a machine busy with other work),
1-3 % of the 1.5-3 s tesseract spends reading it.

Angles follow Pillow's convention: positive is counter-clockwise. `measure` returns the
angle the scan's text is turned by; `straighten` turns the page back by it."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from ingest.ocr import sources

# Pages turned by less than this are read as scanned. tesseract's own line finding copes
# with small slopes: on six generated report pages it read 100 % of the words at 1.5
# degrees, then fell off a cliff (54 % at 2 degrees, a few per cent at 7). Straightening
# costs a resampling, which by itself gains or loses a word a page at random, plus a
# rotation and a new JPEG for the searchable PDF (about 0.2 s); below a degree it buys
# nothing, and the cliff is a safe half degree and more away.
STRAIGHTEN_ABOVE = 1.0  # degrees
MAX_SKEW = 10.0  # degrees either way; beyond it a page was fed badly, not skewed

_PROFILE_DPI = 50  # fine enough for 0.1 degree over a line of text, and cheap
_MARGIN = 0.06  # of each side: the scanner's edge shadow would make a band of its own
_INK_BELOW = 160  # grey levels darker than this count as ink
# The best angle must stand out from the average over all angles by this much, or the
# page has no lines to go by (a photograph, a form of boxes, a few scattered words).
_MIN_PEAK = 1.25
_SEARCH = ((MAX_SKEW, 1.0), (1.0, 0.2), (0.2, 0.05))  # (half-width, step), coarse to fine


def measure(image_path: Path, dpi: int) -> float:
    """Degrees (counter-clockwise) by which the lines of text on the page image are
    turned from level, or from upright on a page lying sideways; 0.0 when the page shows
    no lines to measure by. Accurate to about 0.2 degrees within +-MAX_SKEW."""
    ink = _ink_at_profile_resolution(sources.read_gray(image_path), dpi)
    if ink is None:
        return 0.0
    scores = {angle: _scores(ink, angle) for angle in _angles(0.0, *_SEARCH[0])}
    by_rows, by_columns = (
        _peakedness({angle: score[axis] for angle, score in scores.items()}) for axis in (0, 1)
    )
    axis = 0 if by_rows >= by_columns else 1
    if max(by_rows, by_columns) < _MIN_PEAK:
        return 0.0
    best = max(scores, key=lambda angle: scores[angle][axis])
    for half_width, step in _SEARCH[1:]:
        candidates = {angle: _scores(ink, angle)[axis] for angle in _angles(best, half_width, step)}
        best = max(candidates, key=candidates.__getitem__)
    return round(best, 2)


def needs_straightening(skew: float) -> bool:
    return abs(skew) > STRAIGHTEN_ABOVE


def straighten(image_path: Path, skew: float, out_path: Path) -> Path:
    """The page image turned back by `skew` degrees, same size, the corners that come into
    view filled white (paper, not a black wedge tesseract would try to read)."""
    image = sources.read_gray(image_path)
    # Bilinear: read as well as bicubic on the test pages (bicubic's overshoot sharpens
    # the sensor noise a little), in about half the time.
    level = image.rotate(-skew, resample=Image.Resampling.BILINEAR, fillcolor=255)
    level.save(out_path, format="PPM")
    return out_path


def _ink_at_profile_resolution(image: Image.Image, dpi: int) -> Image.Image | None:
    """The page's inner part at about _PROFILE_DPI, ink white (255) on black (0), so that
    what rotation brings in at the corners counts as no ink."""
    factor = max(1, round(dpi / _PROFILE_DPI))
    small = image.reduce(factor)
    width, height = small.size
    dx, dy = round(width * _MARGIN), round(height * _MARGIN)
    inner = small.crop((dx, dy, width - dx, height - dy))
    if inner.width < 16 or inner.height < 16:
        return None
    return inner.point(lambda value: 255 if value < _INK_BELOW else 0)


def _angles(centre: float, half_width: float, step: float) -> list[float]:
    count = round(half_width / step)
    return [round(centre + step * index, 4) for index in range(-count, count + 1)]


def _scores(ink: Image.Image, angle: float) -> tuple[float, float]:
    """How sharply the ink, turned back by `angle`, bands into rows and into columns."""
    turned = ink.rotate(-angle, resample=Image.Resampling.NEAREST, fillcolor=0)
    rows = turned.resize((1, turned.height), Image.Resampling.BOX).tobytes()
    columns = turned.resize((turned.width, 1), Image.Resampling.BOX).tobytes()
    return _sharpness(rows), _sharpness(columns)


def _sharpness(profile: bytes) -> float:
    """Mean squared step between neighbouring averages: large when ink and white
    alternate in bands, small when the ink is smeared evenly."""
    steps = [(after - before) ** 2 for before, after in zip(profile, profile[1:], strict=False)]
    return sum(steps) / max(1, len(steps))


def _peakedness(scores: dict[float, float]) -> float:
    mean = sum(scores.values()) / len(scores)
    return max(scores.values()) / mean if mean else 0.0

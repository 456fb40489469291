"""Page images: counting a scan's pages, drawing one page as pixels, telling a blank
back from a page with ink, turning a page, and the images people look at (viewing image,
thumbnail, and a straightened page's image for the searchable PDF).

Page numbers are 1-based. Page images are 8-bit grayscale PGM files: they live for
seconds, and an uncompressed file is cheaper to write and read than a PNG."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageChops

from ingest.ocr import pdf, programs, sources

# Blank detection (see is_blank).
BLANK_MARGIN = 0.05  # of each side: edge shadows, punch holes and staples live here
BLANK_CELL = 4  # pixels averaged into one cell; wipes out single speckles
BLANK_DARK_LEVEL = 128  # a cell darker than this holds ink
BLANK_MAX_INK = 0.0002  # of cells. One short line ("Signed: J. Doe") is 0.0004;
# a dusty blank back 0.00007; a lone two-letter word falls under it and counts as blank.

VIEWING_LONG_SIDE = 1600  # pixels: about 145 dpi for a letter page, readable on screen
VIEWING_QUALITY = 80
THUMBNAIL_WIDTH = 200
THUMBNAIL_QUALITY = 75
# A straightened page's image in the searchable PDF: what document scanners commonly
# write, about 1 MB for a 300-dpi letter page, and no loss a reader or tesseract notices.
SCAN_QUALITY = 85


def page_count(source: Path, media_type: str) -> int:
    sources.check_media_type(media_type)
    if media_type == sources.PDF:
        return programs.pdf_page_count(source)
    return sources.frame_count(source, media_type)


def rasterize_page(
    source: Path, media_type: str, page_number: int, dpi: int, out_path: Path
) -> int:
    """Write page `page_number` of `source` as a grayscale PGM at `out_path`, one page at
    a time (never the whole document in memory). PDFs are rendered at `dpi`; images keep
    their own pixels. Returns the resolution of the written image in dots per inch."""
    sources.check_media_type(media_type)
    if media_type == sources.PDF:
        programs.render_pdf_page(source, page_number, dpi, out_path)
        return dpi
    frame = sources.load_frame(source, page_number)
    sources.grayscale(frame).save(out_path, format="PPM")
    return round(sources.frame_resolution(frame, dpi)[0])


def extract_scan(
    source: Path, page_number: int, dpi: int, out_path: Path, *, soften: bool = True
) -> int | None:
    """When page `page_number` of the PDF `source` is a scan as scanners write it (one
    JPEG image filling the page, nothing else on it), write that image's own pixels as a
    grayscale PGM at `out_path` and return their resolution. None for any other page:
    render it.

    Decoding the JPEG takes about 40 ms for a 300-dpi letter page where pdftoppm takes
    250-390 ms to draw the same pixels. Such a page has no text layer of its own. Scans
    far from `dpi` (outside 2/3 to 4/3 of it) are left to the renderer, which brings them
    to `dpi`; so are pages turned by /Rotate, cropped, or carrying annotations.

    `soften=False` gives the pixels as decoded, for a page about to be straightened: the
    rotation's interpolation smooths the noise as _soften does, and both together blur
    the print enough to cost a word or two a page."""
    scan = pdf.scanned_jpeg(source, page_number)
    if scan is None:
        return None
    x_dpi, y_dpi = scan.resolution
    if abs(x_dpi - y_dpi) > 0.02 * x_dpi or not dpi * 2 / 3 <= x_dpi <= dpi * 4 / 3:
        return None
    try:
        with Image.open(io.BytesIO(scan.jpeg), formats=["JPEG"]) as image:
            if image.mode not in ("L", "RGB") or image.size != scan.size:
                return None  # CMYK, or a header that disagrees with the PDF
            image.load()  # a damaged JPEG fails here, and pdftoppm gets to try
            gray = sources.grayscale(image)
            (_soften(gray) if soften else gray).save(out_path, format="PPM")
    except sources.UNREADABLE:
        out_path.unlink(missing_ok=True)
        return None
    return round(x_dpi)


def _soften(image: Image.Image) -> Image.Image:
    """Each pixel averaged with its neighbours right, below and diagonally (2 x 2, a shift
    of half a pixel), as pdftoppm's drawing of a scan smooths it. Raw sensor noise and
    JPEG ringing are left otherwise: tesseract then reads a lone dust speck next to a word
    as a stray full stop ("SUMMARY."). 20-40 ms, against 250-390 ms for the rendering."""
    across = Image.blend(image, ImageChops.offset(image, -1, 0), 0.5)
    return Image.blend(across, ImageChops.offset(across, 0, -1), 0.5)


def image_size(image_path: Path) -> tuple[int, int]:
    with Image.open(image_path) as image:
        return image.size


def is_blank(image_path: Path) -> bool:
    """True for a page with no ink worth reading: the back of a double-sided scan.

    Cheap (tens of milliseconds): the margins are cut off (edge shadows, punch holes),
    the rest averaged in BLANK_CELL-pixel cells so that isolated speckles and faint
    show-through turn light grey, and the page is blank when almost no cell is dark."""
    image = sources.read_gray(image_path)
    width, height = image.size
    dx, dy = int(width * BLANK_MARGIN), int(height * BLANK_MARGIN)
    cells = image.crop((dx, dy, width - dx, height - dy)).reduce(BLANK_CELL)
    histogram = cells.histogram()
    dark = sum(histogram[:BLANK_DARK_LEVEL])
    return dark <= BLANK_MAX_INK * cells.width * cells.height


_TURNS = {
    90: Image.Transpose.ROTATE_270,  # Pillow counts counter-clockwise
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}


def rotate(image_path: Path, degrees: int, out_path: Path) -> Path:
    """Turn a page image clockwise by a multiple of 90 degrees (lossless)."""
    degrees %= 360
    if degrees not in (0, *_TURNS):
        raise ValueError(f"pages turn by multiples of 90 degrees, not {degrees}")
    with Image.open(image_path) as image:
        turned = image.transpose(_TURNS[degrees]) if degrees else image.copy()
    turned.save(out_path, format=_format_for(out_path))
    return out_path


def _format_for(path: Path) -> str:
    return {
        ".pgm": "PPM",
        ".png": "PNG",
        ".jpg": "JPEG",
        ".jpeg": "JPEG",
        ".tif": "TIFF",
        ".tiff": "TIFF",
    }[path.suffix.lower()]


# --- what people look at -------------------------------------------------------------------


def make_viewing_image(image_path: Path, out_path: Path) -> Path:
    """A grayscale JPEG whose long side is VIEWING_LONG_SIDE pixels (never enlarged)."""
    image = sources.read_gray(image_path)
    # reducing_gap=1: box-average by a whole factor first, then a short bilinear step:
    # 20 ms on a 300-dpi letter page where a full Lanczos resize takes 80 ms (a cost paid
    # on every page, next to 1.5-3 s of OCR), with no visible difference at this size.
    # No optimize pass either: 10 ms more per page for a file 3 % smaller.
    image.thumbnail(
        (VIEWING_LONG_SIDE, VIEWING_LONG_SIDE), Image.Resampling.BILINEAR, reducing_gap=1.0
    )
    image.save(out_path, format="JPEG", quality=VIEWING_QUALITY)
    return out_path


def make_thumbnail(image_path: Path, out_path: Path) -> Path:
    """A grayscale JPEG THUMBNAIL_WIDTH pixels wide (from the viewing image is cheapest)."""
    with Image.open(image_path) as image:
        width, height = image.size
        # A JPEG is decoded straight at 1/2, 1/4 or 1/8 of its size, as long as that stays
        # at least 1.5 times the thumbnail: a quarter of the decoding work.
        image.draft("L", (THUMBNAIL_WIDTH * 3 // 2, 1))
        image.load()
        image = sources.grayscale(image)
    height = max(1, round(height * THUMBNAIL_WIDTH / width))
    image = image.resize((THUMBNAIL_WIDTH, height), Image.Resampling.LANCZOS, reducing_gap=2.0)
    image.save(out_path, format="JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
    return out_path


def save_scan_jpeg(image_path: Path, dpi: int, out_path: Path) -> Path:
    """A page image as a scanner writes it: a grayscale JPEG (quality SCAN_QUALITY) that
    declares its resolution, so that a PDF page made from it has the page's own size."""
    image = sources.read_gray(image_path)
    image.save(out_path, format="JPEG", quality=SCAN_QUALITY, dpi=(dpi, dpi))
    return out_path

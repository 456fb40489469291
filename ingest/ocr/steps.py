"""The OCR pipeline's steps. Each takes paths and plain values and writes its output to a
path it is given (or returns plain data), so any step can run in a worker process and be
tested on its own. External programs are reached only through `ingest.ocr.programs`.

Page numbers are 1-based throughout. Page images are 8-bit grayscale PGM files: they live
for seconds, and an uncompressed file is cheaper to write and read than a PNG."""

from __future__ import annotations

import hashlib
import io
import os
import re
import zlib
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from PIL import Image, ImageChops, ImageOps
from pypdf import PageObject, PdfReader, PdfWriter, Transformation
from pypdf.errors import PyPdfError
from pypdf.generic import (
    ArrayObject,
    ContentStream,
    DecodedStreamObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    StreamObject,
)

from archive.errors import UnsupportedMediaType
from ingest.ocr import programs
from ingest.ocr.errors import OcrError

PDF = "application/pdf"
TIFF = "image/tiff"
PNG = "image/png"
JPEG = "image/jpeg"
MEDIA_TYPES = frozenset({PDF, TIFF, PNG, JPEG})

# A page counts as already carrying text when pdftotext finds at least this many words.
# Fewer is typically a stamp or Bates number laid over a scan; such a page is OCR'd (it
# is sparse, so cheap), since skipping it would lose everything else on it.
MIN_TEXT_LAYER_WORDS = 8

# Blank detection (see is_blank).
BLANK_MARGIN = 0.05  # of each side: edge shadows, punch holes and staples live here
BLANK_CELL = 4  # pixels averaged into one cell; wipes out single speckles
BLANK_DARK_LEVEL = 128  # a cell darker than this holds ink
BLANK_MAX_INK = 0.0002  # of cells. One short line ("Signed: J. Doe") is 0.0004;
# a dusty blank back 0.00007; a lone two-letter word falls under it and counts as blank.

# A confident OSD answer; tesseract reports 15-35 on a page of text, 1-5 when guessing.
MIN_ORIENTATION_CONFIDENCE = 5.0

VIEWING_LONG_SIDE = 1600  # pixels: about 145 dpi for a letter page, readable on screen
VIEWING_QUALITY = 80
THUMBNAIL_WIDTH = 200
THUMBNAIL_QUALITY = 75

# Image resolutions outside this range are missing or nonsense (72 is Pillow's guess
# for "unknown" in some formats), so the caller's dpi is used instead.
_PLAUSIBLE_DPI = range(100, 2401)


@dataclass(frozen=True)
class Word:
    """One recognised word; the box is in pixels of the (turned) page image."""

    text: str
    conf: float
    left: int
    top: int
    width: int
    height: int


@dataclass(frozen=True)
class Recognition:
    text: str  # lines separated by "\n", blocks and paragraphs by a blank line
    confidence: float  # mean word confidence 0-100; 0.0 when no word was found
    words: tuple[Word, ...]


# --- counting and rasterizing ------------------------------------------------------------


def page_count(source: Path, media_type: str) -> int:
    _check_media_type(media_type)
    if media_type == PDF:
        return programs.pdf_page_count(source)
    with _open_source(source) as image:
        return getattr(image, "n_frames", 1) if media_type == TIFF else 1


def rasterize_page(
    source: Path, media_type: str, page_number: int, dpi: int, out_path: Path
) -> int:
    """Write page `page_number` of `source` as a grayscale PGM at `out_path`, one page at
    a time (never the whole document in memory). PDFs are rendered at `dpi`; images keep
    their own pixels. Returns the resolution of the written image in dots per inch."""
    _check_media_type(media_type)
    if media_type == PDF:
        programs.render_pdf_page(source, page_number, dpi, out_path)
        return dpi
    frame = _load_frame(source, page_number)
    _grayscale(frame).save(out_path, format="PPM")
    return round(_frame_resolution(frame, dpi)[0])


def extract_scan(pdf: Path, page_number: int, dpi: int, out_path: Path) -> int | None:
    """When page `page_number` of `pdf` is a scan as scanners write it (one JPEG image
    filling the page, nothing else on it), write that image's own pixels as a grayscale
    PGM at `out_path` and return their resolution. None for any other page: render it.

    Decoding the JPEG takes about 40 ms for a 300-dpi letter page where pdftoppm takes
    250-390 ms to draw the same pixels. Such a page has no text layer of its own. Scans
    far from `dpi` (outside 2/3 to 4/3 of it) are left to the renderer, which brings them
    to `dpi`; so are pages turned by /Rotate, cropped, or carrying annotations."""
    try:
        with open(pdf, "rb") as stream:  # a file, not a path: pypdf then reads lazily
            reader = PdfReader(stream)
            if reader.is_encrypted:
                return None
            scan = _lone_jpeg(reader.pages[page_number - 1])
    except _ODD_PDF:
        return None  # whatever puzzles this look is the renderer's to judge
    if scan is None:
        return None
    jpeg, size, (x_dpi, y_dpi) = scan
    if abs(x_dpi - y_dpi) > 0.02 * x_dpi or not dpi * 2 / 3 <= x_dpi <= dpi * 4 / 3:
        return None
    try:
        with Image.open(io.BytesIO(jpeg), formats=["JPEG"]) as image:
            if image.mode not in ("L", "RGB") or image.size != size:
                return None  # CMYK, or a header that disagrees with the PDF
            image.load()  # a damaged JPEG fails here, and pdftoppm gets to try
            _soften(_grayscale(image)).save(out_path, format="PPM")
    except _UNREADABLE:
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


# pypdf reports malformed structure through its own errors and, for objects of the wrong
# type in the wrong place, through Python's.
_ODD_PDF = (PyPdfError, OSError, ValueError, TypeError, KeyError, AttributeError, IndexError)
_SCAN_COLOUR_SPACES = {"/DeviceGray": 1, "/DeviceRGB": 3}


def _lone_jpeg(page: PageObject) -> tuple[bytes, tuple[int, int], tuple[float, float]] | None:
    """(JPEG bytes, pixel size, resolution) of the page's only image when the page shows
    nothing but that image, drawn over exactly its whole media box."""
    box = [float(value) for value in page.mediabox]
    if page.rotation % 360 or "/Annots" in page or [float(v) for v in page.cropbox] != box:
        return None
    resources = _get(page, "/Resources") or {}
    xobjects = _get(resources, "/XObject") or {}
    if set(resources) - {"/XObject", "/ProcSet"} or len(xobjects) != 1:
        return None
    (name,) = xobjects.keys()
    image = xobjects[name]
    contents = page.get_contents()
    drawn = contents.get_data().split() if contents is not None else []
    if drawn[:1] == [b"q"] and drawn[-1:] == [b"Q"]:
        drawn = drawn[1:-1]
    if len(drawn) != 9 or drawn[6:] != [b"cm", name.encode(), b"Do"]:
        return None
    a, b, c, d, e, f = (float(value) for value in drawn[:6])
    x0, y0, x1, y1 = box
    if b or c or max(abs(a - (x1 - x0)), abs(d - (y1 - y0)), abs(e - x0), abs(f - y0)) > 1:
        return None
    colour_space = _get(image, "/ColorSpace")
    if isinstance(colour_space, list) and colour_space[:1] == ["/ICCBased"]:
        components = _get(colour_space[1].get_object(), "/N")
    else:
        components = _SCAN_COLOUR_SPACES.get(colour_space)
    if (
        _get(image, "/Subtype") != "/Image"
        or _get(image, "/Filter") not in ("/DCTDecode", ["/DCTDecode"])
        or _get(image, "/BitsPerComponent") != 8
        or components not in (1, 3)
        or any(key in image for key in ("/Decode", "/DecodeParms", "/SMask", "/Mask"))
        or _get(image, "/ImageMask")
    ):
        return None
    jpeg = image.get_data()  # DCT data comes back as stored: the JPEG file itself
    if not jpeg.startswith(b"\xff\xd8"):
        return None
    width, height = int(image["/Width"]), int(image["/Height"])
    return jpeg, (width, height), (width * 72 / a, height * 72 / d)


def _get(dictionary, key: str):
    """dictionary[key] followed through an indirect reference; None when absent."""
    value = dictionary.get(key)
    return value.get_object() if value is not None else None


def image_size(image_path: Path) -> tuple[int, int]:
    with Image.open(image_path) as image:
        return image.size


# --- pages that need no OCR --------------------------------------------------------------


def page_text_layer(pdf: Path, page_number: int) -> str | None:
    """The page's existing text (pdftotext's reading), or None when the page has no text
    layer worth keeping (fewer than MIN_TEXT_LAYER_WORDS words)."""
    text = programs.pdf_page_text(pdf, page_number).rstrip()
    return text if len(text.split()) >= MIN_TEXT_LAYER_WORDS else None


def text_layer_words(pdf: Path, page_number: int, dpi: int) -> tuple[Word, ...]:
    """Boxes of a page's existing text, in pixels of the page rendered at `dpi`, so they
    line up with the page image like OCR word boxes do. Confidence is 100: the words are
    the document's own, not a recognition."""
    parser = _BboxWords(scale=dpi / 72.0)
    parser.feed(programs.pdf_page_words_xhtml(pdf, page_number))
    parser.close()
    return tuple(parser.words)


def is_blank(image_path: Path) -> bool:
    """True for a page with no ink worth reading: the back of a double-sided scan.

    Cheap (tens of milliseconds): the margins are cut off (edge shadows, punch holes),
    the rest averaged in BLANK_CELL-pixel cells so that isolated speckles and faint
    show-through turn light grey, and the page is blank when almost no cell is dark."""
    image = _read_gray(image_path)
    width, height = image.size
    dx, dy = int(width * BLANK_MARGIN), int(height * BLANK_MARGIN)
    cells = image.crop((dx, dy, width - dx, height - dy)).reduce(BLANK_CELL)
    histogram = cells.histogram()
    dark = sum(histogram[:BLANK_DARK_LEVEL])
    return dark <= BLANK_MAX_INK * cells.width * cells.height


# --- orientation -------------------------------------------------------------------------


def detect_rotation(image_path: Path, dpi: int = 300) -> int:
    """Degrees (0, 90, 180 or 270) to turn the page clockwise to put it right way up,
    from tesseract's orientation detection. 0 when tesseract cannot tell (sparse pages)
    or is not confident."""
    orientation = programs.tesseract_orientation(image_path, dpi)
    if orientation is None or orientation.confidence < MIN_ORIENTATION_CONFIDENCE:
        return 0
    return orientation.rotate


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


# --- recognition -------------------------------------------------------------------------


def recognise(image_path: Path, dpi: int, *, text_layer_pdf: Path | None = None) -> Recognition:
    """Read one page image with a single tesseract run. With `text_layer_pdf`, the same
    run also writes tesseract's text-only PDF for the page there (no second OCR)."""
    if text_layer_pdf is not None:
        if text_layer_pdf.suffix != ".pdf":
            raise ValueError(f"the text layer must be a .pdf file, not {text_layer_pdf.name}")
        out_base = text_layer_pdf.with_suffix("")
    else:
        out_base = image_path.with_name(image_path.stem + "-ocr")
    tsv = programs.tesseract_recognise(
        image_path, dpi, out_base, text_layer=text_layer_pdf is not None
    )
    out_base.with_name(out_base.name + ".tsv").unlink(missing_ok=True)
    return _parse_tsv(tsv)


def text_only_pdf(image_path: Path, out_pdf: Path, dpi: int = 300) -> Path:
    """tesseract's invisible-text PDF for one page image, sized to the image at `dpi`."""
    return programs.tesseract_text_only_pdf(image_path, dpi, out_pdf)


def _parse_tsv(tsv: str) -> Recognition:
    rows = tsv.splitlines()
    if not rows:
        return Recognition(text="", confidence=0.0, words=())
    column = {name: index for index, name in enumerate(rows[0].split("\t"))}
    words: list[Word] = []
    paragraphs: list[list[list[str]]] = []  # paragraphs of lines of words
    line_key = paragraph_key = None
    for row in rows[1:]:
        cells = row.split("\t")
        if len(cells) < len(column):  # tesseract drops the text cell when it is empty
            cells += [""] * (len(column) - len(cells))
        if cells[column["level"]] != "5":  # 5 = word; 1-4 are page, block, paragraph, line
            continue
        text = cells[column["text"]].strip()
        if not text:
            continue
        word = Word(
            text=text,
            conf=float(cells[column["conf"]]),
            left=int(cells[column["left"]]),
            top=int(cells[column["top"]]),
            width=int(cells[column["width"]]),
            height=int(cells[column["height"]]),
        )
        words.append(word)
        block, paragraph, line = (
            cells[column[name]] for name in ("block_num", "par_num", "line_num")
        )
        if (block, paragraph) != paragraph_key:
            paragraphs.append([])
            paragraph_key, line_key = (block, paragraph), None
        if line != line_key:
            paragraphs[-1].append([])
            line_key = line
        paragraphs[-1][-1].append(text)
    text = "\n\n".join("\n".join(" ".join(line) for line in lines) for lines in paragraphs)
    confidences = [word.conf for word in words if word.conf >= 0]  # -1: no confidence
    confidence = sum(confidences) / len(confidences) if confidences else 0.0
    return Recognition(text=text, confidence=confidence, words=tuple(words))


class _BboxWords(HTMLParser):
    """Collects <word xMin= yMin= xMax= yMax=>text</word> from pdftotext -bbox."""

    def __init__(self, scale: float):
        super().__init__(convert_charrefs=True)
        self.scale = scale
        self.words: list[Word] = []
        self._box: tuple[float, float, float, float] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "word":
            found = dict(attrs)
            x_min, y_min, x_max, y_max = (
                float(found.get(key) or 0) for key in ("xmin", "ymin", "xmax", "ymax")
            )
            self._box = (x_min, y_min, x_max, y_max)
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._box is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag != "word" or self._box is None:
            return
        text = "".join(self._text).strip()
        x_min, y_min, x_max, y_max = (value * self.scale for value in self._box)
        if text:
            self.words.append(
                Word(
                    text=text,
                    conf=100.0,
                    left=round(x_min),
                    top=round(y_min),
                    width=round(x_max - x_min),
                    height=round(y_max - y_min),
                )
            )
        self._box = None


# --- derivatives -------------------------------------------------------------------------


def make_viewing_image(image_path: Path, out_path: Path) -> Path:
    """A grayscale JPEG whose long side is VIEWING_LONG_SIDE pixels (never enlarged)."""
    image = _read_gray(image_path)
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
        image = _grayscale(image)
    height = max(1, round(height * THUMBNAIL_WIDTH / width))
    image = image.resize((THUMBNAIL_WIDTH, height), Image.Resampling.LANCZOS, reducing_gap=2.0)
    image.save(out_path, format="JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
    return out_path


# --- the searchable PDF ------------------------------------------------------------------


def image_page_pdf(
    source: Path, media_type: str, page_number: int, dpi: int, out_pdf: Path
) -> Path:
    """A one-page PDF showing page `page_number` of an image file, pixel for pixel and
    lossless (Flate), sized by the image's own resolution (`dpi` when it has none).
    Pillow's PDF writer would re-encode greyscale and colour as JPEG quality 75."""
    _check_media_type(media_type)
    frame = _load_frame(source, page_number)
    x_dpi, y_dpi = _frame_resolution(frame, dpi)
    image = _flatten(frame)
    pixel_width, pixel_height = image.size
    colour_space, bits = _PDF_PIXELS[image.mode]
    width_pt, height_pt = image.width * 72.0 / x_dpi, image.height * 72.0 / y_dpi
    # Level 1: on a noisy greyscale scan it is 4x faster than level 6 (0.3 s against 1.1 s,
    # as long as the OCR itself) for a file only 8 % larger.
    pixels = zlib.compress(image.tobytes(), 1)
    del image, frame
    content = f"q {width_pt:.4f} 0 0 {height_pt:.4f} 0 0 cm /Im0 Do Q".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width_pt:.4f} {height_pt:.4f}] "
            "/Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>"
        ).encode(),
        _pdf_stream(
            f"/Type /XObject /Subtype /Image /Width {pixel_width} /Height {pixel_height} "
            f"/ColorSpace /{colour_space} "
            f"/BitsPerComponent {bits} /Filter /FlateDecode",
            pixels,
        ),
        _pdf_stream("", content),
    ]
    with open(out_pdf, "wb") as out:
        out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(objects, start=1):
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
        xref = out.tell()
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
        out.writelines(b"%010d 00000 n \n" % offset for offset in offsets)
        out.write(
            b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(objects) + 1, xref)
        )
    return out_pdf


# Pillow mode → PDF colour space and bits per component. Pillow packs mode "1" rows to
# whole bytes with 1 = white, exactly as PDF's 1-bit DeviceGray expects.
_PDF_PIXELS = {"1": ("DeviceGray", 1), "L": ("DeviceGray", 8), "RGB": ("DeviceRGB", 8)}


def _pdf_stream(entries: str, data: bytes) -> bytes:
    return (
        b"<< %s /Length %d >>\nstream\n" % (entries.encode(), len(data)) + data + (b"\nendstream")
    )


def overlay_text_layer(
    base_pdf: Path, page_number: int, text_layer_pdf: Path | None, turn: int, out_pdf: Path
) -> Path:
    """Write page `page_number` of `base_pdf` as a one-page PDF, with tesseract's
    text-only page laid over it. `turn` is how far (clockwise) the page image was turned
    for OCR: the page is then shown turned the same way (its /Rotate), and the layer,
    which matches the turned image, is mapped onto the page so that it sits under the
    words as shown and pdftotext reads it right way up. Without a layer the page is
    copied unchanged (pages with their own text, blank pages)."""
    try:
        with open(base_pdf, "rb") as stream:  # a file, not a path: pypdf then reads lazily
            reader = PdfReader(stream)
            if reader.is_encrypted:
                reader.decrypt("")  # only readable PDFs get here; this is an owner password
            writer = PdfWriter()
            page = writer.add_page(reader.pages[page_number - 1])
            if text_layer_pdf is not None:
                shown = (page.rotation + turn) % 360
                layer = PdfReader(text_layer_pdf).pages[0]
                _lay_over(writer, page, layer, _layer_onto_page(page, layer, shown))
                page.rotation = shown
            writer.write(out_pdf)
    except PyPdfError as exc:
        raise OcrError(
            "The searchable PDF could not be built from this page; the PDF may be damaged. "
            "The original is kept; upload a fresh copy to get a searchable version."
        ) from exc
    return out_pdf


def _lay_over(writer: PdfWriter, page: PageObject, layer: PageObject, onto: Transformation):
    """Append the layer's text, levelled and mapped by `onto`, to the page's content, and
    its font to the page's resources (renamed if the page already uses the name).

    The layer is not parsed by pypdf (merge_transformed_page parses and rewrites both
    content streams, 70-90 ms a page): tesseract writes a handful of operators, split
    here on whitespace; the page's own content is kept byte for byte, wrapped in q/Q."""
    resources = _get(page, "/Resources")
    if resources is None:
        resources = page[NameObject("/Resources")] = DictionaryObject()
    fonts = _get(resources, "/Font")
    if fonts is None:
        fonts = resources[NameObject("/Font")] = DictionaryObject()
    renamed: dict[bytes, bytes] = {}
    layer_fonts = _get(_get(layer, "/Resources") or {}, "/Font") or {}
    for name in layer_fonts:
        new_name, suffix = name, 0
        while new_name in fonts:
            suffix += 1
            new_name = f"{name}-ocr{suffix}"
        fonts[NameObject(new_name)] = layer_fonts[name].clone(writer).indirect_reference
        renamed[name.encode()] = new_name.encode()
    layer_content = layer.get_contents()
    text = _level_words(layer_content.get_data() if layer_content is not None else b"", renamed)
    own = page.get_contents()
    content = DecodedStreamObject()
    content.set_data(
        b"q\n%s\nQ\nq %s cm\n%s\nQ\n"
        % (own.get_data() if own is not None else b"", _numbers(onto.ctm), text)
    )
    page.replace_contents(content.flate_encode())


def _layer_onto_page(page, layer, shown: int) -> Transformation:
    """The matrix taking the text layer (which matches the page as shown, i.e. turned
    clockwise by `shown` degrees) into the page's unrotated user space, scaled to fill its
    media box."""
    x0, y0 = float(page.mediabox.left), float(page.mediabox.bottom)
    width, height = float(page.mediabox.width), float(page.mediabox.height)
    shown_width, shown_height = (width, height) if shown in (0, 180) else (height, width)
    su = shown_width / float(layer.mediabox.width)
    sv = shown_height / float(layer.mediabox.height)
    a, b, c, d, e, f = {
        0: (su, 0, 0, sv, x0, y0),
        90: (0, su, -sv, 0, x0 + width, y0),
        180: (-su, 0, 0, -sv, x0 + width, y0 + height),
        270: (0, -su, sv, 0, x0, y0 + height),
    }[shown]
    # The layer's own media box may not start at the origin.
    lx, ly = float(layer.mediabox.left), float(layer.mediabox.bottom)
    return Transformation((a, b, c, d, e - a * lx - c * ly, f - b * lx - d * ly))


# Lines sloping by less than this (sin of about 6 degrees) are scan skew, not vertical text.
_MAX_SKEW = 0.1

Operation = tuple[list[bytes], bytes]  # operands as written, operator


def _level_words(content: bytes, renamed: dict[bytes, bytes]) -> bytes:
    """Lay each line of tesseract's text layer level, at the line's mean height, and give
    its font the name it has on the page.

    tesseract writes each line along the line's measured slope. On a page scanned 1 degree
    askew, pdftotext cuts such a slope into pieces at fixed heights, splitting words
    ("ceftria" + "xone"): 3-4 % of the words were lost that way on test scans. Set level,
    word by word at the x where each word starts, every word stays whole and every line
    stays one line; the invisible text is then at most half the line's rise above or below
    the ink (3 pt at the ends of a full-width line skewed 0.8 degrees)."""
    operations = _layer_operations(content)
    out: list[Operation] = []
    text_object: list[Operation] = []
    for operands, operator in operations:
        if operator == b"Tf" and operands:
            operands = [renamed.get(operands[0], operands[0]), *operands[1:]]
        text_object.append((operands, operator))
        if operator == b"ET":
            out += _level_text_object(text_object)
            text_object = []
    return b"\n".join(b" ".join([*operands, operator]) for operands, operator in out + text_object)


def _layer_operations(content: bytes) -> list[Operation]:
    """tesseract's text layer as (operands, operator) pairs. It writes only numbers,
    names, hex strings and [ ] around them, all separated by spaces, so splitting on
    whitespace is exact (5 ms for a dense page, against 50 ms for pypdf's general parser).
    Anything else (another tesseract might write literal strings) goes to pypdf."""
    operations: list[Operation] = []
    operands: list[bytes] = []
    for token in content.split():
        first = token[:1]
        if first.isalpha() and token.isalpha():
            operations.append((operands, token))
            operands = []
        elif first in b"/[]" or _HEX_OR_NUMBER.fullmatch(token):
            operands.append(token)
        else:
            return _general_operations(content)
    return operations


_HEX_OR_NUMBER = re.compile(rb"<[0-9A-Fa-f]*>|[+-]?(?:\d+\.?\d*|\.\d+)")


def _general_operations(content: bytes) -> list[Operation]:
    stream = DecodedStreamObject()
    stream.set_data(content)
    operations = []
    for operands, operator in ContentStream(stream, None).operations:
        written = []
        for operand in operands:
            buffer = io.BytesIO()
            operand.write_to_stream(buffer)
            written.append(buffer.getvalue())
        operations.append((written, operator))
    return operations


def _level_text_object(text_object: list[Operation]) -> list[Operation]:
    """One BT ... ET of tesseract's: a Tm setting the slope and the first word's start,
    then before each further word a Td relative to the previous word's start, along the
    slope; a Td going left (tx < 0) starts the next line of the block."""
    matrix: list[float] | None = None
    starts: list[tuple[int, float, float]] = []  # line, x, y of each word's start
    for operands, operator in text_object:
        if operator == b"Tm":
            matrix = [float(value) for value in operands]
            a, b, _, d, e, f = matrix
            if not (a > 0 and d > 0 and abs(b) < _MAX_SKEW):
                return text_object  # vertical or mirrored text: not skew, leave it be
            starts.append((len(starts) and starts[-1][0] + 1, e, f))
        elif operator == b"Td" and matrix is not None:
            tx, ty = (float(value) for value in operands)
            a, b, c, d, e, f = matrix
            matrix = [a, b, c, d, e + tx * a + ty * c, f + tx * b + ty * d]
            line = starts[-1][0] + (1 if tx < 0 else 0)
            starts.append((line, matrix[4], matrix[5]))
    heights: dict[int, list[float]] = {}
    for line, _, y in starts:
        heights.setdefault(line, []).append(y)
    level = {line: sum(ys) / len(ys) for line, ys in heights.items()}
    word_starts = iter(starts)
    levelled = []
    for operands, operator in text_object:
        if operator in (b"Tm", b"Td") and matrix is not None:
            line, x, _ = next(word_starts)
            operands, operator = [_numbers((1, 0, 0, 1, x, level[line]))], b"Tm"
        levelled.append((operands, operator))
    return levelled


def _numbers(values) -> bytes:
    return b" ".join(b"%.4f" % value for value in values)


def concatenate_pdfs(parts: list[Path], out_pdf: Path) -> Path:
    """Join PDFs (the one-page PDFs of overlay_text_layer) into `out_pdf`, page after page.

    Streaming: each part is opened, its pages' objects are renumbered and written out, and
    the part is let go, so memory holds one page whatever the document (pypdf's writer
    would hold every page until the end). Stream data is copied as stored, never decoded
    or re-compressed: 2-4 ms a page, where pdfunite took 50-100 ms for a scanned page,
    in the parent, after the last page is read. The same parts always give the same
    bytes (see _derive_document_id)."""
    if not parts:
        raise ValueError("concatenate_pdfs needs at least one part")
    try:
        with out_pdf.open("wb") as out:
            _join(parts, out)
    except PyPdfError as exc:
        raise OcrError(
            "The searchable PDF could not be assembled from its pages. Retry the job; the "
            "original is kept either way."
        ) from exc
    _derive_document_id(out_pdf)
    return out_pdf


_CATALOG, _PAGE_TREE = 1, 2  # written last, once every page's number is known


def _join(parts: list[Path], out) -> None:
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    pages: list[int] = []
    for part in parts:
        with part.open("rb") as stream:
            reader = PdfReader(stream)
            for page in reader.pages:
                pages.append(_copy_page(page, out, offsets, first_free=len(offsets) + 3))
    offsets[_CATALOG] = out.tell()
    out.write(b"%d 0 obj\n<< /Type /Catalog /Pages %d 0 R >>\nendobj\n" % (_CATALOG, _PAGE_TREE))
    offsets[_PAGE_TREE] = out.tell()
    kids = b" ".join(b"%d 0 R" % number for number in pages)
    out.write(
        b"%d 0 obj\n<< /Type /Pages /Kids [%s] /Count %d >>\nendobj\n"
        % (_PAGE_TREE, kids, len(pages))
    )
    xref = out.tell()
    size = max(offsets) + 1
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % size)
    out.writelines(b"%010d 00000 n \n" % offsets[number] for number in range(1, size))
    # A placeholder /ID, the same length as the real one: _derive_document_id fills it in.
    out.write(
        b"trailer\n<< /Size %d /Root %d 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n"
        % (size, _CATALOG, b"0" * 32, b"0" * 32, xref)
    )


def _copy_page(page: PageObject, out, offsets: dict[int, int], first_free: int) -> int:
    """Write `page` and every object it reaches (not its old /Parent) under new numbers
    from `first_free` on; returns the page's new number."""
    numbers: dict[int, int] = {}
    pending: list = []

    def renumber(reference: IndirectObject) -> int:
        if reference.idnum not in numbers:
            numbers[reference.idnum] = first_free + len(numbers)
            pending.append(reference)
        return numbers[reference.idnum]

    number = renumber(page.indirect_reference)
    while pending:
        reference = pending.pop(0)
        obj = reference.get_object()
        offsets[numbers[reference.idnum]] = out.tell()
        out.write(b"%d 0 obj\n" % numbers[reference.idnum])
        if reference.idnum == page.indirect_reference.idnum:
            out.write(b"<< /Parent %d 0 R\n" % _PAGE_TREE)
            _write_entries(obj, out, renumber, leave_out=("/Parent",))
            out.write(b">>")
        else:
            _write_value(obj, out, renumber)
        out.write(b"\nendobj\n")
    return number


def _write_value(value, out, renumber) -> None:
    if isinstance(value, IndirectObject):
        out.write(b"%d 0 R" % renumber(value))
    elif isinstance(value, StreamObject):
        data = value._data  # as stored (still compressed): pypdf has no public name for it
        out.write(b"<< /Length %d\n" % len(data))
        _write_entries(value, out, renumber, leave_out=("/Length",))
        out.write(b">>\nstream\n")
        out.write(data)
        out.write(b"\nendstream")
    elif isinstance(value, DictionaryObject):
        out.write(b"<<\n")
        _write_entries(value, out, renumber)
        out.write(b">>")
    elif isinstance(value, ArrayObject):
        out.write(b"[")
        for item in value:
            out.write(b" ")
            _write_value(item, out, renumber)
        out.write(b" ]")
    else:
        value.write_to_stream(out)


def _write_entries(dictionary: DictionaryObject, out, renumber, leave_out=()) -> None:
    for key, value in dictionary.items():  # items() leaves references unresolved
        if key not in leave_out:
            NameObject(key).write_to_stream(out)
            out.write(b" ")
            _write_value(value, out, renumber)
            out.write(b"\n")


def _derive_document_id(pdf: Path) -> None:
    """The joined file's /ID becomes a hash of everything before its final trailer, so the
    same pages always give the same file (and checksum): a job run twice must store the
    identical derivative. The trailer sits after the cross-reference table, so no offset
    moves when its length changes."""
    with pdf.open("r+b") as stream:
        size = stream.seek(0, os.SEEK_END)
        tail_start = max(0, size - 4096)
        stream.seek(tail_start)
        tail = stream.read()
        trailer = tail.rfind(b"trailer")
        span = _id_array_span(tail, trailer) if trailer >= 0 else None
        if span is None:
            return
        digest = hashlib.md5(usedforsecurity=False)
        stream.seek(0)
        remaining = tail_start + trailer
        while remaining > 0 and (chunk := stream.read(min(remaining, 1 << 20))):
            digest.update(chunk)
            remaining -= len(chunk)
        identity = digest.hexdigest().upper().encode()
        new_id = b"[<" + identity + b"> <" + identity + b">]"
        stream.seek(tail_start)
        stream.write(tail[: span[0]] + new_id + tail[span[1] :])
        stream.truncate()


def _id_array_span(data: bytes, start: int) -> tuple[int, int] | None:
    """Where the ``[...]`` after ``/ID`` begins and ends. Its two strings are random bytes
    that may contain ``]`` or parentheses, so they are parsed, not pattern-matched."""
    key = data.find(b"/ID", start)
    if key < 0:
        return None
    position = key + 3
    while position < len(data) and data[position] in b" \t\r\n":
        position += 1
    if position >= len(data) or data[position : position + 1] != b"[":
        return None
    begin, position = position, position + 1
    while position < len(data):
        byte = data[position : position + 1]
        if byte == b"]":
            return begin, position + 1
        if byte == b"<":
            position = data.index(b">", position) + 1
        elif byte == b"(":
            position = _end_of_literal_string(data, position)
        else:
            position += 1
    return None


def _end_of_literal_string(data: bytes, position: int) -> int:
    depth = 0
    while True:
        byte = data[position : position + 1]
        if byte == b"\\":
            position += 2
            continue
        if byte == b"(":
            depth += 1
        elif byte == b")":
            depth -= 1
            if depth == 0:
                return position + 1
        position += 1


# --- reading the source image --------------------------------------------------------------


def _check_media_type(media_type: str) -> None:
    if media_type not in MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"Scans must be PDF, TIFF, PNG or JPEG files; this one is {media_type}."
        )


_UNREADABLE = (OSError, EOFError, ValueError, SyntaxError, Image.DecompressionBombError)


def _open_source(source: Path) -> Image.Image:
    try:
        return Image.open(source)
    except _UNREADABLE as exc:
        raise OcrError(
            "The image could not be opened; it may be damaged or not an image at all. "
            "Upload a fresh scan."
        ) from exc


def _load_frame(source: Path, page_number: int) -> Image.Image:
    """Decode one frame of an image file (only that frame is read), upright as its EXIF
    orientation says (phone photos of paper carry one)."""
    with _open_source(source) as image:
        try:
            image.seek(page_number - 1)
            image.load()
            upright = ImageOps.exif_transpose(image)
        except _UNREADABLE as exc:
            raise OcrError(
                "This page of the image could not be decoded; the file may be damaged or "
                "cut short. Upload a fresh scan."
            ) from exc
        if upright is image:  # exif_transpose returns the same object when nothing moved
            upright = image.copy()
        upright.info = dict(image.info)
        return upright


def _frame_resolution(frame: Image.Image, default: int) -> tuple[float, float]:
    dpi = frame.info.get("dpi")
    try:
        x_dpi, y_dpi = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError, IndexError):
        return float(default), float(default)
    if round(x_dpi) not in _PLAUSIBLE_DPI or round(y_dpi) not in _PLAUSIBLE_DPI:
        return float(default), float(default)
    # PNG stores pixels per metre, so 300 dpi comes back as 299.9994.
    return round(x_dpi, 1), round(y_dpi, 1)


def _flatten(image: Image.Image) -> Image.Image:
    """The image in one of the modes a PDF shows directly: "1", "L" or "RGB"."""
    if image.mode in ("1", "L", "RGB"):
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16-bit greyscale scans
        return image.convert("I").point(lambda value: value / 256).convert("L")
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", image.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _read_gray(image_path: Path) -> Image.Image:
    with Image.open(image_path) as image:
        image.load()  # read the pixels now: leaving the block closes the file
        return _grayscale(image)


def _grayscale(image: Image.Image) -> Image.Image:
    return image if image.mode == "L" else _flatten(image).convert("L")


def _format_for(path: Path) -> str:
    return {
        ".pgm": "PPM",
        ".png": "PNG",
        ".jpg": "JPEG",
        ".jpeg": "JPEG",
        ".tif": "TIFF",
        ".tiff": "TIFF",
    }[path.suffix.lower()]

"""The OCR pipeline's steps. Each takes paths and plain values and writes its output to a
path it is given (or returns plain data), so any step can run in a worker process and be
tested on its own. External programs are reached only through `ingest.ocr.programs`.

Page numbers are 1-based throughout. Page images are 8-bit grayscale PGM files: they live
for seconds, and an uncompressed file is cheaper to write and read than a PNG."""

from __future__ import annotations

import hashlib
import os
import zlib
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from PIL import Image, ImageOps
from pypdf import PageObject, PdfReader, PdfWriter, Transformation
from pypdf.errors import PyPdfError
from pypdf.generic import ContentStream, FloatObject, NameObject

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
    # reducing_gap=1: box-average by a whole factor first, then a short bicubic step:
    # 30 ms on a 300-dpi letter page where a full Lanczos resize takes 80 ms (a cost paid
    # on every page, next to 1.5 s of OCR), with no visible difference at this size.
    image.thumbnail(
        (VIEWING_LONG_SIDE, VIEWING_LONG_SIDE), Image.Resampling.BICUBIC, reducing_gap=1.0
    )
    image.save(out_path, format="JPEG", quality=VIEWING_QUALITY, optimize=True)
    return out_path


def make_thumbnail(image_path: Path, out_path: Path) -> Path:
    """A grayscale JPEG THUMBNAIL_WIDTH pixels wide (from the viewing image is cheapest)."""
    image = _read_gray(image_path)
    height = max(1, round(image.height * THUMBNAIL_WIDTH / image.width))
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
                layer = _level_words(PdfReader(text_layer_pdf).pages[0])
                page.merge_transformed_page(layer, _layer_onto_page(page, layer, shown))
                page.rotation = shown
            writer.write(out_pdf)
    except PyPdfError as exc:
        raise OcrError(
            "The searchable PDF could not be built from this page; the PDF may be damaged. "
            "The original is kept; upload a fresh copy to get a searchable version."
        ) from exc
    return out_pdf


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


def _level_words(layer: PageObject) -> PageObject:
    """Lay each line of tesseract's text layer level, at the line's mean height.

    tesseract writes each line along the line's measured slope. On a page scanned 1 degree
    askew, pdftotext cuts such a slope into pieces at fixed heights, splitting words
    ("ceftria" + "xone"): 3-4 % of the words were lost that way on test scans. Set level,
    word by word at the x where each word starts, every word stays whole and every line
    stays one line; the invisible text is then at most half the line's rise above or below
    the ink (3 pt at the ends of a full-width line skewed 0.8 degrees)."""
    stream = ContentStream(
        layer.get_contents(), layer.indirect_reference.pdf if layer.indirect_reference else None
    )
    operations: list = []
    text_object: list = []
    for operands, operator in stream.operations:
        text_object.append((operands, operator))
        if operator == b"ET":
            operations += _level_text_object(text_object)
            text_object = []
    stream.operations = operations + text_object
    layer[NameObject("/Contents")] = stream
    return layer


def _level_text_object(text_object: list) -> list:
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
            operands, operator = _matrix(1, 0, 0, 1, x, level[line]), b"Tm"
        levelled.append((operands, operator))
    return levelled


def _matrix(*values: float) -> list[FloatObject]:
    return [FloatObject(value) for value in values]


def concatenate_pdfs(pages: list[Path], out_pdf: Path) -> Path:
    programs.unite_pdfs(pages, out_pdf)
    _derive_document_id(out_pdf)
    return out_pdf


def _derive_document_id(pdf: Path) -> None:
    """pdfunite writes a random /ID, so the same pages would give a different file (and a
    different checksum) every time; a job run twice must store the identical derivative.
    The /ID becomes a hash of everything before the final trailer instead. The trailer
    sits after the cross-reference table, so no offset moves when its length changes."""
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

"""Words from a page: tesseract's reading of a page image (text, word boxes, confidence,
and its text-only PDF layer), which way up a page is, and the words a PDF page already
carries as text.

Word boxes are in pixels of the page image, so words read by OCR and words taken from a
PDF's own text line up alike with the page shown on screen."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from ingest.ocr import programs

# A page counts as already carrying text when pdftotext finds at least this many words.
# Fewer is typically a stamp or Bates number laid over a scan; such a page is OCR'd (it
# is sparse, so cheap), since skipping it would lose everything else on it.
MIN_TEXT_LAYER_WORDS = 8

# A confident OSD answer; tesseract reports 15-35 on a page of text, 1-5 when guessing.
MIN_ORIENTATION_CONFIDENCE = 5.0


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


# --- orientation -------------------------------------------------------------------------


def detect_rotation(image_path: Path, dpi: int = 300) -> int:
    """Degrees (0, 90, 180 or 270) to turn the page clockwise to put it right way up,
    from tesseract's orientation detection. 0 when tesseract cannot tell (sparse pages)
    or is not confident."""
    orientation = programs.tesseract_orientation(image_path, dpi)
    if orientation is None or orientation.confidence < MIN_ORIENTATION_CONFIDENCE:
        return 0
    return orientation.rotate


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

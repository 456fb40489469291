"""The OCR pipeline on generated scanned charts, with the real tesseract and poppler.

Each document is processed once per module (OCR is the slow part) and many things are
asserted on that one result."""

from __future__ import annotations

import io
import os
import random
import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from statistics import median

import pikepdf
import pytest
from PIL import Image

from ingest.ocr import pdf, programs, raster, recognition, sources
from ingest.ocr.pipeline import DocumentResult, PageResult, process_document
from tests.ingest import scans
from tests.ingest.scans import ScannedChart

PDF, TIFF, PNG = sources.PDF, sources.TIFF, sources.PNG
MIN_RECALL = 0.97
REFERRAL = [
    "Referral letter from the community clinic to the medical records office.",
    "Please attach the enclosed results to the chart of the patient named below.",
]


def pdftotext(pdf: Path, page: int | None = None, *extra: str) -> str:
    pages = ["-f", str(page), "-l", str(page)] if page else []
    return subprocess.run(
        ["pdftotext", *extra, *pages, str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


@dataclass
class Run:
    result: DocumentResult
    progress: list[tuple[int, int, int]] = field(default_factory=list)  # number, total, pid
    tesseract_calls: Counter[tuple[int, str]] = field(default_factory=Counter)

    def page(self, number: int) -> PageResult:
        return self.result.pages[number - 1]


def run(original: Path, media_type: str, workdir: Path, workers: int) -> Run:
    progress: list[tuple[int, int, int]] = []
    result = process_document(
        original,
        media_type,
        workdir,
        workers=workers,
        on_page=lambda page, total: progress.append((page.number, total, os.getpid())),
    )
    return Run(result, progress)


# --- generated documents, shared by the module ---------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("scans")


@pytest.fixture(scope="module")
def chart() -> ScannedChart:
    return scans.scanned_chart()


@pytest.fixture(scope="module")
def chart_pdf(chart, files) -> Path:
    return chart.save_pdf(files / "chart.pdf")


@pytest.fixture(scope="module")
def two_workers(chart_pdf, files) -> Run:
    return run(chart_pdf, PDF, files / "two-workers", workers=2)


@pytest.fixture(scope="module")
def one_worker(chart_pdf, files) -> Run:
    """In-process (workers=1), which lets the test see every tesseract run."""
    calls: Counter[tuple[int, str]] = Counter()

    def counted(kind, real):
        def call(image, *args, **kwargs):
            calls[(int(Path(image).name[1:5]), kind)] += 1  # files are named pNNNN-...
            return real(image, *args, **kwargs)

        return call

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            programs, "tesseract_recognise", counted("recognise", programs.tesseract_recognise)
        )
        patch.setattr(
            programs,
            "tesseract_orientation",
            counted("orientation", programs.tesseract_orientation),
        )
        outcome = run(chart_pdf, PDF, files / "one-worker", workers=1)
    outcome.tesseract_calls = calls
    return outcome


@pytest.fixture(scope="module")
def tiff(chart, files) -> Run:
    return run(chart.save_tiff(files / "chart.tif"), TIFF, files / "tiff", workers=2)


@pytest.fixture(scope="module")
def mixed_pdf(files) -> Path:
    """Page 1 carries its own text (an EHR printout); page 2 is a scan of a note that
    went through the scanner sideways (landscape)."""
    scanned = io.BytesIO()
    scans.sideways_note().save(scanned, "PDF", resolution=scans.DPI)
    path = files / "mixed.pdf"
    with pikepdf.open(io.BytesIO(scans.text_pdf(REFERRAL))) as mixed, pikepdf.open(scanned) as scan:
        mixed.pages.extend(scan.pages)
        mixed.save(path)
    return path


@pytest.fixture(scope="module")
def mixed(mixed_pdf, files) -> Run:
    return run(mixed_pdf, PDF, files / "mixed", workers=2)


# --- the scanned PDF -------------------------------------------------------------------------


def test_every_printed_page_is_read(two_workers, chart):
    pages = two_workers.result.pages
    assert [page.number for page in pages] == [1, 2, 3, 4]
    for page in pages:
        if page.number == ScannedChart.BLANK:
            continue
        assert scans.recall(chart.texts[page.number - 1], page.text) >= MIN_RECALL
        assert page.confidence is not None and page.confidence > 80
        assert not page.blank and not page.had_text_layer
        assert "\n" in page.text  # lines, not one run-on string


def test_upside_down_page_is_turned_and_read(two_workers, chart):
    page = two_workers.page(ScannedChart.UPSIDE_DOWN)
    assert page.rotation == 180
    assert scans.recall(chart.texts[page.number - 1], page.text) >= MIN_RECALL
    # Read right way up: the heading comes first (a speck may add a stray full stop).
    assert re.sub(r"[.,:;'`]", "", page.text).startswith("DISCHARGE SUMMARY (continued)")
    assert [p.rotation for p in two_workers.result.pages] == [0, 180, 0, 0]


def test_blank_back_is_kept_and_not_read(two_workers):
    page = two_workers.page(ScannedChart.BLANK)
    assert page.blank
    assert (page.text, page.words, page.confidence, page.rotation) == ("", (), None, 0)
    assert page.image_path.is_file() and page.thumbnail_path.is_file()


def test_tesseract_runs_once_per_page_and_never_on_a_blank_one(one_worker):
    assert one_worker.tesseract_calls == Counter(
        {
            (1, "recognise"): 1,
            # read as scanned (garbage), orientation asked, read again turned
            (2, "recognise"): 2,
            (2, "orientation"): 1,
            (4, "recognise"): 1,
        }
    )


def test_word_boxes_lie_on_the_page(two_workers):
    for page in two_workers.result.pages:
        assert (page.width, page.height) == scans.LETTER
        for word in page.words:
            assert word.text and 0 <= word.conf <= 100
            assert word.left >= 0 and word.left + word.width <= page.width
            assert word.top >= 0 and word.top + word.height <= page.height
    # "DISCHARGE" heads the turned page: near the top left once it is right way up
    heading = two_workers.page(ScannedChart.UPSIDE_DOWN).words[0]
    assert heading.text == "DISCHARGE" and heading.left < 400 and heading.top < 400


def test_viewing_images_and_thumbnails(two_workers):
    for page in two_workers.result.pages:
        with Image.open(page.image_path) as viewing:
            assert viewing.size == (1236, 1600) and viewing.mode == "L"
        with Image.open(page.thumbnail_path) as thumbnail:
            assert thumbnail.size == (200, 259)


def test_progress_is_reported_in_the_calling_process_for_every_page(two_workers):
    assert sorted(number for number, _, _ in two_workers.progress) == [1, 2, 3, 4]
    assert {(total, pid) for _, total, pid in two_workers.progress} == {(4, os.getpid())}


def test_one_worker_and_two_workers_agree(one_worker, two_workers):
    def essence(page: PageResult):
        return (
            page.text,
            page.confidence,
            page.words,
            page.blank,
            page.rotation,
            page.had_text_layer,
            page.width,
            page.height,
        )

    assert [essence(p) for p in one_worker.result.pages] == [
        essence(p) for p in two_workers.result.pages
    ]
    assert one_worker.progress == [(n, 4, os.getpid()) for n in (1, 2, 3, 4)]


def test_searchable_pdf_carries_the_ocr_text_over_the_original_pages(two_workers, chart, chart_pdf):
    searchable = two_workers.result.searchable_pdf
    assert searchable.parent == two_workers.page(1).image_path.parent
    for number, printed in enumerate(chart.texts, start=1):
        text = pdftotext(searchable, number)
        if printed:
            assert scans.recall(printed, text) >= MIN_RECALL
        else:
            assert text.strip() == ""
    assert scans.recall("\n".join(chart.texts), pdftotext(searchable)) >= MIN_RECALL

    with pikepdf.open(chart_pdf) as original, pikepdf.open(searchable) as output:
        assert len(output.pages) == len(original.pages)
        for number, (before, after) in enumerate(zip(original.pages, output.pages, strict=True)):
            assert _box(after) == _box(before)
            if two_workers.result.pages[number].straightened:
                # the level image, at the scan's own size, is what the text layer fits
                (level,) = _images(after)
                assert level.size == scans.LETTER and level.mode == "L"
            else:
                # the scan itself is carried over untouched: same image bytes
                assert _image_bytes(after) == _image_bytes(before)
        assert [page.rotation for page in output.pages] == [0, 180, 0, 0]
    assert sorted(os.listdir(searchable.parent)) == sorted(
        ["searchable.pdf"]
        + [f"p{n:04d}-{kind}.jpg" for n in range(1, 5) for kind in ("view", "thumb")]
    )


def test_text_layer_sits_on_the_words_as_shown(two_workers):
    """The invisible words of the turned page are where the visible ones are shown."""
    for number in (1, ScannedChart.UPSIDE_DOWN):
        offsets = _layer_offsets(two_workers.result.searchable_pdf, two_workers.page(number))
        _assert_aligned(offsets)


# --- other kinds of input ---------------------------------------------------------------------


def test_black_and_white_tiff(tiff, chart):
    assert [page.rotation for page in tiff.result.pages] == [0, 180, 0, 0]
    assert [page.blank for page in tiff.result.pages] == [False, False, True, False]
    for page in tiff.result.pages:
        assert (page.width, page.height) == scans.LETTER
        if not page.blank:
            assert scans.recall(chart.texts[page.number - 1], page.text) >= MIN_RECALL
    searchable = tiff.result.searchable_pdf
    assert scans.recall("\n".join(chart.texts), pdftotext(searchable)) >= MIN_RECALL
    with pikepdf.open(searchable) as output:
        assert [_box(page)[2:] for page in output.pages] == [[612, 792]] * 4
        # the pages are the scan's own black-and-white pixels, not a re-encoded copy
        image = _images(output.pages[0])[0]
        assert image.mode == "1" and image.size == scans.LETTER


def test_pdf_pages_with_their_own_text_are_not_ocrd(mixed, mixed_pdf):
    printed, scanned = mixed.result.pages
    assert printed.had_text_layer and not scanned.had_text_layer
    assert printed.text == pdftotext(mixed_pdf, 1).rstrip()
    assert printed.confidence is None and printed.rotation == 0 and not printed.blank
    assert [word.text for word in printed.words[:3]] == ["Referral", "letter", "from"]
    first = printed.words[0]  # 12-pt Helvetica set at x = 72 pt, baseline 704 pt
    assert abs(first.left - 300) <= 3 and abs(first.top - (792 - 704 - 9) * 300 / 72) < 15
    assert not scanned.blank and scanned.confidence is not None
    assert pdftotext(mixed.result.searchable_pdf, 1) == pdftotext(mixed_pdf, 1)
    with pikepdf.open(mixed.result.searchable_pdf) as output:
        assert output.pages[0].rotation == 0


def test_sideways_page_is_turned_and_read(mixed, mixed_pdf):
    page = mixed.page(2)
    note = "\n".join(scans.SHORT_NOTE)
    assert page.rotation == 90
    assert (page.width, page.height) == scans.LETTER  # portrait once turned
    assert scans.recall(note, page.text) >= MIN_RECALL
    with pikepdf.open(mixed.result.searchable_pdf) as output, pikepdf.open(mixed_pdf) as scanned:
        shown = output.pages[1]
        assert shown.rotation == 90
        assert _box(shown) == _box(scanned.pages[1])  # landscape, as scanned
    assert scans.recall(note, pdftotext(mixed.result.searchable_pdf, 2)) >= MIN_RECALL
    _assert_aligned(_layer_offsets(mixed.result.searchable_pdf, page))


def test_phone_photo_jpeg_is_turned_by_its_exif_orientation(files):
    """A colour JPEG whose pixels lie sideways with an EXIF tag saying so: Pillow's
    exif_transpose puts it upright before anything else looks at it (no OSD needed)."""
    path = files / "photo.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # display turned 90 degrees clockwise
    scans.sideways_note().convert("RGB").save(path, "JPEG", dpi=(300, 300), exif=exif)
    photo = run(path, sources.JPEG, files / "photo", workers=1)
    (page,) = photo.result.pages
    assert page.rotation == 0 and (page.width, page.height) == scans.LETTER
    assert scans.recall("\n".join(scans.SHORT_NOTE), page.text) >= MIN_RECALL
    with pikepdf.open(photo.result.searchable_pdf) as output:
        (shown,) = output.pages
        assert shown.rotation == 0 and _size(shown)[1] == 792
        assert _images(shown)[0].mode == "RGB"  # the colour scan itself, losslessly
    text = pdftotext(photo.result.searchable_pdf)
    assert scans.recall("\n".join(scans.SHORT_NOTE), text) >= MIN_RECALL


# --- single steps -------------------------------------------------------------------------


def test_blank_check_tells_a_dusty_back_from_a_page_with_one_line(chart, tmp_path):
    rng = random.Random(3)
    one_line = scans.scan(scans.render_page(["", "Signed: J. Doe"]), rng, skew=0.4)
    one_line.save(tmp_path / "line.pgm")
    chart.images[ScannedChart.BLANK - 1].save(tmp_path / "back.pgm")
    assert not raster.is_blank(tmp_path / "line.pgm")
    assert raster.is_blank(tmp_path / "back.pgm")


def test_orientation_of_a_sparse_page_is_left_alone(tmp_path):
    scans.render_page(["", "Seen."]).save(tmp_path / "sparse.pgm")
    assert recognition.detect_rotation(tmp_path / "sparse.pgm") == 0


def test_text_only_pdf_of_one_page_image(chart, tmp_path):
    strip = chart.images[0].crop((0, 250, 2550, 700))
    strip.save(tmp_path / "strip.pgm")
    layer = recognition.text_only_pdf(tmp_path / "strip.pgm", tmp_path / "strip.pdf", dpi=300)
    with pikepdf.open(layer) as output:
        (page,) = output.pages
        assert _size(page) == (612, 108)
        assert not page.get_images()  # text only: the image stays the original's
    assert "HOLLOWAY" in pdftotext(layer)


def test_an_upright_jpeg_goes_into_the_pdf_as_uploaded(chart, tmp_path):
    """Not decoded and re-encoded: the page shows the uploaded JPEG's own bytes, at the
    size its resolution gives."""
    path = tmp_path / "page.jpg"
    chart.images[0].save(path, "JPEG", dpi=(200, 200), quality=80)
    page_pdf = pdf.image_page_pdf(path, sources.JPEG, 1, 300, tmp_path / "page.pdf")
    with pikepdf.open(page_pdf) as output:
        (page,) = output.pages
        assert _box(page) == [0, 0, 2550 * 72 / 200, 3300 * 72 / 200]
        (image,) = page.obj.Resources.XObject.values()
        assert image.Filter == "/DCTDecode"
        assert image.read_raw_bytes() == path.read_bytes()


# --- failures -----------------------------------------------------------------------------


# --- helpers ------------------------------------------------------------------------------


def _box(page: pikepdf.Page) -> list[float]:
    return [float(value) for value in page.mediabox]


def _size(page: pikepdf.Page) -> tuple[float, float]:
    left, bottom, right, top = _box(page)
    return right - left, top - bottom


def _image_bytes(page: pikepdf.Page) -> list[bytes]:
    """The page's images as stored (a JPEG's own file, for a scanned page)."""
    return [image.read_raw_bytes() for image in page.get_images().values()]


def _images(page: pikepdf.Page) -> list[Image.Image]:
    return [pikepdf.PdfImage(image).as_pil_image() for image in page.get_images().values()]


class _Words(HTMLParser):
    def __init__(self):
        super().__init__()
        self.words: list[tuple[str, float, float]] = []
        self._box: tuple[float, float] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "word":
            found = dict(attrs)
            self._box = (float(found["xmin"]), float(found["ymin"]))

    def handle_data(self, data):
        if self._box is not None:
            self.words.append((data.strip(), *self._box))
            self._box = None


def _assert_aligned(offsets: list[tuple[float, float]]) -> None:
    # Left edges agree to the pixel. Tops differ by the font (pdftotext puts a word's top
    # at its font's ascent, OCR at the top of the ink: about 10 px) and by the levelling of
    # skewed lines (up to half a line's rise: 25 px for a full line at 1.5 degrees). Lines
    # are 66 px apart, so no word lands on a neighbouring line.
    assert len(offsets) > 20
    assert median(dx for dx, _ in offsets) < 4
    assert median(dy for _, dy in offsets) < 20
    assert max(dy for _, dy in offsets) < 45


def _layer_offsets(searchable: Path, page: PageResult) -> list[tuple[float, float]]:
    """Pixel distance between where pdftotext finds each word in the searchable PDF (as
    shown) and where OCR saw it, for words that occur once on the page."""
    parser = _Words()
    parser.feed(pdftotext(searchable, page.number, "-bbox"))
    scale = scans.DPI / 72
    in_pdf = {text: (x * scale, y * scale) for text, x, y in parser.words}
    counts = Counter(word.text for word in page.words)
    return [
        (abs(in_pdf[word.text][0] - word.left), abs(in_pdf[word.text][1] - word.top))
        for word in page.words
        if counts[word.text] == 1 and word.text in in_pdf and len(word.text) >= 4
    ]


def test_joined_pdf_is_the_same_bytes_every_time_with_an_id_from_its_content(tmp_path):
    """A job run twice must store the identical searchable PDF: nothing in it may come
    from the clock, a random number or where the parts were written."""
    joined = []
    for run_number in (1, 2):
        folder = tmp_path / f"run{run_number}"
        folder.mkdir()
        parts = []
        for number in (1, 2):
            parts.append(folder / f"p{number}.pdf")
            Image.new("L", (200, 200), 255).save(parts[-1], "PDF")
        joined.append(pdf.concatenate_pdfs(parts, folder / "joined.pdf").read_bytes())
    assert joined[0] == joined[1]
    with pikepdf.open(io.BytesIO(joined[0])) as output:
        first, second = (bytes(part) for part in output.trailer.ID)
    assert first == second and len(first) == 16
    other = tmp_path / "other.pdf"
    Image.new("L", (200, 300), 255).save(other, "PDF")
    different = pdf.concatenate_pdfs([other], tmp_path / "different.pdf").read_bytes()
    with pikepdf.open(io.BytesIO(different)) as output:
        assert bytes(output.trailer.ID[0]) != first


def test_a_long_document_is_joined_with_every_page_in_order(tmp_path):
    # More parts than qpdf keeps open at once (200): it reopens them as it goes.
    parts = []
    for number in range(1, 251):
        parts.append(tmp_path / f"p{number:04d}.pdf")
        Image.new("1", (number, 50), 1).save(parts[-1], "PDF", resolution=72)
    joined = pdf.concatenate_pdfs(parts, tmp_path / "searchable.pdf")
    with pikepdf.open(joined) as output:
        widths = [_size(page)[0] for page in output.pages]
    assert widths == [float(number) for number in range(1, 251)]

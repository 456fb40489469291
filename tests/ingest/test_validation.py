"""Validation of scans by content: real files made here (Pillow, pikepdf, and hand-written
PDF objects for the damaged ones), real damage (cut bytes, broken page trees), real
decompression bombs."""

from __future__ import annotations

import io
import os
import struct
import tracemalloc
import zlib
from collections.abc import Iterable
from types import SimpleNamespace

import pikepdf
import pytest
from pikepdf import Name
from PIL import Image, ImageDraw

from archive.errors import (
    ArchiveError,
    EmptyFile,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from ingest.validation import (
    CorruptFile,
    ImageTooLarge,
    PasswordProtected,
    ScanInfo,
    ScanLimits,
    TooManyPages,
    inspect_scan,
)
from tests.pdfs import Instruction, content_stream, helvetica_pdf, saved, shown

DEFAULTS = ScanLimits()
# Wording that belongs to a library or a traceback, never to a clerk.
LIBRARY_WORDS = [
    "Traceback",
    "Error",
    "Exception",
    "pypdf",
    "pikepdf",
    "qpdf",
    "PIL",
    "Pillow",
    "DecompressionBomb",
    "decompression bomb",
    "cannot identify",
    "image file is truncated",
    "xref",
    "EOF",
    "Errno",
]


# --- files ----------------------------------------------------------------------------------


def chart_page(mode: str = "L", size: tuple[int, int] = (425, 550)) -> Image.Image:
    page = Image.new(mode, size, color=255 if mode != "1" else 1)
    draw = ImageDraw.Draw(page)
    for row in range(0, size[1] - 40, 30):
        draw.text((30, 20 + row), f"PROGRESS NOTE line {row} MRN 00123", fill=0)
    return page


def image_bytes(fmt: str, pages: int = 1, mode: str = "L", **options) -> bytes:
    images = [chart_page(mode) for _ in range(pages)]
    buffer = io.BytesIO()
    images[0].save(buffer, fmt, save_all=pages > 1, append_images=images[1:], **options)
    return buffer.getvalue()


def pillow_pdf(pages: int = 3) -> bytes:
    return image_bytes("PDF", pages, resolution=100)


def pikepdf_pdf(pages: int = 2, width: float = 612, height: float = 792) -> bytes:
    """Blank pages: a PDF written by qpdf, without an image."""
    pdf = pikepdf.new()
    for _ in range(pages):
        pdf.add_blank_page(page_size=(width, height))
    return saved(pdf)


def encrypted_pdf(user_password: str, owner_password: str) -> bytes:
    buffer = io.BytesIO()
    with pikepdf.open(io.BytesIO(pillow_pdf(1))) as pdf:
        encryption = pikepdf.Encryption(user=user_password, owner=owner_password, R=6)  # AES-256
        pdf.save(buffer, encryption=encryption)
    return buffer.getvalue()


# Hand-written PDF syntax below, on purpose: the damaged files (broken page trees, a trailer
# without its /Root) cannot be made by a library that writes correct PDFs, and the valid
# file beside each damaged one is written the same way so the damage is the only difference.


def pdf_stream(data: bytes, entries: bytes = b"") -> bytes:
    return b"<< /Length %d %s >>\nstream\n%s\nendstream" % (len(data), entries, data)


def handmade_pdf(objects: list[bytes], trailer: bytes = b"/Root 1 0 R") -> bytes:
    """A PDF written object by object, with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d %s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        trailer,
        xref,
    )
    return bytes(out)


CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"


def text_pdf(*pages: str | None) -> bytes:
    """One page per argument: its text shown in Helvetica, or an empty page for None."""
    return helvetica_pdf(shows_text(text) if text else [] for text in pages)


def shows_text(text: str) -> list[Instruction]:
    """`text` shown once, in 12 pt /F1, an inch in from the top left corner."""
    return [([], "BT"), ([Name.F1, 12], "Tf"), ([72, 720], "Td"), ([shown(text)], "Tj"), ([], "ET")]


def form_text_pdf() -> bytes:
    """Text only inside a form XObject, the way OCR tools graft their invisible layer."""
    pdf = pikepdf.new()
    page = pdf.add_blank_page(page_size=(612, 792))
    font = pikepdf.Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica)
    form = pdf.make_stream(
        content_stream(shows_text("DISCHARGE SUMMARY")),
        Type=Name.XObject,
        Subtype=Name.Form,
        BBox=[0, 0, 612, 792],
        Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font)),
    )
    page.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Fm1=form))
    page.obj.Contents = pdf.make_stream(content_stream([([], "q"), ([Name.Fm1], "Do"), ([], "Q")]))
    return saved(pdf)


def page_tree_pdf(pages_node: bytes, *more: bytes) -> bytes:
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>"
    return handmade_pdf([CATALOG, pages_node, *(more or (page, pdf_stream(b"")))])


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bilevel_png(width: int, height: int, rows: Iterable[bytes]) -> bytes:
    """A 1-bit greyscale PNG whose compressed pixel data is streamed from `rows`."""
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for row in rows) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", data)
        + png_chunk(b"IEND", b"")
    )


def header_only_png(width: int, height: int) -> bytes:
    """A PNG that claims huge dimensions but carries almost no pixel data."""
    return bilevel_png(width, height, [b"\x00" * 64])


@pytest.fixture(scope="module")
def bomb_png() -> bytes:
    """A complete, valid 20000 x 20000 page (400 million pixels) in a few dozen KiB."""
    white_row = b"\x00" + b"\xff" * (20000 // 8)
    return bilevel_png(20000, 20000, (white_row * 100 for _ in range(200)))


# --- helpers ------------------------------------------------------------------------------


def inspect(data: bytes, limits: ScanLimits = DEFAULTS, filename: str = "scan.pdf") -> ScanInfo:
    stream = io.BytesIO(data)
    stream.seek(0, os.SEEK_END)  # callers may hand over a stream anywhere
    try:
        return inspect_scan(stream, limits, filename)
    finally:
        assert stream.tell() == 0


def refused(
    data: bytes, error: type[ArchiveError], limits: ScanLimits = DEFAULTS, filename: str = ""
) -> ArchiveError:
    with pytest.raises(error) as caught:
        inspect(data, limits, filename)
    assert type(caught.value) is error
    message = caught.value.message
    assert message == str(caught.value)
    for word in LIBRARY_WORDS:
        assert word not in message, f"{word!r} leaked into {message!r}"
    return caught.value


# --- the error classes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (TooManyPages, 422, "too_many_pages"),
        (ImageTooLarge, 422, "image_too_large"),
        (PasswordProtected, 422, "password_protected"),
        (CorruptFile, 422, "corrupt_file"),
    ],
)
def test_new_errors_belong_to_the_archive_tree(error, status, code):
    assert issubclass(error, ArchiveError)
    assert (error.http_status, error.code) == (status, code)


def test_limits_default_and_follow_the_upload_setting():
    assert ScanLimits(512 * 1024 * 1024, 2000, 120_000_000) == DEFAULTS
    limits = ScanLimits.from_settings(SimpleNamespace(max_upload_mb=20))
    assert limits == ScanLimits(max_bytes=20 * 1024 * 1024)


# --- accepted scans -------------------------------------------------------------------------


def test_scanned_pdf_is_described():
    data = pillow_pdf(3)
    assert inspect(data) == ScanInfo("application/pdf", 3, len(data), False)


def test_pdf_written_by_pikepdf_is_described():
    data = pikepdf_pdf(2)
    assert inspect(data) == ScanInfo("application/pdf", 2, len(data), False)


def test_pdf_with_a_text_layer_is_recognised():
    data = text_pdf("DISCHARGE SUMMARY DOE, JANE")
    assert inspect(data).has_text_layer is True


def test_text_on_any_page_counts():
    info = inspect(text_pdf(None, None, "MRN 00123"))
    assert (info.page_count, info.has_text_layer) == (3, True)


def test_text_inside_a_form_xobject_counts():
    assert inspect(form_text_pdf()).has_text_layer is True


def test_blank_text_pages_are_not_a_text_layer():
    assert inspect(text_pdf(None, "   ")).has_text_layer is False


@pytest.mark.parametrize(
    ("fmt", "media_type", "options"),
    [
        ("PNG", "image/png", {}),
        ("JPEG", "image/jpeg", {"quality": 85}),
        ("TIFF", "image/tiff", {"compression": "tiff_lzw"}),
    ],
)
def test_single_page_images_are_described(fmt, media_type, options):
    data = image_bytes(fmt, **options)
    assert inspect(data, filename="page.jpg") == ScanInfo(media_type, 1, len(data), None)


def test_multi_page_tiff_counts_its_frames():
    data = image_bytes("TIFF", 4, mode="1", compression="group4")
    assert inspect(data) == ScanInfo("image/tiff", 4, len(data), None)


def test_type_comes_from_content_not_name():
    assert inspect(pillow_pdf(1), filename="photo.png").media_type == "application/pdf"
    assert inspect(image_bytes("PNG"), filename="chart.pdf").media_type == "image/png"


def test_a_large_page_within_the_limit_is_accepted_without_warnings():
    # 100 million pixels: above Pillow's own warning threshold, below the archive's limit.
    # pytest turns warnings into errors, so a leaked DecompressionBombWarning would fail.
    white_row = b"\x00" + b"\xff" * (10000 // 8)
    data = bilevel_png(10000, 10000, (white_row * 100 for _ in range(100)))
    assert inspect(data).page_count == 1


def test_pdf_images_are_not_all_held_in_memory(tmp_path):
    noise = [Image.frombytes("L", (500, 500), os.urandom(500 * 500)) for _ in range(10)]
    path = tmp_path / "noisy.pdf"
    noise[0].save(path, "PDF", save_all=True, append_images=noise[1:])
    size = path.stat().st_size
    with path.open("rb") as stream:
        tracemalloc.start()
        try:
            info = inspect_scan(stream, DEFAULTS)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert info.page_count == 10
    assert peak < size / 3, f"peak {peak} bytes for a {size}-byte file"


# --- refused: what it is, how big it is -------------------------------------------------------


def test_empty_file_is_refused():
    err = refused(b"", EmptyFile, filename="scan-0042.pdf")
    assert (err.http_status, err.code) == (400, "empty_file")
    assert "scan-0042.pdf" in err.message and "empty" in err.message
    assert "Scan the pages again" in err.message


@pytest.mark.parametrize(
    "data",
    [
        b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200,
        b"Patient: DOE, JANE\nMRN 00123\n",
        b"GIF89a" + b"\x00" * 64,
    ],
    ids=["exe", "text", "gif"],
)
def test_unknown_formats_are_refused_whatever_their_name(data):
    err = refused(data, UnsupportedMediaType, filename="scan.pdf")
    assert (err.http_status, err.code) == (415, "unsupported_media_type")
    assert "PDF, TIFF, PNG or JPEG" in err.message


def test_file_over_the_size_limit_is_refused():
    data = image_bytes("PNG")
    limits = ScanLimits(max_bytes=len(data) - 1)
    err = refused(data, PayloadTooLarge, limits, filename="big.png")
    assert (err.http_status, err.code) == (413, "payload_too_large")
    assert "big.png" in err.message and "Split the scan" in err.message


def test_pdf_with_too_many_pages_is_refused():
    err = refused(pillow_pdf(4), TooManyPages, ScanLimits(max_pages=3), filename="chart.pdf")
    assert (err.http_status, err.code) == (422, "too_many_pages")
    assert "4 pages" in err.message and "at most 3" in err.message
    assert "Split the scan" in err.message


def test_tiff_with_too_many_frames_is_refused():
    data = image_bytes("TIFF", 4, mode="1", compression="group4")
    err = refused(data, TooManyPages, ScanLimits(max_pages=3))
    assert "4 pages" in err.message


# --- refused: decompression bombs -----------------------------------------------------------


def test_real_decompression_bomb_is_refused_at_default_limits(bomb_png):
    assert len(bomb_png) < 200_000  # small on disk, 400 million pixels decoded
    err = refused(bomb_png, ImageTooLarge, filename="bomb.png")
    assert (err.http_status, err.code) == (422, "image_too_large")
    assert "bomb.png" in err.message and "lower resolution" in err.message


def test_pillows_own_ceiling_is_translated_too(bomb_png):
    # A limit configured above 20000 x 20000 still meets Pillow's lower hard ceiling,
    # whose DecompressionBombError must not escape raw.
    err = refused(bomb_png, ImageTooLarge, ScanLimits(max_pixels_per_page=400_000_001))
    assert "too large" in err.message and "lower resolution" in err.message


@pytest.mark.parametrize("side", [100_000, 12_000])  # beyond Pillow's error; its warning
def test_header_claiming_huge_dimensions_is_refused(side):
    err = refused(header_only_png(side, side), ImageTooLarge, filename="claim.png")
    assert "claim.png" in err.message


def test_refusal_names_the_page_and_its_size():
    err = refused(header_only_png(12_000, 12_000), ImageTooLarge)
    assert "Page 1" in err.message and "12,000 x 12,000 pixels" in err.message
    assert "120 million pixels" in err.message


def test_each_tiff_frame_is_measured_before_it_is_decoded():
    small, large = chart_page("1", (200, 200)), chart_page("1", (1200, 1000))
    buffer = io.BytesIO()
    small.save(buffer, "TIFF", save_all=True, append_images=[large], compression="group4")
    err = refused(buffer.getvalue(), ImageTooLarge, ScanLimits(max_pixels_per_page=1_000_000))
    assert "Page 2" in err.message and "1,200 x 1,000" in err.message


def test_jpeg_over_the_pixel_limit_is_refused():
    refused(image_bytes("JPEG"), ImageTooLarge, ScanLimits(max_pixels_per_page=100_000))


def test_pdf_page_too_large_to_rasterize_is_refused():
    # 200 x 200 inches: 3.6 billion pixels at the 300 dpi the OCR pipeline renders at.
    err = refused(pikepdf_pdf(1, width=14400, height=14400), ImageTooLarge)
    assert "200 x 200 inches" in err.message and "page size" in err.message


# --- refused: encrypted -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_password", "owner_password"),
    [("secret", "secret-owner"), ("", "owner-only")],
    ids=["needs-password-to-open", "owner-password-only"],
)
def test_encrypted_pdf_is_refused(user_password, owner_password):
    err = refused(encrypted_pdf(user_password, owner_password), PasswordProtected)
    assert (err.http_status, err.code) == (422, "password_protected")
    assert err.message == "This PDF is password-protected; remove the password and upload again."


# --- refused: damaged -------------------------------------------------------------------------


def assert_corrupt(data: bytes, filename: str = "chart-0042.pdf") -> None:
    err = refused(data, CorruptFile, filename=filename)
    assert (err.http_status, err.code) == (422, "corrupt_file")
    assert filename in err.message
    assert "Rescan" in err.message and "export" in err.message


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_truncated_pdf_is_refused(keep):
    data = pillow_pdf(3)
    assert_corrupt(data[: int(len(data) * keep)])


def test_pdf_cut_inside_its_end_marker_is_refused():
    data = pillow_pdf(1).rstrip()
    assert data.endswith(b"%%EOF")
    assert_corrupt(data[:-2])


def test_pdf_without_trailer_is_refused():
    data = text_pdf("MRN 00123")
    start, end = data.index(b"trailer"), data.index(b"startxref")
    assert_corrupt(data[:start] + data[end:])


def test_pdf_whose_trailer_lost_its_root_is_refused():
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>"
    objects = [CATALOG, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page, pdf_stream(b"")]
    assert inspect(handmade_pdf(objects)).page_count == 1  # with /Root in the trailer: fine
    assert_corrupt(handmade_pdf(objects, trailer=b""))


@pytest.mark.parametrize(
    "pdf",
    [
        page_tree_pdf(b"<< /Type /Pages /Kids [9 0 R] /Count 1 >>"),
        page_tree_pdf(b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>"),
        page_tree_pdf(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", b"42"),
        page_tree_pdf(b"<< /Type /Pages /Kids 3 0 R /Count 1 >>"),
        page_tree_pdf(b"<< /Type /Pages /Kids [3 0 R] /Count 2 >>"),
        handmade_pdf([b"<< /Type /Catalog >>"]),
    ],
    ids=[
        "missing-page",
        "cycle",
        "page-not-a-dictionary",
        "kids-not-a-list",
        "lost-page",
        "no-page-tree",
    ],
)
def test_pdf_with_broken_page_tree_is_refused(pdf):
    assert_corrupt(pdf)


def test_pdf_header_followed_by_garbage_is_refused():
    assert_corrupt(b"%PDF-1.4\n" + os.urandom(2000) + b"\n%%EOF\n")


def test_pdf_without_pages_is_empty():
    err = refused(page_tree_pdf(b"<< /Type /Pages /Kids [] /Count 0 >>"), EmptyFile)
    assert "no pages" in err.message


@pytest.mark.parametrize("keep", [0.3, 0.7])
def test_truncated_png_is_refused(keep):
    data = image_bytes("PNG")
    assert_corrupt(data[: int(len(data) * keep)], "page.png")


def test_png_missing_only_its_end_chunk_is_refused():
    data = image_bytes("PNG")
    assert data.endswith(png_chunk(b"IEND", b""))
    assert_corrupt(data[:-12], "page.png")


@pytest.mark.parametrize("keep", [0.3, 0.7, 0.98])
def test_truncated_jpeg_is_refused(keep):
    data = image_bytes("JPEG", quality=90)
    assert_corrupt(data[: int(len(data) * keep)], "page.jpg")


@pytest.mark.parametrize("keep", [0.2, 0.6])
def test_truncated_multi_page_tiff_is_refused(keep):
    data = image_bytes("TIFF", 3)
    assert_corrupt(data[: int(len(data) * keep)], "batch.tif")


def test_png_signature_followed_by_garbage_is_refused():
    assert_corrupt(b"\x89PNG\r\n\x1a\n" + os.urandom(500), "page.png")


def test_png_with_damaged_pixel_data_is_refused():
    data = bytearray(image_bytes("PNG"))
    idat = data.index(b"IDAT")
    data[idat + 40 : idat + 60] = b"\x00" * 20
    assert_corrupt(bytes(data), "page.png")


def test_corrupt_message_without_a_filename_still_reads_well():
    err = refused(pillow_pdf(1)[:500], CorruptFile)
    assert err.message.startswith("This file is damaged")

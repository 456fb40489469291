"""Validation of a scan before the archive accepts it.

A file is judged by its content, never by its name: the magic bytes say what it is, the
format's own structure says how many pages it has and how large they are, and each page
is checked against the configured limits before anything decodes it. Whatever the PDF and
image libraries raise is translated here into the archive's own errors, with a message a
scanning clerk can act on; the library's wording never reaches the clerk.
"""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

import pikepdf
from pikepdf import Name
from PIL import Image

from archive.errors import ArchiveError, EmptyFile, PayloadTooLarge
from archive.records.formats import sniff_media_type

MIB = 1024 * 1024

# PDF pages are measured as the OCR pipeline will rasterize them; 300 dpi is what
# tesseract needs for chart text.
PDF_RENDER_DPI = 300
POINTS_PER_INCH = 72

PDF = "application/pdf"
# Readers look for the end-of-file marker within the last kilobyte; a file cut off in
# transfer has lost it.
PDF_EOF_MARKER = b"%%EOF"
PDF_EOF_WINDOW = 1024
PILLOW_FORMATS = {"image/tiff": "TIFF", "image/png": "PNG", "image/jpeg": "JPEG"}
# Pillow decodes a PNG without its closing IEND chunk; a file missing it was cut off.
PNG_END_CHUNK = b"IEND\xaeB`\x82"
PNG_END_WINDOW = 1024

# What a malformed PDF can make pikepdf raise: qpdf's own errors, and Python's for objects
# of the wrong type in the wrong place (a number where the page tree needs a dictionary).
PDF_STRUCTURE_ERRORS = (
    pikepdf.PdfError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    ArithmeticError,
    RecursionError,
)
# The content stream operators that show text: Tj, ', " (a string) and TJ (an array).
TEXT_SHOWING_OPERATORS = frozenset({"Tj", "'", '"', "TJ"})
BLANK_BYTES = b" \t\r\n\x0b\x0c\x00"

# What a cut-off or damaged image makes Pillow raise while reading headers or decoding
# (UnidentifiedImageError is an OSError; several plugins signal bad data with SyntaxError).
IMAGE_DATA_ERRORS = (
    OSError,
    SyntaxError,
    EOFError,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    struct.error,
    zlib.error,
)


class TooManyPages(ArchiveError):
    http_status = 422
    code = "too_many_pages"


class ImageTooLarge(ArchiveError):
    http_status = 422
    code = "image_too_large"


class PasswordProtected(ArchiveError):
    http_status = 422
    code = "password_protected"


class CorruptFile(ArchiveError):
    http_status = 422
    code = "corrupt_file"


@dataclass(frozen=True)
class ScanLimits:
    max_bytes: int = 512 * MIB
    max_pages: int = 2000
    # About an A3 sheet scanned at 600 dpi.
    max_pixels_per_page: int = 120_000_000

    @classmethod
    def from_settings(cls, settings: Any) -> ScanLimits:
        return cls(max_bytes=settings.max_upload_mb * MIB)


@dataclass(frozen=True)
class ScanInfo:
    media_type: str
    page_count: int
    size: int
    # True if any PDF page has extractable text; None for images, which never do.
    has_text_layer: bool | None


def inspect_scan(stream: BinaryIO, limits: ScanLimits, filename: str = "") -> ScanInfo:
    """Check a seekable binary stream against the limits and describe it.

    Raises EmptyFile, UnsupportedMediaType, PayloadTooLarge, TooManyPages, ImageTooLarge,
    PasswordProtected or CorruptFile. The stream is left at position 0 either way.
    """
    try:
        size = stream.seek(0, os.SEEK_END)
        if size == 0:
            raise EmptyFile(
                f"{_the_file(filename)} is empty (0 bytes). Scan the pages again and upload "
                "the new file."
            )
        stream.seek(0)
        media_type = sniff_media_type(stream.read(16))
        if size > limits.max_bytes:
            raise PayloadTooLarge(
                f"{_the_file(filename)} is {_human_size(size)}; the archive accepts at most "
                f"{_human_size(limits.max_bytes)} in one file. Split the scan into smaller files "
                "and upload them separately."
            )
        stream.seek(0)
        if media_type == PDF:
            page_count, has_text_layer = _inspect_pdf(stream, limits, filename)
        else:
            page_count = _inspect_image(stream, PILLOW_FORMATS[media_type], limits, filename)
            has_text_layer = None
        return ScanInfo(media_type, page_count, size, has_text_layer)
    finally:
        stream.seek(0)


# --- PDF ----------------------------------------------------------------------------------


def _inspect_pdf(stream: BinaryIO, limits: ScanLimits, filename: str) -> tuple[int, bool]:
    if PDF_EOF_MARKER not in _tail(stream, PDF_EOF_WINDOW):
        raise _corrupt(filename)
    try:
        # qpdf repairs what it can: many scanners write slightly wrong cross-reference
        # tables that every viewer repairs. A cut-off transfer is caught by the %%EOF,
        # trailer and page-count checks around this instead. The page tree is read as the
        # file has it: pushing inherited page attributes down (qpdf's default) would walk
        # the tree first and quietly drop broken entries, correcting /Count to match.
        with pikepdf.open(stream, inherit_page_attributes=False) as pdf:
            if pdf.is_encrypted:
                # Opened with the empty password: only an owner password is set.
                raise _password_protected()
            if Name.Root not in pdf.trailer or Name.Size not in pdf.trailer:
                # Every trailer a PDF writer writes names the object count (/Size); when a
                # damaged file has no trailer at all, qpdf makes one holding only the
                # catalog it found, which is a trailer the file never had.
                raise _corrupt(filename)
            declared_pages = int(pdf.Root.Pages.Count)
            if declared_pages > limits.max_pages:
                raise _too_many_pages(filename, declared_pages, limits)
            page_count = len(pdf.pages)
            if page_count != declared_pages:
                # Pages lost from the page tree: qpdf skips broken entries rather than failing.
                raise _corrupt(filename)
            if page_count == 0:
                raise EmptyFile(
                    f"{_the_file(filename)} contains no pages. Scan the pages again and "
                    "upload the new file."
                )
            has_text_layer = False
            for number, page in enumerate(pdf.pages, start=1):
                _check_page_area(page, number, limits, filename)
                # qpdf reads a stream's data only when asked and does not keep it, so
                # looking at every page of a large scan never holds its images in memory.
                has_text_layer = has_text_layer or _has_text(page)
            return page_count, has_text_layer
    except pikepdf.PasswordError:
        raise _password_protected() from None
    except PDF_STRUCTURE_ERRORS as cause:
        raise _corrupt(filename) from cause


def _check_page_area(page: pikepdf.Page, number: int, limits: ScanLimits, filename: str) -> None:
    # The crop box (the media box when there is none), inherited from the page tree if the
    # page does not set it.
    left, bottom, right, top = (float(value) for value in page.cropbox)
    scale = float(page.obj.get(Name.UserUnit, 1)) / POINTS_PER_INCH
    width_in = abs(right - left) * scale
    height_in = abs(top - bottom) * scale
    pixels = width_in * PDF_RENDER_DPI * height_in * PDF_RENDER_DPI
    if pixels > limits.max_pixels_per_page:
        raise ImageTooLarge(
            f"Page {number} of {_the_file(filename, capital=False)} measures {width_in:,.0f} x "
            f"{height_in:,.0f} inches, far larger than a chart page, and cannot be processed. "
            "Check the page size set on the scanner, scan the pages again and upload the new "
            "file."
        )


def _has_text(page: pikepdf.Page) -> bool:
    """Whether the page shows any text a reader could copy out of it."""
    resources = _dictionary(page.get_resources())  # the page's own, or inherited
    # Text needs a font, either on the page or inside a form XObject (where OCR tools put
    # their invisible text layer). A page with neither, the usual scanned page, is skipped
    # without parsing its content.
    if Name.Font not in resources and not _form_xobjects(resources):
        return False
    try:
        return _shows_text(page, resources, set())
    except PDF_STRUCTURE_ERRORS:
        # Content that does not parse is not read by anyone either; the page is simply
        # treated as one without a text layer, and will be OCR'd.
        return False


def _shows_text(content: Any, resources: pikepdf.Dictionary, seen: set[tuple[int, int]]) -> bool:
    """Whether `content` (a page, or a form XObject's stream) shows a string that is not
    all blank, directly or through the form XObjects it draws."""
    forms = _form_xobjects(resources)
    for operands, operator in pikepdf.parse_content_stream(content):
        if str(operator) in TEXT_SHOWING_OPERATORS:
            if any(_is_visible_text(operand) for operand in operands):
                return True
        elif str(operator) == "Do" and operands and str(operands[0]) in forms:
            form = forms[str(operands[0])]
            if form.objgen in seen:  # a form that draws itself: once is enough
                continue
            seen.add(form.objgen)
            form_resources = form.get(Name.Resources, resources)
            if _shows_text(form, _dictionary(form_resources), seen):
                return True
    return False


def _is_visible_text(operand: Any) -> bool:
    # TJ's operand is an array of strings and spacing adjustments; the others' a string.
    if isinstance(operand, pikepdf.Array):
        return any(_is_visible_text(item) for item in operand)
    # Blank is spaces and line breaks, or the zero high bytes of two-byte codes (OCR text
    # layers set Unicode values as their codes).
    return isinstance(operand, pikepdf.String) and bool(bytes(operand).strip(BLANK_BYTES))


def _form_xobjects(resources: pikepdf.Dictionary) -> dict[str, pikepdf.Object]:
    xobjects = _dictionary(resources.get(Name.XObject))
    return {
        name: xobject
        for name, xobject in xobjects.items()
        if isinstance(xobject, pikepdf.Stream) and xobject.get(Name.Subtype) == Name.Form
    }


def _dictionary(value: Any) -> pikepdf.Dictionary:
    return value if isinstance(value, pikepdf.Dictionary) else pikepdf.Dictionary()


# --- images -------------------------------------------------------------------------------


def _inspect_image(stream: BinaryIO, pillow_format: str, limits: ScanLimits, filename: str) -> int:
    if pillow_format == "PNG" and PNG_END_CHUNK not in _tail(stream, PNG_END_WINDOW):
        raise _corrupt(filename)
    try:
        with _pillow_warnings_silenced(), Image.open(stream, formats=[pillow_format]) as im:
            # Only TIFF carries several pages; the other formats are one page each.
            page_count = im.n_frames if pillow_format == "TIFF" else 1
            if page_count > limits.max_pages:
                raise _too_many_pages(filename, page_count, limits)
            for index in range(page_count):
                im.seek(index)
                # The size comes from the frame's header; refuse before decoding a byte.
                _check_pixels(im.size, index + 1, limits, filename)
                # Decoding the frame is what reveals data cut off mid-way.
                im.load()
        return page_count
    except Image.DecompressionBombError:
        # Pillow's own hard limit, for limits configured above it.
        raise _image_too_large(filename, None, limits) from None
    except IMAGE_DATA_ERRORS as cause:
        raise _corrupt(filename) from cause


@contextmanager
def _pillow_warnings_silenced() -> Iterator[None]:
    # Pillow warns about large images by its own global threshold, which this module
    # replaces with the archive's limit (checked before decoding), and about damaged
    # metadata (EXIF, odd TIFF tags) that does not affect the pages. Damaged pixel data is
    # an exception, not a warning, and is handled by the caller.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        yield


def _check_pixels(size: tuple[int, int], number: int, limits: ScanLimits, filename: str) -> None:
    width, height = size
    if width * height > limits.max_pixels_per_page:
        raise _image_too_large(filename, (number, width, height), limits)


def _tail(stream: BinaryIO, length: int) -> bytes:
    size = stream.seek(0, os.SEEK_END)
    stream.seek(max(0, size - length))
    tail = stream.read(length)
    stream.seek(0)
    return tail


# --- messages -----------------------------------------------------------------------------


def _the_file(filename: str, capital: bool = True) -> str:
    words = f"the file '{filename}'" if filename else "this file"
    return words[0].upper() + words[1:] if capital else words


def _human_size(size: int) -> str:
    for unit, factor in (("GiB", 1024 * MIB), ("MiB", MIB), ("KiB", 1024)):
        if size >= factor:
            return f"{size / factor:,.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def _corrupt(filename: str) -> CorruptFile:
    return CorruptFile(
        f"{_the_file(filename)} is damaged or incomplete and cannot be read; the scan may have "
        "been cut off while it was saved or copied. Rescan the pages (or export the scan "
        "again from the scanner software) and upload the new file."
    )


def _password_protected() -> PasswordProtected:
    return PasswordProtected(
        "This PDF is password-protected; remove the password and upload again."
    )


def _too_many_pages(filename: str, page_count: int, limits: ScanLimits) -> TooManyPages:
    return TooManyPages(
        f"{_the_file(filename)} has {page_count:,} pages; the archive accepts at most "
        f"{limits.max_pages:,} pages in one file. Split the scan into smaller files and upload "
        "them separately."
    )


def _image_too_large(
    filename: str, page: tuple[int, int, int] | None, limits: ScanLimits
) -> ImageTooLarge:
    advice = "Scan at a lower resolution (300 dpi is enough for a chart) and upload the new file."
    if page is None:
        # Refused by Pillow's own ceiling before the page's size could be read.
        return ImageTooLarge(
            f"A page of {_the_file(filename, capital=False)} is too large for the archive to "
            f"process. {advice}"
        )
    number, width, height = page
    return ImageTooLarge(
        f"Page {number} of {_the_file(filename, capital=False)} is {width:,} x {height:,} "
        f"pixels, larger than the archive accepts "
        f"({limits.max_pixels_per_page / 1_000_000:,.0f} million pixels per page). {advice}"
    )

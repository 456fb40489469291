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

from PIL import Image
from pypdf import PageObject, PdfReader
from pypdf.errors import FileNotDecryptedError, PyPdfError
from pypdf.generic import DictionaryObject, IndirectObject

from archive.errors import ArchiveError, EmptyFile, PayloadTooLarge
from archive.records.service import sniff_media_type

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

# What a malformed PDF can make pypdf raise besides its own errors: it parses untrusted
# structure with plain Python, so broken numbers, references and nesting surface as these.
PDF_STRUCTURE_ERRORS = (
    PyPdfError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    AssertionError,
    ArithmeticError,
    RecursionError,
    struct.error,
    zlib.error,
)

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
        # Lenient parsing: many scanners write slightly wrong cross-reference tables that
        # every viewer repairs. A cut-off transfer is caught by the %%EOF, trailer and
        # page-count checks around this instead.
        reader = PdfReader(stream, strict=False)
        if reader.is_encrypted:
            raise _password_protected()
        if "/Root" not in reader.trailer:
            # pypdf would go looking for a catalog object; a trailer without one was damaged.
            raise _corrupt(filename)
        declared_pages = int(reader.root_object["/Pages"].get_object()["/Count"])
        if declared_pages > limits.max_pages:
            raise _too_many_pages(filename, declared_pages, limits)
        page_count = len(reader.pages)
        if page_count != declared_pages:
            # Pages lost from the page tree: pypdf skips broken entries rather than failing.
            raise _corrupt(filename)
        if page_count == 0:
            raise EmptyFile(
                f"{_the_file(filename)} contains no pages. Scan the pages again and upload "
                "the new file."
            )
        has_text_layer = False
        for number, page in enumerate(reader.pages, start=1):
            _check_page_area(page, number, limits, filename)
            if not has_text_layer:
                has_text_layer = _has_text(page)
                _forget_xobjects(reader, page)
        return page_count, has_text_layer
    except FileNotDecryptedError:
        raise _password_protected() from None
    except PDF_STRUCTURE_ERRORS as cause:
        raise _corrupt(filename) from cause


def _check_page_area(page: PageObject, number: int, limits: ScanLimits, filename: str) -> None:
    scale = page.user_unit / POINTS_PER_INCH
    width_in = abs(float(page.cropbox.width)) * scale
    height_in = abs(float(page.cropbox.height)) * scale
    pixels = width_in * PDF_RENDER_DPI * height_in * PDF_RENDER_DPI
    if pixels > limits.max_pixels_per_page:
        raise ImageTooLarge(
            f"Page {number} of {_the_file(filename, capital=False)} measures {width_in:,.0f} x "
            f"{height_in:,.0f} inches, far larger than a chart page, and cannot be processed. "
            "Check the page size set on the scanner, scan the pages again and upload the new "
            "file."
        )


def _has_text(page: PageObject) -> bool:
    """Whether the page shows any text a reader could copy out of it."""
    resources = _resolved_dict(page.get("/Resources"))
    # Text needs a font, either on the page or inside a form XObject (where OCR tools put
    # their invisible text layer). A page with neither, the usual scanned page, is skipped
    # without parsing its content.
    if "/Font" not in resources and not _has_form_xobject(resources):
        return False
    try:
        text = page.extract_text()
    except PDF_STRUCTURE_ERRORS:
        # Text extraction trips over unusual fonts in perfectly valid files; such a page
        # is simply treated as one without a text layer, and will be OCR'd.
        return False
    return bool(text.strip())


def _has_form_xobject(resources: DictionaryObject) -> bool:
    xobjects = _resolved_dict(resources.get("/XObject"))
    return any(_resolved_dict(xobject).get("/Subtype") == "/Form" for xobject in xobjects.values())


def _forget_xobjects(reader: PdfReader, page: PageObject) -> None:
    """Drop the page's images from pypdf's object cache once the page has been examined.

    pypdf keeps every object it has resolved, image data included; without this, looking
    at every page of a large scan would end up holding the whole file in memory.
    """
    resources = _resolved_dict(page.get("/Resources"))
    for ref in _resolved_dict(resources.get("/XObject")).values():
        if isinstance(ref, IndirectObject):
            reader.resolved_objects.pop((ref.generation, ref.idnum), None)


def _resolved_dict(value: Any) -> DictionaryObject:
    value = value.get_object() if value is not None else None
    return value if isinstance(value, DictionaryObject) else DictionaryObject()


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

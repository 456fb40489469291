"""The searchable PDF, built with pikepdf (qpdf) and img2pdf; no PDF syntax is written here.

    scanned_jpeg          the JPEG of a page that is nothing but a scan (read, not drawn)
    image_page_pdf        an image file's page as a one-page PDF, losslessly (img2pdf)
    overlay_text_layer    one page of a PDF with tesseract's invisible text laid over it
    concatenate_pdfs      the one-page PDFs joined into the searchable PDF

Every PDF is written the same way (_save, and the same options for the join): stream data
is copied as stored (a scan's JPEG is never decoded or re-encoded), no date is written, and
the /ID is derived from the content (qpdf's deterministic ID). So the same pages always
give the same bytes: a job run twice stores the identical derivative, with the identical
checksum."""

from __future__ import annotations

import io
import zlib
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import chain, count
from pathlib import Path

import img2pdf
import pikepdf
from pikepdf import Name, Operator

from ingest.ocr import sources
from ingest.ocr.errors import OcrError
from ingest.ocr.textlayer import levelled_text_layer


def _save(pdf: pikepdf.Pdf, out_pdf: Path, versions: list[str]) -> None:
    pdf.save(
        out_pdf,
        # As stored: qpdf would otherwise decode and re-compress streams in older
        # encodings (LZW, ASCII85), which changes nothing but the time it takes.
        stream_decode_level=pikepdf.StreamDecodeLevel.none,
        deterministic_id=True,
        min_version=max(versions, key=_version_number),
    )


def _version_number(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


# --- a page that is only a scan --------------------------------------------------------------


@dataclass(frozen=True)
class ScannedJpeg:
    jpeg: bytes  # the JPEG file, as the PDF stores it
    size: tuple[int, int]  # pixels, as the PDF declares them
    resolution: tuple[float, float]  # dots per inch across and down, as drawn on the page


# pikepdf reports malformed structure through its own errors and, for objects of the wrong
# type in the wrong place, through Python's.
_ODD_PDF = (pikepdf.PdfError, OSError, ValueError, TypeError, KeyError, AttributeError, IndexError)
_SCAN_COLOUR_SPACES = {"/DeviceGray": 1, "/DeviceRGB": 3}
_IMAGE_KEYS_THAT_CHANGE_PIXELS = ("/Decode", "/DecodeParms", "/SMask", "/Mask", "/ImageMask")


def scanned_jpeg(source: Path, page_number: int) -> ScannedJpeg | None:
    """The page's JPEG when the page shows nothing but one JPEG image, drawn over exactly
    its whole media box, unturned, uncropped, unannotated: a page as scanners write it.
    None for every other page, and for any page whose structure puzzles this look (the
    renderer is left to judge those)."""
    try:
        with pikepdf.open(source) as document:
            if document.is_encrypted:
                return None
            return _lone_jpeg(document.pages[page_number - 1])
    except _ODD_PDF:
        return None


def _lone_jpeg(page: pikepdf.Page) -> ScannedJpeg | None:
    box = [float(value) for value in page.mediabox]
    if page.rotation % 360 or "/Annots" in page.obj or [float(v) for v in page.cropbox] != box:
        return None
    resources = page.obj.get(Name.Resources, pikepdf.Dictionary())
    xobjects = resources.get(Name.XObject, pikepdf.Dictionary())
    if set(resources.keys()) - {"/XObject", "/ProcSet"} or len(xobjects.keys()) != 1:
        return None
    ((name, image),) = xobjects.items()
    matrix = _lone_drawing(page, name)
    if matrix is None or not _is_plain_jpeg(image):
        return None
    a, b, c, d, e, f = matrix
    x0, y0, x1, y1 = box
    if b or c or max(abs(a - (x1 - x0)), abs(d - (y1 - y0)), abs(e - x0), abs(f - y0)) > 1:
        return None
    jpeg = image.read_raw_bytes()  # DCT data as stored: the JPEG file itself
    if not jpeg.startswith(b"\xff\xd8"):
        return None
    width, height = int(image.Width), int(image.Height)
    return ScannedJpeg(jpeg, (width, height), (width * 72 / a, height * 72 / d))


def _lone_drawing(page: pikepdf.Page, name: str) -> list[float] | None:
    """The matrix of the page's only drawing, when its content is nothing but
    `[q] a b c d e f cm /name Do [Q]`."""
    instructions = [
        (list(instruction.operands), str(instruction.operator))
        for instruction in pikepdf.parse_content_stream(page)
    ]
    if [operator for _, operator in instructions[:1] + instructions[-1:]] == ["q", "Q"]:
        instructions = instructions[1:-1]
    if [operator for _, operator in instructions] != ["cm", "Do"]:
        return None
    (matrix, _), (drawn, _) = instructions
    if drawn != [Name(name)] or len(matrix) != 6:
        return None
    return [float(value) for value in matrix]


def _is_plain_jpeg(image: pikepdf.Object) -> bool:
    """An 8-bit grey or RGB JPEG whose pixels the page shows exactly as decoded."""
    colour_space = image.get(Name.ColorSpace)
    if isinstance(colour_space, pikepdf.Array) and colour_space[0] == Name.ICCBased:
        components = int(colour_space[1].get(Name.N, 0))
    else:
        components = _SCAN_COLOUR_SPACES.get(str(colour_space))
    filters = image.get(Name.Filter)
    filters = list(filters) if isinstance(filters, pikepdf.Array) else [filters]
    return (
        isinstance(image, pikepdf.Stream)
        and image.get(Name.Subtype) == Name.Image
        and filters == [Name.DCTDecode]
        and image.get(Name.BitsPerComponent) == 8
        and components in (1, 3)
        and not any(key in image for key in _IMAGE_KEYS_THAT_CHANGE_PIXELS)
    )


# --- an image file's page --------------------------------------------------------------------


def image_page_pdf(
    source: Path, media_type: str, page_number: int, dpi: int, out_pdf: Path
) -> Path:
    """A one-page PDF showing page `page_number` of an image file, pixel for pixel, sized
    by the image's own resolution (`dpi` when it has none).

    A single JPEG or PNG that is upright and in a mode PDF shows directly goes in as it is:
    img2pdf embeds its compressed data unchanged (a JPEG is not even decoded). Any other
    page (a frame of a multi-page TIFF, a photo turned upright by its EXIF orientation,
    16-bit, transparent or palette pixels) goes in as a PNG of its flattened pixels."""
    sources.check_media_type(media_type)
    with sources.open_image(source) as image:
        as_stored = _embeds_unchanged(image)
        resolution = sources.frame_resolution(image, dpi)
    if as_stored:
        image_file = source.read_bytes()
    else:
        frame = sources.load_frame(source, page_number)
        resolution = sources.frame_resolution(frame, dpi)
        image_file = _lossless_png(sources.flatten(frame))
        del frame
    try:
        page = img2pdf.convert(
            image_file,
            layout_fun=img2pdf.get_fixed_dpi_layout_fun(resolution),
            rotation=img2pdf.Rotation.none,  # upright already: see above
            nodate=True,
            # Its own writer: faster than its pikepdf one, which linearizes a file that
            # only overlay_text_layer reads.
            engine=img2pdf.Engine.internal,
        )
    except _IMG2PDF_REFUSALS as exc:
        raise OcrError(
            "This page of the image could not be made into a PDF page; the file may be "
            "damaged, or the page larger than 200 inches. Upload a fresh scan."
        ) from exc
    out_pdf.write_bytes(page)
    return out_pdf


_IMG2PDF_REFUSALS = (
    img2pdf.ImageOpenError,
    img2pdf.JpegColorspaceError,
    img2pdf.UnsupportedColorspaceError,
    img2pdf.NegativeDimensionError,
    img2pdf.PdfTooLargeError,  # PDF pages end at 200 inches a side
    *sources.UNREADABLE,  # img2pdf reads the image's headers with Pillow
)


def _embeds_unchanged(image) -> bool:
    return (
        image.format in ("JPEG", "PNG")
        and getattr(image, "n_frames", 1) == 1
        and image.mode in ("1", "L", "RGB")
        and "transparency" not in image.info
        and not image.info.get("interlace")  # img2pdf would decode and re-encode it
        and sources.is_upright(image)
    )


def _lossless_png(image) -> bytes:
    image.info.pop("transparency", None)  # flattened: every pixel is shown as it is
    # Level 1, as fast as zlib goes short of storing: Pillow's default level takes 2.1-2.5 s
    # for a noisy 300-dpi page, for a file 10 % smaller. On grey (and black-and-white)
    # pixels, matching only runs is faster again and 12 % smaller; on colour it is 45 %
    # larger, as filtered colour pixels seldom repeat byte for byte.
    strategy = zlib.Z_DEFAULT_STRATEGY if image.mode == "RGB" else zlib.Z_RLE
    png = io.BytesIO()
    image.save(png, format="PNG", compress_level=1, compress_type=strategy)
    return png.getvalue()


# --- a page with its text layer ----------------------------------------------------------------


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
        with ExitStack() as files:
            # Opened with the empty password: only readable PDFs get here, so any
            # encryption is an owner password's, and the copy is written unencrypted.
            source = files.enter_context(pikepdf.open(base_pdf))
            single = files.enter_context(pikepdf.new())
            single.pages.append(source.pages[page_number - 1])
            versions = [source.pdf_version]
            if text_layer_pdf is not None:
                layer = files.enter_context(pikepdf.open(text_layer_pdf))
                _graft(single.pages[0], layer, turn, into=single)
                versions.append(layer.pdf_version)
            _save(single, out_pdf, versions)
    except pikepdf.PdfError as exc:
        raise OcrError(
            "The searchable PDF could not be built from this page; the PDF may be damaged. "
            "The original is kept; upload a fresh copy to get a searchable version."
        ) from exc
    return out_pdf


def _graft(page: pikepdf.Page, layer_pdf: pikepdf.Pdf, turn: int, *, into: pikepdf.Pdf) -> None:
    """Lay the text of `layer_pdf`'s page, levelled, over `page` (of the PDF `into`) as a
    form XObject of its own, with its own font resources, so that no name on the page has
    to change; and turn the page. The page's own content is kept as stored, wrapped in
    q/Q so that whatever graphics state it leaves behind does not move the text."""
    layer = layer_pdf.pages[0]
    shown = (page.rotation + turn) % 360
    resources = layer.obj.get(Name.Resources, pikepdf.Dictionary())
    text = pikepdf.Stream(
        into,
        levelled_text_layer(layer),
        Type=Name.XObject,
        Subtype=Name.Form,
        BBox=[float(value) for value in layer.mediabox],
        # qpdf copies only indirect objects from another PDF: the layer page's direct
        # resource dictionary is made indirect (in the layer's PDF) first.
        Resources=into.copy_foreign(layer_pdf.make_indirect(resources)),
    )
    name = _unused_xobject_name(page, "/OCRText")
    page.add_resource(into.make_indirect(text), Name.XObject, name)
    page.contents_add(pikepdf.unparse_content_stream([([], Operator("q"))]), prepend=True)
    page.contents_add(
        pikepdf.unparse_content_stream(
            [
                ([], Operator("Q")),
                ([], Operator("q")),
                (_layer_onto_page(page, layer, shown), Operator("cm")),
                ([name], Operator("Do")),
                ([], Operator("Q")),
            ]
        )
    )
    page.rotate(shown, relative=False)


def _unused_xobject_name(page: pikepdf.Page, wanted: str) -> Name:
    """`wanted`, or `wanted` numbered when the page already has an XObject of that name.
    (pikepdf's own choice of a free name is random, and the same page must give the same
    bytes every time.)"""
    taken = set(page.obj.get(Name.Resources, {}).get(Name.XObject, {}).keys())
    numbered = (f"{wanted}{number}" for number in count(1))
    return Name(next(name for name in chain([wanted], numbered) if name not in taken))


def _layer_onto_page(page: pikepdf.Page, layer: pikepdf.Page, shown: int) -> list[float]:
    """The matrix taking the text layer (which matches the page as shown, i.e. turned
    clockwise by `shown` degrees) into the page's unrotated user space, scaled to fill its
    media box."""
    box, layer_box = pikepdf.Rectangle(page.mediabox), pikepdf.Rectangle(layer.mediabox)
    x0, y0, width, height = box.llx, box.lly, box.width, box.height
    shown_width, shown_height = (width, height) if shown in (0, 180) else (height, width)
    su, sv = shown_width / layer_box.width, shown_height / layer_box.height
    a, b, c, d, e, f = {
        0: (su, 0, 0, sv, x0, y0),
        90: (0, su, -sv, 0, x0 + width, y0),
        180: (-su, 0, 0, -sv, x0 + width, y0 + height),
        270: (0, -su, sv, 0, x0, y0 + height),
    }[shown]
    # The layer's own media box may not start at the origin.
    lx, ly = layer_box.llx, layer_box.lly
    return [a, b, c, d, e - a * lx - c * ly, f - b * lx - d * ly]


# --- the whole document ------------------------------------------------------------------------


def concatenate_pdfs(parts: list[Path], out_pdf: Path) -> Path:
    """Join PDFs (the one-page PDFs of overlay_text_layer) into `out_pdf`, page after page.

    The joining is qpdf's own (its --pages, through pikepdf.Job): it reads each page's
    stream data from its part only while it writes that page, and keeps at most 200
    parts open at once, so memory holds one page at a time whatever the document.
    (Pages copied with pikepdf's Pdf.pages would each be read into memory first:
    500 MB for a chart of 300 scanned pages.) Stream data is copied as stored, and the
    same parts always give the same bytes: the /ID comes from the content, and nothing
    from the clock."""
    if not parts:
        raise ValueError("concatenate_pdfs needs at least one part")
    try:
        version = max(map(_pdf_version, parts), key=_version_number)
        pikepdf.Job(
            {
                "empty": "",
                "pages": [{"file": str(part)} for part in parts],
                "outputFile": str(out_pdf),
                "decodeLevel": "none",
                "deterministicId": "",
                "minVersion": version,
            }
        ).run()
    except (pikepdf.PdfError, OSError) as exc:
        raise OcrError(
            "The searchable PDF could not be assembled from its pages. Retry the job; the "
            "original is kept either way."
        ) from exc
    return out_pdf


def _pdf_version(pdf: Path) -> str:
    with pikepdf.open(pdf) as document:
        return document.pdf_version

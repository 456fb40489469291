"""The scan as uploaded: the media types the OCR pipeline accepts, and the frames of an
image file (TIFF, PNG, JPEG) read with Pillow, one page at a time."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps

from archive.errors import UnsupportedMediaType
from ingest.ocr.errors import OcrError

PDF = "application/pdf"
TIFF = "image/tiff"
PNG = "image/png"
JPEG = "image/jpeg"
MEDIA_TYPES = frozenset({PDF, TIFF, PNG, JPEG})

# Image resolutions outside this range are missing or nonsense (72 is Pillow's guess
# for "unknown" in some formats), so the caller's dpi is used instead.
_PLAUSIBLE_DPI = range(100, 2401)

# What Pillow raises on a damaged, truncated or hostile image file.
UNREADABLE = (OSError, EOFError, ValueError, SyntaxError, Image.DecompressionBombError)

_EXIF_ORIENTATION = 0x0112


def check_media_type(media_type: str) -> None:
    if media_type not in MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"Scans must be PDF, TIFF, PNG or JPEG files; this one is {media_type}."
        )


def open_image(source: Path) -> Image.Image:
    """The image file opened lazily: headers read, no pixels decoded yet."""
    try:
        return Image.open(source)
    except UNREADABLE as exc:
        raise OcrError(
            "The image could not be opened; it may be damaged or not an image at all. "
            "Upload a fresh scan."
        ) from exc


def frame_count(source: Path, media_type: str) -> int:
    with open_image(source) as image:
        return getattr(image, "n_frames", 1) if media_type == TIFF else 1


def load_frame(source: Path, page_number: int) -> Image.Image:
    """Decode one frame of an image file (only that frame is read), upright as its EXIF
    orientation says (phone photos of paper carry one)."""
    with open_image(source) as image:
        try:
            image.seek(page_number - 1)
            image.load()
            upright = ImageOps.exif_transpose(image)
        except UNREADABLE as exc:
            raise OcrError(
                "This page of the image could not be decoded; the file may be damaged or "
                "cut short. Upload a fresh scan."
            ) from exc
        if upright is image:  # exif_transpose returns the same object when nothing moved
            upright = image.copy()
        upright.info = dict(image.info)
        return upright


def is_upright(image: Image.Image) -> bool:
    """True when the image's EXIF orientation, if any, asks for no turning or mirroring."""
    return image.getexif().get(_EXIF_ORIENTATION, 1) == 1


def frame_resolution(frame: Image.Image, default: int) -> tuple[float, float]:
    """The frame's own dots per inch (across, down), or `default` when it states none
    that is plausible."""
    dpi = frame.info.get("dpi")
    try:
        x_dpi, y_dpi = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError, IndexError):
        return float(default), float(default)
    if round(x_dpi) not in _PLAUSIBLE_DPI or round(y_dpi) not in _PLAUSIBLE_DPI:
        return float(default), float(default)
    # PNG stores pixels per metre, so 300 dpi comes back as 299.9994.
    return round(x_dpi, 1), round(y_dpi, 1)


def flatten(image: Image.Image) -> Image.Image:
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


def grayscale(image: Image.Image) -> Image.Image:
    return image if image.mode == "L" else flatten(image).convert("L")


def read_gray(image_path: Path) -> Image.Image:
    with Image.open(image_path) as image:
        image.load()  # read the pixels now: leaving the block closes the file
        return grayscale(image)

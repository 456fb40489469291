"""Real scan files made on the fly (Pillow renders them; nothing is mocked)."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw


def page_image(lines: list[str], size=(850, 1100)) -> Image.Image:
    image = Image.new("L", size, color=255)
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        draw.text((60, 60 + 40 * row), line, fill=0)
    return image


def pdf_bytes(*pages: list[str]) -> bytes:
    images = [page_image(lines) for lines in (pages or (["DISCHARGE SUMMARY"],))]
    buffer = io.BytesIO()
    images[0].save(buffer, "PDF", save_all=True, append_images=images[1:], resolution=100)
    return buffer.getvalue()


def png_bytes(lines: list[str] | None = None) -> bytes:
    buffer = io.BytesIO()
    page_image(lines or ["PROGRESS NOTE"]).save(buffer, "PNG")
    return buffer.getvalue()

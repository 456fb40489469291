"""Realistic scanned charts made on the fly: report text rendered with a real TrueType font
at 300 dpi on letter paper, then put through what a scanner does to it (slight skew,
blur, sensor noise, dust speckles, a shadow along the edge, show-through on blank backs).
Deterministic: every random choice comes from a seeded generator."""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pikepdf import Name
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from tests.pdfs import helvetica_pdf, shown

DPI = 300
LETTER = (2550, 3300)  # 8.5 x 11 inches at 300 dpi
MARGIN = 300
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
BODY_PT = 11
HEADING_PT = 13

DISCHARGE_SUMMARY = [
    "MERCY GENERAL HOSPITAL - DISCHARGE SUMMARY",
    "Patient: HOLLOWAY, MARGARET   MRN: 00482913   DOB: 1948-03-17",
    "Admitted: 2024-02-03   Discharged: 2024-02-09   Attending: Dr. Samuel Okafor",
    "",
    "Reason for admission: Seventy-five year old woman presenting with three days of "
    "productive cough, fever and increasing shortness of breath. She was hypoxic on "
    "arrival with oxygen saturation of eighty-eight percent on room air.",
    "",
    "Hospital course: Chest radiograph showed right lower lobe consolidation consistent "
    "with community acquired pneumonia. Blood cultures were drawn before antibiotics and "
    "remained negative. She was started on intravenous ceftriaxone and oral azithromycin "
    "and improved steadily. Supplemental oxygen was weaned by the fourth hospital day. "
    "Her chronic kidney disease remained stable with creatinine near her baseline.",
    "",
    "Diagnoses: Pneumonia, unspecified organism (J18.9). Chronic kidney disease, stage "
    "three (N18.30). Essential hypertension (I10).",
]

DISCHARGE_CONTINUED = [
    "DISCHARGE SUMMARY (continued)   MRN: 00482913",
    "",
    "Medications at discharge: Amoxicillin with clavulanate twice daily for five more "
    "days. Continue lisinopril and atorvastatin at the previous doses. Paracetamol as "
    "needed for fever or discomfort, not exceeding three grams daily.",
    "",
    "Follow up: Primary care review within one week. Repeat chest radiograph in six "
    "weeks to confirm resolution of the consolidation. The patient and her daughter "
    "understood the instructions and were given written copies.",
    "",
    "Condition at discharge: Stable, walking independently, eating well, afebrile for "
    "more than forty-eight hours.",
    "",
    "Electronically signed by Samuel Okafor, Internal Medicine",
]

PROGRESS_NOTE = [
    "PROGRESS NOTE - INTERNAL MEDICINE",
    "Patient: HOLLOWAY, MARGARET   MRN: 00482913   Date of service: 2024-02-06",
    "",
    "Subjective: Feels better today. Cough is less frequent and sputum is clearing. "
    "Slept through the night without needing extra pillows. Appetite is returning.",
    "",
    "Objective: Temperature normal, heart rate eighty, breathing comfortably on two "
    "litres of oxygen. Crackles persist at the right base but are reduced. White cell "
    "count falling towards normal.",
    "",
    "Assessment and plan: Community acquired pneumonia responding to treatment. Wean "
    "oxygen as tolerated, switch to oral antibiotics tomorrow if she remains afebrile, "
    "and encourage mobilisation with physiotherapy.",
]

SHORT_NOTE = [
    "TELEPHONE ENCOUNTER",
    "Daughter called to report that her mother is recovering well at home,",
    "eating normally and walking around the garden each afternoon.",
    "Advised to continue the antibiotics until the course is finished",
    "and to return promptly if breathing becomes difficult again.",
    "Reviewed and documented by the nursing team.",
]


def words_of(text: str) -> Counter[str]:
    """The words a reader must get right: four letters or more, any case."""
    return Counter(word.lower() for word in re.findall(r"[A-Za-z]{4,}", text))


def recall(expected: str, found: str) -> float:
    """Share of the expected words (as a multiset) that appear in `found`."""
    wanted, got = words_of(expected), words_of(found)
    return sum(min(count, got[word]) for word, count in wanted.items()) / sum(wanted.values())


def _font(name: str, points: float) -> ImageFont.FreeTypeFont:
    size = round(points * DPI / 72)
    path = FONT_DIR / name
    if path.is_file():
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)  # scalable since Pillow 10.1


def render_page(paragraphs: list[str]) -> Image.Image:
    """A clean white letter page with the paragraphs typeset: first line as a heading,
    the rest wrapped to the margins."""
    page = Image.new("L", LETTER, 255)
    draw = ImageDraw.Draw(page)
    heading, body = _font("DejaVuSans-Bold.ttf", HEADING_PT), _font("DejaVuSerif.ttf", BODY_PT)
    leading = round(BODY_PT * DPI / 72 * 1.45)
    y = MARGIN
    for index, paragraph in enumerate(paragraphs):
        font = heading if index == 0 else body
        for line in _wrap(paragraph, font, LETTER[0] - 2 * MARGIN) if paragraph else [""]:
            draw.text((MARGIN, y), line, font=font, fill=20)
            y += leading
    return page


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines, current = [], ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if current and font.getlength(candidate) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    return [*lines, current]


def scan(page: Image.Image, rng: random.Random, *, skew: float) -> Image.Image:
    """What a sheet-fed scanner does to a page."""
    image = page.rotate(skew, resample=Image.Resampling.BICUBIC, fillcolor=255)
    image = image.filter(ImageFilter.GaussianBlur(0.7))
    image = _add_noise(image, rng)
    _speckle(image, rng, count=400)
    return _edge_shadow(image)


def blank_back(front: Image.Image, rng: random.Random) -> Image.Image:
    """The reverse of a single-sided sheet in a double-sided scan: nothing printed, but
    the front shows through faintly (mirrored), plus noise, dust and the edge shadow."""
    show_through = ImageChops.invert(front.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    image = ImageChops.subtract(
        Image.new("L", LETTER, 255), show_through.point(lambda value: value // 12)
    )
    image = image.filter(ImageFilter.GaussianBlur(2))
    image = _add_noise(image, rng)
    _speckle(image, rng, count=250)
    return _edge_shadow(image)


def _add_noise(image: Image.Image, rng: random.Random) -> Image.Image:
    """Sensor noise of about 10 grey levels. (Image.effect_noise would be simpler, but it
    draws from C's rand(), which this module's seed does not govern.)"""
    uniform = Image.frombytes("L", image.size, rng.randbytes(image.width * image.height))
    noise = uniform.point(lambda value: 128 + (value - 128) * 0.14)  # 128 ± 18
    return ImageChops.add(image, noise, scale=1.0, offset=-128)


def _speckle(image: Image.Image, rng: random.Random, *, count: int) -> None:
    draw = ImageDraw.Draw(image)
    width, height = image.size
    for _ in range(count):
        x, y = rng.randrange(width), rng.randrange(height)
        radius = rng.choice((0, 0, 1, 1, 1, 2))
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=rng.randrange(0, 90))


def _edge_shadow(image: Image.Image) -> Image.Image:
    shadow = Image.linear_gradient("L").rotate(90).resize((60, image.height))  # dark → light
    shaded = image.copy()
    shaded.paste(
        ImageChops.multiply(
            image.crop((0, 0, 60, image.height)),
            ImageChops.add(shadow, Image.new("L", shadow.size, 170)),
        ),
        (0, 0),
    )
    return shaded


@dataclass(frozen=True)
class ScannedChart:
    """A four-page chart: a report page, its continuation fed in upside down, a blank
    back, and a progress note. `texts` holds what is printed on each page."""

    images: tuple[Image.Image, ...]
    texts: tuple[str, ...]

    UPSIDE_DOWN = 2
    BLANK = 3

    def save_pdf(self, path: Path) -> Path:
        # Copies: Pillow leaves each save's options on the appended images.
        first, *rest = (image.copy() for image in self.images)
        first.save(path, "PDF", resolution=DPI, save_all=True, append_images=rest, quality=85)
        return path

    def save_tiff(self, path: Path) -> Path:
        """Black and white, CCITT group 4: what most document scanners write to TIFF."""
        first, *rest = (
            image.point(lambda value: 255 if value >= 150 else 0).convert(
                "1", dither=Image.Dither.NONE
            )
            for image in self.images
        )
        first.save(
            path, "TIFF", dpi=(DPI, DPI), save_all=True, append_images=rest, compression="group4"
        )
        return path


def scanned_chart(seed: int = 7) -> ScannedChart:
    rng = random.Random(seed)
    summary, continued = render_page(DISCHARGE_SUMMARY), render_page(DISCHARGE_CONTINUED)
    note = render_page(PROGRESS_NOTE)
    images = (
        scan(summary, rng, skew=0.8),
        scan(continued, rng, skew=-1.2).transpose(Image.Transpose.ROTATE_180),
        blank_back(continued, rng),
        scan(note, rng, skew=1.5),
    )
    texts = (
        "\n".join(DISCHARGE_SUMMARY),
        "\n".join(DISCHARGE_CONTINUED),
        "",
        "\n".join(PROGRESS_NOTE),
    )
    return ScannedChart(images=images, texts=texts)


def sideways_note(seed: int = 11) -> Image.Image:
    """A short note scanned in landscape by mistake: the text runs bottom to top."""
    rng = random.Random(seed)
    return scan(render_page(SHORT_NOTE), rng, skew=-0.6).transpose(Image.Transpose.ROTATE_90)


def text_pdf(lines: list[str]) -> bytes:
    """A letter-size PDF whose page carries real text (Helvetica), as an EHR printout or
    an already-OCR'd scan does: one line every 16 pt, the first at 704 pt."""
    return helvetica_pdf(
        [
            [
                ([], "BT"),
                ([Name.F1, 12], "Tf"),
                ([16], "TL"),
                ([72, 720], "Td"),
                *(([shown(line)], "'") for line in lines),
                ([], "ET"),
            ]
        ]
    )

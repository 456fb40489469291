"""The certificate of destruction of a disposition batch, as a PDF.

A pure function of the facts the caller gathered (no database, no storage): the items AHIMA
lists for a certificate of destruction — institution, date and method of destruction, a
description of the records with their inclusive dates, the normal-course-of-business
statement, who approved and who executed — then a table of every destroyed record.

Patient names come from everywhere ("Łukasz", "O'Brien — Jr."): archive.pdf_text picks a
Unicode TrueType font when one is installed and transliterates to Latin-1 without one, so a
certificate never fails to render because of a name.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fpdf import FPDF

from archive import pdf_text
from archive.pdf_text import (
    CONTROL_CHARACTERS,
    CORE_FAMILY,
    FONT_CANDIDATES,
    to_latin1,
)
from archive.pdf_text import latin1_char as _latin1_char

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

UNICODE_FAMILY = "certsans"
# For names in scripts DejaVu lacks (Chinese, Japanese, Korean); optional, Debian's
# fonts-droid-fallback.
FALLBACK_FONT_CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
FALLBACK_FAMILY = "certfallback"

TITLE = "Certificate of Destruction"
UNDATED = "undated"

# Landscape A4 leaves 277 mm between the margins; the policy column gets the most room
# because its text ("discharge_summary v2 — AHIMA adult 10 years") is the longest.
TABLE_ORIENTATION = "L"
TABLE_HEADINGS = (
    "Doc. no.",
    "MRN",
    "Patient",
    "Type",
    "Date of service",
    "Filed",
    "Disposition date",
    "Policy (version)",
    "Vers. / pages",
)
TABLE_WIDTHS = (17, 24, 44, 34, 21, 21, 23, 71, 22)
TABLE_FONT_SIZE = 7.5
TABLE_LINE_HEIGHT = 3.6
CELL_PADDING = 0.8
MAX_CELL_LINES = 6
BASELINE = 2.7  # from the top of a table line to the baseline of its text, for text()

@dataclass(frozen=True)
class CertificateLine:
    """One destroyed record, as its tombstone describes it."""

    document_id: int
    mrn: str
    patient_name: str
    doc_type: str
    date_of_service: date | None
    filed_on: date
    disposition_date: date
    policy: str  # e.g. "discharge_summary v2 — AHIMA adult 10 years"
    versions: int
    pages: int


@dataclass(frozen=True)
class CertificateFacts:
    """Everything the certificate states about one executed batch."""

    batch_id: int
    institution: str
    executed_at: datetime  # UTC aware
    approved_by: str
    approved_at: datetime
    executed_by: str
    method: str
    lines: tuple[CertificateLine, ...]
    excluded: int  # items an officer took out of the batch
    skipped: int  # items execution left alone (a hold, a later date)
    replicas_note: str = ""
    # The second compliance officer's approval ("" for a batch from before two were needed).
    second_approved_by: str = ""
    second_approved_at: datetime | None = None


def render_certificate(facts: CertificateFacts) -> bytes:
    """The certificate of destruction of the batch, as PDF bytes."""
    pdf = _CertificatePDF(facts)
    _write_summary(pdf, facts)
    _write_table(pdf, facts.lines)
    return bytes(pdf.output())


# --- the document ------------------------------------------------------------------------------


class _CertificatePDF(FPDF):
    """An FPDF with the certificate's font, metadata and "Page X of Y" footer."""

    def __init__(self, facts: CertificateFacts) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.facts = facts
        self.in_table = False
        self._widths: dict[tuple[str, str, float], float] = {}
        self.cert_family = self._load_font()
        self.primary: frozenset[int] | None = None  # what the TrueType font has glyphs for
        self.drawable: frozenset[int] | None = None  # that and the fallback font's
        if self.has_unicode:
            self._load_fallback()
        self.set_auto_page_break(auto=True, margin=18)
        self.set_fill_color(225, 225, 225)  # the heading row's grey
        # Same facts, same bytes: the creation date is the execution, not the rendering.
        self.set_creation_date(_as_utc(facts.executed_at))
        self.set_title(self.clean(f"{TITLE} — batch {facts.batch_id}"))
        self.set_author(self.clean(facts.institution))
        self.set_creator("ChartVault")
        self.add_page()

    def _load_font(self) -> str:
        found = find_unicode_font()
        if found is None:
            return CORE_FAMILY
        regular, bold = found
        try:
            self.add_font(UNICODE_FAMILY, "", regular)
            self.add_font(UNICODE_FAMILY, "B", bold)
        except Exception:  # noqa: BLE001 - an unreadable font file must not cost the certificate
            return CORE_FAMILY
        return UNICODE_FAMILY

    def _load_fallback(self) -> None:
        """Learn which code points the font can draw, and add a CJK fallback font only when
        the facts need one (it takes a second to load). Unknown coverage: draw all as is."""
        coverage = getattr(self.fonts.get(UNICODE_FAMILY), "cmap", None)
        if coverage is None:
            return
        self.primary = self.drawable = frozenset(coverage)
        path = next((p for p in FALLBACK_FONT_CANDIDATES if Path(p).is_file()), None)
        if path is None or _code_points(self.facts) <= self.primary:
            return
        try:
            self.add_font(FALLBACK_FAMILY, "", path)
        except Exception:  # noqa: BLE001 - as above: without it, "?" stands for the glyph
            return
        self.set_fallback_fonts([FALLBACK_FAMILY])
        self.drawable = self.primary | set(getattr(self.fonts[FALLBACK_FAMILY], "cmap", ()))

    @property
    def has_unicode(self) -> bool:
        return self.cert_family == UNICODE_FAMILY

    def clean(self, text: str) -> str:
        """Text the fonts can draw: with a TrueType font every character it has a glyph for
        (the rest as in to_latin1, not as an invisible blank), else Latin-1."""
        text = CONTROL_CHARACTERS.sub(" ", text)  # a tab or NUL from a scanner's OCR
        if not self.has_unicode:
            return to_latin1(text)
        if self.drawable is None:
            return text
        return "".join(c if ord(c) in self.drawable else _latin1_char(c) for c in text)

    def put_text(self, x: float, top: float, width: float, text: str) -> None:
        """One line of a table cell. text() is four times faster than cell() but ignores the
        fallback font, so cell() draws the rare line that needs it."""
        if self.primary is None or all(ord(c) in self.primary for c in text):
            self.text(x, top + BASELINE, text)
        else:
            self.set_xy(x, top)
            self.cell(width, TABLE_LINE_HEIGHT, text)

    def use(self, size: float, bold: bool = False) -> None:
        self.set_font(self.cert_family, "B" if bold else "", size)

    def width_of(self, text: str) -> float:
        """get_string_width, remembered: types, dates and policies recur on every page."""
        key = (text, self.font_style, self.font_size_pt)
        if key not in self._widths:
            self._widths[key] = self.get_string_width(text)
        return self._widths[key]

    def header(self) -> None:
        if self.in_table:
            _draw_row(self, TABLE_HEADINGS, bold=True)

    def footer(self) -> None:
        self.set_y(-13)
        self.use(8)
        left = self.clean(f"{self.facts.institution} · {TITLE} · batch {self.facts.batch_id}")
        self.cell(self.epw / 2, 6, left, align="L")
        # {nb} is replaced by the page count when the document is closed.
        self.cell(self.epw / 2, 6, f"Page {self.page_no()} of {{nb}}", align="R")


def _code_points(facts: CertificateFacts) -> set[int]:
    texts = [facts.institution, facts.approved_by, facts.second_approved_by,
             facts.executed_by, facts.method]
    texts.append(facts.replicas_note)
    for line in facts.lines:
        texts.extend((line.mrn, line.patient_name, line.doc_type, line.policy))
    return {ord(char) for text in texts for char in text}


def find_unicode_font() -> tuple[str, str] | None:
    """(regular, bold) paths of the first installed candidate font, or None."""
    return pdf_text.find_unicode_font(FONT_CANDIDATES)


# --- the summary -------------------------------------------------------------------------------


def _write_summary(pdf: _CertificatePDF, facts: CertificateFacts) -> None:
    pdf.use(20, bold=True)
    pdf.cell(0, 12, TITLE, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.use(12)
    pdf.cell(0, 7, pdf.clean(facts.institution), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    for label, value in summary_fields(facts):
        _field(pdf, label, value)
    pdf.ln(4)
    pdf.use(10)
    pdf.multi_cell(0, 5.5, pdf.clean(statement(facts)), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    _signature(pdf, "Approved by", facts.approved_by, facts.approved_at)
    if facts.second_approved_by:
        _signature(pdf, "Second approval by", facts.second_approved_by, facts.second_approved_at)
    _signature(pdf, "Executed by", facts.executed_by, facts.executed_at)


def summary_fields(facts: CertificateFacts) -> list[tuple[str, str]]:
    """The labelled facts at the top of the certificate, in order."""
    fields = [
        ("Batch number", str(facts.batch_id)),
        ("Date of destruction", _day(facts.executed_at)),
        ("Records destroyed", describe_records(facts.lines)),
        ("Inclusive dates", inclusive_dates(facts.lines)),
        ("Method of destruction", facts.method),
        ("Excluded from the batch", f"{facts.excluded} (not destroyed)"),
        ("Skipped at execution", f"{facts.skipped} (not destroyed)"),
    ]
    if facts.replicas_note:
        fields.append(("Copies and replicas", facts.replicas_note))
    return fields


def describe_records(lines: tuple[CertificateLine, ...]) -> str:
    """The count and the types, e.g. "3 records: 2 discharge_summary, 1 lab_report"
    (types by count, then by name)."""
    if not lines:
        return "none"
    counts = Counter(line.doc_type for line in lines)
    kinds = sorted(counts.items(), key=lambda kind: (-kind[1], kind[0]))
    noun = "record" if len(lines) == 1 else "records"
    return f"{len(lines)} {noun}: " + ", ".join(f"{n} {doc_type}" for doc_type, n in kinds)


def inclusive_dates(lines: tuple[CertificateLine, ...]) -> str:
    """The earliest to the latest date of service; records without one are counted, because
    "inclusive dates" would otherwise silently leave them out."""
    dated = [line.date_of_service for line in lines if line.date_of_service is not None]
    undated = len(lines) - len(dated)
    if not lines:
        return "none"
    if not dated:
        return UNDATED
    span = f"{min(dated).isoformat()} to {max(dated).isoformat()}"
    return f"{span} ({undated} {UNDATED})" if undated else span


def statement(facts: CertificateFacts) -> str:
    """The attestation; with nothing destroyed it says so instead of listing nothing."""
    if not facts.lines:
        return (
            f"No records were destroyed in batch {facts.batch_id}: every item of the batch "
            f"was excluded ({facts.excluded}) or skipped ({facts.skipped}), and all of them "
            f"remain in the archive under the retention schedule of {facts.institution}. "
            "This certificate records the execution in the normal course of business."
        )
    return (
        "The records listed below were destroyed in the normal course of business, in "
        f"accordance with the retention schedule of {facts.institution}. Items excluded from "
        "the batch or skipped at execution were not destroyed and are not listed."
    )


def _field(pdf: _CertificatePDF, label: str, value: str) -> None:
    pdf.use(10, bold=True)
    pdf.cell(52, 6, label)
    pdf.use(10)
    pdf.multi_cell(0, 6, pdf.clean(value), align="L", new_x="LMARGIN", new_y="NEXT")


def _signature(pdf: _CertificatePDF, role: str, who: str, when: datetime) -> None:
    _field(pdf, role, f"{who}, {_moment(when)}")
    pdf.cell(52, 8, "")
    pdf.use(9)
    pdf.cell(0, 8, "Signature: ______________________________", new_x="LMARGIN", new_y="NEXT")


# --- the table ---------------------------------------------------------------------------------


def _write_table(pdf: _CertificatePDF, lines: tuple[CertificateLine, ...]) -> None:
    if not lines:
        pdf.ln(4)
        pdf.use(12, bold=True)
        pdf.cell(0, 8, "No records were destroyed.", new_x="LMARGIN", new_y="NEXT")
        return
    # Landscape: nine columns, one of them long, would wrap every row on portrait A4.
    pdf.add_page(orientation=TABLE_ORIENTATION)
    pdf.use(12, bold=True)
    pdf.cell(0, 8, f"Records destroyed ({len(lines)})", new_x="LMARGIN", new_y="NEXT")
    pdf.in_table = True  # from here on header() starts every page with the heading row
    _draw_row(pdf, TABLE_HEADINGS, bold=True)
    for line in lines:
        _draw_row(pdf, [pdf.clean(cell) for cell in table_row(line)])
    pdf.in_table = False


def _draw_row(pdf: _CertificatePDF, cells: Sequence[str], bold: bool = False) -> None:
    """One row of the table, its height that of its tallest cell, on a new page if it does
    not fit. Drawn with text() and one rule per row: fpdf2's table(), or a cell() per cell,
    takes seconds per thousand rows, and batches have thousands."""
    pdf.use(TABLE_FONT_SIZE, bold=bold)
    wrapped = [
        _wrap(pdf.width_of, text, width - 2 * CELL_PADDING)
        for text, width in zip(cells, TABLE_WIDTHS, strict=True)
    ]
    height = max(len(lines) for lines in wrapped) * TABLE_LINE_HEIGHT + 2 * CELL_PADDING
    if pdf.get_y() + height > pdf.page_break_trigger:
        # add_page() alone would go back to the portrait default of the document.
        pdf.add_page(orientation=TABLE_ORIENTATION)  # header() draws the heading row
        pdf.use(TABLE_FONT_SIZE, bold=bold)
    x, y = pdf.l_margin, pdf.get_y()
    if bold:
        pdf.rect(x, y, sum(TABLE_WIDTHS), height, style="DF")
    else:
        pdf.line(x, y + height, x + sum(TABLE_WIDTHS), y + height)
    for lines, width in zip(wrapped, TABLE_WIDTHS, strict=True):
        for number, text in enumerate(lines):
            top = y + CELL_PADDING + number * TABLE_LINE_HEIGHT
            pdf.put_text(x + CELL_PADDING, top, width - 2 * CELL_PADDING, text)
        x += width
    pdf.set_xy(pdf.l_margin, y + height)


def _wrap(measure: Callable[[str], float], text: str, width: float) -> list[str]:
    """The text in lines no wider than width: broken between words, inside a word only when
    it alone is too wide; at most MAX_CELL_LINES, so that no row outgrows a page."""
    if measure(text) <= width:
        return [text]
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and measure(candidate) <= width:
            lines[-1] = candidate
        else:
            lines.extend(_split_word(measure, word, width))
    if len(lines) > MAX_CELL_LINES:
        lines = lines[:MAX_CELL_LINES]
        lines[-1] = lines[-1][:-3] + "..."
    return lines or [""]


def _split_word(measure: Callable[[str], float], word: str, width: float) -> list[str]:
    pieces = [""]
    for char in word:
        if pieces[-1] and measure(pieces[-1] + char) > width:
            pieces.append("")
        pieces[-1] += char
    return pieces


def table_row(line: CertificateLine) -> tuple[str, ...]:
    """The cells of one record in the table, in TABLE_HEADINGS order."""
    return (
        str(line.document_id),
        line.mrn,
        line.patient_name,
        line.doc_type,
        line.date_of_service.isoformat() if line.date_of_service else UNDATED,
        line.filed_on.isoformat(),
        line.disposition_date.isoformat(),
        line.policy,
        f"{line.versions} / {line.pages}",
    )


# --- text --------------------------------------------------------------------------------------


def _as_utc(moment: datetime) -> datetime:
    # Naive datetimes from the database are UTC already (archive.models.UTCDateTime).
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _day(moment: datetime) -> str:
    return _as_utc(moment).date().isoformat()


def _moment(moment: datetime) -> str:
    return _as_utc(moment).strftime("%Y-%m-%d %H:%M UTC")

"""A patient's accounting of disclosures (45 CFR 164.528) as a PDF: a title, the patient and the
period, then one row per disclosure — date, recipient and address, what was disclosed, purpose,
legal basis, request — or a line saying there were none. A pure function of the accounting
(release.disclosures.Accounting); fonts and Unicode as archive.pdf_text provides them."""

from __future__ import annotations

from datetime import UTC, datetime, time

from fpdf import FPDF
from fpdf.fonts import FontFace

from archive.pdf_text import CONTROL_CHARACTERS, CORE_FAMILY, find_unicode_font, latin1_char
from release.disclosures import Accounting

TITLE = "Accounting of Disclosures"
EMPTY = "No disclosures in this period."
UNICODE_FAMILY = "accountingsans"
HEADINGS = ("Date", "Recipient", "Description", "Purpose", "Legal basis", "Request")
# Landscape A4: 277 mm between the margins; what was disclosed gets the most room.
WIDTHS = (22, 62, 82, 52, 37, 22)


def render_accounting(accounting: Accounting) -> bytes:
    pdf = _AccountingPDF(accounting)
    pdf.use(18, bold=True)
    pdf.cell(0, 11, TITLE, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    period = f"{accounting.date_from.isoformat()} to {accounting.date_to.isoformat()}"
    fields = [("Patient", f"{accounting.patient_name} (MRN {accounting.mrn})"),
              ("Period", period), ("Disclosures", str(len(accounting.disclosures)))]
    if accounting.include_exempt:
        fields.append(("Scope", "internal review: exempt disclosures included"))
    for label, value in fields:
        pdf.use(10, bold=True)
        pdf.cell(30, 6, label)
        pdf.use(10)
        pdf.multi_cell(0, 6, pdf.clean(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    if not accounting.disclosures:
        pdf.use(12, bold=True)
        pdf.cell(0, 8, EMPTY, new_x="LMARGIN", new_y="NEXT")
        return bytes(pdf.output())
    pdf.use(8)
    headings = FontFace(emphasis="BOLD", fill_color=(225, 225, 225))
    with pdf.table(col_widths=WIDTHS, width=sum(WIDTHS), headings_style=headings,
                   line_height=4, text_align="LEFT") as table:
        table.row(HEADINGS)
        for row in accounting.disclosures:
            basis = row.legal_basis + (" (exempt)" if row.exempt else "")
            recipient = "\n".join(part for part in (row.recipient_name,
                                                    row.recipient_address) if part)
            table.row([pdf.clean(cell, lines=True) for cell in (
                row.disclosed_on.isoformat(), recipient, row.description, row.purpose,
                basis, str(row.request_id))])
    return bytes(pdf.output())


class _AccountingPDF(FPDF):
    def __init__(self, accounting: Accounting) -> None:
        super().__init__(orientation="L", unit="mm", format="A4")
        self.accounting = accounting
        self.family, self.drawable = self._load_font()
        self.set_auto_page_break(auto=True, margin=15)
        # Same accounting, same bytes: dated by the end of its period, not the rendering.
        self.set_creation_date(datetime.combine(accounting.date_to, time(), UTC))
        self.set_title(self.clean(f"{TITLE} — MRN {accounting.mrn}"))
        self.set_creator("ChartVault")
        self.add_page()

    def _load_font(self) -> tuple[str, frozenset[int] | None]:
        found = find_unicode_font()
        if found is None:
            return CORE_FAMILY, frozenset(range(256))
        try:
            self.add_font(UNICODE_FAMILY, "", found[0])
            self.add_font(UNICODE_FAMILY, "B", found[1])
        except Exception:  # noqa: BLE001 - an unreadable font file must not cost the accounting
            return CORE_FAMILY, frozenset(range(256))
        coverage = getattr(self.fonts.get(UNICODE_FAMILY), "cmap", None)
        return UNICODE_FAMILY, frozenset(coverage) if coverage is not None else None

    def clean(self, text: str, lines: bool = False) -> str:
        """Text the font can draw (others transliterated, as archive.pdf_text does); line
        breaks kept only where asked (a recipient's address)."""
        parts = text.split("\n") if lines else [text]
        parts = [CONTROL_CHARACTERS.sub(" ", part) for part in parts]
        if self.drawable is not None:
            parts = ["".join(c if ord(c) in self.drawable else latin1_char(c) for c in part)
                     for part in parts]
        return "\n".join(parts)

    def use(self, size: float, bold: bool = False) -> None:
        self.set_font(self.family, "B" if bold else "", size)

    def footer(self) -> None:
        self.set_y(-12)
        self.use(8)
        self.cell(self.epw / 2, 6, self.clean(f"{TITLE} · MRN {self.accounting.mrn}"))
        self.cell(self.epw / 2, 6, f"Page {self.page_no()} of {{nb}}", align="R")

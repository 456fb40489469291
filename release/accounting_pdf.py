"""A patient's accounting of disclosures (45 CFR 164.528) as a PDF: a title, the patient and the
period, then one row per disclosure — date, recipient and address, what was disclosed, purpose,
legal basis, request — or a line saying there were none. A pure function of the accounting
(release.disclosures.Accounting); fonts and Unicode as archive.pdf_text provides them."""

from __future__ import annotations

from fpdf.fonts import FontFace

from release.disclosures import Accounting
from release.document_pdf import DocumentPDF

TITLE = "Accounting of Disclosures"
EMPTY = "No disclosures in this period."
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


class _AccountingPDF(DocumentPDF):
    def __init__(self, accounting: Accounting) -> None:
        # Dated by the end of its period, not the rendering.
        super().__init__(orientation="L", dated=accounting.date_to, margin=15,
                         title=f"{TITLE} — MRN {accounting.mrn}")
        self.accounting = accounting
        self.add_page()

    def footer(self) -> None:
        self.set_y(-12)
        self.use(8)
        self.cell(self.epw / 2, 6, self.clean(f"{TITLE} · MRN {self.accounting.mrn}"))
        self.cell(self.epw / 2, 6, f"Page {self.page_no()} of {{nb}}", align="R")

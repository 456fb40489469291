"""A request's invoice as a PDF: number, date, whom it is billed to and for which request,
the lines (description, quantity, unit price, amount), the total, what was paid and the
balance due, or the waiver and its reason. A pure function of the invoice; fonts and Unicode
as archive.pdf_text provides them."""

from __future__ import annotations

from fpdf.fonts import FontFace

from release.document_pdf import DocumentPDF
from release.fee_models import ReleaseInvoice
from release.fees import money

TITLE = "Invoice"
NO_CHARGE = "No charge for these copies."
HEADINGS = ("Description", "Quantity", "Unit price", "Amount")
# Portrait A4: 180 mm between the margins.
WIDTHS = (96, 24, 30, 30)


def render_invoice(invoice: ReleaseInvoice, mrns: list[str]) -> bytes:
    pdf = _InvoicePDF(invoice)
    pdf.use(18, bold=True)
    pdf.cell(0, 11, f"{TITLE} {invoice.number}", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    _facts(pdf, invoice, mrns)
    pdf.ln(4)
    if invoice.lines:
        _lines(pdf, invoice)
    else:
        pdf.use(11, bold=True)
        pdf.cell(0, 8, NO_CHARGE, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    _totals(pdf, invoice)
    return bytes(pdf.output())


def _facts(pdf: _InvoicePDF, invoice: ReleaseInvoice, mrns: list[str]) -> None:
    bill_to = "\n".join(part for part in (invoice.bill_to_name, invoice.bill_to_address) if part)
    for label, value in (("Issued", invoice.issued_on.isoformat()),
                         ("Request", f"#{invoice.request_id}"),
                         ("Bill to", bill_to),
                         ("Records of", ", ".join(f"MRN {mrn}" for mrn in mrns)),
                         ("Copies", f"{invoice.pages} pages, {invoice.medium}")):
        pdf.use(10, bold=True)
        pdf.cell(30, 6, label)
        pdf.use(10)
        pdf.multi_cell(0, 6, pdf.clean(value, lines=True), new_x="LMARGIN", new_y="NEXT")


def _lines(pdf: _InvoicePDF, invoice: ReleaseInvoice) -> None:
    pdf.use(9)
    headings = FontFace(emphasis="BOLD", fill_color=(225, 225, 225))
    with pdf.table(col_widths=WIDTHS, width=sum(WIDTHS), headings_style=headings,
                   line_height=5, text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT")) as table:
        table.row(HEADINGS)
        for line in invoice.lines:
            table.row([pdf.clean(line["description"]), str(line["quantity"]),
                       money(line["unit_cents"]), money(line["amount_cents"])])


def _totals(pdf: _InvoicePDF, invoice: ReleaseInvoice) -> None:
    rows = [("Total", money(invoice.total_cents)), ("Paid", money(invoice.paid_cents))]
    if invoice.waived_on is not None:
        rows.append(("Waived", f"{money(invoice.balance_cents)} on "
                               f"{invoice.waived_on.isoformat()}: {invoice.waive_reason}"))
    else:
        rows.append(("Balance due", money(invoice.balance_cents)))
    for label, value in rows:
        pdf.use(11, bold=True)
        pdf.cell(40, 7, label)
        pdf.use(11)
        pdf.multi_cell(0, 7, pdf.clean(value), new_x="LMARGIN", new_y="NEXT")


class _InvoicePDF(DocumentPDF):
    def __init__(self, invoice: ReleaseInvoice) -> None:
        # Dated by the invoice, not the rendering.
        super().__init__(orientation="P", dated=invoice.issued_on, margin=15,
                         title=f"{TITLE} {invoice.number}")
        self.invoice = invoice
        self.add_page()

    def footer(self) -> None:
        self.set_y(-12)
        self.use(8)
        self.cell(self.epw / 2, 6, self.clean(f"{TITLE} {self.invoice.number}"))
        self.cell(self.epw / 2, 6, f"Page {self.page_no()} of {{nb}}", align="R")

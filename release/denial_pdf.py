"""The denial letter as a PDF: the date, the request number, whom it is addressed to, the
reason, and — for a patient's right of access — the review and complaint rights that 45 CFR
164.524(d)(2) requires the letter to state in plain language. A pure function of the letter
(release.denial_letter.DenialLetter); fonts and Unicode as archive.pdf_text provides them."""

from __future__ import annotations

from release.denial_letter import DenialLetter
from release.document_pdf import DocumentPDF

TITLE = "Denial of Your Request for Records"
HHS_COMPLAINT = (
    "You may also complain to the Secretary of the U.S. Department of Health and Human "
    "Services, Office for Civil Rights: online at www.hhs.gov/ocr/complaints, by mail to "
    "200 Independence Avenue, S.W., Washington, D.C. 20201, or by telephone at "
    "1-800-368-1019. The hospital will not retaliate against you for filing a complaint.")


def render_denial_letter(letter: DenialLetter) -> bytes:
    pdf = _LetterPDF(letter)
    pdf.heading(TITLE, 16)
    for label, value in (("Date", letter.dated.isoformat()),
                         ("Request number", str(letter.request_id)),
                         ("Request received", letter.received.isoformat()),
                         ("Records of", "; ".join(letter.patients))):
        pdf.field(label, value)
    pdf.ln(4)
    pdf.paragraph("\n".join(part for part in (letter.recipient, letter.address) if part))
    pdf.paragraph(f"Dear {letter.recipient},")
    pdf.paragraph(f"We have reviewed your request for records, number {letter.request_id}, "
                  f"received on {letter.received.isoformat()}. We are unable to provide the "
                  "records you asked for, for the following reason:")
    pdf.paragraph(letter.reason or "(no reason was recorded)", bold=True)
    for title, text in _rights(letter):
        pdf.heading(title, 12)
        pdf.paragraph(text)
    return bytes(pdf.output())


def _rights(letter: DenialLetter) -> list[tuple[str, str]]:
    """The sections after the reason: the rights 164.524(d)(2) names for a patient's own
    access; for any other request, whom to ask."""
    quote = f"quoting request number {letter.request_id}"
    if not letter.right_of_access:
        return [("Questions", f"If you have questions about this decision, write to "
                              f"{letter.contact}, {quote}.")]
    return [
        ("Your right to have this denial reviewed",
         "Where the reason for the denial allows a review (45 CFR 164.524(a)(3)), you may "
         "ask that a licensed health care professional chosen by the hospital, who took no "
         "part in the original decision, review this denial. To ask for a review, write to "
         f"{letter.contact}, {quote}. We will tell you the reviewer's decision in writing."),
        ("How to complain to the hospital",
         f"You may complain about this decision to {letter.contact}, {quote}. A complaint "
         "does not affect your care or your other rights."),
        ("How to complain to the Secretary of Health and Human Services", HHS_COMPLAINT),
    ]


class _LetterPDF(DocumentPDF):
    def __init__(self, letter: DenialLetter) -> None:
        # Dated by the denial, not by the rendering.
        super().__init__(orientation="P", dated=letter.dated, margin=18,
                         title=f"{TITLE} - request {letter.request_id}")
        self.letter = letter
        self.add_page()

    def heading(self, text: str, size: float) -> None:
        self.ln(2)
        self.use(size, bold=True)
        self.multi_cell(0, size * 0.55, self.clean(text, lines=True), new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def field(self, label: str, value: str) -> None:
        self.use(10, bold=True)
        self.cell(40, 6, label)
        self.use(10)
        self.multi_cell(0, 6, self.clean(value, lines=True), new_x="LMARGIN", new_y="NEXT")

    def paragraph(self, text: str, bold: bool = False) -> None:
        self.use(11, bold=bold)
        self.multi_cell(0, 5.5, self.clean(text, lines=True), new_x="LMARGIN", new_y="NEXT")
        self.ln(3)

    def footer(self) -> None:
        self.set_y(-12)
        self.use(8)
        self.cell(self.epw / 2, 6, f"Request {self.letter.request_id} - denial letter")
        self.cell(self.epw / 2, 6, f"Page {self.page_no()} of {{nb}}", align="R")

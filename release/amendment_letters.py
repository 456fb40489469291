"""What the documents of an amendment request say (45 CFR 164.526): the amendment filed when
a request is accepted, the denial letter with the patient's rights that paragraph (d)(1)
requires, the patient's statement of disagreement and the hospital's rebuttal. Each is text
here and a PDF through release.amendment_pdf."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from release.amendment_pdf import letter_pdf

HHS_COMPLAINTS = ("the Secretary of the U.S. Department of Health and Human Services, Office "
                  "for Civil Rights, 200 Independence Avenue SW, Washington, DC 20201, "
                  "www.hhs.gov/ocr/complaints, telephone 1-800-368-1019")


@dataclass(frozen=True)
class AmendedDocument:
    """The request and the document it asks to amend, as the letters name them."""

    request_id: int
    received: date
    requester: str
    requester_address: str
    patient: str
    mrn: str
    document: str  # e.g. "Document 12: discharge summary, 2024-03-01"


def amendment_pdf(about: AmendedDocument, text: str, accepted_by: str, today: date) -> bytes:
    return letter_pdf("Amendment to the health record", [
        f"Amends: {about.document}",
        f"Patient: {about.patient}, MRN {about.mrn}",
        f"Request {about.request_id}, received {about.received.isoformat()} from "
        f"{about.requester}; accepted on {today.isoformat()} by {accepted_by}.",
        "The original document is unchanged. This amendment is linked to it and goes with "
        "it whenever it is disclosed.", "", "Amendment:", text.strip()])


def denial_pdf(about: AmendedDocument, basis: str, contact: str, today: date) -> bytes:
    """The written denial of 164.526(d)(1): its basis, the right to disagree and how, the
    choice to have the request and denial go with future disclosures, and where to
    complain."""
    return letter_pdf("Denial of your request to amend your health record", [
        f"Date: {today.isoformat()}", f"To: {about.requester}", about.requester_address,
        f"Patient: {about.patient}, MRN {about.mrn}",
        f"Request {about.request_id}, received {about.received.isoformat()}",
        f"Document: {about.document}", "",
        "We have reviewed your request to amend the document named above, and we deny it.",
        "", "Basis for the denial:", basis.strip(), "",
        "Your right to disagree. You may submit a written statement disagreeing with this "
        "denial and giving your reasons. Send it to " + contact + ", naming request "
        f"{about.request_id}. We may prepare a written rebuttal to your statement; if we do, "
        "we will send you a copy. Your statement, this letter and any rebuttal are linked to "
        "the document and will be included whenever we disclose it.", "",
        "If you do not submit a statement of disagreement, you may ask us to include your "
        "request for amendment and this denial with any future disclosures of the document.",
        "", "How to complain. You may complain about this decision to us, at " + contact
        + ", or to " + HHS_COMPLAINTS + ". We will not retaliate against you for "
        "complaining.", "", "This letter is given under 45 CFR 164.526(d)."])


def disagreement_pdf(about: AmendedDocument, text: str, today: date) -> bytes:
    return letter_pdf("Statement of disagreement", [
        f"Concerning: {about.document}", f"Patient: {about.patient}, MRN {about.mrn}",
        f"The patient disagrees with the denial of request {about.request_id} to amend this "
        f"document. Statement received on {today.isoformat()}.", "", "Statement:",
        text.strip()])


def rebuttal_pdf(about: AmendedDocument, text: str, written_by: str, today: date) -> bytes:
    return letter_pdf("Rebuttal to the statement of disagreement", [
        f"Concerning: {about.document}", f"Patient: {about.patient}, MRN {about.mrn}",
        f"The hospital's rebuttal to the patient's statement of disagreement with the denial "
        f"of request {about.request_id}, written on {today.isoformat()} by {written_by}. A "
        "copy goes to the patient.", "", "Rebuttal:", text.strip()])

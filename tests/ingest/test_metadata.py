"""Metadata read from OCR text: MRNs, names, dates, ICD-10-CM codes and the document type.

The fixtures are hand-written in the shape of real transcribed reports (header block, section
headings in capitals, numbered diagnosis lists) with the noise OCR adds.
"""

from __future__ import annotations

import time
from datetime import date

import pytest

from ingest.doctypes import (
    DOCUMENT_TYPE_RULES,
    DOCUMENT_TYPES,
    score_document_types,
    suggest_document_type,
)
from ingest.icd10 import IcdCode, check_icd10_code
from ingest.metadata import DEFAULT_MRN_PATTERN, ExtractedMetadata, extract_metadata

TODAY = date(2025, 6, 1)  # fixed, so two-digit years resolve the same every year

PNEUMONIA = IcdCode("J18.9", True, "Pneumonia, unspecified organism")
DIABETES = IcdCode("E11.9", True, "Type 2 diabetes mellitus without complications")
HYPERTENSION = IcdCode("I10", True, "Essential (primary) hypertension")

DISCHARGE_SUMMARY = """\
ST. MARY'S REGIONAL MEDICAL CENTER
DISCHARGE SUMMARY

Patient Name: DOE, JANE A.            MRN: 00123456
D.O.B.: 03/14/1952                    Room: 4B-412
Admission Date: 01/02/2024            Discharge Date: January 6, 2024
Attending: Robert Chen, MD

ADMITTING DIAGNOSES:
1. Community-acquired pneumonia (J18.9)
2. Type 2 diabetes mellitus without complications (E11.9)

DISCHARGE DIAGNOSES:
1. Community-acquired pneumonia, resolved - J18.9
2. Chronic respiratory failure with hypercapnia (J96.99X)
3. Hypertension (I10)
4. Lobar pneumonia (ICD-10: J18.)
5. Old compression fracture of T11.

HOSPITAL COURSE:
The patient was admitted to room B12 on the medical floor with fever and a right lower lobe
infiltrate. Vitamin B12 level 450 pg/mL. K 3.5, WBC 11.2, Hgb 12.1. She was treated with
ceftriaxone and azithromycin and was discharged home in stable condition.

DISCHARGE MEDICATIONS:
Metformin 500 mg by mouth twice daily.

Dictated Date: 01/07/2024
Transcribed Date: 01/08/2024
"""

OPERATIVE_REPORT = """\
OPERATIVE REPORT

PATIENT: Smith, John R.          MR#: 7654321
DOB: 7/4/1948                    Date of Procedure: 2024-03-15
SURGEON: Alan Ng, MD

PREOPERATIVE DIAGNOSIS: Right inguinal hernia (K40.90).
POSTOPERATIVE DIAGNOSIS: Right direct inguinal hernia.
PROCEDURE PERFORMED: Right inguinal herniorrhaphy with mesh.
ANESTHESIA: General endotracheal anesthesia.
ESTIMATED BLOOD LOSS: Minimal.
COMPLICATIONS: None.

PROCEDURE IN DETAIL: The patient was brought to the operating room and placed in the supine
position. After general anesthesia was induced, the right groin was prepped and draped in the
usual sterile fashion. An oblique incision was made over the inguinal canal. The patient
tolerated the procedure well. Sponge and needle counts were correct.
"""

PROGRESS_NOTE = """\
PROGRESS NOTE

Patient Name: Maria de la Cruz
Date of Visit: March 3, 2024

SUBJECTIVE: Ms. de la Cruz returns for followup of her urinary tract infection. She finished
the course of nitrofurantoin and has no dysuria. See discharge summary of 02/20/2024.
OBJECTIVE: Afebrile. Abdomen soft, no CVA tenderness.
ASSESSMENT: Urinary tract infection, resolved (N39.0).
PLAN: Return as needed.
"""

# Lab values, vertebrae, vitamins, rooms and dosing times that have the shape of a code.
NOT_CODES = """\
LABORATORY DATA: K 3.5, Na 138, Hgb 12.1, PLT 250, B12 450 pg/mL, A1c 7.2, D10W at 50 mL/h.
Room B12, bed A12. Accession S12-34567. Temp T36.8C.

ASSESSMENT AND PLAN:
1. Hypokalemia - K 3.5 this morning, replete; recheck BMP q12h.
2. Vitamin B12 deficiency - start B12 1000 mcg IM daily; heparin 5000 units SQ Q12H.
3. Compression fracture of T11 and L4-L5 stenosis, C5-C6 disc disease.
4. Anemia (Hgb 8.1, MCV 72), iron studies pending.
5. Transfer to room B12 when a bed is free.
"""


def test_discharge_summary_header_diagnoses_and_type():
    assert extract_metadata(DISCHARGE_SUMMARY, today=TODAY) == ExtractedMetadata(
        mrns=("00123456",),
        patient_names=("DOE, JANE",),
        dates_of_birth=(date(1952, 3, 14),),
        dates_of_service=(date(2024, 1, 2), date(2024, 1, 6)),  # not the dictation dates
        icd10_codes=(
            PNEUMONIA,
            DIABETES,
            IcdCode("J96.99X", False, None),  # the right shape, but no such code
            HYPERTENSION,
            IcdCode("J18.", False, None),  # malformed: reported as printed, never looked up
        ),  # T11 (a vertebra) and B12 (a room, a vitamin) are not codes
        suggested_type="discharge_summary",
    )


def test_operative_report():
    assert extract_metadata(OPERATIVE_REPORT, today=TODAY) == ExtractedMetadata(
        mrns=("7654321",),
        patient_names=("SMITH, JOHN",),
        dates_of_birth=(date(1948, 7, 4),),
        dates_of_service=(date(2024, 3, 15),),
        icd10_codes=(
            IcdCode(
                "K40.90",
                True,
                "Unilateral inguinal hernia, without obstruction or gangrene, "
                "not specified as recurrent",
            ),
        ),
        suggested_type="operative_report",
    )


def test_progress_note_without_mrn():
    metadata = extract_metadata(PROGRESS_NOTE, today=TODAY)
    assert metadata.mrns == ()
    assert metadata.patient_names == ("DE LA CRUZ, MARIA",)
    assert metadata.dates_of_birth == ()
    assert metadata.dates_of_service == (date(2024, 3, 3),)
    assert metadata.icd10_codes == (
        IcdCode("N39.0", True, "Urinary tract infection, site not specified"),
    )
    # The passing mention of a discharge summary does not outweigh the note's own title.
    assert metadata.suggested_type == "progress_note"


def test_room_numbers_and_lab_values_are_not_icd_codes():
    assert extract_metadata(NOT_CODES, today=TODAY).icd10_codes == ()


def test_codes_are_taken_where_the_context_says_diagnosis_code():
    text = """\
ICD-10-CM: j189, E119; Z99.999
DIAGNOSES:
Hypertension: I10
E78.5 Hyperlipidemia
I25.10 - Coronary artery disease
Atrial fibrillation [I48.91]
The knee was examined in room C12 and an X-ray taken at 10:15.
"""
    codes = extract_metadata(text, today=TODAY).icd10_codes
    assert [(c.code, c.valid) for c in codes] == [
        ("J18.9", True),  # normalised: upper case, dot added
        ("E11.9", True),
        ("Z99.999", False),  # well-formed but unknown
        ("I10", True),
        ("E78.5", True),
        ("I25.10", True),
        ("I48.91", True),
    ]


def test_icd_codes_are_de_duplicated_in_order_of_appearance():
    text = "Dx: J18.9\nICD-10: I10, J18.9\nFinal diagnosis: pneumonia (J18.9)\n"
    assert extract_metadata(text, today=TODAY).icd10_codes == (PNEUMONIA, HYPERTENSION)


def test_a_text_without_line_breaks_keeps_labels_to_their_sentence():
    flattened = " ".join(DISCHARGE_SUMMARY.split())
    metadata = extract_metadata(flattened, today=TODAY)
    assert [c.code for c in metadata.icd10_codes] == ["J18.9", "E11.9", "J96.99X", "I10", "J18."]
    assert metadata.mrns == ("00123456",)


def test_check_icd10_code_normalises_and_validates():
    assert check_icd10_code("j18.9") == PNEUMONIA
    assert check_icd10_code(" E119 ") == DIABETES
    assert check_icd10_code("C4A.0") == IcdCode("C4A.0", True, "Merkel cell carcinoma of lip")
    assert check_icd10_code("S72001A").code == "S72.001A"
    assert check_icd10_code("J18.99X") == IcdCode("J18.99X", False, None)
    assert check_icd10_code("J18.") == IcdCode("J18.", False, None)
    assert check_icd10_code("J18.99999") == IcdCode("J18.99999", False, None)
    assert check_icd10_code("528.3") == IcdCode("528.3", False, None)  # an ICD-9 code


def test_two_digit_years_pivot_so_births_are_never_in_the_future():
    text = """\
Patient: Lee, Anna     DOB: 07/14/52
Patient: Lee, Ben      DOB: 3/4/05
Patient: Lee, Carl     DOB 12/31/30
DOS: 01/05/24
Date of Service: 03/15/98
"""
    metadata = extract_metadata(text, today=TODAY)
    assert metadata.patient_names == ("LEE, ANNA", "LEE, BEN", "LEE, CARL")
    assert metadata.dates_of_birth == (date(1952, 7, 14), date(2005, 3, 4), date(1930, 12, 31))
    assert metadata.dates_of_service == (date(2024, 1, 5), date(1998, 3, 15))


def test_noisy_ocr_labels():
    text = """\
PATIENT  NAME :  DOE , JANE
M R N : 00123456
D.O.B.: 01/02/1960
DOB :02/03/1961
Date  of  Service :  02/03/2024
medical record number:A1234567
MRN: 12O4567
"""
    metadata = extract_metadata(text, today=TODAY)
    assert metadata.patient_names == ("DOE, JANE",)
    # The OCR'd letter O in the last MRN is reported as printed, not "fixed" to a zero.
    assert metadata.mrns == ("00123456", "A1234567", "12O4567")
    assert metadata.dates_of_birth == (date(1960, 1, 2), date(1961, 2, 3))
    assert metadata.dates_of_service == (date(2024, 2, 3),)


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("Date of Service: 01/05/2024", date(2024, 1, 5)),
        ("Date of Service: 1/5/24", date(2024, 1, 5)),
        ("Date of Service: 2024-01-05", date(2024, 1, 5)),
        ("Date of Service: January 5, 2024", date(2024, 1, 5)),
        ("Date of Service: Jan. 5 2024", date(2024, 1, 5)),
        ("Date of Service: 5 Jan 2024", date(2024, 1, 5)),
        ("Date of Service: 05-JAN-2024", date(2024, 1, 5)),
        ("Date of Service: Friday, January 5, 2024", date(2024, 1, 5)),
        ("Date of Admission: 01/05/2024", date(2024, 1, 5)),
        ("Discharge Date: 01/05/2024", date(2024, 1, 5)),
        ("Date of Procedure: 01/05/2024", date(2024, 1, 5)),
        ("Visit Date: 01/05/2024", date(2024, 1, 5)),
        ("Date: 01/05/2024", date(2024, 1, 5)),
    ],
)
def test_date_formats_and_service_labels(field, expected):
    assert extract_metadata(field, today=TODAY).dates_of_service == (expected,)


def test_impossible_dates_are_dropped_silently():
    text = "Date of Service: 02/30/2024\nDOB: 13/01/1960\nDate of Service: 02/29/2024\n"
    metadata = extract_metadata(text, today=TODAY)
    assert metadata.dates_of_service == (date(2024, 2, 29),)
    assert metadata.dates_of_birth == ()


def test_dates_and_names_of_other_people_are_not_the_patients():
    text = """\
Wife's name:  Sample Name
Emergency Contact Name: John Doe
Pulse Generator Model Name:  Sigma
Mother's DOB: 01/01/1950
Dictated Date: 01/07/2024
Patient: The patient is a 45-year-old man.
DOB: 12/25/2030
"""
    metadata = extract_metadata(text, today=TODAY)
    assert metadata.patient_names == ()
    assert metadata.dates_of_birth == ()  # the mother's, and one in the future
    assert metadata.dates_of_service == ()


def test_names_in_either_order_lose_titles_middle_names_and_suffixes():
    text = """\
Patient: Mr. Robert James O'Neil Jr.
Patient Name: VAN DER BERG, ANNA M
Name: Smith-Jones, Mary Ellen
"""
    assert extract_metadata(text, today=TODAY).patient_names == (
        "O'NEIL, ROBERT",
        "VAN DER BERG, ANNA",
        "SMITH-JONES, MARY",
    )


def test_mrns_are_de_duplicated_in_order_and_need_a_label():
    text = """\
MRN: 111111   Acct #: 99887766
Order 123456, room 4412, phone 555-1234
MR No. 222222
Medical Record #: 111111
DISCHARGE SUMMARY - DOE, JANE - MRN-1001
Vaccine: mRNA-1273, lot 045C21A
"""
    assert extract_metadata(text, today=TODAY).mrns == ("111111", "222222", "MRN-1001")


def test_custom_mrn_pattern():
    text = "Unit No. 0048213   Acct: 77\nMRN: 999999\nUnit No.: 0048213\nUnit No 0051111\n"
    named = r"Unit\s+No\.?:?\s*(?P<mrn>\d{7})"
    assert extract_metadata(text, mrn_pattern=named).mrns == ("0048213", "0051111")
    first_group = r"Unit\s+No\.?:?\s*(\d{7})"
    assert extract_metadata(text, mrn_pattern=first_group).mrns == ("0048213", "0051111")
    whole_match = r"\b005\d{4}\b"
    assert extract_metadata(text, mrn_pattern=whole_match).mrns == ("0051111",)
    assert extract_metadata(text).mrns == ("999999",)
    assert extract_metadata(text, mrn_pattern=DEFAULT_MRN_PATTERN).mrns == ("999999",)


def test_an_invalid_mrn_pattern_is_a_clear_error():
    with pytest.raises(ValueError, match="not a valid regular expression"):
        extract_metadata("MRN: 123456", mrn_pattern=r"MRN: (\d+")


TYPE_SAMPLES = {
    "discharge_summary": DISCHARGE_SUMMARY,
    "operative_report": OPERATIVE_REPORT,
    "progress_note": PROGRESS_NOTE,
    "history_and_physical": """\
HISTORY AND PHYSICAL
CHIEF COMPLAINT: Chest pain.
HISTORY OF PRESENT ILLNESS: A 61-year-old man with two hours of substernal chest pain.
PAST MEDICAL HISTORY: Hypertension.
ALLERGIES: None known.
PHYSICAL EXAMINATION: Comfortable. Heart regular.
PLAN: Admit to telemetry.
""",
    "consultation": """\
REASON FOR CONSULTATION: Left flank pain, ureteral stone.
HISTORY OF PRESENT ILLNESS: The patient was referred by Dr. X for a 1.3 cm left ureteral
stone.
PAST MEDICAL HISTORY: Negative.
RECOMMENDATIONS: Ureteroscopy with laser lithotripsy.
Thank you for allowing us to participate in the care of this patient.
""",
    "radiology_report": """\
ULTRASOUND OF THE SCROTUM
REASON FOR EXAM: Scrotal pain.
TECHNIQUE: Duplex and color flow Doppler imaging of the scrotum was performed.
FINDINGS: The left testicle measures 5.1 x 2.8 x 3.0 cm with normal Doppler blood flow.
IMPRESSION: Trace bilateral hydroceles.
""",
    "lab_report": """\
LABORATORY REPORT
Collected: 01/05/2024 06:10     Received: 01/05/2024 06:45
TEST NAME          RESULT    UNITS     REFERENCE RANGE
Sodium             138       mmol/L    135-145
Glucose            182 H     mg/dL     70-99
Hemoglobin         12.1      g/dL      12.0-16.0
""",
    "emergency_department_note": """\
EMERGENCY DEPARTMENT REPORT
CHIEF COMPLAINT: Blood in urine.
HISTORY OF PRESENT ILLNESS: A 78-year-old man who presented to the emergency department with
gross hematuria since yesterday, brought in by ambulance.
ED COURSE: A three-way catheter was placed and irrigated.
MEDICAL DECISION MAKING: Clot retention from known bladder metastases.
DISPOSITION: Admitted to urology.
""",
    "pathology_report": """\
SURGICAL PATHOLOGY REPORT
SPECIMENS: 1. Right pelvic obturator lymph nodes. 2. Prostate and seminal vesicles.
GROSS DESCRIPTION: Received in formalin, labeled "right pelvic obturator lymph nodes".
MICROSCOPIC DESCRIPTION: Sections are submitted in cassettes A1 through A4.
FINAL DIAGNOSIS: Adenocarcinoma of the prostate, Gleason score 4+5=9.
""",
    "correspondence": """\
Sample Clinic, 123 Main Street
RE: Jane Doe
Dear Dr. Xavier:
Jane was seen in followup in the Pediatric Urology Clinic today. Her pain has resolved.
Please do not hesitate to call me with any questions.
Sincerely,
""",
}


def test_every_documented_type_has_a_rule_and_a_sample():
    assert tuple(rule.name for rule in DOCUMENT_TYPE_RULES) == DOCUMENT_TYPES
    assert set(DOCUMENT_TYPES) == set(TYPE_SAMPLES)


@pytest.mark.parametrize("expected", sorted(TYPE_SAMPLES))
def test_suggested_type(expected):
    assert suggest_document_type(TYPE_SAMPLES[expected]) == expected


def test_a_title_at_the_top_beats_passing_mentions():
    text = (
        "DISCHARGE SUMMARY\n"
        "The operative report, the radiology report and the pathology report are attached.\n"
        "PROCEDURES: Laparoscopic cholecystectomy. ANESTHESIA: General.\n"
    )
    scores = score_document_types(text)
    assert suggest_document_type(text) == "discharge_summary"
    assert scores["discharge_summary"] > scores["operative_report"]


def test_no_type_when_nothing_matches():
    assert suggest_document_type("") is None
    assert suggest_document_type("Scanned page 2 of 3.\nPlease file in chart.") is None


def test_a_megabyte_chart_is_processed_quickly():
    # A 300-page chart is about 1 MB of text; the budget is generous (a test, not a benchmark).
    check_icd10_code("J18.9")  # loading the code set takes seconds once per process: not timed
    filler = (
        "The patient tolerated the procedure well and was transferred to the recovery room "
        "in stable condition. Vital signs remained stable throughout the stay.\n"
    )
    page = DISCHARGE_SUMMARY + NOT_CODES + PROGRESS_NOTE + OPERATIVE_REPORT + filler * 12
    chart = "\f".join([page] * (1_000_000 // len(page) + 1))
    started = time.perf_counter()
    metadata = extract_metadata(chart, today=TODAY)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0
    assert metadata.mrns == ("00123456", "7654321")
    assert metadata.suggested_type == "discharge_summary"

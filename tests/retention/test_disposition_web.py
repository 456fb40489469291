"""The compliance pages for retention policies and disposition batches (SQLite and
PostgreSQL): policies set from a preset or from clocks, versioned, previewed without saving;
batches reviewed with why each document is due, items excluded, the batch approved by two
different officers against the count each saw, executed, and its certificate downloaded; a
clock below the floor and a second approval by the same officer refused."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from archive.models import AuditEvent, Document
from archive.records.patients import find_patient, register_patient
from retention.clocks import Rules
from retention.disposition import sweep
from retention.models import DispositionBatch, DispositionItem
from retention.policies import policy_history, save_policy
from tests.conftest import SYSTEM
from tests.retention.disposing import FLOORS
from tests.retention.holding import place
from tests.retention.test_holds_web import logged_in

TODAY = date.today()  # execution judges "due" against the real today, so the sweep does too
FILED = datetime(1990, 6, 1, 9, 0, tzinfo=UTC)
AHIMA_SOURCE = "AHIMA practice brief"


@pytest.fixture
def officer_web(app, people):
    return logged_in(app, "compliance1")


@pytest.fixture
def officer(people):
    return people.principal("compliance")


def _patient(ext, mrn: str, dob: date = date(1950, 3, 4)) -> None:
    with ext.db.transaction() as session:
        register_patient(session, SYSTEM, mrn=mrn, name=f"{mrn.replace('-', ' ')}, PAT", dob=dob)


def _document(ext, mrn: str, served: date, doc_type: str = "discharge_summary") -> int:
    """A document row without stored versions: enough to date, list and destroy."""
    with ext.db.transaction() as session:
        document = Document(uid=uuid.uuid4().hex, patient_id=find_patient(session, mrn).id,
                            doc_type=doc_type, date_of_service=served, created_at=FILED,
                            status="ready")
        session.add(document)
        session.flush()
        return document.id


def _policy(ext, principal, doc_type: str, rules: Rules) -> None:
    with ext.db.transaction() as session:
        save_policy(session, principal, doc_type, name=f"{doc_type} schedule", rules=rules,
                    source="HIM-12", reason="the schedule", floors=FLOORS)


def _versions(ext, doc_type: str) -> list[tuple[int, str]]:
    with ext.db.transaction() as session:
        return [(p.version, p.name) for p in policy_history(session, doc_type)]


def _form(web, **fields) -> dict:
    return {"csrf_token": web.token, **fields}


CLOCKS = {"basis": "clocks", "preset": "", "name": "Lab results", "source": "State rule 7",
          "after_last_encounter_years": "7", "age_of_majority": "", "after_majority_years": "",
          "after_death_years": ""}


# --- policies ----------------------------------------------------------------------------------


def test_the_default_policy_is_set_from_a_preset_and_the_warning_goes(officer_web):
    listing = officer_web.get("/retention/policies").get_data(as_text=True)
    assert "No default policy is set" in listing
    assert '<option value="ahima">AHIMA recommendation</option>' in listing
    assert AHIMA_SOURCE in listing  # each preset with its source

    response = officer_web.post("/retention/policies", data=_form(
        officer_web, doc_type="*", basis="preset", preset="ahima", reason="Adopted by HIM"))

    assert response.status_code == 303
    assert response.headers["Location"].endswith("/retention/policies/*")
    page = officer_web.get(response.headers["Location"]).get_data(as_text=True)
    assert "The default retention policy is saved as version 1." in page
    assert "<h1>Default retention policy</h1>" in page
    assert "AHIMA recommendation" in page and AHIMA_SOURCE in page
    assert ("10 years after the last encounter; for a patient under 18 at the last encounter, "
            "10 years after turning 18: whichever comes latest.") in page
    listing = officer_web.get("/retention/policies").get_data(as_text=True)
    assert "No default policy is set" not in listing
    assert re.search(r'data-policy="\*">.*?Default \(\*\).*?AHIMA recommendation', listing, re.S)


def test_a_policy_from_clocks_then_edited_keeps_both_versions(ext, officer_web):
    created = officer_web.post("/retention/policies", data=_form(
        officer_web, doc_type="lab_report", reason="First schedule", **CLOCKS))
    assert created.status_code == 303
    assert created.headers["Location"].endswith("/retention/policies/lab_report")
    page = officer_web.get("/retention/policies/lab_report").get_data(as_text=True)
    assert "7 years after the last encounter." in page
    assert 'value="7"' in page  # the edit form starts from the current version
    assert "Save as version 2" in page

    edited = officer_web.post("/retention/policies/lab_report", data=_form(
        officer_web, reason="Board decision of 3 May",
        **{**CLOCKS, "name": "Lab results (longer)", "after_last_encounter_years": "8",
           "after_death_years": "5"}))

    assert edited.status_code == 303
    assert _versions(ext, "lab_report") == [(2, "Lab results (longer)"), (1, "Lab results")]
    page = officer_web.get("/retention/policies/lab_report").get_data(as_text=True)
    assert "saved as version 2" in page
    history = page[page.index('class="data-table policy-history"'):]
    assert re.search(r'data-version="2">.*?Lab results \(longer\).*?8 years after the last '
                     r'encounter; 5 years after death.*?compliance1.*?Board decision of 3 May'
                     r'.*?data-version="1">.*?7 years after.*?First schedule', history, re.S)
    listing = officer_web.get("/retention/policies").get_data(as_text=True)
    assert re.search(r'data-policy="lab_report">.*?Lab results \(longer\).*?<td class="num">2<',
                     listing, re.S)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"after_last_encounter_years": "ten"}, "Years after the last encounter must be a whole"),
        ({"after_last_encounter_years": "-3"}, "Years after the last encounter must be a whole"),
        ({"age_of_majority": "40"}, "The age of majority must be a whole number from 16"),
        ({"after_death_years": "2.5"}, "Years after death must be a whole number"),
        ({"after_last_encounter_years": ""}, "Choose at least one clock"),
        ({"permanent": "yes"}, "A permanent policy keeps records forever"),
        ({"reason": ""}, "reason for this version"),
        ({"name": " "}, "Give the policy&#39;s name"),
        ({"doc_type": "Lab Report!"}, "Give the document type"),
        ({"basis": "preset"}, "Choose the preset to start from"),
    ],
)
def test_a_bad_value_is_refused_400_naming_it_and_nothing_is_saved(ext, officer_web, changes,
                                                                   named):
    fields = {"doc_type": "lab_report", "reason": "First schedule", **CLOCKS, **changes}

    response = officer_web.post("/retention/policies", data=_form(officer_web, **fields))

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert named in page
    assert 'role="alert" id="new-policy-error"' in page
    assert _versions(ext, "lab_report") == []


def test_a_bad_value_on_the_edit_form_is_refused_400_and_keeps_what_was_typed(ext, officer,
                                                                             officer_web):
    _policy(ext, officer, "lab_report", Rules(after_last_encounter_years=7))

    response = officer_web.post("/retention/policies/lab_report", data=_form(
        officer_web, reason="Longer", **{**CLOCKS, "after_last_encounter_years": "101"}))

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Years after the last encounter must be a whole number from 0 to 100, not 101." in page
    assert 'value="101"' in page and "Longer</textarea>" in page
    assert _versions(ext, "lab_report") == [(1, "lab_report schedule")]


def test_a_clock_below_the_floor_is_refused_422_named_and_audited(ext, officer, officer_web):
    _policy(ext, officer, "*", Rules(after_last_encounter_years=10))
    zero = {**CLOCKS, "after_last_encounter_years": "0"}

    created = officer_web.post("/retention/policies", data=_form(
        officer_web, doc_type="lab_report", reason="Shred at once", **zero))
    edited = officer_web.post("/retention/policies/*", data=_form(
        officer_web, reason="Shred at once", **zero))
    previewed = officer_web.post("/retention/policies/*/preview", data=_form(
        officer_web, reason="", **zero))

    for response in (created, edited, previewed):
        assert response.status_code == 422
        page = response.get_data(as_text=True)
        assert "No retention clock may be shorter than 1 year" in page
        assert "Years after the last encounter is 0" in page
        assert "CHARTVAULT_RETENTION_MIN_YEARS" in page
        assert 'role="alert"' in page and 'value="0"' in page
    assert _versions(ext, "lab_report") == [] and _versions(ext, "*") == [(1, "* schedule")]
    # Saving was refused twice; the preview saves nothing, so it is no attempt to audit.
    assert _count(ext, AuditEvent.action == "retention.policy_refused",
                  AuditEvent.outcome == "refused", AuditEvent.actor == "compliance1") == 2
    assert "No clock may be shorter than 1 year" in officer_web.get(
        "/retention/policies").get_data(as_text=True)


def test_the_preview_shows_what_a_change_makes_due_and_saves_nothing(ext, officer, officer_web):
    _policy(ext, officer, "*", Rules(after_last_encounter_years=10))
    for mrn in ("OLD-1", "MID-1", "MID-2", "NEW-1"):
        _patient(ext, mrn)
    _document(ext, "OLD-1", date(1995, 1, 1))  # due under either
    _document(ext, "MID-1", TODAY.replace(year=TODAY.year - 8, day=1))  # due only under 5 years
    _document(ext, "MID-2", TODAY.replace(year=TODAY.year - 8, day=1))  # the same, held
    _document(ext, "NEW-1", TODAY.replace(day=1))  # due under neither
    place(ext, officer, mrns=["MID-2"])
    events_before = _count(ext, AuditEvent.action == "retention.policy_saved")

    response = officer_web.post("/retention/policies/*/preview", data=_form(
        officer_web, reason="", **{**CLOCKS, "after_last_encounter_years": "5"}))

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Preview: nothing is saved" in page
    figures = dict(re.findall(r'<dd class="preview-([a-z-]+)">([\d,]+)</dd>', page))
    assert figures == {"documents": "4", "due-now": "1", "due-after": "3", "newly-due": "2",
                       "held": "1"}
    assert "5 years after the last encounter" in page
    assert 'value="5"' in page  # the form keeps the proposal, ready to save
    assert _versions(ext, "*") == [(1, "* schedule")]
    assert _count(ext, AuditEvent.action == "retention.policy_saved") == events_before


def test_a_preset_is_previewed_for_a_new_type_from_the_policies_page(ext, officer, officer_web):
    _policy(ext, officer, "*", Rules(after_last_encounter_years=10))
    _patient(ext, "OLD-1")
    _document(ext, "OLD-1", date(1995, 1, 1), doc_type="birth_record")

    response = officer_web.post("/retention/policies/preview", data=_form(
        officer_web, doc_type="birth_record", basis="preset", preset="permanent", reason=""))

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Retention policy: birth_record" in page
    assert "has no policy of its own: the default policy governs it" in page
    figures = dict(re.findall(r'<dd class="preview-([a-z-]+)">([\d,]+)</dd>', page))
    assert figures == {"documents": "1", "due-now": "1", "due-after": "0", "newly-due": "0",
                       "held": "0"}
    assert _versions(ext, "birth_record") == []


# --- disposition -------------------------------------------------------------------------------


@pytest.fixture
def swept(ext, officer) -> dict[str, list[int]]:
    """A batch in review: two old patients' documents; a held old patient and a recent one
    left out. Returns {mrn: [document ids]}."""
    _policy(ext, officer, "*", Rules(after_last_encounter_years=10))
    served = {"OLD-1": [date(1990, 2, 3), date(1994, 5, 6)], "OLD-2": [date(1995, 7, 8)],
              "HELD-1": [date(1990, 1, 1)], "NEW-1": [TODAY.replace(day=1)]}
    documents = {}
    for mrn, dates in served.items():
        _patient(ext, mrn)
        documents[mrn] = [_document(ext, mrn, day) for day in dates]
    place(ext, officer, mrns=["HELD-1"])
    with ext.db.transaction() as session:
        assert sweep(session, today=TODAY, floors=FLOORS).added == 3
    return documents


def _batch_id(ext) -> int:
    with ext.db.transaction() as session:
        return session.scalar(select(DispositionBatch.id))


def _count(ext, *where) -> int:
    with ext.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent).where(*where))


def _item_of(ext, document_id: int) -> DispositionItem:
    with ext.db.transaction() as session:
        return session.scalars(
            select(DispositionItem).where(DispositionItem.document_id == document_id)).one()


def test_the_batch_lists_each_due_document_with_why_and_leaves_out_the_held(ext, officer_web,
                                                                            swept):
    batch_id = _batch_id(ext)
    listing = officer_web.get("/retention/disposition").get_data(as_text=True)
    assert re.search(rf'data-batch="{batch_id}">.*?Batch #{batch_id}.*?In review.*?'
                     r'<td class="num">3</td>', listing, re.S)

    page = officer_web.get(f"/retention/disposition/{batch_id}").get_data(as_text=True)

    listed = {int(n) for n in re.findall(r'data-document="(\d+)"', page)}
    assert listed == {*swept["OLD-1"], *swept["OLD-2"]}
    assert 'data-mrn="HELD-1"' not in page and 'data-mrn="NEW-1"' not in page
    assert "OLD 1, PAT" in page
    # The last encounter is the patient's latest, for every document of theirs.
    assert page.count("10 years after the last encounter (1994-05-06): "
                      '<span class="nowrap">2004-05-06</span>') == 2
    assert "10 years after the last encounter (1995-07-08)" in page
    assert "* schedule" in page and "default, version 1" in page
    assert '<input type="hidden" name="pending_seen" value="3">' in page
    assert "Approve destruction of 3 documents" in page
    assert page.count('class="form exclude-form"') == 3


def test_an_exclusion_needs_a_reason_and_keeps_the_document(ext, officer_web, swept):
    batch_id = _batch_id(ext)
    item = _item_of(ext, swept["OLD-2"][0])
    url = f"/retention/disposition/{batch_id}/items/{item.id}/exclude"

    refused = officer_web.post(url, data=_form(officer_web, reason="  ", page="1"))
    assert refused.status_code == 400
    assert "Say why this document is excluded" in refused.get_data(as_text=True)
    assert _item_of(ext, swept["OLD-2"][0]).status == "pending"

    excluded = officer_web.post(url, data=_form(officer_web, reason="Research hold, IRB-22",
                                                page="1"))

    assert excluded.status_code == 303
    after = _item_of(ext, swept["OLD-2"][0])
    assert (after.status, after.note, after.decided_by) == (
        "excluded", "Research hold, IRB-22", "compliance1")
    page = officer_web.get(excluded.headers["Location"]).get_data(as_text=True)
    assert f"Document #{swept['OLD-2'][0]} is excluded from batch #{batch_id}" in page
    assert "Research hold, IRB-22" in page
    assert '<input type="hidden" name="pending_seen" value="2">' in page
    assert page.count('class="form exclude-form"') == 2


def test_two_officers_approve_after_a_stale_count_and_the_same_one_twice_are_refused(
        app, ext, officer, second_officer, officer_web, swept):
    batch_id = _batch_id(ext)
    base = f"/retention/disposition/{batch_id}"

    stale = officer_web.post(f"{base}/approve", data=_form(officer_web, pending_seen="2"))
    assert stale.status_code == 409
    assert ("now has 3 documents to destroy, not the 2 you reviewed"
            in stale.get_data(as_text=True))
    too_early = officer_web.post(f"{base}/execute", data=_form(officer_web))
    assert too_early.status_code == 409
    assert ("cannot be executed yet: it needs two approvals, by two different compliance "
            "officers" in too_early.get_data(as_text=True))

    first = officer_web.post(f"{base}/approve", data=_form(officer_web, pending_seen="3"))
    assert first.status_code == 303
    page = officer_web.get(base).get_data(as_text=True)
    assert "has your approval, the first of two" in page
    assert "Awaiting second approval" in page and "You gave the first approval" in page
    assert re.search(r'class="first-approval">.*? by compliance1<', page)
    assert '<dd class="second-approval">not yet given</dd>' in page
    assert "A second approval, by a compliance officer other than compliance1" in page
    assert "Execute now" not in page and 'class="form approve-form"' not in page
    listing = officer_web.get("/retention/disposition").get_data(as_text=True)
    assert re.search(rf'data-batch="{batch_id}">.*?Awaiting second approval.*?by compliance1'
                     r'.*?second approval needed', listing, re.S)

    again = officer_web.post(f"{base}/approve", data=_form(officer_web, pending_seen="3"))
    assert again.status_code == 409
    assert ("another compliance officer must give the second approval"
            in again.get_data(as_text=True))
    half = officer_web.post(f"{base}/execute", data=_form(officer_web))
    assert half.status_code == 409
    assert "needs a second approval" in half.get_data(as_text=True)
    assert _count(ext, AuditEvent.action.in_(["disposition.approval_refused",
                                              "disposition.execution_refused"]),
                  AuditEvent.outcome == "refused") == 4
    with ext.db.transaction() as session:
        assert session.scalar(select(func.count(Document.id))) == 5  # nothing destroyed

    second_web = logged_in(app, "compliance2")
    page = second_web.get(base).get_data(as_text=True)
    assert "Give the second approval to destroy 3 documents" in page
    assert page.count('class="form exclude-form"') == 3  # the second officer may still keep one
    second = second_web.post(f"{base}/approve", data=_form(second_web, pending_seen="3"))
    assert second.status_code == 303
    assert ("is approved by compliance1 and compliance2"
            in second_web.get(second.headers["Location"]).get_data(as_text=True))
    page = officer_web.get(base).get_data(as_text=True)
    assert "Approved by compliance1 and compliance2" in page
    assert re.search(r'class="second-approval">.*? by compliance2<', page)
    assert "Execute now" in page and 'class="form exclude-form"' not in page

    executed = officer_web.post(f"{base}/execute", data=_form(officer_web))

    assert executed.status_code == 303
    page = officer_web.get(base).get_data(as_text=True)
    assert (f"Batch #{batch_id}: 3 documents destroyed; the destruction certificate is stored"
            in page)
    assert page.count(">Destroyed</span>") == 3
    with ext.db.transaction() as session:
        remaining = set(session.scalars(select(Document.id)))
        sha256 = session.get(DispositionBatch, batch_id).certificate_sha256
    assert remaining == {*swept["HELD-1"], *swept["NEW-1"]}
    assert sha256 in page

    certificate = officer_web.get(f"{base}/certificate")

    assert certificate.status_code == 200
    assert certificate.mimetype == "application/pdf"
    assert certificate.headers["Content-Disposition"] == (
        f'attachment; filename="destruction-certificate-batch-{batch_id}.pdf"')
    assert certificate.data.startswith(b"%PDF")
    assert hashlib.sha256(certificate.data).hexdigest() == sha256
    assert _count(ext, AuditEvent.action == "disposition.certificate_downloaded") == 1
    listing = officer_web.get("/retention/disposition").get_data(as_text=True)
    assert f'href="/retention/disposition/{batch_id}/certificate"' in listing


def test_a_batch_without_a_certificate_or_unknown_is_refused(ext, officer_web, swept):
    batch_id = _batch_id(ext)
    assert officer_web.get(f"/retention/disposition/{batch_id}/certificate").status_code == 409
    assert officer_web.get("/retention/disposition/999").status_code == 404
    assert officer_web.post("/retention/disposition/999/approve",
                            data=_form(officer_web, pending_seen="1")).status_code == 404


ROUTES = [
    ("GET", "/retention/policies"),
    ("POST", "/retention/policies"),
    ("POST", "/retention/policies/preview"),
    ("GET", "/retention/policies/*"),
    ("POST", "/retention/policies/*"),
    ("POST", "/retention/policies/*/preview"),
    ("GET", "/retention/disposition"),
    ("GET", "/retention/disposition/{batch}"),
    ("POST", "/retention/disposition/{batch}/items/{item}/exclude"),
    ("POST", "/retention/disposition/{batch}/approve"),
    ("POST", "/retention/disposition/{batch}/execute"),
    ("GET", "/retention/disposition/{batch}/certificate"),
]


@pytest.mark.parametrize("role", ["clerk", "staff"])
def test_clerks_and_staff_are_refused_every_page_and_action(app, ext, role, swept):
    web = logged_in(app, role + "1")
    batch_id = _batch_id(ext)
    item_id = _item_of(ext, swept["OLD-1"][0]).id
    # Every rule of the two blueprints is listed above.
    rules = {(method, rule.rule) for rule in app.url_map.iter_rules()
             if rule.endpoint.split(".")[0] in ("policies", "disposition")
             for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert len(rules) == len(ROUTES)
    for method, path in ROUTES:
        url = path.format(batch=batch_id, item=item_id)
        response = web.open(url, method=method, data=_form(web, reason="x", pending_seen="3",
                                                           **CLOCKS, doc_type="*"))
        assert response.status_code == 403, (role, method, url)
    assert _versions(ext, "*") == [(1, "* schedule")]
    assert _item_of(ext, swept["OLD-1"][0]).status == "pending"

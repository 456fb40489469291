"""Restricted charts and breaking the glass: the rules of archive.auth.restricted, through the
service functions web, API and CLI share. Time is passed in (``now``), never frozen."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from archive.auth.permissions import Principal
from archive.auth.restricted import (
    REVIEW_PAGE_SIZE,
    granted_patient_ids,
    grants_to_review,
    require_chart_access,
    review_grant,
)
from archive.errors import BadRequest, Conflict, PermissionDenied, RestrictedRecord
from archive.models import AccessGrant, AuditEvent, Patient, User, utcnow
from archive.records.patients import view_patient
from tests.archive.conftest import OTHER_VIP, REASON, VIP, grant
from tests.conftest import SYSTEM, add_user


def patient_id(ext, mrn) -> int:
    with ext.db.transaction() as session:
        return session.scalar(select(Patient.id).where(Patient.mrn == mrn))


def may_open(ext, principal, mrn, now=None) -> bool:
    with ext.db.transaction() as session:
        patient = session.scalar(select(Patient).where(Patient.mrn == mrn))
        try:
            require_chart_access(session, principal, patient, now=now)
        except RestrictedRecord:
            return False
    return True


def audited(ext, action):
    with ext.db.transaction() as session:
        return session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        ).all()


def grant_count(ext) -> int:
    with ext.db.transaction() as session:
        return session.scalar(select(func.count(AccessGrant.id)))


def another(ext, username, role) -> Principal:
    add_user(ext, username, role)
    with ext.db.transaction() as session:
        user = session.scalar(select(User).where(User.username == username))
        return Principal(user.username, user.role, user.id, "tests")


def test_a_restricted_chart_is_refused_without_a_grant_and_the_refusal_is_audited(
    ext, people, restricted
):
    with pytest.raises(RestrictedRecord) as refused, ext.db.transaction() as session:
        view_patient(session, people.principal("staff"), VIP)
    assert (refused.value.http_status, refused.value.code) == (403, "restricted_record")
    assert "break the glass" in refused.value.message and VIP in refused.value.message
    [event] = audited(ext, "chart.restricted_refused")
    assert (event.actor, event.outcome, event.patient_mrn) == ("staff1", "refused", VIP)
    assert audited(ext, "patient.view") == []  # the refused view itself left no trace


def test_unrestricted_charts_and_the_system_role_need_no_grant(ext, people, restricted, patient):
    assert may_open(ext, people.principal("staff"), patient)
    assert may_open(ext, SYSTEM, VIP)
    assert not may_open(ext, people.principal("compliance"), VIP)
    assert len(audited(ext, "chart.restricted_refused")) == 1


@pytest.mark.parametrize("reason", ["", "          ", "urgent", "  a  b   c  d \n e  "])
def test_breaking_the_glass_needs_a_meaningful_reason(ext, people, restricted, reason):
    with pytest.raises(BadRequest, match="at least 10 characters"):
        grant(ext, people.principal("staff"), reason=reason)
    assert grant_count(ext) == 0 and audited(ext, "patient.break_glass") == []


def test_only_the_roles_that_read_charts_may_break_the_glass(ext, people, restricted, patient):
    for role in ("clerk", "admin"):
        with pytest.raises(PermissionDenied) as refused:
            grant(ext, people.principal(role))
        assert refused.value.code == "permission_denied"
    with pytest.raises(BadRequest, match="not restricted"):
        grant(ext, people.principal("staff"), patient)
    assert grant(ext, people.principal("compliance")).reason == REASON
    assert grant_count(ext) == 1


def test_breaking_the_glass_is_audited_with_reason_and_expiry(ext, people, restricted):
    at = utcnow()
    made = grant(ext, people.principal("staff"), at=at, minutes=60, reason=f"  {REASON}\n")
    assert (made.granted_at, made.expires_at) == (at, at + timedelta(minutes=60))
    assert made.reason == REASON
    [event] = audited(ext, "patient.break_glass")
    assert (event.actor, event.patient_mrn, event.reason) == ("staff1", VIP, REASON)
    assert event.details == {"grant": made.id, "expires_at": made.expires_at.isoformat()}


def test_a_grant_opens_the_chart_until_it_expires(ext, people, restricted):
    staff = people.principal("staff")
    granted = utcnow() - timedelta(minutes=61)
    grant(ext, staff, at=granted, minutes=60)
    assert may_open(ext, staff, VIP, now=granted + timedelta(minutes=59))
    assert not may_open(ext, staff, VIP, now=granted + timedelta(minutes=61))
    with pytest.raises(RestrictedRecord), ext.db.transaction() as session:
        view_patient(session, staff, VIP)  # the real clock: 61 minutes after the grant


def test_a_grant_opens_only_its_own_patient_and_only_to_its_holder(ext, people, restricted):
    staff, colleague = people.principal("staff"), another(ext, "staff2", "staff")
    grant(ext, staff, VIP)
    assert may_open(ext, staff, VIP)
    assert not may_open(ext, staff, OTHER_VIP)
    assert not may_open(ext, colleague, VIP)


def test_granted_patient_ids_are_exactly_the_grants_in_force(ext, people, restricted):
    staff, colleague = people.principal("staff"), another(ext, "staff2", "staff")
    now = utcnow()
    grant(ext, staff, VIP, at=now - timedelta(minutes=10))
    grant(ext, staff, OTHER_VIP, at=now - timedelta(minutes=70))  # expired 10 minutes ago
    grant(ext, colleague, OTHER_VIP, at=now - timedelta(minutes=5))
    vip, other = patient_id(ext, VIP), patient_id(ext, OTHER_VIP)
    with ext.db.transaction() as session:
        assert granted_patient_ids(session, staff, now) == frozenset({vip})
        # 65 minutes ago the VIP grant was not yet made and the other one was in force.
        earlier = now - timedelta(minutes=65)
        assert granted_patient_ids(session, staff, earlier) == frozenset({other})
        assert granted_patient_ids(session, colleague, now) == frozenset({other})
        assert granted_patient_ids(session, people.principal("compliance"), now) == frozenset()


def test_compliance_reviews_a_grant_once_and_the_review_is_audited(ext, people, restricted):
    made = grant(ext, people.principal("staff"))
    compliance = people.principal("compliance")
    with pytest.raises(BadRequest, match="what you checked"), ext.db.transaction() as session:
        review_grant(session, compliance, made.id, "   ")
    with pytest.raises(PermissionDenied), ext.db.transaction() as session:
        review_grant(session, people.principal("staff"), made.id, "Looks fine to me")
    with ext.db.transaction() as session:
        reviewed = review_grant(session, compliance, made.id, " Confirmed with the ED roster ")
        assert (reviewed.reviewed_by, reviewed.review_comment) == (
            "compliance1", "Confirmed with the ED roster")
        assert reviewed.reviewed_at is not None
    with pytest.raises(Conflict, match="by compliance1"), ext.db.transaction() as session:
        review_grant(session, compliance, made.id, "Second look")
    [event] = audited(ext, "break_glass.review")
    assert (event.actor, event.patient_mrn, event.reason) == (
        "compliance1", VIP, "Confirmed with the ED roster")
    assert event.details == {"grant": made.id, "user": "staff1"}


def test_nobody_reviews_their_own_emergency_access(ext, people, restricted):
    officer, colleague = people.principal("compliance"), another(ext, "compliance2", "compliance")
    made = grant(ext, officer)
    with pytest.raises(PermissionDenied, match="your own"), ext.db.transaction() as session:
        review_grant(session, officer, made.id, "All in order")
    with ext.db.transaction() as session:
        assert review_grant(session, colleague, made.id, "All in order").reviewed_by == (
            "compliance2")


def test_the_review_list_puts_unreviewed_first_oldest_first_a_page_at_a_time(
    ext, people, restricted
):
    staff, compliance = people.principal("staff"), people.principal("compliance")
    now = utcnow()
    ages = [5 * i for i in range(REVIEW_PAGE_SIZE + 1)]  # 0 to 125 minutes old
    made = {age: grant(ext, staff, at=now - timedelta(minutes=age)).id for age in ages}
    with ext.db.transaction() as session:
        review_grant(session, compliance, made[ages[-1]], "Checked", now=now)  # the oldest
        with pytest.raises(PermissionDenied):
            grants_to_review(session, staff)
        first = grants_to_review(session, compliance, 1, now)
        second = grants_to_review(session, compliance, 2, now)
    assert (first.total, first.unreviewed) == (REVIEW_PAGE_SIZE + 1, REVIEW_PAGE_SIZE)
    assert [row.id for row in first.rows] == [made[age] for age in reversed(ages[:-1])]
    assert [row.in_force for row in first.rows] == [age < 60 for age in reversed(ages[:-1])]
    assert [(row.id, row.reviewed_by) for row in second.rows] == [(made[ages[-1]], "compliance1")]

"""Compliance pages for retention policies: the policies in force with the form to set one
for a new type (or the default), and each type's policy with its versions, the edit form and
the preview of what a change would make due. Thin: parse, call retention.policies and
retention.disposition_dates, render.

The default policy's type is "*", which Flask routes and url_for carry in a path as is."""

from __future__ import annotations

import re
from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for

from archive.auth.guards import current_principal, requires
from archive.errors import BadRequest, Conflict, NotFound
from archive.extensions import archive
from retention.clocks import LABELS, Rules
from retention.disposition_dates import policies_in_force, preview_policy
from retention.floors import Floors
from retention.models import DEFAULT_POLICY
from retention.policies import (
    apply_preset,
    checked_policy_type,
    current_policy,
    policy_history,
    save_policy,
)
from retention.presets import PRESETS, find_preset

bp = Blueprint("policies", __name__)

YEAR_FIELDS = ("after_last_encounter_years", "after_majority_years", "after_death_years")
TEXT_FIELDS = ("doc_type", "basis", "preset", "name", "source", "reason", *YEAR_FIELDS,
               "age_of_majority")
_WHOLE_NUMBER = re.compile(r"^[+-]?\d{1,6}$")


@bp.route("/retention/policies")
@requires("retention.manage")
def policies():
    return _policies_page()


@bp.route("/retention/policies", methods=["POST"])
@requires("retention.manage")
def create():
    typed = _typed()
    try:
        with archive().db.transaction() as session:
            policy = _save(session, typed["doc_type"], typed)
    except (BadRequest, Conflict, NotFound) as err:
        return _policies_page(typed, err.message, err.http_status)
    flash(_saved_message(policy), "info")
    return redirect(url_for("policies.policy", doc_type=policy.doc_type), code=303)


@bp.route("/retention/policies/preview", methods=["POST"])
@requires("retention.manage")
def preview_new():
    """Preview from the create form: the type's page, with the figures, nothing saved."""
    typed = _typed()
    try:
        doc_type = checked_policy_type(typed["doc_type"])
    except BadRequest as err:
        return _policies_page(typed, err.message, err.http_status)
    return _preview(doc_type, typed)


@bp.route("/retention/policies/<doc_type>")
@requires("retention.manage")
def policy(doc_type: str):
    return _policy_page(doc_type)


@bp.route("/retention/policies/<doc_type>", methods=["POST"])
@requires("retention.manage")
def save(doc_type: str):
    typed = _typed(doc_type)
    try:
        with archive().db.transaction() as session:
            saved = _save(session, doc_type, typed)
    except (BadRequest, Conflict, NotFound) as err:
        return _policy_page(doc_type, typed, err.message, err.http_status)
    flash(_saved_message(saved), "info")
    return redirect(url_for("policies.policy", doc_type=saved.doc_type), code=303)


@bp.route("/retention/policies/<doc_type>/preview", methods=["POST"])
@requires("retention.manage")
def preview(doc_type: str):
    return _preview(doc_type, _typed(doc_type))


# --- parsing ------------------------------------------------------------------------------------


def _typed(doc_type: str | None = None) -> dict:
    typed = {field: request.form.get(field, "") for field in TEXT_FIELDS}
    typed["permanent"] = request.form.get("permanent") == "yes"
    if doc_type is not None:
        typed["doc_type"] = doc_type
    return typed


def _rules_from(typed: dict) -> Rules:
    """The clocks typed in the form. A value that is not a whole number goes to Rules as
    typed, so its validation names the setting (InvalidRules, 400)."""
    data: dict = {"permanent": typed["permanent"]}
    for field in (*YEAR_FIELDS, "age_of_majority"):
        text = typed[field].strip()
        if text:
            data[field] = int(text) if _WHOLE_NUMBER.match(text) else text
    return Rules.from_json(data)


def _from_preset(typed: dict) -> bool:
    return typed["basis"] == "preset"


def _chosen_preset(typed: dict) -> str:
    if not typed["preset"]:
        raise BadRequest("Choose the preset to start from, or set the clocks yourself.")
    return typed["preset"]


def _save(session, doc_type: str, typed: dict):
    if _from_preset(typed):
        return apply_preset(session, current_principal(), doc_type, _chosen_preset(typed),
                            reason=typed["reason"], floors=_floors())
    return save_policy(session, current_principal(), doc_type, name=typed["name"],
                       rules=_rules_from(typed), source=typed["source"],
                       reason=typed["reason"], floors=_floors())


def _floors() -> Floors:
    return Floors.of(archive().settings)


def _saved_message(policy) -> str:
    what = "The default retention policy" if policy.doc_type == DEFAULT_POLICY else (
        f"The retention policy for {policy.doc_type}")
    return (f"{what} is saved as version {policy.version}. The next retention sweep dates "
            "the documents by it.")


# --- pages --------------------------------------------------------------------------------------


def _policies_page(typed: dict | None = None, problem: str | None = None, status: int = 200):
    with archive().db.transaction() as session:
        in_force = policies_in_force(session)
        rows = sorted(in_force.values(),
                      key=lambda policy: (policy.doc_type != DEFAULT_POLICY, policy.doc_type))
        page = render_template(
            "retention/policies.html",
            policies=rows,
            has_default=DEFAULT_POLICY in in_force,
            presets=PRESETS,
            labels=LABELS,
            typed=typed or {"basis": "preset"},
            problem=problem,
            default_type=DEFAULT_POLICY,
            floors=_floors(),
        )
    return page, status


def _policy_page(
    doc_type: str,
    typed: dict | None = None,
    problem: str | None = None,
    status: int = 200,
    preview=None,
    proposed: Rules | None = None,
):
    with archive().db.transaction() as session:
        history = policy_history(session, doc_type)
        governing = current_policy(session, doc_type)
        if typed is None:
            typed = _typed_from(history[0] if history else None)
        page = render_template(
            "retention/policy.html",
            doc_type=doc_type,
            is_default=doc_type == DEFAULT_POLICY,
            history=history,
            governing=governing,
            presets=PRESETS,
            labels=LABELS,
            typed=typed,
            problem=problem,
            preview=preview,
            proposed=proposed,
            default_type=DEFAULT_POLICY,
            floors=_floors(),
        )
    return page, status


def _typed_from(policy) -> dict:
    """The edit form filled in with the current version (empty for a type without one)."""
    if policy is None:
        return {"basis": "clocks"}
    rules = Rules.from_json(policy.rules)
    typed = {"basis": "clocks", "name": policy.name, "source": policy.source,
             "permanent": rules.permanent, "age_of_majority": str(rules.age_of_majority)}
    for field in YEAR_FIELDS:
        years = getattr(rules, field)
        typed[field] = "" if years is None else str(years)
    return typed


def _preview(doc_type: str, typed: dict):
    try:
        rules = (find_preset(_chosen_preset(typed)).rules if _from_preset(typed)
                 else _rules_from(typed))
        with archive().db.transaction() as session:
            figures = preview_policy(session, current_principal(), doc_type, rules,
                                     today=date.today(), floors=_floors())
    except (BadRequest, NotFound) as err:
        return _policy_page(doc_type, typed, err.message, err.http_status)
    return _policy_page(doc_type, typed, preview=figures, proposed=rules)

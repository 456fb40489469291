"""The shapes of chart completion's part of the REST API (completion.api), declared once
for validation and for the OpenAPI document (archive.api_spec)."""

from __future__ import annotations

from pydantic import Field

from archive.api_spec import MRN, Answer, Request


class EncounterQuery(Request):
    mrn: MRN


class EncounterOut(Answer):
    number: str
    # "class" is a Python keyword: the field is declared through its alias.
    encounter_class: str = Field(alias="class")
    status: str
    admit: str
    discharge: str | None
    attending: str | None
    attending_id: str | None
    department: str
    documents: list[int]


class EncounterList(Answer):
    mrn: str
    encounters: list[EncounterOut]

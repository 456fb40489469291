"""The fixed vocabularies of release of information (DESIGN.md, "Contracts added with the
second round of issues"): the legal bases a disclosure may rest on, and who may ask."""

from __future__ import annotations

LEGAL_BASES = ("right_of_access", "authorization", "tpo", "court_order", "required_by_law")
REQUESTER_KINDS = ("patient", "representative", "provider", "payer", "attorney", "court",
                   "public_health", "law_enforcement", "other")

"""The shapes of the delivery part of release of information's API (release.delivery_api):
time-limited links, reassignment; declared once for validation and the OpenAPI document."""

from __future__ import annotations

from pydantic import Field

from archive.api_spec import Answer, Request
from release.links import DEFAULT_DAYS, DEFAULT_DOWNLOADS
from release.schemas import USERNAME

# The longest period is the hospital's setting (RELEASE_LINK_MAX_DAYS), checked by
# release.links so that the 400 names it; this bound only keeps the number sane.
MAX_LINK_DAYS, MAX_LINK_DOWNLOADS = 3650, 100


class NewLink(Request):
    expires_in_days: int = Field(DEFAULT_DAYS, ge=1, le=MAX_LINK_DAYS)
    max_downloads: int = Field(DEFAULT_DOWNLOADS, ge=1, le=MAX_LINK_DOWNLOADS)


class LinkOut(Answer):
    id: int
    packet: int
    expires: str
    max_downloads: int
    downloads: int
    status: str


class NewLinkOut(LinkOut):
    url: str  # holds the token: shown this once


class LinkList(Answer):
    request: int
    links: list[LinkOut]


class Assignment(Request):
    assignee: USERNAME

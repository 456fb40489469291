"""The shape of a packet's document in the REST API: a plain id (the whole document, as the
contract has it) or {"id", "pages"} to release chosen pages only ("1-3,7"). Declared once for
validation and the OpenAPI document; release.page_ranges reads the ranges, so a 400 says which
range is wrong and how."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import Field

from archive.api_spec import Request, Text
from archive.params import MAX_ID
from release.packets import PacketDocument
from release.page_ranges import MAX_RANGE_TEXT

DOCUMENT_ID = Annotated[int, Field(ge=1, le=MAX_ID)]


class PacketPages(Request):
    id: DOCUMENT_ID
    pages: Text(MAX_RANGE_TEXT) = ""  # "" or left out: every page


PacketDocumentIn = DOCUMENT_ID | PacketPages


def packet_documents(documents: Sequence[int | PacketPages]) -> list[int | PacketDocument]:
    """The API's documents as release.packets takes them."""
    return [item if isinstance(item, int) else PacketDocument(item.id, item.pages)
            for item in documents]

"""Kept only for ``ingest/validation.py``, which still imports ``sniff_media_type`` from here;
the records core is now in patients, filing, reading and edits, its shared checks in formats.
Remove this module once that import names ``archive.records.formats``."""

from archive.records.formats import sniff_media_type

__all__ = ["sniff_media_type"]

"""Rules every ObjectStore backend applies alike, so that an object can move between
backends (replication, restore) and a refusal reads the same whichever store said it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from archive.errors import ObjectLocked, ObjectNotFound
from archive.interfaces import ObjectInfo

_SEGMENT = re.compile(r"[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,254}")


def split_key(key: str) -> list[str]:
    """The key's path segments; ``ValueError`` unless every segment is safe as a file name.

    Segments are non-empty, use only letters, digits and ``._~-``, and do not start with a
    dot (which also rules out ``.`` and ``..``). The same rule is applied by every backend so
    that any key can be replicated from one to another.
    """
    if not isinstance(key, str) or not key:
        raise ValueError("an object key must be a non-empty string")
    if key.startswith("/"):
        raise ValueError(f"object key {key!r} must be relative, not start with '/'")
    segments = key.split("/")
    for segment in segments:
        if not _SEGMENT.fullmatch(segment):
            raise ValueError(
                f"object key {key!r} has an invalid segment {segment!r}: segments must be "
                "non-empty, must not start with '.', and may use only letters, digits and ._~-"
            )
    return segments


def refuse_if_locked(info: ObjectInfo) -> None:
    """Raise ``ObjectLocked`` while ``info`` is under legal hold or unexpired retention."""
    if info.legal_hold:
        raise ObjectLocked(
            f"Version {info.version_id} of {info.key} is under legal hold and cannot be "
            "deleted; a compliance officer must release the hold first."
        )
    if info.retain_until is not None and info.retain_until > datetime.now(UTC):
        raise ObjectLocked(
            f"Version {info.version_id} of {info.key} is retained until "
            f"{info.retain_until.isoformat()} and cannot be deleted before then."
        )


def stat_listed(stat: Callable[[str, str], ObjectInfo], key: str,
                version_ids: Iterable[str]) -> list[ObjectInfo]:
    """The metadata of each listed version of ``key``, in the listing's order, leaving out a
    version deleted between the listing and its ``stat``."""
    infos = []
    for version_id in version_ids:
        try:
            infos.append(stat(key, version_id))
        except ObjectNotFound:
            continue
    return infos

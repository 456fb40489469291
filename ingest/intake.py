"""Filing a file from disk (CLI import, scanner hot folder): the same service as the web
upload and the API, with the outcome summarised for a person or a reason file. A scanned
stack with cover sheets is queued as a batch instead (ingest.batches)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from archive.auth.permissions import Principal
from archive.errors import ArchiveError
from archive.extensions import Archive
from archive.interfaces import Upload
from archive.records.filing import add_document


@dataclass(frozen=True)
class Outcome:
    path: Path
    status: str  # accepted | duplicate | rejected
    document_id: int | None = None
    reason: str = ""
    batch_id: int | None = None  # for a scanned stack taken as a batch


def file_from_disk(
    ext: Archive,
    principal: Principal,
    path: Path,
    *,
    mrn: str,
    doc_type: str,
    date_of_service: date | None = None,
    department: str | None = None,
) -> Outcome:
    """File one file; an ArchiveError becomes a rejected outcome with its message."""
    try:
        with path.open("rb") as stream:
            filing = add_document(
                ext,
                principal,
                mrn=mrn,
                doc_type=doc_type,
                upload=Upload(stream, path.name),
                date_of_service=date_of_service,
                department=department,
            )
    except ArchiveError as err:
        return Outcome(path, "rejected", reason=err.message)
    except OSError as err:
        return Outcome(path, "rejected", reason=f"The file could not be read ({err.strerror}).")
    status = "duplicate" if filing.duplicate else "accepted"
    return Outcome(path, status, filing.version.document_id)


def batch_from_disk(ext: Archive, principal: Principal, path: Path) -> Outcome:
    """Queue one scanned stack with cover sheets for splitting (ingest.batches)."""
    from ingest.batches.service import receive_batch

    try:
        with path.open("rb") as stream:
            received = receive_batch(ext, principal, Upload(stream, path.name))
    except ArchiveError as err:
        return Outcome(path, "rejected", reason=err.message)
    except OSError as err:
        return Outcome(path, "rejected", reason=f"The file could not be read ({err.strerror}).")
    return Outcome(path, "duplicate" if received.duplicate else "accepted",
                   batch_id=received.batch_id)


def files_under(paths: list[Path]) -> list[Path]:
    """The files named, and the files inside the folders named (hidden files skipped)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            found.append(path)
    return found

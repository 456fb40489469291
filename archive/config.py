"""Configuration, read only from ``CHARTVAULT_*`` environment variables.

Each setting is declared once, as a field of ``Settings`` with its help text (and, where it
has them, the values it accepts and its least value) in the field's metadata: the variable
is the field's name in capitals, ``from_env`` reads every field in one loop, and
``SETTINGS`` lists them so that tooling (and a test of docker-compose.yml) can tell a real
variable from a typo. A value the archive cannot use stops it at start with the variable's
name and what it accepts.
"""

from __future__ import annotations

import os
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PREFIX = "CHARTVAULT_"
SECRET_KEY_FILENAME = "secret_key"  # noqa: S105 - a file name
AUDIT_KEY_FILENAME = "audit_key"
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


class SettingError(ValueError):
    """A CHARTVAULT_ variable holds a value the archive cannot use."""


def setting(help: str, default=MISSING, *, choices: tuple[str, ...] = (),
            minimum: int | None = None, default_factory=MISSING):
    """A field of Settings: its default, and for people and the parser its help text, the
    values it accepts and its least value."""
    metadata = {"help": help, "choices": choices, "minimum": minimum}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def _cores() -> int:
    return os.cpu_count() or 1


@dataclass
class Settings:
    data_dir: Path = setting(
        "directory for the embedded database, object store and index (default ./data)")
    database_url: str = setting("SQLAlchemy URL; default sqlite:///<DATA_DIR>/chartvault.db")
    storage: str = setting("object store backend: filesystem (default) or s3", "filesystem",
                           choices=("filesystem", "s3"))
    s3_endpoint: str | None = setting("host:port of the S3/MinIO endpoint", None)
    s3_access_key: str | None = setting("S3 access key", None)
    s3_secret_key: str | None = setting("S3 secret key", None)
    s3_bucket: str = setting("bucket for originals and derivatives (created with object lock)",
                             "chartvault")
    s3_secure: bool = setting("1 to use https to the S3 endpoint (default 0)", False)
    s3_region: str = setting("S3 region (default us-east-1)", "us-east-1")
    secret_key: str | None = setting("session signing key; required outside testing", None)
    secret_key_file: Path | None = setting(
        "file holding the session signing key (alternative to SECRET_KEY; default "
        "<DATA_DIR>/secret_key, written by `chartvault init`)", None)
    # The audit chain's MAC key, kept out of the database so that write access to the
    # database is not enough to re-forge the chain (archive.audit).
    audit_key: str | None = setting(
        "key of the audit trail's MAC chain (at least 32 characters); required outside "
        "testing. Keep it with the configuration, apart from the database and replica", None)
    audit_key_file: Path | None = setting(
        "file holding the audit key (alternative to AUDIT_KEY; default <DATA_DIR>/audit_key, "
        "written by `chartvault init`)", None)
    admin_password: str | None = setting(
        "password for the first admin created by `chartvault init`", None)
    idle_timeout_minutes: int = setting("web session idle timeout (default 15)", 15, minimum=1)
    lockout_threshold: int = setting("failed logins before an account locks (default 5)", 5,
                                     minimum=1)
    lockout_minutes: int = setting("how long a locked account stays locked (default 15)", 15,
                                   minimum=1)
    login_rate_per_address: str = setting(
        "login attempts allowed from one client address (default '60 per minute': a ward's "
        "computers often share one address)", "60 per minute")
    login_rate_per_account: str = setting(
        "login attempts allowed for one username (default '10 per minute')", "10 per minute")
    ratelimit_storage: str = setting(
        "where login throttling counts: memory:// (default, one process) or a store shared "
        "by several gunicorn workers, e.g. redis://host:6379", "memory://")
    max_upload_mb: int = setting(
        "largest accepted upload in MiB (default 512); a request whose declared body is "
        "larger (plus 64 KiB for the form around the file) gets 413 before it is read", 512,
        minimum=1)
    client_timeout_seconds: int = setting(
        "seconds a client may stay silent, while sending its request or reading the answer, "
        "before the server (waitress or gunicorn) closes the connection (default 60)", 60,
        minimum=1)
    secure_cookies: bool = setting("1 to mark cookies Secure (set behind HTTPS; default 0)",
                                   False)
    break_glass_minutes: int = setting(
        "how long breaking the glass opens a restricted chart (default 60)", 60, minimum=1)
    retention_min_years: int = setting(
        "shortest retention clock a policy may have, in years; shorter stored policies count "
        "as this long (default 1)", 1, minimum=0)
    disposition_min_age_days: int = setting(
        "days after filing before any document can be due for disposition, whatever its "
        "policy (default 90)", 90, minimum=0)
    # The legal clocks of requests for records (release.clock_settings): left unset, the
    # HIPAA periods; a state whose law is stricter sets shorter ones.
    clock_right_of_access_days: int | None = setting(
        "days to answer a patient's request for their own records (default 30, at most 30: "
        "45 CFR 164.524)", None, minimum=1)
    clock_right_of_access_extension_days: int | None = setting(
        "days of the one extension of such a request, 0 for none (default 30, at most 30)",
        None, minimum=0)
    clock_accounting_days: int | None = setting(
        "days to answer a request for an accounting of disclosures (default 60, at most 60: "
        "45 CFR 164.528)", None, minimum=1)
    clock_accounting_extension_days: int | None = setting(
        "days of the one extension of an accounting request, 0 for none (default 30, at "
        "most 30)", None, minimum=0)
    clock_amendment_days: int | None = setting(
        "days to answer a request for an amendment (default 60, at most 60: 45 CFR 164.526)",
        None, minimum=1)
    clock_amendment_extension_days: int | None = setting(
        "days of the one extension of an amendment request, 0 for none (default 30, at most "
        "30)", None, minimum=0)
    clock_disclosure_days: int | None = setting(
        "the hospital's target, in days, for any other request for records (authorization, "
        "court order, ...; default 30)", None, minimum=1)
    clock_disclosure_extension_days: int | None = setting(
        "days of the one extension of such a request, 0 for none (default 30)", None,
        minimum=0)
    replica_storage: str | None = setting("replica store backend: filesystem or s3", None,
                                          choices=("filesystem", "s3"))
    replica_dir: Path | None = setting("directory of the filesystem replica store", None)
    replica_s3_endpoint: str | None = setting("host:port of the replica S3 endpoint", None)
    replica_s3_access_key: str | None = setting("replica S3 access key", None)
    replica_s3_secret_key: str | None = setting("replica S3 secret key", None)
    replica_s3_bucket: str = setting("replica bucket", "chartvault-replica")
    snapshots_keep: int = setting("database snapshots kept in the replica store (default 7)", 7,
                                  minimum=1)
    scrub_days: int = setting(
        "days in which the integrity scrub checks every object once (default 30)", 30,
        minimum=1)
    search: str = setting("full-text backend: tantivy (default) or whoosh", "tantivy",
                          choices=("tantivy", "whoosh"))
    ocr_workers: int = setting("OCR processes (default: number of cores)",
                               default_factory=_cores, minimum=1)
    hot_folder: Path | None = setting("scanner hot folder watched by the worker", None)
    # Encounters from the hospital's ADT system (completion.hl7_listener): the listener runs
    # beside the worker (and `chartvault serve`) only when a port is set.
    hl7_port: int | None = setting(
        "TCP port on which HL7 v2 ADT messages are received over MLLP (unset: no listener)",
        None, minimum=1)
    hl7_host: str = setting("address the HL7 listener binds (default 127.0.0.1; 0.0.0.0 for "
                            "every interface)", "127.0.0.1")
    hl7_timezone: str = setting(
        "time zone of HL7 and CSV times written without an offset, e.g. America/Chicago "
        "(default UTC)", "UTC")
    job_lease_seconds: int = setting(
        "seconds a worker's claim on a job lasts unless renewed; the worker renews it every "
        "third of that while the job runs, so a job whose worker died is taken again at most "
        "this long after (default 24)", 24, minimum=3)
    job_runs_keep_days: int = setting(
        "days the schedule's run history (job_runs) is kept; the newest runs of each job are "
        "kept whatever their age (default 90)", 90, minimum=1)
    # Day and month boundaries of the statistics, and the times pages show, are the
    # hospital's: a document filed at 23:30 belongs to that evening, not to UTC's tomorrow.
    timezone: str = setting(
        "the hospital's time zone, an IANA name such as America/Chicago (default UTC): pages "
        "show times in it and the statistics count days and months in it", "UTC")

    def __post_init__(self) -> None:
        # Checked here, whether the value came from the environment or from code, so a
        # misspelt zone stops the app at start instead of silently counting days in UTC.
        self.zone = hospital_zone(self.timezone)

    @property
    def objects_dir(self) -> Path:
        return self.data_dir / "objects"

    @property
    def replica_root(self) -> Path:
        """The filesystem replica: CHARTVAULT_REPLICA_DIR, else ``<data dir>-replica``."""
        return self.replica_dir or self.data_dir.with_name(self.data_dir.name + "-replica")

    @property
    def audit_key_path(self) -> Path:
        """Where the audit key is read from, and where `chartvault init` writes one."""
        return self.audit_key_file or self.data_dir / AUDIT_KEY_FILENAME

    @classmethod
    def from_env(cls) -> Settings:
        """Every setting from its variable; what one left unset defaults to, and the keys
        `chartvault init` keeps in files in the data directory."""
        # An empty variable counts as unset, as compose's ${NAME:-} leaves it.
        values = {spec.name: _parse(spec, raw) for spec in fields(cls)
                  if (raw := os.environ.get(PREFIX + spec.name.upper()))}
        data_dir = values.setdefault("data_dir", Path("data").resolve())
        values.setdefault("database_url", f"sqlite:///{data_dir / 'chartvault.db'}")
        settings = cls(**values)
        settings.secret_key = settings.secret_key or _read_key(
            settings.secret_key_file or data_dir / SECRET_KEY_FILENAME)
        settings.audit_key = settings.audit_key or _read_key(settings.audit_key_path)
        return settings


def hospital_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; SettingError naming CHARTVAULT_TIMEZONE when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingError(
            f"{PREFIX}TIMEZONE={name!r}: give an IANA time zone name such as "
            "America/New_York, Europe/Berlin or UTC.") from None


def _read_key(path: Path) -> str | None:
    return path.read_text().strip() if path.is_file() else None


def _parse(spec, raw: str):
    """The value of one variable, as its field's type; SettingError naming the variable and
    what it accepts when it is not one."""
    name, kind = PREFIX + spec.name.upper(), spec.type.replace(" | None", "")
    choices, minimum = spec.metadata["choices"], spec.metadata["minimum"]
    if kind == "Path":
        return Path(raw).resolve()
    if kind == "bool":
        if raw.strip().lower() not in TRUE + FALSE:
            raise SettingError(f"{name}={raw!r}: give 1 (on) or 0 (off).")
        return raw.strip().lower() in TRUE
    if kind == "int":
        try:
            number = int(raw)
        except ValueError:
            raise SettingError(f"{name}={raw!r}: give a whole number"
                               + (f" of at least {minimum}." if minimum is not None else ".")
                               ) from None
        if minimum is not None and number < minimum:
            raise SettingError(f"{name}={raw!r}: give a whole number of at least {minimum}.")
        return number
    if choices and raw not in choices:
        raise SettingError(f"{name}={raw!r}: give one of {', '.join(choices)}.")
    return raw


# name -> help text: the single list of variables the app understands.
SETTINGS: dict[str, str] = {spec.name.upper(): spec.metadata["help"] for spec in fields(Settings)}

"""Configuration, read only from ``CHARTVAULT_*`` environment variables.

Every setting the app reads is declared in ``SETTINGS`` so that tooling (and a test of
docker-compose.yml) can tell a real variable from a typo.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "CHARTVAULT_"
SECRET_KEY_FILENAME = "secret_key"  # noqa: S105 - a file name
AUDIT_KEY_FILENAME = "audit_key"

# name -> help text; the single list of variables the app understands.
SETTINGS: dict[str, str] = {
    "DATA_DIR": "directory for the embedded database, object store and index (default ./data)",
    "DATABASE_URL": "SQLAlchemy URL; default sqlite:///<DATA_DIR>/chartvault.db",
    "STORAGE": "object store backend: filesystem (default) or s3",
    "S3_ENDPOINT": "host:port of the S3/MinIO endpoint",
    "S3_ACCESS_KEY": "S3 access key",
    "S3_SECRET_KEY": "S3 secret key",
    "S3_BUCKET": "bucket for originals and derivatives (created with object lock)",
    "S3_SECURE": "1 to use https to the S3 endpoint (default 0)",
    "S3_REGION": "S3 region (default us-east-1)",
    "REPLICA_STORAGE": "replica store backend: filesystem or s3",
    "REPLICA_DIR": "directory of the filesystem replica store",
    "REPLICA_S3_ENDPOINT": "host:port of the replica S3 endpoint",
    "REPLICA_S3_ACCESS_KEY": "replica S3 access key",
    "REPLICA_S3_SECRET_KEY": "replica S3 secret key",
    "REPLICA_S3_BUCKET": "replica bucket",
    "SNAPSHOTS_KEEP": "database snapshots kept in the replica store (default 7)",
    "SCRUB_DAYS": "days in which the integrity scrub checks every object once (default 30)",
    "SEARCH": "full-text backend: tantivy (default) or whoosh",
    "SECRET_KEY": "session signing key; required outside testing",
    "SECRET_KEY_FILE": "file holding the session signing key (alternative to SECRET_KEY)",
    "AUDIT_KEY": "key of the audit trail's MAC chain (at least 32 characters); required "
    "outside testing. Keep it with the configuration, apart from the database and replica",
    "AUDIT_KEY_FILE": "file holding the audit key (alternative to AUDIT_KEY; default "
    "<DATA_DIR>/audit_key, written by `chartvault init`)",
    "ADMIN_PASSWORD": "password for the first admin created by `chartvault init`",
    "OCR_WORKERS": "OCR processes (default: number of cores)",
    "HOT_FOLDER": "scanner hot folder watched by the worker",
    "JOB_LEASE_SECONDS": "seconds a worker's claim on a job lasts unless renewed; the worker "
    "renews it every third of that while the job runs, so a job whose worker died is taken "
    "again at most this long after (default 24)",
    "JOB_RUNS_KEEP_DAYS": "days the schedule's run history (job_runs) is kept; the newest "
    "runs of each job are kept whatever their age (default 90)",
    "IDLE_TIMEOUT_MINUTES": "web session idle timeout (default 15)",
    "LOCKOUT_THRESHOLD": "failed logins before an account locks (default 5)",
    "LOCKOUT_MINUTES": "how long a locked account stays locked (default 15)",
    "LOGIN_RATE_PER_ADDRESS": "login attempts allowed from one client address (default "
    "'60 per minute': a ward's computers often share one address)",
    "LOGIN_RATE_PER_ACCOUNT": "login attempts allowed for one username (default '10 per minute')",
    "RATELIMIT_STORAGE": "where login throttling counts: memory:// (default, one process) or a "
    "store shared by several gunicorn workers, e.g. redis://host:6379",
    "MAX_UPLOAD_MB": "largest accepted upload in MiB (default 512); a request whose declared "
    "body is larger (plus 64 KiB for the form around the file) gets 413 before it is read",
    "CLIENT_TIMEOUT_SECONDS": "seconds a client may stay silent, while sending its request or "
    "reading the answer, before the server (waitress or gunicorn) closes the connection "
    "(default 60)",
    "SECURE_COOKIES": "1 to mark cookies Secure (set behind HTTPS; default 0)",
    "BREAK_GLASS_MINUTES": "how long breaking the glass opens a restricted chart (default 60)",
    "RETENTION_MIN_YEARS": "shortest retention clock a policy may have, in years; shorter "
                           "stored policies count as this long (default 1)",
    "DISPOSITION_MIN_AGE_DAYS": "days after filing before any document can be due for "
                                "disposition, whatever its policy (default 90)",
}


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(PREFIX + name, default)


def _path(value: str | None) -> Path | None:
    return Path(value).resolve() if value else None


@dataclass
class Settings:
    data_dir: Path
    database_url: str
    storage: str = "filesystem"
    s3_endpoint: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_bucket: str = "chartvault"
    s3_secure: bool = False
    s3_region: str = "us-east-1"
    secret_key: str | None = None
    # The audit chain's MAC key, kept out of the database so that write access to the
    # database is not enough to re-forge the chain (archive.audit).
    audit_key: str | None = None
    audit_key_file: Path | None = None
    admin_password: str | None = None
    idle_timeout_minutes: int = 15
    lockout_threshold: int = 5
    lockout_minutes: int = 15
    login_rate_per_address: str = "60 per minute"
    login_rate_per_account: str = "10 per minute"
    ratelimit_storage: str = "memory://"
    max_upload_mb: int = 512
    client_timeout_seconds: int = 60
    secure_cookies: bool = False
    break_glass_minutes: int = 60
    retention_min_years: int = 1
    disposition_min_age_days: int = 90
    replica_storage: str | None = None
    replica_dir: Path | None = None
    replica_s3_endpoint: str | None = None
    replica_s3_access_key: str | None = None
    replica_s3_secret_key: str | None = None
    replica_s3_bucket: str = "chartvault-replica"
    snapshots_keep: int = 7
    scrub_days: int = 30
    search: str = "tantivy"
    ocr_workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    hot_folder: Path | None = None
    job_lease_seconds: int = 24
    job_runs_keep_days: int = 90

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
        data_dir = Path(_env("DATA_DIR", "data")).resolve()
        secret = _env("SECRET_KEY")
        # `chartvault init` writes a key into the data directory for the embedded default.
        secret_file = Path(_env("SECRET_KEY_FILE") or data_dir / SECRET_KEY_FILENAME)
        if not secret and secret_file.is_file():
            secret = secret_file.read_text().strip()
        audit_key_file = _path(_env("AUDIT_KEY_FILE"))
        audit_key = _env("AUDIT_KEY")
        audit_key_path = audit_key_file or data_dir / AUDIT_KEY_FILENAME
        if not audit_key and audit_key_path.is_file():
            audit_key = audit_key_path.read_text().strip()
        return cls(
            data_dir=data_dir,
            database_url=_env("DATABASE_URL") or f"sqlite:///{data_dir / 'chartvault.db'}",
            storage=_env("STORAGE", "filesystem"),
            s3_endpoint=_env("S3_ENDPOINT"),
            s3_access_key=_env("S3_ACCESS_KEY"),
            s3_secret_key=_env("S3_SECRET_KEY"),
            s3_bucket=_env("S3_BUCKET", "chartvault"),
            s3_secure=_env("S3_SECURE", "0") == "1",
            s3_region=_env("S3_REGION", "us-east-1"),
            secret_key=secret,
            audit_key=audit_key,
            audit_key_file=audit_key_file,
            admin_password=_env("ADMIN_PASSWORD"),
            idle_timeout_minutes=int(_env("IDLE_TIMEOUT_MINUTES", "15")),
            lockout_threshold=int(_env("LOCKOUT_THRESHOLD", "5")),
            lockout_minutes=int(_env("LOCKOUT_MINUTES", "15")),
            login_rate_per_address=_env("LOGIN_RATE_PER_ADDRESS", "60 per minute"),
            login_rate_per_account=_env("LOGIN_RATE_PER_ACCOUNT", "10 per minute"),
            ratelimit_storage=_env("RATELIMIT_STORAGE", "memory://"),
            max_upload_mb=int(_env("MAX_UPLOAD_MB", "512")),
            client_timeout_seconds=int(_env("CLIENT_TIMEOUT_SECONDS", "60")),
            secure_cookies=_env("SECURE_COOKIES", "0") == "1",
            break_glass_minutes=int(_env("BREAK_GLASS_MINUTES", "60")),
            retention_min_years=int(_env("RETENTION_MIN_YEARS", "1")),
            disposition_min_age_days=int(_env("DISPOSITION_MIN_AGE_DAYS", "90")),
            replica_storage=_env("REPLICA_STORAGE"),
            replica_dir=_path(_env("REPLICA_DIR")),
            replica_s3_endpoint=_env("REPLICA_S3_ENDPOINT"),
            replica_s3_access_key=_env("REPLICA_S3_ACCESS_KEY"),
            replica_s3_secret_key=_env("REPLICA_S3_SECRET_KEY"),
            replica_s3_bucket=_env("REPLICA_S3_BUCKET", "chartvault-replica"),
            snapshots_keep=int(_env("SNAPSHOTS_KEEP", "7")),
            scrub_days=int(_env("SCRUB_DAYS", "30")),
            search=_env("SEARCH", "tantivy"),
            ocr_workers=int(_env("OCR_WORKERS") or os.cpu_count() or 1),
            hot_folder=_path(_env("HOT_FOLDER")),
            job_lease_seconds=int(_env("JOB_LEASE_SECONDS", "24")),
            job_runs_keep_days=int(_env("JOB_RUNS_KEEP_DAYS", "90")),
        )

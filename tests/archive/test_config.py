"""Every declared CHARTVAULT_ variable is really read (so docker-compose.yml cannot set
one that silently does nothing)."""

from __future__ import annotations

from dataclasses import asdict

from archive.config import PREFIX, SETTINGS, Settings

SAMPLE_VALUES = {"S3_SECURE": "1", "SECURE_COOKIES": "1", "OCR_WORKERS": "7",
                 "IDLE_TIMEOUT_MINUTES": "3", "LOCKOUT_THRESHOLD": "9", "LOCKOUT_MINUTES": "4",
                 "MAX_UPLOAD_MB": "2", "CLIENT_TIMEOUT_SECONDS": "5", "BREAK_GLASS_MINUTES": "30",
                 "SNAPSHOTS_KEEP": "3", "SCRUB_DAYS": "5",
                 "RETENTION_MIN_YEARS": "7", "DISPOSITION_MIN_AGE_DAYS": "30",
                 "JOB_LEASE_SECONDS": "6", "JOB_RUNS_KEEP_DAYS": "7"}


def test_each_setting_changes_what_the_app_reads(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in SETTINGS:
        monkeypatch.delenv(PREFIX + name, raising=False)
    baseline = asdict(Settings.from_env())
    ignored = []
    for name in SETTINGS:
        value = SAMPLE_VALUES.get(name, str(tmp_path / f"sample-{name.lower()}"))
        if name == "SECRET_KEY_FILE":
            (tmp_path / "key").write_text("from-file")
            value = str(tmp_path / "key")
        with monkeypatch.context() as patch:
            patch.setenv(PREFIX + name, value)
            if asdict(Settings.from_env()) == baseline:
                ignored.append(name)
    assert ignored == []

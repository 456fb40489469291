"""Every declared CHARTVAULT_ variable is really read (so docker-compose.yml cannot set
one that silently does nothing)."""

from __future__ import annotations

from dataclasses import asdict

import pytest
from click.testing import CliRunner

from archive.cli import cli
from archive.config import PREFIX, SETTINGS, SettingError, Settings

SAMPLE_VALUES = {"STORAGE": "s3", "REPLICA_STORAGE": "s3", "SEARCH": "whoosh",
                 "S3_SECURE": "1", "SECURE_COOKIES": "1", "OCR_WORKERS": "7",
                 "IDLE_TIMEOUT_MINUTES": "3", "LOCKOUT_THRESHOLD": "9", "LOCKOUT_MINUTES": "4",
                 "MAX_UPLOAD_MB": "2", "CLIENT_TIMEOUT_SECONDS": "5", "BREAK_GLASS_MINUTES": "30",
                 "SNAPSHOTS_KEEP": "3", "SCRUB_DAYS": "5",
                 "RETENTION_MIN_YEARS": "7", "DISPOSITION_MIN_AGE_DAYS": "30",
                 "JOB_LEASE_SECONDS": "6", "JOB_RUNS_KEEP_DAYS": "7",
                 "CLOCK_RIGHT_OF_ACCESS_DAYS": "15", "CLOCK_RIGHT_OF_ACCESS_EXTENSION_DAYS": "0",
                 "CLOCK_ACCOUNTING_DAYS": "30", "CLOCK_ACCOUNTING_EXTENSION_DAYS": "0",
                 "CLOCK_AMENDMENT_DAYS": "30", "CLOCK_AMENDMENT_EXTENSION_DAYS": "0",
                 "CLOCK_DISCLOSURE_DAYS": "10", "CLOCK_DISCLOSURE_EXTENSION_DAYS": "0",
                 "HL7_PORT": "2575", "TIMEZONE": "America/Chicago"}


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


@pytest.mark.parametrize(("name", "value", "message"), [
    ("SNAPSHOTS_KEEP", "seven", "CHARTVAULT_SNAPSHOTS_KEEP='seven': give a whole number of at "
                                "least 1."),
    ("SNAPSHOTS_KEEP", "0", "CHARTVAULT_SNAPSHOTS_KEEP='0': give a whole number of at least 1."),
    ("SECURE_COOKIES", "maybe", "CHARTVAULT_SECURE_COOKIES='maybe': give 1 (on) or 0 (off)."),
    ("STORAGE", "S3", "CHARTVAULT_STORAGE='S3': give one of filesystem, s3."),
    ("SEARCH", "elastic", "CHARTVAULT_SEARCH='elastic': give one of tantivy, whoosh."),
    ("TIMEZONE", "Chicago", "CHARTVAULT_TIMEZONE='Chicago': give an IANA time zone name such "
                            "as America/New_York, Europe/Berlin or UTC."),
])
def test_a_value_the_archive_cannot_use_names_the_variable_and_what_it_accepts(
    monkeypatch, tmp_path, name, value, message
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(PREFIX + name, value)
    with pytest.raises(SettingError) as raised:
        Settings.from_env()
    assert str(raised.value) == message


def test_an_empty_variable_counts_as_unset(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in SETTINGS:
        monkeypatch.delenv(PREFIX + name, raising=False)
    unset = Settings.from_env()
    monkeypatch.setenv(PREFIX + "OCR_WORKERS", "")
    monkeypatch.setenv(PREFIX + "DATA_DIR", "")
    assert Settings.from_env() == unset


def test_every_setting_has_help_text():
    assert all(len(text) > 10 for text in SETTINGS.values())
    assert {"DATA_DIR", "SECRET_KEY_FILE", "AUDIT_KEY_FILE", "JOB_LEASE_SECONDS"} <= set(SETTINGS)


def test_a_command_started_with_a_bad_value_says_which_in_one_line(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["user", "list"],
                                env={PREFIX + "IDLE_TIMEOUT_MINUTES": "fifteen"})
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: CHARTVAULT_IDLE_TIMEOUT_MINUTES='fifteen': give a whole number of at least 1.")

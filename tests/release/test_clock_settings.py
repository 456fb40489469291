"""The legal clocks as settings (CHARTVAULT_CLOCK_*): read like every setting, the rule the
clerk sees naming the variable, a clock longer than the federal rule or a value that is no
number refused at start with the variable's name, and the configured clocks used for due
dates and extensions through the API on both databases."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from click.testing import CliRunner

from archive.app import create_app
from archive.cli import cli
from archive.config import PREFIX, SETTINGS, SettingError, Settings
from release.clock_settings import configured_clocks
from release.clocks import DEFAULT_CLOCKS, Clock
from tests.release.conftest import request_body

STRICT_STATE = {"CLOCK_RIGHT_OF_ACCESS_DAYS": "15", "CLOCK_RIGHT_OF_ACCESS_EXTENSION_DAYS": "0",
                "CLOCK_DISCLOSURE_DAYS": "45"}


@pytest.fixture
def clean_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in SETTINGS:
        monkeypatch.delenv(PREFIX + name, raising=False)
    return monkeypatch


def clocks_from(monkeypatch, values: dict[str, str]) -> dict[str, Clock]:
    for name, value in values.items():
        monkeypatch.setenv(PREFIX + name, value)
    return configured_clocks(Settings.from_env())


def test_unset_the_clocks_are_the_hipaa_defaults(clean_environment):
    assert clocks_from(clean_environment, {}) == DEFAULT_CLOCKS


def test_a_stricter_state_sets_its_own_days_and_the_rule_says_so(clean_environment):
    clocks = clocks_from(clean_environment, STRICT_STATE)
    access = clocks["right_of_access"]
    assert (access.days, access.extension_days) == (15, 0)
    assert "CHARTVAULT_CLOCK_RIGHT_OF_ACCESS_DAYS" in access.rule and "no extension" in access.rule
    assert "45 CFR 164.524" in access.rule
    # The hospital's own target has no federal ceiling; the others keep their defaults.
    assert (clocks["disclosure"].days, clocks["disclosure"].extension_days) == (45, 30)
    assert clocks["accounting"] == DEFAULT_CLOCKS["accounting"]


@pytest.mark.parametrize("name, value, message", [
    ("CLOCK_RIGHT_OF_ACCESS_DAYS", "31",
     "CHARTVAULT_CLOCK_RIGHT_OF_ACCESS_DAYS=31: the federal rule allows at most 30"),
    ("CLOCK_ACCOUNTING_EXTENSION_DAYS", "45",
     "CHARTVAULT_CLOCK_ACCOUNTING_EXTENSION_DAYS=45: the federal rule allows at most 30"),
    ("CLOCK_AMENDMENT_DAYS", "90",
     "CHARTVAULT_CLOCK_AMENDMENT_DAYS=90: the federal rule allows at most 60"),
])
def test_a_clock_longer_than_the_federal_rule_is_refused(clean_environment, name, value,
                                                         message):
    with pytest.raises(SettingError) as raised:
        clocks_from(clean_environment, {name: value})
    assert str(raised.value).startswith(message)
    assert "Give" in str(raised.value) and "or fewer" in str(raised.value)


@pytest.mark.parametrize("name, value, message", [
    ("CLOCK_RIGHT_OF_ACCESS_DAYS", "thirty",
     "CHARTVAULT_CLOCK_RIGHT_OF_ACCESS_DAYS='thirty': give a whole number of at least 1."),
    ("CLOCK_DISCLOSURE_DAYS", "0",
     "CHARTVAULT_CLOCK_DISCLOSURE_DAYS='0': give a whole number of at least 1."),
    ("CLOCK_DISCLOSURE_EXTENSION_DAYS", "-5",
     "CHARTVAULT_CLOCK_DISCLOSURE_EXTENSION_DAYS='-5': give a whole number of at least 0."),
])
def test_a_value_that_is_no_number_of_days_names_the_variable(clean_environment, name, value,
                                                              message):
    with pytest.raises(SettingError) as raised:
        clocks_from(clean_environment, {name: value})
    assert str(raised.value) == message


def test_the_app_refuses_to_start_with_a_clock_it_may_not_use(settings):
    with pytest.raises(SettingError):
        create_app(replace(settings, clock_amendment_days=61), testing=True)


def test_the_cli_says_so_in_one_line(clean_environment):
    result = CliRunner().invoke(cli, ["user", "list"],
                                env={PREFIX + "CLOCK_RIGHT_OF_ACCESS_DAYS": "40"})
    assert result.exit_code == 1
    assert result.output.startswith("Error: CHARTVAULT_CLOCK_RIGHT_OF_ACCESS_DAYS=40: the "
                                    "federal rule allows at most 30")


@pytest.fixture
def strict_app(settings):
    app = create_app(replace(settings, clock_right_of_access_days=15,
                             clock_right_of_access_extension_days=0), testing=True)
    yield app
    app.extensions["chartvault"].db.dispose()


def test_the_configured_clock_sets_due_dates_and_refuses_extensions(strict_app, people,
                                                                    patient):
    # people and patient are in the same database, written through the default app.
    client = strict_app.test_client()
    logged = client.post("/api/v1/requests", json=request_body(patient),
                         headers=people.headers("staff"))
    assert logged.status_code == 201, logged.json
    assert logged.json["due"] == date(2026, 5, 16).isoformat()  # 2026-05-01 + 15 days
    refused = client.post(f"/api/v1/requests/{logged.json['id']}/extend",
                          json={"notice_sent": "2026-05-10", "reason": "archive offsite"},
                          headers=people.headers("staff"))
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "extension_refused"
    assert "CHARTVAULT_CLOCK_RIGHT_OF_ACCESS_DAYS" in refused.json["error"]["message"]

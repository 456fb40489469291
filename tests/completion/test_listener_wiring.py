"""How the ADT listener starts: beside the worker and `chartvault serve` (a background task)
when CHARTVAULT_HL7_PORT is set, not at all otherwise; a time zone the archive cannot
use stops the app at start, naming the variable."""

from __future__ import annotations

import socket
import threading
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from archive.app import create_app
from archive.config import SettingError, Settings
from completion.hl7_listener import Hl7Listener, send
from completion.models import Encounter
from tests.completion import adt_messages as adt
from tests.completion.adt_messages import message


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_listener_runs_as_a_background_task_when_a_port_is_set(settings):
    port = _free_port()
    app = create_app(replace(settings, hl7_port=port, hl7_timezone="America/Chicago"),
                     testing=True)
    ext = app.extensions["chartvault"]
    [task] = [task for task in ext.background_tasks if "_listen" in repr(task)]
    stop = threading.Event()
    listener = threading.Thread(target=task, args=(stop,))
    listener.start()
    try:
        ack = _send_when_listening(port, message(adt.MEDITECH_A01))
        assert "MSA|AA|MT000417" in ack
        with ext.db.transaction() as session:
            admitted = session.scalar(select(Encounter.admit_at))
        # PV1-44 has no offset: Chicago's local time, six hours behind UTC in November.
        assert admitted == datetime(2026, 11, 4, 9, 10, tzinfo=UTC)
    finally:
        stop.set()
        listener.join(timeout=10)
        ext.db.dispose()
    assert not listener.is_alive()


def _send_when_listening(port: int, text: str) -> str:
    for _ in range(100):
        try:
            return send("127.0.0.1", port, text)
        except ConnectionRefusedError:
            threading.Event().wait(0.05)
    raise AssertionError(f"nothing listened on port {port}")


def test_no_listener_without_a_port(settings):
    app = create_app(settings, testing=True)
    tasks = app.extensions["chartvault"].background_tasks
    app.extensions["chartvault"].db.dispose()
    assert not any("_listen" in repr(task) for task in tasks)


def test_an_unknown_time_zone_stops_the_app_naming_the_variable(settings):
    with pytest.raises(SettingError, match="CHARTVAULT_HL7_TIMEZONE='Mars/Olympus'"):
        create_app(replace(settings, hl7_timezone="Mars/Olympus"), testing=True)


def test_fault_database_unreachable_is_answered_ae_never_aa(tmp_path):
    """Fault injection: the database file's directory does not exist, so every connection
    fails. The sender must hear AE (resend later), never AA for what was not stored."""
    gone = tmp_path / "no-such-dir" / "chartvault.db"
    app = create_app(Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{gone}"),
                     testing=True)
    ext = app.extensions["chartvault"]
    listener = Hl7Listener(ext, "127.0.0.1", 0, ZoneInfo("UTC")).start()
    try:
        ack = send("127.0.0.1", listener.port, message(adt.EPIC_A01))
    finally:
        listener.stop()
        ext.db.dispose()
    assert "MSA|AE|EPIC-0001|" in ack and "send it again" in ack

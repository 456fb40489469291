"""Fixtures of the backup tests, the same as the retention tests': a replica endpoint (moto
over HTTP), settings that put the replica there when a test asks for it, two filed charts,
and a second compliance officer (a destruction needs two)."""

from tests.retention.conftest import (  # noqa: F401 - fixtures, found here by pytest
    charts,
    replica_server,
    second_officer,
    settings,
)

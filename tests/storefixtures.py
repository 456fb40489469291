"""Object-store fixtures: a moto S3 endpoint on loopback and one store per backend.

Imported by tests/archive/conftest.py; the helpers are also used by tests/faults.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from archive.interfaces import ObjectStore
from archive.storage.filesystem import FilesystemStore
from archive.storage.s3 import S3Store

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"
BACKENDS = ["filesystem", "s3"]
_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": ACCESS_KEY,
    "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    "AWS_DEFAULT_REGION": REGION,
}


def start_moto() -> ThreadedMotoServer:
    """A moto S3 server on 127.0.0.1, on a port the OS picks (so runs never collide)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    return server


def endpoint_of(server: ThreadedMotoServer) -> str:
    host, port = server.get_host_and_port()
    return f"{host}:{port}"


def s3_store(endpoint: str) -> S3Store:
    """A store on its own, fresh bucket: tests never see each other's objects."""
    return S3Store(
        endpoint,
        ACCESS_KEY,
        SECRET_KEY,
        bucket=f"cv-{uuid.uuid4().hex}",
        secure=False,
        region=REGION,
    )


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """host:port of one moto server shared by the whole session."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in _AWS_ENV.items():
            mp.setenv(name, value)
        server = start_moto()
        try:
            yield endpoint_of(server)
        finally:
            server.stop()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    """Each backend in turn; moto is started only when an S3 test runs."""
    if request.param == "filesystem":
        return FilesystemStore(tmp_path / "objects")
    return s3_store(request.getfixturevalue("moto_endpoint"))

"""docker-compose.yml cannot be started here (no Docker engine), so it is kept honest by reading it:
every CHARTVAULT_ variable it sets must be one the app understands, and no secret is written in it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from archive.config import PREFIX, SETTINGS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"

REQUIRED_SERVICES = {"db", "minio", "minio-replica", "web", "worker"}
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN")
# The whole value is one reference to a variable that must be set: ${NAME} or ${NAME:?message}.
# A ${NAME:-default} would put the default, a literal secret, in the file.
REQUIRED_REFERENCE = re.compile(r"^\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?\?[^}]*)?\}$")
REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)")
REQUIRED_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*):?\?")
URL_PASSWORD = re.compile(r"://[^/:@\s]+:(?P<password>[^@\s]+)@")


def _compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _strings(node: object) -> list[str]:
    """Every string value in the parsed file (so comments, which may show examples, don't count)."""
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return [node] if isinstance(node, str) else []


def _references(pattern: re.Pattern[str]) -> set[str]:
    return {m["name"] for value in _strings(_compose()) for m in pattern.finditer(value)}


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the "KEY=value" list form
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def _all_environments() -> list[tuple[str, str, str]]:
    return [
        (name, key, value)
        for name, service in _compose()["services"].items()
        for key, value in _environment(service).items()
    ]


def test_compose_has_every_production_service():
    missing = REQUIRED_SERVICES - set(_compose()["services"])
    assert not missing


def test_web_and_worker_are_configured_through_chartvault_variables():
    services = _compose()["services"]
    for name in ("web", "worker"):
        env = _environment(services[name])
        assert env.get(PREFIX + "DATABASE_URL", "").startswith("postgresql+psycopg://"), name
        assert env.get(PREFIX + "STORAGE") == "s3", name
        assert env.get(PREFIX + "REPLICA_STORAGE") == "s3", name


@pytest.mark.parametrize(
    "service, key", [(s, k) for s, k, _ in _all_environments() if k.startswith(PREFIX)]
)
def test_every_chartvault_variable_is_a_known_setting(service, key):
    assert key.removeprefix(PREFIX) in SETTINGS, f"{service}: {key} is not in archive.config"


def test_every_chartvault_variable_interpolated_is_a_known_setting():
    # Names read from .env; a typo there would silently leave a setting unset.
    names = {n.removeprefix(PREFIX) for n in _references(REFERENCE) if n.startswith(PREFIX)}
    unknown = names - set(SETTINGS)
    assert not unknown


def test_dockerfile_sets_only_known_chartvault_variables():
    names = set(re.findall(rf"\b{PREFIX}([A-Z0-9_]+)=", DOCKERFILE.read_text()))
    assert names <= set(SETTINGS)


def test_secrets_are_references_not_values():
    for service, key, value in _all_environments():
        if SECRET_NAME.search(key):
            assert REQUIRED_REFERENCE.match(value), f"{service}: {key} holds a literal value"


def test_passwords_inside_urls_are_references():
    for service, key, value in _all_environments():
        match = URL_PASSWORD.search(value)
        if match:
            password = match["password"]
            assert REQUIRED_REFERENCE.match(password), f"{service}: {key} has a literal password"


def test_env_example_lists_every_variable_compose_requires():
    example = {
        line.split("=", 1)[0].strip()
        for line in ENV_EXAMPLE.read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    required = _references(REQUIRED_VARIABLE)
    assert required <= example, f"missing from .env.example: {sorted(required - example)}"


def test_the_database_server_is_the_major_version_of_the_images_postgresql_programs():
    # pg_dump and pg_basebackup refuse a newer server; a restore replays its WAL with the
    # image's own server programs.
    image = _compose()["services"]["db"]["image"]
    installed = re.search(r"\bpostgresql-(\d+)\b", DOCKERFILE.read_text())
    assert installed and image == f"postgres:{installed.group(1)}"


def test_the_database_allows_the_archive_replication_connections():
    mounts = _compose()["services"]["db"]["volumes"]
    (script,) = [mount.split(":")[0] for mount in mounts if "docker-entrypoint-initdb.d" in mount]
    text = (ROOT / script).read_text()
    assert "host replication ${POSTGRES_USER} all scram-sha-256" in text
    assert "pg_hba.conf" in text

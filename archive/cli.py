"""The ``chartvault`` command. A Flask ``FlaskGroup``, so ``routes`` and ``shell`` work too;
each package adds its own commands in its ``init_app``."""

from __future__ import annotations

import getpass
import os
import secrets
import sys
import threading
from collections.abc import Callable
from functools import wraps

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import func, select

from archive import audit, audit_anchor, migrate
from archive.auth import accounts
from archive.auth.accounts import create_user
from archive.auth.permissions import SYSTEM_ROLE, Principal
from archive.auth.tokens import create_token, expiry_after, list_tokens, revoke_token
from archive.config import SECRET_KEY_FILENAME, SettingError
from archive.errors import ArchiveError
from archive.models import ROLES, User
from archive.params import MAX_ID, parse_date
from archive.records.patients import register_patient


def _create_cli_app() -> Flask:
    from archive.app import create_app

    try:
        return create_app(cli=True)
    except SettingError as err:  # one line that names the variable, not a traceback
        raise click.ClickException(str(err)) from err


cli = FlaskGroup(
    create_app=_create_cli_app,
    add_version_option=False,
    help="ChartVault: the medical records archive.",
)


def cli_principal() -> Principal:
    return Principal(username=f"cli:{getpass.getuser()}", role=SYSTEM_ROLE, source="cli")


def friendly_errors(command: Callable) -> Callable:
    """Render the project's errors as one clear line and a non-zero exit."""

    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ArchiveError as err:
            raise click.ClickException(err.message) from err

    return wrapper


def _archive():
    return current_app.extensions["chartvault"]


def _require_current_schema() -> None:
    if migrate.pending(_archive().db.engine):
        raise click.ClickException("The database schema is not current. Run `chartvault init`.")


@click.command("init")
@with_appcontext
@friendly_errors
def init_command():
    """Create the data directory, apply pending migrations, create the first admin."""
    settings = _archive().settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _ensure_key_file(settings.data_dir / SECRET_KEY_FILENAME)
    if not settings.audit_key:
        settings.audit_key = _ensure_key_file(settings.audit_key_path)
        _archive().db.use_audit_key(audit.key_bytes(settings.audit_key))
        click.echo(f"The audit key is in {settings.audit_key_path}: keep a copy with the "
                   "configuration, apart from the backups; a restore needs it.")
    migrate.upgrade(_archive().db.engine)
    click.echo(f"Database is at the newest schema ({_archive().db.engine.url.render_as_string()}).")
    with _archive().db.transaction() as session:
        if session.scalar(select(func.count(User.id))):
            return
        _user, one_time = create_user(
            session, cli_principal().actor, "admin", "admin", password=settings.admin_password
        )
    if one_time:
        click.echo(
            f"Created the first administrator 'admin' with the one-time password: "
            f"{one_time}\nIt is shown only now; you will choose a new one at first login."
        )
    else:
        click.echo(
            "Created the first administrator 'admin' with CHARTVAULT_ADMIN_PASSWORD; "
            "you will choose a new password at first login."
        )


def _ensure_key_file(path) -> str:
    """The key in ``path``, written first (readable by its owner only) if missing."""
    if not path.exists():
        # Created 0600, never readable by others even for an instant.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@with_appcontext
def serve_command(host: str, port: int, threads: int):
    """Serve the web app and API (waitress)."""
    from waitress import serve

    from archive.app import create_app
    from archive.serving import waitress_options

    if not _archive().settings.secret_key:
        raise click.ClickException("No secret key: run `chartvault init` first.")
    if not _archive().settings.audit_key:
        raise click.ClickException(
            "No audit key (CHARTVAULT_AUDIT_KEY): run `chartvault init` first, or set it.")
    _require_current_schema()
    app = create_app()  # the long-running app, with its own connection pool
    stop = threading.Event()
    for task in app.extensions["chartvault"].background_tasks:
        threading.Thread(target=task, args=(stop,), daemon=True).start()
    click.echo(f"ChartVault serving on http://{host}:{port}")
    try:
        serve(app, host=host, port=port, threads=threads, ident="ChartVault",
              **waitress_options(_archive().settings))
    finally:
        stop.set()


@click.group("user")
def user_group():
    """Manage user accounts."""


@user_group.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--full-name", default="")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input instead of generating one.",
)
@with_appcontext
@friendly_errors
def user_add(username: str, role: str, full_name: str, password_stdin: bool):
    """Create a user; prints a one-time password unless --password-stdin."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    with _archive().db.transaction() as session:
        _user, one_time = create_user(
            session, cli_principal().actor, username, role, password=password, full_name=full_name
        )
    click.echo(f"Created {role} {username!r}; the password must be changed at first login.")
    if one_time:
        click.echo(f"One-time password: {one_time}")


def _account_command(name: str, help_text: str, change: Callable[..., object], done: str):
    """``chartvault user NAME USERNAME``: one audited change of one account."""

    @user_group.command(name, help=help_text)
    @click.argument("username")
    @with_appcontext
    @friendly_errors
    def command(username: str):
        with _archive().db.transaction() as session:
            change(session, cli_principal(), username)
        click.echo(done.format(username=username))

    return command


_account_command(
    "disable",
    "Deactivate USERNAME: every session and API token ends at once; nothing is deleted.",
    lambda session, principal, username: accounts.set_active(session, principal, username, False),
    "Deactivated {username}; their sessions and API tokens have ended.",
)
_account_command(
    "enable",
    "Reactivate a deactivated USERNAME.",
    lambda session, principal, username: accounts.set_active(session, principal, username, True),
    "Reactivated {username}.",
)
_account_command(
    "unlock",
    "Unlock USERNAME after repeated failed logins.",
    accounts.unlock,
    "Unlocked {username}.",
)


@user_group.command("reset-password")
@click.argument("username")
@with_appcontext
@friendly_errors
def user_reset_password(username: str):
    """Print a one-time password for USERNAME (to be changed at next login); every session
    and API token of the user ends."""
    with _archive().db.transaction() as session:
        one_time = accounts.reset_password(session, cli_principal(), username)
    click.echo(one_time)


@user_group.command("role")
@click.argument("username")
@click.argument("role", type=click.Choice(ROLES))
@with_appcontext
@friendly_errors
def user_role(username: str, role: str):
    """Give USERNAME another role; their sessions and API tokens end."""
    with _archive().db.transaction() as session:
        accounts.change_role(session, cli_principal(), username, role)
    click.echo(f"{username} is now {role}; their sessions and API tokens have ended.")


@user_group.command("list")
@with_appcontext
def user_list():
    """One line per user: name, role, state, last login, open sessions, live tokens."""
    with _archive().db.transaction() as session:
        rows = accounts.list_accounts(session, cli_principal())
    for row in rows:
        last = row.last_login_at.strftime("%Y-%m-%d %H:%M") if row.last_login_at else "never"
        click.echo(f"{row.username}\t{row.role}\t{row.state}\tlast login {last}\t"
                   f"{row.open_sessions} sessions\t{row.live_tokens} tokens")


@click.group("token")
def token_group():
    """Manage API tokens."""


@token_group.command("create")
@click.argument("username")
@click.option("--name", "label", default="cli", show_default=True, help="What the token is for.")
@click.option("--expires", default=None, help="Last day the token works, YYYY-MM-DD (UTC).")
@with_appcontext
@friendly_errors
def token_create(username: str, label: str, expires: str | None):
    """Print a new API token for USERNAME (shown once; only its hash is stored)."""
    expires_at = expiry_after(parse_date(expires, "--expires"))
    with _archive().db.transaction() as session:
        token = create_token(session, cli_principal().actor, username, label, expires_at)
    click.echo(token)


@token_group.command("list")
@click.argument("username", required=False)
@with_appcontext
@friendly_errors
def token_list(username: str | None):
    """One line per API token (of USERNAME), its id first; never the token itself."""
    with _archive().db.transaction() as session:
        rows = list_tokens(session, username)
    for row in rows:
        used = row.last_used_at.strftime("%Y-%m-%d %H:%M") if row.last_used_at else "never"
        expires = row.expires_at.strftime("%Y-%m-%d %H:%M UTC") if row.expires_at else "never"
        click.echo(f"{row.id}\t{row.username}\t{row.name}\t{row.state}\t"
                   f"last used {used}\texpires {expires}")


@token_group.command("revoke")
@click.argument("token_id", type=click.IntRange(1, MAX_ID))
@with_appcontext
@friendly_errors
def token_revoke(token_id: int):
    """Revoke the API token TOKEN_ID (`chartvault token list` shows the ids) at once."""
    with _archive().db.transaction() as session:
        revoke_token(session, cli_principal().actor, token_id)
    click.echo(f"Revoked token {token_id}.")


@click.group("patient")
def patient_group():
    """Manage patients."""


@patient_group.command("add")
@click.argument("mrn")
@click.option("--name", required=True, help='As on the chart, e.g. "DOE, JANE".')
@click.option("--dob", required=True, help="Date of birth, YYYY-MM-DD.")
@click.option("--date-of-death", default=None, help="YYYY-MM-DD, if deceased.")
@click.option("--restricted", is_flag=True, help="Chart needs break-the-glass to read.")
@with_appcontext
@friendly_errors
def patient_add(mrn: str, name: str, dob: str, date_of_death: str | None, restricted: bool):
    """Register a patient."""
    with _archive().db.transaction() as session:
        register_patient(
            session,
            cli_principal(),
            mrn=mrn,
            name=name,
            dob=parse_date(dob, "--dob"),
            date_of_death=parse_date(date_of_death, "--date-of-death"),
            restricted=restricted,
        )
    click.echo(f"Registered patient {mrn}.")


@click.group("audit")
def audit_group():
    """The audit trail."""


@audit_group.command("verify")
@with_appcontext
@friendly_errors
def audit_verify():
    """Check the audit chain against the audit key and every anchor in the replica store;
    name the first event that fails."""
    ext = _archive()
    if ext.db.audit_key is None:
        raise click.ClickException(
            "No audit key is configured (CHARTVAULT_AUDIT_KEY, or the data directory's "
            "audit_key file): the chain cannot be verified.")
    result = audit_anchor.check(ext.db, ext.replica)
    report = result.report
    if not report.ok:
        raise click.ClickException(
            f"Audit chain broken at event {report.first_broken_seq}: {report.problem} "
            f"({report.events_checked} events before it verified)."
        )
    click.echo(f"Audit chain intact: {report.events_checked} events verified against the "
               "audit key.")
    if result.lost_in_restores:
        last = max(anchor.seq for anchor in result.lost_in_restores)
        click.echo(f"{len(result.lost_in_restores)} anchors record events up to {last} that "
                   "were lost when the archive was restored from an older snapshot; not "
                   "checked.")
    if result.replica_problem:
        raise click.ClickException(
            f"The anchors were NOT checked, so deleted newest events would go unnoticed: the "
            f"replica store could not be read ({result.replica_problem})")
    if result.anchors:
        click.echo(f"All {result.anchors} anchors in the replica store match the chain.")
    else:
        click.echo("No anchor in the replica store covers this chain yet, so deleted newest "
                   "events would go unnoticed: the schedule writes one every 5 minutes, "
                   "`chartvault backup run` one at once.")


# The core's commands belong to the `chartvault` group itself; the packages add theirs to
# the app's (init_app), which the group merges in. So the factory never imports this module.
for _command in (init_command, serve_command, user_group, token_group, patient_group,
                 audit_group):
    cli.add_command(_command)

"""How long a failed login takes for an unknown username, beside a wrong password for a known one.

    python -m bench.login [--tries 200] [--warmup 5] [--dir DIR]

Untimed setup: a migrated SQLite database in a temporary directory and the app from
``create_app`` with one known user. Then, through Flask's test client (no sockets, so no
network noise), ``--tries`` POSTs of /login with a wrong password for the known user and as
many for unknown usernames (a new one each time, as someone probing names would send). The
two kinds alternate, and the order within each pair flips from one pair to the next, so drift
(page cache, a neighbour's load, the growing audit table) hits both alike. Each answer must
be the login form again with 401 and the generic message; afterwards the audit trail must
hold exactly ``--tries`` failures of each kind, so both paths really ran.

The throttle and the lockout are turned off for the bench, which the output says:
- Flask-Limiter would refuse the 11th try a minute for one name (429), so both login rates
  are set to 100000 per minute.
- The known user would lock after ``lockout_threshold`` failures; the threshold is set out of
  reach so every try takes the wrong-password branch. A locked account would cost the same
  anyway: ``archive.auth.accounts.authenticate`` runs its one scrypt verification (against a
  stand-in hash for an unknown name) before it looks at the user, the lock or the password.

Target (issue 15): median unknown / median known within 0.9-1.1, so the time of the answer
does not tell whether a username exists. Prints PASS or FAIL (exit status 1 on FAIL).
"""

from __future__ import annotations

import argparse
import platform
import re
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from archive import migrate
from archive.app import create_app
from archive.audit import Actor
from archive.auth.accounts import create_user
from archive.config import Settings
from archive.models import AuditEvent
from bench.ocr import OtherLoad, load, others_note, verdict

TARGET = (0.9, 1.1)
KNOWN = "records.clerk"
# Random for each run, of equal length: only the known user's hash differs between the kinds.
KNOWN_PASSWORD = secrets.token_urlsafe(24)
WRONG_PASSWORD = secrets.token_urlsafe(24)
# Out of reach of any throttle, for this bench only: production keeps the defaults.
UNTHROTTLED = "100000 per minute"
NEVER_LOCKS = 10**9


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as stream:
            for line in stream:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def build(root: Path) -> Flask:
    settings = Settings(
        data_dir=root / "data",
        database_url=f"sqlite:///{root / 'bench.db'}",
        storage="filesystem",
        secret_key=secrets.token_hex(32),
        audit_key=secrets.token_hex(32),
        login_rate_per_address=UNTHROTTLED,
        login_rate_per_account=UNTHROTTLED,
        lockout_threshold=NEVER_LOCKS,
    )
    settings.data_dir.mkdir(parents=True)
    app = create_app(settings)
    ext = app.extensions["chartvault"]
    migrate.upgrade(ext.db.engine)
    with ext.db.transaction() as session:
        create_user(session, Actor("bench"), KNOWN, "clerk", password=KNOWN_PASSWORD,
                    must_change_password=False)
    return app


class LoginForm:
    """POSTs to /login the way a browser does: CSRF token from the form, cookie kept."""

    def __init__(self, client: FlaskClient):
        self.client = client
        page = client.get("/login").get_data(as_text=True)
        self.csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    def fail(self, username: str) -> float:
        """Seconds for one failed login; refuses any answer but the generic failure."""
        started = time.perf_counter()
        response = self.client.post(
            "/login",
            data={"csrf_token": self.csrf, "username": username, "password": WRONG_PASSWORD},
        )
        seconds = time.perf_counter() - started
        body = response.get_data(as_text=True)
        if response.status_code != 401 or "Wrong username or password" not in body:
            raise SystemExit(f"login as {username!r} answered {response.status_code}, not the "
                             "generic 401 failure: the bench measures the wrong thing")
        return seconds


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def failures_by_reason(app: Flask) -> dict[str, int]:
    with app.extensions["chartvault"].db.transaction() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "auth.login",
                                     AuditEvent.outcome == "failure")
        ).all()
        reasons: dict[str, int] = {}
        for event in events:
            why = (event.details or {}).get("why", "")
            reasons[why] = reasons.get(why, 0) + 1
        assert session.scalar(select(func.count()).select_from(AuditEvent)
                              .where(AuditEvent.action == "auth.lockout")) == 0
    return reasons


def run(args: argparse.Namespace) -> bool:
    print(f"CPU: {cpu_model()}; Python {platform.python_version()}; load average {load()}")
    print(f"throttle off for the bench: login_rate_per_address and login_rate_per_account = "
          f"{UNTHROTTLED!r}; lockout_threshold = {NEVER_LOCKS} (every try of the known user "
          "takes the wrong-password branch)")
    with tempfile.TemporaryDirectory(prefix="chartvault-login-", dir=args.dir) as tmp:
        app = build(Path(tmp))
        try:
            form = LoginForm(app.test_client())
            # Untimed: the first unknown name makes the stand-in hash; templates compile.
            for number in range(args.warmup):
                form.fail(KNOWN)
                form.fail(f"warmup-{number:04d}")
            known: list[float] = []
            unknown: list[float] = []
            with OtherLoad() as others:
                started = time.perf_counter()
                for number in range(args.tries):
                    pair = [(known, KNOWN), (unknown, f"nobody-{number:04d}")]
                    for times, username in pair if number % 2 == 0 else reversed(pair):
                        times.append(form.fail(username))
                wall = time.perf_counter() - started
            reasons = failures_by_reason(app)
        finally:
            app.extensions["chartvault"].db.dispose()
    expected = {"wrong password": args.tries + args.warmup,
                "unknown or inactive user": args.tries + args.warmup}
    paths_ok = reasons == expected
    print(f"{args.tries} failed logins of each kind, alternating, in {wall:.1f} s; "
          f"{others_note(others.cores)}")
    print(f"audit trail: {reasons} (expected {expected}): {verdict(paths_ok)}")
    print(f"{'':<26}{'median ms':>10}{'p90 ms':>10}{'mean ms':>10}{'min ms':>10}")
    for label, times in (("known user, wrong password", known), ("unknown user", unknown)):
        print(f"{label:<26}{statistics.median(times) * 1e3:>10.1f}{p90(times) * 1e3:>10.1f}"
              f"{statistics.mean(times) * 1e3:>10.1f}{min(times) * 1e3:>10.1f}")
    ratio = statistics.median(unknown) / statistics.median(known)
    ok = TARGET[0] <= ratio <= TARGET[1]
    print(f"median unknown / median known = {ratio:.3f} (target {TARGET[0]}-{TARGET[1]}): "
          f"{verdict(ok)}; p90 ratio {p90(unknown) / p90(known):.3f} (for information)")
    return ok and paths_ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tries", type=int, default=200, help="timed tries of each kind")
    parser.add_argument("--warmup", type=int, default=5, help="untimed tries of each kind first")
    parser.add_argument("--dir", default=None, help="where to put the database (default: /tmp)")
    return 0 if run(parser.parse_args(argv)) else 1


if __name__ == "__main__":
    sys.exit(main())

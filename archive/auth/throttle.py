"""Throttling of the login form with Flask-Limiter: per client address and per account name
(known or not, so the throttle says nothing about which names exist).

Counters live where CHARTVAULT_RATELIMIT_STORAGE says. The default, ``memory://``, keeps them
in the process: right for `chartvault serve` (one process, many threads). Under gunicorn with
several workers each worker would count on its own, multiplying the allowance by the number
of workers: point the setting at a store they share (``redis://host:6379`` or
``memcached://host:11211``; see the limits library's storage URIs).
"""

from __future__ import annotations

from flask import Flask, request
from flask_limiter import Limiter
from limits import parse_many

from archive.auth.guards import client_address


def _account_key() -> str:
    return "account:" + request.form.get("username", "").strip().lower()[:80]


def checked_rate(value: str, variable: str) -> str:
    """A rate such as ``10 per minute`` or ``10/minute; 100/hour``; else a clear error."""
    try:
        parse_many(value)
    except ValueError:
        raise ValueError(
            f"CHARTVAULT_{variable} must be a rate like '10 per minute' or '10/minute; 100/hour', "
            f"not {value!r}."
        ) from None
    return value


def init_app(app: Flask) -> None:
    settings = app.extensions["chartvault"].settings
    limiter = Limiter(
        key_func=client_address,
        app=app,
        storage_uri=settings.ratelimit_storage,
        strategy="moving-window",
    )
    login = app.view_functions["auth.login"]
    per_address = limiter.limit(
        checked_rate(settings.login_rate_per_address, "LOGIN_RATE_PER_ADDRESS"),
        methods=["POST"],
        scope="login-address",
        error_message="Too many login attempts from this computer. Wait a minute and try again.",
    )
    per_account = limiter.limit(
        checked_rate(settings.login_rate_per_account, "LOGIN_RATE_PER_ACCOUNT"),
        key_func=_account_key,
        methods=["POST"],
        scope="login-account",
        error_message="Too many login attempts for this username. Wait a minute and try again.",
    )
    app.view_functions["auth.login"] = per_address(per_account(login))

"""Route guards. Every route declares who may use it: ``@public`` on purpose, or
``@requires(permission)``. tests/archive/test_route_guards.py walks ``app.url_map`` and
fails for any view that declares neither."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import current_app, g, redirect, request, url_for
from flask_login import current_user

from archive import audit
from archive.auth.accounts import principal_of
from archive.auth.permissions import Principal, can
from archive.auth.tokens import principal_from_token
from archive.errors import AuthenticationRequired, PermissionDenied

ACCESS_ATTRIBUTE = "chartvault_access"


def public(view: Callable) -> Callable:
    setattr(view, ACCESS_ATTRIBUTE, "public")
    return view


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def client_address() -> str:
    return request.remote_addr or ""


def current_principal() -> Principal | None:
    """The authenticated principal of this request: a Bearer token for the API, the
    login session for the web (never a cookie on the API, so no CSRF there)."""
    if "principal" in g:
        return g.principal
    principal = None
    if is_api_request():
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            with current_app.extensions["chartvault"].db.transaction() as session:
                principal = principal_from_token(session, header[7:].strip(), client_address())
    elif current_user.is_authenticated:
        principal = principal_of(current_user.user, client_address())
    g.principal = principal
    return principal


def requires(permission: str) -> Callable[[Callable], Callable]:
    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def guarded(*args, **kwargs):
            principal = current_principal()
            if principal is None:
                if is_api_request():
                    raise AuthenticationRequired(
                        "Send an API token as 'Authorization: Bearer <token>' "
                        "(create one with `chartvault token create`)."
                    )
                return redirect(url_for("auth.login", next=request.full_path))
            if not can(principal.role, permission):
                audit.record_now(
                    current_app.extensions["chartvault"].db,
                    principal.actor,
                    "access.denied",
                    outcome="refused",
                    details={"path": request.path, "permission": permission},
                )
                raise PermissionDenied(
                    f"Your role ({principal.role}) may not open this page. Ask an "
                    "administrator if your work needs it."
                )
            return view(*args, **kwargs)

        setattr(guarded, ACCESS_ATTRIBUTE, permission)
        return guarded

    return decorate

"""Authentication: login sessions for the web, Bearer tokens for the API."""

from __future__ import annotations

from flask import Flask, session
from flask_login import LoginManager, UserMixin

from archive.auth.sessions import COOKIE_KEY, open_session_user
from archive.models import User

login_manager = LoginManager()


class LoginUser(UserMixin):
    """Flask-Login's view of a user row, loaded fresh on every request from the open
    server-side session (so logout, a deactivation or a password change ends it at once)."""

    def __init__(self, user: User):
        self.user = user
        self.id = str(user.id)

    @property
    def is_active(self) -> bool:
        return self.user.active


def init_app(app: Flask) -> None:
    # The auth blueprints are registered by the application factory (archive.app), before
    # this: the login throttle wraps the login view.
    from archive.auth import throttle
    from archive.extensions import NavLink

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str) -> LoginUser | None:
        session_id = session.get(COOKIE_KEY)
        if not isinstance(session_id, str):
            return None
        with app.extensions["chartvault"].db.transaction() as db_session:
            user = open_session_user(db_session, session_id)
        return LoginUser(user) if user and str(user.id) == user_id else None

    app.extensions["chartvault"].navigation.append(
        NavLink("accounts.users", "Users", "user.manage",
                "Add users, change roles, reset passwords, unlock, deactivate; API tokens.",
                "administration")
    )
    throttle.init_app(app)

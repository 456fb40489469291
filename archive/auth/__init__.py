"""Authentication: login sessions for the web, Bearer tokens for the API."""

from __future__ import annotations

from flask import Flask
from flask_login import LoginManager, UserMixin

from archive.models import User

login_manager = LoginManager()


class LoginUser(UserMixin):
    """Flask-Login's view of a user row, loaded fresh on every request (so a
    deactivated or locked account loses access at once)."""

    def __init__(self, user: User):
        self.user = user
        self.id = str(user.id)

    @property
    def is_active(self) -> bool:
        return self.user.active


def init_app(app: Flask) -> None:
    from archive.auth import views

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str) -> LoginUser | None:
        with app.extensions["chartvault"].db.transaction() as session:
            user = session.get(User, int(user_id))
        return LoginUser(user) if user and user.active else None

    app.register_blueprint(views.bp)

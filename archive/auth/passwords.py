"""Password hashing (scrypt, a memory-hard KDF), the password policy, and API token handling."""

from __future__ import annotations

import hashlib
import secrets
from functools import cache

from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn import zxcvbn

from archive.errors import BadRequest

MIN_PASSWORD_LENGTH = 12
# Long enough for any passphrase; bounded so that hashing and strength estimation stay cheap.
MAX_PASSWORD_LENGTH = 128
# zxcvbn's scale: 3 is "safely unguessable" (about 10^8 guesses and more), 4 "very unguessable".
MIN_PASSWORD_SCORE = 3
TOKEN_PREFIX = "cvt_"  # noqa: S105 - a label, not a secret


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches. With no hash (no such user) the same scrypt work is done
    against a stand-in hash, so a login for an unknown name takes as long as a wrong password."""
    return check_password_hash(password_hash or _stand_in_hash(), password) and bool(
        password_hash
    )


@cache
def _stand_in_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def check_password_policy(password: str, *, about_user: tuple[str, ...] = ()) -> None:
    """Refuse short, overlong, common and guessable passwords, saying why and what helps.
    ``about_user`` (username, full name) counts as guessable too."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise BadRequest(f"Choose a password of at most {MAX_PASSWORD_LENGTH} characters.")
    words = [word for word in (*about_user, "chartvault", "hospital", "archive") if word]
    verdict = zxcvbn(password, user_inputs=words)
    if verdict["score"] >= MIN_PASSWORD_SCORE:
        return
    feedback = verdict["feedback"]
    why = feedback.get("warning") or "This password is easy to guess."
    advice = " ".join(feedback.get("suggestions") or []) or (
        "Use several unrelated words, or a longer phrase."
    )
    raise BadRequest(f"Choose a stronger password. {why.rstrip('.')}. {advice}".strip())


def new_one_time_password() -> str:
    return secrets.token_urlsafe(12)


def new_api_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens are long random strings, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(token.encode()).hexdigest()

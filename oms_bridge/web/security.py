"""Web admin security: scrypt password hashes, signed session cookies, CSRF tokens.

- **Passwords** are stored as ``scrypt$n$r$p$salt$hash`` (``hashlib.scrypt``, n=2**14, r=8, p=1,
  16-byte salt); verification is constant-time. ``oms-bridge admin set-password`` sets them.
- **Sessions**: the cookie ``omsb_session`` is ``<user id>.<expiry epoch>.<HMAC-SHA256>``, signed with
  the user's own random key (stored vault-encrypted in ``oms_admin_user``). Changing the password
  replaces that key, which signs every existing session out. ``HttpOnly``, ``SameSite=Lax``; ``Secure``
  when the configured ``base_url`` is https. Lifetime: ``admin_session_hours`` (config file, default 12).
- **CSRF**: double-submit token. Every admin page sets a random ``omsb_csrf`` cookie
  (``SameSite=Strict``) and puts the same value in each form's hidden ``csrf_token`` field; every POST
  must carry both, equal (constant-time compare). A cross-site form can neither read the cookie nor
  make the browser send it, so it cannot forge the pair. The login form is protected the same way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import select, update

from oms_bridge.settings import Settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import AdminUser, utcnow
from oms_bridge.vault import Vault

__all__ = ["PasswordError", "hash_password", "verify_password", "set_admin_password", "authenticate",
           "SessionInfo", "issue_session", "read_session", "new_csrf_token", "csrf_ok",
           "SESSION_COOKIE", "CSRF_COOKIE", "MIN_PASSWORD_LENGTH"]

SESSION_COOKIE = "omsb_session"
CSRF_COOKIE = "omsb_csrf"
MIN_PASSWORD_LENGTH = 8
_N, _R, _P = 2**14, 8, 1


class PasswordError(ValueError):
    """The password cannot be used (too short)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """A salted scrypt hash in a self-describing string."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (constant-time); False for any malformed hash."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
                                  dklen=len(_unb64(digest)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(computed, _unb64(digest))


def set_admin_password(username: str, password: str, *, settings: Settings) -> None:
    """Create the account or change its password; a new session key signs all sessions out."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordError(f"the admin password needs at least {MIN_PASSWORD_LENGTH} characters")
    vault = Vault.from_settings(settings)
    with session_scope(settings, immediate=True) as session:
        user = session.scalars(select(AdminUser).where(AdminUser.username == username)).first()
        if user is None:
            user = AdminUser(username=username)
            session.add(user)
        user.password_hash = hash_password(password)
        user.session_key_enc = vault.encrypt(secrets.token_urlsafe(32))
        user.password_changed = utcnow()


def authenticate(username: str, password: str, *, settings: Settings) -> int | None:
    """The user id when the password is right, else None (same cost for unknown users).

    The scrypt check (tens of ms of CPU) runs outside any transaction: a read-only read of the hash,
    then - only on success - a short write of ``last_login``. Held inside a write transaction, a flood
    of wrong passwords would hold SQLite's write lock and stall every writer."""
    with session_scope(settings, readonly=True) as session:
        user = session.scalars(select(AdminUser).where(AdminUser.username == username,
                                                       AdminUser.isactive.is_(True))).first()
        user_id, stored = (user.id, user.password_hash) if user is not None else (None, None)
    if user_id is None or stored is None:
        verify_password(password, hash_password("timing-equaliser"))
        return None
    if not verify_password(password, stored):
        return None
    with session_scope(settings) as session:
        session.execute(update(AdminUser).where(AdminUser.id == user_id, AdminUser.password_hash == stored)
                        .values(last_login=utcnow()).execution_options(synchronize_session=False))
    return user_id


@dataclass(frozen=True)
class SessionInfo:
    user_id: int
    username: str
    expires: int


def _session_key(settings: Settings, user: AdminUser) -> bytes:
    return Vault.from_settings(settings).decrypt(user.session_key_enc, what=f"admin user {user.username}").encode()


def _sign(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def session_hours(settings: Settings) -> float:
    return float(settings.extra.get("admin_session_hours", 12))


def issue_session(user_id: int, *, settings: Settings) -> str:
    """The cookie value for a freshly logged-in user."""
    expires = int(time.time() + session_hours(settings) * 3600)
    with session_scope(settings, readonly=True) as session:
        user = session.get(AdminUser, user_id)
        payload = f"{user_id}.{expires}"
        return f"{payload}.{_sign(_session_key(settings, user), payload)}"


def read_session(cookie: str | None, *, settings: Settings) -> SessionInfo | None:
    """The session a cookie proves, or None (missing, forged, expired, user gone or password changed)."""
    if not cookie:
        return None
    try:
        user_id_text, expires_text, signature = cookie.split(".")
        user_id, expires = int(user_id_text), int(expires_text)
    except ValueError:
        return None
    if expires < time.time():
        return None
    with session_scope(settings, readonly=True) as session:
        user = session.get(AdminUser, user_id)
        if user is None or not user.isactive:
            return None
        expected = _sign(_session_key(settings, user), f"{user_id}.{expires}")
        if not hmac.compare_digest(expected, signature):
            return None
        return SessionInfo(user_id, user.username, expires)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_ok(cookie_token: str | None, form_token: str | None) -> bool:
    """Both halves of the double-submit token present and equal."""
    return bool(cookie_token and form_token and hmac.compare_digest(cookie_token, form_token))

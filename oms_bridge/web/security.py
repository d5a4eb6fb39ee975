"""Web admin security: scrypt password hashes, server-side sessions, session-bound CSRF tokens, login throttling.

- **Passwords** are stored as ``scrypt$n$r$p$salt$hash`` (``hashlib.scrypt``, n=2**14, r=8, p=1,
  16-byte salt); verification is constant-time. ``oms-bridge admin set-password`` sets them.
- **Sessions** live in ``oms_admin_session``: the cookie ``omsb_session`` holds 32 random bytes
  (url-safe base64) and the table only their SHA-256, with the expiry. Every request looks the session
  up, so **logout ends it at once** (the row is deleted) and a password change ends every session of
  the account. A cookie that is not of that exact shape is ignored before any lookup (no parsing of
  ids a forger controls). ``HttpOnly``, ``SameSite=Lax``; ``Secure`` when the configured ``base_url``
  is https. Lifetime: ``admin_session_hours`` (config file, default 12).
- **CSRF**: a logged-in admin's forms carry ``HMAC-SHA256(session token, "csrf")``: bound to the session,
  unknown to anyone who cannot read the (HttpOnly) session cookie, useless after logout. Forms shown
  without a session (the login form) use a double-submit token: a random ``omsb_csrf`` cookie
  (``SameSite=Strict``) echoed in the form. Every POST is checked before anything changes.
- **Login throttling** (:mod:`oms_bridge.web.login_throttle`): too many failed logins for a user name or
  from an address lock it out for a while, before the password is even checked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update

from oms_bridge.settings import Settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import AdminSession, AdminUser, utcnow
from oms_bridge.web import login_throttle

__all__ = ["PasswordError", "hash_password", "verify_password", "set_admin_password", "authenticate",
           "LoginResult", "login", "SessionInfo", "issue_session", "read_session", "end_session", "csrf_for",
           "new_csrf_token", "csrf_ok", "SESSION_COOKIE", "CSRF_COOKIE", "MIN_PASSWORD_LENGTH"]

SESSION_COOKIE = "omsb_session"
CSRF_COOKIE = "omsb_csrf"
MIN_PASSWORD_LENGTH = 8
_N, _R, _P = 2**14, 8, 1
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)


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
        computed = hashlib.scrypt(password.encode("utf-8", "surrogatepass"), salt=_unb64(salt), n=int(n), r=int(r),
                                  p=int(p), dklen=len(_unb64(digest)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(computed, _unb64(digest))


def set_admin_password(username: str, password: str, *, settings: Settings) -> None:
    """Create the account or change its password; every session of the account ends."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordError(f"the admin password needs at least {MIN_PASSWORD_LENGTH} characters")
    with session_scope(settings, immediate=True) as session:
        user = session.scalars(select(AdminUser).where(AdminUser.username == username)).first()
        if user is None:
            user = AdminUser(username=username)
            session.add(user)
        user.password_hash = hash_password(password)
        session.flush()
        user.session_key_enc = None
        user.password_changed = utcnow()
        session.execute(delete(AdminSession).where(AdminSession.oms_admin_user_id == user.id))
        login_throttle.forget(session, username)


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
class LoginResult:
    """A login attempt: the new session cookie, or the message to show (and whether it was throttled)."""

    cookie: str | None = None
    error: str | None = None
    retry_after: int | None = None


def login(username: str, password: str, client_ip: str, *, settings: Settings) -> LoginResult:
    """Check the throttle, then the password; record a failure or start a session.

    A locked-out name or address is refused before scrypt runs (an attacker gets no answer about the
    password, and the server spends nothing on it)."""
    with session_scope(settings, readonly=True) as session:
        wait = login_throttle.locked_for(session, username, client_ip, settings)
    if wait:
        minutes = max(1, -(-wait // 60))
        return LoginResult(error=f"Too many failed logins for this user name or from this address. Try again in "
                                 f"{minutes} minute{'s' if minutes > 1 else ''}.", retry_after=wait)
    user_id = authenticate(username, password, settings=settings)
    with session_scope(settings, immediate=True) as session:
        if user_id is None:
            login_throttle.record_failure(session, username, client_ip, settings)
            return LoginResult(error="Wrong user name or password.")
        login_throttle.forget(session, username)
    return LoginResult(cookie=issue_session(user_id, settings=settings))


@dataclass(frozen=True)
class SessionInfo:
    user_id: int
    username: str
    expires: int
    csrf: str = ""


def session_hours(settings: Settings) -> float:
    return float(settings.extra.get("admin_session_hours", 12))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def csrf_for(token: str) -> str:
    """The CSRF token of the forms of the session whose cookie is ``token``."""
    return _b64(hmac.new(token.encode("ascii"), b"omsb-csrf", hashlib.sha256).digest())


def issue_session(user_id: int, *, settings: Settings) -> str:
    """A new session for a freshly logged-in user; returns the cookie value (expired sessions are deleted)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with session_scope(settings, immediate=True) as session:
        session.execute(delete(AdminSession).where(AdminSession.expires_at < now))  # nobody's expired rows stay
        # The signing key of the old cookie format is no longer used: drop it (it would count as a secret).
        session.execute(update(AdminUser).where(AdminUser.id == user_id, AdminUser.session_key_enc.is_not(None))
                        .values(session_key_enc=None))
        session.add(AdminSession(oms_admin_user_id=user_id, token_hash=_token_hash(token),
                                 expires_at=now + timedelta(hours=session_hours(settings))))
    return token


def read_session(cookie: str | None, *, settings: Settings) -> SessionInfo | None:
    """The session a cookie proves, or None (missing, malformed, unknown, ended, expired, user disabled)."""
    if not cookie or not _TOKEN_RE.match(cookie):
        return None
    with session_scope(settings, readonly=True) as session:
        row = session.execute(
            select(AdminSession.expires_at, AdminUser.id, AdminUser.username)
            .join(AdminUser, AdminUser.id == AdminSession.oms_admin_user_id)
            .where(AdminSession.token_hash == _token_hash(cookie), AdminUser.isactive.is_(True))).first()
    if row is None:
        return None
    expires_at = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
    if expires_at <= datetime.now(UTC):
        return None
    return SessionInfo(row.id, row.username, int(expires_at.timestamp()), csrf_for(cookie))


def end_session(cookie: str | None, *, settings: Settings) -> None:
    """Logout: the session stops working now, for this cookie and any copy of it."""
    if not cookie or not _TOKEN_RE.match(cookie):
        return
    with session_scope(settings, immediate=True) as session:
        session.execute(delete(AdminSession).where(AdminSession.token_hash == _token_hash(cookie)))


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_ok(expected: str | None, form_token: str | None) -> bool:
    """Both tokens present and equal (constant time)."""
    if not expected or not isinstance(form_token, str) or not form_token:
        return False
    return hmac.compare_digest(expected.encode("utf-8", "surrogatepass"), form_token.encode("utf-8", "surrogatepass"))

"""Named users and their sign-in sessions.

Passwords are hashed with argon2 (argon2-cffi's defaults, the RFC 9106
low-memory profile); only the hash is stored. A session's token is a random
string handed to the browser once (as a cookie); the database keeps only its
SHA-256, so a copy of the database signs nobody in. Disabling a user or
setting a new password revokes every session of that user.

Nothing here logs or returns a password or a token's digest.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import secrets
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from dsa110_contimg.products.models import User, UserRole, UserSession, utcnow
from dsa110_contimg.products.repositories.query import (
    ConflictError,
    InvalidQueryError,
    NotFoundError,
)

#: A user name: letters, digits, ``.``, ``_``, ``-``, ``@``; 1..64 characters, starting
#: with a letter or digit.
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")

#: Shortest and longest password accepted (argon2 hashes any length; the ceiling keeps a
#: request from making the server hash megabytes).
PASSWORD_LENGTH = (8, 1024)

#: How often (s) a session's ``last_seen`` is written at most (not on every request).
LAST_SEEN_EVERY_S = 60.0

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    # Verified against when the name is unknown or disabled, so that answer takes as long.
    return _hasher.hash(secrets.token_urlsafe(16))


def token_digest(token: str) -> str:
    """The SHA-256 (hex) under which a session token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_user_name(name: str) -> str:
    """``name`` if it is a valid user name.

    Raises
    ------
    InvalidQueryError
        When it is empty, too long or has other characters.
    """
    if not isinstance(name, str) or not USER_NAME.fullmatch(name):
        raise InvalidQueryError(
            f"invalid user name {name!r}",
            hint="1 to 64 letters, digits, '.', '_', '-' or '@', starting with a letter or digit",
        )
    return name


def check_password(password: str) -> str:
    """``password`` if it is acceptable (its length); the message never quotes it.

    Raises
    ------
    InvalidQueryError
        When it is shorter or longer than :data:`PASSWORD_LENGTH` allows.
    """
    low, high = PASSWORD_LENGTH
    if not isinstance(password, str) or not low <= len(password) <= high:
        raise InvalidQueryError(f"a password must have {low} to {high} characters")
    return password


def check_role(role: str | UserRole) -> UserRole:
    """The :class:`UserRole` named by ``role``.

    Raises
    ------
    InvalidQueryError
        For any other value.
    """
    try:
        return UserRole(role)
    except ValueError:
        known = ", ".join(r.value for r in UserRole)
        raise InvalidQueryError(f"unknown role {role!r} (one of {known})") from None


def _public(user: User) -> dict[str, Any]:
    return {
        "name": user.name,
        "role": user.role.value,
        "created_at": user.created_at,
        "disabled": user.disabled,
    }


def user_or_none(session: Session, name: str) -> User | None:
    """The user named ``name``, or None."""
    return session.scalars(sa.select(User).where(User.name == name)).one_or_none()


def get_user(session: Session, name: str) -> User:
    """The user named ``name``.

    Raises
    ------
    NotFoundError
        When there is none.
    """
    user = user_or_none(session, name)
    if user is None:
        raise NotFoundError(f"no user named {name!r}")
    return user


def add_user(session: Session, name: str, role: str | UserRole, password: str) -> User:
    """Add a user who may sign in with ``password`` (stored only as an argon2 hash).

    Raises
    ------
    InvalidQueryError
        A bad name, role or password.
    ConflictError
        A user of that name exists (disabled or not).
    """
    check_user_name(name)
    role = check_role(role)
    check_password(password)
    if user_or_none(session, name) is not None:
        raise ConflictError(f"a user named {name!r} exists already")
    user = User(name=name, role=role, password_hash=_hasher.hash(password), disabled=False)
    session.add(user)
    session.flush()
    return user


def _revoke_all(session: Session, user: User) -> int:
    result = session.execute(
        sa.update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked.is_(False))
        .values(revoked=True)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def set_password(session: Session, name: str, password: str) -> User:
    """Give ``name`` a new password and sign out all its sessions.

    Raises
    ------
    NotFoundError, InvalidQueryError
    """
    check_password(password)
    user = get_user(session, name)
    user.password_hash = _hasher.hash(password)
    _revoke_all(session, user)
    session.flush()
    return user


def set_user_role(session: Session, name: str, role: str | UserRole) -> User:
    """Change the role of ``name`` (effective on its next request)."""
    user = get_user(session, name)
    user.role = check_role(role)
    session.flush()
    return user


def disable_user(session: Session, name: str, disabled: bool = True) -> User:
    """Disable ``name`` (no sign-in, every session revoked), or enable it again.

    Raises
    ------
    NotFoundError
    """
    user = get_user(session, name)
    user.disabled = disabled
    if disabled:
        _revoke_all(session, user)
    session.flush()
    return user


def list_users(session: Session) -> list[dict[str, Any]]:
    """Every user by name: name, role, created_at, disabled (never the hash)."""
    return [_public(u) for u in session.scalars(sa.select(User).order_by(User.name))]


def authenticate(session: Session, name: str, password: str) -> User | None:
    """The enabled user ``name`` if ``password`` is theirs, else None.

    An unknown or disabled name costs one argon2 verification too, so the
    time taken does not tell which names exist. A hash made with older
    parameters is replaced on success.
    """
    user = user_or_none(session, name) if isinstance(name, str) and len(name) <= 64 else None
    stored = user.password_hash if user is not None and not user.disabled else _dummy_hash()
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        session.flush()
    return user


def open_session(session: Session, user: User, lifetime: dt.timedelta) -> tuple[str, UserSession]:
    """Start a sign-in session of ``user`` lasting ``lifetime``.

    Returns
    -------
    The token to hand to the browser (shown once, stored only as its digest)
    and the session row.
    """
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = UserSession(
        token_sha256=token_digest(token),
        user_id=user.id,
        created_at=now,
        expires_at=now + lifetime,
        last_seen=now,
        revoked=False,
    )
    session.add(row)
    session.flush()
    return token, row


def session_of_token(session: Session, token: str) -> UserSession | None:
    """The live session of ``token`` (not revoked, not expired, its user enabled), or None.

    Its ``last_seen`` is brought up to date (at most every :data:`LAST_SEEN_EVERY_S`).
    """
    if not token or len(token) > 256:
        return None
    row = session.scalars(
        sa.select(UserSession).where(UserSession.token_sha256 == token_digest(token))
    ).one_or_none()
    now = utcnow()
    if row is None or row.revoked or row.expires_at <= now or row.user.disabled:
        return None
    if (now - row.last_seen).total_seconds() >= LAST_SEEN_EVERY_S:
        row.last_seen = now
        session.flush()
    return row


def revoke_session(session: Session, token: str) -> bool:
    """Sign out the session of ``token``; whether there was a live one."""
    if not token or len(token) > 256:
        return False
    result = session.execute(
        sa.update(UserSession)
        .where(UserSession.token_sha256 == token_digest(token), UserSession.revoked.is_(False))
        .values(revoked=True)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def expire_sessions_before(session: Session, when: dt.datetime) -> int:
    """Delete sessions that expired before ``when`` (housekeeping); how many."""
    result = session.execute(sa.delete(UserSession).where(UserSession.expires_at < when))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]

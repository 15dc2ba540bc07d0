"""Sign-in of named users: ``/api/auth/login``, ``/api/auth/logout``, ``/api/auth/me``.

A sign-in sets two cookies: ``dsa110_session`` (the session token: HttpOnly,
SameSite=Strict, Secure when the request came over HTTPS) and ``dsa110_csrf``
(a random token the page's scripts read and send back in ``X-CSRF-Token`` with
every write: the double-submit defence, see :func:`~dsa110_contimg.api.deps.require_write`).
Both last as long as the session (``auth_session_hours``).

A wrong name and a wrong password get the same 401, after the same argon2
work. Failed attempts are counted per client address and per name
(``auth_max_failures_per_*`` within ``auth_failure_window_s``); past either
limit, attempts get a 429 with ``Retry-After`` without being checked.
Passwords are never logged, returned or quoted in an error.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from dsa110_contimg.api.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    State,
    signed_in_user,
)
from dsa110_contimg.api.errors import ERROR_RESPONSES, ApiError, ErrorBody
from dsa110_contimg.api.security import SignInThrottle, request_is_https
from dsa110_contimg.api.state import AppState
from dsa110_contimg.products import repositories as repo

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/auth", tags=["sign-in"])

_UNAUTHORISED = {401: {"model": ErrorBody, "description": "Not signed in"}}
_LOGIN_RESPONSES = {
    **ERROR_RESPONSES,
    401: {"model": ErrorBody, "description": "Wrong name or password"},
    429: {"model": ErrorBody, "description": "Too many failed sign-ins; see Retry-After"},
}


class LoginIn(BaseModel):
    """A sign-in: the user's name and password."""

    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=repo.PASSWORD_LENGTH[1])


class UserOut(BaseModel):
    """The signed-in user."""

    name: str
    role: str


class MeOut(UserOut):
    """The signed-in user and when the session ends (ISO 8601 UTC)."""

    expires_at: dt.datetime


_throttle_lock = threading.Lock()


def _throttle(request: Request, state: AppState) -> SignInThrottle:
    # One per app (its settings), made on first use.
    app_state = request.app.state
    with _throttle_lock:
        throttle = getattr(app_state, "sign_in_throttle", None)
        if throttle is None:
            settings = state.settings
            throttle = SignInThrottle(
                settings.auth_max_failures_per_address,
                settings.auth_max_failures_per_user,
                settings.auth_failure_window_s,
            )
            app_state.sign_in_throttle = throttle
    return throttle


def _client(request: Request) -> str:
    # The allow-list middleware recorded the address it judged (X-Forwarded-For aware).
    address = request.scope.get("state", {}).get("client_ip")
    if address is None and request.client is not None:
        address = request.client.host
    return address or "unknown"


def _login(state: AppState, name: str, password: str) -> tuple[str, UserOut, dt.datetime] | None:
    lifetime = dt.timedelta(hours=state.settings.auth_session_hours)
    with state.sessions() as session:
        user = repo.authenticate(session, name, password)
        if user is None:
            return None
        token, row = repo.open_session(session, user, lifetime)
        # Housekeeping, as sign-ins are rare: sessions ended over a week ago go.
        repo.expire_sessions_before(session, row.created_at - dt.timedelta(days=7))
        out = UserOut(name=user.name, role=user.role.value)
        session.commit()
        return token, out, row.expires_at


def _set_cookies(
    response: Response, request: Request, state: AppState, token: str, expires: dt.datetime
) -> None:
    secure = request_is_https(request.scope, state.settings.trusted_proxies)
    max_age = max(1, int((expires - dt.datetime.now(dt.UTC)).total_seconds()))
    common = {"max_age": max_age, "path": "/", "secure": secure, "samesite": "strict"}
    response.set_cookie(SESSION_COOKIE, token, httponly=True, **common)  # type: ignore[arg-type]
    response.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(32), httponly=False, **common)  # type: ignore[arg-type]


def _clear_cookies(response: Response, request: Request, state: AppState) -> None:
    secure = request_is_https(request.scope, state.settings.trusted_proxies)
    for name, httponly in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
        response.delete_cookie(name, path="/", secure=secure, httponly=httponly, samesite="strict")


@router.post("/login", response_model=UserOut, responses=_LOGIN_RESPONSES)
async def login(request: Request, response: Response, state: State, body: LoginIn) -> UserOut:
    """Sign in: sets the session and CSRF cookies; 401 for a wrong name or password."""
    throttle = _throttle(request, state)
    address = _client(request)
    refused = throttle.retry_after(address, body.name)
    if refused is not None:
        what, wait = refused
        raise ApiError(
            429,
            "too_many_requests",
            f"too many failed sign-ins from this {'address' if what == 'address' else 'name'}; "
            f"retry in {wait} s",
            details={"retry_after_s": wait},
            headers={"Retry-After": str(wait)},
        )
    result = await run_in_threadpool(_login, state, body.name, body.password)
    if result is None:
        throttle.failed(address, body.name)
        log.info("failed sign-in from %s", address)
        raise ApiError(401, "invalid_credentials", "wrong user name or password")
    throttle.succeeded(body.name)
    token, user, expires = result
    log.info("%s signed in from %s", user.name, address)
    _set_cookies(response, request, state, token, expires)
    response.headers["Cache-Control"] = "no-store"
    return user


def _logout(state: AppState, token: str) -> None:
    with state.sessions() as session:
        repo.revoke_session(session, token)
        session.commit()


@router.post("/logout", status_code=204, responses=ERROR_RESPONSES)
async def logout(request: Request, state: State) -> Response:
    """Sign out: the session is revoked (its cookie no longer works anywhere); cookies cleared.

    Needs no CSRF token: a forged sign-out can only end a session.
    """
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await run_in_threadpool(_logout, state, token)
    response = Response(status_code=204)
    _clear_cookies(response, request, state)
    return response


@router.get("/me", response_model=MeOut, responses={**ERROR_RESPONSES, **_UNAUTHORISED})
async def me(request: Request, response: Response, state: State) -> MeOut:
    """The signed-in user: name, role and when the session ends; 401 when signed out."""
    response.headers["Cache-Control"] = "no-store"
    user = await signed_in_user(request, state)
    if user is None:
        raise ApiError(401, "unauthorized", "not signed in")
    return MeOut(name=user.name, role=user.role.value, expires_at=user.expires_at)

"""Dependencies injected into routes: the app state, DB sessions, write access, caching.

A list's paging, sort and filter parameters are derived from its declared
filters by :func:`dsa110_contimg.api.schemas.list_query`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any

import pydantic_core
from fastapi import Depends, Request, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from dsa110_contimg.api.caching import cache_key
from dsa110_contimg.api.errors import ApiError
from dsa110_contimg.api.state import AppState
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import UserRole

log = logging.getLogger(__name__)


# Light dependencies are ``async``: a sync one would cost a threadpool hop per request.
async def get_state(request: Request) -> AppState:
    """The running API's state."""
    return request.app.state.api


State = Annotated[AppState, Depends(get_state)]


def get_session(state: State) -> Iterator[Session]:
    """A session for one request (its connection comes from the pooled engine).

    It is closed when the route function returns, before the response is sent:
    a slow client reading a streamed body (a FITS, a zip) holds no connection.
    """
    with state.sessions() as session:
        yield session


DbSession = Annotated[Session, Depends(get_session, scope="function")]


# Slots are held until the response has been sent (scope "request"), so a slow
# reader counts against the cap for as long as it reads.
async def download_slot(state: State) -> AsyncIterator[None]:
    """A download slot (``api_max_downloads``); 429 with Retry-After when all are taken."""
    state.downloads.acquire()
    try:
        yield
    finally:
        state.downloads.release()


async def export_slot(state: State) -> AsyncIterator[None]:
    """An export slot (``api_max_exports``); 429 with Retry-After when all are taken."""
    state.exports.acquire()
    try:
        yield
    finally:
        state.exports.release()


#: Add to a route's parameters (``_: DownloadSlot``) or to a router's dependencies.
DownloadSlot = Annotated[None, Depends(download_slot, scope="request")]
ExportSlot = Depends(export_slot, scope="request")


_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="A write key")
_bearer = HTTPBearer(auto_error=False, description="A write key as a bearer token")

#: The sign-in cookies: the session token (HttpOnly) and the CSRF token (read by the
#: page's scripts and sent back in the ``X-CSRF-Token`` header of every write).
SESSION_COOKIE = "dsa110_session"
CSRF_COOKIE = "dsa110_csrf"
CSRF_HEADER = "X-CSRF-Token"

#: Roles that may make the API's writes (API keys have the operator's rights).
WRITER_ROLES = frozenset({UserRole.OPERATOR, UserRole.ADMIN})


@dataclasses.dataclass(frozen=True)
class SignedIn:
    """Who a request's session cookie belongs to."""

    name: str
    role: UserRole
    expires_at: dt.datetime

    @property
    def who(self) -> str:
        """How the user is recorded as the author of a write (``requested_by``, ...)."""
        return f"user:{self.name}"


def _session_user(state: AppState, token: str) -> SignedIn | None:
    with state.sessions() as session:
        row = repo.session_of_token(session, token)
        if row is None:
            return None
        signed_in = SignedIn(row.user.name, row.user.role, row.expires_at)
        session.commit()  # last_seen
        return signed_in


async def signed_in_user(request: Request, state: State) -> SignedIn | None:
    """The user of the request's live session cookie, or None (no cookie, expired, revoked)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return await run_in_threadpool(_session_user, state, token)


def _csrf_ok(request: Request) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    # Both present, and equal: compared in constant time (as bytes: any characters).
    return bool(cookie) and hmac.compare_digest(cookie.encode(), header.encode())


async def require_write(
    request: Request,
    state: State,
    key: Annotated[str | None, Depends(_api_key)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """Allow a write with an API key or a signed-in operator's session; return who asked.

    Scripts give a key in ``X-API-Key`` or as ``Authorization: Bearer <key>``
    (returned: the key's fingerprint, ``key:<hex>``; keys have operator
    rights). Browsers send the ``dsa110_session`` cookie and, against
    cross-site request forgery, the ``dsa110_csrf`` cookie's value in the
    ``X-CSRF-Token`` header (returned: ``user:<name>``).

    Raises
    ------
    ApiError
        401 without credentials or with an expired or signed-out session;
        403 ``csrf`` for a cookie write without the matching header, 403
        ``forbidden`` for a wrong key or a reader, 403 ``writes_disabled`` for
        a key when no keys are configured.
    """
    presented = key or (bearer.credentials if bearer is not None else None)
    if presented:
        if not state.keys.enabled:
            raise ApiError(
                403, "writes_disabled", "no API keys are configured; key writes are refused"
            )
        who = state.keys.check(presented)
        if who is None:
            raise ApiError(403, "forbidden", "the API key is not valid")
        return who
    if not request.cookies.get(SESSION_COOKIE):
        raise ApiError(
            401,
            "unauthorized",
            "sign in, or give an API key (X-API-Key header or Authorization: Bearer)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not _csrf_ok(request):
        raise ApiError(
            403,
            "csrf",
            f"a write from the browser needs the {CSRF_HEADER} header equal to the "
            f"{CSRF_COOKIE} cookie; reload the page and try again",
        )
    user = await signed_in_user(request, state)
    if user is None:
        raise ApiError(401, "session_expired", "your session has ended; sign in again")
    if user.role not in WRITER_ROLES:
        raise ApiError(
            403,
            "forbidden",
            f"user {user.name!r} has the role {user.role.value}, which cannot make changes; "
            "an operator or admin can",
            details={"role": user.role.value},
        )
    return user.who


Writer = Annotated[str, Depends(require_write)]


async def require_admin(request: Request, state: State, who: Writer) -> str:
    """A write only an admin may make: an admin's session (API keys are operators).

    Raises
    ------
    ApiError
        As :func:`require_write`, and 403 ``forbidden`` for anyone but an admin.
    """
    user = await signed_in_user(request, state) if who.startswith("user:") else None
    if user is None or user.role is not UserRole.ADMIN:
        role = user.role.value if user is not None else "operator (an API key)"
        raise ApiError(
            403, "forbidden", f"only an admin may do this; the request has the role {role}"
        )
    return who


Admin = Annotated[str, Depends(require_admin)]


def cached_json(
    request: Request,
    state: AppState,
    model: type[BaseModel],
    build: Callable[[Session], Any],
    *,
    validate: bool = True,
) -> Response:
    """The JSON of ``model`` validated from ``build(session)``, served from the cache when fresh.

    Parameters
    ----------
    model
        The response schema; ``build``'s result is validated against it
        (attributes of ORM objects are read).
    build
        Produces the data on a miss (runs the repository queries); a session
        is opened only then, so a hit never touches the database.
    validate
        False for hot paths whose ``build`` already returns plain values in
        ``model``'s shape (Core rows as dicts, a list's
        :class:`~dsa110_contimg.products.repositories.Page`): they are
        serialised as they are, which saves the validation (tests check that
        such responses are exactly what ``model`` would produce). Non-finite
        floats become null, as ``model`` would write them.
    """

    def render() -> bytes:
        with state.sessions() as session:
            data = build(session)
            try:
                if not validate:
                    return pydantic_core.to_json(data, inf_nan_mode="null")
                # Inside the session: validation may read lazy ORM attributes.
                return model.model_validate(data, from_attributes=True).model_dump_json().encode()
            except (ValueError, RecursionError, pydantic_core.PydanticSerializationError) as exc:
                # A stored value that cannot be written as JSON (too deep, say) must not
                # make the whole list fail for everyone: that value is served as null.
                log.warning("%s: a stored value cannot be serialised (%s)", request.url.path, exc)
                data = servable(data)
                if not validate:
                    return pydantic_core.to_json(data, inf_nan_mode="null")
                return model.model_validate(data, from_attributes=True).model_dump_json().encode()

    key = cache_key(request.scope["path"], request.scope.get("query_string", b""))
    body = state.cache.get_or_build(key, render)
    if "route" in request.scope:
        state.cache.remember_route(key, request.scope["route"])
    return Response(content=body, media_type="application/json")


#: Deepest nesting of a served value; pydantic's JSON writer stops near 255 levels
#: for the whole response, which wraps each value in a few more.
MAX_SERVED_DEPTH = 128


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_SERVED_DEPTH:
            return True
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list | tuple):
            stack.extend((child, depth + 1) for child in node)
    return False


def _writable(value: Any) -> bool:
    if _too_deep(value):
        return False
    try:
        pydantic_core.to_json(value, inf_nan_mode="null")
    except (ValueError, RecursionError, pydantic_core.PydanticSerializationError):
        return False
    return True


def servable(data: Any) -> Any:
    """``data`` (a page, a row or an ORM object) with each value that cannot be JSON set to None.

    Only the response's own fields and its lists' rows are looked into: a
    nested free-form value (a job's ``params``) is kept whole or dropped whole.
    """

    def row(value: Any) -> Any:
        if hasattr(value, "__table__"):
            value = repo.columns_of(value)
        if isinstance(value, dict):
            return {k: v if _writable(v) else None for k, v in value.items()}
        return value if _writable(value) else None

    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        data = {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}
    if hasattr(data, "__table__"):
        data = repo.columns_of(data)
    if not isinstance(data, dict):
        return data
    return {
        k: [row(r) for r in v] if isinstance(v, list) else v if _writable(v) else None
        for k, v in data.items()
    }


def product_path(path: str) -> str:
    """The registered (absolute) path a URL names.

    Clients should URL-encode the whole path (``/api/ms/%2Fdata%2Fms%2Fx.ms``);
    the unencoded form (``/api/ms/data/ms/x.ms``) loses its leading slash in
    the URL, which is restored here. The path is only ever looked up in the
    database, never opened.
    """
    return path if path.startswith("/") else "/" + path

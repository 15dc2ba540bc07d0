"""Dependencies injected into routes: the app state, DB sessions, write access, caching.

A list's paging, sort and filter parameters are derived from its declared
filters by :func:`dsa110_contimg.api.schemas.list_query`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

import pydantic_core
from fastapi import Depends, Request, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy.orm import Session

from dsa110_contimg.api.caching import cache_key
from dsa110_contimg.api.errors import ApiError
from dsa110_contimg.api.state import AppState


# Light dependencies are ``async``: a sync one would cost a threadpool hop per request.
async def get_state(request: Request) -> AppState:
    """The running API's state."""
    return request.app.state.api


State = Annotated[AppState, Depends(get_state)]


def get_session(state: State) -> Iterator[Session]:
    """A session for one request (its connection comes from the pooled engine)."""
    with state.sessions() as session:
        yield session


DbSession = Annotated[Session, Depends(get_session)]


_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="A write key")
_bearer = HTTPBearer(auto_error=False, description="A write key as a bearer token")


async def require_write(
    state: State,
    key: Annotated[str | None, Depends(_api_key)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """Allow a write only with a configured API key; return who asked (a key fingerprint).

    The key comes in ``X-API-Key`` or as ``Authorization: Bearer <key>``.

    Raises
    ------
    ApiError
        401 without a key, 403 with a wrong one or when no keys are configured.
    """
    if not state.keys.enabled:
        raise ApiError(403, "writes_disabled", "no API keys are configured; writes are refused")
    presented = key or (bearer.credentials if bearer is not None else None)
    if not presented:
        raise ApiError(
            401,
            "unauthorized",
            "an API key is required (X-API-Key header or Authorization: Bearer)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    who = state.keys.check(presented)
    if who is None:
        raise ApiError(403, "forbidden", "the API key is not valid")
    return who


Writer = Annotated[str, Depends(require_write)]


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
            if not validate:
                return pydantic_core.to_json(data, inf_nan_mode="null")
            # Inside the session: validation may read lazy ORM attributes.
            return model.model_validate(data, from_attributes=True).model_dump_json().encode()

    key = cache_key(request.scope["path"], request.scope.get("query_string", b""))
    body = state.cache.get_or_build(key, render)
    if "route" in request.scope:
        state.cache.remember_route(key, request.scope["route"])
    return Response(content=body, media_type="application/json")


def product_path(path: str) -> str:
    """The registered (absolute) path a URL names.

    Clients should URL-encode the whole path (``/api/ms/%2Fdata%2Fms%2Fx.ms``);
    the unencoded form (``/api/ms/data/ms/x.ms``) loses its leading slash in
    the URL, which is restored here. The path is only ever looked up in the
    database, never opened.
    """
    return path if path.startswith("/") else "/" + path

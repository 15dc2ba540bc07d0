"""One error body for every failure: ``{"error": {"code", "message", "details"}}``.

The project's exceptions are mapped to HTTP statuses here, once: unknown
records 404, bad input 422, state conflicts 409 (also a write the database
refuses as a duplicate: ``IntegrityError``), an unreachable database 503.
Anything else is a bug and is reported as a 500 without internals.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from dsa110_contimg.errors import DatabaseError, DSA110Error, PurgedError
from dsa110_contimg.products.repositories import ConflictError, InvalidQueryError, NotFoundError

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    """What went wrong: a stable machine code, a human message, optional details."""

    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


class ApiError(Exception):
    """An error raised by the API layer itself, with its HTTP status and code."""

    def __init__(
        self, status: int, code: str, message: str, details: Any = None, headers: Any = None
    ):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.headers = details, headers


#: Documented error responses, for OpenAPI.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (404, "Not registered"),
        (410, "The product's file was purged by the storage lifecycle (its record stays)"),
        (422, "Invalid parameters"),
        (503, "Database unavailable"),
    )
}
WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    401: {
        "model": ErrorBody,
        "description": "No API key and no sign-in, or the session expired or was signed out",
    },
    403: {
        "model": ErrorBody,
        "description": (
            "API key wrong, key writes disabled, a browser write without its CSRF token, "
            "or a role that may not make this write (a reader)"
        ),
    },
    409: {"model": ErrorBody, "description": "Conflicts with the record's state"},
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: Any = None
) -> JSONResponse:
    """A JSON response with the standard error body."""
    body = ErrorBody(error=ErrorDetail(code=code, message=message, details=details))
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception to the standard error body."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        return error_response(422, "invalid_parameters", "request parameters are invalid", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # an unparsable body is bad input like any other: 422
            return error_response(422, "invalid_body", str(exc.detail))
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(PurgedError)
    async def _purged(_: Request, exc: PurgedError) -> JSONResponse:
        when = getattr(exc.purged_at, "isoformat", lambda: None)()
        return error_response(410, "purged", str(exc), {"purged_at": when})

    @app.exception_handler(NotFoundError)
    async def _not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return error_response(404, "not_found", str(exc))

    @app.exception_handler(InvalidQueryError)
    async def _bad_query(_: Request, exc: InvalidQueryError) -> JSONResponse:
        return error_response(422, "invalid_query", str(exc))

    @app.exception_handler(ConflictError)
    async def _conflict(_: Request, exc: ConflictError) -> JSONResponse:
        return error_response(409, "conflict", str(exc))

    @app.exception_handler(DatabaseError)
    async def _db_error(_: Request, exc: DatabaseError) -> JSONResponse:
        return error_response(503, "database_unavailable", str(exc))

    @app.exception_handler(sa.exc.IntegrityError)
    async def _integrity(_: Request, exc: sa.exc.IntegrityError) -> JSONResponse:
        # a unique or foreign key the write would break: a conflict with what is stored
        log.info("write refused by the database: %s", exc.orig)
        return error_response(
            409,
            "conflict",
            "the write conflicts with a stored record (a duplicate or a missing referenced record)",
        )

    @app.exception_handler(sa.exc.DataError)
    async def _bad_value(_: Request, exc: sa.exc.DataError) -> JSONResponse:
        # e.g. a NUL byte or an out-of-range number the database refuses
        return error_response(422, "invalid_value", "a value was refused by the database")

    @app.exception_handler(sa.exc.OperationalError)
    @app.exception_handler(sa.exc.InterfaceError)
    async def _db_down(_: Request, exc: sa.exc.DBAPIError) -> JSONResponse:
        log.warning("products DB unavailable: %s", exc.orig)
        return error_response(
            503, "database_unavailable", "the products database is unavailable; retry later"
        )

    @app.exception_handler(sa.exc.TimeoutError)
    async def _pool_timeout(_: Request, exc: sa.exc.TimeoutError) -> JSONResponse:
        return error_response(503, "database_busy", "no database connection free; retry later")

    @app.exception_handler(DSA110Error)
    async def _ours(_: Request, exc: DSA110Error) -> JSONResponse:
        return error_response(422, "invalid_request", str(exc))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal error; see the server log")

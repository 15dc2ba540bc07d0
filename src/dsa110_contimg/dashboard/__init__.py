"""The dashboard: static pages (HTML, CSS, ES modules) served by the API app itself.

The pages read the same REST API and WebSocket as every other client; nothing
here queries the database. :func:`mount_dashboard` serves ``static/`` at
``/dashboard/`` and sends ``/`` there. Routing between pages happens in the
browser (``/dashboard/#/sources/12``), so a reverse proxy may serve the folder
as plain files too.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The folder of the pages, their styles and scripts.
STATIC_DIR = Path(__file__).parent / "static"
#: Where the dashboard is served.
PREFIX = "/dashboard"

#: What the pages may load: only their own files and the API of the same origin
#: (``connect-src 'self'`` covers the WebSocket of the same host). No inline
#: scripts or styles; images may also be ``data:`` URLs (the favicon).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class _DashboardHeaders:
    """Give the dashboard's files their own CSP, and make browsers revalidate them.

    :class:`dsa110_contimg.api.security.SecurityHeadersMiddleware` keeps a
    policy a response already carries (and adds the other security headers).
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                headers.append((b"cache-control", b"no-cache"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard at ``/dashboard/`` and redirect ``/`` to it."""

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/")

    files = StaticFiles(directory=STATIC_DIR, html=True)
    app.mount(PREFIX, _DashboardHeaders(files), name="dashboard")

"""``dsa110 serve``: the web API."""

from __future__ import annotations

import click

from dsa110_contimg.cli.common import settings_of


@click.command("serve")
@click.option("--host", default=None, help="Address to listen on (default: settings.api_host).")
@click.option("--port", type=int, default=None, help="Port (default: settings.api_port).")
@click.option("--workers", type=int, default=1, show_default=True, help="Worker processes.")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int) -> None:
    """Serve the web API (REST, GraphQL, WebSocket, metrics) with uvicorn."""
    import os

    import uvicorn

    settings = settings_of(ctx)
    config_file = ctx.ensure_object(dict).get("config_file")
    if config_file:  # worker processes read the same file
        os.environ["DSA110_CONFIG"] = str(config_file)
    uvicorn.run(
        "dsa110_contimg.api.app:app_from_env",
        factory=True,
        host=host or settings.api_host,
        port=port or settings.api_port,
        workers=workers,
        log_level=settings.log_level.lower(),
        proxy_headers=False,  # the allow-list reads X-Forwarded-For itself
        ws_max_size=settings.api_ws_max_message_bytes,  # larger frames refused by uvicorn itself
    )

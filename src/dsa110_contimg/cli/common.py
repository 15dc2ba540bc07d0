"""What the commands share: the settings, the products DB, times and executor options."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import click
from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg.config import Settings, load_settings


def settings_of(ctx: click.Context) -> Settings:
    """The settings of this invocation (``--config``, ``DSA110_*``), read once; logging set up."""
    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        obj["settings"] = load_settings(obj.get("config_file"))
        logging.basicConfig(
            level=obj["settings"].log_level,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    return obj["settings"]


def database(ctx: click.Context) -> tuple[Settings, sessionmaker[Session]]:
    """Settings and a session factory for a products DB at the code's revision."""
    from dsa110_contimg.products import make_engine, make_session_factory
    from dsa110_contimg.products.migrate import require_current

    settings = settings_of(ctx)
    require_current(settings.db_url)
    obj = ctx.ensure_object(dict)
    if "engine" not in obj:
        obj["engine"] = make_engine(settings.db_url, pool_size=settings.db_pool_size)
        ctx.call_on_close(obj["engine"].dispose)
    return settings, make_session_factory(obj["engine"])


def parse_mjd(value: str | None) -> float | None:
    """An ISO 8601 UTC time as MJD (None stays None); a bad time is a usage error."""
    if value is None:
        return None
    from astropy.time import Time

    try:
        return float(Time(value, scale="utc").mjd)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time") from exc


_EXECUTOR_OPTIONS = [
    click.option(
        "--executor",
        type=click.Choice(["local", "serial", "dask"]),
        default="local",
        show_default=True,
    ),
    click.option(
        "--workers", type=int, default=None, help="Worker processes (default: settings.workers)."
    ),
    click.option(
        "--scheduler", default=None, help="Dask scheduler address (default: a LocalCluster)."
    ),
]


def with_executor(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--executor``, ``--workers`` and ``--scheduler`` to a command."""
    for option in reversed(_EXECUTOR_OPTIONS):
        func = option(func)
    return func

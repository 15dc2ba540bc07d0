"""The ``dsa110`` command line, one module per command group.

Layout
------
``__init__``
    :data:`main`, the ``dsa110`` group, and the one error edge: an error of
    this project (:class:`~dsa110_contimg.errors.DSA110Error`) is printed as
    one line and the process exits with its class's code (the table is in
    :mod:`dsa110_contimg.errors`); nothing else is caught, so a real bug still
    shows its traceback.
``common``
    What the commands share: the settings, the products DB, times, executor options.
``config_db``
    ``config show``; ``db upgrade | downgrade | current | backup | restore``.
``catalog``
    ``catalog import | import-vla | cone``.
``ingest``
    ``index`` (record and group subband files), ``convert``.
``run``
    ``process``, ``stream``, ``reprocess``, ``demo``.
``calibrate``, ``image``, ``mosaic``, ``simulate``, ``serve``
    One command each.
``retention``
    ``retention plan | apply | disk`` (the storage lifecycle).
``users``
    ``user add | list | disable | enable | passwd | role`` (the dashboard's named users).
``beam``
    ``beam profile | fit | list`` (the primary beam measured on the sky, its models).

The commands are thin: they parse options, call the library (the rules that
the pipeline's steps share live in :mod:`dsa110_contimg.pipeline.services`)
and format what comes back. Every command reads the same settings
(``--config FILE``, ``DSA110_*`` variables).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from dsa110_contimg import __version__
from dsa110_contimg.cli.beam import beam
from dsa110_contimg.cli.calibrate import calibrate
from dsa110_contimg.cli.catalog import catalog
from dsa110_contimg.cli.config_db import config, db
from dsa110_contimg.cli.image import image
from dsa110_contimg.cli.ingest import convert, index
from dsa110_contimg.cli.mosaic import mosaic
from dsa110_contimg.cli.retention import retention
from dsa110_contimg.cli.run import demo, process, reprocess, stream
from dsa110_contimg.cli.serve import serve
from dsa110_contimg.cli.simulate import simulate
from dsa110_contimg.cli.users import user
from dsa110_contimg.errors import DSA110Error

__all__ = ["main"]


class _Dsa110(click.Group):
    """The ``dsa110`` group: runs a command, and maps the project's errors to exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DSA110Error as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_Dsa110, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    envvar="DSA110_CONFIG",
    help="TOML file of settings (overridden by DSA110_* variables).",
)
@click.version_option(__version__, prog_name="dsa110")
@click.pass_context
def main(ctx: click.Context, config_file: str | None) -> None:
    """DSA-110 continuum imaging and variability pipeline."""
    ctx.ensure_object(dict)["config_file"] = config_file


for _command in (
    config,
    db,
    catalog,
    convert,
    index,
    process,
    stream,
    reprocess,
    demo,
    calibrate,
    image,
    mosaic,
    simulate,
    serve,
    retention,
    user,
    beam,
):
    main.add_command(_command)

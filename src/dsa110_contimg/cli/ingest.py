"""``dsa110 index`` and ``dsa110 convert``: record and group subband files, convert a group to an MS."""

from __future__ import annotations

from typing import Any

import click

from dsa110_contimg.cli.common import database
from dsa110_contimg.errors import StageError


@click.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, exists=True))
@click.option("--out", "out_ms", type=click.Path(), help="MS to write (with FILE...).")
@click.option("--group", "group_id", help="Convert an indexed group (from the products DB).")
@click.option("--overwrite", is_flag=True, help="Replace an existing MS.")
@click.pass_context
def convert(
    ctx: click.Context,
    files: tuple[str, ...],
    out_ms: str | None,
    group_id: str | None,
    overwrite: bool,
) -> None:
    """Convert one group's subband FILES (or an indexed --group) into one Measurement Set."""
    if bool(files) == bool(group_id):
        raise click.UsageError("give either FILE... with --out, or --group GROUP_ID")
    if files:
        if not out_ms:
            raise click.UsageError("--out PATH.ms is required with FILE...")
        from tqdm import tqdm

        from dsa110_contimg.conversion.convert import convert_group

        with tqdm(unit="int", desc="converting") as bar:
            result = convert_group(files, out_ms, overwrite=overwrite, progress=bar.update)
    else:
        from dsa110_contimg.pipeline.runner import process_group
        from dsa110_contimg.pipeline.steps.convert import run as convert_stage

        settings, factory = database(ctx)
        if not process_group(settings, factory, group_id, stages=[("convert", convert_stage)]):
            raise StageError(f"group {group_id} was not converted", hint="see the job's log")
        click.echo(f"group {group_id}: {settings.ms_dir / (group_id + '.ms')}")
        return
    missing = (
        f", subbands {result.missing_subbands} missing (flagged)" if result.missing_subbands else ""
    )
    click.echo(
        f"{result.ms_path}: {result.n_rows} rows x {result.n_channels} channels "
        f"in {result.seconds:.1f} s{missing}"
    )


@click.command("index")
@click.argument("incoming", required=False, type=click.Path(file_okay=False))
@click.option("--tolerance", "group_tolerance_s", type=float, help="Group time tolerance, s [60].")
@click.option("--settle", "settle_s", type=float, help="Seconds a file must rest unchanged [30].")
@click.option(
    "--wait", "group_wait_s", type=float, help="Group wait after its newest file, s [600]."
)
@click.option(
    "--policy",
    "incomplete_policy",
    type=click.Choice(["process", "fail"]),
    help="Incomplete groups when the wait expires: process (flagged) or fail [process].",
)
@click.option("--no-settle-wait", is_flag=True, help="Leave files being written for the next run.")
@click.option(
    "--watch", "interval", type=float, help="Keep polling every INTERVAL s until stopped."
)
@click.pass_context
def index(
    ctx: click.Context,
    incoming: str | None,
    interval: float | None,
    no_settle_wait: bool,
    **policy: Any,
) -> None:
    """Record new subband files of INCOMING (default: incoming_dir) and group them.

    Needs a products DB at the code's revision (`dsa110 db upgrade`).
    """
    from pathlib import Path

    from dsa110_contimg.ingest import IngestPolicy, Watcher, index_folder
    from dsa110_contimg.ingest.summary import describe, group_counts
    from dsa110_contimg.products import session_scope

    settings, factory = database(ctx)
    rules = IngestPolicy.from_settings(settings, **policy)
    if interval is not None:
        import signal
        import threading

        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        watcher = Watcher(settings, factory, policy=rules, incoming=incoming)
        try:
            watcher.run(stop, interval, on_report=lambda r: click.echo(r.summary()))
        except KeyboardInterrupt:
            click.echo("stopped")
        return
    report = index_folder(settings, factory, incoming, policy=rules, settle_wait=not no_settle_wait)
    with session_scope(factory) as session:
        counts = group_counts(session)
    folder = Path(incoming or settings.incoming_dir).resolve()
    click.echo("\n".join(describe(report, folder, counts)))

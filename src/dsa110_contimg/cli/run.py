"""``dsa110 process``, ``stream``, ``reprocess`` and ``demo``: run the pipeline over groups."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from dsa110_contimg.cli.common import database, parse_mjd, with_executor
from dsa110_contimg.config import Settings
from dsa110_contimg.errors import StageError


def run_groups(
    settings: Settings, groups: list[str], executor: str, workers: int | None, scheduler: str | None
) -> None:
    """Process groups in a batch with a progress bar; :class:`StageError` if any failed."""
    from tqdm import tqdm

    from dsa110_contimg.pipeline.batch import run_batch

    with tqdm(total=len(groups), unit="group", desc="processing") as bar:
        summary = run_batch(
            settings,
            groups,
            executor=executor,
            workers=workers,
            scheduler=scheduler,
            on_done=lambda g, ok: bar.update(),
        )
    click.echo(f"{len(summary.done)} groups done, {len(summary.failed)} failed")
    for gid in summary.failed:
        click.echo(
            f"  failed: {gid} (see `dsa110 jobs` / the job logs under {settings.logs_dir})",
            err=True,
        )
    if not summary.ok:
        raise StageError(f"{len(summary.failed)} of {len(groups)} groups failed")


@click.command()
@click.argument("incoming", required=False, type=click.Path(file_okay=False, exists=True))
@click.option("--start", help="Only groups starting at or after this UTC time (ISO 8601).")
@click.option("--end", help="Only groups starting before this UTC time (ISO 8601).")
@with_executor
@click.pass_context
def process(
    ctx: click.Context,
    incoming: str | None,
    start: str | None,
    end: str | None,
    executor: str,
    workers: int | None,
    scheduler: str | None,
) -> None:
    """Index INCOMING (default: settings.incoming_dir) and process its groups in a batch."""
    from dsa110_contimg.ingest import index_folder
    from dsa110_contimg.pipeline.batch import select_groups
    from dsa110_contimg.pipeline.runner import recover

    settings, factory = database(ctx)
    recover(settings, factory)
    report = index_folder(settings, factory, incoming)
    click.echo(f"indexed: {report.summary()}")
    groups = select_groups(settings, start_mjd=parse_mjd(start), end_mjd=parse_mjd(end))
    if not groups:
        click.echo("no groups to process")
        return
    run_groups(settings, groups, executor, workers, scheduler)


@click.command()
@click.argument("incoming", required=False, type=click.Path(file_okay=False))
@click.option(
    "--interval", type=float, default=5.0, show_default=True, help="Seconds between polls."
)
@click.option("--once", is_flag=True, help="Exit when no group is left to process.")
@click.option("--tier", default="standard", show_default=True, help="Imaging tier.")
@click.option(
    "--settle", type=float, default=None, help="Seconds a file must be unchanged before it is read."
)
@click.option(
    "--reapply/--no-reapply",
    default=None,
    help="Requeue waiting uncalibrated groups after a calibrator is solved "
    "(default: settings.reapply_waiting, on).",
)
@click.option(
    "--tile-gains/--no-tile-gains",
    default=None,
    help="Solve gains on the catalog sky model between transits "
    "(default: settings.tile_gains, on).",
)
@click.pass_context
def stream(
    ctx: click.Context,
    incoming: str | None,
    interval: float,
    once: bool,
    tier: str,
    settle: float | None,
    reapply: bool | None,
    tile_gains: bool | None,
) -> None:
    """The daemon: watch INCOMING (default: settings.incoming_dir) and process groups as they complete."""
    import threading

    from dsa110_contimg.ingest import IngestPolicy
    from dsa110_contimg.pipeline.context import RunOptions
    from dsa110_contimg.pipeline.stream import install_signal_handlers, run_stream

    settings, factory = database(ctx)
    if incoming:
        settings = settings.model_copy(update={"incoming_dir": Path(incoming).resolve()})
    stop = threading.Event()
    install_signal_handlers(stop)
    policy = IngestPolicy.from_settings(settings, settle_s=settle)
    done = run_stream(
        settings,
        factory,
        stop,
        interval=interval,
        once=once,
        policy=policy,
        on_group=lambda gid, ok: click.echo(f"{gid}: {'done' if ok else 'not done'}"),
        options=RunOptions(tier=tier, tile_gains=tile_gains),
        reapply_waiting=reapply,
    )
    click.echo(f"stream stopped; {done} groups done")


@click.command()
@click.argument("group_ids", nargs=-1, required=True)
@with_executor
@click.pass_context
def reprocess(
    ctx: click.Context,
    group_ids: tuple[str, ...],
    executor: str,
    workers: int | None,
    scheduler: str | None,
) -> None:
    """Process GROUP_IDS again (failed or done groups are requeued; stages redo what is missing)."""
    from dsa110_contimg.pipeline.services import requeue_groups
    from dsa110_contimg.products.repositories import NotFoundError

    settings, factory = database(ctx)
    try:
        requeue_groups(factory, group_ids)
    except NotFoundError as exc:
        raise click.BadParameter(exc.message) from exc
    run_groups(settings, list(group_ids), executor, workers, scheduler)


@click.command()
@click.option(
    "--root",
    type=click.Path(file_okay=False),
    default="demo-data",
    show_default=True,
    help="Demo data root.",
)
@click.option(
    "--preset", default="test", show_default=True, help="Simulation preset (demo: larger, slower)."
)
@click.option(
    "--serve/--no-serve", default=True, show_default=True, help="Start the API afterwards."
)
@click.option("--port", type=int, default=None, help="API port (default: settings.api_port).")
@click.pass_context
def demo(ctx: click.Context, root: str, preset: str, serve: bool, port: int | None) -> None:
    """Simulate DSA-110 data, run the whole pipeline on it, then serve the API and dashboard."""
    import os

    from dsa110_contimg.config import load_settings
    from dsa110_contimg.pipeline.demo import run_demo

    os.environ["DSA110_DATA_ROOT"] = str(Path(root).resolve())
    config_file = ctx.ensure_object(dict).get("config_file")
    settings = load_settings(config_file)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    result = run_demo(settings, preset=preset, echo=click.echo)
    click.echo(f"\ndemo finished in {result.seconds / 60:.1f} min under {result.root}:")
    for name, count in result.counts.items():
        click.echo(f"  {name:<20} {count}")
    click.echo(f"  job logs             {settings.logs_dir}")
    if result.summary.failed:
        click.echo(f"  FAILED groups: {', '.join(result.summary.failed)}", err=True)
    if serve:
        import uvicorn

        host, port = settings.api_host, port or settings.api_port
        click.echo(
            f"\nAPI:       http://{host}:{port}/api/health\nAPI docs:  http://{host}:{port}/api/docs\n"
            f"GraphQL:   http://{host}:{port}/api/graphql\n(Ctrl-C stops the server)"
        )
        uvicorn.run(
            "dsa110_contimg.api.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            log_level="warning",
            proxy_headers=False,
        )
    elif not result.summary.ok:
        raise StageError("some demo groups failed")

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
@click.option(
    "--batches/--no-batches",
    default=True,
    show_default=True,
    help="Also execute the batches queued through the API (reprocess, rerun, re-image), "
    "in the order settings.batch_priority gives.",
)
@with_executor
@click.pass_context
def process(
    ctx: click.Context,
    incoming: str | None,
    start: str | None,
    end: str | None,
    batches: bool,
    executor: str,
    workers: int | None,
    scheduler: str | None,
) -> None:
    """Index INCOMING (default: settings.incoming_dir), process its groups, run queued batches."""
    from dsa110_contimg.ingest import index_folder
    from dsa110_contimg.pipeline.batch import select_groups
    from dsa110_contimg.pipeline.runner import recover

    settings, factory = database(ctx)
    recover(settings, factory)
    report = index_folder(settings, factory, incoming)
    click.echo(f"indexed: {report.summary()}")
    groups = select_groups(settings, start_mjd=parse_mjd(start), end_mjd=parse_mjd(end))
    if not batches or settings.batch_priority == "realtime":
        _process_groups(settings, groups, executor, workers, scheduler)
    if batches:
        run_queued_batches(settings, factory)
        if settings.batch_priority != "realtime":
            _process_groups(settings, groups, executor, workers, scheduler)


def _process_groups(
    settings: Settings, groups: list[str], executor: str, workers: int | None, scheduler: str | None
) -> None:
    if not groups:
        click.echo("no groups to process")
        return
    run_groups(settings, groups, executor, workers, scheduler)


def run_queued_batches(settings: Settings, factory) -> None:  # type: ignore[no-untyped-def]
    """Execute the API's queued batches in this process, printing each item's outcome."""
    from dsa110_contimg.pipeline.operations import BatchExecutor

    ran = BatchExecutor(
        settings,
        factory,
        on_item=lambda run_id, key, status: click.echo(f"{run_id}: {key}: {status}"),
    )
    ran.settle_cancels()
    done = ran.run_all()
    click.echo(f"{len(done)} queued batches executed")


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
        on_batch_item=lambda run_id, key, status: click.echo(f"{run_id}: {key}: {status}"),
        options=RunOptions(tier=tier, tile_gains=tile_gains),
        reapply_waiting=reapply,
    )
    click.echo(f"stream stopped; {done} groups done")


@click.command()
@click.argument("group_ids", nargs=-1, required=True)
@click.option(
    "--from",
    "from_step",
    type=click.Choice(["convert", "flag", "calibrate", "image", "photometry"]),
    default=None,
    help="Redo from this step on, as new versions (default: calibrate when new tables "
    "exist, else convert).",
)
@click.option(
    "--fill-gaps",
    is_flag=True,
    help="Only requeue and do what is missing (the old behaviour): nothing is redone.",
)
@click.option("--tier", default=None, help="Imaging tier (default: standard).")
@click.pass_context
def reprocess(
    ctx: click.Context,
    group_ids: tuple[str, ...],
    from_step: str | None,
    fill_gaps: bool,
    tier: str | None,
) -> None:
    """Process GROUP_IDS again: their products from a step on are superseded and redone.

    The old MS, images and calibration records stay, marked superseded; the
    measurements of superseded images leave the light curves and the metrics
    follow the new ones.
    """
    from dsa110_contimg.pipeline.context import RunOptions
    from dsa110_contimg.pipeline.runner import Outcome, run_group
    from dsa110_contimg.pipeline.services import reprocess_group, requeue_groups
    from dsa110_contimg.products import repositories as repo
    from dsa110_contimg.products import session_scope
    from dsa110_contimg.products.repositories import NotFoundError

    settings, factory = database(ctx)
    options = RunOptions(tier=tier) if tier else RunOptions()
    try:
        if fill_gaps:
            requeue_groups(factory, group_ids)
        else:  # all or none: every group must be known before any is superseded
            with session_scope(factory) as session:
                repo.require_groups(session, list(group_ids))
    except NotFoundError as exc:
        raise click.BadParameter(exc.message) from exc
    failed = []
    for group_id in group_ids:
        if fill_gaps:
            outcome = run_group(settings, factory, group_id, options=options)
        else:
            try:
                done = reprocess_group(
                    settings, factory, group_id, from_step=from_step, reason="dsa110 reprocess"
                )
            except NotFoundError as exc:
                raise click.BadParameter(exc.message) from exc
            click.echo(f"{group_id}: from {done.from_step}, superseded {done.superseded}")
            outcome = run_group(settings, factory, group_id, options=options, claimed=True)
        click.echo(f"{group_id}: {outcome}")
        if outcome is not Outcome.DONE:
            failed.append(group_id)
    if failed:
        raise StageError(f"{len(failed)} of {len(group_ids)} groups not done: {', '.join(failed)}")


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
            ws_max_size=settings.api_ws_max_message_bytes,  # larger frames refused by uvicorn itself
        )
    elif not result.summary.ok:
        raise StageError("some demo groups failed")

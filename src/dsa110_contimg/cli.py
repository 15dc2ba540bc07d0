"""The ``dsa110`` command line.

Every command reads the same settings (``--config FILE``, ``DSA110_*``
variables). Errors of this project (:class:`~dsa110_contimg.errors.DSA110Error`)
are printed as one line and mapped to their exit codes; nothing else is
caught, so a real bug still shows its traceback.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from dsa110_contimg import __version__
from dsa110_contimg.config import Settings, load_settings
from dsa110_contimg.errors import DSA110Error, StageError

log = logging.getLogger("dsa110_contimg")


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the project's own errors into a message and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DSA110Error as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(exc.exit_code)

    return wrapper


def _database(ctx: click.Context) -> tuple[Settings, Any]:
    """Settings and a session factory for a products DB at the code's revision."""
    from dsa110_contimg.products import make_engine, make_session_factory
    from dsa110_contimg.products.migrate import require_current

    settings = _settings(ctx)
    require_current(settings.db_url)
    obj = ctx.ensure_object(dict)
    if "engine" not in obj:
        obj["engine"] = make_engine(settings.db_url, pool_size=settings.db_pool_size)
        ctx.call_on_close(obj["engine"].dispose)
    return settings, make_session_factory(obj["engine"])


def _settings(ctx: click.Context) -> Settings:
    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        obj["settings"] = load_settings(obj.get("config_file"))
        logging.basicConfig(
            level=obj["settings"].log_level,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    return obj["settings"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


# --------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------
@main.group()
def config() -> None:
    """Inspect the resolved settings."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML.")
@click.pass_context
@handle_errors
def config_show(ctx: click.Context, as_json: bool) -> None:
    """Print the resolved settings, secrets masked."""
    values = _settings(ctx).masked()
    if as_json:
        click.echo(json.dumps(values, indent=2))
        return
    import tomli_w

    click.echo(tomli_w.dumps({k: v for k, v in values.items() if v is not None}), nl=False)


# --------------------------------------------------------------------------
# db
# --------------------------------------------------------------------------
@main.group()
def db() -> None:
    """Create, migrate and inspect the products database."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.pass_context
@handle_errors
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Create the products DB or migrate it to the newest schema."""
    from dsa110_contimg.config import mask_url_password
    from dsa110_contimg.products import upgrade

    settings = _settings(ctx)
    settings.ensure_folders()
    rev = upgrade(settings.db_url, revision)
    click.echo(f"products DB {mask_url_password(settings.db_url)} at revision {rev}")


@db.command("downgrade")
@click.argument("revision")
@click.pass_context
@handle_errors
def db_downgrade(ctx: click.Context, revision: str) -> None:
    """Migrate the products DB down to REVISION (`base` removes every table)."""
    from dsa110_contimg.products import downgrade

    rev = downgrade(_settings(ctx).db_url, revision)
    click.echo(f"products DB at revision {rev or 'base'}")


@db.command("current")
@click.pass_context
@handle_errors
def db_current(ctx: click.Context) -> None:
    """Print the DB's revision and the code's newest one."""
    from dsa110_contimg.products import current_revision, head_revision

    current = current_revision(_settings(ctx).db_url)
    click.echo(f"database: {current or 'none'}\ncode head: {head_revision()}")


# --------------------------------------------------------------------------
# catalog
# --------------------------------------------------------------------------
@main.group()
def catalog() -> None:
    """Import and query survey catalogs (NVSS, CSV, the VLA calibrator list)."""


@catalog.command("import")
@click.argument("name")
@click.argument("path", type=click.Path(dir_okay=False, exists=True))
@click.option(
    "--skip-bad",
    is_flag=True,
    help="Import the good rows and report the bad (default: all or nothing).",
)
@click.pass_context
@handle_errors
def catalog_import(ctx: click.Context, name: str, path: str, skip_bad: bool) -> None:
    """Import catalog file PATH (NVSS text/FITS or CSV) as catalog NAME."""
    from dsa110_contimg.catalog.readers import CatalogFormatError
    from dsa110_contimg.catalog.store import CatalogStore

    settings = _settings(ctx)
    settings.catalog_db.parent.mkdir(parents=True, exist_ok=True)
    try:
        with CatalogStore(settings.catalog_db) as store:
            report = store.import_file(name, path, skip_bad=skip_bad)
    except CatalogFormatError as exc:
        for problem in getattr(exc, "problems", [])[:50]:
            click.echo(problem, err=True)
        raise
    for problem in report.problems[:50]:
        click.echo(f"skipped {problem}", err=True)
    click.echo(
        f"imported {report.n_imported} rows of {path} as {name!r} into {settings.catalog_db}"
    )


@catalog.command("import-vla")
@click.argument("path", type=click.Path(dir_okay=False, exists=True))
@click.pass_context
@handle_errors
def catalog_import_vla(ctx: click.Context, path: str) -> None:
    """Import the VLA calibrator list (its standard text format) as catalog VLACAL."""
    from dsa110_contimg.catalog.calibrators import calibrator_rows, read_vla_calibrators
    from dsa110_contimg.catalog.store import CatalogStore

    settings = _settings(ctx)
    settings.catalog_db.parent.mkdir(parents=True, exist_ok=True)
    cals = read_vla_calibrators(path)
    with CatalogStore(settings.catalog_db) as store:
        n = store.import_rows("VLACAL", calibrator_rows(cals), source_path=str(path))
    click.echo(f"imported {n} calibrators from {path} as 'VLACAL'")


@catalog.command("cone")
@click.argument("name")
@click.argument("ra_deg", type=float)
@click.argument("dec_deg", type=float)
@click.argument("radius_deg", type=float)
@click.pass_context
@handle_errors
def catalog_cone(
    ctx: click.Context, name: str, ra_deg: float, dec_deg: float, radius_deg: float
) -> None:
    """List catalog NAME's sources within RADIUS_DEG of (RA_DEG, DEC_DEG)."""
    from dsa110_contimg.catalog.store import CatalogStore

    with CatalogStore(_settings(ctx).catalog_db) as store:
        rows = store.cone(name, ra_deg, dec_deg, radius_deg)
    for row in rows:
        click.echo(
            f"{row['name']:<28} {row['ra_deg']:11.6f} {row['dec_deg']:+11.6f} {row['flux_mjy']:10.2f} mJy"
        )
    click.echo(f"{len(rows)} sources")


# --------------------------------------------------------------------------
# convert
# --------------------------------------------------------------------------
@main.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, exists=True))
@click.option("--out", "out_ms", type=click.Path(), help="MS to write (with FILE...).")
@click.option("--group", "group_id", help="Convert an indexed group (from the products DB).")
@click.option("--overwrite", is_flag=True, help="Replace an existing MS.")
@click.pass_context
@handle_errors
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

        settings, factory = _database(ctx)
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


# --------------------------------------------------------------------------
# index
# --------------------------------------------------------------------------
@main.command("index")
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
@handle_errors
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

    settings, factory = _database(ctx)
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


# --------------------------------------------------------------------------
# process, reprocess, demo
# --------------------------------------------------------------------------
def _mjd(value: str | None) -> float | None:
    if value is None:
        return None
    from astropy.time import Time

    try:
        return float(Time(value, scale="utc").mjd)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time") from exc


def _run_groups(
    settings: Settings, groups: list[str], executor: str, workers: int | None, scheduler: str | None
) -> None:
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


_executor_options = [
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


def _with_executor(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_executor_options):
        func = option(func)
    return func


@main.command()
@click.argument("incoming", required=False, type=click.Path(file_okay=False, exists=True))
@click.option("--start", help="Only groups starting at or after this UTC time (ISO 8601).")
@click.option("--end", help="Only groups starting before this UTC time (ISO 8601).")
@_with_executor
@click.pass_context
@handle_errors
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

    settings, factory = _database(ctx)
    recover(settings, factory)
    report = index_folder(settings, factory, incoming)
    click.echo(f"indexed: {report.summary()}")
    groups = select_groups(settings, start_mjd=_mjd(start), end_mjd=_mjd(end))
    if not groups:
        click.echo("no groups to process")
        return
    _run_groups(settings, groups, executor, workers, scheduler)


@main.command()
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
@handle_errors
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
    from dsa110_contimg.pipeline.stream import install_signal_handlers, run_stream

    settings, factory = _database(ctx)
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
        options={"tier": tier} if tile_gains is None else {"tier": tier, "tile_gains": tile_gains},
        reapply_waiting=reapply,
    )
    click.echo(f"stream stopped; {done} groups done")


@main.command()
@click.argument("group_ids", nargs=-1, required=True)
@_with_executor
@click.pass_context
@handle_errors
def reprocess(
    ctx: click.Context,
    group_ids: tuple[str, ...],
    executor: str,
    workers: int | None,
    scheduler: str | None,
) -> None:
    """Process GROUP_IDS again (failed or done groups are requeued; stages redo what is missing)."""
    import sqlalchemy as sa

    from dsa110_contimg.products import session_scope
    from dsa110_contimg.products.models import GroupState, ObservationGroup

    settings, factory = _database(ctx)
    with session_scope(factory) as session:
        found = session.scalars(
            sa.select(ObservationGroup).where(ObservationGroup.id.in_(group_ids))
        ).all()
        missing = sorted(set(group_ids) - {g.id for g in found})
        if missing:
            raise click.BadParameter(f"unknown groups: {', '.join(missing)}")
        for group in found:
            if group.state is GroupState.PROCESSING:
                raise StageError(f"group {group.id} is being processed now")
            group.state, group.error = GroupState.QUEUED, None
    _run_groups(settings, list(group_ids), executor, workers, scheduler)


@main.command()
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
@handle_errors
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


# --------------------------------------------------------------------------
# calibrate
# --------------------------------------------------------------------------
def _ms_record(factory: Any, ms: str) -> Any:
    """The products DB's row of MS (registered from its metadata when absent), detached."""
    import math

    from dsa110_contimg.calibration import read_info
    from dsa110_contimg.products import repositories as repo
    from dsa110_contimg.products.db import session_scope

    path = str(Path(ms).resolve())
    with session_scope(factory) as session:
        for candidate in (ms, path):
            try:
                row = repo.get_ms(session, candidate)
                break
            except repo.NotFoundError:
                continue
        else:
            info = read_info(path)
            start, end = (t / 86400.0 for t in info.time_range_s)
            ra_deg = math.degrees(float(info.phase_dir_rad[0]))
            row = repo.register_ms(
                session,
                path=path,
                mjd_start=start,
                mjd_mid=info.mid_mjd,
                mjd_end=end,
                pointing_dec_deg=info.dec_deg,
                phase_ra_deg=ra_deg,
                phase_dec_deg=info.dec_deg,
                n_rows=info.n_rows,
                n_channels=len(info.freqs_hz),
            )
        session.expunge(row)
    return row


@main.command()
@click.argument("ms", type=click.Path(file_okay=False, exists=True))
@click.option(
    "--solve",
    is_flag=True,
    help="First solve bandpass and gains on the calibrator transiting MS and register them.",
)
@click.option(
    "--tile-gains/--no-tile-gains",
    default=None,
    help="When the strip's bandpass is valid but its transit gains have expired, solve "
    "this MS's gains against the catalog sky model first (default: settings.tile_gains, on).",
)
@click.pass_context
@handle_errors
def calibrate(ctx: click.Context, ms: str, solve: bool, tile_gains: bool | None) -> None:
    """Apply the products DB's valid calibration tables to MS (writes CORRECTED_DATA).

    Tables are chosen for the MS's mid time and declination strip: expired
    tables are not used, tables solved more than 5 deg away in declination
    are refused. Between transits (bandpass valid, gains expired) the MS's
    own gains are solved on the catalog sky model, as the pipeline does. The
    application is recorded as a `calibrate` job and in cal_applications
    (an unregistered MS is registered first). Exits non-zero when no valid
    table exists.
    """
    from dsa110_contimg.calibration import CalibrationError
    from dsa110_contimg.pipeline.jobs import job_run
    from dsa110_contimg.pipeline.steps.calibrate import (
        apply_valid_tables,
        solve_on_transit,
        solve_tile_gains_on_catalog,
    )

    settings, factory = _database(ctx)
    row = _ms_record(factory, ms)
    if row.cal_applied:
        click.echo(f"{row.path} is already calibrated; nothing done")
        return
    params = {"ms": row.path, "solve": solve}
    with job_run(
        factory, settings.logs_dir, job_type="calibrate", group_id=row.group_id, params=params
    ) as job:
        if solve:
            solved = solve_on_transit(factory, row)
            if solved is None:
                raise CalibrationError(
                    f"no calibrator transits {row.path} (Dec {row.pointing_dec_deg:+.2f} deg)",
                    hint="--solve needs a calibrator group",
                )
            job.outputs["solved"] = solved
            click.echo(f"solved on {solved['calibrator']}: {solved['tables']}")
        elif settings.tile_gains if tile_gains is None else tile_gains:
            tile = solve_tile_gains_on_catalog(settings, factory, row)
            if tile is not None:
                job.outputs["tile_gains"] = tile
                click.echo(f"tile gains: {tile.get('table') or tile.get('skipped')}")
        job.outputs.update(apply_valid_tables(factory, row, job.run_id))
    if "uncalibrated" in job.outputs:
        raise CalibrationError(
            f"{row.path} left uncalibrated: {job.outputs['uncalibrated']}",
            hint="solve a calibrator of this strip (`dsa110 calibrate CAL.ms --solve`)",
        )
    click.echo(f"{row.path}: CORRECTED_DATA from {', '.join(job.outputs['tables'])}")


# --------------------------------------------------------------------------
# image
# --------------------------------------------------------------------------
@main.command()
@click.argument("ms", type=click.Path(file_okay=False, exists=True))
@click.option(
    "--tier",
    type=click.Choice(["standard", "quicklook", "deep"]),
    default="standard",
    show_default=True,
    help="Imaging parameter tier.",
)
@click.option(
    "--data-column",
    default="CORRECTED_DATA",
    show_default=True,
    help="MS column to image (DATA for uncalibrated or simulated unit-gain data).",
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Product folder.")
@click.option(
    "--tiers-file", type=click.Path(dir_okay=False, exists=True), help="TOML tier overrides."
)
@click.option("--register", is_flag=True, help="Record the products in the products DB.")
@click.option("--json", "as_json", is_flag=True, help="Print the result record as JSON.")
@click.pass_context
@handle_errors
def image(
    ctx: click.Context,
    ms: str,
    tier: str,
    data_column: str,
    out_dir: str | None,
    tiers_file: str | None,
    register: bool,
    as_json: bool,
) -> None:
    """Image MS with WSClean: FITS products, pb correction, QA and previews."""
    from dsa110_contimg.imaging import get_tier, image_ms, register_imaging
    from dsa110_contimg.imaging.tiers import load_tier_overrides

    settings = _settings(ctx)
    chosen = get_tier(tier, load_tier_overrides(tiers_file))
    result = image_ms(
        ms, out_dir or settings.images_dir, tier=chosen, data_column=data_column.upper()
    )
    if register:
        from dsa110_contimg.products import repositories as repo
        from dsa110_contimg.products.db import session_scope

        _, factory = _database(ctx)
        with session_scope(factory) as session:
            try:
                row = repo.get_ms(session, ms)
            except repo.NotFoundError:
                row = repo.get_ms(session, result.ms_path)  # registered by its absolute path
            register_imaging(session, result, row.id)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=1, default=str))
        return
    qa = result.qa
    click.echo(
        f"{result.products['image-pb']} (v{result.version}, {result.tier}): "
        f"rms {qa['rms_jy'] * 1e3:.2f} mJy/beam, peak {qa['peak_jy']:.3f} Jy/beam, "
        f"QA {qa['grade']}; wsclean {result.wsclean_seconds:.1f} s, log {result.log_path}"
    )


# --------------------------------------------------------------------------
# mosaic
# --------------------------------------------------------------------------
@main.command()
@click.argument("name")
@click.option("--start", required=True, help="Images with mid-times at or after this UTC (ISO).")
@click.option("--end", required=True, help="Images with mid-times before this UTC (ISO).")
@click.option("--dec-min", type=float, default=None, help="Lowest pointing declination, deg.")
@click.option("--dec-max", type=float, default=None, help="Highest pointing declination, deg.")
@click.option("--image-id", "image_ids", type=int, multiple=True, help="Only these image-pb ids.")
@click.option("--cell", "cell_arcsec", type=float, default=None, help="Pixel size, arcsec.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Product folder.")
@click.pass_context
@handle_errors
def mosaic(
    ctx: click.Context,
    name: str,
    start: str,
    end: str,
    dec_min: float | None,
    dec_max: float | None,
    image_ids: tuple[int, ...],
    cell_arcsec: float | None,
    out_dir: str | None,
) -> None:
    """Co-add the pb-corrected images of a time range into the mosaic NAME and register it."""
    from tqdm import tqdm

    from dsa110_contimg.mosaic import make_mosaic

    settings, factory = _database(ctx)
    bar = tqdm(unit="tile", desc=f"mosaic {name}", disable=None)
    try:
        mosaic_id, result = make_mosaic(
            factory,
            name,
            out_dir or settings.mosaics_dir,
            mjd_start=_mjd(start),
            mjd_end=_mjd(end),
            dec_min=dec_min,
            dec_max=dec_max,
            image_ids=list(image_ids) or None,
            cell_arcsec=cell_arcsec,
            on_tiles=lambda tiles: bar.reset(total=len(tiles)),
            on_tile=lambda tile: bar.update(),
        )
    finally:
        bar.close()
    click.echo(
        f"mosaic {mosaic_id} {name!r}: {len(result.tile_weights)} images "
        f"{sorted(result.tile_weights)} -> {result.path} ({result.size_x} x {result.size_y} px "
        f"at {result.cell_arcsec:.1f} arcsec), noise {result.noise_jy * 1e3:.2f} mJy/beam, "
        f"noise map {result.noise_path}"
    )


# --------------------------------------------------------------------------
# simulate
# --------------------------------------------------------------------------
@main.command()
@click.argument("outdir", type=click.Path(file_okay=False))
@click.option("--preset", default="test", show_default=True, help="test, demo or full.")
@click.option(
    "--sim-config",
    "sim_config",
    type=click.Path(dir_okay=False, exists=True),
    help="TOML file overriding the preset's simulation settings.",
)
@click.option("--seed", type=int, default=None, help="Random seed (default: the config's).")
@click.option("--group", "groups", type=int, multiple=True, help="Only these group indices.")
@handle_errors
def simulate(
    outdir: str, preset: str, sim_config: str | None, seed: int | None, groups: tuple[int, ...]
) -> None:
    """Write simulated DSA-110 UVH5 files, a catalog and the truth into OUTDIR."""
    from tqdm import tqdm

    from dsa110_contimg.simulate import load_sim_config
    from dsa110_contimg.simulate import simulate as run_simulation

    overrides = {} if seed is None else {"seed": seed}
    cfg = load_sim_config(preset, sim_config, **overrides)
    n_groups = len(groups) if groups else cfg.n_groups
    with tqdm(total=n_groups * cfg.n_integrations, unit="int", desc="simulating") as bar:
        truth = run_simulation(cfg, outdir, groups=list(groups) or None, progress=bar.update)
    click.echo(
        f"wrote {n_groups} group(s) of {cfg.preset!r} data to {outdir}/incoming; "
        f"{len(truth['sources']['name'])} sources; truth in {outdir}/truth.json"
    )


# --------------------------------------------------------------------------
# serve
# --------------------------------------------------------------------------
@main.command("serve")
@click.option("--host", default=None, help="Address to listen on (default: settings.api_host).")
@click.option("--port", type=int, default=None, help="Port (default: settings.api_port).")
@click.option("--workers", type=int, default=1, show_default=True, help="Worker processes.")
@click.pass_context
@handle_errors
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int) -> None:
    """Serve the web API (REST, GraphQL, WebSocket, metrics) with uvicorn."""
    import os

    import uvicorn

    settings = _settings(ctx)
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
    )


if __name__ == "__main__":  # pragma: no cover
    main()

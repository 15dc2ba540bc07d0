"""`dsa110 demo`: simulate a small complete data set, run the pipeline on it, serve it.

Everything lives under one demo data root (default ``./demo-data``): the
simulated stream in ``incoming/``, the truth beside it, the products and the
products DB. Running it again reuses what is there: the simulation is kept,
groups already done are not processed again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dsa110_contimg.catalog.store import CatalogStore
from dsa110_contimg.config import Settings
from dsa110_contimg.ingest import IngestPolicy, index_folder
from dsa110_contimg.pipeline.batch import BatchSummary, run_batch, select_groups
from dsa110_contimg.pipeline.context import RunOptions
from dsa110_contimg.pipeline.runner import recover
from dsa110_contimg.products import make_engine, make_session_factory, session_scope, upgrade
from dsa110_contimg.products import models as m
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.simulate import preset_config, simulate

log = logging.getLogger(__name__)

#: The catalog name the demo's simulated sky is imported under.
DEMO_CATALOG = "SIM"
#: The demo's run options: the quicklook tier keeps it within minutes on 2 cores.
DEMO_OPTIONS = RunOptions(tier="quicklook", max_image_size=2048)


@dataclass
class DemoResult:
    """What the demo made."""

    root: Path
    summary: BatchSummary
    counts: dict[str, int]
    seconds: float


def product_counts(factory) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Rows per product table, for the summary."""
    tables = {
        "groups": m.ObservationGroup,
        "measurement sets": m.MeasurementSet,
        "calibration tables": m.CalTable,
        "images": m.Image,
        "sources": m.Source,
        "photometry rows": m.Photometry,
        "candidates": m.Candidate,
        "jobs": m.Job,
    }
    with session_scope(factory) as session:
        return repo.row_counts(session, tables)


def run_demo(
    settings: Settings,
    *,
    preset: str = "test",
    echo: Callable[[str], None] = print,
    executor: str = "local",
) -> DemoResult:
    """Simulate (once), import the catalog, index, and process every group."""
    t0 = time.perf_counter()
    root = settings.data_root
    settings.ensure_folders()
    upgrade(settings.db_url)
    if not (root / "truth.json").exists():
        cfg = preset_config(preset)
        echo(
            f"simulating the {preset!r} data set ({cfg.n_groups} groups) into {root / 'incoming'} ..."
        )
        simulate(cfg, root)
    with CatalogStore(settings.catalog_db) as store:
        if DEMO_CATALOG not in store.catalogs():
            report = store.import_file(DEMO_CATALOG, root / "catalog.csv")
            echo(f"imported {report.n_imported} catalog sources as {DEMO_CATALOG!r}")
    engine = make_engine(settings.db_url)
    try:
        factory = make_session_factory(engine)
        recover(settings, factory)
        # the simulated files are complete on disk: no need to wait for them to settle
        report = index_folder(
            settings, factory, policy=IngestPolicy.from_settings(settings, settle_s=0.0)
        )
        echo(f"indexed: {report.summary()}")
        groups = select_groups(settings)
        echo(f"processing {len(groups)} groups with the {executor} executor ...")
        summary = run_batch(
            settings,
            groups,
            executor=executor,
            options=DEMO_OPTIONS,
            on_done=lambda gid, ok: echo(f"  {gid}: {'done' if ok else 'FAILED'}"),
        )
        counts = product_counts(factory)
    finally:
        engine.dispose()
    return DemoResult(root, summary, counts, time.perf_counter() - t0)

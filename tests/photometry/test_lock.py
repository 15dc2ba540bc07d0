"""The photometry step holds no SQLite write lock while it computes.

The step reads in one short session, measures with no session open, then
writes in a second one: while forced photometry runs (held here on an
event), another connection can take SQLite's write lock at once.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import numpy as np
from photometry_sims import add_sources, correlated_noise, make_wcs, write_fits
from sqlalchemy.engine import make_url
from test_stage import BEAM, CELL, DEC0, RA0, RMS, _register, small_field_db

from dsa110_contimg.photometry import stage
from dsa110_contimg.pipeline.context import StepContext
from dsa110_contimg.pipeline.jobs import job_run
from dsa110_contimg.pipeline.steps import photometry as step
from dsa110_contimg.products import session_scope

N_PIX, N_SRC = 160, 8


def test_compute_phase_leaves_the_db_writable(tmp_path, monkeypatch) -> None:
    rng = np.random.default_rng(12)
    wcs = make_wcs(N_PIX, CELL, RA0, DEC0)
    ra, dec = wcs.wcs_pix2world(*rng.uniform(20, N_PIX - 20, (2, N_SRC)), 0)
    flux = rng.uniform(0.1, 0.4, N_SRC)
    settings, engine, factory = small_field_db(tmp_path, ra, dec, flux)
    path = tmp_path / "lock-image-pb.fits"
    image = correlated_noise((N_PIX, N_PIX), wcs, BEAM, RMS, rng, scale=1 / np.sqrt(2))
    add_sources(image, wcs, BEAM, ra, dec, flux)
    write_fits(path, image, wcs, BEAM)
    path.with_suffix(".ms").mkdir()  # the step looks for the image's MS on disk
    with session_scope(factory) as session:
        group_id = _register(session, path, 0, 61500.0).ms.group_id

    computing, release = threading.Event(), threading.Event()
    measure = stage.forced_photometry

    def held(*args: Any, **kwargs: Any) -> Any:
        computing.set()
        release.wait(30)
        return measure(*args, **kwargs)

    monkeypatch.setattr(stage, "forced_photometry", held)
    outcome: dict[str, Any] = {}

    def run_step() -> None:
        try:
            with job_run(
                factory, tmp_path / "logs", job_type="photometry", group_id=group_id
            ) as job:
                outcome["summary"] = step.run(StepContext(settings, factory, group_id, job))
        except BaseException as exc:  # reported by the main thread
            outcome["error"] = exc
        finally:
            computing.set()

    worker = threading.Thread(target=run_step)
    worker.start()
    db = sqlite3.connect(make_url(settings.db_url).database, timeout=1.0, isolation_level=None)
    try:
        assert computing.wait(60), "the step never reached its forced photometry"
        assert "error" not in outcome, outcome.get("error")
        try:
            db.execute("BEGIN IMMEDIATE")  # waits at most the 1 s timeout for the write lock
            db.execute("ROLLBACK")
            locked = None
        except sqlite3.OperationalError as exc:
            locked = str(exc)
    finally:
        release.set()
        worker.join(60)
        db.close()
        engine.dispose()
    assert locked is None, f"the DB was write-locked while the step computed: {locked}"
    assert "error" not in outcome, outcome.get("error")
    summary = outcome["summary"]
    assert not summary["skipped"] and summary["n_measured"] == N_SRC
    assert summary["n_new_sources"] == N_SRC and summary["normalised"]

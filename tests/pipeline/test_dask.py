"""The same batch through the local process pool and through Dask gives the same products.

Two simulated groups (a calibrator transit and a target of the same strip)
run from indexed files to photometry: once through the local pool (the
reference), once through a Dask LocalCluster of 2 worker processes on SQLite,
and once through a scheduler address on PostgreSQL. Products are compared per
group: registered MS, caltables and applications, images (pixel statistics),
photometry fluxes and job rows.
"""

from __future__ import annotations

from pathlib import Path

import casacore.tables
import numpy as np
import pytest
import sqlalchemy as sa
from astropy.io import fits

from dsa110_contimg.errors import ConfigError
from dsa110_contimg.pipeline.batch import (
    check_shared_database,
    open_executor,
    run_batch,
    select_groups,
)
from dsa110_contimg.products import make_engine, make_session_factory, session_scope
from dsa110_contimg.products.models import (
    CalApplication,
    CalTable,
    GroupState,
    Image,
    Job,
    JobStatus,
    MeasurementSet,
    ObservationGroup,
    Photometry,
    Source,
)

from .conftest import prepare_root

OPTIONS = {"tier": "quicklook"}
#: Relative tolerance on deterministic products (MS, flags, solutions, dirty
#: image, PSF): the runs share inputs and code, so they agree to float32 rounding.
RTOL = 1e-5
#: Products of CLEAN (restored, residual, model images, photometry) agree within
#: this fraction of the image noise (or of a flux's error): WSClean's stopping
#: point at the auto-threshold can move by a component or two between runs of
#: the same MS (seen: 229 vs 227 iterations, 0.015 Jy per pixel, 0.1 sigma in flux).
CLEAN_SIGMA = 0.5
DETERMINISTIC_IMAGES = ("dirty", "psf", "beam")


def _image_stats(path: str) -> tuple[float, ...]:
    data = fits.getdata(path).astype(np.float64)
    finite = data[np.isfinite(data)]
    return (finite.size, finite.min(), finite.max(), finite.mean(), finite.std())


def _solutions(path: str) -> np.ndarray:
    with casacore.tables.table(path, ack=False) as table:
        return np.where(table.getcol("FLAG"), np.nan, table.getcol("CPARAM"))


def _products(settings) -> dict[str, dict]:
    """What the products DB and disk hold, per group, in run-independent terms."""
    engine = make_engine(settings.db_url)
    out: dict[str, dict] = {}
    try:
        with session_scope(make_session_factory(engine)) as s:
            for group in s.scalars(sa.select(ObservationGroup)):
                out[group.id] = {"state": group.state, "jobs": [], "caltables": []}
            for ms in s.scalars(sa.select(MeasurementSet)):
                assert Path(ms.path).exists()
                out[ms.group_id]["ms"] = (
                    Path(ms.path).name,
                    ms.n_rows,
                    ms.n_channels,
                    ms.stage,
                    ms.cal_applied,
                    ms.calibrator,
                    ms.flag_fraction,
                )
            for table in s.scalars(sa.select(CalTable)):
                group_id = s.get(MeasurementSet, table.source_ms_id).group_id
                out[group_id]["caltables"].append(
                    (Path(table.path).name, table.table_type, table.calibrator, table.refant)
                )
                out[group_id].setdefault("solutions", {})[table.table_type] = _solutions(table.path)
            for app in s.scalars(sa.select(CalApplication)):
                out[app.ms.group_id].setdefault("applied", []).append(Path(app.cal_table.path).name)
            for im in s.scalars(sa.select(Image)):
                assert Path(im.path).exists()
                out[im.ms.group_id].setdefault("images", {})[im.image_type] = _image_stats(im.path)
            rows = s.execute(
                sa.select(
                    MeasurementSet.group_id, Source.name, Photometry.flux_jy, Photometry.flux_err_jy
                )
                .join(Image, Photometry.image_id == Image.id)
                .join(MeasurementSet, Image.ms_id == MeasurementSet.id)
                .join(Source, Photometry.source_id == Source.id)
            ).all()
            for group_id, name, flux, err in rows:
                out[group_id].setdefault("fluxes", {})[name] = (flux, err)
            for job in s.scalars(sa.select(Job)):
                assert job.status is JobStatus.SUCCEEDED, (job.job_type, job.error)
                assert job.job_type == "batch" or Path(job.log_path).exists()
                out[job.group_id]["jobs"].append(job.job_type)
    finally:
        engine.dispose()
    for products in out.values():
        products["jobs"].sort()
        products["caltables"].sort()
        products.get("applied", []).sort()
    return out


def _assert_same(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for group_id, ref in want.items():
        new = got[group_id]
        assert new.keys() == ref.keys(), group_id
        for key in ("state", "jobs", "caltables", "applied"):
            assert new[key] == ref[key], (group_id, key)
        assert new["ms"][:-1] == ref["ms"][:-1], group_id
        assert new["ms"][-1] == pytest.approx(ref["ms"][-1], rel=RTOL)  # flag fraction
        for kind, sol in ref.get("solutions", {}).items():
            np.testing.assert_allclose(new["solutions"][kind], sol, rtol=RTOL, err_msg=kind)
        assert new["images"].keys() == ref["images"].keys()
        noise = ref["images"]["image"][4]
        for kind, stats in ref["images"].items():
            if kind in DETERMINISTIC_IMAGES:
                scale = max(abs(stats[1]), abs(stats[2]))  # atol: a mean may be ~0
                tol = {"rtol": RTOL, "atol": RTOL * scale}
            else:
                tol = {"rtol": 0, "atol": CLEAN_SIGMA * noise}
            np.testing.assert_allclose(new["images"][kind], stats, **tol, err_msg=kind)
        assert new["fluxes"].keys() == ref["fluxes"].keys()
        for name, (flux, err) in ref["fluxes"].items():
            assert abs(new["fluxes"][name][0] - flux) <= CLEAN_SIGMA * err, (group_id, name)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, sim_two_groups) -> dict:
    """The batch through the local process pool (2 workers)."""
    sim_dir, truth = sim_two_groups
    settings = prepare_root(tmp_path_factory.mktemp("local"), sim_dir)
    groups = select_groups(settings)
    assert len(groups) == len(truth["groups"]) == 2
    summary = run_batch(settings, groups, executor="local", workers=2, options=OPTIONS)
    assert summary.ok and sorted(summary.done) == sorted(groups)
    products = _products(settings)
    # a non-trivial reference: every group calibrated, imaged and measured, one of
    # them with the calibrator's own solutions
    for p in products.values():
        assert p["state"] is GroupState.DONE
        assert p["jobs"] == sorted(["batch", "convert", "flag", "calibrate", "image", "photometry"])
        assert p["ms"][4] and len(p["applied"]) == 2 and "image-pb" in p["images"]
        assert len(p["fluxes"]) > 3
    assert sum(len(p["caltables"]) for p in products.values()) == 2
    return products


def test_dask_local_cluster_on_sqlite(tmp_path: Path, sim_two_groups, reference) -> None:
    sim_dir, _ = sim_two_groups
    settings = prepare_root(tmp_path / "dask", sim_dir)
    summary = run_batch(
        settings, select_groups(settings), executor="dask", workers=2, options=OPTIONS
    )
    assert summary.ok, summary
    _assert_same(_products(settings), reference)


@pytest.mark.postgres
def test_dask_scheduler_on_postgres(
    tmp_path: Path, sim_two_groups, reference, postgres_url: str
) -> None:
    from dask.distributed import Client, LocalCluster, get_task_stream

    sim_dir, _ = sim_two_groups
    settings = prepare_root(tmp_path / "dask-pg", sim_dir, db_url=postgres_url)
    groups = select_groups(settings)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as watcher,
        get_task_stream(client=watcher) as stream,
    ):
        summary = run_batch(
            settings, groups, executor="dask", scheduler=cluster.scheduler_address, options=OPTIONS
        )
        workers = set(cluster.scheduler.workers)
    assert summary.ok, summary
    # each group ran as a task on one of the cluster's workers
    ran = {d["key"]: d["worker"] for d in stream.data}
    assert sorted(k.split("-", 2)[2].rsplit("-", 1)[0] for k in ran) == sorted(groups)
    assert set(ran.values()) <= workers and len(workers) == 2
    _assert_same(_products(settings), reference)


def test_scheduler_refuses_sqlite(tmp_path: Path) -> None:
    from dsa110_contimg.config import load_settings

    settings = load_settings(data_root=tmp_path)
    with pytest.raises(ConfigError, match="PostgreSQL"):
        check_shared_database(settings, "dask", "tcp://10.0.0.1:8786")
    check_shared_database(settings, "dask", None)  # a LocalCluster shares the WAL file
    check_shared_database(settings, "local", None)
    memory = load_settings(data_root=tmp_path, db_url="sqlite://")
    with pytest.raises(ConfigError, match="in-memory"):
        check_shared_database(memory, "local", None)
    with open_executor(memory, "serial", 1, None):  # in this process: no sharing
        pass

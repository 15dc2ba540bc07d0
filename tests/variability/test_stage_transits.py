"""The light-curve stage on a products DB, one epoch per transit.

After every image the stored metrics equal the full recomputation from the
light curve so far (``update_batch(..., epoch_days=0.5)``), whether the
images arrive in order, late (back-fill, reprocessing), with a bad image
rated out, with vetoed (blended) measurements, or onto rows written before
migration 0011.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from dsa110_contimg.cli import main
from dsa110_contimg.photometry.flags import PhotFlag
from dsa110_contimg.products import (
    downgrade,
    make_engine,
    make_session_factory,
    session_scope,
    upgrade,
)
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import Photometry, VariabilityMetrics
from dsa110_contimg.products.repositories.variability import stale_metrics_ids
from dsa110_contimg.variability import PRESETS, stage
from dsa110_contimg.variability.metrics import (
    EPOCH_DAYS,
    MetricsState,
    compute_metrics,
    update_batch,
)
from dsa110_contimg.variability.ratings import apply_image_rating

PRESET = "conservative"
FLOOR = PRESETS[PRESET].frac_floor
GROUP_DAYS = 309.24 / 86400
COMPARED = ("mean_flux_jy", "weighted_mean_flux_jy", "eta", "v", "chi2_nu")


@pytest.fixture
def factory(db_url):
    """A migrated products DB: SQLite, and PostgreSQL when a server is available."""
    upgrade(db_url)
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()


def _cadence() -> np.ndarray:
    """Three groups a transit, daily, a missed day and a lost group."""
    days = [0, 1, 2, 4, 5, 6, 7]
    t = [61200.3 + d + k * GROUP_DAYS for d in days for k in range(3)]
    del t[10]
    return np.array(t)


def _sky(rng: np.random.Generator, n_src: int, t: np.ndarray):
    truth = rng.uniform(0.05, 1.0, n_src)
    err = truth[:, None] / rng.uniform(10, 200, (n_src, 1)) * np.ones(t.size)
    transit = np.floor(t - t[0] + 0.25).astype(int)
    scale = 1 + 0.01 * rng.normal(size=(n_src, transit.max() + 1))[:, transit]
    return truth[:, None] * scale + rng.normal(size=err.shape) * err, err


def _sources(factory, n: int, prefix: str) -> np.ndarray:
    with session_scope(factory) as session:
        return np.array(
            [
                repo.register_source(
                    session, name=f"{prefix}{k}", ra_deg=30.0, dec_deg=40.0 + k * 1e-3
                ).id
                for k in range(n)
            ]
        )


def _image(session, mjd: float) -> int:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=mjd - 61000.0)
    gid = start.strftime("%Y-%m-%dT%H:%M:%S")
    repo.register_group(session, group_id=gid, start_time=start, start_mjd=mjd)
    ms = repo.register_ms(
        session, path=f"/x/{gid}.ms", mjd_start=mjd, mjd_mid=mjd, mjd_end=mjd, group_id=gid
    )
    return repo.register_image(
        session,
        path=f"/x/{gid}-image-pb.fits",
        mjd_obs=mjd,
        ra_deg=30.0,
        dec_deg=40.0,
        size_x=100,
        size_y=100,
        cell_arcsec=6.0,
        image_type="image-pb",
        ms_path=ms.path,
        pbcor=True,
    ).id


def _measure(session, ids, flux, err, mjd, flags=None) -> tuple[int, dict]:
    """What the photometry stage does: store the rows, then the clean ones into the metrics."""
    image_id = _image(session, float(mjd))
    flags = np.zeros(ids.size, int) if flags is None else flags
    rows = [
        {
            "source_id": int(s),
            "mjd": float(mjd),
            "flux_jy": float(flux[k]),
            "flux_err_jy": float(err[k]),
            "norm_flux_jy": float(flux[k]),
            "norm_flux_err_jy": float(err[k]),
            "flags": int(flags[k]),
        }
        for k, s in enumerate(ids)
    ]
    repo.add_photometry(session, image_id, rows)
    clean = flags == 0
    summary = stage.update_light_curves(
        session, ids[clean], flux[clean], err[clean], float(mjd), preset=PRESET
    )
    return image_id, summary


def _assert_recomputed(session, ids: np.ndarray) -> None:
    """Stored metrics == update_batch(epoch_days=0.5) over the clean light curves."""
    ids = np.sort(ids)
    sid, flux, err, mjd = repo.normalised_points(session, ids.tolist())
    reference = MetricsState.empty(ids.size)
    update_batch(reference, np.searchsorted(ids, sid), flux, err, mjd, FLOOR, epoch_days=0.5)
    want = compute_metrics(reference)
    rows = {
        m.source_id: m
        for m in session.scalars(
            sa.select(VariabilityMetrics).where(VariabilityMetrics.source_id.in_(ids.tolist()))
        )
    }
    for k, s in enumerate(ids.tolist()):
        row = rows.get(s)
        if row is None:  # never measured yet
            assert reference.n_epochs[k] == 0
            continue
        assert row.n_epochs == reference.n_epochs[k], s
        assert row.epoch_days == 0.5
        for name in COMPARED:
            if np.isfinite(want[name][k]):
                assert getattr(row, name) == pytest.approx(want[name][k], rel=1e-9), name
            else:
                assert getattr(row, name) is None, name


def test_every_image_equals_the_full_recompute(factory) -> None:
    rng = np.random.default_rng(21)
    t = _cadence()
    n_src = 25
    flux, err = _sky(rng, n_src, t)
    ids = _sources(factory, n_src, "T")
    for k in range(t.size):
        seen = rng.random(n_src) > 0.1
        with session_scope(factory) as session:
            _, summary = _measure(session, ids[seen], flux[seen, k], err[seen, k], t[k])
            assert summary["n_rebuilt"] == 0 and summary["n_used"] == seen.sum()
            _assert_recomputed(session, ids)
    with session_scope(factory) as session:
        n = session.scalars(sa.select(VariabilityMetrics.n_epochs)).all()
    assert max(n) == 7  # seven transits, 20 images


def test_late_images_bad_ratings_and_vetoed_measurements(factory) -> None:
    rng = np.random.default_rng(22)
    t = _cadence()
    n_src = 12
    flux, err = _sky(rng, n_src, t)
    ids = _sources(factory, n_src, "L")
    order = [0, 1, 3, 4, 2, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 7]  # 2, 7 late
    image_ids = {}
    rebuilt = []
    for k in order:
        flags = np.where(rng.random(n_src) < 0.15, int(PhotFlag.BLENDED), 0)
        with session_scope(factory) as session:
            image_ids[k], summary = _measure(session, ids, flux[:, k], err[:, k], t[k], flags)
            rebuilt.append(summary["n_rebuilt"])
            _assert_recomputed(session, ids)
    assert rebuilt[order.index(2)] > 0 and rebuilt[order.index(7)] > 0
    assert sum(rebuilt) == rebuilt[order.index(2)] + rebuilt[order.index(7)]
    with session_scope(factory) as session:  # the middle sighting of a transit rated bad
        apply_image_rating(session, image_ids[4], "bad", by="test", preset=PRESET)
        _assert_recomputed(session, ids)
    with session_scope(factory) as session:  # the next transit goes on incrementally
        _, summary = _measure(session, ids, flux[:, -1] * 1.01, err[:, -1], t[-1] + 1.0)
        assert summary["n_rebuilt"] == 0
        _assert_recomputed(session, ids)
    with session_scope(factory) as session:
        n_bad = session.scalar(
            sa.select(sa.func.count()).where(Photometry.image_id == image_ids[4])
        )
    assert n_bad == n_src  # stored, left out of the metrics


def test_rows_from_before_0011_are_rebuilt(db_url, tmp_path) -> None:
    """Per-sighting rows (as migration 0011 leaves them) are rebuilt when next measured."""
    upgrade(db_url, "0010")
    engine = make_engine(db_url)
    stamp = "2026-01-01 00:00:00+00:00"
    with engine.begin() as conn:
        for k in (1, 2):
            conn.execute(
                sa.text(
                    "INSERT INTO sources (id, name, ra_deg, dec_deg, is_reference, created_at, "
                    "updated_at) VALUES (:i, :n, 30, 40, false, :t, :t)"
                ),
                {"i": k, "n": f"old{k}", "t": stamp},
            )
        conn.execute(
            sa.text(
                "INSERT INTO variability_metrics (source_id, n_epochs, first_mjd, last_mjd, "
                "eta, sum_w, sum_wf, sum_wf2, sum_f, sum_f2, updated_at) "
                "VALUES (1, 3, 61200.3, 61200.31, 7.0, 300, 300, 301, 3, 3.01, :t)"
            ),
            {"t": stamp},
        )
    upgrade(db_url)
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT n_epochs, eta, epoch_days, closed_sum_w, open_sightings "
                "FROM variability_metrics WHERE source_id = 1"
            )
        ).one()
    assert tuple(row) == (3, 7.0, None, 0.0, 0)  # kept, marked for a rebuild
    factory = make_session_factory(engine)
    ids = np.array([1, 2])
    t = _cadence()[:6]
    flux = np.array([[1.0, 1.02, 0.99, 1.1, 1.08, 1.12], [2.0, 2.1, 1.9, 2.0, 2.05, 2.0]])
    err = np.full_like(flux, 0.01)
    with session_scope(factory) as session:  # the history stored before the upgrade
        for k in range(3):
            image_id = _image(session, t[k])
            repo.add_photometry(
                session,
                image_id,
                [
                    {
                        "source_id": 1,
                        "mjd": float(t[k]),
                        "flux_jy": flux[0, k],
                        "flux_err_jy": 0.01,
                        "norm_flux_jy": flux[0, k],
                        "norm_flux_err_jy": 0.01,
                    }
                ],
            )
    with session_scope(factory) as session:
        _, summary = _measure(session, ids, flux[:, 3], err[:, 3], t[3])
        assert summary["n_rebuilt"] == 1
        _assert_recomputed(session, ids)
        assert session.get(VariabilityMetrics, 1).n_epochs == 2  # two transits, not four
    with session_scope(factory) as session:
        for k in (4, 5):
            _measure(session, ids, flux[:, k], err[:, k], t[k])
        _assert_recomputed(session, ids)
    with session_scope(factory) as session:  # another epoch span: every row rebuilt
        session.execute(sa.update(VariabilityMetrics).values(epoch_days=None))
    with session_scope(factory) as session:
        assert stage.rebuild_stale_metrics(session, preset=PRESET) == 2
        assert stage.rebuild_stale_metrics(session, preset=PRESET) == 0
        _assert_recomputed(session, ids)
    # `dsa110 db upgrade` rebuilds what a migration left marked
    with session_scope(factory) as session:
        session.execute(sa.update(VariabilityMetrics).values(epoch_days=None))
    result = CliRunner().invoke(
        main, ["db", "upgrade"], env={"DSA110_DB_URL": db_url, "DSA110_DATA_ROOT": str(tmp_path)}
    )
    assert result.exit_code == 0, result.output
    assert "rebuilt the variability metrics of 2 sources" in result.output
    with session_scope(factory) as session:
        assert not stale_metrics_ids(session, EPOCH_DAYS, limit=10)
    downgrade(db_url, "0010")
    with engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("variability_metrics")}
        n_epochs = conn.execute(
            sa.text("SELECT n_epochs FROM variability_metrics ORDER BY source_id")
        ).scalars()
        assert list(n_epochs) == [2, 1]  # the second source: one transit
    assert not {c for c in columns if c.startswith(("closed_", "open_"))}
    assert "epoch_days" not in columns
    upgrade(db_url)
    engine.dispose()

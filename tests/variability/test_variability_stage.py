"""The light-curve stage on a products DB: incremental metrics, candidates, human status."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import sqlalchemy as sa

from dsa110_contimg.products import make_engine, make_session_factory, session_scope, upgrade
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import Candidate, Event, VariabilityMetrics
from dsa110_contimg.variability import PRESETS, stage
from dsa110_contimg.variability.metrics import METRIC_FIELDS, metrics_from_history

N_STEADY, N_EPOCHS = 300, 12


@pytest.fixture
def factory(db_url):
    """A migrated products DB: SQLite, and PostgreSQL when a server is available."""
    upgrade(db_url)
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()


def _light_curves(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Normalised fluxes and errors (n_sources, n_epochs): steady, then a flare, then an ESE."""
    truth = rng.uniform(0.02, 1.0, N_STEADY + 2)
    err = truth[:, None] / rng.uniform(30, 100, (N_STEADY + 2, 1)) * np.ones(N_EPOCHS)
    shape = np.ones((N_STEADY + 2, N_EPOCHS))
    shape[N_STEADY, 8] = 1.8  # flare
    shape[N_STEADY + 1, 3:6] = 0.6  # ESE dip of 12 days with caustics either side
    shape[N_STEADY + 1, [2, 6]] = 1.25
    return truth[:, None] * shape + rng.normal(size=err.shape) * err, err


def _group_id(e: int) -> str:
    start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC) + dt.timedelta(days=4 * e)
    return start.strftime("%Y-%m-%dT%H:%M:%S")


def _epoch(session, e: int):
    """An image row to hang one epoch's photometry on (group and MS through the repositories).

    Epochs are 4 days apart: an ESE lasts more than a week.
    """
    start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC) + dt.timedelta(days=4 * e)
    gid, mjd = _group_id(e), 61100.0 + 4 * e
    repo.register_group(session, group_id=gid, start_time=start, start_mjd=mjd)
    ms = repo.register_ms(
        session, path=f"/x/{gid}.ms", mjd_start=mjd, mjd_mid=mjd, mjd_end=mjd, group_id=gid
    )
    return repo.register_image(
        session,
        path=f"/x/{gid}-image-pb.fits",
        mjd_obs=mjd,
        ra_deg=10.0,
        dec_deg=20.0,
        size_x=100,
        size_y=100,
        cell_arcsec=6.0,
        image_type="image-pb",
        ms_path=ms.path,
        pbcor=True,
    )


def _rows(image, ids, flux, err) -> list[dict]:
    """One image's photometry rows (raw and normalised fluxes equal)."""
    return [
        {
            "source_id": int(s),
            "mjd": image.mjd_obs,
            "flux_jy": float(f),
            "flux_err_jy": float(e),
            "norm_flux_jy": float(f),
            "norm_flux_err_jy": float(e),
        }
        for s, f, e in zip(ids, flux, err, strict=True)
    ]


def _run_epochs(factory, flux, err, epochs, ids, calls):
    summaries = []
    for e in epochs:
        with session_scope(factory) as session:
            image = _epoch(session, e)
            repo.add_photometry(session, image.id, _rows(image, ids, flux[:, e], err[:, e]))
            calls.clear()
            summary = stage.update_light_curves(
                session, ids, flux[:, e], err[:, e], image.mjd_obs, preset="conservative"
            )
            assert len(calls) == summary["n_candidates"]  # light curves of candidates only
            summaries.append(summary)
    return summaries


def test_update_light_curves(factory, monkeypatch) -> None:
    rng = np.random.default_rng(7)
    flux, err = _light_curves(rng)
    with session_scope(factory) as session:
        ids = np.array(
            [
                repo.register_source(session, name=f"S{k}", ra_deg=10.0, dec_deg=20.0 + k * 1e-3).id
                for k in range(flux.shape[0])
            ]
        )
    calls: list[int] = []
    original = stage.normalised_light_curve
    monkeypatch.setattr(
        stage,
        "normalised_light_curve",
        lambda session, sid: calls.append(sid) or original(session, sid),
    )
    _run_epochs(factory, flux, err, range(7), ids, calls)
    with session_scope(factory) as session:  # a human confirms the ESE once its dip has ended
        ese = session.scalars(sa.select(Candidate).where(Candidate.source_id == int(ids[-1]))).one()
        assert str(ese.kind) == "ese" and str(ese.status) == "new"
        repo.set_candidate_status(session, ese.id, "confirmed", note="looks real")
    summaries = _run_epochs(factory, flux, err, range(7, N_EPOCHS), ids, calls)

    with session_scope(factory) as session:
        cands = {c.source_id: c for c in session.scalars(sa.select(Candidate))}
        new_events = session.scalars(
            sa.select(Event).where(Event.topic == "candidate", Event.kind == "new")
        ).all()
        metrics = {m.source_id: m for m in session.scalars(sa.select(VariabilityMetrics))}
    assert set(cands) == {int(ids[-2]), int(ids[-1])}  # flare and ESE, no steady source
    assert str(cands[int(ids[-2])].kind) == "variable"
    assert str(cands[int(ids[-1])].status) == "confirmed"  # the human's verdict stays
    assert cands[int(ids[-1])].note == "looks real"
    assert len(new_events) == 2
    assert summaries[-1]["n_used"] == flux.shape[0]
    floor = PRESETS["conservative"].frac_floor  # errors as the metrics saw them
    for k, sid in enumerate(ids.tolist()):
        ref = metrics_from_history(flux[k], err[k], floor)
        assert metrics[sid].n_epochs == N_EPOCHS
        for name in METRIC_FIELDS:
            assert getattr(metrics[sid], name) == pytest.approx(ref[name], rel=1e-9), name


def test_recompute_metrics_matches_incremental(factory) -> None:
    rng = np.random.default_rng(8)
    flux, err = _light_curves(rng)
    flux, err = flux[:20], err[:20]
    with session_scope(factory) as session:
        ids = np.array(
            [
                repo.register_source(session, name=f"R{k}", ra_deg=1.0, dec_deg=k * 1e-3).id
                for k in range(20)
            ]
        )
    _run_epochs(factory, flux, err, range(5), ids, [])
    with session_scope(factory) as session:
        before = {m.source_id: m.eta for m in session.scalars(sa.select(VariabilityMetrics))}
        assert stage.recompute_metrics(session, ids[::-1]) == 20 * 5
        after = {m.source_id: m.eta for m in session.scalars(sa.select(VariabilityMetrics))}
    assert after == pytest.approx(before, rel=1e-9)


def test_duplicate_ids_are_refused(factory) -> None:
    with session_scope(factory) as session, pytest.raises(ValueError, match="distinct"):
        stage.update_light_curves(session, [1, 1], [1.0, 1.0], [0.1, 0.1], 60000.0)


def _measure(factory, image_of, flux, err, epochs, ids) -> list[dict]:
    """Photometry of some epochs (images already registered) through the light-curve stage."""
    summaries = []
    for e in epochs:
        with session_scope(factory) as session:
            image = repo.get_image(session, image_of[e])
            repo.add_photometry(session, image.id, _rows(image, ids, flux[:, e], err[:, e]))
            summaries.append(
                stage.update_light_curves(session, ids, flux[:, e], err[:, e], image.mjd_obs)
            )
    return summaries


def test_a_reprocess_takes_back_the_candidates_its_error_raised(factory) -> None:
    """A bad epoch (a wrong beam) raises candidates; redone right, they are withdrawn.

    The path of ``dsa110 reprocess``: the group's photometry is withdrawn and
    the metrics recomputed (``services.reprocess_group``), then the redone
    image's photometry arrives older than the sources' latest sightings. A
    candidate a person has commented on stays; a real flare elsewhere in the
    same light curves stays a candidate under many later steady epochs.
    """
    from dsa110_contimg.config import Settings
    from dsa110_contimg.pipeline.services import reprocess_group

    rng = np.random.default_rng(11)
    n_src, n_ep, bad = 8, 14, 4
    truth = rng.uniform(0.2, 1.0, n_src)
    err = truth[:, None] / 80.0 * np.ones(n_ep)
    right = truth[:, None] + rng.normal(size=err.shape) * err
    right[-1, 2] *= 1.8  # a real flare of the last source, early in its light curve
    wrong = right.copy()
    wrong[:5, bad] *= 0.8  # the bad epoch: five sources 20% low
    with session_scope(factory) as session:
        ids = np.array(
            [
                repo.register_source(session, name=f"B{k}", ra_deg=30.0, dec_deg=k * 1e-2).id
                for k in range(n_src)
            ]
        )
        image_of, groups = {}, {}
        for e in range(n_ep):
            image = _epoch(session, e)
            image_of[e], groups[e] = image.id, _group_id(e)
            repo.set_group_state(session, groups[e], "done")
    _measure(factory, image_of, wrong, err, range(n_ep), ids)
    with session_scope(factory) as session:
        raised = {int(c.source_id): c.id for c in session.scalars(sa.select(Candidate))}
        assert set(raised) == {int(s) for s in ids[:5]} | {int(ids[-1])}
        repo.add_comment(session, "candidate", raised[int(ids[0])], "watching", by="astro")

    settings = Settings()
    done = reprocess_group(settings, factory, groups[bad], from_step="photometry", reason="beam")
    assert sorted(done.superseded["candidates_withdrawn"]) == sorted(
        raised[int(s)] for s in ids[1:5]
    )
    summary = _measure(factory, image_of, right, err, [bad], ids)[0]  # measured right
    assert summary["n_rebuilt"] == n_src  # older than every source's latest sighting

    with session_scope(factory) as session:
        left = {int(c.source_id) for c in session.scalars(sa.select(Candidate))}
        withdrawn = session.scalars(
            sa.select(Event).where(Event.topic == "candidate", Event.kind == "withdrawn")
        ).all()
    assert left == {int(ids[0]), int(ids[-1])}  # the commented one and the real flare
    assert len(withdrawn) == 4

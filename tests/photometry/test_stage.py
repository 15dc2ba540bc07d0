"""The photometry stage on a products DB: simulated pb-corrected epochs end to end.

Sixteen epochs of one field (~80 catalog sources, noise correlated like the
beam, the primary-beam blanking outside a circle) with a known per-epoch
flux-scale error, a flaring and an ESE source; each image registered through
the repositories and measured by :func:`measure_image`.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import sqlalchemy as sa
from photometry_sims import add_sources, correlated_noise, make_wcs, write_fits

from dsa110_contimg.catalog.readers import CATALOG_DTYPE
from dsa110_contimg.catalog.store import CatalogStore
from dsa110_contimg.config import load_settings
from dsa110_contimg.errors import InputDataError
from dsa110_contimg.photometry.beam import Beam
from dsa110_contimg.photometry.flags import METRICS_VETO
from dsa110_contimg.photometry.stage import measure_image
from dsa110_contimg.products import make_engine, make_session_factory, session_scope, upgrade
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import (
    Candidate,
    EpochNormalisation,
    Event,
    Image,
    Photometry,
    Source,
    VariabilityMetrics,
)
from dsa110_contimg.variability.candidates import get_preset
from dsa110_contimg.variability.metrics import METRIC_FIELDS, metrics_from_history

N_PIX, N_EPOCHS, RMS, CELL = 320, 16, 1e-3, 6.0
BEAM = Beam(20 / 3600, 15 / 3600, 30.0)
RA0, DEC0 = 150.0, 40.0
FLARE, ESE = 0, 1
SCALE_ERROR = 0.03


def _sky(rng: np.random.Generator, wcs) -> dict[str, np.ndarray]:
    """Truth: positions, fluxes, light-curve shapes, per-epoch scale errors."""
    n_src = 80
    r = rng.uniform(0, 0.42 * N_PIX, n_src) ** 0.5 * (0.42 * N_PIX) ** 0.5
    phi = rng.uniform(0, 2 * np.pi, n_src)
    x, y = N_PIX / 2 + r * np.cos(phi), N_PIX / 2 + r * np.sin(phi)
    ra, dec = wcs.wcs_pix2world(x, y, 0)
    flux = 10 ** rng.uniform(np.log10(5e-3), np.log10(0.5), n_src)
    flux[[FLARE, ESE]] = 0.1
    shape = np.ones((n_src, N_EPOCHS))
    shape[FLARE, 13] = 1.8
    shape[ESE, 9:12] = 0.6
    shape[ESE, [8, 12]] = 1.25  # caustics
    scale = 1 + rng.normal(0, SCALE_ERROR, N_EPOCHS)
    return {"ra": ra, "dec": dec, "flux": flux, "shape": shape, "scale": scale}


def _catalog(sky: dict[str, np.ndarray], path) -> None:
    """The truth as a survey catalog (3% errors), plus off-field and calibrator rows."""
    n = sky["ra"].size
    rows = np.zeros(n + 2, CATALOG_DTYPE)
    rows["name"][:n] = [f"T{k:03d}" for k in range(n)]
    rows["ra_deg"][:n], rows["dec_deg"][:n] = sky["ra"], sky["dec"]
    rows["flux_mjy"][:n] = sky["flux"] * 1e3
    rows["flux_err_mjy"][:n] = 0.03 * sky["flux"] * 1e3
    # one in the blanked corner, one off the image: never measured
    corner = make_wcs(N_PIX, CELL, RA0, DEC0).wcs_pix2world([[3.0, 3.0]], 0)[0]
    rows[n] = ("CORNER", *corner, 1, 1, 50.0, 1.5, np.nan, np.nan, np.nan)
    rows[n + 1] = ("FAR", RA0, DEC0 + 2.0, 1, 1, 50.0, 1.5, np.nan, np.nan, np.nan)
    cal = np.zeros(1, CATALOG_DTYPE)
    cal[0] = ("J1000+4000", RA0, DEC0, 0, 0, 5000.0, 50.0, np.nan, np.nan, np.nan)
    with CatalogStore(path) as store:
        store.import_rows("TEST", rows)
        store.import_rows("VLACAL", cal)


def _write_epoch(path, sky, wcs, rng, e: int) -> np.ndarray:
    """A pb-corrected image of epoch ``e``; returns the fluxes in it (truth x shape x scale)."""
    flux = sky["flux"] * sky["shape"][:, e] * sky["scale"][e]
    image = correlated_noise((N_PIX, N_PIX), wcs, BEAM, RMS, rng, scale=1 / np.sqrt(2))
    add_sources(image, wcs, BEAM, sky["ra"], sky["dec"], flux)
    yy, xx = np.mgrid[0:N_PIX, 0:N_PIX]
    image[np.hypot(xx - N_PIX / 2, yy - N_PIX / 2) > 0.48 * N_PIX] = np.nan  # pb blanking
    write_fits(path, image, wcs, BEAM)
    return flux


def _register(session, path, e: int, mjd: float) -> Image:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=3 * e)
    gid = start.strftime("%Y-%m-%dT%H:%M:%S")
    repo.register_group(session, group_id=gid, start_time=start, start_mjd=mjd)
    ms = repo.register_ms(
        session,
        path=str(path.with_suffix(".ms")),
        mjd_start=mjd - 0.002,
        mjd_mid=mjd,
        mjd_end=mjd + 0.002,
        group_id=gid,
    )
    return repo.register_image(
        session,
        path=str(path),
        mjd_obs=mjd,
        ra_deg=RA0,
        dec_deg=DEC0,
        size_x=N_PIX,
        size_y=N_PIX,
        cell_arcsec=CELL,
        image_type="image-pb",
        ms_path=ms.path,
        pbcor=True,
        beam_major_arcsec=BEAM.bmaj_deg * 3600,
        beam_minor_arcsec=BEAM.bmin_deg * 3600,
        beam_pa_deg=BEAM.bpa_deg,
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """All epochs simulated, registered and measured once."""
    tmp = tmp_path_factory.mktemp("phot-stage")
    rng = np.random.default_rng(110)
    wcs = make_wcs(N_PIX, CELL, RA0, DEC0)
    sky = _sky(rng, wcs)
    settings = load_settings(data_root=tmp / "data", catalog_db=tmp / "catalogs.sqlite3")
    _catalog(sky, settings.catalog_db)
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    factory = make_session_factory(engine)
    mjd = 61000.0 + 3.0 * np.arange(N_EPOCHS)
    truth, summaries, image_ids = [], [], []
    for e in range(N_EPOCHS):
        path = tmp / f"epoch{e:02d}-image-pb.fits"
        truth.append(_write_epoch(path, sky, wcs, rng, e))
        with session_scope(factory) as session:
            image = _register(session, path, e, float(mjd[e]))
        with session_scope(factory) as session:
            summaries.append(measure_image(session, session.get(Image, image.id), settings))
        image_ids.append(image.id)
    yield {
        "sky": sky,
        "truth": np.array(truth).T,  # (n_src, n_epochs)
        "mjd": mjd,
        "summaries": summaries,
        "image_ids": image_ids,
        "factory": factory,
        "settings": settings,
    }
    engine.dispose()


def _matrix(factory, column: str, n_src: int) -> np.ndarray:
    """A Photometry column as (catalog index, epoch), NaN where missing."""
    out = np.full((n_src, N_EPOCHS), np.nan)
    with session_scope(factory) as session:
        stmt = (
            sa.select(Source.name, Image.id, getattr(Photometry, column))
            .join(Source, Photometry.source_id == Source.id)
            .join(Image, Photometry.image_id == Image.id)
            .where(Source.catalog == "TEST", Source.name.like("TEST T%"))
        )
        rows = session.execute(stmt).all()
        ids = sorted({r[1] for r in rows})
    for name, image_id, value in rows:
        out[int(name[6:]), ids.index(image_id)] = value
    return out


def test_sources_registered_once_and_only_in_the_usable_field(run) -> None:
    with session_scope(run["factory"]) as session:
        names = set(session.scalars(sa.select(Source.name)))
        n_phot = session.scalar(sa.select(sa.func.count()).select_from(Photometry))
    n_src = run["sky"]["ra"].size
    assert names == {f"TEST T{k:03d}" for k in range(n_src)}  # no CORNER, FAR, VLACAL
    assert n_phot == n_src * N_EPOCHS


def test_fluxes_agree_with_truth(run) -> None:
    flux = _matrix(run["factory"], "flux_jy", run["sky"]["ra"].size)
    err = _matrix(run["factory"], "flux_err_jy", run["sky"]["ra"].size)
    truth = run["truth"]
    bright = truth / err > 20
    pull = (flux - truth)[bright] / err[bright]
    ratio = flux[bright] / truth[bright]
    print(
        f"SNR>20: {bright.sum()} points, within 3 sigma {np.mean(np.abs(pull) < 3):.4f}, "
        f"median ratio {np.median(ratio):.4f}"
    )
    assert np.mean(np.abs(pull) < 3) >= 0.99
    assert abs(np.median(ratio) - 1) < 0.03


def test_factors_recover_scale_errors(run) -> None:
    scale = run["sky"]["scale"]
    at_the_time = np.array([s["factor"] for s in run["summaries"]])
    # when measured, an epoch is normalised against the first <= 10 epochs known then
    running = np.array([scale[e] / np.median(scale[: min(e + 1, 10)]) for e in range(N_EPOCHS)])
    assert np.all([s["normalised"] for s in run["summaries"]])
    assert np.max(np.abs(at_the_time / running - 1)) < 0.01
    # ... and the first ten were renormalised as the baselines settled
    with session_scope(run["factory"]) as session:
        stored = {n.image_id: n.factor for n in session.scalars(sa.select(EpochNormalisation))}
        n_refs = session.scalar(sa.select(sa.func.count()).where(Source.is_reference))
    final = np.array([stored[i] for i in run["image_ids"]])
    residual = final / (scale / np.median(scale[:10])) - 1
    print(
        f"final factor / injected - 1: max {np.max(np.abs(residual)):.4f}, "
        f"rms {np.std(residual):.4f}; {n_refs} sources ever references"
    )
    assert np.max(np.abs(residual)) < 0.01
    assert n_refs >= 10


def test_normalised_steady_scatter(run) -> None:
    n_src = run["sky"]["ra"].size
    norm = _matrix(run["factory"], "norm_flux_jy", n_src)
    norm_err = _matrix(run["factory"], "norm_flux_err_jy", n_src)
    steady = (run["sky"]["shape"].std(axis=1) == 0) & (np.median(norm / norm_err, axis=1) > 20)
    scatter = np.std(norm[steady], axis=1, ddof=1) / np.mean(norm_err[steady], axis=1)
    print(f"steady SNR>20: {steady.sum()} sources, median scatter/error {np.median(scatter):.3f}")
    assert np.median(scatter) < 1.2


def test_flare_and_ese_are_candidates_steady_are_not(run) -> None:
    with session_scope(run["factory"]) as session:
        rows = session.execute(
            sa.select(Source.name, Candidate.kind, Candidate.status).join(
                Source, Candidate.source_id == Source.id
            )
        ).all()
    kinds = {name: (str(kind), str(status)) for name, kind, status in rows}
    print("candidates:", kinds)
    assert f"TEST T{FLARE:03d}" in kinds and f"TEST T{ESE:03d}" in kinds
    assert kinds[f"TEST T{ESE:03d}"][0] == "ese"
    assert all(status == "new" for _, status in kinds.values())
    assert len(kinds) == 2


def _snapshot(factory) -> tuple:
    with session_scope(factory) as session:
        metrics = sorted(
            tuple(getattr(m, c) for c in ("source_id", "n_epochs", "sum_wf", "eta"))
            for m in session.scalars(sa.select(VariabilityMetrics))
        )
        counts = tuple(
            session.scalar(sa.select(sa.func.count()).select_from(t))
            for t in (Photometry, Source, Candidate, EpochNormalisation, Event)
        )
    return metrics, counts


def test_rerun_changes_nothing(run) -> None:
    before = _snapshot(run["factory"])
    with session_scope(run["factory"]) as session:
        image = session.get(Image, run["image_ids"][-1])
        summary = measure_image(session, image, run["settings"])
    assert summary["skipped"] and summary["n_measured"] == run["sky"]["ra"].size
    assert _snapshot(run["factory"]) == before


def test_incremental_metrics_equal_recomputation(run) -> None:
    floor = get_preset(run["settings"].variability_preset).frac_floor
    with session_scope(run["factory"]) as session:
        for m in session.scalars(sa.select(VariabilityMetrics)):
            rows = session.execute(
                sa.select(Photometry.norm_flux_jy, Photometry.norm_flux_err_jy)
                .where(Photometry.source_id == m.source_id)
                .where(Photometry.flags.op("&")(int(METRICS_VETO)) == 0)  # blended, edge: out
                .order_by(Photometry.mjd)
            ).all()
            if not rows:
                assert m.n_epochs == 0
                continue
            flux, err = (np.array(c, float) for c in zip(*rows, strict=True))
            ref = metrics_from_history(flux, err, floor)
            assert m.n_epochs == flux.size
            for name in METRIC_FIELDS:
                assert getattr(m, name) == pytest.approx(ref[name], rel=1e-9, abs=1e-12), name


def test_refuses_an_image_without_pb_correction(run, tmp_path) -> None:
    with session_scope(run["factory"]) as session:
        image = session.get(Image, run["image_ids"][0])
        fake = Image(**{c: getattr(image, c) for c in ("mjd_obs", "ra_deg", "dec_deg")})
        fake.id, fake.path, fake.image_type, fake.pbcor = 10**6, "x.fits", "image", False
        with pytest.raises(InputDataError, match="not primary-beam corrected"):
            measure_image(session, fake, run["settings"])


def small_field_db(tmp_path, ra: np.ndarray, dec: np.ndarray, flux: np.ndarray) -> tuple:
    """A catalog store of sources C0, C1... (3% errors) and a fresh SQLite products DB.

    Returns the settings, the engine and a session factory.
    """
    settings = load_settings(data_root=tmp_path / "data", catalog_db=tmp_path / "cat.sqlite3")
    rows = np.zeros(len(ra), CATALOG_DTYPE)
    for k in range(len(ra)):
        rows[k] = (f"C{k}", ra[k], dec[k], 1, 1, flux[k] * 1e3, 3.0, np.nan, np.nan, np.nan)
    with CatalogStore(settings.catalog_db) as store:
        store.import_rows("TEST", rows)
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    return settings, engine, make_session_factory(engine)


@pytest.mark.requires("bdsf")
def test_blind_detections_become_sources_measured_later(tmp_path) -> None:
    rng = np.random.default_rng(3)
    n_pix = 200
    wcs = make_wcs(n_pix, CELL, RA0, DEC0)
    ra, dec = wcs.wcs_pix2world([60.0, 140.0, 100.0, 70.0], [60.0, 80.0, 150.0, 130.0], 0)
    flux = np.array([0.2, 0.1, 0.05, 0.08])  # the last one is in no catalog
    settings, engine, factory = small_field_db(tmp_path, ra[:3], dec[:3], flux[:3])
    for e, blind in enumerate((True, False)):
        path = tmp_path / f"blind{e}-image-pb.fits"
        image = correlated_noise((n_pix, n_pix), wcs, BEAM, RMS, rng, scale=1 / np.sqrt(2))
        add_sources(image, wcs, BEAM, ra, dec, flux)
        write_fits(path, image, wcs, BEAM)
        with session_scope(factory) as session:
            row = _register(session, path, e, 61200.0 + e)
            summary = measure_image(session, row, settings, blind=blind)
        assert summary["n_blind"] == (1 if blind else 0)
        assert summary["n_measured"] == 4
    with session_scope(factory) as session:
        new = session.scalars(sa.select(Source).where(Source.catalog == "blind")).one()
        fluxes = session.scalars(
            sa.select(Photometry.flux_jy).where(Photometry.source_id == new.id)
        ).all()
    engine.dispose()
    assert new.name.startswith("DSA J")
    offset = repo.angular_separation_deg(
        np.array([new.ra_deg]), np.array([new.dec_deg]), ra[3], dec[3]
    )
    assert offset[0] * 3600 < 0.5 * BEAM.bmin_deg * 3600
    assert len(fluxes) == 2 and np.allclose(fluxes, flux[3], rtol=0.1)


def test_unreadable_or_empty_images_are_input_errors(run, tmp_path) -> None:
    bad = tmp_path / "bad-image-pb.fits"
    bad.write_text("not a FITS file")
    empty = tmp_path / "empty-image-pb.fits"
    write_fits(empty, np.zeros((50, 50)), make_wcs(50, CELL, RA0 + 90, DEC0), BEAM)
    with session_scope(run["factory"]) as session:
        for e, (path, message) in enumerate(((bad, "cannot read"), (empty, "no catalog"))):
            image = _register(session, path, 100 + e, 62000.0 + e)
            with pytest.raises(InputDataError, match=message):
                measure_image(session, image, run["settings"])
        session.rollback()


def test_measure_image_on_sqlite_and_postgresql(db_url, tmp_path) -> None:
    """The DB paths (window query, bit test, bulk renormalisation) on both back ends."""
    rng = np.random.default_rng(5)
    n_pix, n_src = 160, 12
    wcs = make_wcs(n_pix, CELL, RA0, DEC0)
    ra, dec = wcs.wcs_pix2world(*rng.uniform(20, n_pix - 20, (2, n_src)), 0)
    flux = rng.uniform(0.1, 0.4, n_src)
    scale = np.array([1.0, 1.04, 0.97, 1.02])
    settings = load_settings(data_root=tmp_path / "data", catalog_db=tmp_path / "cat.sqlite3")
    rows = np.zeros(n_src, CATALOG_DTYPE)
    for k in range(n_src):
        rows[k] = (f"P{k}", ra[k], dec[k], 1, 1, flux[k] * 1e3, 3.0, np.nan, np.nan, np.nan)
    with CatalogStore(settings.catalog_db) as store:
        store.import_rows("TEST", rows)
    upgrade(db_url)
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    ids = []
    for e, s in enumerate(scale):
        path = tmp_path / f"pg{e}-image-pb.fits"
        image = correlated_noise((n_pix, n_pix), wcs, BEAM, RMS, rng, scale=1 / np.sqrt(2))
        add_sources(image, wcs, BEAM, ra, dec, flux * s)
        write_fits(path, image, wcs, BEAM)
        with session_scope(factory) as session:
            row = _register(session, path, e, 61300.0 + e)
            assert measure_image(session, row, settings)["normalised"]
            ids.append(row.id)
    with session_scope(factory) as session:
        again = measure_image(session, session.get(Image, ids[0]), settings)
        stored = {n.image_id: n.factor for n in session.scalars(sa.select(EpochNormalisation))}
        n_metrics = session.scalar(
            sa.select(sa.func.count()).where(VariabilityMetrics.n_epochs == len(scale))
        )
    engine.dispose()
    assert again["skipped"]
    final = np.array([stored[i] for i in ids])
    assert final == pytest.approx(scale / np.median(scale), rel=0.005)
    assert n_metrics == n_src

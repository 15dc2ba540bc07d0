"""Blended and edge measurements are stored but stay out of the variability metrics."""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa
from photometry_sims import add_sources, correlated_noise, make_wcs, write_fits
from test_stage import BEAM, CELL, DEC0, RA0, RMS, _register, small_field_db

from dsa110_contimg.photometry.flags import METRICS_VETO, PhotFlag
from dsa110_contimg.photometry.stage import measure_image
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products import session_scope
from dsa110_contimg.products.models import Image, Photometry, VariabilityMetrics
from dsa110_contimg.variability.stage import recompute_metrics

N_PIX, N_EPOCHS = 160, 3


def test_flagged_measurements_do_not_enter_metrics(tmp_path) -> None:
    rng = np.random.default_rng(4)
    wcs = make_wcs(N_PIX, CELL, RA0, DEC0)
    bmaj_pix = BEAM.bmaj_deg * 3600 / CELL
    # two isolated sources, a pair one beam apart (BLENDED), one 2 px from the edge (NEAR_EDGE)
    x = np.array([40.0, 120.0, 80.0, 80.0 + bmaj_pix, 2.0])
    y = np.array([40.0, 110.0, 70.0, 70.0, 90.0])
    ra, dec = wcs.wcs_pix2world(x, y, 0)
    flux = np.array([0.1, 0.08, 0.05, 0.05, 0.06])
    settings, engine, factory = small_field_db(tmp_path, ra, dec, flux)
    for e in range(N_EPOCHS):
        path = tmp_path / f"e{e}-image-pb.fits"
        image = correlated_noise((N_PIX, N_PIX), wcs, BEAM, RMS, rng, scale=1 / np.sqrt(2))
        add_sources(image, wcs, BEAM, ra, dec, flux)
        write_fits(path, image, wcs, BEAM)
        with session_scope(factory) as session:
            row = _register(session, path, e, 61400.0 + e)
        with session_scope(factory) as session:
            measure_image(session, session.get(Image, row.id), settings)
    with session_scope(factory) as session:
        rows = session.execute(sa.select(Photometry.source_id, Photometry.flags)).all()
        flags = {}
        for sid, f in rows:
            flags.setdefault(sid, []).append(f)
        n_epochs = {m.source_id: m.n_epochs for m in session.scalars(sa.select(VariabilityMetrics))}
        ids = sorted(flags)
        sid, *_ = repo.normalised_points(session, ids)
        assert recompute_metrics(session, ids) == sid.size
        rebuilt = {m.source_id: m.n_epochs for m in session.scalars(sa.select(VariabilityMetrics))}
    engine.dispose()
    vetoed = {s for s, fs in flags.items() if all(f & METRICS_VETO for f in fs)}
    clean = {s for s, fs in flags.items() if not any(f & METRICS_VETO for f in fs)}
    kinds = {s: PhotFlag(fs[0]) for s, fs in flags.items()}
    print(f"flags per source {kinds}; metrics epochs {n_epochs}")
    assert len(flags) == 5 and all(len(fs) == N_EPOCHS for fs in flags.values())  # all stored
    assert len(vetoed) == 3 and len(clean) == 2  # the pair and the edge source
    for s in clean:
        assert n_epochs[s] == rebuilt[s] == N_EPOCHS
    for s in vetoed:
        assert n_epochs.get(s, 0) == rebuilt.get(s, 0) == 0
    assert set(sid.tolist()) == clean

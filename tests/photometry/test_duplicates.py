"""A source listed by two catalogs is measured once, at its full flux."""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa
from photometry_sims import add_sources, correlated_noise, make_wcs, write_fits
from test_stage import BEAM, CELL, DEC0, RA0, RMS, _register

from dsa110_contimg.catalog.readers import CATALOG_DTYPE
from dsa110_contimg.catalog.store import CatalogStore
from dsa110_contimg.config import load_settings
from dsa110_contimg.photometry.stage import measure_image
from dsa110_contimg.products import make_engine, make_session_factory, session_scope, upgrade
from dsa110_contimg.products.models import Image, Photometry, Source

N_PIX = 160


def test_cross_catalog_duplicate_measured_once(tmp_path) -> None:
    rng = np.random.default_rng(9)
    wcs = make_wcs(N_PIX, CELL, RA0, DEC0)
    ra, dec = wcs.wcs_pix2world([60.0, 110.0], [70.0, 100.0], 0)
    flux = np.array([0.1, 0.05])
    settings = load_settings(data_root=tmp_path / "data", catalog_db=tmp_path / "cat.sqlite3")
    arcsec = 1 / 3600
    with CatalogStore(settings.catalog_db) as store:
        for label, offset in (("NVSS", 0.0), ("FIRST", 3 * arcsec)):  # 3" apart, as surveys are
            rows = np.zeros(2, CATALOG_DTYPE)
            for k in range(2):
                rows[k] = (f"J{k}", ra[k] + offset, dec[k], 1, 1, flux[k] * 1e3, 3.0, *[np.nan] * 3)
            store.import_rows(label, rows)
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    factory = make_session_factory(engine)
    path = tmp_path / "e0-image-pb.fits"
    image = correlated_noise((N_PIX, N_PIX), wcs, BEAM, RMS, rng, scale=1 / np.sqrt(2))
    add_sources(image, wcs, BEAM, ra, dec, flux)
    write_fits(path, image, wcs, BEAM)
    with session_scope(factory) as session:
        row = _register(session, path, 0, 61400.0)
    with session_scope(factory) as session:
        summary = measure_image(session, session.get(Image, row.id), settings)
    with session_scope(factory) as session:
        measured = session.execute(
            sa.select(Source.catalog, Source.name, Photometry.flux_jy, Photometry.flags).join(
                Photometry, Photometry.source_id == Source.id
            )
        ).all()
    engine.dispose()
    print(f"summary {summary['n_measured']} measured: {measured}")
    assert summary["n_measured"] == 2
    assert sorted(c for c, *_ in measured) == ["NVSS", "NVSS"]
    got = {name: (f, flags) for _, name, f, flags in measured}
    for k in range(2):
        f, flags = got[f"NVSS J{k}"]
        assert flags == 0
        assert abs(f - flux[k]) < 4 * 1.5 * RMS

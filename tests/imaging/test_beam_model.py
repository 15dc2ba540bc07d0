"""An image pb-corrected with a registered beam model: its beam, its headers, its row (issue 16)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

from dsa110_contimg.imaging import image_ms, register_imaging
from dsa110_contimg.products import make_engine, make_session_factory, session_scope, upgrade
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.qa.beam_profile import PrimaryBeamModel

from .conftest import needs_wsclean, scaled_tier

pytestmark = needs_wsclean


def test_image_corrected_with_a_registered_model(field, tmp_path: Path, sqlite_url: str) -> None:
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        ms_id = repo.register_ms(
            session, path=str(field["ms"]), mjd_start=1.0, mjd_mid=1.5, mjd_end=2.0
        ).id
        row = repo.register_beam_model(
            session, kind="airy", fwhm_scale=1.1, profile={}, valid_from_mjd=0.0
        )
        model = PrimaryBeamModel.from_record(row)
    tier = scaled_tier(field["ms"], "quicklook", size=256)
    airy = image_ms(field["ms"], tmp_path / "airy", tier=tier, data_column="DATA")
    wide = image_ms(field["ms"], tmp_path / "wide", tier=tier, data_column="DATA", beam_model=model)
    assert airy.beam_model_id is None and wide.beam_model_id == model.model_id

    header = fits.getheader(wide.products["image-pb"])
    assert header["PBMODID"] == model.model_id and "airy x1.1000 v1" in header["PBMODEL"]
    assert "PBMODID" not in fits.getheader(airy.products["image-pb"])
    b_airy = np.squeeze(fits.getdata(airy.products["beam"]))
    b_wide = np.squeeze(fits.getdata(wide.products["beam"]))
    centre = tuple(s // 2 for s in b_airy.shape)
    assert abs(b_wide[centre] - b_airy[centre]) < 0.02  # both ~1 at the pointing
    # wider everywhere off the centre: near it 1 - B ~ theta**2 / width**2, so the loss
    # from the peak shrinks by 1 / 1.1**2 (the small tile reaches the Airy's ~0.9 level)
    assert np.all(b_wide >= b_airy - 1e-6)
    off = b_airy < 0.97
    assert off.sum() > 1000
    shrink = np.median((1 - b_wide[off]) / (1 - b_airy[off]))
    assert abs(shrink - 1 / 1.1**2) < 0.03

    with session_scope(factory) as session:
        rows = {r.image_type: r for r in register_imaging(session, wide, ms_id)}
        assert rows["image-pb"].beam_model_id == model.model_id
        assert rows["beam"].beam_model_id == model.model_id
        assert rows["image"].beam_model_id is None  # not corrected
        assert repo.images_corrected_with(session, model.model_id) == sorted(
            [rows["image-pb"].id, rows["beam"].id]
        )
    engine.dispose()

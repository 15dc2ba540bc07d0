"""Registration in the products DB and deliberate versioning on re-imaging."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from dsa110_contimg.errors import ProductExistsError
from dsa110_contimg.imaging import image_ms, next_image_version, register_imaging
from dsa110_contimg.products import make_engine, make_session_factory, session_scope, upgrade
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import Image, MeasurementSet, MSStage, ProductStatus

from .conftest import needs_wsclean, scaled_tier

pytestmark = needs_wsclean


def test_reimaging_versions_and_supersedes(field, tmp_path: Path, sqlite_url: str) -> None:
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        ms_id = repo.register_ms(
            session, path=str(field["ms"]), mjd_start=1.0, mjd_mid=1.5, mjd_end=2.0
        ).id
    tier = scaled_tier(field["ms"], "quicklook", size=512)
    out = tmp_path / "images"
    first = image_ms(field["ms"], out, tier=tier, data_column="DATA")
    with session_scope(factory) as session:
        rows = register_imaging(session, first, ms_id)
        assert {r.image_type for r in rows} >= {"image", "image-pb", "beam", "residual", "psf"}
    second = image_ms(field["ms"], out, tier=tier, data_column="DATA")
    assert first.version == 1 and second.version == 2
    assert Path(second.products["image-pb"]).name == "target.v2-image-pb.fits"
    assert Path(first.products["image-pb"]).is_file()  # never overwritten
    with session_scope(factory) as session:
        assert next_image_version(session, ms_id) == 2
        register_imaging(session, second, ms_id)
    with session_scope(factory) as session:
        images = session.scalars(sa.select(Image).where(Image.image_type == "image-pb")).all()
        by_version = {i.version: i for i in images}
        assert set(by_version) == {1, 2}
        assert by_version[1].status == ProductStatus.SUPERSEDED
        assert by_version[2].status == ProductStatus.OK and by_version[2].pbcor
        science = by_version[2]
        assert science.qa_grade is not None and science.noise_jy > 0
        assert science.preview_path == second.preview_path
        json.dumps(science.qa_metrics)
        assert session.get(MeasurementSet, ms_id).stage == MSStage.IMAGED
        # registering the same products twice is refused, not duplicated
        n_images = session.scalar(sa.select(sa.func.count()).select_from(Image))
    with pytest.raises(ProductExistsError, match=r"^already registered: \[") as refused:
        with session_scope(factory) as session:
            register_imaging(session, second, ms_id)
    assert refused.value.hint == "re-image instead"
    assert all(repr(path) in refused.value.message for path in second.products.values())
    with session_scope(factory) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Image)) == n_images
    engine.dispose()


def test_missing_column_is_a_clear_error(field, tmp_path: Path) -> None:
    from dsa110_contimg.errors import InputDataError

    with pytest.raises(InputDataError, match="CORRECTED_DATA"):
        image_ms(field["ms"], tmp_path, tier="quicklook", data_column="CORRECTED_DATA")

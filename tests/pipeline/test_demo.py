"""`dsa110 demo --no-serve`: the whole chain on simulated data, products that agree."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from astropy.io import fits
from astropy.wcs import WCS
from click.testing import CliRunner

from dsa110_contimg.cli import main
from dsa110_contimg.config import load_settings
from dsa110_contimg.products import make_engine, make_session_factory, session_scope
from dsa110_contimg.products.models import (
    CalApplication,
    Candidate,
    GroupState,
    Image,
    Job,
    JobStatus,
    MeasurementSet,
    ObservationGroup,
    Photometry,
    Source,
)


def test_demo_runs_the_whole_chain(tmp_path, monkeypatch) -> None:
    root = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--root", str(root), "--no-serve"])
    assert result.exit_code == 0, result.output
    truth = json.loads((root / "truth.json").read_text())
    settings = load_settings(data_root=root)
    engine = make_engine(settings.db_url)
    with session_scope(make_session_factory(engine)) as s:
        groups = s.scalars(sa.select(ObservationGroup)).all()
        assert len(groups) == len(truth["groups"]) and all(
            g.state is GroupState.DONE for g in groups
        )
        n = len(groups)
        assert s.scalar(sa.select(sa.func.count()).select_from(MeasurementSet)) == n
        assert s.scalar(sa.select(sa.func.count(sa.distinct(CalApplication.ms_id)))) == n
        assert (
            s.scalar(
                sa.select(sa.func.count()).select_from(Image).where(Image.image_type == "image-pb")
            )
            == n
        )
        # every registered source is measured on every image whose unblanked
        # pixels hold it: epochs are not sidereally locked, so a strip edge
        # falls on different sources each day
        sources = s.execute(sa.select(Source.ra_deg, Source.dec_deg)).all()
        ra, dec = np.array([r[0] for r in sources]), np.array([r[1] for r in sources])
        paths = s.scalars(sa.select(Image.path).where(Image.image_type == "image-pb")).all()
        expected = sum(int(_covered(Path(p), ra, dec).sum()) for p in paths)
        assert expected >= n * len(sources) // 2  # the strip holds most sources most days
        assert s.scalar(sa.select(sa.func.count()).select_from(Photometry)) == expected
        assert not s.scalars(sa.select(Job).where(Job.status != JobStatus.SUCCEEDED)).all()
        # the injected flare is among the candidates
        flare = truth["sources"]["name"][truth["sources"]["kind"].index("flare")]
        names = s.scalars(
            sa.select(Source.name).join(Candidate, Candidate.source_id == Source.id)
        ).all()
        assert any(flare in name for name in names), names
    engine.dispose()


def _covered(path: Path, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """True for positions on a finite pixel of the FITS image at ``path``."""
    with fits.open(path) as hdul:
        data = np.asarray(hdul[0].data).squeeze()
        wcs = WCS(hdul[0].header).celestial
    x, y = wcs.world_to_pixel_values(ra, dec)
    xi, yi = np.rint(x).astype(int), np.rint(y).astype(int)
    ny, nx = data.shape
    inside = (xi >= 0) & (xi < nx) & (yi >= 0) & (yi < ny)
    ok = np.zeros(ra.size, bool)
    ok[inside] = np.isfinite(data[yi[inside], xi[inside]])
    return ok

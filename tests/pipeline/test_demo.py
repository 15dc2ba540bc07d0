"""`dsa110 demo --no-serve`: the whole chain on simulated data, products that agree."""

from __future__ import annotations

import json

import sqlalchemy as sa
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
        n_src = s.scalar(sa.select(sa.func.count()).select_from(Source))
        assert s.scalar(sa.select(sa.func.count()).select_from(Photometry)) == n * n_src
        assert not s.scalars(sa.select(Job).where(Job.status != JobStatus.SUCCEEDED)).all()
        # the injected flare is among the candidates
        flare = truth["sources"]["name"][truth["sources"]["kind"].index("flare")]
        names = s.scalars(
            sa.select(Source.name).join(Candidate, Candidate.source_id == Source.id)
        ).all()
        assert any(flare in name for name in names), names
    engine.dispose()

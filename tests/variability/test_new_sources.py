"""New-source candidates: a blind detection with its earlier upper limits, stored and refreshed."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import numpy as np
import pytest
import sqlalchemy as sa

from dsa110_contimg.photometry.flags import PhotFlag
from dsa110_contimg.photometry.forced import ForcedPhotometry
from dsa110_contimg.photometry.records import BackfillRows, FieldSources, ImageRecord
from dsa110_contimg.products import make_engine, make_session_factory, session_scope, upgrade
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import Candidate, Event
from dsa110_contimg.variability.new_sources import (
    NewSourceOptions,
    new_source_candidate,
    register_new_source_candidates,
)


def test_turn_on_after_limits() -> None:
    """Three earlier limits (5 x 1 mJy, the deepest), then a 60 mJy detection."""
    score, details = new_source_candidate(
        {"mjd": 61010.0, "flux_jy": 0.060, "flux_err_jy": 0.002},
        [61003.0, 61001.0, 61002.0],  # any order
        [0.0012, -0.0005, 0.003],
        [0.001, 0.0012, 0.0015],
        [13, 11, 12],
    )
    assert score == pytest.approx(30 / 5)
    assert details["n_earlier"] == 3 and details["n_earlier_limits"] == 3
    assert not details["seen_before"]
    assert details["deepest_limit_jy"] == pytest.approx(0.005)
    assert details["rise"] == pytest.approx(12.0)
    assert details["last_limit_mjd"] == 61003.0
    assert [e["image_id"] for e in details["earlier"]] == [11, 12, 13]  # time order
    assert details["earlier"][0]["upper_limit_jy"] == pytest.approx(0.006)
    json.dumps(details, allow_nan=False)


def test_seen_before_and_no_history() -> None:
    """An earlier 8-sigma measurement: the catalogs missed it, it did not turn on."""
    _, details = new_source_candidate(
        {"mjd": 61010.0, "flux_jy": 0.02, "flux_err_jy": 0.002},
        [61001.0, 61002.0],
        [0.016, 0.002],
        [0.002, 0.002],
    )
    assert details["seen_before"] and details["n_earlier_detections"] == 1
    assert details["deepest_limit_jy"] == pytest.approx(0.010) and details["rise"] == 2.0
    _, alone = new_source_candidate(
        {"mjd": 61010.0, "flux_jy": 0.02, "flux_err_jy": None}, [], [], []
    )
    assert alone["n_earlier"] == 0 and alone["rise"] is None and alone["detection_snr"] is None
    json.dumps(alone, allow_nan=False)
    # fewer listed than measured: the counts still cover all
    _, short = new_source_candidate(
        {"mjd": 61010.0, "flux_jy": 0.02, "flux_err_jy": 0.002},
        np.arange(30.0),
        np.zeros(30),
        np.full(30, 0.001),
        options=NewSourceOptions(max_listed=5),
    )
    assert len(short["earlier"]) == 5 and short["n_earlier_limits"] == 30


@pytest.fixture
def factory(db_url):
    upgrade(db_url)
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()


def _image(session, day: int) -> ImageRecord:
    start = dt.datetime(2026, 5, 1, tzinfo=dt.UTC) + dt.timedelta(days=day)
    gid, mjd = start.strftime("%Y-%m-%dT%H:%M:%S"), 61160.0 + day
    repo.register_group(session, group_id=gid, start_time=start, start_mjd=mjd)
    ms = repo.register_ms(
        session, path=f"/x/{gid}.ms", mjd_start=mjd, mjd_mid=mjd, mjd_end=mjd, group_id=gid
    )
    row = repo.register_image(
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
    return ImageRecord.of(row)


def _forced(flux: list[float], err: list[float]) -> ForcedPhotometry:
    f, s = np.array(flux), np.array(err)
    n = f.size
    limit = np.where(f / s < 5, int(PhotFlag.UPPER_LIMIT), 0)
    zeros = np.zeros(n)
    return ForcedPhotometry(f, s, f / s, zeros, np.full(n, 50), s, zeros, zeros, limit)


def test_registered_with_limits_in_the_db(factory) -> None:
    """Two blind sources of one image: one turned on, one seen before; a second pass refreshes."""
    with session_scope(factory) as session:
        earlier = [_image(session, d) for d in range(3)]
        image = _image(session, 5)
        new_blind = []
        for k, flux in enumerate((0.08, 0.03)):
            fields = {
                "name": f"DSA J0040+200{k}",
                "ra_deg": 10.0,
                "dec_deg": 20.0 + k * 0.01,
                "catalog": "blind",
                "catalog_flux_jy": flux,
                "catalog_flux_err_jy": 0.002,
            }
            fields["id"] = repo.register_source(session, **fields).id
            new_blind.append(fields)
        sources = FieldSources.from_records(new_blind)
        backfill = [  # source 0: limits in all three; source 1: 12 sigma in the last one
            BackfillRows(
                img,
                np.array([0, 1]),
                _forced([0.001, 0.0 if d < 2 else 0.024], [0.001, 0.002]),
                np.zeros(2),
                np.zeros(2),
                np.array([0, 1]),
            )
            for d, img in enumerate(earlier)
        ]
        m = SimpleNamespace(new_blind=new_blind, sources=sources, image=image, backfill=backfill)
        ids = register_new_source_candidates(session, m)
        again = register_new_source_candidates(session, m)  # the same rows, refreshed
    assert ids == again and len(ids) == 2
    with session_scope(factory) as session:
        rows = session.scalars(sa.select(Candidate).order_by(Candidate.id)).all()
        events = session.scalars(
            sa.select(Event.kind).where(Event.topic == "candidate").order_by(Event.id)
        ).all()
        assert [str(r.kind) for r in rows] == ["new_source", "new_source"]
        turned_on, seen = (r.details for r in rows)
        assert turned_on["n_earlier_limits"] == 3 and not turned_on["seen_before"]
        assert turned_on["deepest_limit_jy"] == pytest.approx(0.005)
        assert turned_on["rise"] == pytest.approx(16.0)
        assert turned_on["detection_image_id"] == image.id
        assert [e["image_id"] for e in turned_on["earlier"]] == [i.id for i in earlier]
        assert seen["seen_before"] and seen["n_earlier_detections"] == 1
        assert rows[0].score == pytest.approx(40 / 5)
    assert list(events) == ["new", "new", "updated", "updated"]

"""The one rule for calibration tables: which apply to an MS, which are superseded or expired.

The pure rule (:mod:`dsa110_contimg.calibration.select`) at its boundaries,
then the products layer around it: the SQL pre-filter loads only candidates,
registering a table supersedes the ones it covers, old tables expire, and an
MS without tables waits for calibration as a state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg.calibration.errors import DeclinationMismatchError
from dsa110_contimg.calibration.select import (
    EXPIRY_GRACE_DAYS,
    MAX_DEC_OFFSET_DEG,
    TableCandidate,
    select_tables,
    supersedes,
    why_unusable,
)
from dsa110_contimg.products import make_engine, make_session_factory, session_scope, upgrade
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import (
    CalTable,
    CalTableStatus,
    GroupState,
    MeasurementSet,
    MSStage,
)
from dsa110_contimg.telescope import beam_fwhm_deg
from dsa110_contimg.telescope.constants import BAND_LOW_HZ

T = 61000.5  # MS mid time, MJD


def _cand(path, kind="bandpass", start=T - 0.5, end=T + 0.5, dec=30.0, status="valid"):
    return TableCandidate(path, kind, start, end, dec, status)


# --------------------------------------------------------------------------
# The pure rule
# --------------------------------------------------------------------------
def test_tolerance_is_half_the_primary_beam_at_the_band_bottom() -> None:
    half_beam = 0.5 * float(beam_fwhm_deg(BAND_LOW_HZ))
    assert half_beam <= MAX_DEC_OFFSET_DEG < half_beam + 0.1  # 1.45 deg, rounded up
    assert MAX_DEC_OFFSET_DEG == 1.5


@pytest.mark.parametrize(
    ("table_dec", "ms_dec", "usable"),
    [
        (31.5, 30.0, True),  # exactly at the limit
        (28.5, 30.0, True),
        (56.1, 54.6, True),  # at the limit, not representable exactly in binary
        (31.51, 30.0, False),  # just beyond
        (33.0, 30.0, False),  # the neighbouring strip one beam away
    ],
)
def test_declination_limit(table_dec: float, ms_dec: float, usable: bool) -> None:
    why = why_unusable(_cand("t.b", dec=table_dec), T, ms_dec)
    assert (why is None) is usable, why
    if not usable:
        assert "another strip" in why and "limit 1.5 deg" in why


def test_unknown_declination_is_refused() -> None:
    assert "declination unknown" in why_unusable(_cand("null.b", dec=None), T, 30.0)
    assert "MS's declination is unknown" in why_unusable(_cand("t.b"), T, None)
    sel = select_tables([_cand("null.b", dec=None), _cand("null.g", "gain", dec=None)], T, 30.0)
    assert not sel.ok and sel.tables == {} and sel.usable == []
    assert "no valid bandpass table" in sel.reason and "2 candidates rejected" in sel.reason
    sel = select_tables([_cand("t.b"), _cand("t.g", "gain")], T, None)
    assert not sel.ok and "at unknown Dec" in sel.reason


def test_validity_window_ends_are_included() -> None:
    assert why_unusable(_cand("t.b", start=T, end=T + 1), T, 30.0) is None
    assert why_unusable(_cand("t.b", start=T - 1, end=T), T, 30.0) is None
    assert "not valid at MJD" in why_unusable(_cand("t.b", start=T - 1, end=T - 1e-6), T, 30.0)


@pytest.mark.parametrize("status", ["expired", "superseded", "rejected"])
def test_marked_tables_are_never_chosen(status: str) -> None:
    cands = [_cand("marked.b", status=status), _cand("t.g", "gain")]
    sel = select_tables(cands, T, 30.0)
    assert not sel.ok and sel.skipped == [f"marked.b: status {status}"]
    assert [c.path for c in sel.usable] == ["t.g"]


def test_two_strips_each_get_their_own_tables() -> None:
    cands = [
        _cand("s30.b", dec=30.0),
        _cand("s30.g", "gain", T - 0.02, T + 0.02, 30.1),
        _cand("s33.b", dec=33.0),
        _cand("s33.g", "gain", T - 0.02, T + 0.02, 32.9),
    ]
    assert select_tables(cands, T, 30.0).paths == ["s30.b", "s30.g"]
    assert select_tables(cands, T, 33.0).paths == ["s33.b", "s33.g"]
    # a strip between them, 1.5 deg from each: both are accepted, the nearest window wins
    assert len(select_tables(cands, T, 31.5).usable) == 4
    with pytest.raises(DeclinationMismatchError, match="limit 1.5 deg"):
        select_tables(cands, T, 36.0)  # only other strips' tables handed over directly


def test_supersedes() -> None:
    old = _cand("old.b", start=T - 0.5, end=T + 0.5)
    assert supersedes(_cand("new.b", start=T - 0.5, end=T + 0.5, dec=30.2), old)
    assert supersedes(_cand("new.b", start=T - 0.6, end=T + 0.7), old)
    assert not supersedes(_cand("new.b", start=T - 0.4, end=T + 0.6), old)  # partial overlap
    assert not supersedes(_cand("new.g", "gain", start=T - 1, end=T + 1), old)
    assert not supersedes(_cand("new.b", start=T - 1, end=T + 1, dec=32.0), old)
    assert not supersedes(_cand("new.b", start=T - 1, end=T + 1, dec=None), old)
    assert not supersedes(_cand("new.b", start=T - 1, end=T + 1), _cand("o.b", dec=None))


# --------------------------------------------------------------------------
# The products layer around the rule
# --------------------------------------------------------------------------
@pytest.fixture
def factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(db_url)
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()


def _table(s: Session, path: str, kind="bandpass", start=T - 0.5, end=T + 0.5, dec=30.0, **kw):
    return repo.register_cal_table(
        s,
        path=path,
        table_type=kind,
        set_name=path.split(".")[0],
        valid_start_mjd=start,
        valid_end_mjd=end,
        dec_deg=dec,
        **kw,
    )


def _group_and_ms(
    s: Session, group_id: str, mjd: float, dec: float | None = 30.0
) -> MeasurementSet:
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=mjd - 60676.0)
    repo.register_group(s, group_id=group_id, start_time=start, start_mjd=mjd, dec_deg=dec)
    return repo.register_ms(
        s,
        path=f"/data/ms/{group_id}.ms",
        group_id=group_id,
        mjd_start=mjd,
        mjd_mid=mjd + 0.0018,
        mjd_end=mjd + 0.0036,
        pointing_dec_deg=dec,
    )


def test_prefilter_loads_only_candidates(factory) -> None:
    with session_scope(factory) as s:
        for k in range(300):  # a year of old bandpass and gain tables of this strip
            day = T - 1 - k
            _table(s, f"old{k}.b", start=day - 0.5, end=day + 0.5)
            _table(s, f"old{k}.g", "gain", start=day - 0.02, end=day + 0.02)
        for k in range(20):  # other strips (2 deg apart: none supersedes another), valid now
            _table(s, f"far{k}.b", dec=35.0 + 2 * k)
        _table(s, "null.b", dec=None)
        _table(s, "now.b", start=T - 0.4, end=T + 0.6, dec=31.5)
        _table(s, "now.g", "gain", start=T - 0.02, end=T + 0.02, dec=29.0)
    loaded = []
    with session_scope(factory) as s:
        sa.event.listen(s, "loaded_as_persistent", lambda _, obj: loaded.append(obj))
        candidates = repo.cal_table_candidates(s, T, 30.0)
        assert sorted(t.path for t in candidates) == ["now.b", "now.g"]
        assert len(loaded) == 2  # not the 623 registered
        assert select_tables(candidates, T, 30.0).paths == ["now.b", "now.g"]
        assert repo.cal_table_candidates(s, T, None) == []
        other = repo.nearest_other_strip_table(s, T, 30.0)
        assert other.path == "far0.b"
        assert s.scalar(sa.select(sa.func.count()).select_from(CalTable)) == 623


def test_calibrator_matches_follow_the_rule(factory) -> None:
    with session_scope(factory) as s:
        ms = _group_and_ms(s, "g1", T - 0.0018, dec=30.0)
        _table(s, "edge.b", dec=31.5)
        _table(s, "beyond.b", start=T - 0.6, end=T + 0.4, dec=31.6)
        _table(s, "null.g", "gain", dec=None)  # the API used to list these
        _table(s, "expired.g", "gain", dec=30.0, status="expired")
        _table(s, "ok.g", "gain", start=T - 0.02, end=T + 0.02, dec=30.0)
        assert [t.path for t in repo.calibrator_matches(s, ms)] == ["ok.g", "edge.b"]


def test_registering_a_covering_table_supersedes_the_older(factory) -> None:
    with session_scope(factory) as s:
        first = _table(s, "first.b").id
        partial = _table(s, "partial.b", start=T - 0.2, end=T + 0.8).id
        other_strip = _table(s, "strip.b", dec=33.0).id
        gain = _table(s, "gain.g", "gain", start=T - 0.02, end=T + 0.02).id
        unknown = _table(s, "unknown.b", dec=None).id
    with session_scope(factory) as s:
        newer = _table(s, "newer.b", start=T - 0.6, end=T + 0.6, dec=30.3).id
    with session_scope(factory) as s:
        status = {t.id: (t.status, t.superseded_by_id) for t in s.scalars(sa.select(CalTable))}
        assert status[first] == (CalTableStatus.SUPERSEDED, newer)
        assert status[newer] == (CalTableStatus.VALID, None)
        for kept in (partial, other_strip, gain, unknown):  # overlap, strip, type, unknown Dec
            assert status[kept] == (CalTableStatus.VALID, None)
        # marked tables stay listed with their status
        page = repo.list_cal_tables(s, status="superseded")
        assert [(t["id"], t["superseded_by_id"]) for t in page.items] == [(first, newer)]
        assert first not in {t.id for t in repo.cal_table_candidates(s, T, 30.0)}


def test_tables_long_past_their_validity_expire(factory) -> None:
    newest = T + 10.0
    with session_scope(factory) as s:
        assert repo.expire_cal_tables(s) == 0  # no groups yet: nothing to measure from
        _group_and_ms(s, "g-new", newest)
        _group_and_ms(s, "g-old", T)
        stale = _table(s, "stale.b", start=T, end=newest - EXPIRY_GRACE_DAYS - 0.01).id
        recent = _table(s, "recent.g", "gain", start=T, end=newest - EXPIRY_GRACE_DAYS + 0.01).id
        rejected = _table(s, "rej.b", start=T - 5, end=T - 4, status="rejected").id
    with session_scope(factory) as s:
        assert repo.expire_cal_tables(s) == 0  # g-old (registered, not yet run) may need them
        repo.get_group(s, "g-old").state = GroupState.DONE
        repo.get_group(s, "g-new").state = GroupState.DONE
    with session_scope(factory) as s:
        assert repo.expire_cal_tables(s) == 1
    with session_scope(factory) as s:
        status = {t.id: t.status for t in s.scalars(sa.select(CalTable))}
        assert status == {
            stale: CalTableStatus.EXPIRED,
            recent: CalTableStatus.VALID,
            rejected: CalTableStatus.REJECTED,
        }
        assert repo.expire_cal_tables(s) == 0  # idempotent
        assert s.scalar(sa.select(sa.func.count()).select_from(CalTable)) == 3  # none deleted


def test_a_waiting_group_keeps_the_tables_it_may_use(factory) -> None:
    with session_scope(factory) as s:
        waiting = _group_and_ms(s, "g-wait", T)
        _group_and_ms(s, "g-new", T + 10.0)
        for group_id in ("g-wait", "g-new"):
            repo.get_group(s, group_id).state = GroupState.FAILED
        repo.mark_waiting_for_calibration(s, waiting.id, "no valid gain table")
        _table(s, "day1.b", start=T - 0.5, end=T + 0.5)
    with session_scope(factory) as s:
        assert repo.expire_cal_tables(s) == 0
        repo.record_calibration(s, ms_path=waiting.path, cal_paths=["day1.b"])
    with session_scope(factory) as s:
        assert repo.expire_cal_tables(s) == 1


def test_waiting_for_calibration_is_a_state(factory) -> None:
    with session_scope(factory) as s:
        ms = _group_and_ms(s, "g1", T)
        running = _group_and_ms(s, "g2", T + 0.01)
        repo.mark_waiting_for_calibration(s, ms.id, "no valid bandpass table")
        repo.mark_waiting_for_calibration(s, running.id, "no valid bandpass table")
        repo.get_group(s, "g1").state = GroupState.FAILED
        repo.get_group(s, "g2").state = GroupState.PROCESSING  # not finished: not requeued
    with session_scope(factory) as s:
        waiting = repo.waiting_for_calibration(s)
        assert [(g.id, m.stage) for g, m in waiting] == [("g1", MSStage.WAITING_CAL)]
        assert waiting[0][1].note == f"{repo.WAITING_NOTE}: no valid bandpass table"
        assert repo.list_ms(s, stage="waiting_cal").total == 2
        repo.requeue_group(s, waiting[0][0], "tables arrived")
    with session_scope(factory) as s:
        assert repo.get_group(s, "g1").state is GroupState.QUEUED
        assert repo.waiting_for_calibration(s) == []
        _table(s, "t.b")
        row = repo.record_calibration(s, ms_path=ms.path, cal_paths=["t.b"])
        assert row.stage is MSStage.CALIBRATED and row.cal_applied and row.note is None

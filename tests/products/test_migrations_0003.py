"""Revision 0003: the note prefix "left uncalibrated" becomes the MS stage ``waiting_cal`` and back."""

from __future__ import annotations

import sqlalchemy as sa

from dsa110_contimg.products import downgrade, upgrade
from dsa110_contimg.products.db import make_engine

STAMP = "2026-01-01 00:00:00+00:00"


def _rows(engine: sa.Engine) -> list[tuple[str, str, str | None]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(sa.text("SELECT path, stage, note FROM ms_index ORDER BY path"))
        ]


def _stage_accepted(engine: sa.Engine, stage: str) -> bool:
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE ms_index SET stage = :s WHERE path = '/m1'"), {"s": stage})
    except sa.exc.IntegrityError:
        return False
    return True


def test_waiting_note_becomes_a_stage_and_back(db_url: str) -> None:
    upgrade(db_url, "0002")
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO observation_groups (id, start_time, start_mjd, files_present, "
                "files_expected, state, created_at, updated_at) "
                "VALUES ('g1', :t, 1.0, 16, 16, 'failed', :t, :t)"
            ),
            {"t": STAMP},
        )
        for path, note, applied in (
            ("/m0", "left uncalibrated: no valid bandpass table", False),
            ("/m1", "flagging took long", False),
            ("/m2", "left uncalibrated: then calibrated by hand", True),
        ):
            conn.execute(
                sa.text(
                    "INSERT INTO ms_index (path, group_id, mjd_start, mjd_mid, mjd_end, stage, "
                    "status, cal_applied, note, created_at, updated_at) "
                    "VALUES (:p, 'g1', 1, 1, 1, 'flagged', 'ok', :a, :n, :t, :t)"
                ),
                {"p": path, "a": applied, "n": note, "t": STAMP},
            )
    try:
        assert not _stage_accepted(engine, "waiting_cal")
        upgrade(db_url, "0003")
        assert _rows(engine) == [
            ("/m0", "waiting_cal", "left uncalibrated: no valid bandpass table"),
            ("/m1", "flagged", "flagging took long"),
            ("/m2", "flagged", "left uncalibrated: then calibrated by hand"),
        ]
        assert not _stage_accepted(engine, "bogus")
        with engine.begin() as conn:  # a waiting MS whose note lost the prefix
            conn.execute(sa.text("UPDATE ms_index SET note = NULL WHERE path = '/m0'"))
        downgrade(db_url, "0002")
        assert _rows(engine) == [
            ("/m0", "flagged", "left uncalibrated: waiting for calibration"),
            ("/m1", "flagged", "flagging took long"),
            ("/m2", "flagged", "left uncalibrated: then calibrated by hand"),
        ]
        assert not _stage_accepted(engine, "waiting_cal")
        with engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("cal_tables")}
        assert "superseded_by_id" not in columns
    finally:
        engine.dispose()

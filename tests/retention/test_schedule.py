"""The daemon's storage keeper applies the retention policy on its schedule (a test clock)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from retention_support import build_world

from dsa110_contimg.products import session_scope
from dsa110_contimg.products.models import Event, utcnow
from dsa110_contimg.retention import StorageGuard


def _add_old_events(factory, n: int) -> None:
    """Add ``n`` notices 100 days old (candidates for the event class)."""
    ancient = utcnow() - dt.timedelta(days=100)
    with session_scope(factory) as session:
        session.add_all(Event(topic="image", kind="new", created_at=ancient) for _ in range(n))


def _count_old(factory) -> int:
    """Events older than 50 days (the world's old notices and heartbeats)."""
    with session_scope(factory) as session:
        cutoff = utcnow() - dt.timedelta(days=50)
        stmt = sa.select(sa.func.count()).select_from(Event).where(Event.created_at < cutoff)
        return session.scalar(stmt)


def test_the_daemon_applies_retention_every_interval(tmp_path) -> None:
    world = build_world(
        tmp_path / "data",
        retention_interval_s=3600,
        disk_warn_free_gb={"default": 0},  # no urgent run: only the schedule acts
        disk_stop_free_gb={"default": 0},
    )
    now = [1000.0]
    guard = StorageGuard(world.settings, world.factory, clock=lambda: now[0])

    assert guard.allows_new_groups() is True  # a daemon's first cycle applies it at once
    assert not world.paths["psf_old"].exists() and not world.paths["raw_old_0"].exists()
    assert world.paths["image-pb_old"].exists()
    assert _count_old(world.factory) == 0

    _add_old_events(world.factory, 2)  # new candidates appear
    now[0] += 3599
    guard.allows_new_groups()
    assert _count_old(world.factory) == 2, "applied before the interval"
    now[0] += 2
    guard.allows_new_groups()
    assert _count_old(world.factory) == 0, "not applied once the interval passed"


def test_interval_zero_leaves_retention_to_the_command(tmp_path) -> None:
    world = build_world(
        tmp_path / "data",
        retention_interval_s=0,
        disk_warn_free_gb={"default": 0},
        disk_stop_free_gb={"default": 0},
    )
    now = [0.0]
    guard = StorageGuard(world.settings, world.factory, clock=lambda: now[0])
    for _ in range(3):
        assert guard.allows_new_groups() is True
        now[0] += 10 * 86_400
    assert world.paths["psf_old"].exists() and _count_old(world.factory) == 7

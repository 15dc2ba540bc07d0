"""What the retention policy would remove now: per product class, files and bytes.

A plan is read from the products DB and the disk and changes nothing. Each
class has its own age (a setting, in days, or ``"keep"``) and its own rule:

``raw``
    A group's UVH5 files, once the group is done and its MS is verified (the
    MS row ``ok`` and its table complete on disk, or already purged after
    being so), ``retention_raw_days`` after the MS was registered.
``ms``
    A Measurement Set calibrated and imaged, ``retention_ms_days`` after it
    was registered.
``intermediate``
    The imaging intermediates (dirty, psf, model, residual FITS).
``log``
    A finished job's log file (the job row stays).
``caltable``
    An expired, superseded or rejected table (default: kept).
``event`` and ``heartbeat``
    Rows of the events table (no files).

Never in a plan: what a pending or running job or a group still in the
pipeline uses (:func:`~dsa110_contimg.products.repositories.in_use`), a
calibration table that is valid or whose validity covers data not yet
calibrated, the raw files of a group whose MS is not verified, and the kept
classes (pb-corrected images, beams, previews, mosaics, photometry).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from dsa110_contimg.config import Settings
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import CalTableStatus, ProductStatus, utcnow
from dsa110_contimg.products.repositories import InUse

#: Product classes with files, in the order they are listed and removed.
FILE_CLASSES = ("raw", "ms", "intermediate", "log", "caltable")
#: Classes of rows only (events table).
ROW_CLASSES = ("event", "heartbeat")
CLASSES = FILE_CLASSES + ROW_CLASSES
#: The setting holding each class's age.
SETTING = {
    "raw": "retention_raw_days",
    "ms": "retention_ms_days",
    "intermediate": "retention_intermediate_days",
    "log": "retention_log_days",
    "caltable": "retention_caltable_days",
    "event": "retention_event_days",
    "heartbeat": "retention_heartbeat_days",
}
#: Image types that are imaging intermediates (the rest are kept).
INTERMEDIATE_TYPES = ("dirty", "psf", "model", "residual")

Progress = Callable[[int], None]
Planner = Callable[[Session, "ClassPlan", dt.datetime, InUse, Progress], None]


@dataclass(frozen=True)
class Item:
    """One thing to remove: a file or folder, and the row that records it."""

    product_class: str
    path: str
    size_bytes: int
    row_id: int


@dataclass
class ClassPlan:
    """What one product class would lose, and what was held back and why."""

    product_class: str
    age_days: float | None
    items: list[Item] = field(default_factory=list)
    rows: int = 0
    protected: dict[str, int] = field(default_factory=dict)

    @property
    def files(self) -> int:
        return len(self.items)

    @property
    def size_bytes(self) -> int:
        return sum(item.size_bytes for item in self.items)

    def hold(self, reason: str) -> None:
        self.protected[reason] = self.protected.get(reason, 0) + 1


@dataclass
class Plan:
    """The retention plan at ``now``: one :class:`ClassPlan` per class."""

    now: dt.datetime
    classes: dict[str, ClassPlan]

    @property
    def size_bytes(self) -> int:
        return sum(c.size_bytes for c in self.classes.values())

    @property
    def files(self) -> int:
        return sum(c.files for c in self.classes.values())

    def as_dict(self) -> dict[str, object]:
        """Plain values, per class: age, files, bytes, rows, held back."""
        return {
            "now": self.now.isoformat(),
            "files": self.files,
            "size_bytes": self.size_bytes,
            "classes": {
                name: {
                    "age_days": c.age_days,
                    "files": c.files,
                    "size_bytes": c.size_bytes,
                    "rows": c.rows,
                    "protected": dict(c.protected),
                }
                for name, c in self.classes.items()
            },
        }


def age_days(settings: Settings, product_class: str) -> float | None:
    """A class's retention age in days, or None when it is kept."""
    value = getattr(settings, SETTING[product_class])
    return None if value == "keep" else float(value)


def disk_size(path: str | Path) -> int:
    """Bytes used by a file, or by every file under a folder; 0 if it is gone."""
    path = Path(path)
    try:
        if not path.is_dir():
            return path.stat().st_size
    except OSError:
        return 0
    total = 0
    for folder, _, names in os.walk(path):
        for name in names:
            try:
                total += (Path(folder) / name).stat().st_size
            except OSError:
                pass
    return total


def ms_verified(path: str | Path) -> bool:
    """Whether an MS folder is complete on disk (a casacore table with its main files)."""
    path = Path(path)
    return path.is_dir() and (path / "table.dat").is_file()


def make_plan(
    settings: Settings,
    session: Session,
    *,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
    classes: Iterable[str] = CLASSES,
) -> Plan:
    """What the retention policy would remove at ``now`` (default: the present); reads only.

    ``progress`` is called with the number of rows examined as the disk scan
    goes (for a progress bar); :func:`count_candidates` gives the total.
    """
    now = now or utcnow()
    wanted = set(classes)
    used = repo.in_use(session)
    tick = progress or (lambda n: None)
    plans: dict[str, ClassPlan] = {}
    for name in CLASSES:
        days = age_days(settings, name)
        plan = plans[name] = ClassPlan(name, days)
        if days is None or name not in wanted:
            continue
        before = now - dt.timedelta(days=days)
        _PLANNERS[name](session, plan, before, used, tick)
    return Plan(now, plans)


def count_candidates(
    settings: Settings, session: Session, *, now: dt.datetime | None = None
) -> int:
    """Rows a plan will examine on disk (the length of its progress bar)."""
    now = now or utcnow()
    total = 0
    for name, query in _CANDIDATES.items():
        days = age_days(settings, name)
        if days is not None:
            total += len(query(session, now - dt.timedelta(days=days)))
    return total


def _plan_raw(
    session: Session, plan: ClassPlan, before: dt.datetime, used: InUse, tick: Progress
) -> None:
    verified: dict[str, bool] = {}
    for raw_id, path, _size, group_id, ms_path, ms_status in repo.raw_files_after_verified_ms(
        session, before
    ):
        tick(1)
        if group_id in used.group_ids or path in used.paths:
            plan.hold("used by pending or running work")
            continue
        if ms_path not in verified:
            verified[ms_path] = ms_status == ProductStatus.PURGED or ms_verified(ms_path)
        if not verified[ms_path]:
            plan.hold("MS not verified on disk")
            continue
        # a file already gone (moved away by hand) is listed with 0 bytes: its row is marked
        plan.items.append(Item("raw", path, disk_size(path), raw_id))


def _plan_ms(
    session: Session, plan: ClassPlan, before: dt.datetime, used: InUse, tick: Progress
) -> None:
    for ms in repo.ms_calibrated_and_imaged(session, before):
        tick(1)
        if ms.group_id in used.group_ids or ms.path in used.ms_paths or ms.path in used.paths:
            plan.hold("used by pending or running work")
            continue
        if not ms_verified(ms.path):  # its group's raw files are then kept too
            plan.hold("MS not verified on disk")
            continue
        plan.items.append(Item("ms", ms.path, disk_size(ms.path), ms.id))


def _plan_intermediate(
    session: Session, plan: ClassPlan, before: dt.datetime, used: InUse, tick: Progress
) -> None:
    for image, ms_path, group_id in repo.images_of_types(session, INTERMEDIATE_TYPES, before):
        tick(1)
        if (
            image.id in used.image_ids
            or image.path in used.paths
            or (ms_path is not None and (ms_path in used.ms_paths or ms_path in used.paths))
            or (group_id is not None and group_id in used.group_ids)
        ):
            plan.hold("used by pending or running work")
            continue
        plan.items.append(Item("intermediate", image.path, disk_size(image.path), image.id))


def _plan_log(
    session: Session, plan: ClassPlan, before: dt.datetime, used: InUse, tick: Progress
) -> None:
    for job in repo.finished_job_logs(session, before):
        tick(1)
        if job.log_path in used.paths:
            plan.hold("used by pending or running work")
            continue
        plan.items.append(Item("log", job.log_path, disk_size(job.log_path), job.id))


def _plan_caltable(
    session: Session, plan: ClassPlan, before: dt.datetime, used: InUse, tick: Progress
) -> None:
    needed = repo.needed_cal_times(session)
    for table in repo.retired_cal_tables(session, before):
        tick(1)
        if table.status == CalTableStatus.VALID:  # never listed; kept as a guard
            plan.hold("valid")
            continue
        if any(table.valid_start_mjd <= t <= table.valid_end_mjd for t in needed):
            plan.hold("covers data not yet calibrated")
            continue
        if table.path in used.paths:
            plan.hold("used by pending or running work")
            continue
        plan.items.append(Item("caltable", table.path, disk_size(table.path), table.id))


def _plan_events(heartbeats: bool) -> Planner:
    def planner(
        session: Session, plan: ClassPlan, before: dt.datetime, used: InUse, tick: Progress
    ) -> None:
        plan.rows = repo.count_events_before(session, before, heartbeats=heartbeats)

    return planner


_PLANNERS = {
    "raw": _plan_raw,
    "ms": _plan_ms,
    "intermediate": _plan_intermediate,
    "log": _plan_log,
    "caltable": _plan_caltable,
    "event": _plan_events(False),
    "heartbeat": _plan_events(True),
}
_CANDIDATES = {
    "raw": repo.raw_files_after_verified_ms,
    "ms": repo.ms_calibrated_and_imaged,
    "intermediate": lambda s, b: repo.images_of_types(s, INTERMEDIATE_TYPES, b),
    "log": repo.finished_job_logs,
    "caltable": repo.retired_cal_tables,
}

"""Carrying out a retention plan: remove the files, mark the rows purged.

Each class goes in slices of at most :data:`SLICE` items: the files of a
slice are removed, then their rows are marked ``purged`` (with the time) in
one short transaction. A file that cannot be removed keeps its row as it was
and is reported; a crash between the removal and the mark leaves rows whose
files are gone, which the next run marks (a missing file counts 0 bytes).
The plan is made again at the moment of applying, so what a job started
using since a printed plan is protected.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg.config import Settings
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.db import session_scope
from dsa110_contimg.products.models import utcnow
from dsa110_contimg.retention.plan import CLASSES, Item, Plan, Progress, make_plan

log = logging.getLogger(__name__)

#: Most items removed and marked per transaction.
SLICE = 500
#: The row kind :func:`~dsa110_contimg.products.repositories.mark_purged` takes, per class.
ROW_KIND = {"raw": "raw", "ms": "ms", "intermediate": "image", "caltable": "caltable"}


@dataclass
class ApplyReport:
    """What was removed: per class files, bytes and rows; failures by path."""

    plan: Plan
    removed_files: dict[str, int] = field(default_factory=dict)
    removed_bytes: dict[str, int] = field(default_factory=dict)
    deleted_rows: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return sum(self.removed_bytes.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "removed_files": dict(self.removed_files),
            "removed_bytes": dict(self.removed_bytes),
            "deleted_rows": dict(self.deleted_rows),
            "failed": dict(self.failed),
        }


def apply_retention(
    settings: Settings,
    factory: sessionmaker[Session],
    *,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
    classes: Iterable[str] = CLASSES,
) -> ApplyReport:
    """Make the plan now and carry it out; return what was removed."""
    with factory() as session:
        plan = make_plan(settings, session, now=now, progress=progress, classes=classes)
    report = ApplyReport(plan)
    when = utcnow()
    for name, class_plan in plan.classes.items():
        items = class_plan.items
        for start in range(0, len(items), SLICE):
            _remove_slice(settings, factory, name, items[start : start + SLICE], when, report)
        if name in ("event", "heartbeat") and class_plan.age_days is not None:
            before = plan.now - dt.timedelta(days=class_plan.age_days)
            with session_scope(factory) as session:
                report.deleted_rows[name] = repo.delete_events_before(
                    session, before, heartbeats=name == "heartbeat"
                )
    if report.total_bytes or report.deleted_rows:
        log.info(
            "retention: removed %d files, %.3f GB; deleted %s event rows",
            sum(report.removed_files.values()),
            report.total_bytes / 1e9,
            sum(report.deleted_rows.values()),
        )
    return report


def _remove(settings: Settings, path: str) -> None:
    """Remove a file or folder tree; only under the data folders (a bad row deletes nothing)."""
    target = Path(path)
    roots = [settings.data_root, *settings.data_folders().values()]
    resolved = target.resolve()
    if not any(resolved.is_relative_to(root.resolve()) for root in roots):
        raise PermissionError(f"{path} is outside the data folders: not removed")
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)


def _remove_slice(
    settings: Settings,
    factory: sessionmaker[Session],
    name: str,
    items: list[Item],
    when: dt.datetime,
    report: ApplyReport,
) -> None:
    gone: list[Item] = []
    for item in items:
        try:
            _remove(settings, item.path)
        except OSError as exc:
            report.failed[item.path] = str(exc)
            log.warning("retention: could not remove %s: %s", item.path, exc)
            continue
        gone.append(item)
    if not gone:
        return
    with session_scope(factory) as session:
        ids = [item.row_id for item in gone]
        if name == "log":
            repo.mark_logs_purged(session, ids, when)
        else:
            repo.mark_purged(session, ROW_KIND[name], ids, when)
    report.removed_files[name] = report.removed_files.get(name, 0) + len(gone)
    report.removed_bytes[name] = report.removed_bytes.get(name, 0) + sum(
        item.size_bytes for item in gone
    )

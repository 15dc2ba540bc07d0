"""The stream daemon's storage keeper: retention on a schedule, and the disk guard.

:func:`storage_allows_new_groups` is called once per daemon cycle, before
the daemon picks groups. It applies the retention policy every
``retention_interval_s`` (at once, at most every :data:`URGENT_RETRY_S`, when
a disk is below its ``stop`` threshold); then, if any data folder is below
``stop``, it answers False: the daemon takes no new group, the files wait in
the incoming folder (nothing is quarantined or failed), and a ``disk`` event
says so once. When space returns it answers True again by itself, and
groups that failed because a write met a full disk (``ENOSPC``; the
atomic writer left no partial and nothing was registered) are queued again,
each at most once per :data:`REQUEUE_EVERY_S` and :data:`MAX_REQUEUES` times.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg.config import Settings
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.db import session_scope
from dsa110_contimg.retention.apply import apply_retention
from dsa110_contimg.retention.disk import Level, folder_space

log = logging.getLogger(__name__)

#: Below a stop threshold, retention runs again at most this often (s).
URGENT_RETRY_S = 300.0
#: A group failed for a full disk is requeued at most this often (s), and at most
#: this many times per daemon run (a write error that is not the disk's stays failed).
REQUEUE_EVERY_S = 900.0
MAX_REQUEUES = 3


class StorageGuard:
    """Per-daemon state of the storage keeper (when retention last ran, paused or not)."""

    def __init__(
        self,
        settings: Settings,
        factory: sessionmaker[Session],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings, self.factory, self.clock = settings, factory, clock
        self.last_retention = -float("inf")
        self.paused = False
        self._requeued: dict[str, tuple[float, int]] = {}

    def retention_due(self, urgent: bool) -> bool:
        interval = self.settings.retention_interval_s
        since = self.clock() - self.last_retention
        if urgent:
            return since >= min(URGENT_RETRY_S, interval or URGENT_RETRY_S)
        return interval > 0 and since >= interval

    def run_retention(self) -> None:
        self.last_retention = self.clock()
        try:
            apply_retention(self.settings, self.factory)
        except Exception as exc:  # the DB or a folder may be briefly away
            log.error("retention failed, retrying at the next interval: %s", exc)

    def allows_new_groups(self) -> bool:
        """Apply retention if due; whether every data folder is above its stop threshold."""
        if self.retention_due(urgent=False):
            self.run_retention()
        low = [s for s in folder_space(self.settings) if s.level is Level.STOP]
        if low and self.retention_due(urgent=True):
            self.run_retention()
            low = [s for s in folder_space(self.settings) if s.level is Level.STOP]
        if low:
            if not self.paused:
                reason = "; ".join(s.describe() for s in low)
                log.warning("disk low: taking no new group until space returns: %s", reason)
                self._event("paused", reason)
                self.paused = True
            return False
        if self.paused:
            log.warning("disk space returned: taking groups again")
            self._event("resumed", "free space above every stop threshold")
            self.paused = False
        self.requeue_space_failures()
        return True

    def requeue_space_failures(self) -> int:
        """Queue again the groups that failed on a full disk; how many."""
        now = self.clock()
        count = 0
        try:
            with session_scope(self.factory) as session:
                for group in repo.groups_failed_for_space(session):
                    last, times = self._requeued.get(group.id, (-float("inf"), 0))
                    if now - last < REQUEUE_EVERY_S or times >= MAX_REQUEUES:
                        continue
                    first_line = (group.error or "").splitlines()[0][:300]
                    reason = f"requeued after the disk was full ({first_line})"
                    repo.requeue_group(session, group, reason)
                    self._requeued[group.id] = (now, times + 1)
                    count += 1
        except Exception as exc:
            log.warning("groups failed on a full disk not requeued: %s", exc)
            return 0
        if count:
            log.info("requeued %d group(s) that failed on a full disk", count)
        return count

    def _event(self, kind: str, reason: str) -> None:
        try:
            with session_scope(self.factory) as session:
                repo.publish_event(session, "disk", kind, {"reason": reason})
        except Exception as exc:
            log.warning("disk event not recorded: %s", exc)


_GUARDS: dict[tuple[int, str], StorageGuard] = {}


def storage_allows_new_groups(settings: Settings, factory: sessionmaker[Session]) -> bool:
    """The daemon's one call per cycle (see the module): False while a disk is below ``stop``."""
    key = (id(factory), str(settings.data_root))
    guard = _GUARDS.get(key)
    if guard is None or guard.settings is not settings:
        guard = _GUARDS[key] = StorageGuard(settings, factory)
    return guard.allows_new_groups()

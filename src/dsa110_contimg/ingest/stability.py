"""Is a file still being written? Decided from its size and mtime, never by opening it."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Look:
    """What one look at a file saw, and when (clock seconds)."""

    size: int
    mtime_ns: int
    at: float


class StabilityTracker:
    """Remembers the last look at each file to tell finished files from growing ones.

    A file is *stable* when its mtime is at least ``settle_s`` older than the
    clock, or when its size and mtime were the same at two looks at least
    ``settle_s`` apart (this second rule covers writers whose clock is ahead).
    The first look at a fresh file is remembered; a look that sees a change
    starts the wait again.
    """

    def __init__(self, settle_s: float) -> None:
        self.settle_s = settle_s
        self._looks: dict[str, Look] = {}

    def is_stable(self, path: str, stat: os.stat_result, now: float) -> bool:
        """Record a look at ``path`` (its ``stat`` taken at ``now``); True if it is stable."""
        if now - stat.st_mtime >= self.settle_s:
            self._looks.pop(path, None)
            return True
        previous = self._looks.get(path)
        if previous is not None and (previous.size, previous.mtime_ns) == (
            stat.st_size,
            stat.st_mtime_ns,
        ):
            if now - previous.at >= self.settle_s:
                del self._looks[path]
                return True
            return False
        self._looks[path] = Look(stat.st_size, stat.st_mtime_ns, now)
        return False

    def forget(self, keep: set[str]) -> None:
        """Drop the looks at files no longer present (only ``keep`` remain)."""
        for path in set(self._looks) - keep:
            del self._looks[path]

    def __len__(self) -> int:
        return len(self._looks)

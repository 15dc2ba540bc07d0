"""The disk guard's measure: free space of each data folder against its thresholds.

Each folder under the data root (``incoming``, ``ms``, ``caltables``,
``images``, ``mosaics``, ``logs``, ``quarantine``, ``state``) has a ``warn``
and a ``stop`` threshold of free space (settings ``disk_warn_free_gb`` and
``disk_stop_free_gb``, GB = 1e9 bytes, per folder name or ``default``).
Folders on one filesystem see the same free space; each is judged with its
own thresholds. Below ``warn`` the level is :attr:`Level.WARN` (a gauge and
an alert); below ``stop`` it is :attr:`Level.STOP` and the stream daemon
takes no new group (:mod:`dsa110_contimg.retention.guard`).
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path

from dsa110_contimg.config import DATA_FOLDERS, Settings

GB = 1e9


class Level(enum.IntEnum):
    """How low a folder's disk is: the value of the ``dsa110_disk_level`` gauge."""

    OK = 0
    WARN = 1
    STOP = 2


@dataclass(frozen=True)
class FolderSpace:
    """Free space of one data folder's filesystem, with the folder's thresholds (bytes)."""

    folder: str
    path: Path
    free_bytes: int
    total_bytes: int
    warn_bytes: int
    stop_bytes: int

    @property
    def level(self) -> Level:
        if self.free_bytes < self.stop_bytes:
            return Level.STOP
        if self.free_bytes < self.warn_bytes:
            return Level.WARN
        return Level.OK

    def describe(self) -> str:
        return (
            f"{self.folder} ({self.path}): {self.free_bytes / GB:.2f} GB free "
            f"(warn below {self.warn_bytes / GB:g} GB, stop below {self.stop_bytes / GB:g} GB)"
        )


def _existing(path: Path) -> Path:
    """The folder itself or, before it is made, its nearest existing parent."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def folder_space(settings: Settings) -> list[FolderSpace]:
    """Free space and level of every data folder."""
    out = []
    for name in DATA_FOLDERS:
        folder = name.removesuffix("_dir")
        path = getattr(settings, name)
        stats = os.statvfs(_existing(path))
        warn, stop = settings.disk_thresholds_gb(folder)
        out.append(
            FolderSpace(
                folder=folder,
                path=path,
                free_bytes=stats.f_bavail * stats.f_frsize,
                total_bytes=stats.f_blocks * stats.f_frsize,
                warn_bytes=int(warn * GB),
                stop_bytes=int(stop * GB),
            )
        )
    return out


def worst_level(spaces: list[FolderSpace]) -> Level:
    """The lowest disk's level."""
    return max((s.level for s in spaces), default=Level.OK)

"""The ingest's tunables: grouping tolerance, settle time, group wait, incomplete policy."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

from dsa110_contimg.errors import ConfigError

#: A clock: the current time as POSIX seconds (``time.time`` unless a test injects one).
Clock = Callable[[], float]

DEFAULT_CLOCK: Clock = time.time


class IncompletePolicy(enum.StrEnum):
    """What happens to a group still missing subbands when the wait expires."""

    #: state ``incomplete``: processed with the missing subbands flagged, a warning recorded
    PROCESS = "process"
    #: state ``failed``: never processed, the reason recorded
    FAIL = "fail"


@dataclass(frozen=True)
class IngestPolicy:
    """How files are judged stable, grouped, and groups closed.

    Attributes
    ----------
    group_tolerance_s : float
        A file joins the group whose start (the time stamp in the name of its
        first file) lies within this many seconds of its own name's time stamp.
    settle_s : float
        A file is read only once it is stable: its mtime is at least this old,
        or its size and mtime were unchanged across two looks this far apart.
    group_wait_s : float
        A group still missing subbands this long after its newest file was
        recorded is closed by ``incomplete_policy``.
    incomplete_policy : IncompletePolicy
        ``process`` (default): state ``incomplete``, processed with the missing
        subbands flagged, a warning in the group's ``error``; ``fail``: state
        ``failed``.
    subbands_expected : int
        Subbands that make a group complete.
    """

    group_tolerance_s: float = 60.0
    settle_s: float = 30.0
    group_wait_s: float = 600.0
    incomplete_policy: IncompletePolicy = IncompletePolicy.PROCESS
    subbands_expected: int = 16

    def __post_init__(self) -> None:
        for name in ("group_tolerance_s", "settle_s", "group_wait_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"ingest {name} must not be negative")
        try:
            object.__setattr__(self, "incomplete_policy", IncompletePolicy(self.incomplete_policy))
        except ValueError as exc:
            choices = ", ".join(p.value for p in IncompletePolicy)
            raise ConfigError(
                f"unknown incomplete-group policy {self.incomplete_policy!r} ({choices})"
            ) from exc

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> IngestPolicy:
        """The policy from ``settings.ingest_<field>`` where present, then ``overrides``.

        Settings fields of those names (``ingest_group_tolerance_s``, ...) are
        optional; without them the defaults here apply. ``None`` overrides are
        ignored, so command-line options can be passed straight through.
        """
        values = {}
        for f in fields(cls):
            value = getattr(settings, f"ingest_{f.name}", None)
            if value is not None:
                values[f.name] = value
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)

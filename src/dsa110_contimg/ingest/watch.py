"""A polling watcher of the incoming folder, for the streaming daemon.

Polling is portable (local disks, NFS, Lustre) and, with one ``scandir`` per
poll, cheap for the folder sizes of a day of data; inotify would save little
and miss files written over network file systems. The watcher is one
:class:`~dsa110_contimg.ingest.index.Indexer` kept alive between polls, so
the stability looks and the set of known paths carry over.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg.config import Settings
from dsa110_contimg.errors import DSA110Error
from dsa110_contimg.ingest.index import Indexer
from dsa110_contimg.ingest.policy import DEFAULT_CLOCK, Clock, IngestPolicy
from dsa110_contimg.ingest.report import IndexReport

log = logging.getLogger(__name__)


class Watcher:
    """Watch an incoming folder: index new stable files, close expired groups.

    Parameters
    ----------
    settings
        The pipeline's settings (incoming and quarantine folders).
    session_factory
        Sessions on the products DB.
    clock
        Current time in POSIX seconds (inject a fake one in tests).
    policy
        Grouping and waiting rules (default from ``settings``).
    incoming
        Folder to watch (default ``settings.incoming_dir``).

    Examples
    --------
    >>> watcher = Watcher(settings, factory)                 # doctest: +SKIP
    >>> report = watcher.poll_once()                         # doctest: +SKIP
    >>> report.completed                                     # doctest: +SKIP
    ['2026-01-15T13:44:44']
    """

    def __init__(
        self,
        settings: Settings,
        session_factory: sessionmaker[Session],
        *,
        clock: Clock = DEFAULT_CLOCK,
        policy: IngestPolicy | None = None,
        incoming: str | os.PathLike[str] | None = None,
    ) -> None:
        self.indexer = Indexer(
            settings, session_factory, incoming=incoming, policy=policy, clock=clock
        )

    def poll_once(self) -> IndexReport:
        """One look at the folder: new files, quarantined ones, groups that changed state."""
        return self.indexer.scan()

    def run(
        self,
        stop_event: threading.Event,
        interval: float = 5.0,
        on_report: Callable[[IndexReport], None] | None = None,
    ) -> None:
        """Poll every ``interval`` seconds until ``stop_event`` is set.

        A poll that fails because the database or the folder is unavailable
        is logged and retried at the next interval; other errors propagate.

        Parameters
        ----------
        stop_event
            Set it (from a signal handler or another thread) to stop.
        interval
            Seconds between the end of one poll and the start of the next.
        on_report
            Called with each poll's report when something changed.
        """
        log.info("watching %s every %g s", self.indexer.incoming, interval)
        while not stop_event.is_set():
            try:
                report = self.poll_once()
            except (OperationalError, DSA110Error, OSError) as exc:
                log.error("poll of %s failed, retrying: %s", self.indexer.incoming, exc)
            else:
                if report.changed and on_report is not None:
                    on_report(report)
            stop_event.wait(interval)
        log.info("stopped watching %s", self.indexer.incoming)

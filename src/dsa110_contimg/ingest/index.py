"""Index the incoming folder: record each new subband file and group it.

One scan (:meth:`Indexer.scan`) does, in order:

1. records files found in quarantine without a row (left by a crash or a
   database error between a move and its commit; first scan only, or after
   such an error);
2. for each ``*_sb*.hdf5`` in the incoming folder, by name (time, then
   subband): skips it if its path is recorded; leaves it for a later scan if
   it is not yet stable (:class:`~dsa110_contimg.ingest.stability.StabilityTracker`);
   otherwise reads its header and records it, in one transaction per file;
3. closes collecting groups whose wait has expired (the incomplete policy).

Rules, each deliberate:

* **Unreadable** (corrupt, truncated, foreign, a name that does not parse):
  moved to the quarantine folder with a reason file, then recorded with
  status ``quarantined`` and the reason, linked to its group if its name
  gives one. The group goes on and, lacking that subband, closes as
  incomplete. Order: *move, then commit*; a failure in between leaves the
  file in quarantine unrecorded, and step 1 records it. The file is never
  deleted and never overwrites another.
* **Same path already recorded**: skipped (debug log); a re-run is a no-op.
* **Not readable by this user** (permissions): left in place, one error
  logged, tried again every scan; not quarantined (the file is not at fault).
* **Duplicate** (a usable file of the same group and subband is recorded,
  under another name): quarantined with reason ``duplicate of <path>``.
* **Late** (its group is ``queued``, ``processing``, ``done`` or ``failed``):
  recorded with ``group_id`` NULL (so no stage picks it up mid-run) and a
  note naming it appended to the group's ``error``; a warning is logged. A
  file for an ``incomplete`` group that has not been claimed yet is not
  late: it joins the group, which becomes ``complete`` if that fills it.
* **Grouping**: by the time stamp in the name; a file joins the group whose
  start lies nearest and within ``group_tolerance_s``, else starts a new
  group named after its own time stamp.

A file's ``created_at`` is its arrival time by the indexer's clock, from
which the group wait is measured (so a backlog indexed at once still waits
``group_wait_s`` before its incomplete groups close; pass a shorter wait to
index a finished backlog). Run one indexer per incoming folder; a second one
is harmless but wasteful (a file the other recorded meanwhile is recognised
by its path and skipped; a conflicting write is retried next scan).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg.config import Settings
from dsa110_contimg.errors import InputDataError
from dsa110_contimg.ingest import groups, quarantine
from dsa110_contimg.ingest.header import SubbandFileInfo, parse_name, read_header
from dsa110_contimg.ingest.policy import DEFAULT_CLOCK, Clock, IngestPolicy
from dsa110_contimg.ingest.report import IndexReport
from dsa110_contimg.ingest.stability import StabilityTracker
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.db import session_scope
from dsa110_contimg.products.models import FileStatus, GroupState, ObservationGroup

log = logging.getLogger(__name__)

#: Files the indexer looks at: anything that claims to be a subband file.
CANDIDATE = re.compile(r"_sb.*\.hdf5$")
# a quarantined name may carry a ".N" suffix added to keep names unique
_QUARANTINED_NAME = re.compile(r"^(?P<stamp>.+)_sb(?P<sb>\d\d)(\.\d+)?\.hdf5$")
_QUERY_CHUNK = 500


@dataclass(frozen=True)
class _Outcome:
    group_id: str
    state: GroupState
    duplicate_of: str | None = None
    late: bool = False
    completed: bool = False
    already: bool = False


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def _loose_name(path: Path) -> tuple[dt.datetime | None, int | None]:
    """Time stamp and subband from a name, whatever of them parses."""
    try:
        return parse_name(path)
    except InputDataError:
        pass
    match = _QUARANTINED_NAME.match(path.name)
    if match is None or int(match["sb"]) > 15:
        return None, None
    try:
        return parse_name(f"{match['stamp']}_sb{match['sb']}.hdf5")
    except InputDataError:
        return None, int(match["sb"])


class Indexer:
    """Records new subband files of one incoming folder into the products DB.

    Parameters
    ----------
    settings
        Where quarantine is (``settings.quarantine_dir``) and, by default,
        the incoming folder.
    session_factory
        Sessions on a products DB at the code's revision.
    incoming
        The folder to index (default ``settings.incoming_dir``).
    policy
        Tolerances and waits (default :meth:`IngestPolicy.from_settings`).
    clock
        Current time in POSIX seconds; tests inject a fake one.
    """

    def __init__(
        self,
        settings: Settings,
        session_factory: sessionmaker[Session],
        *,
        incoming: str | os.PathLike[str] | None = None,
        policy: IngestPolicy | None = None,
        clock: Clock = DEFAULT_CLOCK,
    ) -> None:
        self.incoming = Path(incoming if incoming is not None else settings.incoming_dir)
        self.incoming = self.incoming.expanduser().resolve()
        self.quarantine_dir = Path(settings.quarantine_dir)
        self.factory = session_factory
        self.policy = policy if policy is not None else IngestPolicy.from_settings(settings)
        self.clock = clock
        self._stability = StabilityTracker(self.policy.settle_s)
        self._known: set[str] = set()
        self._unreadable: set[str] = set()
        self._sweep_quarantine = True

    # -- one scan --------------------------------------------------------
    def scan(self) -> IndexReport:
        """Index what is new and stable, then close expired groups.

        Raises
        ------
        InputDataError
            If the incoming folder does not exist.
        """
        report = IndexReport()
        if self._sweep_quarantine:
            self._record_unrecorded(report)
        candidates = self._candidates()
        self._load_known(list(candidates))
        for path, stat in candidates.items():
            if path in self._known:
                report.already_indexed += 1
                log.debug("%s: already indexed, skipped", path)
            elif not self._stability.is_stable(path, stat, self.clock()):
                report.pending.append(path)
                log.debug("%s: not yet stable (size %d), left for later", path, stat.st_size)
            else:
                self._ingest(Path(path), stat, report)
        self._stability.forget(set(candidates))
        self._known.intersection_update(candidates)  # stay as small as the folder
        self.close_expired(report)
        if report.changed:
            log.info("index %s: %s", self.incoming, report.summary())
        return report

    def _candidates(self) -> dict[str, os.stat_result]:
        if not self.incoming.is_dir():
            raise InputDataError(
                f"incoming folder {self.incoming} does not exist",
                hint="create it or set incoming_dir / DSA110_INCOMING_DIR",
            )
        found = {}
        with os.scandir(self.incoming) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not CANDIDATE.search(entry.name):
                    continue
                try:
                    if entry.is_file():
                        found[entry.path] = entry.stat()
                except FileNotFoundError:  # gone between listing and stat
                    continue
        return dict(sorted(found.items()))

    def _load_known(self, paths: list[str]) -> None:
        unknown = [p for p in paths if p not in self._known]
        for start in range(0, len(unknown), _QUERY_CHUNK):
            chunk = unknown[start : start + _QUERY_CHUNK]
            with session_scope(self.factory) as session:
                self._known.update(repo.recorded_raw_paths(session, chunk))

    # -- one file ----------------------------------------------------------
    def _ingest(self, path: Path, stat: os.stat_result, report: IndexReport) -> None:
        if not os.access(path, os.R_OK):
            # a deployment problem, not a bad file: left in place, said once
            if str(path) not in self._unreadable:
                log.error("%s: not readable by this user; fix its permissions", path)
                self._unreadable.add(str(path))
            report.pending.append(str(path))
            return
        try:
            info = read_header(path)
        except InputDataError as exc:
            if path.exists():
                self._quarantine(path, str(exc), report)
            return
        if (info.size_bytes, info.mtime) != (stat.st_size, stat.st_mtime):
            report.pending.append(str(path))  # changed while we looked: not stable after all
            log.info("%s: changed while being read, left for later", path)
            return
        try:
            outcome = self._record(info)
        except IntegrityError as exc:
            # another indexer recorded the file or created its group meanwhile:
            # the next scan sees its row (and skips it) or finds the group
            log.warning("%s: conflicting write (%s), retried next scan", path, exc.orig)
            return
        if outcome.duplicate_of is not None:
            self._quarantine(path, f"duplicate of {outcome.duplicate_of}", report, info)
            return
        self._known.add(str(path))
        if outcome.already:
            report.already_indexed += 1
            log.info("%s: recorded meanwhile by another process, skipped", path)
            return
        if outcome.late:
            report.late.append(str(path))
            return
        report.indexed.append(str(path))
        log.info("%s: indexed, sb%02d of group %s", path, info.subband, outcome.group_id)
        if outcome.completed:
            report.completed.append(outcome.group_id)

    def _record(self, info: SubbandFileInfo) -> _Outcome:
        """Record a readable file in its group, in one transaction."""
        now = _utc(self.clock())
        with session_scope(self.factory) as session:
            group = groups.find_or_create_group(
                session, info.name_time, self.policy, now, info.dec_deg
            )
            duplicate = repo.usable_raw_file(session, group.id, info.subband)
            if duplicate is not None and duplicate.path == str(info.path):
                return _Outcome(group.id, group.state, already=True)  # by another indexer
            if duplicate is not None:
                return _Outcome(group.id, group.state, duplicate_of=duplicate.path)
            if not groups.hold_open_group(session, group.id):
                session.refresh(group)
                self._record_late(session, group, info, now)
                return _Outcome(group.id, group.state, late=True)
            repo.register_raw_file(session, **self._row(info, now, group_id=group.id))
            repo.fill_group_dec(session, group, info.dec_deg)
            completed = groups.refresh(session, group, now)
            return _Outcome(group.id, group.state, completed=completed)

    def _row(self, info: SubbandFileInfo, now: dt.datetime, **fields: Any) -> dict[str, Any]:
        """A raw-file row's values from the file's header; ``fields`` add to or replace them."""
        values: dict[str, Any] = dict(
            path=str(info.path),
            subband=info.subband,
            start_mjd=info.start_mjd,
            end_mjd=info.end_mjd,
            n_times=info.n_times,
            dec_deg=info.dec_deg,
            freq_min_hz=info.freq_min_hz,
            freq_max_hz=info.freq_max_hz,
            n_antennas=info.n_antennas,
            size_bytes=info.size_bytes,
            mtime=info.mtime,
            created_at=now,
        )
        return {**values, **fields}

    def _record_late(
        self, session: Session, group: ObservationGroup, info: SubbandFileInfo, now: dt.datetime
    ) -> None:
        repo.register_raw_file(session, **self._row(info, now, group_id=None))
        repo.add_group_note(
            group,
            f"late: sb{info.subband:02d} {info.path} arrived while the group was "
            f"{group.state}; recorded unassigned, not in this group's products",
        )
        log.warning(
            "%s: late for group %s (state %s): recorded, not added to the group",
            info.path,
            group.id,
            group.state,
        )

    # -- quarantine ------------------------------------------------------------
    def _quarantine(
        self,
        path: Path,
        reason: str,
        report: IndexReport,
        info: SubbandFileInfo | None = None,
    ) -> None:
        """Move first, then commit the row (see the module's docstring)."""
        try:
            dest = quarantine.move_to_quarantine(
                path, self.quarantine_dir, reason, now=self.clock()
            )
        except OSError as exc:
            log.error("%s: cannot quarantine (%s); reason was: %s", path, exc, reason)
            return
        report.quarantined.append((str(path), reason))
        try:
            with session_scope(self.factory) as session:
                self._record_quarantined(session, dest, reason, info)
        except SQLAlchemyError as exc:
            log.error("%s: moved to quarantine but not recorded (%s); retried next scan", dest, exc)
            self._sweep_quarantine = True

    def _record_quarantined(
        self, session: Session, dest: Path, reason: str, info: SubbandFileInfo | None
    ) -> None:
        name_time, subband = _loose_name(dest)
        if subband is None:
            log.warning("%s: not recorded in the DB (no subband in its name)", dest)
            return
        now = _utc(self.clock())
        group = None
        if name_time is not None:
            group = groups.find_or_create_group(session, name_time, self.policy, now)
            repo.add_group_note(group, f"sb{subband:02d} quarantined ({dest.name}): {reason}")
        stat = dest.stat()
        fields = {
            "path": str(dest),
            "group_id": group.id if group is not None else None,
            "status": FileStatus.QUARANTINED,
            "quarantine_reason": reason,
        }
        if info is not None:
            row = self._row(info, now, **fields)
        else:
            row = dict(
                subband=subband,
                size_bytes=stat.st_size,
                mtime=stat.st_mtime,
                created_at=now,
                **fields,
            )
        repo.register_raw_file(session, **row)
        repo.publish_event(session, "ingest", "quarantined", {"path": str(dest), "reason": reason})

    def _record_unrecorded(self, report: IndexReport) -> None:
        """Record files left in quarantine without a row (see :mod:`.quarantine`)."""
        with session_scope(self.factory) as session:
            recorded = repo.raw_paths_under(session, str(self.quarantine_dir))
        orphans = quarantine.unrecorded(
            self.quarantine_dir, recorded, now=self.clock(), grace_s=self.policy.settle_s
        )
        for dest in orphans:
            reason = quarantine.read_reason(dest)
            with session_scope(self.factory) as session:
                self._record_quarantined(session, dest, reason, None)
            report.quarantined.append((str(dest), reason))
            log.warning("%s: found in quarantine unrecorded; recorded: %s", dest, reason)
        self._sweep_quarantine = False

    # -- groups ------------------------------------------------------------------
    def close_expired(self, report: IndexReport | None = None) -> IndexReport:
        """Apply the incomplete policy to collecting groups whose wait is over."""
        report = report if report is not None else IndexReport()
        with session_scope(self.factory) as session:
            ids = repo.group_ids_in_state(session, GroupState.COLLECTING)
        for group_id in ids:
            with session_scope(self.factory) as session:
                group = repo.group_or_none(session, group_id)
                if group is None:
                    continue
                state = groups.close_if_expired(session, group, self.policy, _utc(self.clock()))
            if state == GroupState.INCOMPLETE:
                report.incomplete.append(group_id)
            elif state == GroupState.FAILED:
                report.failed.append(group_id)
        return report


def index_folder(
    settings: Settings,
    session_factory: sessionmaker[Session],
    incoming: str | os.PathLike[str] | None = None,
    *,
    policy: IngestPolicy | None = None,
    clock: Clock = DEFAULT_CLOCK,
    settle_wait: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> IndexReport:
    """Index a folder once; see :class:`Indexer` for the rules.

    Parameters
    ----------
    settings, session_factory, incoming, policy, clock
        As for :class:`Indexer`.
    settle_wait
        If some files are still being written, wait ``policy.settle_s``
        (with ``sleep``) and look once more, so that files that were just
        finishing are indexed in this call; without it they are left for the
        next call (reported as ``pending``).
    sleep
        How to wait (tests pass a fake).

    Returns
    -------
    IndexReport
        Everything this call did.
    """
    indexer = Indexer(settings, session_factory, incoming=incoming, policy=policy, clock=clock)
    report = indexer.scan()
    if settle_wait and report.pending:
        log.info(
            "%d file(s) still being written: looking again in %g s",
            len(report.pending),
            indexer.policy.settle_s,
        )
        sleep(indexer.policy.settle_s)
        report.merge(indexer.scan())
    return report

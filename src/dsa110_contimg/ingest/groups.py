"""Observation groups: which group a file belongs to, and the group's state machine.

States (``GroupState``) as the ingest moves them::

    collecting --all subbands usable------------------------> complete
    collecting --wait expired, policy "process"--------------> incomplete
    collecting --wait expired, policy "fail", or no usable---> failed
    incomplete --a missing subband arrives and completes it--> complete

The runner takes complete / incomplete / queued groups to processing and on
to done or failed. Only ``collecting`` and ``incomplete`` groups accept a new
subband; a file for a group in any other state is *late* (see
:mod:`dsa110_contimg.ingest.index`). The group's ``error`` column is used as
an append-only log of what the ingest noticed (quarantined files, missing
subbands, late files), one line each.

Every state change is a conditional ``UPDATE ... WHERE state IN (...)``, so
the runner's atomic claim and the ingest never both win: whoever updates the
row first holds it until its transaction ends.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from dsa110_contimg.ingest.header import datetime_to_mjd
from dsa110_contimg.ingest.policy import IncompletePolicy, IngestPolicy
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import GroupState, ObservationGroup

log = logging.getLogger(__name__)

#: States in which a group accepts a new subband file.
OPEN_STATES = (GroupState.COLLECTING, GroupState.INCOMPLETE)

_SECONDS_PER_DAY = 86400.0


def group_id_for(name_time: dt.datetime) -> str:
    """A group's id: the time stamp of its first file's name, ``YYYY-MM-DDTHH:MM:SS``."""
    return name_time.strftime("%Y-%m-%dT%H:%M:%S")


def find_group(
    session: Session, name_time: dt.datetime, tolerance_s: float
) -> ObservationGroup | None:
    """The group whose start lies nearest ``name_time`` and within ``tolerance_s``."""
    found = repo.nearest_group(session, datetime_to_mjd(name_time), tolerance_s / _SECONDS_PER_DAY)
    return found if found is not None else repo.group_or_none(session, group_id_for(name_time))


def find_or_create_group(
    session: Session,
    name_time: dt.datetime,
    policy: IngestPolicy,
    now: dt.datetime,
    dec_deg: float | None = None,
) -> ObservationGroup:
    """The file's group, created (``collecting``) if no group lies within the tolerance."""
    group = find_group(session, name_time, policy.group_tolerance_s)
    if group is not None:
        return group
    group = repo.register_group(
        session,
        group_id=group_id_for(name_time),
        start_time=name_time,
        start_mjd=datetime_to_mjd(name_time),
        dec_deg=dec_deg,
        files_present=0,
        files_expected=policy.subbands_expected,
        state=GroupState.COLLECTING,
        created_at=now,
    )
    log.info("group %s: new, collecting", group.id)
    return group


def hold_open_group(session: Session, group_id: str) -> bool:
    """Lock the group's row if it accepts files; False if it is no longer open.

    The conditional UPDATE takes the row (PostgreSQL) or the database
    (SQLite) for the rest of the transaction, so the runner cannot claim the
    group while a file is being added to it.
    """
    return repo.hold_group(session, group_id, OPEN_STATES)


def _set_state(
    session: Session, group: ObservationGroup, state: GroupState, now: dt.datetime
) -> None:
    repo.settle_group(session, group, state, now)
    log.info("group %s: %s (%d subbands)", group.id, state, group.files_present)


def refresh(session: Session, group: ObservationGroup, now: dt.datetime) -> bool:
    """Recount an open group's usable subbands; True if that made it complete.

    Call only while holding the group (:func:`hold_open_group`).
    """
    if repo.recount_group_files(session, group) < group.files_expected:
        return False
    if group.state == GroupState.INCOMPLETE:
        repo.add_group_note(group, "complete: the missing subbands arrived before processing")
    _set_state(session, group, GroupState.COMPLETE, now)
    return True


def missing_subbands(session: Session, group: ObservationGroup) -> list[int]:
    """Subbands 0..files_expected-1 without a usable file."""
    return sorted(set(range(group.files_expected)) - repo.usable_subbands(session, group.id))


def close_if_expired(
    session: Session, group: ObservationGroup, policy: IngestPolicy, now: dt.datetime
) -> GroupState | None:
    """Apply the incomplete-group policy to a collecting group whose wait is over.

    The wait runs from the arrival (``created_at``) of the group's newest
    file, quarantined ones included. Returns the new state, or None if the
    group is still within its wait (or no longer collecting).
    """
    last = repo.last_arrival(session, group.id) or group.created_at
    if (now - last).total_seconds() < policy.group_wait_s:
        return None
    if not repo.hold_group(session, group.id, (GroupState.COLLECTING,)):
        return None
    missing = missing_subbands(session, group)
    repo.recount_group_files(session, group)
    listed = ", ".join(f"{sb:02d}" for sb in missing)
    waited = f"after waiting {policy.group_wait_s:g} s"
    if group.files_present == 0:
        state = GroupState.FAILED
        repo.add_group_note(group, f"failed: no usable subband file {waited}")
    elif policy.incomplete_policy == IncompletePolicy.PROCESS:
        state = GroupState.INCOMPLETE
        repo.add_group_note(
            group, f"warning: subbands {listed} missing {waited}; processed with them flagged"
        )
    else:
        state = GroupState.FAILED
        repo.add_group_note(
            group, f"failed: subbands {listed} missing {waited} (incomplete policy: fail)"
        )
    _set_state(session, group, state, now)
    log.warning("group %s: %s, subbands missing: %s", group.id, state, listed)
    return state

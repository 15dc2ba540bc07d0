"""Reading and writing the products database: the one place both the pipeline and the API use.

The pipeline registers its products and reports its jobs through the write
functions here; each write also publishes an :class:`~.models.Event` in the
same transaction, so live subscribers (the API's WebSocket, its cache) learn
about it from any process. The API reads through the query functions, which
return ORM objects or plain dictionaries and know nothing of HTTP.

Every function takes an open :class:`~sqlalchemy.orm.Session`; the caller owns
the transaction (see :func:`dsa110_contimg.products.db.session_scope`).

Conventions: science times are MJD (UTC), event times timezone-aware UTC,
angles degrees, fluxes janskys. List queries return a :class:`Page`; their
``sort`` is a column name from the resource's ``SORTABLE`` table, prefixed by
``-`` for descending order.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsa110_contimg.errors import DSA110Error
from dsa110_contimg.products.models import (
    BatchItem,
    CalApplication,
    CalTable,
    CalTableStatus,
    Candidate,
    CandidateStatus,
    Event,
    GroupState,
    Image,
    Job,
    JobStatus,
    MeasurementSet,
    Mosaic,
    MosaicTile,
    ObservationGroup,
    Photometry,
    RawFile,
    Source,
    VariabilityMetrics,
    utcnow,
)

#: Largest page any list query returns.
MAX_LIMIT = 1000
#: Most items one batch request may hold.
MAX_BATCH_ITEMS = 5000
#: Most sources a cone search may match before it must be narrowed.
MAX_CONE_MATCHES = 20000
#: How far (deg) a calibration table's declination may be from an MS's pointing to match it.
CAL_DEC_TOLERANCE_DEG = 1.5


class NotFoundError(DSA110Error):
    """A product, job or other record that was asked for is not registered."""

    exit_code = 7


class ConflictError(DSA110Error):
    """The request contradicts the record's state (e.g. cancelling a finished job)."""

    exit_code = 8


class InvalidQueryError(DSA110Error):
    """A query that cannot be answered as asked (e.g. a cone matching too many sources)."""

    exit_code = 9


@dataclasses.dataclass(frozen=True)
class Page:
    """One page of a list query.

    Attributes
    ----------
    items
        The rows of this page, as dictionaries of column values (states,
        i.e. enumerated columns, as their string values).
    total
        How many rows match the filters, over all pages.
    limit, offset
        The page size and the index of its first row.
    """

    items: list[Any]
    total: int
    limit: int
    offset: int


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------
def columns_of(obj: Any) -> dict[str, Any]:
    """The column values of an ORM object as a dictionary (no relationships)."""
    return {c.key: getattr(obj, c.key) for c in sa.inspect(obj).mapper.column_attrs}


def record_columns(model: Any) -> list[sa.Column[Any]]:
    """The table columns of a mapped class, in the order its API schema lists them."""
    return list(sa.inspect(model).columns)


def _sort_key(sortable: Mapping[str, Any], sort: str) -> tuple[Any, bool]:
    """The column a ``sort`` value names and whether it is descending."""
    name = sort.lstrip("-")
    if name not in sortable:
        raise InvalidQueryError(
            f"cannot sort by {name!r}", hint=f"use one of {', '.join(sorted(sortable))}"
        )
    return sortable[name], sort.startswith("-")


def _nullable(column: Any) -> bool:
    return bool(getattr(getattr(column, "expression", column), "nullable", True))


def _check_page(limit: int, offset: int) -> None:
    if not 0 <= limit <= MAX_LIMIT or offset < 0:
        raise InvalidQueryError(f"limit must be 0..{MAX_LIMIT} and offset >= 0")


#: Statements derived from a shared (unfiltered) list select, built once: building a
#: count or a sorted page costs about as much as running it. Keyed by the parent's id
#: and what was derived; a derivation of a shared statement is shared in turn.
_DERIVED: dict[tuple[Any, ...], sa.Select[Any]] = {}
_SHARED: dict[int, sa.Select[Any]] = {}
#: The page bounds, bound at execution (so a sorted page is one statement for all pages).
_PAGE_BOUNDS = {"limit": sa.bindparam("page_limit"), "offset": sa.bindparam("page_offset")}


def shared(stmt: sa.Select[Any]) -> sa.Select[Any]:
    """Mark a module-level ``select`` as shared: its counts and sorted pages are kept."""
    _SHARED[id(stmt)] = stmt
    return stmt


def _derived(parent: sa.Select[Any], what: tuple[Any, ...], build: Any) -> sa.Select[Any]:
    """``build()``, kept for later calls when ``parent`` is shared (see :func:`shared`)."""
    if id(parent) not in _SHARED:
        return build()
    key = (id(parent), *what)
    stmt = _DERIVED.get(key)
    if stmt is None:
        stmt = _DERIVED[key] = build()
        _SHARED[id(stmt)] = stmt
    return stmt


def _where(stmt: sa.Select[Any], *conditions: Any) -> sa.Select[Any]:
    """``stmt`` with ``conditions`` (``stmt`` itself, still shared, when there are none)."""
    return stmt.where(*conditions) if conditions else stmt


def count_rows(session: Session, stmt: sa.Select[Any]) -> int:
    """How many rows ``stmt`` selects: ``SELECT count(*)`` over its own FROM and WHERE.

    Not a count over a subquery of every selected column, which SQLite
    materialises; a plain count of a table is answered from its b-tree.
    """
    count = _derived(
        stmt,
        ("count",),
        lambda: stmt.with_only_columns(sa.func.count(), maintain_column_froms=True).order_by(None),
    )
    return int(session.connection().execute(count).scalar() or 0)


def _sorted_page(stmt: sa.Select[Any], desc: bool, column: Any, tiebreak: Any) -> sa.Select[Any]:
    """``stmt`` ordered by ``column`` then ``tiebreak``, with bound LIMIT and OFFSET."""

    def build() -> sa.Select[Any]:
        columns = (column,) if column is tiebreak else (column, tiebreak)
        ordered = stmt.order_by(*(c.desc() if desc else c.asc() for c in columns))
        return ordered.limit(_PAGE_BOUNDS["limit"]).offset(_PAGE_BOUNDS["offset"])

    return _derived(stmt, ("page", id(column), desc, id(tiebreak)), build)


def _page_rows(session: Session, page: sa.Select[Any], limit: int, offset: int) -> list[Any]:
    bounds = {"page_limit": limit, "page_offset": offset}
    return list(session.connection().execute(page, bounds))


def sorted_slice(
    session: Session,
    stmt: sa.Select[Any],
    *,
    column: Any,
    desc: bool,
    tiebreak: Any,
    limit: int,
    offset: int,
    total: int,
    nullable: bool | None = None,
    null_stmt: sa.Select[Any] | None = None,
    null_tiebreak: Any = None,
) -> list[sa.Row[Any]]:
    """Rows ``offset`` to ``offset + limit`` of ``stmt`` by ``column``, then ``tiebreak``.

    Rows without a value (NULL) come last in both directions, by ``tiebreak``.
    Each query is one plain ``ORDER BY column, tiebreak`` in one direction,
    which an index on ``(column, tiebreak)`` serves on SQLite and PostgreSQL
    alike (``NULLS LAST``, or an ORDER BY over the nullable side of an outer
    join, would sort the whole table instead): first the rows with a value;
    only a page reaching past them reads the rows without one.

    Parameters
    ----------
    stmt
        The filtered ``select`` of the wanted columns.
    total
        How many rows ``stmt`` selects (the page's ``total``).
    nullable
        Whether ``column`` may be NULL (default: as the column is declared).
    null_stmt, null_tiebreak
        The ``select`` and tiebreak for the rows without a value, when they
        differ from the others' (e.g. sources without a metrics row, which
        only an outer join finds); default ``stmt`` and ``tiebreak``.
    """
    if limit == 0 or offset >= total:
        return []
    if not (_nullable(column) if nullable is None else nullable):
        return _page_rows(session, _sorted_page(stmt, desc, column, tiebreak), limit, offset)
    valued = _derived(stmt, ("valued", id(column)), lambda: stmt.where(column.is_not(None)))
    rows = _page_rows(session, _sorted_page(valued, desc, column, tiebreak), limit, offset)
    if len(rows) == limit:
        return rows
    n_valued = offset + len(rows) if rows else count_rows(session, valued)
    if n_valued >= total:
        return rows
    base = stmt if null_stmt is None else null_stmt
    empty = _derived(base, ("empty", id(column)), lambda: base.where(column.is_(None)))
    null_tiebreak = tiebreak if null_tiebreak is None else null_tiebreak
    page = _sorted_page(empty, desc, null_tiebreak, null_tiebreak)
    rows.extend(_page_rows(session, page, limit - len(rows), max(0, offset - n_valued)))
    return rows


def _between(stmt: sa.Select[Any], column: Any, low: float | None, high: float | None) -> Any:
    if low is not None:
        stmt = stmt.where(column >= low)
    if high is not None:
        stmt = stmt.where(column <= high)
    return stmt


def _set_fields(obj: Any, fields: Mapping[str, Any]) -> None:
    known = {c.key for c in sa.inspect(type(obj)).column_attrs}
    unknown = set(fields) - known
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no column(s) {sorted(unknown)}")
    for key, value in fields.items():
        setattr(obj, key, value)


def new_run_id(job_type: str) -> str:
    """A unique, sortable run id such as ``image-20261128T120000-1a2b3c4d``."""
    stamp = utcnow().strftime("%Y%m%dT%H%M%S")
    return f"{job_type}-{stamp}-{uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------
def publish_event(
    session: Session, topic: str, kind: str, payload: Mapping[str, Any] | None = None
) -> Event:
    """Record an event for live subscribers; it becomes visible when the transaction commits.

    Parameters
    ----------
    topic
        What the event is about, e.g. ``job:<run_id>``, ``image``, ``candidate``.
    kind
        What happened, e.g. ``started``, ``progress``, ``finished``, ``new``.
    payload
        JSON-serialisable details.
    """
    event = Event(topic=topic, kind=kind, payload=dict(payload or {}))
    session.add(event)
    session.flush()
    return event


_TOUCHED = "dsa110_touched_topics"


@sa.event.listens_for(Session, "after_transaction_end")
def _forget_touched(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost transaction, not a flush's inner one
        session.info.pop(_TOUCHED, None)


def touch(session: Session, topic: str, kind: str = "updated") -> None:
    """Announce a change of ``topic`` once per transaction (bulk writes: metrics, raw files).

    Caches key their entries by the newest event id, so one event per
    transaction keeps them right without an event per row.
    """
    touched = session.info.setdefault(_TOUCHED, set())
    if topic not in touched:
        publish_event(session, topic, kind)
        touched.add(topic)


def latest_event_id(session: Session) -> int:
    """The id of the newest event, 0 if there is none."""
    return int(session.scalar(sa.select(sa.func.max(Event.id))) or 0)


def events_after(session: Session, after_id: int, *, limit: int = 500) -> list[Event]:
    """Events newer than ``after_id``, oldest first."""
    stmt = sa.select(Event).where(Event.id > after_id).order_by(Event.id).limit(limit)
    return list(session.scalars(stmt))


def list_events(
    session: Session,
    *,
    after_id: int = 0,
    topic: str | None = None,
    kind: str | None = None,
    limit: int = 100,
) -> list[Event]:
    """Events newer than ``after_id``, oldest first, optionally of one topic (``prefix*``) and kind."""
    _check_page(limit, 0)
    stmt = sa.select(Event).where(Event.id > after_id)
    if topic is not None:
        if topic.endswith("*"):
            stmt = stmt.where(Event.topic.startswith(topic[:-1], autoescape=True))
        else:
            stmt = stmt.where(Event.topic == topic)
    if kind is not None:
        stmt = stmt.where(Event.kind == kind)
    return list(session.scalars(stmt.order_by(Event.id).limit(limit)))


def publish_heartbeat(session: Session, host: str, **info: Any) -> Event:
    """Record that a worker on ``host`` is alive (topic ``worker``)."""
    return publish_event(session, "worker", "heartbeat", {"host": host, **info})


def last_heartbeat(session: Session) -> Event | None:
    """The newest worker heartbeat, if any."""
    stmt = sa.select(Event).where(Event.topic == "worker").order_by(Event.id.desc()).limit(1)
    return session.scalars(stmt).first()


def prune_events(session: Session, older_than: dt.datetime) -> int:
    """Delete events created before ``older_than``; return how many."""
    result = session.execute(sa.delete(Event).where(Event.created_at < older_than))
    return int(result.rowcount or 0)


# --------------------------------------------------------------------------
# Registering products (the pipeline's side)
# --------------------------------------------------------------------------
def register_group(
    session: Session,
    *,
    group_id: str,
    start_time: dt.datetime,
    start_mjd: float,
    **fields: Any,
) -> ObservationGroup:
    """Create or update an observation group (the 16 subbands of one chunk)."""
    group = session.get(ObservationGroup, group_id)
    if group is None:
        group = ObservationGroup(id=group_id, start_time=start_time, start_mjd=start_mjd)
        session.add(group)
    _set_fields(group, fields)
    session.flush()
    publish_event(session, "group", "updated", {"group_id": group_id, "state": str(group.state)})
    return group


def register_raw_file(
    session: Session, *, path: str, subband: int, size_bytes: int, mtime: float, **fields: Any
) -> RawFile:
    """Record a UVH5 subband file seen in the incoming folder."""
    raw = RawFile(path=path, subband=subband, size_bytes=size_bytes, mtime=mtime)
    _set_fields(raw, fields)
    session.add(raw)
    session.flush()
    touch(session, "raw", "indexed")
    return raw


def register_ms(
    session: Session,
    *,
    path: str,
    mjd_start: float,
    mjd_mid: float,
    mjd_end: float,
    **fields: Any,
) -> MeasurementSet:
    """Create or update the record of a Measurement Set (keyed by its path)."""
    ms = session.scalars(sa.select(MeasurementSet).where(MeasurementSet.path == path)).first()
    if ms is None:
        ms = MeasurementSet(path=path, mjd_start=mjd_start, mjd_mid=mjd_mid, mjd_end=mjd_end)
        session.add(ms)
    else:
        ms.mjd_start, ms.mjd_mid, ms.mjd_end = mjd_start, mjd_mid, mjd_end
    _set_fields(ms, fields)
    session.flush()
    publish_event(session, "ms", "registered", {"id": ms.id, "path": path, "stage": str(ms.stage)})
    return ms


def register_cal_table(
    session: Session,
    *,
    path: str,
    table_type: str,
    set_name: str,
    valid_start_mjd: float,
    valid_end_mjd: float,
    source_ms_path: str | None = None,
    **fields: Any,
) -> CalTable:
    """Register a calibration table, linked to the MS it was solved on when that is known."""
    table = CalTable(
        path=path,
        table_type=table_type,
        set_name=set_name,
        valid_start_mjd=valid_start_mjd,
        valid_end_mjd=valid_end_mjd,
        source_ms_path=source_ms_path,
    )
    if source_ms_path is not None:
        table.source_ms_id = session.scalar(
            sa.select(MeasurementSet.id).where(MeasurementSet.path == source_ms_path)
        )
    _set_fields(table, fields)
    session.add(table)
    session.flush()
    publish_event(session, "cal", "new", {"id": table.id, "path": path, "type": table_type})
    return table


def record_cal_application(
    session: Session, *, ms_path: str, cal_path: str, job_run_id: str | None = None
) -> CalApplication:
    """Record that the table at ``cal_path`` was applied to the MS at ``ms_path``."""
    ms = get_ms(session, ms_path)
    table = get_cal_table(session, cal_path)
    job_id = get_job(session, job_run_id).id if job_run_id else None
    application = CalApplication(ms_id=ms.id, cal_table_id=table.id, job_id=job_id)
    ms.cal_applied = True
    session.add(application)
    session.flush()
    return application


def register_image(
    session: Session,
    *,
    path: str,
    mjd_obs: float,
    ra_deg: float,
    dec_deg: float,
    size_x: int,
    size_y: int,
    cell_arcsec: float,
    image_type: str = "image",
    ms_path: str | None = None,
    **fields: Any,
) -> Image:
    """Register a FITS image with its beam and QA, and announce it (topic ``image``)."""
    ms_id = get_ms(session, ms_path).id if ms_path else None
    image = Image(
        path=path,
        ms_id=ms_id,
        image_type=image_type,
        mjd_obs=mjd_obs,
        ra_deg=ra_deg,
        dec_deg=dec_deg,
        size_x=size_x,
        size_y=size_y,
        cell_arcsec=cell_arcsec,
    )
    _set_fields(image, fields)
    session.add(image)
    session.flush()
    payload = {"id": image.id, "path": path, "mjd_obs": mjd_obs, "noise_jy": image.noise_jy}
    publish_event(session, "image", "new", payload)
    return image


def register_source(
    session: Session, *, name: str, ra_deg: float, dec_deg: float, **fields: Any
) -> Source:
    """Return the source called ``name``, creating it at (ra, dec) if it is new."""
    source = session.scalars(sa.select(Source).where(Source.name == name)).first()
    if source is None:
        source = Source(name=name, ra_deg=ra_deg, dec_deg=dec_deg)
        _set_fields(source, fields)
        session.add(source)
        session.flush()
        publish_event(session, "source", "new", {"id": source.id, "name": name})
    return source


def add_photometry(session: Session, image_id: int, rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert the forced measurements made on one image; return how many.

    Parameters
    ----------
    image_id
        The image measured.
    rows
        One mapping per source with ``source_id``, ``mjd``, ``flux_jy``,
        ``flux_err_jy`` and optionally the other :class:`~.models.Photometry`
        columns.
    """
    records = [{**row, "image_id": image_id} for row in rows]
    if not records:
        return 0
    now = utcnow()
    for record in records:
        record.setdefault("created_at", now)
        record.setdefault("is_upper_limit", False)
        record.setdefault("flags", 0)
    session.execute(sa.insert(Photometry), records)
    publish_event(session, "photometry", "new", {"image_id": image_id, "count": len(records)})
    return len(records)


def upsert_variability(session: Session, source_id: int, **metrics: Any) -> VariabilityMetrics:
    """Create or replace the variability metrics of a source."""
    row = session.get(VariabilityMetrics, source_id)
    if row is None:
        row = VariabilityMetrics(source_id=source_id)
        session.add(row)
    _set_fields(row, metrics)
    session.flush()
    touch(session, "variability")
    return row


def register_candidate(
    session: Session, *, source_id: int, kind: str, score: float, **fields: Any
) -> Candidate:
    """Create or update the candidate of one kind for a source (topic ``candidate``)."""
    stmt = sa.select(Candidate).where(Candidate.source_id == source_id, Candidate.kind == kind)
    candidate = session.scalars(stmt).first()
    is_new = candidate is None
    if candidate is None:
        candidate = Candidate(source_id=source_id, kind=kind, score=score)
        session.add(candidate)
    candidate.score = score
    _set_fields(candidate, fields)
    session.flush()
    payload = {"id": candidate.id, "source_id": source_id, "kind": str(kind), "score": score}
    publish_event(session, "candidate", "new" if is_new else "updated", payload)
    return candidate


def set_candidate_status(
    session: Session, candidate_id: int, status: CandidateStatus | str, note: str | None = None
) -> Candidate:
    """A human's verdict on a candidate: ``confirmed``, ``dismissed`` or back to ``new``."""
    candidate = get_candidate(session, candidate_id)
    candidate.status = CandidateStatus(status)
    if note is not None:
        candidate.note = note
    session.flush()
    payload = {"id": candidate.id, "status": str(candidate.status)}
    publish_event(session, "candidate", "status", payload)
    return candidate


def register_mosaic(
    session: Session,
    *,
    name: str,
    path: str,
    tiles: Sequence[tuple[int, float | None]] = (),
    **fields: Any,
) -> Mosaic:
    """Register a mosaic and the images (with weights) it was made of."""
    mosaic = Mosaic(name=name, path=path)
    _set_fields(mosaic, fields)
    mosaic.tiles = [MosaicTile(image_id=i, weight=w) for i, w in tiles]
    session.add(mosaic)
    session.flush()
    publish_event(session, "mosaic", "new", {"id": mosaic.id, "name": name})
    return mosaic


# --------------------------------------------------------------------------
# Jobs and batches (the pipeline reports, the API requests)
# --------------------------------------------------------------------------
def _job_event(session: Session, job: Job, kind: str, **extra: Any) -> None:
    payload = {"run_id": job.run_id, "job_type": job.job_type, "status": str(job.status)}
    publish_event(session, f"job:{job.run_id}", kind, {**payload, **extra})


def create_job(
    session: Session,
    *,
    job_type: str,
    run_id: str | None = None,
    parent_run_id: str | None = None,
    **fields: Any,
) -> Job:
    """Create a pending job; its events go to topic ``job:<run_id>``."""
    job = Job(run_id=run_id or new_run_id(job_type), job_type=job_type)
    if parent_run_id is not None:
        job.parent_id = get_job(session, parent_run_id).id
    _set_fields(job, fields)
    session.add(job)
    session.flush()
    _job_event(session, job, "created")
    return job


def start_job(session: Session, run_id: str, *, host: str | None = None) -> Job:
    """Mark a job running now."""
    job = get_job(session, run_id)
    job.status, job.started_at, job.progress = JobStatus.RUNNING, utcnow(), 0.0
    job.host = host or job.host
    session.flush()
    _job_event(session, job, "started")
    return job


def update_job_progress(
    session: Session, run_id: str, progress: float, message: str | None = None
) -> Job:
    """Record a running job's progress (0..1) and announce it."""
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"progress must be within 0..1, not {progress}")
    job = get_job(session, run_id)
    job.progress = progress
    session.flush()
    _job_event(session, job, "progress", progress=progress, message=message)
    return job


def finish_job(
    session: Session,
    run_id: str,
    *,
    status: JobStatus | str = JobStatus.SUCCEEDED,
    outputs: Mapping[str, Any] | None = None,
    error: str | None = None,
) -> Job:
    """Mark a job finished (succeeded, failed or cancelled) with its outputs or error."""
    job = get_job(session, run_id)
    job.status = JobStatus(status)
    job.finished_at = utcnow()
    if job.started_at is not None:
        job.duration_s = (job.finished_at - job.started_at).total_seconds()
    if job.status is JobStatus.SUCCEEDED:
        job.progress = 1.0
    if outputs is not None:
        job.outputs = dict(outputs)
    job.error = error
    session.flush()
    _job_event(session, job, "finished", error=error)
    return job


def create_batch(
    session: Session,
    operation: str,
    items: Sequence[tuple[str, str]],
    *,
    params: Mapping[str, Any] | None = None,
    requested_by: str | None = None,
) -> Job:
    """Create a batch job (``job_type='batch'``) with one pending item per target.

    Parameters
    ----------
    operation
        What the pipeline should do to each item: ``reprocess``, ``rerun``,
        ``cancel``, ``reimage``.
    items
        ``(item_type, item_key)`` pairs, e.g. ``("group", "2026-11-28T12:00:00")``.
    params
        Extra parameters recorded with the batch.
    requested_by
        Who asked (an API key's fingerprint, a user name).
    """
    if not items:
        raise InvalidQueryError("a batch needs at least one item")
    if len(items) > MAX_BATCH_ITEMS:
        raise InvalidQueryError(f"a batch holds at most {MAX_BATCH_ITEMS} items, not {len(items)}")
    job = Job(
        run_id=new_run_id(f"batch-{operation}"),
        job_type="batch",
        params={"operation": operation, **dict(params or {})},
        requested_by=requested_by,
    )
    job.items = [
        BatchItem(position=i, item_type=kind, item_key=key) for i, (kind, key) in enumerate(items)
    ]
    session.add(job)
    session.flush()
    _job_event(session, job, "created", operation=operation, n_items=len(items))
    return job


def groups_in_range(session: Session, mjd_start: float, mjd_end: float) -> list[str]:
    """Ids of the groups starting within [mjd_start, mjd_end], oldest first."""
    stmt = (
        sa.select(ObservationGroup.id)
        .where(ObservationGroup.start_mjd.between(mjd_start, mjd_end))
        .order_by(ObservationGroup.start_mjd)
        .limit(MAX_BATCH_ITEMS + 1)
    )
    return list(session.scalars(stmt))


def require_groups(session: Session, group_ids: Sequence[str]) -> None:
    """Raise :class:`NotFoundError` unless every group id is registered."""
    found = set(
        session.scalars(sa.select(ObservationGroup.id).where(ObservationGroup.id.in_(group_ids)))
    )
    missing = [g for g in group_ids if g not in found]
    if missing:
        raise NotFoundError(f"unknown group(s): {', '.join(missing[:10])}")


def require_jobs(session: Session, run_ids: Sequence[str]) -> list[Job]:
    """The jobs with these run ids; :class:`NotFoundError` if any is unknown."""
    jobs = {j.run_id: j for j in session.scalars(sa.select(Job).where(Job.run_id.in_(run_ids)))}
    missing = [r for r in run_ids if r not in jobs]
    if missing:
        raise NotFoundError(f"unknown job(s): {', '.join(missing[:10])}")
    return [jobs[r] for r in run_ids]


def require_ms_paths(session: Session, paths: Sequence[str]) -> None:
    """Raise :class:`NotFoundError` unless every MS path is registered."""
    found = set(
        session.scalars(sa.select(MeasurementSet.path).where(MeasurementSet.path.in_(paths)))
    )
    missing = [p for p in paths if p not in found]
    if missing:
        raise NotFoundError(f"unregistered MS path(s): {', '.join(missing[:10])}")


def request_cancel(session: Session, run_ids: Sequence[str], *, requested_by: str | None) -> Job:
    """Create a cancel batch; jobs still pending are cancelled at once.

    Running jobs are left to the pipeline, which stops them when it executes
    the batch. Jobs already finished are a :class:`ConflictError`.
    """
    jobs = require_jobs(session, run_ids)
    finished = [j.run_id for j in jobs if j.status not in (JobStatus.PENDING, JobStatus.RUNNING)]
    if finished:
        raise ConflictError(f"job(s) already finished: {', '.join(finished[:10])}")
    batch = create_batch(
        session, "cancel", [("job", j.run_id) for j in jobs], requested_by=requested_by
    )
    for job, item in zip(jobs, batch.items, strict=True):
        if job.status is JobStatus.PENDING:
            finish_job(
                session, job.run_id, status=JobStatus.CANCELLED, error="cancelled on request"
            )
            item.status = JobStatus.SUCCEEDED
    session.flush()
    return batch


# --------------------------------------------------------------------------
# Reading single records
# --------------------------------------------------------------------------
def _one(session: Session, stmt: sa.Select[Any], what: str) -> Any:
    row = session.scalars(stmt).first()
    if row is None:
        raise NotFoundError(f"{what} is not registered")
    return row


def get_group(session: Session, group_id: str) -> ObservationGroup:
    """The group with this id, or :class:`NotFoundError`."""
    return _one(
        session, sa.select(ObservationGroup).where(ObservationGroup.id == group_id), "group"
    )


def get_ms(session: Session, path: str) -> MeasurementSet:
    """The MS registered at ``path``, or :class:`NotFoundError`."""
    stmt = sa.select(MeasurementSet).where(MeasurementSet.path == path)
    return _one(session, stmt, f"MS {path!r}")


def get_cal_table(session: Session, path: str) -> CalTable:
    """The calibration table registered at ``path``, or :class:`NotFoundError`."""
    return _one(session, sa.select(CalTable).where(CalTable.path == path), f"cal table {path!r}")


def get_image(session: Session, image_id: int) -> Image:
    """The image with this id, or :class:`NotFoundError`."""
    return _one(session, sa.select(Image).where(Image.id == image_id), f"image {image_id}")


def get_source(session: Session, source_id: int) -> Source:
    """The source with this id, or :class:`NotFoundError`."""
    return _one(session, sa.select(Source).where(Source.id == source_id), f"source {source_id}")


def get_variability(session: Session, source_id: int) -> VariabilityMetrics:
    """The variability metrics of a source, or :class:`NotFoundError`."""
    get_source(session, source_id)
    stmt = sa.select(VariabilityMetrics).where(VariabilityMetrics.source_id == source_id)
    return _one(session, stmt, f"variability of source {source_id}")


def get_candidate(session: Session, candidate_id: int) -> Candidate:
    """The candidate with this id, or :class:`NotFoundError`."""
    stmt = sa.select(Candidate).where(Candidate.id == candidate_id)
    return _one(session, stmt, f"candidate {candidate_id}")


def get_job(session: Session, run_id: str) -> Job:
    """The job with this run id, or :class:`NotFoundError`."""
    return _one(session, sa.select(Job).where(Job.run_id == run_id), f"job {run_id!r}")


def get_mosaic(session: Session, mosaic_id: int) -> Mosaic:
    """The mosaic with this id, or :class:`NotFoundError`."""
    return _one(session, sa.select(Mosaic).where(Mosaic.id == mosaic_id), f"mosaic {mosaic_id}")


def ms_of_group(session: Session, group_id: str) -> list[MeasurementSet]:
    """The Measurement Sets made from a group."""
    stmt = sa.select(MeasurementSet).where(MeasurementSet.group_id == group_id)
    return list(session.scalars(stmt.order_by(MeasurementSet.id)))


def files_of_group(session: Session, group_id: str) -> list[RawFile]:
    """The raw subband files of a group, by subband."""
    stmt = sa.select(RawFile).where(RawFile.group_id == group_id).order_by(RawFile.subband)
    return list(session.scalars(stmt))


def images_of_ms(session: Session, ms_id: int) -> list[Image]:
    """The images made from one MS."""
    stmt = sa.select(Image).where(Image.ms_id == ms_id).order_by(Image.id)
    return list(session.scalars(stmt))


def cal_applied_to(session: Session, ms_id: int) -> list[CalTable]:
    """The calibration tables applied to one MS."""
    stmt = (
        sa.select(CalTable)
        .join(CalApplication, CalApplication.cal_table_id == CalTable.id)
        .where(CalApplication.ms_id == ms_id)
        .order_by(CalTable.id)
    )
    return list(session.scalars(stmt))


def calibrator_matches(session: Session, ms: MeasurementSet) -> list[CalTable]:
    """Valid calibration tables whose validity covers the MS and whose declination matches."""
    stmt = sa.select(CalTable).where(
        CalTable.status == CalTableStatus.VALID,
        CalTable.valid_start_mjd <= ms.mjd_mid,
        CalTable.valid_end_mjd >= ms.mjd_mid,
    )
    dec = ms.pointing_dec_deg
    if dec is not None:
        stmt = stmt.where(
            sa.or_(
                CalTable.dec_deg.is_(None),
                CalTable.dec_deg.between(dec - CAL_DEC_TOLERANCE_DEG, dec + CAL_DEC_TOLERANCE_DEG),
            )
        )
    return list(session.scalars(stmt.order_by(CalTable.valid_start_mjd.desc(), CalTable.id)))


def job_children(session: Session, job_id: int) -> list[Job]:
    """The jobs started as parts of a job."""
    return list(session.scalars(sa.select(Job).where(Job.parent_id == job_id).order_by(Job.id)))


def job_items(session: Session, job_id: int) -> list[BatchItem]:
    """The items of a batch job, in order."""
    stmt = sa.select(BatchItem).where(BatchItem.batch_id == job_id).order_by(BatchItem.position)
    return list(session.scalars(stmt))


def mosaic_tiles(session: Session, mosaic_id: int) -> list[MosaicTile]:
    """The tiles of a mosaic."""
    stmt = sa.select(MosaicTile).where(MosaicTile.mosaic_id == mosaic_id)
    return list(session.scalars(stmt.order_by(MosaicTile.image_id)))


# --------------------------------------------------------------------------
# Lists
# --------------------------------------------------------------------------
SORTABLE: dict[str, dict[str, Any]] = {
    "groups": {
        "start_mjd": ObservationGroup.start_mjd,
        "state": ObservationGroup.state,
        "files_present": ObservationGroup.files_present,
    },
    "ms": {
        "id": MeasurementSet.id,
        "mjd_mid": MeasurementSet.mjd_mid,
        "stage": MeasurementSet.stage,
        "path": MeasurementSet.path,
        "size_bytes": MeasurementSet.size_bytes,
    },
    "cal": {
        "id": CalTable.id,
        "valid_start_mjd": CalTable.valid_start_mjd,
        "table_type": CalTable.table_type,
        "created_at": CalTable.created_at,
    },
    "images": {
        "id": Image.id,
        "mjd_obs": Image.mjd_obs,
        "noise_jy": Image.noise_jy,
        "dynamic_range": Image.dynamic_range,
        "dec_deg": Image.dec_deg,
    },
    "sources": {
        "id": Source.id,
        "name": Source.name,
        "ra_deg": Source.ra_deg,
        "dec_deg": Source.dec_deg,
        "catalog_flux_jy": Source.catalog_flux_jy,
        "eta": VariabilityMetrics.eta,
        "v": VariabilityMetrics.v,
        "n_epochs": VariabilityMetrics.n_epochs,
    },
    "photometry": {
        "id": Photometry.id,
        "mjd": Photometry.mjd,
        "flux_jy": Photometry.flux_jy,
        "snr": Photometry.snr,
        "source_id": Photometry.source_id,
    },
    "candidates": {
        "id": Candidate.id,
        "score": Candidate.score,
        "created_at": Candidate.created_at,
        "status": Candidate.status,
    },
    "jobs": {
        "id": Job.id,
        "created_at": Job.created_at,
        "started_at": Job.started_at,
        "duration_s": Job.duration_s,
        "status": Job.status,
    },
    "mosaics": {"id": Mosaic.id, "mjd_start": Mosaic.mjd_start, "noise_jy": Mosaic.noise_jy},
}

#: The unfiltered select of each one-table list (shared: its counts and pages are built once).
_LISTS = {
    model: shared(sa.select(model))
    for model in (
        ObservationGroup,
        MeasurementSet,
        CalTable,
        Image,
        Photometry,
        Candidate,
        Job,
        Mosaic,
    )
}

#: Default sort of each list: newest science first.
DEFAULT_SORT = {
    "groups": "-start_mjd",
    "ms": "-mjd_mid",
    "cal": "-valid_start_mjd",
    "images": "-mjd_obs",
    "sources": "id",
    "photometry": "mjd",
    "candidates": "-score",
    "jobs": "-created_at",
    "mosaics": "-mjd_start",
}


def _page_of(
    session: Session,
    resource: str,
    model: Any,
    stmt: sa.Select[Any],
    sort: str | None,
    limit: int,
    offset: int,
) -> Page:
    """One sorted page of a one-table list, its rows as dictionaries of ``model``'s columns.

    Core rows, not ORM objects: lists are the API's hot path, and loading
    entities (then reading their attributes back) dominated their time.
    """
    _check_page(limit, offset)
    column, desc = _sort_key(SORTABLE[resource], sort or DEFAULT_SORT[resource])
    total = count_rows(session, stmt)
    columns = record_columns(model)
    rows = sorted_slice(
        session,
        _derived(stmt, ("rows",), lambda: stmt.with_only_columns(*columns)),
        column=column,
        desc=desc,
        tiebreak=sa.inspect(model).primary_key[0],
        limit=limit,
        offset=offset,
        total=total,
    )
    keys = [c.key for c in columns]
    items = [dict(zip(keys, row, strict=True)) for row in rows]
    # States as their strings, as the API writes them (serialising enum members
    # took pydantic-core ~2.5 us each: 0.25 ms of a page of 50 candidates).
    states = [c.key for c in columns if isinstance(c.type, sa.Enum)]
    for item in items:
        for key in states:
            if item[key] is not None:
                item[key] = item[key].value
    return Page(items=items, total=total, limit=limit, offset=offset)


def list_groups(
    session: Session,
    *,
    state: str | None = None,
    mjd_min: float | None = None,
    mjd_max: float | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Observation groups, filtered by state and start time."""
    stmt = _between(_LISTS[ObservationGroup], ObservationGroup.start_mjd, mjd_min, mjd_max)
    if state is not None:
        stmt = stmt.where(ObservationGroup.state == GroupState(state))
    return _page_of(session, "groups", ObservationGroup, stmt, sort, limit, offset)


def list_ms(
    session: Session,
    *,
    stage: str | None = None,
    status: str | None = None,
    group_id: str | None = None,
    cal_applied: bool | None = None,
    mjd_min: float | None = None,
    mjd_max: float | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Measurement Sets, filtered by stage, status, group, calibration and time."""
    stmt = _between(_LISTS[MeasurementSet], MeasurementSet.mjd_mid, mjd_min, mjd_max)
    for column, value in (
        (MeasurementSet.stage, stage),
        (MeasurementSet.status, status),
        (MeasurementSet.group_id, group_id),
        (MeasurementSet.cal_applied, cal_applied),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    return _page_of(session, "ms", MeasurementSet, stmt, sort, limit, offset)


def list_cal_tables(
    session: Session,
    *,
    table_type: str | None = None,
    status: str | None = None,
    set_name: str | None = None,
    valid_at_mjd: float | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Calibration tables, filtered by type, status, set and validity at a time."""
    stmt = _LISTS[CalTable]
    for column, value in (
        (CalTable.table_type, table_type),
        (CalTable.status, status),
        (CalTable.set_name, set_name),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if valid_at_mjd is not None:
        stmt = stmt.where(
            CalTable.valid_start_mjd <= valid_at_mjd, CalTable.valid_end_mjd >= valid_at_mjd
        )
    return _page_of(session, "cal", CalTable, stmt, sort, limit, offset)


def list_images(
    session: Session,
    *,
    ms_path: str | None = None,
    image_type: str | None = None,
    status: str | None = None,
    qa_grade: str | None = None,
    pbcor: bool | None = None,
    mjd_min: float | None = None,
    mjd_max: float | None = None,
    noise_max_jy: float | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Images, filtered by MS, type, status, QA grade, time and noise."""
    stmt = images_query(
        ms_path=ms_path,
        image_type=image_type,
        status=status,
        qa_grade=qa_grade,
        pbcor=pbcor,
        mjd_min=mjd_min,
        mjd_max=mjd_max,
        noise_max_jy=noise_max_jy,
    )
    return _page_of(session, "images", Image, stmt, sort, limit, offset)


def images_query(
    *,
    ms_path: str | None = None,
    image_type: str | None = None,
    status: str | None = None,
    qa_grade: str | None = None,
    pbcor: bool | None = None,
    mjd_min: float | None = None,
    mjd_max: float | None = None,
    noise_max_jy: float | None = None,
) -> sa.Select[Any]:
    """The filtered ``select`` behind :func:`list_images` (also used by exports)."""
    stmt = _between(_LISTS[Image], Image.mjd_obs, mjd_min, mjd_max)
    stmt = _between(stmt, Image.noise_jy, None, noise_max_jy)
    if ms_path is not None:
        stmt = stmt.join(MeasurementSet, MeasurementSet.id == Image.ms_id).where(
            MeasurementSet.path == ms_path
        )
    for column, value in (
        (Image.image_type, image_type),
        (Image.status, status),
        (Image.qa_grade, qa_grade),
        (Image.pbcor, pbcor),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    return stmt


def angular_separation_deg(
    ra1: np.ndarray, dec1: np.ndarray, ra2: float, dec2: float
) -> np.ndarray:
    """Great-circle distance (deg) by the Vincenty formula, stable at all separations."""
    r1, d1, r2, d2 = map(np.radians, (ra1, dec1, ra2, dec2))
    dra = r1 - r2
    num = np.hypot(
        np.cos(d1) * np.sin(dra), np.cos(d2) * np.sin(d1) - np.sin(d2) * np.cos(d1) * np.cos(dra)
    )
    den = np.sin(d2) * np.sin(d1) + np.cos(d2) * np.cos(d1) * np.cos(dra)
    return np.degrees(np.arctan2(num, den))


def _ra_window(ra_deg: float, dec_deg: float, radius_deg: float) -> Any:
    """A condition on RA that every source within the cone meets (None: any RA may)."""
    if abs(dec_deg) + radius_deg >= 90.0:
        return None  # the cone holds a pole: all RAs
    ratio = math.sin(math.radians(radius_deg)) / math.cos(math.radians(dec_deg))
    half = math.degrees(math.asin(min(1.0, ratio))) + 1e-6  # widest RA offset in the cone
    low, high, ra = ra_deg - half, ra_deg + half, Source.ra_deg
    if half >= 180.0:
        return None
    if low < 0.0:
        return sa.or_(ra >= low + 360.0, ra <= high)
    if high >= 360.0:
        return sa.or_(ra >= low, ra <= high - 360.0)
    return ra.between(low, high)


def cone_source_ids(
    session: Session, ra_deg: float, dec_deg: float, radius_deg: float
) -> list[int]:
    """Ids of the sources within ``radius_deg`` of (ra, dec).

    A declination band and an RA window (both read from the ``(dec, ra)``
    index) narrow the candidates; the exact distance decides.
    """
    dec_lo, dec_hi = max(-90.0, dec_deg - radius_deg), min(90.0, dec_deg + radius_deg)
    stmt = sa.select(Source.id, Source.ra_deg, Source.dec_deg).where(
        Source.dec_deg.between(dec_lo, dec_hi)
    )
    window = _ra_window(ra_deg, dec_deg, radius_deg)
    if window is not None:
        stmt = stmt.where(window)
    rows = session.connection().execute(stmt).all()
    if not rows:
        return []
    ids, ras, decs = (np.asarray(col) for col in zip(*rows, strict=True))
    inside = angular_separation_deg(ras, decs, ra_deg, dec_deg) <= radius_deg
    matched = ids[inside]
    if matched.size > MAX_CONE_MATCHES:
        raise InvalidQueryError(
            f"the cone holds {matched.size} sources (more than {MAX_CONE_MATCHES})",
            hint="use a smaller radius",
        )
    return [int(i) for i in matched]


def _source_filters(
    session: Session,
    *,
    cone: tuple[float, float, float] | None = None,
    name: str | None = None,
    catalog: str | None = None,
    is_reference: bool | None = None,
    eta_min: float | None = None,
    v_min: float | None = None,
    n_epochs_min: int | None = None,
    candidates_only: bool = False,
) -> tuple[list[Any], list[Any], list[int] | None]:
    """The conditions of the sources filters: on ``sources``, on ``variability_metrics``,
    and the ids in the cone (None without a cone)."""
    on_sources: list[Any] = []
    cone_ids = None
    if cone is not None:
        cone_ids = cone_source_ids(session, *cone)
        # One expanding parameter: no expression built per id.
        on_sources.append(Source.id.in_(sa.bindparam("cone_ids", cone_ids, expanding=True)))
    if name:
        on_sources.append(Source.name.contains(name, autoescape=True))
    if catalog is not None:
        on_sources.append(Source.catalog == catalog)
    if is_reference is not None:
        on_sources.append(Source.is_reference == is_reference)
    if candidates_only:
        on_sources.append(sa.exists().where(Candidate.source_id == Source.id))
    on_metrics = [
        column >= low
        for column, low in (
            (VariabilityMetrics.eta, eta_min),
            (VariabilityMetrics.v, v_min),
            (VariabilityMetrics.n_epochs, n_epochs_min),
        )
        if low is not None
    ]
    return on_sources, on_metrics, cone_ids


def sources_query(session: Session, **filters: Any) -> sa.Select[Any]:
    """The filtered ``select`` of (source, metrics) behind :func:`list_sources` (and exports).

    Sources without metrics are kept (outer join) unless a metrics filter asks for values.
    """
    on_sources, on_metrics, _ = _source_filters(session, **filters)
    return (
        sa.select(Source, VariabilityMetrics)
        .outerjoin(VariabilityMetrics, VariabilityMetrics.source_id == Source.id)
        .where(*on_sources, *on_metrics)
    )


#: Running sums behind the incremental metric updates: internal, not part of a source's record.
VARIABILITY_BOOKKEEPING = ("sum_w", "sum_wf", "sum_wf2", "sum_f", "sum_f2")
#: The metric columns a source's record carries (``source_id`` first).
_METRIC_COLUMNS = [
    c for c in record_columns(VariabilityMetrics) if c.key not in VARIABILITY_BOOKKEEPING
]
_SOURCE_COLUMNS = record_columns(Source)
# The unfiltered selects behind the sources list (shared: their counts and pages are built once).
_SOURCE_IDS = shared(sa.select(Source.id))
_MEASURED_IDS = shared(sa.select(VariabilityMetrics.source_id))
_SOURCE_IDS_WITH_METRICS = shared(
    sa.select(Source.id).outerjoin(VariabilityMetrics, VariabilityMetrics.source_id == Source.id)
)


def list_sources(
    session: Session,
    *,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
    **filters: Any,
) -> Page:
    """Sources with their variability metrics (as dictionaries), by cone and variability.

    The page's ids are found first, each query walking one index (a sort by a
    metric walks the metrics table's; sources without metrics come last),
    then only those rows are read with their metrics.

    Parameters
    ----------
    **filters
        Those of :func:`sources_query`: ``cone`` as ``(ra_deg, dec_deg,
        radius_deg)``; ``name`` (a substring); ``catalog``; ``is_reference``;
        lower bounds ``eta_min``, ``v_min``, ``n_epochs_min`` (sources without
        metrics fail them); ``candidates_only``.

    Returns
    -------
    Page
        Items are the source's columns plus ``variability``: its metrics
        without the running sums (:data:`VARIABILITY_BOOKKEEPING`), or None.
    """
    _check_page(limit, offset)
    column, desc = _sort_key(SORTABLE["sources"], sort or DEFAULT_SORT["sources"])
    on_sources, on_metrics, cone_ids = _source_filters(session, **filters)
    metrics_join = VariabilityMetrics.source_id == Source.id
    ids = _where(_SOURCE_IDS, *on_sources)
    if on_metrics:  # an inner join: a metrics filter needs values
        ids = ids.join(VariabilityMetrics, metrics_join).where(*on_metrics)
    if cone_ids is not None and len(on_sources) == 1 and not on_metrics:
        # Only a cone: its ids are the rows (no count), and in id order they are the page.
        total = len(cone_ids)
        if column is Source.id:
            page_ids = sorted(cone_ids, reverse=desc)[offset : offset + limit]
            items = _sources_with_metrics(session, page_ids)
            return Page(items=items, total=total, limit=limit, offset=offset)
    else:
        total = count_rows(session, ids)
    slicing = dict(limit=limit, offset=offset, total=total, desc=desc, column=column)
    if getattr(column, "class_", None) is VariabilityMetrics:
        valued = _where(_MEASURED_IDS, *on_metrics)
        if on_sources:
            valued = valued.join(Source, metrics_join).where(*on_sources)
        rows = sorted_slice(
            session,
            valued,
            tiebreak=VariabilityMetrics.source_id,
            nullable=True,
            null_stmt=_where(_SOURCE_IDS_WITH_METRICS, *on_sources, *on_metrics),
            null_tiebreak=Source.id,
            **slicing,
        )
    else:
        rows = sorted_slice(session, ids, tiebreak=Source.id, **slicing)
    items = _sources_with_metrics(session, [row[0] for row in rows])
    return Page(items=items, total=total, limit=limit, offset=offset)


# Built once (a hot path): the records of a page of sources, by id, with their metrics.
_SOURCES_BY_ID = (
    sa.select(*_SOURCE_COLUMNS, *_METRIC_COLUMNS)
    .outerjoin(VariabilityMetrics, VariabilityMetrics.source_id == Source.id)
    .where(Source.id.in_(sa.bindparam("ids", expanding=True)))
)


def _sources_with_metrics(session: Session, ids: list[int]) -> list[dict[str, Any]]:
    """The records of sources ``ids`` (in that order), each with its metrics or None."""
    if not ids:
        return []
    source_keys = [c.key for c in _SOURCE_COLUMNS]
    metric_keys = [c.key for c in _METRIC_COLUMNS]
    n = len(source_keys)
    by_id = {}
    for row in session.connection().execute(_SOURCES_BY_ID, {"ids": ids}):
        item = dict(zip(source_keys, row[:n], strict=True))
        metrics = row[n:]
        item["variability"] = (
            dict(zip(metric_keys, metrics, strict=True)) if metrics[0] is not None else None
        )
        by_id[item["id"]] = item
    return [by_id[i] for i in ids]


def list_photometry(
    session: Session,
    *,
    source_id: int | None = None,
    image_id: int | None = None,
    mjd_min: float | None = None,
    mjd_max: float | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Photometry rows, by source, image and time."""
    stmt = photometry_query(
        source_id=source_id, image_id=image_id, mjd_min=mjd_min, mjd_max=mjd_max
    )
    return _page_of(session, "photometry", Photometry, stmt, sort, limit, offset)


def photometry_query(
    *,
    source_id: int | None = None,
    image_id: int | None = None,
    mjd_min: float | None = None,
    mjd_max: float | None = None,
) -> sa.Select[Any]:
    """The filtered ``select`` behind :func:`list_photometry` (also used by exports)."""
    stmt = _between(_LISTS[Photometry], Photometry.mjd, mjd_min, mjd_max)
    if source_id is not None:
        stmt = stmt.where(Photometry.source_id == source_id)
    if image_id is not None:
        stmt = stmt.where(Photometry.image_id == image_id)
    return stmt


#: Columns of a light-curve point, in order.
LIGHT_CURVE_COLUMNS = (
    "mjd",
    "flux_jy",
    "flux_err_jy",
    "norm_flux_jy",
    "norm_flux_err_jy",
    "snr",
    "local_rms_jy",
    "is_upper_limit",
    "flags",
    "image_id",
)


_PHOTOMETRY = Photometry.__table__.c
_SOURCES = Source.__table__.c
# Hot paths of the API, built once: Core statements on table columns with bound parameters.
_SOURCE_NAME = sa.select(_SOURCES.name).where(_SOURCES.id == sa.bindparam("source_id"))
_LIGHT_CURVE = (
    sa.select(*(_PHOTOMETRY[c] for c in LIGHT_CURVE_COLUMNS))
    .where(
        _PHOTOMETRY.source_id == sa.bindparam("source_id"),
        _PHOTOMETRY.mjd >= sa.bindparam("mjd_min"),
        _PHOTOMETRY.mjd <= sa.bindparam("mjd_max"),
    )
    .order_by(_PHOTOMETRY.mjd)
)


def source_name(session: Session, source_id: int) -> str:
    """The name of a source, or :class:`NotFoundError`."""
    name = session.connection().execute(_SOURCE_NAME, {"source_id": source_id}).scalar()
    if name is None:
        raise NotFoundError(f"source {source_id} is not registered")
    return str(name)


def light_curve(
    session: Session,
    source_id: int,
    *,
    mjd_min: float | None = None,
    mjd_max: float | None = None,
) -> list[dict[str, Any]]:
    """The measurements of one source in time order, raw and normalised.

    A hot path of the API: one prebuilt Core query on table columns (no ORM
    entities), served by the ``(source_id, mjd)`` index.

    Raises
    ------
    NotFoundError
        If the source is not registered.
    """
    source_name(session, source_id)
    params = {
        "source_id": source_id,
        "mjd_min": -math.inf if mjd_min is None else mjd_min,
        "mjd_max": math.inf if mjd_max is None else mjd_max,
    }
    rows = session.connection().execute(_LIGHT_CURVE, params).all()
    return [dict(zip(LIGHT_CURVE_COLUMNS, row, strict=True)) for row in rows]


def list_candidates(
    session: Session,
    *,
    kind: str | None = None,
    status: str | None = None,
    score_min: float | None = None,
    source_id: int | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Variability, ESE and new-source candidates, by kind, status and score."""
    stmt = candidates_query(kind=kind, status=status, score_min=score_min, source_id=source_id)
    return _page_of(session, "candidates", Candidate, stmt, sort, limit, offset)


def candidates_query(
    *,
    kind: str | None = None,
    status: str | None = None,
    score_min: float | None = None,
    source_id: int | None = None,
) -> sa.Select[Any]:
    """The filtered ``select`` behind :func:`list_candidates` (also used by exports)."""
    stmt = _between(_LISTS[Candidate], Candidate.score, score_min, None)
    for column, value in (
        (Candidate.kind, kind),
        (Candidate.status, status),
        (Candidate.source_id, source_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    return stmt


def list_jobs(
    session: Session,
    *,
    status: str | None = None,
    job_type: str | None = None,
    group_id: str | None = None,
    parent_run_id: str | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Jobs, by status, type, group and parent."""
    stmt = jobs_query(
        status=status, job_type=job_type, group_id=group_id, parent_run_id=parent_run_id
    )
    return _page_of(session, "jobs", Job, stmt, sort, limit, offset)


def jobs_query(
    *,
    status: str | None = None,
    job_type: str | None = None,
    group_id: str | None = None,
    parent_run_id: str | None = None,
) -> sa.Select[Any]:
    """The filtered ``select`` behind :func:`list_jobs` (also used by exports)."""
    stmt = _LISTS[Job]
    for column, value in ((Job.status, status), (Job.job_type, job_type), (Job.group_id, group_id)):
        if value is not None:
            stmt = stmt.where(column == value)
    if parent_run_id is not None:
        parent = sa.select(Job.id).where(Job.run_id == parent_run_id).scalar_subquery()
        stmt = stmt.where(Job.parent_id == parent)
    return stmt


def list_mosaics(
    session: Session,
    *,
    mjd_min: float | None = None,
    mjd_max: float | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Mosaics, by time."""
    stmt = _between(_LISTS[Mosaic], Mosaic.mjd_start, mjd_min, mjd_max)
    return _page_of(session, "mosaics", Mosaic, stmt, sort, limit, offset)


# --------------------------------------------------------------------------
# Counts and exports
# --------------------------------------------------------------------------
def _counts_by(session: Session, column: Any) -> dict[str, int]:
    rows = session.execute(sa.select(column, sa.func.count()).group_by(column)).all()
    return {str(key): int(n) for key, n in rows}


def _count(session: Session, model: Any) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def stats(session: Session) -> dict[str, Any]:
    """Counts by stage and status, and the newest products."""
    newest_images = session.scalars(sa.select(Image).order_by(Image.id.desc()).limit(5)).all()
    newest_ms = session.scalars(
        sa.select(MeasurementSet).order_by(MeasurementSet.id.desc()).limit(5)
    ).all()
    return {
        "groups_by_state": _counts_by(session, ObservationGroup.state),
        "ms_by_stage": _counts_by(session, MeasurementSet.stage),
        "jobs_by_status": _counts_by(session, Job.status),
        "candidates_by_status": _counts_by(session, Candidate.status),
        "cal_tables_by_status": _counts_by(session, CalTable.status),
        "images": _count(session, Image),
        "sources": _count(session, Source),
        "photometry_rows": _count(session, Photometry),
        "mosaics": _count(session, Mosaic),
        "recent_images": list(newest_images),
        "recent_ms": list(newest_ms),
    }


def science_gauges(session: Session) -> dict[str, Any]:
    """Live numbers for monitoring: counts, newest image noise, newest valid calibration.

    Returns
    -------
    dict
        ``ms_by_stage``, ``jobs_by_status`` (dicts), ``images``, ``sources``,
        ``photometry_rows`` (ints), ``newest_image_noise_jy`` (float or None),
        ``newest_valid_cal_created_at`` (UTC datetime or None),
        ``groups_by_state`` (dict) and ``newest_heartbeat_at`` (the newest
        worker heartbeat's time, or None).
    """
    noise = session.scalar(sa.select(Image.noise_jy).order_by(Image.mjd_obs.desc()).limit(1))
    cal_time = session.scalar(
        sa.select(sa.func.max(CalTable.created_at)).where(CalTable.status == CalTableStatus.VALID)
    )
    if isinstance(cal_time, dt.datetime) and cal_time.tzinfo is None:
        cal_time = cal_time.replace(tzinfo=dt.UTC)  # aggregates bypass the column type
    elif isinstance(cal_time, str):
        cal_time = dt.datetime.fromisoformat(cal_time).replace(tzinfo=dt.UTC)
    return {
        "ms_by_stage": _counts_by(session, MeasurementSet.stage),
        "jobs_by_status": _counts_by(session, Job.status),
        "images": _count(session, Image),
        "sources": _count(session, Source),
        "photometry_rows": _count(session, Photometry),
        "newest_image_noise_jy": noise,
        "newest_valid_cal_created_at": cal_time,
        "groups_by_state": _counts_by(session, ObservationGroup.state),
        "newest_heartbeat_at": beat.created_at if (beat := last_heartbeat(session)) else None,
    }


def iter_rows(
    session: Session, stmt: sa.Select[Any], *, chunk: int = 2000
) -> Iterator[Sequence[Mapping[str, Any]]]:
    """Stream the rows of a Core ``select`` in chunks of mappings (for exports)."""
    result = session.execute(stmt.execution_options(yield_per=chunk))
    yield from result.mappings().partitions(chunk)

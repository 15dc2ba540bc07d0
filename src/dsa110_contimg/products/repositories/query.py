"""The shared machinery of every query: errors, pages, sorting and the one page helper."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsa110_contimg.errors import DSA110Error
from dsa110_contimg.products.models import (
    CalTable,
    Candidate,
    Image,
    Job,
    MeasurementSet,
    Mosaic,
    ObservationGroup,
    Photometry,
    Source,
    VariabilityMetrics,
)

#: Largest page any list query returns.
MAX_LIMIT = 1000


MAX_BATCH_ITEMS = 5000


MAX_CONE_MATCHES = 20000


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


def _one(session: Session, stmt: sa.Select[Any], what: str) -> Any:
    row = session.scalars(stmt).first()
    if row is None:
        raise NotFoundError(f"{what} is not registered")
    return row


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


def iter_rows(
    session: Session, stmt: sa.Select[Any], *, chunk: int = 2000
) -> Iterator[Sequence[Mapping[str, Any]]]:
    """Stream the rows of a Core ``select`` in chunks of mappings (for exports)."""
    result = session.execute(stmt.execution_options(yield_per=chunk))
    yield from result.mappings().partitions(chunk)

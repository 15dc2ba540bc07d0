"""The shared machinery of every query: errors, pages, sorting, filters and the one page helper.

A list is declared once as a :class:`Listing`: its model and its
:class:`Filter` records (each a name, the column it tests, how, its type and
bounds). From it come the page (:meth:`Listing.page`: checked filters, one
sorted page through :func:`sorted_slice`, each sort served by its index) and
the export query (:meth:`Listing.select`); the API derives its parameters from
the same records (:data:`LISTINGS`). :func:`check_page` is the one page rule.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsa110_contimg.errors import (  # re-exported: the repositories raise them
    ConflictError,  # noqa: F401
    InvalidQueryError,
    NotFoundError,
)
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

#: Smallest and largest page any list query returns.
MIN_LIMIT, MAX_LIMIT = 1, 1000


#: Largest offset accepted: deeper paging should narrow the filters instead.
MAX_OFFSET = 10_000_000


#: Bounds of an MJD in a filter (1858-11-17 .. 2132-08-31).
MJD_BOUNDS = (0.0, 100_000.0)


#: The page bounds as ``ge``/``le`` pairs (for the API's parameter declarations).
PAGE_BOUNDS = {"limit": (MIN_LIMIT, MAX_LIMIT), "offset": (0, MAX_OFFSET)}


MAX_BATCH_ITEMS = 5000


MAX_CONE_MATCHES = 20000


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


IN_CHUNK = 900
"""Most ids bound in one ``IN (...)`` clause (SQLite allows 999 in old builds)."""


def in_chunks(ids: Iterable[int], size: int = IN_CHUNK) -> list[list[int]]:
    """Split ids into lists short enough for one ``IN`` clause."""
    ids = [int(i) for i in ids]
    return [ids[k : k + size] for k in range(0, len(ids), size)]


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


def check_page(limit: int, offset: int) -> None:
    """Refuse a page outside ``1..MAX_LIMIT`` rows or an offset outside ``0..MAX_OFFSET``.

    The one page rule: the REST API declares the same bounds on its ``limit``
    and ``offset`` parameters (:data:`PAGE_BOUNDS`), GraphQL calls this.

    Raises
    ------
    InvalidQueryError
        Naming the bound broken.
    """
    if not MIN_LIMIT <= limit <= MAX_LIMIT:
        raise InvalidQueryError(f"limit must be {MIN_LIMIT}..{MAX_LIMIT}, not {limit}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidQueryError(f"offset must be 0..{MAX_OFFSET}, not {offset}")


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
    check_page(limit, offset)
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


# ---------------------------------------------------------------------------
# Filters, declared once per list
# ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Filter:
    """One filter of a list, declared once: what it tests, its type and its bounds.

    The list's page (:meth:`Listing.page`) and its export query
    (:meth:`Listing.select`) apply it; the API derives its query parameters
    (type, bounds, description) and GraphQL's checks from it, so a bound is
    written in one place.

    Attributes
    ----------
    name
        The keyword of the list function and the API's query parameter.
    type
        ``float``, ``int``, ``str``, ``bool`` or a state enum (values are
        converted to it; an unknown state is refused).
    column
        The column tested (None for ``where`` filters without one).
    op
        ``eq`` (equals), ``ge`` / ``le`` (a lower / upper bound: two filters
        make a range), ``contains`` (a substring; empty matches all) or
        ``where`` (``where(value)`` builds the condition).
    ge, gt, le, lt, max_length
        Bounds of the value (a float is also refused when not finite).
    parts
        For a filter given as several parameters (a cone: ``ra``, ``dec``,
        ``radius_deg``), one :class:`Filter` per part, in order; the value is
        the tuple of the parts (see :meth:`gather`).
    """

    name: str
    type: Any
    column: Any = None
    op: str = "eq"
    description: str | None = None
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    max_length: int | None = None
    where: Callable[[Any], Any] | None = None
    parts: tuple[Filter, ...] = ()

    def check(self, value: Any) -> Any:
        """``value`` converted to the filter's type, or :class:`InvalidQueryError`."""
        if self.parts:
            if not isinstance(value, tuple | list) or len(value) != len(self.parts):
                raise InvalidQueryError(f"{self.name} needs {self._part_names()}")
            return tuple(p.check(v) for p, v in zip(self.parts, value, strict=True))
        kind = self.type
        if kind is float or kind is int:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidQueryError(f"{self.name} must be a number")
            if kind is int and not isinstance(value, int):
                if not (math.isfinite(value) and value.is_integer()):
                    raise InvalidQueryError(f"{self.name} must be an integer")
            elif kind is float and not math.isfinite(value):
                raise InvalidQueryError(f"{self.name} must be finite")
            if (
                (self.ge is not None and value < self.ge)
                or (self.gt is not None and value <= self.gt)
                or (self.le is not None and value > self.le)
                or (self.lt is not None and value >= self.lt)
            ):
                raise InvalidQueryError(f"{self.name} must be {self.bounds_text()}, not {value}")
            return kind(value)
        if kind is bool or kind is str:
            if not isinstance(value, kind):
                raise InvalidQueryError(f"{self.name} must be a {kind.__name__}")
            if self.max_length is not None and len(value) > self.max_length:
                raise InvalidQueryError(f"{self.name} must be at most {self.max_length} characters")
            return value
        if isinstance(value, kind):  # a state enum's member
            return value
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(m.value for m in kind)
            raise InvalidQueryError(
                f"{self.name} must be one of {allowed}, not {value!r}"
            ) from None

    def bounds_text(self) -> str:
        """The bounds in words, e.g. ``>= 0 and <= 1e+12``."""
        parts = [
            f"{op} {bound:g}"
            for op, bound in ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt))
            if bound is not None
        ]
        return " and ".join(parts) or "any value"

    def condition(self, value: Any) -> Any:
        """The SQL condition for a checked ``value`` (None: it selects everything)."""
        if self.op == "eq":
            return self.column == value
        if self.op == "ge":
            return self.column >= value
        if self.op == "le":
            return self.column <= value
        if self.op == "contains":
            return self.column.contains(value, autoescape=True) if value else None
        return self.where(value)

    def gather(self, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The value of a several-part filter from its parts in ``params`` (None: none given).

        Raises
        ------
        InvalidQueryError
            If only some parts are given.
        """
        values = tuple(params.get(p.name) for p in self.parts)
        given = [v is not None for v in values]
        if not any(given):
            return None
        if not all(given):
            raise InvalidQueryError(f"a {self.name} search needs {self._part_names()}")
        return values

    def _part_names(self) -> str:
        names = [p.name for p in self.parts]
        return ", ".join(names[:-1]) + " and " + names[-1]


def mjd_range(column: Any, what: str) -> tuple[Filter, Filter]:
    """The ``mjd_min`` and ``mjd_max`` filters of a time column (``what``: its name in words)."""
    bounds = {"ge": MJD_BOUNDS[0], "le": MJD_BOUNDS[1]}
    return (
        Filter("mjd_min", float, column, "ge", f"Earliest {what} (MJD)", **bounds),
        Filter("mjd_max", float, column, "le", f"Latest {what} (MJD)", **bounds),
    )


#: Every declared list, by resource name (as :data:`SORTABLE`).
LISTINGS: dict[str, Listing] = {}


@dataclasses.dataclass(frozen=True)
class Listing:
    """A list resource: its table, its filters; its page and its export query.

    Declaring one registers it in :data:`LISTINGS`; its sort keys are
    :data:`SORTABLE` ``[resource]``.

    Attributes
    ----------
    resource
        The name in :data:`SORTABLE` and :data:`DEFAULT_SORT` (``images``).
    model
        The mapped class whose columns are the items.
    filters
        The filters, in the order the API lists them.
    """

    resource: str
    model: Any
    filters: tuple[Filter, ...]
    by_name: Mapping[str, Filter] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.filters})
        LISTINGS[self.resource] = self

    def checked(self, filters: Mapping[str, Any]) -> list[tuple[Filter, Any]]:
        """The given (not None) filters with their checked values.

        Raises
        ------
        TypeError
            For a name that is not one of the filters (a caller's bug).
        InvalidQueryError
            For a value of the wrong type or out of bounds.
        """
        out = []
        for name, value in filters.items():
            spec = self.by_name.get(name)
            if spec is None:
                known = ", ".join(self.by_name)
                raise TypeError(f"{self.resource} has no filter {name!r} (only {known})")
            if value is not None:
                out.append((spec, spec.check(value)))
        return out

    def conditions(self, filters: Mapping[str, Any]) -> list[Any]:
        """The SQL conditions of the given filters."""
        found = (spec.condition(value) for spec, value in self.checked(filters))
        return [c for c in found if c is not None]

    def select(self, session: Session | None = None, /, **filters: Any) -> sa.Select[Any]:
        """The filtered, unsorted ``select`` of the rows (exports add columns and an order).

        ``session`` is needed only by lists whose filters read the database
        first (the sources' cone); the others ignore it.
        """
        return _where(_LISTS[self.model], *self.conditions(filters))

    def page(
        self,
        session: Session,
        *,
        sort: str | None = None,
        limit: int = 50,
        offset: int = 0,
        **filters: Any,
    ) -> Page:
        """One sorted page of the filtered rows (``sort``: a :data:`SORTABLE` key, ``-`` first
        for descending; items are dictionaries of the model's columns)."""
        stmt = self.select(**filters)
        return _page_of(session, self.resource, self.model, stmt, sort, limit, offset)


def iter_rows(
    sessions: Callable[[], Session],
    stmt: sa.Select[Any],
    *,
    key: Any | None,
    chunk: int = 2000,
) -> Iterator[list[Mapping[str, Any]]]:
    """The rows of a Core ``select`` in chunks, each chunk read in its own short session.

    No session or read transaction stays open while a chunk is being sent, so
    a slow client holds no pool connection and no SQLite WAL snapshot. With
    ``key`` (a unique column selected by ``stmt``, which must be ordered by it
    ascending) each chunk resumes after the last key seen; without one (a
    bounded select, e.g. one source's light curve) all rows are read at once
    and handed out in chunks.
    """
    if key is None:
        with sessions() as session:
            rows = list(session.execute(stmt).mappings())
        for start in range(0, len(rows), chunk):
            yield rows[start : start + chunk]
        return
    last = None
    while True:
        page = stmt if last is None else stmt.where(key > last)
        with sessions() as session:
            rows = list(session.execute(page.limit(chunk)).mappings())
        if rows:
            yield rows
        if len(rows) < chunk:
            return
        last = rows[-1][key.key]

"""Sources, their photometry and light curves, and cone searches."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsa110_contimg.products.models import (
    Candidate,
    Photometry,
    Source,
    VariabilityMetrics,
    utcnow,
)
from dsa110_contimg.products.repositories.events import publish_event
from dsa110_contimg.products.repositories.query import (
    _LISTS,
    DEFAULT_SORT,
    MAX_CONE_MATCHES,
    SORTABLE,
    InvalidQueryError,
    NotFoundError,
    Page,
    _between,
    _check_page,
    _one,
    _page_of,
    _set_fields,
    _sort_key,
    _where,
    count_rows,
    record_columns,
    shared,
    sorted_slice,
)


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


def get_source(session: Session, source_id: int) -> Source:
    """The source with this id, or :class:`NotFoundError`."""
    return _one(session, sa.select(Source).where(Source.id == source_id), f"source {source_id}")


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


_METRIC_COLUMNS = [
    c for c in record_columns(VariabilityMetrics) if c.key not in VARIABILITY_BOOKKEEPING
]


_SOURCE_COLUMNS = record_columns(Source)


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

"""Sources, their photometry and light curves, and cone searches."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsa110_contimg.products.models import (
    LIGHT_CURVE_COLUMNS,
    AnnotationTarget,
    Candidate,
    EpochNormalisation,
    Image,
    Photometry,
    ProductStatus,
    Source,
    VariabilityMetrics,
    utcnow,
)
from dsa110_contimg.products.repositories.annotations import (
    BAD_IMAGE_IDS,
    source_verdict_filter,
    tag_filter,
    unvetted_filter,
)
from dsa110_contimg.products.repositories.events import publish_event, touch
from dsa110_contimg.products.repositories.query import (
    DEFAULT_SORT,
    IN_CHUNK,
    MAX_CONE_MATCHES,
    SORTABLE,
    Filter,
    InvalidQueryError,
    Listing,
    NotFoundError,
    Page,
    _one,
    _set_fields,
    _sort_key,
    _where,
    check_page,
    count_rows,
    in_chunks,
    mjd_range,
    record_columns,
    shared,
    sorted_slice,
)
from dsa110_contimg.sky import separation_deg as angular_separation_deg
from dsa110_contimg.variability.metrics import BOOKKEEPING_FIELDS, METRIC_FIELDS


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


#: A cone search: centre and radius, in degrees (given as ``ra``, ``dec``, ``radius_deg``).
CONE = Filter(
    "cone",
    tuple,
    op="where",
    description="Sources within radius_deg of (ra, dec)",
    parts=(
        Filter("ra", float, ge=0, lt=360, description="Cone centre RA (deg)"),
        Filter("dec", float, ge=-90, le=90, description="Cone centre Dec (deg)"),
        Filter("radius_deg", float, gt=0, le=10, description="Cone radius (deg)"),
    ),
)


def _has_candidate(only: bool) -> Any:
    return sa.exists().where(Candidate.source_id == Source.id) if only else None


def _source_filters(
    session: Session, filters: Mapping[str, Any]
) -> tuple[list[Any], list[Any], list[int] | None]:
    """The conditions of the sources filters: on ``sources``, on ``variability_metrics``,
    and the ids in the cone (None without a cone)."""
    on_sources: list[Any] = []
    on_metrics: list[Any] = []
    cone_ids = None
    for spec, value in SOURCES.checked(filters):
        if spec is CONE:
            cone_ids = cone_source_ids(session, *value)
            # One expanding parameter: no expression built per id.
            on_sources.append(Source.id.in_(sa.bindparam("cone_ids", cone_ids, expanding=True)))
            continue
        condition = spec.condition(value)
        if condition is None:
            continue
        on_metrics_table = getattr(spec.column, "class_", None) is VariabilityMetrics
        (on_metrics if on_metrics_table else on_sources).append(condition)
    return on_sources, on_metrics, cone_ids


#: Running sums behind the incremental metric updates: internal, not part of a source's record.
VARIABILITY_BOOKKEEPING = BOOKKEEPING_FIELDS


#: The metrics that summarise a source's variability (exports, GraphQL): its epochs, then
#: the derived :data:`~dsa110_contimg.variability.metrics.METRIC_FIELDS`.
SOURCE_METRICS = ("n_epochs", "first_mjd", "last_mjd", *METRIC_FIELDS)


_METRIC_COLUMNS = [
    c for c in record_columns(VariabilityMetrics) if c.key not in VARIABILITY_BOOKKEEPING
]


_SOURCE_COLUMNS = record_columns(Source)


_SOURCE_IDS = shared(sa.select(Source.id))


_MEASURED_IDS = shared(sa.select(VariabilityMetrics.source_id))


_SOURCE_IDS_WITH_METRICS = shared(
    sa.select(Source.id).outerjoin(VariabilityMetrics, VariabilityMetrics.source_id == Source.id)
)


class _SourceListing(Listing):
    """The sources list: two tables (sources and their metrics) and a cone read first."""

    def select(self, session: Session | None = None, /, **filters: Any) -> sa.Select[Any]:
        """The filtered ``select`` of (source, metrics) pairs (for exports).

        Sources without metrics are kept (outer join) unless a metrics filter
        asks for values. A cone needs the ``session`` (its ids are read first).
        """
        on_sources, on_metrics, _ = _source_filters(session, filters)
        return (
            sa.select(Source, VariabilityMetrics)
            .outerjoin(VariabilityMetrics, VariabilityMetrics.source_id == Source.id)
            .where(*on_sources, *on_metrics)
        )

    def page(
        self,
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
            Those of :data:`SOURCES`: ``cone`` as ``(ra_deg, dec_deg,
            radius_deg)``; ``name`` (a substring); ``catalog``; ``is_reference``;
            lower bounds ``eta_min``, ``v_min``, ``n_epochs_min`` (sources without
            metrics fail them); ``candidates_only``.

        Returns
        -------
        Page
            Items are the source's columns plus ``variability``: its metrics
            without the running sums (:data:`VARIABILITY_BOOKKEEPING`), or None.
        """
        check_page(limit, offset)
        column, desc = _sort_key(SORTABLE["sources"], sort or DEFAULT_SORT["sources"])
        on_sources, on_metrics, cone_ids = _source_filters(session, filters)
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


#: Sources by cone, name, catalog, reference flag, variability and candidacy.
SOURCES = _SourceListing(
    "sources",
    Source,
    (
        CONE,
        Filter("name", str, Source.name, op="contains", max_length=64, description="Name contains"),
        Filter("catalog", str, Source.catalog, max_length=32),
        Filter("is_reference", bool, Source.is_reference),
        Filter("eta_min", float, VariabilityMetrics.eta, op="ge", ge=0, le=1e12),
        Filter("v_min", float, VariabilityMetrics.v, op="ge", ge=0, le=1e6),
        Filter("n_epochs_min", int, VariabilityMetrics.n_epochs, op="ge", ge=0, le=10_000_000),
        Filter(
            "candidates_only",
            bool,
            op="where",
            description="Only sources with a candidate",
            where=_has_candidate,
        ),
        source_verdict_filter(),
        tag_filter(AnnotationTarget.SOURCE, Source.id),
        unvetted_filter(AnnotationTarget.SOURCE, Source.id),
    ),
)
list_sources = SOURCES.page


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


#: Photometry rows, by source, image and time.
PHOTOMETRY = Listing(
    "photometry",
    Photometry,
    (
        Filter("source_id", int, Photometry.source_id, ge=1, le=2**63 - 1),
        Filter("image_id", int, Photometry.image_id, ge=1, le=2**63 - 1),
        *mjd_range(Photometry.mjd, "measurement"),
    ),
)
list_photometry = PHOTOMETRY.page


_PHOTOMETRY = Photometry.__table__.c


_SOURCES = Source.__table__.c


_SOURCE_NAME = sa.select(_SOURCES.name).where(_SOURCES.id == sa.bindparam("source_id"))


_LIGHT_CURVE = (
    sa.select(*(_PHOTOMETRY[c] for c in LIGHT_CURVE_COLUMNS))
    .where(
        _PHOTOMETRY.source_id == sa.bindparam("source_id"),
        _PHOTOMETRY.mjd >= sa.bindparam("mjd_min"),
        _PHOTOMETRY.mjd <= sa.bindparam("mjd_max"),
        _PHOTOMETRY.image_id.not_in(BAD_IMAGE_IDS),  # images rated bad are left out
    )
    .order_by(_PHOTOMETRY.mjd)
)
#: One page of a light curve (GraphQL pages the points of every source it lists).
_LIGHT_CURVE_PAGE = _LIGHT_CURVE.limit(sa.bindparam("limit")).offset(sa.bindparam("offset"))


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
    limit: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """The measurements of one source in time order, raw and normalised.

    ``limit`` and ``offset`` (checked by :func:`check_page`) page the points;
    without ``limit`` every point in the range is returned.

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
    stmt = _LIGHT_CURVE
    if limit is not None:
        check_page(limit, offset)
        stmt, params = _LIGHT_CURVE_PAGE, {**params, "limit": limit, "offset": offset}
    rows = session.connection().execute(stmt, params).all()
    return [dict(zip(LIGHT_CURVE_COLUMNS, row, strict=True)) for row in rows]


# ---------------------------------------------------------------------------
# the photometry stage's reads and writes (its read and write phases)
# ---------------------------------------------------------------------------
def count_image_photometry(session: Session, image_id: int) -> int:
    """Measurements already stored for one image (0: not measured yet)."""
    stmt = sa.select(sa.func.count()).select_from(Photometry).where(Photometry.image_id == image_id)
    return int(session.scalar(stmt) or 0)


#: Columns of a source the photometry stage works with (:func:`source_records`).
SOURCE_FIELDS = (
    "id",
    "name",
    "ra_deg",
    "dec_deg",
    "catalog",
    "catalog_flux_jy",
    "catalog_flux_err_jy",
    "major_arcsec",
)


def _source_records(session: Session, condition_of: Any, keys: list[Any]) -> list[dict[str, Any]]:
    columns = [getattr(Source, c) for c in SOURCE_FIELDS]
    out: list[dict[str, Any]] = []
    for k in range(0, len(keys), IN_CHUNK):
        stmt = sa.select(*columns).where(condition_of(keys[k : k + IN_CHUNK]))
        out += [dict(zip(SOURCE_FIELDS, row, strict=True)) for row in session.execute(stmt)]
    return out


def source_records(session: Session, ids: Iterable[int]) -> list[dict[str, Any]]:
    """Sources by id as plain records (the :data:`SOURCE_FIELDS`), in no order."""
    return _source_records(session, Source.id.in_, [int(i) for i in ids])


def sources_named(session: Session, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The registered sources among ``names``, as plain records by name."""
    return {r["name"]: r for r in _source_records(session, Source.name.in_, list(names))}


def add_catalog_sources(
    session: Session, catalog: str, records: list[dict[str, Any]]
) -> tuple[dict[str, int], int]:
    """Register a catalog's sources by name in bulk; return their ids by name and how many are new.

    ``records`` hold ``name`` and the other ``Source`` columns. The names
    already registered (by another worker since they were read, say) keep
    their rows. One ``source``/``new`` event announces the batch. If another
    worker creates some of them meanwhile, the bulk insert is rolled back to
    its savepoint and they are registered one by one.
    """
    named = sources_named(session, [r["name"] for r in records])
    ids = {name: r["id"] for name, r in named.items()}
    missing = [r for r in records if r["name"] not in ids]
    if not missing:
        return ids, 0
    created = [Source(**r) for r in missing]
    try:
        with session.begin_nested():
            session.add_all(created)
    except sa.exc.IntegrityError:
        created = [register_source(session, **r) for r in missing]
    publish_event(session, "source", "new", {"catalog": catalog, "count": len(created)})
    ids.update((s.name, s.id) for s in created)
    return ids, len(created)


def mark_references(session: Session, source_ids: Iterable[int]) -> None:
    """Flag sources as having served as flux references (``Source.is_reference``)."""
    for part in in_chunks(source_ids):
        session.execute(sa.update(Source).where(Source.id.in_(part)).values(is_reference=True))
    touch(session, "source")


def first_clean_fluxes(
    session: Session, source_ids: Iterable[int], veto: int, n_epochs: int
) -> dict[int, list[tuple[float, float, int]]]:
    """Each source's first ``n_epochs`` raw measurements with no ``veto`` flag.

    Returns
    -------
    dict
        ``source_id -> [(mjd, flux_jy, image_id), ...]`` in time order
        (every asked id present, empty when never measured cleanly).
    """
    ids = [int(i) for i in source_ids]
    rank = (
        sa.func.row_number()
        .over(partition_by=Photometry.source_id, order_by=(Photometry.mjd, Photometry.id))
        .label("rank")
    )
    history: dict[int, list[tuple[float, float, int]]] = {i: [] for i in ids}
    for part in in_chunks(ids):
        inner = (
            sa.select(
                Photometry.source_id, Photometry.mjd, Photometry.flux_jy, Photometry.image_id, rank
            )
            .where(
                Photometry.source_id.in_(part),
                Photometry.flags.op("&")(veto) == 0,
                Photometry.image_id.not_in(BAD_IMAGE_IDS),  # no baseline from a bad image
            )
            .subquery()
        )
        stmt = (
            sa.select(inner.c.source_id, inner.c.mjd, inner.c.flux_jy, inner.c.image_id)
            .where(inner.c.rank <= n_epochs)
            .order_by(inner.c.source_id, inner.c.rank)
        )
        for sid, t, f, image_id in session.execute(stmt):
            history[int(sid)].append((float(t), float(f), int(image_id)))
    return history


def image_photometry(session: Session, image_id: int) -> dict[str, np.ndarray]:
    """One image's measurements as arrays: ``id``, ``source_id``, ``flux_jy``,
    ``flux_err_jy``, ``flags`` (empty arrays when there are none)."""
    keys = ("id", "source_id", "flux_jy", "flux_err_jy", "flags")
    stmt = sa.select(*(getattr(Photometry, k) for k in keys)).where(Photometry.image_id == image_id)
    rows = session.execute(stmt).all()
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(keys)
    kinds = (np.int64, np.int64, float, float, np.int64)
    return {k: np.asarray(c, kind) for k, c, kind in zip(keys, columns, kinds, strict=True)}


def set_normalised_fluxes(
    session: Session, photometry_ids: np.ndarray, norm_flux: np.ndarray, norm_err: np.ndarray
) -> None:
    """Replace the normalised fluxes of stored measurements (one bulk ``UPDATE`` by id)."""
    if len(photometry_ids) == 0:
        return
    session.execute(
        sa.update(Photometry),
        [
            {"id": int(p), "norm_flux_jy": float(f), "norm_flux_err_jy": float(e)}
            for p, f, e in zip(photometry_ids, norm_flux, norm_err, strict=True)
        ],
    )
    touch(session, "photometry", "normalised")


def set_epoch_normalisation(
    session: Session, image_id: int, *, factor: float, factor_err: float, n_references: int
) -> None:
    """Create or replace an image's relative flux correction (``EpochNormalisation``)."""
    session.merge(
        EpochNormalisation(
            image_id=image_id, factor=factor, factor_err=factor_err, n_references=n_references
        )
    )
    touch(session, "photometry", "normalised")


def measured_images_before(
    session: Session, mjd: float, *, exclude_id: int, dec_min: float, dec_max: float
) -> list[tuple[Image, EpochNormalisation]]:
    """Measured (normalised) pb-corrected images observed before ``mjd`` in a Dec band.

    In time order, each with its ``EpochNormalisation``; status ``ok`` only.
    """
    stmt = (
        sa.select(Image, EpochNormalisation)
        .join(EpochNormalisation, EpochNormalisation.image_id == Image.id)
        .where(
            Image.mjd_obs < mjd,
            Image.id != exclude_id,
            sa.or_(Image.pbcor.is_(True), Image.image_type == "image-pb"),
            Image.status == ProductStatus.OK,
            Image.id.not_in(BAD_IMAGE_IDS),  # an image rated bad sets no reference
            Image.dec_deg.between(dec_min, dec_max),
        )
        .order_by(Image.mjd_obs, Image.id)
    )
    return [(image, norm) for image, norm in session.execute(stmt).all()]

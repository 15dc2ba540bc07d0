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

One module per aggregate (``groups``, ``ms``, ``caltables``, ``images``,
``mosaics``, ``sources``, ``variability``, ``jobs``, ``events``, ``stats``),
all built on ``query`` (errors, pages, sorting); callers import this package
as ``repo`` and use the names re-exported here.
"""

from dsa110_contimg.products.repositories.caltables import (
    CAL_DEC_TOLERANCE_DEG,
    cal_applied_to,
    calibrator_matches,
    get_cal_table,
    list_cal_tables,
    record_cal_application,
    register_cal_table,
)
from dsa110_contimg.products.repositories.events import (
    events_after,
    last_heartbeat,
    latest_event_id,
    list_events,
    prune_events,
    publish_event,
    publish_heartbeat,
    touch,
)
from dsa110_contimg.products.repositories.groups import (
    files_of_group,
    get_group,
    groups_in_range,
    list_groups,
    register_group,
    register_raw_file,
    require_groups,
)
from dsa110_contimg.products.repositories.images import (
    get_image,
    images_of_ms,
    images_query,
    list_images,
    register_image,
)
from dsa110_contimg.products.repositories.jobs import (
    create_batch,
    create_job,
    finish_job,
    get_job,
    job_children,
    job_items,
    jobs_query,
    list_jobs,
    new_run_id,
    request_cancel,
    require_jobs,
    start_job,
    update_job_progress,
)
from dsa110_contimg.products.repositories.mosaics import (
    get_mosaic,
    list_mosaics,
    mosaic_tiles,
    register_mosaic,
)
from dsa110_contimg.products.repositories.ms import (
    get_ms,
    list_ms,
    ms_of_group,
    register_ms,
    require_ms_paths,
)
from dsa110_contimg.products.repositories.query import (
    DEFAULT_SORT,
    MAX_BATCH_ITEMS,
    MAX_CONE_MATCHES,
    MAX_LIMIT,
    SORTABLE,
    ConflictError,
    InvalidQueryError,
    NotFoundError,
    Page,
    columns_of,
    count_rows,
    iter_rows,
    record_columns,
    shared,
    sorted_slice,
)
from dsa110_contimg.products.repositories.sources import (
    LIGHT_CURVE_COLUMNS,
    VARIABILITY_BOOKKEEPING,
    add_photometry,
    angular_separation_deg,
    cone_source_ids,
    get_source,
    light_curve,
    list_photometry,
    list_sources,
    photometry_query,
    register_source,
    source_name,
    sources_query,
)
from dsa110_contimg.products.repositories.stats import (
    _counts_by,
    science_gauges,
    stats,
)
from dsa110_contimg.products.repositories.variability import (
    candidates_query,
    get_candidate,
    get_variability,
    list_candidates,
    register_candidate,
    set_candidate_status,
    upsert_variability,
)

__all__ = [
    "CAL_DEC_TOLERANCE_DEG",
    "ConflictError",
    "DEFAULT_SORT",
    "InvalidQueryError",
    "LIGHT_CURVE_COLUMNS",
    "MAX_BATCH_ITEMS",
    "MAX_CONE_MATCHES",
    "MAX_LIMIT",
    "NotFoundError",
    "Page",
    "SORTABLE",
    "VARIABILITY_BOOKKEEPING",
    "_counts_by",
    "add_photometry",
    "angular_separation_deg",
    "cal_applied_to",
    "calibrator_matches",
    "candidates_query",
    "columns_of",
    "cone_source_ids",
    "count_rows",
    "create_batch",
    "create_job",
    "events_after",
    "files_of_group",
    "finish_job",
    "get_cal_table",
    "get_candidate",
    "get_group",
    "get_image",
    "get_job",
    "get_mosaic",
    "get_ms",
    "get_source",
    "get_variability",
    "groups_in_range",
    "images_of_ms",
    "images_query",
    "iter_rows",
    "job_children",
    "job_items",
    "jobs_query",
    "last_heartbeat",
    "latest_event_id",
    "light_curve",
    "list_cal_tables",
    "list_candidates",
    "list_events",
    "list_groups",
    "list_images",
    "list_jobs",
    "list_mosaics",
    "list_ms",
    "list_photometry",
    "list_sources",
    "mosaic_tiles",
    "ms_of_group",
    "new_run_id",
    "photometry_query",
    "prune_events",
    "publish_event",
    "publish_heartbeat",
    "record_cal_application",
    "record_columns",
    "register_cal_table",
    "register_candidate",
    "register_group",
    "register_image",
    "register_mosaic",
    "register_ms",
    "register_raw_file",
    "register_source",
    "request_cancel",
    "require_groups",
    "require_jobs",
    "require_ms_paths",
    "science_gauges",
    "set_candidate_status",
    "shared",
    "sorted_slice",
    "source_name",
    "sources_query",
    "start_job",
    "stats",
    "touch",
    "update_job_progress",
    "upsert_variability",
]

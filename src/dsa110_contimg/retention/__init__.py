"""The storage lifecycle: what may be removed, removing it, and the disk guard.

``plan``
    :func:`make_plan`: per product class, the files (and bytes) and event
    rows the retention settings would remove now; reads only.
``apply``
    :func:`apply_retention`: makes the plan and carries it out; a purged
    product keeps its row with status ``purged`` and the time.
``disk``
    :func:`folder_space`: each data folder's free space against its
    ``warn`` and ``stop`` thresholds.
``guard``
    :func:`storage_allows_new_groups`: the stream daemon's per-cycle call
    (retention on a schedule; no new group below ``stop``; groups failed on a
    full disk requeued when space returns).
"""

from dsa110_contimg.retention.apply import ApplyReport, apply_retention
from dsa110_contimg.retention.disk import FolderSpace, Level, folder_space, worst_level
from dsa110_contimg.retention.guard import StorageGuard, storage_allows_new_groups
from dsa110_contimg.retention.plan import (
    CLASSES,
    INTERMEDIATE_TYPES,
    ClassPlan,
    Item,
    Plan,
    count_candidates,
    make_plan,
)

__all__ = [
    "CLASSES",
    "INTERMEDIATE_TYPES",
    "ApplyReport",
    "ClassPlan",
    "FolderSpace",
    "Item",
    "Level",
    "Plan",
    "StorageGuard",
    "apply_retention",
    "count_candidates",
    "folder_space",
    "make_plan",
    "storage_allows_new_groups",
    "worst_level",
]

"""Light-curve variability: incremental metrics and variable / ESE candidates.

Public surface::

    from dsa110_contimg.variability import MetricsState, update_batch, update_record
    from dsa110_contimg.variability import compute_metrics, select_candidates, classify_light_curve
"""

from dsa110_contimg.variability.candidates import (
    DEFAULT_PRESET,
    PRESETS,
    CandidateRecord,
    Classification,
    Preset,
    classify_light_curve,
    evaluate_candidates,
    get_preset,
    select_candidates,
)
from dsa110_contimg.variability.metrics import (
    METRIC_FIELDS,
    MetricsState,
    compute_metrics,
    metrics_from_history,
    update_batch,
    update_record,
    with_floor,
)

__all__ = [
    "DEFAULT_PRESET",
    "METRIC_FIELDS",
    "PRESETS",
    "CandidateRecord",
    "Classification",
    "MetricsState",
    "Preset",
    "classify_light_curve",
    "compute_metrics",
    "evaluate_candidates",
    "get_preset",
    "metrics_from_history",
    "select_candidates",
    "update_batch",
    "update_record",
    "with_floor",
]

"""Light-curve variability: incremental metrics and variable / ESE candidates.

``metrics`` and ``candidates`` are pure functions over arrays (running sums,
eta / V / chi2 statistics, presets, ESE or variable classification); they
hold no session. ``stage`` applies them in the photometry stage's write
phase: once the image has been read and measured without a session, one
short transaction locks the measured sources' metrics rows, updates them in
bulk, classifies the few that pass the preset and registers or refreshes
their candidates, every statement through the repositories
(``products.repositories``).

Public surface::

    from dsa110_contimg.variability import MetricsState, update_batch, update_record
    from dsa110_contimg.variability import compute_metrics, select_candidates, classify_light_curve
    from dsa110_contimg.variability import ESEOptions, DEFAULT_ESE_OPTIONS
"""

from dsa110_contimg.variability.candidates import (
    DEFAULT_ESE_OPTIONS,
    DEFAULT_PRESET,
    PRESETS,
    CandidateRecord,
    Classification,
    ESEOptions,
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
    "DEFAULT_ESE_OPTIONS",
    "DEFAULT_PRESET",
    "METRIC_FIELDS",
    "PRESETS",
    "CandidateRecord",
    "Classification",
    "ESEOptions",
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

"""What an operator's image rating changes: the light curves of the sources measured on it.

A ``bad`` image is left out of every light curve, epoch normalisation and
mosaic from then on (the repositories' reads skip it); its sources' metrics
are rebuilt at once from their remaining measurements and their candidates
re-evaluated with the same code as the light-curve stage. A candidate that no
longer passes is withdrawn unless a person has looked at it. Rating the image
``good`` again brings it all back the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from dsa110_contimg.products import repositories as repo
from dsa110_contimg.variability.candidates import Preset, evaluate_candidates, get_preset
from dsa110_contimg.variability.metrics import MetricsState
from dsa110_contimg.variability.stage import recompute_metrics, upsert_candidates


def apply_image_rating(
    session: Session,
    image_id: int,
    rating: str,
    comment: str | None = None,
    *,
    by: str,
    preset: str | Preset | None = None,
) -> dict[str, Any]:
    """Rate an image and update its sources' metrics and candidates (the caller commits).

    Returns
    -------
    dict
        ``image_id``, ``rating``, ``images`` (the rows the rating covers),
        ``n_sources`` (sources recomputed), ``new_candidates``,
        ``updated_candidates`` and ``withdrawn_candidates`` (ids).
    """
    images = repo.rate_image(session, image_id, rating, comment, by=by)
    source_ids = repo.sources_measured_on(session, images)
    result: dict[str, Any] = {
        "image_id": image_id,
        "rating": str(rating),
        "images": images,
        "n_sources": len(source_ids),
        "new_candidates": [],
        "updated_candidates": [],
        "withdrawn_candidates": [],
    }
    if not source_ids:
        return result
    chosen = get_preset(preset)
    ids = np.asarray(source_ids, np.int64)
    recompute_metrics(session, ids, preset=chosen)
    state = MetricsState.from_records(repo.lock_metrics_rows(session, ids))
    records = evaluate_candidates(
        state, lambda i: repo.normalised_light_curve(session, int(ids[i])), chosen
    )
    new, updated = upsert_candidates(session, ids, records)
    result["new_candidates"], result["updated_candidates"] = new, updated
    result["withdrawn_candidates"] = repo.withdraw_unvetted_candidates(
        session, source_ids, keep=new + updated
    )
    repo.touch(session, "variability")
    return result

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
from dsa110_contimg.variability.candidates import Preset, get_preset
from dsa110_contimg.variability.stage import recompute_metrics, refresh_candidates


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
    found = refresh_candidates(session, ids, preset=chosen)
    result["new_candidates"], result["updated_candidates"] = found.new, found.updated
    result["withdrawn_candidates"] = found.withdrawn
    repo.touch(session, "variability")
    return result

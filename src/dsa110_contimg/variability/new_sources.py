"""New-source candidates: blind detections no catalog knows, with their earlier limits.

When blind finding registers a source that matches no catalog or known
source (:func:`~dsa110_contimg.photometry.blind.match_to_catalog`), the
photometry stage back-fills it in the earlier images that cover it
(:mod:`~dsa110_contimg.photometry.backfill`). This module turns each such
source into a ``new_source`` candidate whose details say what a human needs
to judge it: the detection (PyBDSF flux, error, SNR, MJD, image) and the
earlier forced measurements at its position, each an upper limit of
``limit_sigma`` times its error when below that SNR (the forced
photometry's own upper-limit threshold), else a detection.

``seen_before`` is true when an earlier image already detected it (a
source the catalogs miss, not a transient); ``rise`` is the detected flux
over the deepest earlier limit (a turn-on by that factor at least). The
score is the detection's SNR over ``limit_sigma``.

:func:`new_source_candidate` is pure; :func:`register_new_source_candidates`
writes the rows through the repositories, in the photometry write phase's
transaction. How often noise peaks and the sidelobes of bright sources
become false new sources is measured by
``benchmarks/new_source_false_positives.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from dsa110_contimg.products import repositories as repo

KIND = "new_source"


@dataclass(frozen=True)
class NewSourceOptions:
    """Thresholds of the new-source candidates.

    Attributes
    ----------
    limit_sigma : float
        An earlier measurement below this SNR is an upper limit of this many
        errors (default 5, the forced photometry's threshold).
    max_listed : int
        Most recent earlier measurements listed in the details (default 20;
        the counts and the deepest limit cover all of them).
    """

    limit_sigma: float = 5.0
    max_listed: int = 20


DEFAULT_NEW_SOURCE_OPTIONS = NewSourceOptions()


def new_source_candidate(
    detection: dict[str, float],
    earlier_mjd: np.ndarray,
    earlier_flux_jy: np.ndarray,
    earlier_err_jy: np.ndarray,
    earlier_image_id: np.ndarray | None = None,
    options: NewSourceOptions = DEFAULT_NEW_SOURCE_OPTIONS,
) -> tuple[float, dict[str, Any]]:
    """Score and details of one new source.

    Parameters
    ----------
    detection : dict
        ``mjd``, ``flux_jy``, ``flux_err_jy`` of the detection (and
        optionally ``image_id``, ``peak_jy``).
    earlier_mjd, earlier_flux_jy, earlier_err_jy : array_like
        Forced measurements at its position in earlier images (any order).
    earlier_image_id : array_like, optional
        Their images.
    options : NewSourceOptions

    Returns
    -------
    score : float
        Detection SNR / ``limit_sigma``.
    details : dict
        JSON-serialisable (module notes).
    """
    t = np.asarray(earlier_mjd, float)
    f = np.asarray(earlier_flux_jy, float)
    s = np.asarray(earlier_err_jy, float)
    ids = np.full(t.size, -1) if earlier_image_id is None else np.asarray(earlier_image_id)
    order = np.argsort(t, kind="stable")
    t, f, s, ids = t[order], f[order], s[order], ids[order]
    with np.errstate(invalid="ignore", divide="ignore"):
        detected = f / s >= options.limit_sigma
    limit = options.limit_sigma * s
    flux, err = (_float(detection.get(k)) for k in ("flux_jy", "flux_err_jy"))
    snr = flux / err if err > 0 else float("nan")
    deepest = float(limit[~detected].min()) if np.any(~detected) else None
    listed = [
        {
            "mjd": float(t[k]),
            "image_id": int(ids[k]) if ids[k] >= 0 else None,
            "flux_jy": float(f[k]),
            "flux_err_jy": float(s[k]),
            "upper_limit_jy": None if detected[k] else float(limit[k]),
        }
        for k in range(max(t.size - options.max_listed, 0), t.size)
    ]
    details: dict[str, Any] = {
        "detection_mjd": float(detection["mjd"]),
        "detection_image_id": detection.get("image_id"),
        "detection_flux_jy": flux if np.isfinite(flux) else None,
        "detection_flux_err_jy": err if np.isfinite(err) else None,
        "detection_snr": snr if np.isfinite(snr) else None,
        "n_earlier": int(t.size),
        "n_earlier_limits": int(np.sum(~detected)),
        "n_earlier_detections": int(np.sum(detected)),
        "seen_before": bool(np.any(detected)),
        "deepest_limit_jy": deepest,
        "last_limit_mjd": float(t[~detected].max()) if np.any(~detected) else None,
        "rise": flux / deepest if deepest and np.isfinite(flux) else None,
        "earlier": listed,
        "limit_sigma": options.limit_sigma,
    }
    score = snr / options.limit_sigma if np.isfinite(snr) else 0.0
    return float(score), details


def _float(value: Any) -> float:
    """A float, NaN for None (a blind detection's missing flux)."""
    return float("nan") if value is None else float(value)


def register_new_source_candidates(
    session: Session,
    measurement: Any,
    options: NewSourceOptions = DEFAULT_NEW_SOURCE_OPTIONS,
) -> list[int]:
    """Register a ``new_source`` candidate for each blind detection of one image.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The photometry write phase's session (the caller commits).
    measurement : photometry.records.Measurement
        With its blind sources registered (``sources.ids`` filled in) and
        back-filled: reads ``new_blind`` (the detections, in order, the last
        ``n_blind`` of ``sources``), ``image`` and ``backfill`` (the earlier
        forced measurements, raw fluxes: the detection is not normalised
        either).

    Returns
    -------
    list of int
        Candidate ids.
    """
    m = measurement
    n_blind = len(m.new_blind)
    if not n_blind:
        return []
    ids = m.sources.ids[m.sources.ids.size - n_blind :]
    earlier: list[list[tuple[float, float, float, int]]] = [[] for _ in range(n_blind)]
    for rows in m.backfill:
        for k in rows.ok:
            earlier[int(rows.index[k])].append(
                (
                    float(rows.image.mjd_obs),
                    float(rows.result.flux_jy[k]),
                    float(rows.result.flux_err_jy[k]),
                    int(rows.image.id),
                )
            )
    out = []
    for j, fields in enumerate(m.new_blind):
        points = np.array(earlier[j], float).reshape(-1, 4)
        score, details = new_source_candidate(
            {
                "mjd": float(m.image.mjd_obs),
                "image_id": int(m.image.id),
                "flux_jy": fields["catalog_flux_jy"],
                "flux_err_jy": fields["catalog_flux_err_jy"],
            },
            points[:, 0],
            points[:, 1],
            points[:, 2],
            points[:, 3].astype(int),
            options,
        )
        cand = repo.register_candidate(
            session, source_id=int(ids[j]), kind=KIND, score=score, details=details
        )
        out.append(int(cand.id))
    return out

"""One entry per sky position across catalogs: cross-catalog duplicates merged.

The same radio source is listed by several surveys (NVSS, FIRST, VLASS...),
at positions a few arcseconds apart. Measured as two sources, the forced
photometry fits them jointly, cannot separate them (``UNSTABLE_BLEND``) and
gives each about half the flux, every epoch: two half light curves instead
of one. :func:`unique_by_position` keeps one entry per position: entries of
different catalogs closer than ``radius_arcsec`` are the same source, and the
one from the preferred catalog is kept (:data:`CATALOG_PRIORITY`: NVSS first,
a 1.4 GHz flux at a resolution close to ours; then FIRST, VLASS, the
others in the order given). Entries of one catalog are never merged with
each other: close pairs within a survey are distinct components.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

CATALOG_PRIORITY = ("NVSS", "FIRST", "VLASS", "RACS", "SUMSS", "WENSS", "TGSS")
"""Preferred catalogs, best first; others rank after them, in order of appearance."""

DUPLICATE_RADIUS_ARCSEC = 10.0
"""Entries of different catalogs closer than this are one source (half a DSA-110 beam)."""


def unique_by_position(
    ra_deg: np.ndarray,
    dec_deg: np.ndarray,
    catalogs: np.ndarray | list[str],
    *,
    radius_arcsec: float = DUPLICATE_RADIUS_ARCSEC,
    priority: tuple[str, ...] = CATALOG_PRIORITY,
) -> np.ndarray:
    """Which entries to keep so that no two of different catalogs lie within the radius.

    Parameters
    ----------
    ra_deg, dec_deg : array_like
        Positions, degrees, shape (N,).
    catalogs : array_like of str
        Catalog label of each entry (``None`` or ``"blind"`` rank last).
    radius_arcsec : float
        Matching radius.
    priority : tuple of str
        Catalog labels, preferred first.

    Returns
    -------
    numpy.ndarray
        Boolean mask, shape (N,): True for the entries kept. Entries are
        visited by catalog rank then input order; one is dropped when a kept
        entry of another catalog lies within the radius.
    """
    ra = np.radians(np.asarray(ra_deg, float))
    dec = np.radians(np.asarray(dec_deg, float))
    labels = [str(c or "blind") for c in catalogs]
    keep = np.ones(ra.size, bool)
    if ra.size < 2 or len(set(labels)) < 2:
        return keep
    seen = list(dict.fromkeys(labels))
    order_of = {
        c: (priority.index(c) if c in priority else len(priority) + seen.index(c)) for c in seen
    }
    rank = np.array([order_of[c] for c in labels])
    if "blind" in order_of:
        rank[np.array(labels) == "blind"] = len(priority) + len(seen)
    xyz = np.c_[np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)]
    chord = 2 * np.sin(0.5 * np.radians(radius_arcsec / 3600.0))
    pairs = cKDTree(xyz).query_pairs(chord, output_type="ndarray")
    pairs = pairs[rank[pairs[:, 0]] != rank[pairs[:, 1]]]  # another catalog only
    if len(pairs) == 0:
        return keep
    neighbours: dict[int, list[int]] = {}
    for i, j in pairs.tolist():
        neighbours.setdefault(i, []).append(j)
        neighbours.setdefault(j, []).append(i)
    for i in sorted(neighbours, key=lambda k: (rank[k], k)):
        if keep[i]:
            for j in neighbours[i]:
                if rank[j] != rank[i] and (rank[j], j) > (rank[i], i):
                    keep[j] = False
    return keep

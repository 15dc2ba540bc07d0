"""Back-fill: forced photometry of newly found sources in earlier images (compute only).

When blind finding registers a source that no catalog knows, its light
curve so far starts at the detection. Earlier epochs hold the most useful
part of it (was the source fainter, absent, as bright and just missed?), so
:func:`backfill_measurements` measures the new sources in every earlier
registered image that covers them and whose file is still on disk:

* earlier = ``mjd_obs`` before the detecting image's; primary-beam corrected
  (``pbcor`` or type ``image-pb``), status ``ok``, and already measured (it
  has its ``EpochNormalisation``): an image still waiting for its
  photometry (groups run out of order) measures the new sources itself,
  since they are known sources of its field by then, and must not be
  marked measured by a back-fill. The read phase loads these
  (:func:`~dsa110_contimg.photometry.field.earlier_images`);
* covering = the position falls on a finite (unblanked) pixel;
* the measurement is forced photometry at the new positions jointly with
  their known neighbours (the field's other sources within
  :data:`NEIGHBOUR_BEAMS` BMAJ), as in that epoch's own measurement; alone,
  a neighbour one beam away would leak ``exp(-r^2 / 4 sigma^2)`` = 25% of
  its flux into the new source and fake a turn-on. Only the new sources'
  rows are kept, normalised with the image's stored
  ``EpochNormalisation`` factor. Upper limits (SNR < 5) are kept as such,
  with their values.

No session is open here: the write phase
(:func:`~dsa110_contimg.photometry.store.write_measurement`) stores the rows
like any other ``Photometry`` rows and rebuilds the new sources' metrics
from their stored light curves before the detecting epoch is added to them.

Images whose file has gone are skipped (logged): the back-fill covers what
is still there.
"""

from __future__ import annotations

import logging
from dataclasses import fields

import numpy as np

from dsa110_contimg.errors import InputDataError
from dsa110_contimg.photometry.field import field_radius_deg
from dsa110_contimg.photometry.forced import (
    DEFAULT_FORCED_OPTIONS,
    ForcedOptions,
    ForcedPhotometry,
    forced_photometry,
)
from dsa110_contimg.photometry.normalise import apply_correction
from dsa110_contimg.photometry.records import (
    BackfillRows,
    EarlierImage,
    FieldSources,
    ImageRecord,
)
from dsa110_contimg.products.repositories import angular_separation_deg

log = logging.getLogger(__name__)

NEIGHBOUR_BEAMS = 3.0
"""Known sources within this many BMAJ of a new one are fitted with it (joint fits reach 2.5)."""


def covering_images(
    image: ImageRecord, sources: FieldSources, earlier: list[EarlierImage]
) -> list[EarlierImage]:
    """Those of ``earlier`` whose field holds one of ``sources``, in time order.

    A declination band (as wide as twice ``image``'s half-diagonal around
    the sources) narrows the list; each image's own half-diagonal decides.
    """
    margin = 2 * field_radius_deg(image)
    low = float(np.min(sources.dec_deg)) - margin
    high = float(np.max(sources.dec_deg)) + margin
    found = []
    for other in earlier:
        if not low <= other.image.dec_deg <= high:
            continue
        sep = angular_separation_deg(
            sources.ra_deg, sources.dec_deg, other.image.ra_deg, other.image.dec_deg
        )
        if np.any(sep <= field_radius_deg(other.image)):
            found.append(other)
    return found


def backfill_measurements(
    image: ImageRecord,
    sources: FieldSources,
    earlier: list[EarlierImage],
    neighbours: FieldSources | None = None,
    forced: ForcedOptions = DEFAULT_FORCED_OPTIONS,
) -> list[BackfillRows]:
    """Forced photometry of new sources in the earlier images that cover them.

    Parameters
    ----------
    image : ImageRecord
        The image in which the sources were found.
    sources : FieldSources
        The new sources.
    earlier : list of EarlierImage
        Measured earlier images near ``image`` (the read phase's).
    neighbours : FieldSources, optional
        The known sources of the field, fitted jointly with the new ones
        they lie close to (their own results are not returned).
    forced : ForcedOptions
        The forced photometry's thresholds (as in the image's own measurement).

    Returns
    -------
    list of BackfillRows
        One per earlier image covering some of the sources.
    """
    if sources.ra_deg.size == 0:
        return []
    from dsa110_contimg.photometry.stage import on_usable_pixel, read_pb_image

    out = []
    for other in covering_images(image, sources, earlier):
        try:
            data, wcs, beam = read_pb_image(other.image)
        except InputDataError as exc:
            log.info("back-fill: image %d skipped: %s", other.image.id, exc)
            continue
        covered = np.flatnonzero(
            on_usable_pixel(wcs, np.isfinite(data), sources.ra_deg, sources.dec_deg)
        )
        if covered.size == 0:
            continue
        ra, dec = sources.ra_deg[covered], sources.dec_deg[covered]
        near = close_neighbours(ra, dec, neighbours, NEIGHBOUR_BEAMS * beam.bmaj_deg)
        if near.size:
            ra, dec = np.r_[ra, neighbours.ra_deg[near]], np.r_[dec, neighbours.dec_deg[near]]
        result = forced_photometry(data, wcs, beam, ra, dec, **forced.kwargs())
        # the new sources' rows only (the neighbours were measured in their own epoch)
        result = ForcedPhotometry(
            *(getattr(result, f.name)[: covered.size] for f in fields(result))
        )
        norm_flux, norm_err = apply_correction(
            result.flux_jy, result.flux_err_jy, other.factor, other.factor_err
        )
        ok = np.flatnonzero(np.isfinite(result.flux_jy) & (result.flux_err_jy > 0))
        out.append(BackfillRows(other.image, covered, result, norm_flux, norm_err, ok))
    return out


def close_neighbours(
    ra_deg: np.ndarray, dec_deg: np.ndarray, neighbours: FieldSources | None, radius_deg: float
) -> np.ndarray:
    """Indices of ``neighbours`` within ``radius_deg`` of any of the positions (none: empty)."""
    if neighbours is None or neighbours.ra_deg.size == 0 or ra_deg.size == 0:
        return np.zeros(0, np.int64)
    sep = angular_separation_deg(
        neighbours.ra_deg[:, None], neighbours.dec_deg[:, None], ra_deg[None, :], dec_deg[None, :]
    )
    # a neighbour at a new position (the same source) is not a neighbour
    close = (sep <= radius_deg) & (sep > 1e-6)
    return np.flatnonzero(close.any(axis=1) & ~(sep <= 1e-6).any(axis=1))

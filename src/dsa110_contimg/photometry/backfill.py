"""Back-fill: forced photometry of newly found sources in earlier images.

When blind finding registers a source that no catalog knows, its light
curve so far starts at the detection. Earlier epochs hold the most useful
part of it (was the source fainter, absent, as bright and just missed?), so
:func:`backfill_earlier_images` measures the new sources in every earlier
registered image that covers them and whose file is still on disk:

* earlier = ``mjd_obs`` before the detecting image's; primary-beam corrected
  (``pbcor`` or type ``image-pb``), status ``ok``, and already measured (it
  has its ``EpochNormalisation``): an image still waiting for its
  photometry (groups run out of order) measures the new sources itself,
  since they are known sources of its field by then, and must not be
  marked measured by a back-fill;
* covering = the position falls on a finite (unblanked) pixel;
* the measurement is forced photometry at the new positions alone (in a
  crowded field a neighbour the catalog knows was fitted jointly in that
  epoch; here it is not, see the BLENDED flag), normalised with the
  image's stored ``EpochNormalisation`` factor and stored like any other
  ``Photometry`` row: upper limits
  (SNR < 5) kept as such, with their values;
* the new sources' metrics are then rebuilt from their stored light curves
  (:func:`~dsa110_contimg.variability.stage.recompute_metrics`), before the
  detecting epoch is added to them.

Images whose file has gone are skipped (logged): the back-fill covers what
is still there.
"""

from __future__ import annotations

import logging

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsa110_contimg.errors import InputDataError
from dsa110_contimg.photometry.forced import forced_photometry
from dsa110_contimg.photometry.normalise import apply_correction
from dsa110_contimg.photometry.stage import (
    FieldSources,
    field_radius_deg,
    on_usable_pixel,
    photometry_rows,
    read_pb_image,
)
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import EpochNormalisation, Image, ProductStatus
from dsa110_contimg.variability.stage import recompute_metrics

log = logging.getLogger(__name__)


def earlier_images(
    session: Session, image: Image, sources: FieldSources
) -> list[tuple[Image, EpochNormalisation]]:
    """Measured pb-corrected images before ``image`` whose field holds a source, in time order.

    Returns each image with its stored normalisation. A declination band (as
    wide as twice ``image``'s half-diagonal around the sources) narrows the
    query; each image's own half-diagonal decides.
    """
    margin = 2 * field_radius_deg(image)
    stmt = (
        sa.select(Image, EpochNormalisation)
        .join(EpochNormalisation, EpochNormalisation.image_id == Image.id)
        .where(
            Image.mjd_obs < image.mjd_obs,
            Image.id != image.id,
            sa.or_(Image.pbcor.is_(True), Image.image_type == "image-pb"),
            Image.status == ProductStatus.OK,
            Image.dec_deg.between(
                float(np.min(sources.dec_deg)) - margin, float(np.max(sources.dec_deg)) + margin
            ),
        )
        .order_by(Image.mjd_obs, Image.id)
    )
    found = []
    for other, norm in session.execute(stmt).all():
        sep = repo.angular_separation_deg(
            sources.ra_deg, sources.dec_deg, other.ra_deg, other.dec_deg
        )
        if np.any(sep <= field_radius_deg(other)):
            found.append((other, norm))
    return found


def backfill_earlier_images(
    session: Session, image: Image, sources: FieldSources, *, preset: str | None = None
) -> int:
    """Measure new sources in the earlier images that cover them; rebuild their metrics.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session on the products DB (the caller commits).
    image : Image
        The image in which the sources were found.
    sources : FieldSources
        The new sources (registered ``Source`` rows).
    preset : str, optional
        Variability preset (its error floor; default ``conservative``).

    Returns
    -------
    int
        Photometry rows added.
    """
    if sources.ids.size == 0:
        return 0
    added = 0
    for other, norm in earlier_images(session, image, sources):
        try:
            data, wcs, beam = read_pb_image(other)
        except InputDataError as exc:
            log.info("back-fill: image %d skipped: %s", other.id, exc)
            continue
        covered = np.flatnonzero(
            on_usable_pixel(wcs, np.isfinite(data), sources.ra_deg, sources.dec_deg)
        )
        if covered.size == 0:
            continue
        result = forced_photometry(
            data, wcs, beam, sources.ra_deg[covered], sources.dec_deg[covered]
        )
        norm_flux, norm_err = apply_correction(
            result.flux_jy, result.flux_err_jy, norm.factor, norm.factor_err
        )
        ok = np.flatnonzero(np.isfinite(result.flux_jy) & (result.flux_err_jy > 0))
        rows = photometry_rows(sources.ids[covered], other.mjd_obs, result, norm_flux, norm_err, ok)
        added += repo.add_photometry(session, other.id, rows)
    if added:
        recompute_metrics(session, sources.ids, preset=preset)
    log.info(
        "image %d: %d new sources back-filled with %d measurements in earlier images",
        image.id,
        sources.ids.size,
        added,
    )
    return added

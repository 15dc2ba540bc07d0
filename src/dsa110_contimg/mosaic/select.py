"""Which registered images go into a mosaic: pb-corrected science images and their beams."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from dsa110_contimg.errors import InputDataError
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import ImageRating


@dataclass(frozen=True)
class TileInput:
    """One image to co-add.

    Attributes
    ----------
    image_id
        ``images.id`` of the pb-corrected (``image-pb``) row.
    pb_path, beam_path
        The pb-corrected image (Jy/beam, NaN beyond the pb limit) and its beam
        (primary-beam power relative to the peak, same grid).
    rms_jy
        Noise of the flat-noise image (Jy/beam): the pb-corrected noise at a
        pixel is ``rms_jy / beam``.
    mjd_obs
        Mid-time of the data, MJD (UTC).
    """

    image_id: int
    pb_path: str
    beam_path: str
    rms_jy: float
    mjd_obs: float


def select_tiles(
    session: Session,
    *,
    mjd_start: float | None = None,
    mjd_end: float | None = None,
    dec_min: float | None = None,
    dec_max: float | None = None,
    image_ids: Sequence[int] | None = None,
) -> list[TileInput]:
    """The current (status ``ok``) ``image-pb`` rows in a time range / strip, with their beams.

    Parameters
    ----------
    mjd_start, mjd_end
        Mid-times in ``[mjd_start, mjd_end)``, MJD (UTC).
    dec_min, dec_max
        Pointing declinations in ``[dec_min, dec_max]``, degrees.
    image_ids
        Only these ``image-pb`` ids (each must exist and be pb-corrected).

    Raises
    ------
    InputDataError
        If an image has no beam row or no noise, or an id asked for is not a
        current pb-corrected image.
    """
    rows = repo.pbcor_image_rows(
        session,
        image_ids=None if image_ids is None else list(image_ids),
        mjd_start=mjd_start,
        mjd_end=mjd_end,
        dec_min=dec_min,
        dec_max=dec_max,
    )
    # An image an operator rated bad is never co-added (re-rating it good restores it).
    bad = sorted(r.id for r in rows if r.rating == ImageRating.BAD)
    if bad and image_ids is not None:
        raise InputDataError(
            f"images {bad} were rated bad by an operator", hint="rate them good, or leave them out"
        )
    rows = [r for r in rows if r.rating != ImageRating.BAD]
    if image_ids is not None:
        missing = sorted(set(image_ids) - {r.id for r in rows})
        if missing:
            raise InputDataError(
                f"images {missing} are not pb-corrected images in the selection",
                hint="list them with `GET /api/images?image_type=image-pb`",
            )
    beams = repo.beam_paths_of(session, {r.ms_id for r in rows})
    tiles = []
    for row in rows:
        beam = beams.get((row.ms_id, row.version))
        if beam is None or row.noise_jy is None:
            raise InputDataError(
                f"image {row.id} ({row.path}) has no registered beam or noise",
                hint="re-image its MS with `dsa110 image --register`",
            )
        tiles.append(TileInput(row.id, row.path, beam, float(row.noise_jy), row.mjd_obs))
    return tiles

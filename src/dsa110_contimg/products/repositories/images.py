"""Images made from Measurement Sets."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsa110_contimg.products.models import (
    Image,
    ImageRating,
    MeasurementSet,
    MSStage,
    ProductStatus,
    QAGrade,
)
from dsa110_contimg.products.repositories.events import publish_event, touch
from dsa110_contimg.products.repositories.ms import get_ms
from dsa110_contimg.products.repositories.query import (
    Filter,
    Listing,
    _one,
    _set_fields,
    mjd_range,
)


def register_image(
    session: Session,
    *,
    path: str,
    mjd_obs: float,
    ra_deg: float,
    dec_deg: float,
    size_x: int,
    size_y: int,
    cell_arcsec: float,
    image_type: str = "image",
    ms_path: str | None = None,
    **fields: Any,
) -> Image:
    """Register a FITS image with its beam and QA, and announce it (topic ``image``)."""
    ms_id = get_ms(session, ms_path).id if ms_path else None
    image = Image(
        path=path,
        ms_id=ms_id,
        image_type=image_type,
        mjd_obs=mjd_obs,
        ra_deg=ra_deg,
        dec_deg=dec_deg,
        size_x=size_x,
        size_y=size_y,
        cell_arcsec=cell_arcsec,
    )
    _set_fields(image, fields)
    session.add(image)
    session.flush()
    payload = {"id": image.id, "path": path, "mjd_obs": mjd_obs, "noise_jy": image.noise_jy}
    publish_event(session, "image", "new", payload)
    return image


def get_image(session: Session, image_id: int) -> Image:
    """The image with this id, or :class:`NotFoundError`."""
    return _one(session, sa.select(Image).where(Image.id == image_id), f"image {image_id}")


def images_of_ms(session: Session, ms_id: int) -> list[Image]:
    """The images made from one MS."""
    stmt = sa.select(Image).where(Image.ms_id == ms_id).order_by(Image.id)
    return list(session.scalars(stmt))


def _made_from(ms_path: str) -> Any:
    ms_id = sa.select(MeasurementSet.id).where(MeasurementSet.path == ms_path).scalar_subquery()
    return Image.ms_id == ms_id


#: Images, filtered by MS, type, status, QA grade, primary-beam correction, time and noise.
IMAGES = Listing(
    "images",
    Image,
    (
        Filter(
            "ms_path",
            str,
            op="where",
            max_length=1024,
            description="Made from the MS at this path",
            where=_made_from,
        ),
        Filter("image_type", str, Image.image_type, max_length=32),
        Filter("status", ProductStatus, Image.status),
        Filter("qa_grade", QAGrade, Image.qa_grade),
        Filter("pbcor", bool, Image.pbcor),
        *mjd_range(Image.mjd_obs, "observation"),
        Filter(
            "noise_max_jy",
            float,
            Image.noise_jy,
            op="le",
            gt=0,
            le=1e6,
            description="Highest image noise (Jy)",
        ),
        Filter("rating", ImageRating, Image.rating, description="An operator's rating"),
    ),
)
list_images = IMAGES.page


# --------------------------------------------------------------------------
# The imaging step's and the mosaic's reads and writes (imaging.stage, mosaic.select)
# --------------------------------------------------------------------------
def current_image_of_ms(session: Session, ms_id: int) -> Image | None:
    """One of the MS's usable (status ``ok``) images, if it has any."""
    stmt = sa.select(Image).where(Image.ms_id == ms_id, Image.status == ProductStatus.OK)
    return session.scalars(stmt.limit(1)).first()


def highest_image_version(session: Session, ms_id: int) -> int:
    """The highest image version registered for the MS (0 if none)."""
    top = session.scalar(sa.select(sa.func.max(Image.version)).where(Image.ms_id == ms_id))
    return int(top or 0)


def registered_image_paths(session: Session, paths: list[str]) -> list[str]:
    """Those of ``paths`` that are already registered as images."""
    return list(session.scalars(sa.select(Image.path).where(Image.path.in_(paths))))


def supersede_images_of_ms(session: Session, ms_id: int) -> None:
    """Mark the MS's usable images superseded (a new version is being registered)."""
    session.execute(
        sa.update(Image)
        .where(Image.ms_id == ms_id, Image.status == ProductStatus.OK)
        .values(status=ProductStatus.SUPERSEDED)
    )
    touch(session, "image", "superseded")


def mark_ms_imaged(session: Session, ms_id: int) -> None:
    """Record that the MS has been imaged (its stage becomes ``imaged``)."""
    session.get(MeasurementSet, ms_id).stage = MSStage.IMAGED


def pbcor_image_rows(
    session: Session,
    *,
    image_ids: list[int] | None = None,
    mjd_start: float | None = None,
    mjd_end: float | None = None,
    dec_min: float | None = None,
    dec_max: float | None = None,
) -> list[Image]:
    """The ``image-pb`` rows in a time range / strip (current ones, or exactly these ids), by time.

    Times are ``[mjd_start, mjd_end)`` (MJD), declinations ``[dec_min, dec_max]`` (deg).
    """
    stmt = sa.select(Image).where(Image.image_type == "image-pb", Image.pbcor.is_(True))
    if image_ids is not None:
        stmt = stmt.where(Image.id.in_(list(image_ids)))
    else:
        stmt = stmt.where(Image.status == ProductStatus.OK)
    if mjd_start is not None:
        stmt = stmt.where(Image.mjd_obs >= mjd_start)
    if mjd_end is not None:
        stmt = stmt.where(Image.mjd_obs < mjd_end)
    if dec_min is not None:
        stmt = stmt.where(Image.dec_deg >= dec_min)
    if dec_max is not None:
        stmt = stmt.where(Image.dec_deg <= dec_max)
    return list(session.scalars(stmt.order_by(Image.mjd_obs, Image.id)))


def beam_paths_of(session: Session, ms_ids: set[int]) -> dict[tuple[int, int], str]:
    """The ``beam`` image path of each (MS id, version) among these MSs."""
    stmt = sa.select(Image.ms_id, Image.version, Image.path).where(
        Image.image_type == "beam", Image.ms_id.in_(ms_ids)
    )
    return {(ms_id, version): path for ms_id, version, path in session.execute(stmt)}

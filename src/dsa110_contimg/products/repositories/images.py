"""Images made from Measurement Sets."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsa110_contimg.products.models import (
    Image,
    MeasurementSet,
)
from dsa110_contimg.products.repositories.events import publish_event
from dsa110_contimg.products.repositories.ms import get_ms
from dsa110_contimg.products.repositories.query import (
    _LISTS,
    Page,
    _between,
    _one,
    _page_of,
    _set_fields,
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


def list_images(
    session: Session,
    *,
    ms_path: str | None = None,
    image_type: str | None = None,
    status: str | None = None,
    qa_grade: str | None = None,
    pbcor: bool | None = None,
    mjd_min: float | None = None,
    mjd_max: float | None = None,
    noise_max_jy: float | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Images, filtered by MS, type, status, QA grade, time and noise."""
    stmt = images_query(
        ms_path=ms_path,
        image_type=image_type,
        status=status,
        qa_grade=qa_grade,
        pbcor=pbcor,
        mjd_min=mjd_min,
        mjd_max=mjd_max,
        noise_max_jy=noise_max_jy,
    )
    return _page_of(session, "images", Image, stmt, sort, limit, offset)


def images_query(
    *,
    ms_path: str | None = None,
    image_type: str | None = None,
    status: str | None = None,
    qa_grade: str | None = None,
    pbcor: bool | None = None,
    mjd_min: float | None = None,
    mjd_max: float | None = None,
    noise_max_jy: float | None = None,
) -> sa.Select[Any]:
    """The filtered ``select`` behind :func:`list_images` (also used by exports)."""
    stmt = _between(_LISTS[Image], Image.mjd_obs, mjd_min, mjd_max)
    stmt = _between(stmt, Image.noise_jy, None, noise_max_jy)
    if ms_path is not None:
        stmt = stmt.join(MeasurementSet, MeasurementSet.id == Image.ms_id).where(
            MeasurementSet.path == ms_path
        )
    for column, value in (
        (Image.image_type, image_type),
        (Image.status, status),
        (Image.qa_grade, qa_grade),
        (Image.pbcor, pbcor),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    return stmt

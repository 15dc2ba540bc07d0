"""Mosaics and their tiles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsa110_contimg.products.models import (
    GroupState,
    Image,
    MeasurementSet,
    Mosaic,
    MosaicTile,
    ObservationGroup,
    ProductStatus,
)
from dsa110_contimg.products.repositories.events import publish_event
from dsa110_contimg.products.repositories.query import (
    Listing,
    NotFoundError,
    _one,
    _set_fields,
    mjd_range,
)


def register_mosaic(
    session: Session,
    *,
    name: str,
    path: str,
    tiles: Sequence[tuple[int, float | None]] = (),
    **fields: Any,
) -> Mosaic:
    """Register a mosaic and the images (with weights) it was made of."""
    mosaic = Mosaic(name=name, path=path)
    _set_fields(mosaic, fields)
    mosaic.tiles = [MosaicTile(image_id=i, weight=w) for i, w in tiles]
    session.add(mosaic)
    session.flush()
    publish_event(session, "mosaic", "new", {"id": mosaic.id, "name": name})
    return mosaic


def get_mosaic(session: Session, mosaic_id: int) -> Mosaic:
    """The mosaic with this id, or :class:`NotFoundError`."""
    return _one(session, sa.select(Mosaic).where(Mosaic.id == mosaic_id), f"mosaic {mosaic_id}")


def mosaic_tiles(session: Session, mosaic_id: int) -> list[MosaicTile]:
    """The tiles of a mosaic."""
    stmt = sa.select(MosaicTile).where(MosaicTile.mosaic_id == mosaic_id)
    return list(session.scalars(stmt.order_by(MosaicTile.image_id)))


#: Mosaics, by start time.
MOSAICS = Listing("mosaics", Mosaic, mjd_range(Mosaic.mjd_start, "start"))
list_mosaics = MOSAICS.page


def mosaic_name_taken(session: Session, name: str) -> bool:
    """Whether a mosaic with this name is registered."""
    return session.scalar(sa.select(Mosaic.id).where(Mosaic.name == name)) is not None


# --------------------------------------------------------------------------
# The daemon's mosaics: one per declination strip and period, versioned
# --------------------------------------------------------------------------
def groups_for_mosaics(
    session: Session, since_mjd: float, until_mjd: float | None = None
) -> list[tuple[str, float, float | None, GroupState]]:
    """(id, start MJD, pointing declination, state) of the groups starting in a range, by time."""
    stmt = sa.select(
        ObservationGroup.id,
        ObservationGroup.start_mjd,
        ObservationGroup.dec_deg,
        ObservationGroup.state,
    ).where(ObservationGroup.start_mjd >= since_mjd)
    if until_mjd is not None:
        stmt = stmt.where(ObservationGroup.start_mjd < until_mjd)
    return [
        (g, float(m), d, s)
        for g, m, d, s in session.execute(stmt.order_by(ObservationGroup.start_mjd))
    ]


def image_groups(session: Session, image_ids: Sequence[int]) -> dict[int, str | None]:
    """The group of each image (through its MS)."""
    stmt = (
        sa.select(Image.id, MeasurementSet.group_id)
        .join(MeasurementSet, MeasurementSet.id == Image.ms_id)
        .where(Image.id.in_(list(image_ids)))
    )
    return {k: v for k, v in session.execute(stmt)}


def current_period_mosaic(
    session: Session, strip_dec_deg: float, period: str, period_start_mjd: float
) -> Mosaic | None:
    """The newest current (status ``ok``) mosaic of a strip and period, or None."""
    stmt = (
        sa.select(Mosaic)
        .where(
            Mosaic.strip_dec_deg == strip_dec_deg,
            Mosaic.period == period,
            Mosaic.period_start_mjd == period_start_mjd,
            Mosaic.status == ProductStatus.OK,
        )
        .order_by(Mosaic.version.desc())
    )
    return session.scalars(stmt).first()


def latest_period_version(
    session: Session, strip_dec_deg: float, period: str, period_start_mjd: float
) -> int:
    """The highest version a strip and period has had (0 if none)."""
    stmt = sa.select(sa.func.max(Mosaic.version)).where(
        Mosaic.strip_dec_deg == strip_dec_deg,
        Mosaic.period == period,
        Mosaic.period_start_mjd == period_start_mjd,
    )
    return int(session.scalar(stmt) or 0)


def mosaic_tile_ids(session: Session, mosaic_id: int) -> set[int]:
    """The image ids a mosaic was made of."""
    stmt = sa.select(MosaicTile.image_id).where(MosaicTile.mosaic_id == mosaic_id)
    return set(session.scalars(stmt))


def supersede_mosaic(session: Session, old_id: int, new_id: int) -> None:
    """Mark a mosaic superseded by a newer version of the same strip and period."""
    old = get_mosaic(session, old_id)
    old.status = ProductStatus.SUPERSEDED
    old.superseded_by_id = new_id
    session.flush()
    publish_event(session, "mosaic", "superseded", {"id": old_id, "by": new_id})


def require_mosaic_images(session: Session, image_ids: Sequence[int]) -> None:
    """Raise :class:`NotFoundError` unless every id is a registered pb-corrected image."""
    stmt = sa.select(Image.id).where(
        Image.id.in_(list(image_ids)), Image.image_type == "image-pb", Image.pbcor.is_(True)
    )
    missing = sorted(set(image_ids) - set(session.scalars(stmt)))
    if missing:
        raise NotFoundError(f"not pb-corrected images: {', '.join(map(str, missing[:10]))}")

"""Mosaics and their tiles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsa110_contimg.products.models import (
    Mosaic,
    MosaicTile,
)
from dsa110_contimg.products.repositories.events import publish_event
from dsa110_contimg.products.repositories.query import (
    Listing,
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

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
    _LISTS,
    Page,
    _between,
    _one,
    _page_of,
    _set_fields,
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


def list_mosaics(
    session: Session,
    *,
    mjd_min: float | None = None,
    mjd_max: float | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Mosaics, by time."""
    stmt = _between(_LISTS[Mosaic], Mosaic.mjd_start, mjd_min, mjd_max)
    return _page_of(session, "mosaics", Mosaic, stmt, sort, limit, offset)

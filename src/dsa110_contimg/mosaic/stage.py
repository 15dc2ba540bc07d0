"""Build a named mosaic from the products DB and register it (files first, rows after)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg.errors import InputDataError, ProductExistsError
from dsa110_contimg.mosaic.build import MAX_BEAM_RATIO, MosaicResult, build_mosaic, remove_outputs
from dsa110_contimg.mosaic.select import TileInput, select_tiles
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.db import session_scope
from dsa110_contimg.products.models import Mosaic

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$")


def check_name(session: Session, name: str) -> None:
    """Refuse a name that is not a plain file stem or that a mosaic already has."""
    if not _NAME.match(name):
        raise InputDataError(
            f"invalid mosaic name {name!r}", hint="letters, digits and _ . + - only, <= 128"
        )
    if repo.mosaic_name_taken(session, name):
        raise ProductExistsError(
            f"a mosaic named {name!r} is already registered",
            hint="choose another name (e.g. with a version suffix)",
        )


def register_result(session: Session, name: str, result: MosaicResult, **fields: Any) -> Mosaic:
    """The mosaic row and its tile rows, in the caller's transaction; ``fields`` add columns."""
    return repo.register_mosaic(
        session,
        name=name,
        path=result.path,
        tiles=sorted(result.tile_weights.items()),
        mjd_start=result.mjd_start,
        mjd_end=result.mjd_end,
        ra_deg=result.ra_deg,
        dec_deg=result.dec_deg,
        size_x=result.size_x,
        size_y=result.size_y,
        cell_arcsec=result.cell_arcsec,
        noise_jy=result.noise_jy,
        preview_path=result.preview_path,
        **fields,
    )


def make_mosaic(
    factory: sessionmaker[Session],
    name: str,
    out_dir: str | Path,
    *,
    mjd_start: float | None = None,
    mjd_end: float | None = None,
    dec_min: float | None = None,
    dec_max: float | None = None,
    image_ids: Sequence[int] | None = None,
    cell_arcsec: float | None = None,
    max_beam_ratio: float = MAX_BEAM_RATIO,
    on_tiles: Callable[[list[TileInput]], None] | None = None,
    on_tile: Callable[[TileInput], None] | None = None,
) -> tuple[int, MosaicResult]:
    """Select, co-add and register the mosaic ``name`` as ``out_dir/name.fits``.

    The files are complete before anything is registered; the mosaic and its
    tiles are registered in one transaction, and if that fails the files are
    removed. A name already registered is refused
    (:class:`~dsa110_contimg.errors.ProductExistsError`).

    Returns
    -------
    tuple
        The new ``mosaics.id`` and the build result.
    """
    with session_scope(factory) as session:
        check_name(session, name)
        tiles = select_tiles(
            session,
            mjd_start=mjd_start,
            mjd_end=mjd_end,
            dec_min=dec_min,
            dec_max=dec_max,
            image_ids=image_ids,
        )
    if on_tiles is not None:
        on_tiles(tiles)
    result = build_mosaic(
        tiles,
        Path(out_dir).resolve() / f"{name}.fits",  # registered absolute, as images are
        cell_arcsec=cell_arcsec,
        max_beam_ratio=max_beam_ratio,
        on_tile=on_tile,
    )
    try:
        with session_scope(factory) as session:
            mosaic_id = register_result(session, name, result).id
    except sa.exc.IntegrityError as exc:
        # a concurrent build registered the name first: its rows point at these files
        raise ProductExistsError(f"a mosaic named {name!r} was registered meanwhile") from exc
    except BaseException:
        remove_outputs(result)
        raise
    log.info(
        "mosaic %d %r: %d tiles (images %s) -> %s, noise %.2f mJy/beam",
        mosaic_id,
        name,
        len(tiles),
        sorted(result.tile_weights),
        result.path,
        result.noise_jy * 1e3,
    )
    return mosaic_id, result

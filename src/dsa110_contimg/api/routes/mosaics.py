"""Mosaics: co-added images with their tiles, FITS and PNG previews (versions: ``status``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy.orm import Session

from dsa110_contimg.api.deps import DbSession, DownloadSlot, State, cached_json
from dsa110_contimg.api.errors import ERROR_RESPONSES, ApiError
from dsa110_contimg.api.files import PREVIEW_PX, THUMBNAIL_PX, product_file, render_png
from dsa110_contimg.api.routes.images import BUSY
from dsa110_contimg.api.schemas import PageOf, list_query, orm_schema
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import Mosaic, MosaicTile

router = APIRouter(prefix="/api/mosaics", tags=["mosaics"], responses=ERROR_RESPONSES)

MosaicOut = orm_schema(Mosaic, "Mosaic")
TileOut = orm_schema(MosaicTile, "MosaicTile")
MosaicPage = PageOf[MosaicOut]
MosaicQuery = list_query("mosaics")
MosaicId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Mosaic id")]


class MosaicDetail(MosaicOut):  # type: ignore[misc,valid-type]
    """A mosaic with its tiles (image ids and weights)."""

    tiles: list[TileOut]  # type: ignore[valid-type]


@router.get("", response_model=MosaicPage, summary="List mosaics")
def list_mosaics(request: Request, state: State, query: MosaicQuery):
    return cached_json(
        request,
        state,
        MosaicPage,
        lambda session: repo.list_mosaics(session, **query),
        validate=False,
    )


@router.get("/{mosaic_id}", response_model=MosaicDetail, summary="One mosaic")
def get_mosaic(request: Request, state: State, mosaic_id: MosaicId):
    def build(session: Session) -> dict[str, Any]:
        mosaic = repo.get_mosaic(session, mosaic_id)
        return {**repo.columns_of(mosaic), "tiles": repo.mosaic_tiles(session, mosaic_id)}

    return cached_json(request, state, MosaicDetail, build)


@router.get(
    "/{mosaic_id}/fits",
    response_class=FileResponse,
    responses={200: {"content": {"application/fits": {}}, "description": "FITS file"}, **BUSY},
    summary="Download a mosaic's FITS",
)
def mosaic_fits(state: State, session: DbSession, _: DownloadSlot, mosaic_id: MosaicId):
    mosaic = repo.get_mosaic(session, mosaic_id)
    path = product_file(state.settings, mosaic.path, f"mosaic {mosaic_id}")
    return FileResponse(path, media_type="application/fits", filename=path.name)


_PNG = {200: {"content": {"image/png": {}}, "description": "PNG image"}, **BUSY}


def _png(state: Any, session: Session, mosaic_id: int, thumbnail: bool) -> Response:
    """The PNG the build wrote beside the mosaic (``.png``, ``-thumb.png``), else rendered."""
    mosaic = repo.get_mosaic(session, mosaic_id)
    stored = mosaic.preview_path
    if stored and thumbnail:
        stored = stored.removesuffix(".png") + "-thumb.png"
    if stored:
        try:
            path = product_file(state.settings, stored, f"the preview of mosaic {mosaic_id}")
            return FileResponse(path, media_type="image/png")
        except ApiError:
            pass  # not on disk (e.g. made before previews): render from the FITS
    fits_path = product_file(state.settings, mosaic.path, f"mosaic {mosaic_id}")
    max_px = THUMBNAIL_PX if thumbnail else PREVIEW_PX

    def render() -> bytes:
        with state.renders.hold():
            return render_png(fits_path, max_px)

    body = state.cache.get_or_build(f"mosaic-png:{mosaic_id}:{max_px}", render)
    return Response(body, media_type="image/png")


@router.get(
    "/{mosaic_id}/preview.png", response_class=Response, responses=_PNG, summary="PNG preview"
)
def mosaic_preview(state: State, session: DbSession, mosaic_id: MosaicId):
    return _png(state, session, mosaic_id, thumbnail=False)


@router.get(
    "/{mosaic_id}/thumbnail.png", response_class=Response, responses=_PNG, summary="PNG thumbnail"
)
def mosaic_thumbnail(state: State, session: DbSession, mosaic_id: MosaicId):
    return _png(state, session, mosaic_id, thumbnail=True)

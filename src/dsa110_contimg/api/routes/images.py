"""Images: list, detail, FITS download, PNG preview and thumbnail, measurements."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydantic import BaseModel, Field, RootModel
from sqlalchemy.orm import Session

from dsa110_contimg.api.deps import DbSession, DownloadSlot, State, Writer, cached_json
from dsa110_contimg.api.errors import ERROR_RESPONSES, WRITE_RESPONSES, ApiError, ErrorBody
from dsa110_contimg.api.files import (
    PREVIEW_PX,
    THUMBNAIL_PX,
    product_file,
    render_png,
    zip_stream,
)
from dsa110_contimg.api.schemas import PageOf, list_query, orm_schema
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import Image, Photometry
from dsa110_contimg.variability.ratings import apply_image_rating

router = APIRouter(prefix="/api/images", tags=["images"], responses=ERROR_RESPONSES)

ImageOut = orm_schema(Image, "Image")
PhotometryOut = orm_schema(Photometry, "Photometry")
ImagePage = PageOf[ImageOut]
PhotometryPage = PageOf[PhotometryOut]
ImageQuery = list_query("images")
#: An image's measurements: paged and sorted, the image is the only filter.
MeasurementQuery = list_query("photometry", only=())
#: Most images one bulk download may hold.
MAX_DOWNLOAD = 100
ImageId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Image id")]

#: A transfer or render refused because too many run at once (``api_max_*``).
BUSY = {429: {"model": ErrorBody, "description": "Too many at once; see Retry-After"}}
_PNG = {200: {"content": {"image/png": {}}, "description": "PNG image"}, **BUSY}
_FITS = {200: {"content": {"application/fits": {}}, "description": "FITS file"}, **BUSY}


class ImageDetail(ImageOut):  # type: ignore[misc,valid-type]
    """An image with the path of the MS it was made from."""

    ms_path: str | None = None


@router.get("", response_model=ImagePage, summary="List images")
def list_images(request: Request, state: State, query: ImageQuery):
    return cached_json(
        request,
        state,
        ImagePage,
        lambda session: repo.list_images(session, **query),
        validate=False,
    )


@router.get(
    "/download",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/zip": {}}, "description": "Zip of FITS files"},
        **BUSY,
    },
    summary="Bulk download: a zip of several images' FITS",
)
def download_images(
    state: State,
    session: DbSession,
    _: DownloadSlot,
    ids: Annotated[
        list[Annotated[int, Field(ge=1, le=2**63 - 1)]],
        Query(min_length=1, max_length=MAX_DOWNLOAD, description="Image ids"),
    ],
):
    files = []
    for image_id in dict.fromkeys(ids):
        image = repo.get_image(session, image_id)
        files.append(
            product_file(state.settings, image.path, f"image {image_id}", purged_at=image.purged_at)
        )
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        raise ApiError(422, "invalid_parameters", "two of the images share a file name")
    return StreamingResponse(
        zip_stream(files),
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="images.zip"'},
    )


@router.get("/{image_id}", response_model=ImageDetail, summary="One image")
def get_image(request: Request, state: State, image_id: ImageId):
    def build(session: Session) -> dict[str, Any]:
        image = repo.get_image(session, image_id)
        return {**repo.columns_of(image), "ms_path": image.ms.path if image.ms else None}

    return cached_json(request, state, ImageDetail, build)


@router.get(
    "/{image_id}/fits", response_class=FileResponse, responses=_FITS, summary="Download FITS"
)
def image_fits(state: State, session: DbSession, _: DownloadSlot, image_id: ImageId):
    image = repo.get_image(session, image_id)
    path = product_file(state.settings, image.path, f"image {image_id}", purged_at=image.purged_at)
    return FileResponse(path, media_type="application/fits", filename=path.name)


def _png(state: Any, session: Any, image_id: int, recorded: str, max_px: int) -> Response:
    image = repo.get_image(session, image_id)
    stored = getattr(image, recorded)
    if stored:
        path = product_file(state.settings, stored, f"the {recorded} of image {image_id}")
        return FileResponse(path, media_type="image/png")
    fits_path = product_file(
        state.settings, image.path, f"image {image_id}", purged_at=image.purged_at
    )

    def render() -> bytes:
        with state.renders.hold():
            return render_png(fits_path, max_px)

    body = state.cache.get_or_build(f"png:{image_id}:{max_px}", render)
    return Response(body, media_type="image/png")


@router.get(
    "/{image_id}/preview.png", response_class=Response, responses=_PNG, summary="PNG preview"
)
def image_preview(state: State, session: DbSession, image_id: ImageId):
    return _png(state, session, image_id, "preview_path", PREVIEW_PX)


@router.get(
    "/{image_id}/thumbnail.png", response_class=Response, responses=_PNG, summary="PNG thumbnail"
)
def image_thumbnail(state: State, session: DbSession, image_id: ImageId):
    return _png(state, session, image_id, "thumbnail_path", THUMBNAIL_PX)


@router.get(
    "/{image_id}/photometry", response_model=PhotometryPage, summary="Measurements on an image"
)
def image_photometry(
    request: Request,
    state: State,
    image_id: ImageId,
    query: MeasurementQuery,
):
    def build(session: Session) -> repo.Page:
        repo.get_image(session, image_id)
        return repo.list_photometry(session, image_id=image_id, **query)

    return cached_json(request, state, PhotometryPage, build, validate=False)


class RatingIn(BaseModel):
    """An operator's rating: a bad image is left out of light curves, normalisation and mosaics."""

    rating: Literal["good", "bad"]
    comment: str | None = Field(None, max_length=repo.MAX_TEXT)


class RatingOut(BaseModel):
    """What a rating changed."""

    image_id: int
    rating: str
    images: list[int] = Field(description="The image rows the rating covers (same MS, version)")
    n_sources: int = Field(description="Sources whose metrics were recomputed")
    new_candidates: list[int]
    updated_candidates: list[int]
    withdrawn_candidates: list[int]


class RatingHistoryOut(BaseModel):
    id: int
    target_id: int
    value: str | None = None
    text: str | None = None
    author: str
    created_at: dt.datetime


RatingHistory = RootModel[list[RatingHistoryOut]]


@router.get("/{image_id}/ratings", response_model=RatingHistory, summary="An image's ratings")
def image_ratings(request: Request, state: State, image_id: ImageId):
    return cached_json(
        request,
        state,
        RatingHistory,
        lambda session: repo.image_rating_history(session, image_id),
    )


@router.post(
    "/{image_id}/rating",
    response_model=RatingOut,
    responses=WRITE_RESPONSES,
    summary="Rate an image good or bad (needs a writer); its sources are recomputed",
)
def rate_image(session: DbSession, state: State, who: Writer, image_id: ImageId, body: RatingIn):
    result = apply_image_rating(
        session,
        image_id,
        body.rating,
        body.comment,
        by=who,
        preset=state.settings.candidate_preset(),
    )
    session.commit()
    return result

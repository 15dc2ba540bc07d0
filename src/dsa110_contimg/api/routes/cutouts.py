"""Cutouts: a PNG of the square of an image around a position (the dashboard's source cutouts)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from dsa110_contimg.api.deps import DbSession, State
from dsa110_contimg.api.errors import ERROR_RESPONSES, ApiError
from dsa110_contimg.api.files import product_file, render_cutout_png
from dsa110_contimg.api.routes.images import BUSY, ImageId
from dsa110_contimg.products import repositories as repo

router = APIRouter(prefix="/api/images", tags=["images"], responses=ERROR_RESPONSES)

Finite = {"allow_inf_nan": False}


def _render(state: Any, path: Any, ra: float, dec: float, radius_deg: float) -> bytes:
    with state.renders.hold():  # at most api_max_renders at once
        return render_cutout_png(path, ra, dec, radius_deg)


@router.get(
    "/{image_id}/cutout.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "PNG image"}, **BUSY},
    summary="PNG of an image around a position",
)
def image_cutout(
    state: State,
    session: DbSession,
    image_id: ImageId,
    ra: Annotated[
        float | None,
        Query(ge=0, lt=360, description="Centre RA (deg; default the image's)", **Finite),
    ] = None,
    dec: Annotated[
        float | None,
        Query(ge=-90, le=90, description="Centre Dec (deg; default the image's)", **Finite),
    ] = None,
    radius_arcmin: Annotated[
        float, Query(gt=0, le=60, description="Half the side of the square", **Finite)
    ] = 2.0,
):
    if (ra is None) != (dec is None):
        raise ApiError(422, "invalid_parameters", "a cutout's centre needs both ra and dec")
    image = repo.get_image(session, image_id)
    path = product_file(state.settings, image.path, f"image {image_id}", purged_at=image.purged_at)
    # Only cutouts about the image's own centre are cached: arbitrary centres would
    # fill the cache with renders nobody asks for twice.
    centred = ra is None or dec is None
    if ra is None or dec is None:
        ra, dec = image.ra_deg, image.dec_deg
    if centred:
        body = state.cache.get_or_build(
            f"cutout:{image_id}:{radius_arcmin}",
            lambda: _render(state, path, ra, dec, radius_arcmin / 60),
        )
    else:
        body = _render(state, path, ra, dec, radius_arcmin / 60)
    return Response(body, media_type="image/png")

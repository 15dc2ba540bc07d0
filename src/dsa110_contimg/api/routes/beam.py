"""The primary beam measured on the sky: ``GET /api/qa/beam-profile``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from dsa110_contimg.api.deps import State, cached_json
from dsa110_contimg.api.errors import ERROR_RESPONSES
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import BeamModelKind
from dsa110_contimg.qa.beam_profile import beam_profile, measured_samples

router = APIRouter(prefix="/api/qa", tags=["qa"], responses=ERROR_RESPONSES)

Finite = {"allow_inf_nan": False}
Mjd = Annotated[float | None, Query(ge=repo.MJD_BOUNDS[0], le=repo.MJD_BOUNDS[1], **Finite)]


class ProfileBin(BaseModel):
    """One bin: offsets in degrees, the median forced / catalog ratio and the measured beam."""

    lo_deg: float
    hi_deg: float
    offset_deg: float
    n: int
    ratio: float | None
    ratio_err: float | None
    model_gain: float | None
    gain: float | None
    gain_err: float | None


class BeamModelOut(BaseModel):
    """A registered beam model version."""

    id: int
    version: int
    kind: BeamModelKind
    fwhm_scale: float
    valid_from_mjd: float
    created_at: dt.datetime
    superseded_by_id: int | None
    note: str | None
    profile: dict[str, Any]


class BeamProfileOut(BaseModel):
    """The beam measured from clean forced measurements of steady catalog sources.

    ``radial``: by distance from the pointing; ``ew`` / ``ns``: signed east /
    north offset of the sources within ``strip_deg`` of that axis. ``ratio``
    is forced / catalog on the pb-corrected images (1: the model is right),
    ``gain`` the beam it implies, ``model_gain`` the beam that was applied.
    """

    n_measurements: int
    n_images: int
    strip_deg: float
    since_mjd: float | None
    until_mjd: float | None
    min_snr: float
    beam_model_setting: str
    current_model: BeamModelOut | None
    radial: list[ProfileBin]
    ew: list[ProfileBin]
    ns: list[ProfileBin]


@router.get(
    "/beam-profile",
    response_model=BeamProfileOut,
    summary="The primary beam measured from forced / catalog fluxes, binned by offset",
)
def get_beam_profile(
    request: Request,
    state: State,
    since: Annotated[Mjd, Query(description="Images from this MJD (UTC)")] = None,
    until: Annotated[Mjd, Query(description="Images before this MJD (UTC)")] = None,
    min_snr: Annotated[
        float, Query(ge=0, le=1e6, description="Weakest measurement", **Finite)
    ] = 10.0,
    bins: Annotated[int, Query(ge=2, le=100, description="Radial bins")] = 12,
):
    if since is not None and until is not None and until <= since:
        raise repo.InvalidQueryError(f"until ({until}) must be after since ({since})")

    def build(session: Session) -> dict[str, Any]:
        samples = measured_samples(session, since_mjd=since, until_mjd=until, min_snr=min_snr)
        profile = beam_profile(samples, n_bins=bins).as_dict()
        return {
            "n_measurements": profile["n_measurements"],
            "n_images": profile["n_images"],
            "strip_deg": profile["strip_deg"],
            **profile["profiles"],
            "since_mjd": since,
            "until_mjd": until,
            "min_snr": min_snr,
            "beam_model_setting": state.settings.beam_model,
            "current_model": repo.current_beam_model(session),
        }

    return cached_json(request, state, BeamProfileOut, build)

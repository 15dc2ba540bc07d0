"""Quality assessment of jobs, Measurement Sets and images."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from dsa110_contimg.api.deps import State, cached_json, product_path
from dsa110_contimg.api.errors import ERROR_RESPONSES
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import (
    CalTableStatus,
    CalTableType,
    JobStatus,
    MSStage,
    ProductStatus,
    QAGrade,
)

router = APIRouter(prefix="/api/qa", tags=["qa"], responses=ERROR_RESPONSES)


class ImageQA(BaseModel):
    """An image's QA grade and the measurements behind it."""

    id: int
    path: str
    qa_grade: QAGrade | None
    qa_metrics: dict[str, Any] | None
    noise_jy: float | None
    peak_jy: float | None
    dynamic_range: float | None
    beam_major_arcsec: float | None
    beam_minor_arcsec: float | None
    beam_pa_deg: float | None


class CalQA(BaseModel):
    """A calibration table's QA."""

    path: str
    table_type: CalTableType
    status: CalTableStatus
    qa_metrics: dict[str, Any] | None


class MSQA(BaseModel):
    """An MS's QA: flagging, its own metrics, the calibration applied, its images' QA."""

    path: str
    stage: MSStage
    status: ProductStatus
    flag_fraction: float | None
    qa_metrics: dict[str, Any] | None
    note: str | None
    cal_tables: list[CalQA]
    images: list[ImageQA]


class JobQA(BaseModel):
    """A job's outcome and the QA of what it processed (the MS of its group)."""

    run_id: str
    status: JobStatus
    error: str | None
    group_id: str | None
    ms: list[MSQA]


def _ms_qa(session: Any, ms: Any) -> dict[str, Any]:
    return {
        **repo.columns_of(ms),
        "cal_tables": repo.cal_applied_to(session, ms.id),
        "images": repo.images_of_ms(session, ms.id),
    }


@router.get("/job/{run_id}", response_model=JobQA, summary="QA of a job")
def job_qa(
    request: Request,
    state: State,
    run_id: Annotated[str, Path(min_length=1, max_length=64)],
):
    def build(session: Session) -> dict[str, Any]:
        job = repo.get_job(session, run_id)
        ms_list = repo.ms_of_group(session, job.group_id) if job.group_id else []
        return {**repo.columns_of(job), "ms": [_ms_qa(session, ms) for ms in ms_list]}

    return cached_json(request, state, JobQA, build)


@router.get("/ms/{path:path}", response_model=MSQA, summary="QA of a Measurement Set")
def ms_qa(request: Request, state: State, path: str):
    return cached_json(
        request,
        state,
        MSQA,
        lambda session: _ms_qa(session, repo.get_ms(session, product_path(path))),
    )


@router.get("/image/{image_id}", response_model=ImageQA, summary="QA of an image")
def image_qa(
    request: Request,
    state: State,
    image_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
):
    return cached_json(request, state, ImageQA, lambda session: repo.get_image(session, image_id))

"""Variability, ESE and new-source candidates, and a human's verdict on them (a write)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from dsa110_contimg.api.deps import DbSession, State, Writer, cached_json
from dsa110_contimg.api.errors import ERROR_RESPONSES, WRITE_RESPONSES
from dsa110_contimg.api.schemas import PageOf, list_query, orm_schema
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import Candidate, CandidateStatus

router = APIRouter(prefix="/api/candidates", tags=["candidates"], responses=ERROR_RESPONSES)

CandidateOut = orm_schema(Candidate, "Candidate")
CandidatePage = PageOf[CandidateOut]
CandidateQuery = list_query("candidates")
CandidateId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Candidate id")]


class CandidateUpdate(BaseModel):
    """A verdict on a candidate."""

    status: CandidateStatus
    note: str | None = Field(None, max_length=4000)


@router.get("", response_model=CandidatePage, summary="List candidates")
def list_candidates(request: Request, state: State, query: CandidateQuery):
    return cached_json(
        request,
        state,
        CandidatePage,
        lambda session: repo.list_candidates(session, **query),
        validate=False,
    )


@router.get("/{candidate_id}", response_model=CandidateOut, summary="One candidate")
def get_candidate(request: Request, state: State, candidate_id: CandidateId):
    return cached_json(
        request, state, CandidateOut, lambda session: repo.get_candidate(session, candidate_id)
    )


@router.patch(
    "/{candidate_id}",
    response_model=CandidateOut,
    responses=WRITE_RESPONSES,
    summary="Confirm or dismiss a candidate (needs an API key)",
)
def update_candidate(
    session: DbSession, who: Writer, candidate_id: CandidateId, body: CandidateUpdate
):
    # ``who`` is the API key's fingerprint (never the key): the verdict's author.
    candidate = repo.set_candidate_status(session, candidate_id, body.status, body.note, by=who)
    session.commit()
    return candidate

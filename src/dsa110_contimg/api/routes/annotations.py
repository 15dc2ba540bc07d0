"""Vetting of candidates and sources: verdicts, tags and comments, kept as history (writes)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field, RootModel

from dsa110_contimg.api.deps import DbSession, State, Writer, cached_json
from dsa110_contimg.api.errors import ERROR_RESPONSES, WRITE_RESPONSES
from dsa110_contimg.products import repositories as repo

router = APIRouter(prefix="/api/vetting", tags=["vetting"], responses=ERROR_RESPONSES)

TargetId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Candidate or source id")]
CommentId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Comment id")]
TagPath = Annotated[str, Path(min_length=1, max_length=repo.MAX_TAG, description="A tag")]


class AnnotationOut(BaseModel):
    """One step of the history."""

    id: int
    target_kind: str
    target_id: int
    kind: str = Field(description="verdict, tag, untag, comment, comment_edit or rating")
    value: str | None = None
    text: str | None = None
    comment_id: int | None = None
    author: str
    created_at: dt.datetime


class CommentVersion(BaseModel):
    text: str
    author: str
    at: dt.datetime


class CommentOut(BaseModel):
    """A comment: its latest text, when it was made and last edited, and every text it had."""

    id: int
    text: str
    author: str
    created_at: dt.datetime
    edited_at: dt.datetime | None = None
    edited_by: str | None = None
    versions: list[CommentVersion]


class VettingOut(BaseModel):
    """The vetting of a candidate or a source: now, and its whole history."""

    target_kind: str
    target_id: int
    verdict: str | None = None
    reason: str | None = None
    verdict_by: str | None = None
    verdict_at: dt.datetime | None = None
    tags: list[str]
    comments: list[CommentOut]
    history: list[AnnotationOut]


class VerdictIn(BaseModel):
    """A verdict and why."""

    verdict: Literal["confirmed", "dismissed", "needs_follow_up", "new"] = Field(
        description="new (on a candidate only): taken back, to be looked at again"
    )
    reason: str | None = Field(None, max_length=repo.MAX_TEXT)


class TagIn(BaseModel):
    tag: str = Field(min_length=1, max_length=repo.MAX_TAG)


class CommentIn(BaseModel):
    text: str = Field(min_length=1, max_length=repo.MAX_TEXT)


def _vetting(session: Any, target: str, target_id: int) -> dict[str, Any]:
    return repo.vetting_of(session, target, target_id)


TagList = RootModel[list[str]]


@router.get("/tags", response_model=TagList, summary="Every tag given so far")
def list_tags(request: Request, state: State):
    return cached_json(request, state, TagList, lambda session: repo.known_tags(session))


@router.patch(
    "/comments/{comment_id}",
    response_model=VettingOut,
    responses=WRITE_RESPONSES,
    summary="Edit a comment (the earlier text stays in the history)",
)
def edit_comment(session: DbSession, who: Writer, comment_id: CommentId, body: CommentIn):
    row = repo.edit_comment(session, comment_id, body.text, by=who)
    session.commit()
    return _vetting(session, row.target_kind.value, row.target_id)


def _target_routes(target: str, plural: str) -> None:
    """The vetting routes of one kind of target, under ``/api/<plural>/{id}``."""
    base = f"/api/{plural}/{{target_id}}"

    @outer.get(f"{base}/vetting", response_model=VettingOut, summary=f"A {target}'s vetting")
    def get_vetting(request: Request, state: State, target_id: TargetId):
        return cached_json(
            request, state, VettingOut, lambda session: _vetting(session, target, target_id)
        )

    @outer.post(
        f"{base}/verdict",
        response_model=VettingOut,
        responses=WRITE_RESPONSES,
        summary=f"Give a {target} a verdict with a reason",
    )
    def give_verdict(session: DbSession, who: Writer, target_id: TargetId, body: VerdictIn):
        repo.record_verdict(session, target, target_id, body.verdict, body.reason, by=who)
        session.commit()
        return _vetting(session, target, target_id)

    @outer.post(
        f"{base}/tags",
        response_model=VettingOut,
        responses=WRITE_RESPONSES,
        summary=f"Tag a {target}",
    )
    def add_tag(session: DbSession, who: Writer, target_id: TargetId, body: TagIn):
        repo.add_tag(session, target, target_id, body.tag, by=who)
        session.commit()
        return _vetting(session, target, target_id)

    @outer.delete(
        f"{base}/tags/{{tag}}",
        response_model=VettingOut,
        responses=WRITE_RESPONSES,
        summary=f"Take a tag off a {target} (the history keeps it)",
    )
    def remove_tag(session: DbSession, who: Writer, target_id: TargetId, tag: TagPath):
        repo.remove_tag(session, target, target_id, tag, by=who)
        session.commit()
        return _vetting(session, target, target_id)

    @outer.post(
        f"{base}/comments",
        response_model=VettingOut,
        responses=WRITE_RESPONSES,
        summary=f"Comment on a {target}",
    )
    def add_comment(session: DbSession, who: Writer, target_id: TargetId, body: CommentIn):
        repo.add_comment(session, target, target_id, body.text, by=who)
        session.commit()
        return _vetting(session, target, target_id)


#: The routes under the candidates' and sources' paths.
outer = APIRouter(tags=["vetting"], responses=ERROR_RESPONSES)
_target_routes("candidate", "candidates")
_target_routes("source", "sources")

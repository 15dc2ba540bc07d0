"""Observation groups: the 16 subband files of one chunk and what was made of them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from sqlalchemy.orm import Session

from dsa110_contimg.api.deps import State, cached_json
from dsa110_contimg.api.errors import ERROR_RESPONSES
from dsa110_contimg.api.schemas import PageOf, list_query, orm_schema
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import MeasurementSet, ObservationGroup, RawFile

router = APIRouter(prefix="/api/groups", tags=["groups"], responses=ERROR_RESPONSES)

GroupOut = orm_schema(ObservationGroup, "Group")
RawFileOut = orm_schema(RawFile, "RawFile")
GroupMSOut = orm_schema(MeasurementSet, "GroupMS")
GroupPage = PageOf[GroupOut]
GroupQuery = list_query("groups")


class GroupDetail(GroupOut):  # type: ignore[misc,valid-type]
    """A group with its subband files and the Measurement Sets made from it."""

    files: list[RawFileOut]  # type: ignore[valid-type]
    measurement_sets: list[GroupMSOut]  # type: ignore[valid-type]


@router.get("", response_model=GroupPage, summary="List observation groups")
def list_groups(request: Request, state: State, query: GroupQuery):
    return cached_json(
        request,
        state,
        GroupPage,
        lambda session: repo.list_groups(session, **query),
        validate=False,
    )


@router.get("/{group_id}", response_model=GroupDetail, summary="One group with files and MS")
def get_group(
    request: Request,
    state: State,
    group_id: Annotated[str, Path(max_length=32)],
):
    def build(session: Session) -> dict:
        group = repo.get_group(session, group_id)
        return {
            **repo.columns_of(group),
            "files": repo.files_of_group(session, group_id),
            "measurement_sets": repo.ms_of_group(session, group_id),
        }

    return cached_json(request, state, GroupDetail, build)

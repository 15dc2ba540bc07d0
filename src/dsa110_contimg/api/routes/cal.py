"""Calibration tables, addressed by their URL-encoded path (registered paths only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from dsa110_contimg.api.deps import Page, State, cached_json, product_path
from dsa110_contimg.api.errors import ERROR_RESPONSES
from dsa110_contimg.api.schemas import PageOf, mjd_query, orm_schema, sort_param
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import CalTable, CalTableStatus, CalTableType

router = APIRouter(prefix="/api/cal", tags=["calibration"], responses=ERROR_RESPONSES)

CalTableOut = orm_schema(CalTable, "CalTable")
CalPage = PageOf[CalTableOut]


@router.get("", response_model=CalPage, summary="List calibration tables")
def list_cal_tables(
    request: Request,
    state: State,
    page: Page,
    sort: sort_param("cal") = None,
    table_type: CalTableType | None = None,
    status: CalTableStatus | None = None,
    set_name: Annotated[str | None, Query(max_length=128)] = None,
    valid_at_mjd: mjd_query("Only tables valid at this time (MJD)") = None,
):
    return cached_json(
        request,
        state,
        CalPage,
        lambda session: repo.list_cal_tables(
            session,
            table_type=table_type,
            status=status,
            set_name=set_name,
            valid_at_mjd=valid_at_mjd,
            sort=sort,
            limit=page.limit,
            offset=page.offset,
        ),
        validate=False,
    )


@router.get("/{path:path}", response_model=CalTableOut, summary="One calibration table")
def get_cal_table(request: Request, state: State, path: str):
    return cached_json(
        request, state, CalTableOut, lambda session: repo.get_cal_table(session, product_path(path))
    )

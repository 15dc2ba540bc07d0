"""Calibration tables, addressed by their URL-encoded path (registered paths only)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from dsa110_contimg.api.deps import State, cached_json, product_path
from dsa110_contimg.api.errors import ERROR_RESPONSES
from dsa110_contimg.api.schemas import PageOf, list_query, orm_schema
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import CalTable

router = APIRouter(prefix="/api/cal", tags=["calibration"], responses=ERROR_RESPONSES)

CalTableOut = orm_schema(CalTable, "CalTable")
CalPage = PageOf[CalTableOut]
CalQuery = list_query("cal")


@router.get("", response_model=CalPage, summary="List calibration tables")
def list_cal_tables(request: Request, state: State, query: CalQuery):
    return cached_json(
        request,
        state,
        CalPage,
        lambda session: repo.list_cal_tables(session, **query),
        validate=False,
    )


@router.get("/{path:path}", response_model=CalTableOut, summary="One calibration table")
def get_cal_table(request: Request, state: State, path: str):
    return cached_json(
        request, state, CalTableOut, lambda session: repo.get_cal_table(session, product_path(path))
    )

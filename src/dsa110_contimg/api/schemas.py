"""Response schemas shared by the routers, derived from the ORM models.

The products schema has one source of truth (:mod:`dsa110_contimg.products.models`);
the output schema of each record is generated from its table's columns here,
so the API cannot drift from the database. Likewise a list's query parameters
(filters, page, sort) are derived from the filters its repository declares
(:func:`list_query`), so they cannot drift from what the list accepts.
"""

from __future__ import annotations

import datetime as dt
import enum
import inspect
from typing import Annotated, Any, Generic, Literal, TypeVar

import sqlalchemy as sa
from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict, Field, create_model

from dsa110_contimg.api.errors import ApiError
from dsa110_contimg.products import repositories as repo

T = TypeVar("T")


class PageOf(BaseModel, Generic[T]):
    """One page of a list: the rows, how many match in all, and the page's position."""

    items: list[T]
    total: int = Field(ge=0)
    limit: int = Field(ge=0)
    offset: int = Field(ge=0)


def _python_type(column: sa.Column[Any]) -> Any:
    column_type = column.type
    if isinstance(column_type, sa.Enum) and column_type.enum_class is not None:
        return column_type.enum_class
    if isinstance(column_type, sa.JSON):
        return dict[str, Any]
    python_type = column_type.python_type
    if python_type is dt.datetime:
        return dt.datetime
    return python_type


def orm_schema(
    model: type[Any],
    name: str,
    *,
    exclude: tuple[str, ...] = (),
    only: tuple[str, ...] | None = None,
    doc: str | None = None,
) -> type[BaseModel]:
    """A pydantic schema with one field per column of ``model`` (nullable columns optional).

    Parameters
    ----------
    model
        A mapped class of :mod:`dsa110_contimg.products.models`.
    name
        The schema's name in OpenAPI.
    exclude
        Columns left out (internal bookkeeping).
    only
        The columns kept, in this order (default all, in the table's order).
    """
    columns = sa.inspect(model).columns
    if only is not None:
        columns = [columns[key] for key in only]
    fields: dict[str, Any] = {}
    for column in columns:
        if column.key in exclude:
            continue
        python_type = _python_type(column)
        description = column.doc or column.comment
        if column.nullable:
            fields[column.key] = (python_type | None, Field(None, description=description))
        else:
            fields[column.key] = (python_type, Field(description=description))
    schema = create_model(
        name,
        __config__=ConfigDict(from_attributes=True),
        __doc__=doc or (model.__doc__ or "").strip().splitlines()[0],
        **fields,
    )
    return schema


def sort_param(resource: str) -> Any:
    """The ``sort`` query parameter of a list: a column, ``-`` prefixed for descending."""
    names = sorted(repo.SORTABLE[resource])
    values = tuple(v for n in names for v in (n, f"-{n}"))
    default = repo.DEFAULT_SORT[resource]
    return Annotated[
        Literal[values] | None,  # type: ignore[valid-type]
        Query(description=f"Sort key, '-' for descending (default {default})"),
    ]


def enum_values(enum_cls: type[enum.Enum]) -> list[str]:
    """The string values of a state enum."""
    return [m.value for m in enum_cls]


# Finite numbers only: NaN and infinities are refused as 422.
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


def _filter_param(spec: repo.Filter) -> inspect.Parameter:
    """The optional query parameter of one declared filter: its type, bounds and description."""
    bounds = {k: getattr(spec, k) for k in ("ge", "gt", "le", "lt", "max_length")}
    options = {k: v for k, v in bounds.items() if v is not None}
    if spec.type is float:
        options["allow_inf_nan"] = False
    annotation = Annotated[spec.type | None, Query(description=spec.description, **options)]
    return inspect.Parameter(
        spec.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation
    )


def list_query(resource: str, *, only: tuple[str, ...] | None = None, paged: bool = True) -> Any:
    """The query parameters of a list, derived from its declared filters (a dependency).

    One parameter per :class:`~dsa110_contimg.products.repositories.Filter` of
    ``repo.LISTINGS[resource]`` (a several-part filter such as the cone gives
    one per part), with the filter's type and bounds; plus ``limit``,
    ``offset`` (the bounds of :data:`repo.PAGE_BOUNDS`) and ``sort`` when
    ``paged``. The dependency's value is the keyword arguments of the list
    function: the filters given, then ``sort``, ``limit`` and ``offset``.

    Parameters
    ----------
    only
        The names of the filters accepted (default all), e.g. an export's.
    """
    specs = [f for f in repo.LISTINGS[resource].filters if only is None or f.name in only]
    params = []
    if paged:
        (min_limit, max_limit), (min_offset, max_offset) = (
            repo.PAGE_BOUNDS["limit"],
            repo.PAGE_BOUNDS["offset"],
        )
        keyword = inspect.Parameter.KEYWORD_ONLY
        params += [
            inspect.Parameter(
                "limit",
                keyword,
                default=50,
                annotation=Annotated[
                    int, Query(ge=min_limit, le=max_limit, description="Page size")
                ],
            ),
            inspect.Parameter(
                "offset",
                keyword,
                default=0,
                annotation=Annotated[
                    int, Query(ge=min_offset, le=max_offset, description="Rows to skip")
                ],
            ),
            inspect.Parameter("sort", keyword, default=None, annotation=sort_param(resource)),
        ]
    for spec in specs:
        params += [_filter_param(part) for part in spec.parts or (spec,)]

    async def dependency(**values: Any) -> dict[str, Any]:
        query: dict[str, Any] = {}
        for spec in specs:
            if spec.parts:
                try:
                    value = spec.gather(values)
                except repo.InvalidQueryError as exc:
                    raise ApiError(422, "invalid_parameters", str(exc)) from None
            else:
                value = values[spec.name]
            if value is not None:
                query[spec.name] = value
        if paged:
            query.update(sort=values["sort"], limit=values["limit"], offset=values["offset"])
        return query

    dependency.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    dependency.__name__ = f"{resource}_query"
    return Annotated[dict[str, Any], Depends(dependency)]


#: A database id in a path: positive and within 64-bit range.
IdPath = Annotated[int, Field(ge=1, le=2**63 - 1)]

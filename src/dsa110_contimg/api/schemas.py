"""Response schemas shared by the routers, derived from the ORM models.

The products schema has one source of truth (:mod:`dsa110_contimg.products.models`);
the output schema of each record is generated from its table's columns here,
so the API cannot drift from the database.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, Any, Generic, Literal, TypeVar

import sqlalchemy as sa
from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field, create_model

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
    model: type[Any], name: str, *, exclude: tuple[str, ...] = (), doc: str | None = None
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
    """
    fields: dict[str, Any] = {}
    for column in sa.inspect(model).columns:
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


def mjd_query(description: str) -> Any:
    """An optional MJD query parameter within a sane range."""
    return Annotated[
        float | None, Query(ge=0.0, le=100_000.0, allow_inf_nan=False, description=description)
    ]


#: A database id in a path: positive and within 64-bit range.
IdPath = Annotated[int, Field(ge=1, le=2**63 - 1)]

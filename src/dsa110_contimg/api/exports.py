"""Streaming table exports: CSV, JSON and VOTable, written chunk by chunk.

A large export never sits in memory and never holds the database while a
client reads: rows are read in chunks, each in its own short session
(:func:`~dsa110_contimg.products.repositories.iter_rows`, resuming after the
last id), and each chunk is encoded and sent. For VOTable, astropy's writer encodes each chunk;
the header (with variable-length string fields) is sent once.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg.products import repositories as repo

Format = Literal["csv", "json", "votable"]
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "votable": "application/x-votable+xml",
}
CHUNK = 2000


def column_kind(column: Any) -> str:
    """``float``, ``int``, ``bool`` or ``str``: how an exported column is typed."""
    column_type = getattr(column, "type", None)
    if isinstance(column_type, sa.Float):
        return "float"
    if isinstance(column_type, sa.Boolean):
        return "bool"
    if isinstance(column_type, sa.Integer):
        return "int"
    return "str"


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _rows(
    sessions: sessionmaker[Session], stmt: sa.Select[Any], key: Any | None
) -> Iterator[list[dict[str, Any]]]:
    for chunk in repo.iter_rows(sessions, stmt, key=key, chunk=CHUNK):
        yield [{k: _plain(v) for k, v in row.items()} for row in chunk]


def _csv(names: Sequence[str], chunks: Iterator[list[dict[str, Any]]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(names), lineterminator="\n")
    writer.writeheader()
    yield buffer.getvalue().encode()
    for chunk in chunks:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(chunk)
        yield buffer.getvalue().encode()


def _json(chunks: Iterator[list[dict[str, Any]]]) -> Iterator[bytes]:
    yield b"["
    first = True
    for chunk in chunks:
        if not chunk:
            continue
        text = ",".join(json.dumps(row, allow_nan=False) for row in chunk)
        yield (text if first else "," + text).encode()
        first = False
    yield b"]\n"


def _votable_xml(kinds: Mapping[str, str], rows: list[dict[str, Any]]) -> str:
    from astropy.io.votable import from_table
    from astropy.table import MaskedColumn, Table

    table = Table()
    for name, kind in kinds.items():
        values = [row[name] for row in rows]
        mask = [v is None for v in values]
        if kind == "float":
            table[name] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        elif kind in ("int", "bool"):
            dtype = np.int64 if kind == "int" else np.bool_
            filled = [0 if v is None else v for v in values]
            table[name] = MaskedColumn(np.array(filled, dtype=dtype), mask=mask)
        else:
            table[name] = np.array(["" if v is None else str(v) for v in values], dtype=str)
    votable = from_table(table)
    for field in votable.get_first_table().fields:
        if field.datatype in ("char", "unicodeChar"):
            field.arraysize = "*"
    buffer = io.BytesIO()
    # The pure-Python TABLEDATA writer: astropy's C one (tablewriter.c) writes past its
    # buffer on some rows and corrupts the heap (astropy issue 20419), crashing the server.
    votable.to_xml(buffer, tabledata_format="tabledata", _debug_python_based_parser=True)
    return buffer.getvalue().decode()


def _votable(kinds: Mapping[str, str], chunks: Iterator[list[dict[str, Any]]]) -> Iterator[bytes]:
    opened = False
    placeholder = {name: None for name in kinds}
    for chunk in chunks:
        if not chunk:
            continue
        xml = _votable_xml(kinds, chunk)
        head, rest = xml.split("<TABLEDATA>", 1)
        body, tail = rest.split("</TABLEDATA>", 1)
        if not opened:
            yield (head + "<TABLEDATA>").encode()
            opened = True
        yield body.encode()
    if not opened:
        head, rest = _votable_xml(kinds, [placeholder]).split("<TABLEDATA>", 1)
        tail = rest.split("</TABLEDATA>", 1)[1]
        yield (head + "<TABLEDATA>").encode()
    yield ("</TABLEDATA>" + tail).encode()


def stream(
    sessions: sessionmaker[Session], stmt: sa.Select[Any], fmt: Format, *, key: Any | None = None
) -> Iterator[bytes]:
    """Encode every row of ``stmt`` in ``fmt``, chunk by chunk.

    Parameters
    ----------
    sessions
        Opens the short session each chunk is read in.
    stmt
        A Core ``select`` of named columns (ordered by ``key`` when given).
    key
        A unique column that ``stmt`` selects and is ordered by, from which
        each chunk resumes; None for a bounded select read at once.
    fmt
        ``csv``, ``json`` or ``votable``.
    """
    kinds = {c.key: column_kind(c) for c in stmt.selected_columns}
    chunks = _rows(sessions, stmt, key)
    if fmt == "csv":
        return _csv(list(kinds), chunks)
    if fmt == "json":
        return _json(chunks)
    return _votable(kinds, chunks)

"""The project's own exceptions, and the command line's exit codes.

Each carries what a user needs to act (which file, which group, what to do).
They are mapped once to exit codes at the CLI edge (each class's
``exit_code``, read by :mod:`dsa110_contimg.cli`) and to HTTP statuses at the
API edge (:mod:`dsa110_contimg.api.errors`).

Exit codes of ``dsa110`` (one per class; a subclass that sets none, such as
``CatalogFormatError`` or ``CalibrationError``, exits with its parent's):

====  ============================  ====================================================
code  error                         meaning
====  ============================  ====================================================
0     (none)                        success
1     ``DSA110Error``               any other error of this package
2     ``ConfigError``               bad settings (click's own usage errors also exit 2)
3     ``DatabaseError``             products DB unreachable or at another revision
4     ``InputDataError``            an input file is corrupt or not what it claims
5     ``ToolMissingError``          an external program is not installed
6     ``StageError``                a pipeline stage failed (``CalibrationError`` too)
7     ``ProductExistsError``        a product is already there
8     ``ConflictError``             the request contradicts a record's state
9     ``InvalidQueryError``         a query that cannot be answered as asked
10    ``NotFoundError``             a record asked for is not registered
11    ``DeclinationMismatchError``  a cal table of another declination strip
====  ============================  ====================================================
"""

from __future__ import annotations


class DSA110Error(Exception):
    """Base class of every error this package raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(DSA110Error):
    """Settings could not be read or are inconsistent."""

    exit_code = 2


class DatabaseError(DSA110Error):
    """The products database is unreachable or not at the expected revision."""

    exit_code = 3


class InputDataError(DSA110Error):
    """An input file is corrupt, truncated or not what it claims to be."""

    exit_code = 4


class ToolMissingError(DSA110Error):
    """An external program (WSClean, AOFlagger, ...) is not installed."""

    exit_code = 5


class StageError(DSA110Error):
    """A pipeline stage failed; the job row records the reason and the log."""

    exit_code = 6


class ProductExistsError(DSA110Error):
    """A product is already there and replacing it was not asked for."""

    exit_code = 7


class ConflictError(DSA110Error):
    """The request contradicts the record's state (e.g. cancelling a finished job)."""

    exit_code = 8


class InvalidQueryError(DSA110Error):
    """A query that cannot be answered as asked (e.g. a cone matching too many sources)."""

    exit_code = 9


class NotFoundError(DSA110Error):
    """A product, job or other record that was asked for is not registered."""

    exit_code = 10


class PurgedError(NotFoundError):
    """A product's file was removed by the storage lifecycle; its record stays (HTTP 410)."""

    def __init__(self, message: str, *, purged_at: object = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.purged_at = purged_at

"""The project's own exceptions.

Each carries what a user needs to act (which file, which group, what to do).
They are mapped once to exit codes at the CLI edge (``exit_code``) and, later,
to HTTP statuses at the API edge.
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

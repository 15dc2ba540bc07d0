"""Calibration's own exceptions (subclasses of the project's :class:`DSA110Error`)."""

from __future__ import annotations

from dsa110_contimg.errors import DSA110Error, StageError


class CalibrationError(StageError):
    """A solve or an apply could not be done (no usable data, bad table, ...)."""


class DeclinationMismatchError(DSA110Error):
    """A calibration table belongs to another declination strip than the MS.

    Applying it would scale fluxes wrongly (ratios near 0.06 have been seen),
    so it is refused.
    """

    exit_code = 11

    def __init__(self, table: str, table_dec_deg: float, ms_dec_deg: float, limit_deg: float):
        super().__init__(
            f"calibration table {table} was solved at Dec {table_dec_deg:+.2f} deg, "
            f"{abs(table_dec_deg - ms_dec_deg):.2f} deg from the MS (Dec {ms_dec_deg:+.2f} deg; "
            f"limit {limit_deg:.1f} deg)",
            hint="solve a calibrator of this declination strip",
        )
        self.table = table
        self.table_dec_deg = table_dec_deg
        self.ms_dec_deg = ms_dec_deg

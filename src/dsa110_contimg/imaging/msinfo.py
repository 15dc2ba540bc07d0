"""What imaging needs to know about a Measurement Set, read with python-casacore.

One pass over the main table (in row chunks) counts the unflagged
cross-correlation samples per integration and channel: these weight the
time- and band-averaged primary beam (:mod:`.pbcor`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsa110_contimg.errors import InputDataError

CHUNK_ROWS = 16384
"""Rows read at a time (FLAG of 768 channels x 2 pols: 25 MB)."""


@dataclass(frozen=True)
class MSSummary:
    """Times, band, phase centre and sample counts of one MS.

    Attributes
    ----------
    path : str
        The MS.
    times_mjd : numpy.ndarray
        Shape (Nt,): distinct integration centres, MJD (UTC).
    freqs_hz, chan_width_hz : numpy.ndarray
        Shape (Nchan,): channel centres and widths of SPW 0, Hz.
    samples : numpy.ndarray
        Shape (Nt, Nchan): unflagged cross-correlation samples (all pols).
    phase_ra_deg, phase_dec_deg : float
        FIELD 0 phase centre (ICRS/J2000), degrees.
    integration_s : float
        Integration time, seconds.
    max_baseline_m : float
        Longest projected baseline (uv distance), metres.
    telescope : str
        OBSERVATION TELESCOPE_NAME.
    columns : tuple of str
        Main-table columns.
    """

    path: str
    times_mjd: np.ndarray
    freqs_hz: np.ndarray
    chan_width_hz: np.ndarray
    samples: np.ndarray
    phase_ra_deg: float
    phase_dec_deg: float
    integration_s: float
    max_baseline_m: float
    telescope: str
    columns: tuple[str, ...]

    @property
    def mjd_start(self) -> float:
        """Start of the first integration, MJD."""
        return float(self.times_mjd[0] - 0.5 * self.integration_s / 86400)

    @property
    def mjd_end(self) -> float:
        """End of the last integration, MJD."""
        return float(self.times_mjd[-1] + 0.5 * self.integration_s / 86400)

    @property
    def mjd_mid(self) -> float:
        """Mid-time of the data, MJD."""
        return 0.5 * (self.mjd_start + self.mjd_end)

    @property
    def bandwidth_hz(self) -> float:
        """Total bandwidth of the channels, Hz."""
        return float(np.abs(self.chan_width_hz).sum())

    @property
    def duration_s(self) -> float:
        """Time span of the data, seconds."""
        return (self.mjd_end - self.mjd_start) * 86400.0


def read_ms_summary(ms: str | Path) -> MSSummary:
    """Read an MS's metadata and its unflagged-sample counts.

    Raises
    ------
    InputDataError
        If the MS is missing, unreadable or has more than one spectral window.
    """
    from casacore.tables import table

    ms = Path(ms)
    if not (ms / "table.dat").is_file():
        raise InputDataError(f"no Measurement Set at {ms}", hint="check the path")

    def sub(name: str):  # type: ignore[no-untyped-def]
        return table(str(ms / name), readonly=True, ack=False)

    try:
        with sub("SPECTRAL_WINDOW") as spw:
            if spw.nrows() != 1:
                raise InputDataError(
                    f"{ms} has {spw.nrows()} spectral windows; imaging expects one",
                    hint="convert the group with `dsa110 convert` (one ascending SPW)",
                )
            freqs = np.asarray(spw.getcol("CHAN_FREQ")[0], float)
            widths = np.asarray(spw.getcol("CHAN_WIDTH")[0], float)
        with sub("FIELD") as fld:
            ra, dec = np.degrees(fld.getcol("PHASE_DIR")[0, 0])
        with sub("OBSERVATION") as obs:
            telescope = str(obs.getcol("TELESCOPE_NAME")[0])
        with table(str(ms), readonly=True, ack=False) as tb:
            columns = tuple(tb.colnames())
            times = np.unique(tb.getcol("TIME"))
            exposure = float(tb.getcell("EXPOSURE", 0))
            samples = np.zeros((times.size, freqs.size))
            max_bl = 0.0
            for start in range(0, tb.nrows(), CHUNK_ROWS):
                n = min(CHUNK_ROWS, tb.nrows() - start)
                cross = tb.getcol("ANTENNA1", start, n) != tb.getcol("ANTENNA2", start, n)
                tidx = np.searchsorted(times, tb.getcol("TIME", start, n))
                good = ~tb.getcol("FLAG", start, n)
                good &= ~tb.getcol("FLAG_ROW", start, n)[:, None, None]
                counts = good.sum(-1) * cross[:, None]
                for t in np.unique(tidx):
                    samples[t] += counts[tidx == t].sum(0)
                uvw = tb.getcol("UVW", start, n)
                used = cross & good.any((1, 2))
                if used.any():
                    max_bl = max(max_bl, float(np.hypot(uvw[used, 0], uvw[used, 1]).max()))
    except InputDataError:
        raise
    except Exception as exc:  # casacore raises RuntimeError on a broken table
        raise InputDataError(f"cannot read Measurement Set {ms}: {exc}") from exc
    return MSSummary(
        path=str(ms),
        times_mjd=times / 86400.0,
        freqs_hz=freqs,
        chan_width_hz=widths,
        samples=samples,
        phase_ra_deg=float(ra) % 360.0,
        phase_dec_deg=float(dec),
        integration_s=exposure,
        max_baseline_m=max_bl,
        telescope=telescope,
        columns=columns,
    )

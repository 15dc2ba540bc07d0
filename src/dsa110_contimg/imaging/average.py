"""Frequency averaging before gridding, inside a bandwidth-smearing budget.

Gridding cost grows with the number of visibilities, and WSClean grids every
channel of the MS once per major cycle. Averaging ``k`` adjacent channels
before imaging divides that work by ``k``; what it costs is bandwidth
smearing: a source at radius ``r`` seen on a baseline of ``u`` wavelengths
moves ``u r dnu / nu`` fringe cycles across a channel of width ``dnu``, and its
visibility amplitude drops by ``sinc(u r dnu / nu)``.

:func:`smearing_loss` computes the peak a point source keeps at the image's
edge from the MS's own uv coverage (every unflagged baseline above the tier's
uv cut, at the band's lowest frequency, the worst position angle, uniformly
weighted: the bound of any robust weighting), and
:func:`channel_factor` picks the largest ``k`` (a divisor of the channel
count) whose extra loss over the MS's own channels stays within a budget
(``ImagingTier.max_smearing_loss``, 1% by default). :func:`average_ms` writes
the averaged copy (DATA = the column imaged, averaged over unflagged channels;
a bin is flagged only when all its channels are; WEIGHT x k) in the imaging
scratch folder, so it never outlives the run.

Measured on a full group (768 x 244 kHz channels, surveyed layout, 4.2 deg
field): see ``benchmarks/imaging.py``.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import numpy as np

from dsa110_contimg.conversion.ms_writer import create_ms
from dsa110_contimg.errors import InputDataError
from dsa110_contimg.telescope import SPEED_OF_LIGHT_M_S

log = logging.getLogger(__name__)

CHUNK_ROWS = 9120
"""Rows averaged at a time (768 channels x 2 pols of complex64: 112 MB)."""

#: Main-table columns copied unchanged into the averaged MS.
_ROW_COLUMNS = (
    "ANTENNA1",
    "ANTENNA2",
    "TIME",
    "TIME_CENTROID",
    "INTERVAL",
    "EXPOSURE",
    "SCAN_NUMBER",
    "STATE_ID",
    "UVW",
    "FIELD_ID",
    "DATA_DESC_ID",
    "FEED1",
    "FEED2",
    "ARRAY_ID",
    "OBSERVATION_ID",
    "PROCESSOR_ID",
    "FLAG_ROW",
)
#: Position angles (rad) at which the smearing of a source is evaluated.
_ANGLES = np.linspace(0.0, np.pi, 12, endpoint=False)


def smearing_loss(
    uv_lambda: np.ndarray,
    width_over_freq: float,
    radius_rad: float,
    weights: np.ndarray | None = None,
    position_angle_rad: float | None = None,
) -> float:
    """Fraction of a point source's peak lost to bandwidth smearing at ``radius_rad``.

    Parameters
    ----------
    uv_lambda
        Shape (N, 2): the baselines' (u, v) in wavelengths (at the frequency
        of ``width_over_freq``).
    width_over_freq
        Channel width over frequency.
    radius_rad
        Distance of the source from the phase centre.
    weights
        Shape (N,): imaging weights of the baselines (default: equal).
    position_angle_rad
        The source's position angle from the centre (north through east);
        default: the worst.

    Returns
    -------
    float
        ``1 - <sinc(u_r radius dnu/nu)>`` (weighted mean over the baselines) at
        the worst position angle (``u_r``: the baseline's component towards
        the source).
    """
    if len(uv_lambda) == 0:
        return 0.0
    w = np.ones(len(uv_lambda)) if weights is None else np.asarray(weights, float)
    kept = []
    angles = _ANGLES if position_angle_rad is None else [position_angle_rad]
    for angle in angles:
        along = uv_lambda[:, 0] * np.sin(angle) + uv_lambda[:, 1] * np.cos(angle)
        kept.append(float(np.sum(w * np.sinc(along * radius_rad * width_over_freq)) / w.sum()))
    return 1.0 - min(kept)


def uniform_weights(
    uv_lambda: np.ndarray, cell_lambda: float, band_ratio: float = 1.0, n_freqs: int = 32
) -> np.ndarray:
    """Uniform imaging weights of baselines: the mean over their tracks of one over the cell's samples.

    Each baseline's (u, v) (and its mirror) is followed across the band
    (``n_freqs`` frequencies from 1 to ``band_ratio`` times the given one),
    the samples counted per uv cell of ``cell_lambda``; a baseline weighs the
    mean of one over its cells' counts. Robust weighting lies between natural
    (equal weights) and this; with it the sparse long baselines, which smear
    most, weigh most, so the smearing estimated with it bounds the tier's.
    """
    scale = np.linspace(1.0, band_ratio, n_freqs)
    both = np.concatenate([uv_lambda, -uv_lambda])
    tracks = both[:, None, :] * scale[None, :, None]  # (2N, n_freqs, 2)
    cells = np.floor(tracks.reshape(-1, 2) / cell_lambda).astype(np.int64)
    _, inverse, counts = np.unique(cells, axis=0, return_inverse=True, return_counts=True)
    per_sample = (1.0 / counts[inverse.ravel()]).reshape(len(both), n_freqs)
    return per_sample.mean(axis=1)[: len(uv_lambda)]


def channel_factor(
    uv_lambda: np.ndarray,
    freq_min_hz: float,
    channel_width_hz: float,
    n_channels: int,
    radius_rad: float,
    *,
    budget: float,
    band_ratio: float = 1.0,
    max_factor: int = 16,
) -> tuple[int, float]:
    """The largest channel-averaging factor whose extra smearing stays within ``budget``.

    Parameters
    ----------
    uv_lambda
        (u, v) of the imaged baselines at ``freq_min_hz``, wavelengths.
    freq_min_hz, channel_width_hz
        The band's lowest channel and the channel width, Hz.
    n_channels
        Channels in the MS (the factor divides it).
    radius_rad
        Image radius (the field's edge).
    budget
        Peak fraction the averaging may cost at the edge beyond the
        smearing of the MS's own channels (0.01: 1%).
    band_ratio
        Highest over lowest frequency (the uv tracks across the band weigh
        the baselines, :func:`uniform_weights`).
    max_factor
        Largest factor considered.

    Returns
    -------
    (int, float)
        The factor (1: no averaging, and always with no baselines) and its
        extra loss at the edge.
    """
    if len(uv_lambda) == 0:  # nothing to judge the smearing by: do not average
        return 1, 0.0
    ratio = channel_width_hz / freq_min_hz
    # uniform weights in the image's own uv cell (1 / field): the worst case of robust
    weights = uniform_weights(uv_lambda, 1.0 / (2 * radius_rad), band_ratio)
    own = 1.0 - smearing_loss(uv_lambda, ratio, radius_rad, weights)
    best, best_loss = 1, 0.0
    for k in range(2, max_factor + 1):
        if n_channels % k:
            continue
        extra = 1.0 - (1.0 - smearing_loss(uv_lambda, k * ratio, radius_rad, weights)) / own
        if extra > budget:
            break
        best, best_loss = k, extra
    return best, best_loss


def imaged_uv_lambda(ms: str | Path, freq_hz: float, min_uv_lambda: float = 0.0) -> np.ndarray:
    """(u, v) in wavelengths at ``freq_hz`` of one integration's cross-correlations above the cut.

    One integration stands for the group (a 5-minute drift barely moves the
    uv tracks): the one nearest the middle that has unflagged
    cross-correlations, its baselines with any unflagged sample. An
    integration flagged whole (a broadband RFI burst) is passed over: it has
    no baselines, and an empty uv coverage has no smearing, which let a group
    whose first integration was flagged be averaged 16-fold (a third of the
    flux lost at 2 deg). Empty only when the whole MS is flagged.
    """
    from casacore import tables

    with tables.table(str(ms), ack=False) as tb:
        times = np.unique(tb.getcol("TIME"))
        uvw = np.zeros((0, 3))
        for t in times[np.argsort(np.abs(times - times[len(times) // 2]), kind="stable")]:
            sel = tb.query(
                f"TIME == {float(t)!r} && ANTENNA1 != ANTENNA2 && !ALL(FLAG)", columns="UVW"
            )
            try:
                if sel.nrows():
                    uvw = sel.getcol("UVW")
                    break
            finally:
                sel.close()
    uv = uvw[:, :2] * freq_hz / SPEED_OF_LIGHT_M_S
    return uv[np.hypot(uv[:, 0], uv[:, 1]) >= min_uv_lambda]


def average_ms(ms: str | Path, out: str | Path, factor: int, data_column: str) -> Path:
    """Write ``out``: ``ms`` with ``factor`` adjacent channels averaged (DATA = ``data_column``).

    Each output channel is the mean of the unflagged input channels of its
    bin, flagged only when all of them are; WEIGHT is multiplied and SIGMA
    divided by ``sqrt(factor)`` accordingly. Subtables are copied, the
    spectral window rewritten (centres averaged, widths summed).

    Raises
    ------
    InputDataError
        If ``factor`` does not divide the channel count.
    """
    from casacore import tables

    t0 = time.perf_counter()
    ms, out = Path(ms), Path(out)
    with tables.table(str(ms), ack=False) as src:
        n_rows = src.nrows()
        n_chan, n_pol = src.getcell("FLAG", 0).shape
        if n_chan % factor:
            raise InputDataError(
                f"cannot average {n_chan} channels of {ms} by {factor}",
                hint="choose a factor that divides the channel count",
            )
        dst = create_ms(out, n_rows, n_chan // factor, n_pol)
        try:
            names = set(src.colnames())
            for name in _ROW_COLUMNS:
                if name in names:
                    dst.putcol(name, src.getcol(name))
            dst.putcol("WEIGHT", src.getcol("WEIGHT") * factor)
            dst.putcol("SIGMA", src.getcol("SIGMA") / np.sqrt(factor))
            for start in range(0, n_rows, CHUNK_ROWS):
                n = min(CHUNK_ROWS, n_rows - start)
                data, flag = _average(
                    src.getcol(data_column, start, n), src.getcol("FLAG", start, n), factor
                )
                dst.putcol("DATA", data, start, n)
                dst.putcol("FLAG", flag, start, n)
        finally:
            dst.close()
        subtables = [
            name
            for name, value in src.getkeywords().items()
            if isinstance(value, str) and value.startswith("Table: ")
        ]
    with tables.table(str(out), readonly=False, ack=False) as main:
        for name in subtables:
            target = out / name
            if target.exists():
                shutil.rmtree(target)
            tables.tablecopy(str(ms / name), str(target), deep=True)
            main.putkeyword(name, f"Table: {target}")
    _average_spw(out / "SPECTRAL_WINDOW", factor)
    log.info(
        "averaged %s by %d channels into %s in %.1f s",
        ms, factor, out, time.perf_counter() - t0,
    )  # fmt: skip
    return out


def _average(data: np.ndarray, flag: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean over unflagged channels of each bin of ``factor``; flagged where none is."""
    n, n_chan, n_pol = data.shape
    shape = (n, n_chan // factor, factor, n_pol)
    good = ~flag.reshape(shape)
    count = good.sum(axis=2, dtype=np.int16)
    total = np.where(good, data.reshape(shape), 0).sum(axis=2)
    out = (total / np.maximum(count, 1)).astype(data.dtype, copy=False)
    return out, count == 0


def _average_spw(path: Path, factor: int) -> None:
    from casacore import tables

    with tables.table(str(path), readonly=False, ack=False) as spw:
        for row in range(spw.nrows()):
            freq = spw.getcell("CHAN_FREQ", row)
            spw.putcell("CHAN_FREQ", row, freq.reshape(-1, factor).mean(axis=1))
            for col in ("CHAN_WIDTH", "EFFECTIVE_BW", "RESOLUTION"):
                spw.putcell(col, row, spw.getcell(col, row).reshape(-1, factor).sum(axis=1))
            spw.putcell("NUM_CHAN", row, freq.size // factor)

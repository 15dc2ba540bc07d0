"""RFI detection with AOFlagger's Python API and the DSA-110 Lua strategy.

The pip ``aoflagger`` module loads a custom strategy with
``AOFlagger.load_strategy_file``; the repository's strategy is
``strategies/dsa110.lua`` (see its header for the tuning). Each baseline is
one image set: time along x (Ntimes), frequency along y (Nchan), real and
imaginary parts of XX and YY. AOFlagger's mask is shared by the
polarisations of a baseline.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from dsa110_contimg.errors import ToolMissingError


def default_strategy() -> Path:
    """Path of the repository's DSA-110 AOFlagger strategy."""
    return Path(str(resources.files("dsa110_contimg.flagging") / "strategies" / "dsa110.lua"))


@cache
def _flagger_and_strategy(strategy: str):
    try:
        import aoflagger
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ToolMissingError(
            "the aoflagger Python module is not installed", hint="pip install aoflagger"
        ) from exc
    flagger = aoflagger.AOFlagger()
    return flagger, flagger.load_strategy_file(strategy)


def flatten_spectra(vis: np.ndarray, flags: np.ndarray | None = None) -> np.ndarray:
    """Subtract each baseline's median over time, per channel (real and imaginary).

    Uncalibrated DSA-110 spectra drop by ~30% at every subband edge (every
    48 channels), faster than any smooth background fit can follow, so
    AOFlagger would flag the edges. A fringe-stopped calibrator is nearly
    constant over a 5-minute group, so removing the median over time leaves
    noise plus transient RFI with the same statistics in every channel.
    Lines that persist unchanged in time cancel here; the MAD clip
    (:func:`~.arrays.mad_clip`) catches those.
    """
    work = vis.astype(np.complex64)
    if flags is not None:
        work = np.where(flags, np.nan, work)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        level = np.nanmedian(work.real, axis=0, keepdims=True) + 1j * np.nanmedian(
            work.imag, axis=0, keepdims=True
        )
    return vis - np.nan_to_num(level, nan=0.0)


def aoflagger_flags(
    vis: np.ndarray,
    flags: np.ndarray | None = None,
    strategy: str | Path | None = None,
    flatten: bool = True,
) -> np.ndarray:
    """Run the AOFlagger strategy on every baseline.

    Parameters
    ----------
    vis : numpy.ndarray
        (Ntimes, Nbls, Nchan, Npol) complex.
    flags : numpy.ndarray, optional
        Existing flags, same shape: passed to AOFlagger (any polarisation
        flagged marks the sample) so they are excluded from its statistics.
    strategy : str or Path, optional
        Lua strategy file (default :func:`default_strategy`).
    flatten : bool
        Flatten the spectra first (:func:`flatten_spectra`).

    Returns
    -------
    numpy.ndarray
        Boolean mask of ``vis``'s shape, the same for all polarisations;
        it includes the input flags.
    """
    ntimes, nbls, nchan, npol = vis.shape
    flagger, strat = _flagger_and_strategy(str(strategy or default_strategy()))
    images = flagger.make_image_set(ntimes, nchan, 2 * npol)
    mask = flagger.make_flag_mask(ntimes, nchan, False)
    out = np.zeros(vis.shape, bool)
    if flatten:
        vis = flatten_spectra(vis, flags)
    for b in range(nbls):
        block = np.ascontiguousarray(vis[:, b].transpose(1, 0, 2))  # (Nchan, Ntimes, Npol)
        if not np.any(block):
            out[:, b] = True
            continue
        for p in range(npol):
            images.set_image_buffer(2 * p, block[:, :, p].real.astype(np.float64))
            images.set_image_buffer(2 * p + 1, block[:, :, p].imag.astype(np.float64))
        if flags is not None:
            mask.set_buffer(np.ascontiguousarray(flags[:, b].any(axis=-1).T))
            result = strat.run(images, mask)
        else:
            result = strat.run(images)
        out[:, b] = result.get_buffer().T[:, :, None]
    return out

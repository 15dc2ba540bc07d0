"""RFI detection with AOFlagger's Python API and the DSA-110 Lua strategy.

The pip ``aoflagger`` module loads a custom strategy with
``AOFlagger.load_strategy_file``; the repository's strategy is
``strategies/dsa110.lua`` (see its header for the tuning). Each baseline is
one image set: time along x (Ntimes), frequency along y (Nchan), real and
imaginary parts of XX and YY. AOFlagger's mask is shared by the
polarisations of a baseline.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path

import numpy as np

from dsa110_contimg.errors import ToolMissingError


def default_strategy() -> Path:
    """Path of the repository's DSA-110 AOFlagger strategy."""
    return Path(str(resources.files("dsa110_contimg.flagging") / "strategies" / "dsa110.lua"))


_local = threading.local()


def _flagger_and_strategy(strategy: str):
    """One AOFlagger and loaded strategy per thread and strategy file."""
    cached = getattr(_local, "flaggers", None)
    if cached is None:
        cached = _local.flaggers = {}
    if strategy not in cached:
        cached[strategy] = _load(strategy)
    return cached[strategy]


def _load(strategy: str):
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
    # Flagged samples are replaced by the channel's mean before the median (a
    # plain median is much faster than nanmedian; the few flags barely move it).
    if flags is not None and flags.any():
        clean = np.where(flags, 0, vis)
        count = np.maximum((~flags).sum(axis=0, keepdims=True), 1)
        vis_for_median = np.where(flags, clean.sum(axis=0, keepdims=True) / count, vis)
    else:
        vis_for_median = vis
    level = np.median(vis_for_median.real, axis=0, keepdims=True) + 1j * np.median(
        vis_for_median.imag, axis=0, keepdims=True
    )
    return vis - level


def aoflagger_flags(
    vis: np.ndarray,
    flags: np.ndarray | None = None,
    strategy: str | Path | None = None,
    flatten: bool = True,
    workers: int | None = None,
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
    workers : int, optional
        Threads, each with its own AOFlagger (default: CPU count).

    Returns
    -------
    numpy.ndarray
        Boolean mask of ``vis``'s shape, the same for all polarisations;
        it includes the input flags.
    """
    ntimes, nbls, nchan, npol = vis.shape
    if flatten:
        vis = flatten_spectra(vis, flags)
    out = np.zeros(vis.shape, bool)
    path = str(strategy or default_strategy())
    _flagger_and_strategy(path)  # fail early (in this thread) if aoflagger is missing
    workers = max(1, min(workers or os.cpu_count() or 1, nbls))
    bounds = np.linspace(0, nbls, workers + 1).astype(int)

    def run(lo: int, hi: int) -> None:
        _flag_baselines(vis, flags, out, range(lo, hi), path)

    if workers == 1:
        run(0, nbls)
    else:  # AOFlagger releases the GIL while it works on a baseline
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, bounds[:-1], bounds[1:]))
    return out


def _flag_baselines(vis, flags, out, baselines, strategy: str) -> None:
    ntimes, _, nchan, npol = vis.shape
    flagger, strat = _flagger_and_strategy(strategy)
    images = flagger.make_image_set(ntimes, nchan, 2 * npol)
    mask = flagger.make_flag_mask(ntimes, nchan, False)
    for b in baselines:
        # (Npol, Nchan, Ntimes) float64 real and imaginary parts: AOFlagger's layout
        block = vis[:, b].transpose(2, 1, 0)
        if not np.any(block):
            out[:, b] = True
            continue
        re = np.ascontiguousarray(block.real, dtype=np.float64)
        im = np.ascontiguousarray(block.imag, dtype=np.float64)
        for p in range(npol):
            images.set_image_buffer(2 * p, re[p])
            images.set_image_buffer(2 * p + 1, im[p])
        if flags is not None:
            mask.set_buffer(np.ascontiguousarray(flags[:, b].any(axis=-1).T))
            result = strat.run(images, mask)
        else:
            result = strat.run(images)
        out[:, b] = result.get_buffer().T[:, :, None]

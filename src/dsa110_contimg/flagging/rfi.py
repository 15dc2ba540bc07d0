"""RFI detection with AOFlagger's Python API and the DSA-110 Lua strategy.

The pip ``aoflagger`` module loads a custom strategy with
``AOFlagger.load_strategy_file``; the repository's strategy is
``strategies/dsa110.lua`` (see its header for the tuning). Each baseline is
one single-image set: time along x (Ntimes), frequency along y (Nchan), the
time-flattened amplitude combined over XX and YY (:func:`aoflagger_mask`).
AOFlagger's mask is shared by the polarisations of a baseline.
"""

from __future__ import annotations

import threading
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


def aoflagger_mask(
    vis: np.ndarray,
    flags: np.ndarray,
    baselines: np.ndarray | None = None,
    strategy: str | Path | None = None,
    workers: int | None = None,
    chunk: int = 64,
) -> np.ndarray:
    """Run the AOFlagger strategy on each of ``baselines``; OR its flags into ``flags``.

    Each baseline is one single-image set (Nchan x Ntimes): the amplitude
    of the visibilities minus their median over time per channel, combined
    over polarisations as sqrt(mean |residual|^2). Uncalibrated DSA-110
    spectra drop by ~30% at every subband edge (every 48 channels), faster
    than any smooth background fit can follow; a fringe-stopped calibrator
    is nearly constant over a 5-minute group, so removing the median over
    time leaves noise plus transient RFI with the same statistics in every
    channel. Lines that persist unchanged in time cancel here; the MAD clip
    (:func:`~.arrays.mad_clip`) catches those. One image instead of the
    real and imaginary parts of each polarisation halves AOFlagger's work,
    and the combined power averages the noise of the two polarisations
    (AOFlagger's mask is shared by them anyway).

    Parameters
    ----------
    vis : numpy.ndarray
        (Ntimes, Nbls, Nchan, Npol) complex.
    flags : numpy.ndarray
        Current flags, same shape, updated in place: AOFlagger sees any
        polarisation flagged as a flagged sample, and its detections are
        set for every polarisation.
    baselines : numpy.ndarray, optional
        Baseline indices to run on (default all).
    strategy : str or Path, optional
        Lua strategy file (default :func:`default_strategy`).
    workers : int, optional
        Threads, each with its own AOFlagger (default: CPU count).
    chunk : int
        Baselines prepared per kernel call (memory: chunk x Nchan x Ntimes x 9 bytes).

    Returns
    -------
    numpy.ndarray
        ``flags``.
    """
    from dsa110_contimg.flagging.kernels import aoflagger_images, or_image_mask, run_baselines

    ntimes, nbls, nchan, _ = vis.shape
    baselines = np.arange(nbls) if baselines is None else np.asarray(baselines, np.int64)
    path = str(strategy or default_strategy())
    _flagger_and_strategy(path)  # fail early (in this thread) if aoflagger is missing

    def run(part: np.ndarray) -> None:
        flagger, strat = _flagger_and_strategy(path)
        images = flagger.make_image_set(ntimes, nchan, 1)
        in_mask = flagger.make_flag_mask(ntimes, nchan, False)
        image = np.empty((chunk, nchan, ntimes), np.float64)
        mask = np.empty((chunk, nchan, ntimes), bool)
        for lo in range(0, len(part), chunk):
            bls = part[lo : lo + chunk]
            aoflagger_images(vis, flags, bls, image, mask)
            for k in range(len(bls)):
                if mask[k].all():  # nothing left to look at (autocorrelation, dead antenna)
                    continue
                images.set_image_buffer(0, image[k])
                in_mask.set_buffer(mask[k])
                mask[k] = strat.run(images, in_mask).get_buffer()
            or_image_mask(flags, bls, mask[: len(bls)])

    run_baselines(run, baselines, workers)  # AOFlagger and the kernels release the GIL
    return flags


def aoflagger_flags(
    vis: np.ndarray,
    flags: np.ndarray | None = None,
    strategy: str | Path | None = None,
    workers: int | None = None,
) -> np.ndarray:
    """Run the AOFlagger strategy on every baseline (see :func:`aoflagger_mask`).

    Parameters
    ----------
    vis : numpy.ndarray
        (Ntimes, Nbls, Nchan, Npol) complex.
    flags : numpy.ndarray, optional
        Existing flags, same shape (not modified).
    strategy : str or Path, optional
        Lua strategy file.
    workers : int, optional
        Threads.

    Returns
    -------
    numpy.ndarray
        Boolean mask of ``vis``'s shape, the same for all polarisations;
        it includes the input flags.
    """
    out = np.zeros(vis.shape, bool) if flags is None else flags.copy()
    return aoflagger_mask(vis, out, strategy=strategy, workers=workers)

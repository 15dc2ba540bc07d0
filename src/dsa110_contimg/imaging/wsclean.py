"""Run WSClean (Debian's ``wsclean``, found on PATH) for one tier.

The command line is built from an :class:`~.tiers.ImagingTier`; the run is a
protected child (:func:`dsa110_contimg.tools.process.run_child`: its own
process group, killed with the daemon, stopped on a cancel) with a wall-clock
timeout (the whole group is killed when it expires) and WSClean's own memory limit
(``-abs-mem``). Its combined stdout/stderr is kept in ``<prefix>.wsclean.log``.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from dsa110_contimg.errors import StageError, ToolMissingError
from dsa110_contimg.imaging.tiers import ImagingTier
from dsa110_contimg.tools.process import run_child

log = logging.getLogger(__name__)

INSTALL_HINT = "install it with `apt-get install wsclean` (Debian/Ubuntu)"
_ERROR_WORDS = ("error", "exception", "terminate", "bad_alloc", "what():")


@dataclass(frozen=True)
class WSCleanRun:
    """One finished WSClean run.

    Attributes
    ----------
    command : list of str
        The command line.
    log_path : str
        WSClean's output.
    seconds : float
        Wall time, seconds.
    """

    command: list[str]
    log_path: str
    seconds: float


def find_wsclean() -> str:
    """Path of the ``wsclean`` executable.

    Raises
    ------
    ToolMissingError
        If it is not on PATH.
    """
    exe = shutil.which("wsclean")
    if exe is None:
        raise ToolMissingError("wsclean was not found on PATH", hint=INSTALL_HINT)
    return exe


def wsclean_command(
    tier: ImagingTier,
    ms_path: str | Path,
    prefix: str | Path,
    *,
    data_column: str,
    exe: str = "wsclean",
    temp_dir: str | Path | None = None,
    mask_path: str | Path | None = None,
) -> list[str]:
    """WSClean's command line for one tier.

    Parameters
    ----------
    tier
        Imaging parameters.
    ms_path
        Measurement Set to image.
    prefix
        Output name prefix (``-name``): products are ``<prefix>-image.fits``...
    data_column
        ``CORRECTED_DATA`` or ``DATA``.
    exe
        The executable.
    temp_dir
        Folder for WSClean's temporary files.
    mask_path
        A ``-fits-mask`` (:mod:`.mask`): clean only inside it, up to
        ``tier.catalog_mask_niter`` iterations instead of ``tier.niter``.
    """
    t = tier
    cmd = [exe, "-name", str(prefix), "-size", str(t.size), str(t.size)]
    cmd += ["-scale", f"{t.cell_arcsec}asec", "-pol", t.pol, "-data-column", data_column]
    cmd += ["-weight", t.weight] + ([str(t.robust)] if t.weight == "briggs" else [])
    niter = t.niter if mask_path is None else t.catalog_mask_niter
    cmd += ["-niter", str(niter), "-mgain", str(t.mgain)]
    if mask_path is not None:
        cmd += ["-fits-mask", str(mask_path)]
    if t.threshold_jy > 0:
        cmd += ["-threshold", str(t.threshold_jy)]
    if t.min_uv_lambda > 0:
        cmd += ["-minuv-l", str(t.min_uv_lambda)]
    if t.max_uv_lambda is not None:
        cmd += ["-maxuv-l", str(t.max_uv_lambda)]
    if t.auto_mask is not None:
        cmd += ["-auto-mask", str(t.auto_mask)]
    if t.auto_threshold is not None:
        cmd += ["-auto-threshold", str(t.auto_threshold)]
    if t.channels_out > 1:
        cmd += ["-join-channels", "-channels-out", str(t.channels_out)]
        if t.spectral_pol:
            cmd += ["-fit-spectral-pol", str(t.spectral_pol)]
    if t.wgridder:
        cmd += ["-use-wgridder", "-wgridder-accuracy", f"{t.wgridder_accuracy:g}"]
    if t.baseline_averaging_lambda:
        cmd += ["-baseline-averaging", str(t.baseline_averaging_lambda)]
    if t.no_update_model:
        cmd += ["-no-update-model-required"]
    cmd += ["-abs-mem", str(t.abs_mem_gb)]
    if t.threads:
        cmd += ["-j", str(t.threads)]
    if temp_dir is not None:
        cmd += ["-temp-dir", str(temp_dir)]
    return cmd + list(t.extra_args) + [str(ms_path)]


def _failure_lines(log_path: Path, n: int = 5) -> str:
    lines = log_path.read_text(errors="replace").splitlines()
    errors = [ln.strip() for ln in lines if any(w in ln.lower() for w in _ERROR_WORDS)]
    return " | ".join((errors or [ln.strip() for ln in lines if ln.strip()])[-n:])


def run_wsclean(
    tier: ImagingTier,
    ms_path: str | Path,
    prefix: str | Path,
    *,
    data_column: str,
    log_path: str | Path | None = None,
    mask_path: str | Path | None = None,
) -> WSCleanRun:
    """Image an MS with WSClean; return the command, log path and wall time.

    ``mask_path``: a clean mask, as for :func:`wsclean_command`.

    Raises
    ------
    ToolMissingError
        If ``wsclean`` is not installed.
    StageError
        If WSClean fails or exceeds ``tier.timeout_s``; the message names
        the MS, WSClean's error lines and the log.
    """
    exe = find_wsclean()
    prefix = Path(prefix)
    log_path = Path(log_path) if log_path else prefix.with_name(prefix.name + ".wsclean.log")
    cmd = wsclean_command(
        tier,
        ms_path,
        prefix,
        data_column=data_column,
        exe=exe,
        temp_dir=prefix.parent,
        mask_path=mask_path,
    )
    log.info("wsclean (%s tier) on %s, log %s", tier.name, ms_path, log_path)
    t0 = time.perf_counter()
    with open(log_path, "w") as out:
        out.write(" ".join(cmd) + "\n\n")
        out.flush()
        try:
            code = run_child(
                cmd, stdout=out, stderr=subprocess.STDOUT, timeout=tier.timeout_s
            ).returncode
        except subprocess.TimeoutExpired:
            raise StageError(
                f"wsclean on {ms_path} exceeded {tier.timeout_s:.0f} s and was killed",
                hint=f"see {log_path}; raise the tier's timeout_s or use a smaller tier",
            ) from None
    seconds = time.perf_counter() - t0
    if code != 0:
        raise StageError(
            f"wsclean failed on {ms_path} (exit {code}): {_failure_lines(log_path)}",
            hint=f"full output in {log_path}",
        )
    log.info("wsclean finished in %.1f s: %s-*.fits", seconds, prefix)
    return WSCleanRun(command=cmd, log_path=str(log_path), seconds=seconds)

"""Convert one group of subband files into one Measurement Set.

The MS holds one spectral window of all channels, ascending (a missing
subband's channels are present and flagged), one field: the meridian at the
group's mid time and the pointing declination, as an ICRS (J2000) position.
Visibilities are rotated from the correlator's fringe-stop centre (hour angle
0, fixed on the ground) to that centre with the same geometry pyuvdata uses
(its app-coordinate and uvw routines), so the result equals pyuvdata's
``phase()`` + ``write_ms`` path; baselines are stored ant1 < ant2 in CASA's
convention (UVW = x1 - x2; the data conjugated accordingly). Autocorrelations
are kept and flagged. WEIGHT and SIGMA come from the sample counts (no
WEIGHT_SPECTRUM: the counts are flat across a subband's channels).

The MS is written under a temporary name beside the target, flushed to disk
(fsync) and renamed when complete (:func:`dsa110_contimg.atomic.atomic_output`),
so neither a crash nor a power cut leaves a half-written MS under the final name.
"""

from __future__ import annotations

import ctypes
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import EarthLocation, HADec, SkyCoord
from astropy.time import Time
from pyuvdata.utils import phasing

from dsa110_contimg import __version__
from dsa110_contimg.atomic import atomic_output
from dsa110_contimg.conversion.kernels import place_subband
from dsa110_contimg.conversion.ms_writer import MSMetadata, create_ms, write_subtables
from dsa110_contimg.conversion.reader import GroupHeader, open_group
from dsa110_contimg.errors import ProductExistsError
from dsa110_contimg.tools.prefetch import prefetched

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConversionResult:
    """What was written, for the products DB and the job record."""

    ms_path: str
    group_id: str
    n_rows: int
    n_channels: int
    n_subbands_present: int
    missing_subbands: list[int]
    mjd_start: float
    mjd_mid: float
    mjd_end: float
    phase_ra_deg: float
    phase_dec_deg: float
    pointing_dec_deg: float
    size_bytes: int
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


def _site(h: GroupHeader) -> EarthLocation:
    return EarthLocation.from_geodetic(
        h.longitude_deg * u.deg, h.latitude_deg * u.deg, h.altitude_m * u.m
    )


def tile_centre(h: GroupHeader) -> SkyCoord:
    """ICRS position of the meridian at the group's mid time and pointing declination."""
    mid = Time(np.median(h.times_jd), format="jd")
    return SkyCoord(
        ha=0 * u.hourangle,
        dec=h.dec_of_date_rad * u.rad,
        frame=HADec(obstime=mid, location=_site(h)),
    ).icrs


def new_uvw(h: GroupHeader, centre: SkyCoord) -> np.ndarray:
    """uvw (m) of every blt for the tile centre, in pyuvdata's convention (x2 - x1)."""
    site = _site(h)
    times = np.repeat(h.times_jd, h.n_bls)
    lst = Time(h.times_jd, format="jd").sidereal_time("apparent", longitude=site.lon).rad
    lst = np.repeat(lst, h.n_bls)
    app_ra, app_dec = phasing.calc_app_coords(
        lon_coord=centre.ra.rad,
        lat_coord=centre.dec.rad,
        coord_frame="icrs",
        time_array=times,
        lst_array=lst,
        telescope_loc=site,
    )
    frame_pa = phasing.calc_frame_pos_angle(
        time_array=times, app_ra=app_ra, app_dec=app_dec, telescope_loc=site, ref_frame="icrs"
    )
    return phasing.calc_uvw(
        app_ra=app_ra,
        app_dec=app_dec,
        frame_pa=frame_pa,
        lst_array=lst,
        use_ant_pos=True,
        antenna_positions=h.antenna_positions_m,
        antenna_numbers=h.antenna_numbers,
        ant_1_array=np.tile(h.ant1, h.n_times),
        ant_2_array=np.tile(h.ant2, h.n_times),
        telescope_lat=site.lat.rad,
        telescope_lon=site.lon.rad,
    )


def convert_group(
    paths: Sequence[str | Path],
    out_ms: str | Path,
    *,
    flag_autos: bool = True,
    overwrite: bool = False,
    durable: bool = True,
    progress: Callable[[int], None] | None = None,
) -> ConversionResult:
    """Write the subband files of one group as one Measurement Set.

    Parameters
    ----------
    paths
        The group's subband files (any order; missing subbands allowed).
    out_ms
        Path of the MS to create.
    flag_autos
        Flag autocorrelations (kept in the MS, but not for imaging).
    overwrite
        Replace an existing MS at ``out_ms``.
    durable
        fsync every file of the MS before the rename that publishes it (and the
        folder after it), so the name never points at bytes not yet on disk.
    progress
        Called with 1 after each integration is written.

    Raises
    ------
    InputDataError
        If the files are unreadable or do not form one group.
    ProductExistsError
        If ``out_ms`` exists and ``overwrite`` is false.
    """
    t0 = time.perf_counter()
    out_ms = Path(out_ms)
    if out_ms.exists() and not overwrite:
        raise ProductExistsError(f"{out_ms} exists", hint="use --overwrite to replace it")
    h = open_group(paths)
    try:
        with atomic_output(out_ms, overwrite=overwrite, durable=durable) as tmp:
            result = _write(h, tmp, out_ms, flag_autos, progress)
    finally:
        h.close()
    seconds = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in out_ms.rglob("*") if f.is_file())
    log.info("converted group %s -> %s in %.1f s", result.group_id, out_ms, seconds)
    return ConversionResult(
        **{**result.as_dict(), "ms_path": str(out_ms), "size_bytes": size, "seconds": seconds}
    )


def _write(h: GroupHeader, tmp: Path, final: Path, flag_autos: bool, progress) -> ConversionResult:  # type: ignore[no-untyped-def]
    nbl, nt, npol = h.n_bls, h.n_times, len(h.pols)
    freqs = h.band_frequencies()
    nchan = len(freqs)
    centre = tile_centre(h)
    uvw_new = new_uvw(h, centre)
    dw = uvw_new[:, 2] - h.uvw_m[:, 2]

    # CASA's convention: ant1 < ant2 with UVW = x1 - x2. Rows keep the file's
    # baseline order; those the correlator stored as ant1 < ant2 are conjugated
    # (and their uvw negated), the others only relabelled.
    lo, hi = np.minimum(h.ant1, h.ant2), np.maximum(h.ant1, h.ant2)
    conj = h.ant1 <= h.ant2
    autos = lo == hi

    ms = create_ms(tmp, nbl * nt, nchan, npol)
    writeback = _Writeback(tmp / f"table.f{ms.getdminfo('DATA')['SEQNR']}_TSM0")
    try:
        ms.putcol("ANTENNA1", np.tile(lo, nt))
        ms.putcol("ANTENNA2", np.tile(hi, nt))
        times_s = np.repeat((h.times_jd - 2400000.5) * 86400.0, nbl)
        for name in ("TIME", "TIME_CENTROID"):
            ms.putcol(name, times_s)
        for name in ("INTERVAL", "EXPOSURE"):
            ms.putcol(name, np.full(nbl * nt, h.integration_s))
        ms.putcol("SCAN_NUMBER", np.ones(nbl * nt, np.int32))
        ms.putcol("STATE_ID", np.full(nbl * nt, -1, np.int32))
        sign = np.where(np.tile(conj, nt), -1.0, 1.0)[:, None]
        ms.putcol("UVW", uvw_new * sign)

        depth = 2
        blocks = _integrations(
            h, freqs, dw, conj, autos if flag_autos else None, n_buffers=depth + 2
        )
        for t, (vis, flags, weight, sigma) in enumerate(
            prefetched(blocks, depth, name="convert-read")
        ):
            start = t * nbl
            ms.putcol("DATA", vis, start, nbl)
            ms.putcol("FLAG", flags, start, nbl)
            ms.putcol("WEIGHT", weight, start, nbl)
            ms.putcol("SIGMA", sigma, start, nbl)
            writeback.start()
            if progress:
                progress(1)
    finally:
        ms.close()
        writeback.close()

    t_edges = (h.times_jd[[0, -1]] - 2400000.5) * 86400.0 + np.array([-0.5, 0.5]) * h.integration_s
    site_ecef = _site_ecef(h)
    group_id = min(f.path.name for f in h.files)[:19]  # the file names' start time
    present = {f.subband for f in h.files}
    missing = sorted(set(range(16)) - present)
    write_subtables(
        tmp,
        MSMetadata(
            telescope_name=h.telescope_name,
            antenna_names=h.antenna_names,
            antenna_itrf_m=h.antenna_positions_m + site_ecef,
            antenna_diameters_m=h.antenna_diameters_m,
            array_centre_itrf_m=site_ecef,
            freqs_hz=freqs,
            channel_width_hz=h.channel_width_hz,
            pols=h.pols,
            field_name=f"meridian_{group_id}",
            phase_centre_rad=(centre.ra.rad, centre.dec.rad),
            time_range_s=(float(t_edges[0]), float(t_edges[1])),
            history=(
                f"Converted by dsa110_contimg {__version__} from {len(h.files)} subband files "
                f"of group {group_id} into {final.name}; missing subbands: {missing or 'none'}"
            ),
        ),
    )
    if missing:
        log.warning("group %s: subbands %s missing, their channels flagged", group_id, missing)
    mjd = t_edges / 86400.0
    return ConversionResult(
        ms_path=str(final),
        group_id=group_id,
        n_rows=nbl * nt,
        n_channels=nchan,
        n_subbands_present=len(present),
        missing_subbands=missing,
        mjd_start=float(mjd[0]),
        mjd_mid=float(mjd.mean()),
        mjd_end=float(mjd[1]),
        phase_ra_deg=float(centre.ra.deg),
        phase_dec_deg=float(centre.dec.deg),
        pointing_dec_deg=float(np.degrees(h.dec_of_date_rad)),
        size_bytes=0,
        seconds=0.0,
    )


def _integrations(
    h: GroupHeader,
    freqs: np.ndarray,
    dw: np.ndarray,
    conj: np.ndarray,
    autos: np.ndarray | None,
    n_buffers: int,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Each integration's band arrays: DATA, FLAG (Nbl, Nchan, Npol), WEIGHT, SIGMA (Nbl, Npol).

    The arrays come from a ring of ``n_buffers`` reused in turn (fresh pages
    for every integration cost more than the copy into them), so a consumer
    must be done with an integration before ``n_buffers - 1`` more are made.
    A missing subband's channels are never written: they stay zero and
    flagged from the allocation. ``autos`` marks rows to flag, or None.
    """
    nbl, npol = h.n_bls, len(h.pols)
    ring = [
        (np.zeros((nbl, len(freqs), npol), np.complex64), np.ones((nbl, len(freqs), npol), bool))
        for _ in range(min(n_buffers, h.n_times))
    ]
    for t in range(h.n_times):
        rows = slice(t * nbl, (t + 1) * nbl)
        vis, flags = ring[t % len(ring)]
        weight = np.zeros((nbl, npol), np.float32)
        for f in h.files:
            v, fl, ns = f.read(rows)
            place_subband(vis, flags, v, fl, dw[rows], freqs, f.first_channel, f.descending, conj)
            weight += ns
        weight /= 16.0  # a missing subband counts as no samples
        if autos is not None:
            flags[autos] = True
        sigma = np.where(weight > 0, 1 / np.sqrt(np.maximum(weight, 1e-30)), 0).astype(np.float32)
        yield vis, flags, weight, sigma


class _Writeback:
    """Start the disk write of a file's dirty pages as it grows (Linux ``sync_file_range``).

    The kernel would otherwise hold a group's ~1.4 GB of DATA in the page
    cache until the final fsync and write it all then, after the work is
    done; asking for writeback after each integration overlaps the disk with
    the conversion. Returns at once (no waiting); a no-op where the call or
    the file is missing.
    """

    _WRITE = 2  # SYNC_FILE_RANGE_WRITE

    def __init__(self, path: Path) -> None:
        self._fd: int | None = None
        self._call = _sync_file_range()
        if self._call is not None and path.exists():
            self._fd = os.open(path, os.O_RDONLY)

    def start(self) -> None:
        if self._fd is not None and self._call is not None:
            self._call(self._fd, 0, 0, self._WRITE)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _sync_file_range():  # type: ignore[no-untyped-def]
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        call = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    call.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    call.restype = ctypes.c_int
    return call


def _site_ecef(h: GroupHeader) -> np.ndarray:
    x, y, z = _site(h).to_geocentric()
    return np.array([x.to_value(u.m), y.to_value(u.m), z.to_value(u.m)])

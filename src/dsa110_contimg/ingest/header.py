"""What one subband file holds, read from its UVH5 header without the visibilities.

A file is accepted only if its name parses (``YYYY-MM-DDTHH:MM:SS_sbNN.hdf5``,
NN 00-15), HDF5 opens it, the datasets the converter needs are there with
consistent shapes, every contiguous dataset lies inside the file's bytes,
and its channels lie in the band of the subband its name gives. Anything
else raises :class:`~dsa110_contimg.errors.InputDataError` whose message is
the reason recorded when the file is quarantined.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from dsa110_contimg.errors import InputDataError
from dsa110_contimg.telescope import BAND_HIGH_HZ, N_SUBBANDS, SUBBAND_WIDTH_HZ

#: A subband file's name: the chunk's start time (UTC) and the subband number.
NAME_PATTERN = re.compile(r"^(?P<stamp>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)_sb(?P<sb>\d\d)\.hdf5$")

#: Modified Julian Date of the Unix epoch.
_MJD_UNIX_EPOCH = 40587.0
_JD_TO_MJD = 2400000.5
_SECONDS_PER_DAY = 86400.0

_HEADER_KEYS = (
    "Ntimes",
    "Nblts",
    "Nfreqs",
    "Npols",
    "Nants_data",
    "time_array",
    "integration_time",
    "freq_array",
    "ant_1_array",
    "ant_2_array",
    "uvw_array",
)
_DATA_KEYS = ("visdata", "flags", "nsamples")
# per-baseline-time arrays: with the data, the bulk of a file
_BLT_KEYS = ("time_array", "ant_1_array", "ant_2_array", "uvw_array", "integration_time")


@dataclass(frozen=True)
class SubbandFileInfo:
    """Metadata of one subband file, as recorded in ``raw_files``.

    Attributes
    ----------
    path : Path
    subband : int
        0..15 from the file name; 0 is the highest-frequency subband.
    name_time : datetime
        The time stamp of the file name (UTC): the chunk the file belongs to.
    start_mjd, end_mjd : float
        First integration's start and last integration's end (MJD, UTC).
    n_times : int
    integration_s : float
    dec_deg : float
        Pointing declination of date (``extra_keywords/phase_center_dec``).
    freq_min_hz, freq_max_hz : float
        Lowest and highest channel centre.
    n_antennas : int
        ``Nants_data``.
    size_bytes : int
    mtime : float
        POSIX modification time.
    """

    path: Path
    subband: int
    name_time: dt.datetime
    start_mjd: float
    end_mjd: float
    n_times: int
    integration_s: float
    dec_deg: float
    freq_min_hz: float
    freq_max_hz: float
    n_antennas: int
    size_bytes: int
    mtime: float


def datetime_to_mjd(when: dt.datetime) -> float:
    """MJD (UTC) of a timezone-aware datetime."""
    return _MJD_UNIX_EPOCH + when.timestamp() / _SECONDS_PER_DAY


def parse_name(path: str | os.PathLike[str]) -> tuple[dt.datetime, int]:
    """The chunk time (UTC) and subband of a file named ``YYYY-MM-DDTHH:MM:SS_sbNN.hdf5``.

    Raises
    ------
    InputDataError
        If the name does not have that form, the time is not a real date, or
        NN is not 00..15.
    """
    name = Path(path).name
    match = NAME_PATTERN.match(name)
    expected = "expected YYYY-MM-DDTHH:MM:SS_sbNN.hdf5"
    if match is None:
        raise InputDataError(f"{name}: not a subband file name ({expected})")
    subband = int(match["sb"])
    if subband >= N_SUBBANDS:
        raise InputDataError(f"{name}: subband {subband} out of range 00-{N_SUBBANDS - 1:02d}")
    try:
        stamp = dt.datetime.strptime(match["stamp"], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise InputDataError(
            f"{name}: time stamp {match['stamp']!r} is not a date ({exc})"
        ) from exc
    return stamp, subband


def subband_band_hz(subband: int) -> tuple[float, float]:
    """Lower and upper edge (Hz) of a subband; subband 0 is the highest."""
    upper = BAND_HIGH_HZ - subband * SUBBAND_WIDTH_HZ
    return upper - SUBBAND_WIDTH_HZ, upper


def read_header(path: str | os.PathLike[str]) -> SubbandFileInfo:
    """Read a subband file's metadata from its header; visibilities are not read.

    Parameters
    ----------
    path
        A UVH5 file in the correlator's layout (see ``docs/dsa110.md`` §2).

    Returns
    -------
    SubbandFileInfo

    Raises
    ------
    InputDataError
        If the name does not parse, or the file is empty, truncated, not HDF5,
        lacks a required dataset, has inconsistent shapes, or holds channels
        of another subband. The message starts with the file name and is the
        quarantine reason.
    """
    path = Path(path)
    name_time, subband = parse_name(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise InputDataError(f"{path.name}: cannot stat ({exc.strerror})") from exc
    if stat.st_size == 0:
        raise InputDataError(f"{path.name}: empty file (0 bytes)")
    handle = _open(path)
    try:
        values = _read(path.name, handle, stat.st_size)
    finally:
        handle.close()
    lo, hi = subband_band_hz(subband)
    if values["freq_min_hz"] < lo or values["freq_max_hz"] > hi:
        raise InputDataError(
            f"{path.name}: channels {values['freq_min_hz'] / 1e6:.3f}-"
            f"{values['freq_max_hz'] / 1e6:.3f} MHz are not in subband {subband:02d} "
            f"({lo / 1e6:.3f}-{hi / 1e6:.3f} MHz): mislabelled or foreign file"
        )
    return SubbandFileInfo(
        path=path,
        subband=subband,
        name_time=name_time,
        size_bytes=stat.st_size,
        mtime=stat.st_mtime,
        **values,
    )


def _open(path: Path) -> h5py.File:
    if not h5py.is_hdf5(path):
        raise InputDataError(f"{path.name}: not an HDF5 file (corrupt or foreign)")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        text = str(exc)
        if "truncated" in text:
            found = re.search(r"eof = (\d+).*stored_eof = (\d+)", text)
            sizes = f" ({found[1]} of {found[2]} bytes)" if found else ""
            raise InputDataError(f"{path.name}: truncated{sizes}") from exc
        raise InputDataError(f"{path.name}: HDF5 cannot open it ({text})") from exc


# what h5py and numpy raise on damaged metadata (RuntimeError: bad B-tree or symbol table)
_DAMAGE = (KeyError, IndexError, OSError, RuntimeError, TypeError, ValueError)


def _read(name: str, f: h5py.File, file_size: int) -> dict[str, float | int]:
    """Header values, after checking presence, shapes and byte extents."""
    try:
        return _read_checked(name, f, file_size)
    except InputDataError:
        raise
    except _DAMAGE as exc:
        raise InputDataError(f"{name}: damaged HDF5 metadata ({exc})") from exc


def _read_checked(name: str, f: h5py.File, file_size: int) -> dict[str, float | int]:
    groups = [g for g in ("Header", "Data", "Header/extra_keywords") if g not in f]
    if groups:
        raise InputDataError(f"{name}: not a DSA-110 UVH5 file, lacks {', '.join(groups)}")
    header, data, extra = f["Header"], f["Data"], f["Header/extra_keywords"]
    missing = [k for k in _HEADER_KEYS if k not in header]
    missing += [f"Data/{k}" for k in _DATA_KEYS if k not in data]
    if "phase_center_dec" not in extra:
        missing.append("extra_keywords/phase_center_dec")
    if missing:
        raise InputDataError(f"{name}: not a DSA-110 UVH5 file, lacks {', '.join(missing)}")
    _check_extents(name, f, file_size)
    counts = {k: int(header[k][()]) for k in ("Ntimes", "Nblts", "Nfreqs", "Npols")}
    times_jd = header["time_array"][()]
    freqs = np.ravel(header["freq_array"][()])
    _check_shapes(name, f, counts, times_jd, freqs)
    integration_s = float(np.ravel(header["integration_time"][()])[0])
    dec_rad = float(extra["phase_center_dec"][()])
    n_antennas = int(header["Nants_data"][()])
    if not (np.all(np.isfinite(times_jd)) and np.isfinite(dec_rad) and integration_s > 0):
        raise InputDataError(f"{name}: non-finite times, declination or integration time")
    if abs(dec_rad) > np.pi / 2:
        raise InputDataError(f"{name}: phase_center_dec {dec_rad} rad is not a declination")
    half = integration_s / 2 / _SECONDS_PER_DAY
    return {
        "start_mjd": float(times_jd.min()) - _JD_TO_MJD - half,
        "end_mjd": float(times_jd.max()) - _JD_TO_MJD + half,
        "n_times": counts["Ntimes"],
        "integration_s": integration_s,
        "dec_deg": float(np.degrees(dec_rad)),
        "freq_min_hz": float(freqs.min()),
        "freq_max_hz": float(freqs.max()),
        "n_antennas": n_antennas,
    }


def _check_shapes(
    name: str, f: h5py.File, counts: dict[str, int], times_jd: np.ndarray, freqs: np.ndarray
) -> None:
    nblts, ntimes = counts["Nblts"], counts["Ntimes"]
    expected = (nblts, 1, counts["Nfreqs"], counts["Npols"])
    problems = []
    for key in _DATA_KEYS:
        shape = f["Data"][key].shape
        if shape != expected:
            problems.append(f"Data/{key} shape {shape} != {expected}")
    for key in ("time_array", "ant_1_array", "ant_2_array"):
        if f["Header"][key].shape != (nblts,):
            problems.append(f"{key} shape {f['Header'][key].shape} != ({nblts},)")
    if f["Header/uvw_array"].shape != (nblts, 3):
        problems.append(f"uvw_array shape {f['Header/uvw_array'].shape} != ({nblts}, 3)")
    if len(freqs) != counts["Nfreqs"] or counts["Nfreqs"] == 0:
        problems.append(f"{len(freqs)} frequencies for Nfreqs {counts['Nfreqs']}")
    if ntimes <= 0 or nblts % ntimes or len(np.unique(times_jd)) != ntimes:
        problems.append(f"Nblts {nblts} and Ntimes {ntimes} disagree with time_array")
    if problems:
        raise InputDataError(f"{name}: inconsistent UVH5 layout: {'; '.join(problems)}")


def _check_extents(name: str, f: h5py.File, file_size: int) -> None:
    """The large datasets must be written and lie inside the file.

    HDF5 itself refuses a file shorter than its superblock says; this also
    catches visibilities never written and extents past the end of the file.
    """
    problems: list[str] = []
    keys = [f"Data/{k}" for k in _DATA_KEYS] + [f"Header/{k}" for k in _BLT_KEYS]
    for key in keys:
        dset = f[key]
        if dset.chunks is not None or dset.id.get_create_plist().get_layout() == h5py.h5d.COMPACT:
            continue  # chunked storage has no single extent; compact data lives in the header
        offset, stored = dset.id.get_offset(), dset.id.get_storage_size()
        needed = dset.size * dset.dtype.itemsize
        if offset is None or stored < needed:
            problems.append(f"{key} holds {stored} of {needed} bytes (never fully written)")
        elif offset + stored > file_size:
            problems.append(f"{key} ends at byte {offset + stored}, the file has {file_size}")
    if problems:
        raise InputDataError(f"{name}: truncated: {'; '.join(problems)}")

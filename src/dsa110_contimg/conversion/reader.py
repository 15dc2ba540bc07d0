"""Read a group of UVH5 subband files directly with h5py.

Only headers are read up front; visibilities are read one integration at a
time (a contiguous slab of each file), so memory stays bounded whatever the
group size. Every file of a group must share the first file's baselines and
times; a file that does not is refused with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from dsa110_contimg.errors import InputDataError
from dsa110_contimg.telescope import BAND_LOW_HZ, N_SUBBANDS, SUBBAND_WIDTH_HZ

_NAME = re.compile(r"(?P<stamp>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)_sb(?P<sb>\d\d)\.hdf5$")


def subband_of(path: str | Path) -> int:
    """Subband number from a file name ``YYYY-MM-DDTHH:MM:SS_sbNN.hdf5``."""
    match = _NAME.search(Path(path).name)
    if not match or int(match["sb"]) >= N_SUBBANDS:
        raise InputDataError(
            f"{path}: not a DSA-110 subband file name (YYYY-MM-DDTHH:MM:SS_sbNN.hdf5)"
        )
    return int(match["sb"])


@dataclass
class SubbandFile:
    """One open subband file and where its channels go in the ascending band."""

    path: Path
    subband: int
    handle: h5py.File
    freqs_hz: np.ndarray  # as stored
    descending: bool
    first_channel: int = 0  # position of its lowest channel in the whole band

    def read(self, rows: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Some rows' visdata and flags (Nrow, Nch, Npol), in the file's channel order,
        and their sample counts (Nrow, Npol), which the correlator keeps flat across a
        subband's channels: the first channel's count stands for the subband."""
        data = self.handle["Data"]
        return data["visdata"][rows, 0], data["flags"][rows, 0], data["nsamples"][rows, 0, 0]


@dataclass
class GroupHeader:
    """What all files of a group share, from the first file's header."""

    ant1: np.ndarray  # (Nbls,) antenna numbers, in file order
    ant2: np.ndarray
    uvw_m: np.ndarray  # (Nblts, 3) float64 (cast from the file's float32)
    times_jd: np.ndarray  # (Ntimes,) integration centres
    integration_s: float
    n_bls: int
    dec_of_date_rad: float
    antenna_numbers: np.ndarray
    antenna_names: list[str]
    antenna_positions_m: np.ndarray  # ECEF offsets from the site
    antenna_diameters_m: np.ndarray
    latitude_deg: float
    longitude_deg: float
    altitude_m: float
    telescope_name: str
    pols: np.ndarray
    n_chan_per_subband: int
    channel_width_hz: float  # absolute
    files: list[SubbandFile] = field(default_factory=list)

    @property
    def n_times(self) -> int:
        return len(self.times_jd)

    @property
    def n_chan(self) -> int:
        return N_SUBBANDS * self.n_chan_per_subband

    def band_frequencies(self) -> np.ndarray:
        """Ascending channel centres of the whole band (missing subbands included), Hz."""
        width = SUBBAND_WIDTH_HZ / self.n_chan_per_subband
        return BAND_LOW_HZ + (np.arange(self.n_chan) + 0.5) * width

    def close(self) -> None:
        for f in self.files:
            f.handle.close()


def _text(value) -> str:  # type: ignore[no-untyped-def]
    return value.decode() if isinstance(value, bytes) else str(value)


def _open(path: Path) -> h5py.File:
    try:
        handle = h5py.File(path, "r")
        handle["Header"], handle["Data/visdata"]  # noqa: B018 - existence check
        return handle
    except (OSError, KeyError) as exc:
        raise InputDataError(f"{path}: unreadable or not a UVH5 file ({exc})") from exc


def open_group(paths: Sequence[str | Path]) -> GroupHeader:
    """Open the subband files of one group and check that they fit together.

    Raises
    ------
    InputDataError
        If a file is unreadable, a subband appears twice, or files disagree on
        baselines, times or channel count.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise InputDataError("no files given")
    subbands = [subband_of(p) for p in paths]
    if len(set(subbands)) != len(subbands):
        raise InputDataError(f"a subband appears twice among {[p.name for p in paths]}")
    handles = []
    try:
        for p in paths:
            handles.append(_open(p))
        header = _header(paths[0], handles[0])
        for path, sb, handle in zip(paths, subbands, handles, strict=True):
            header.files.append(_subband_file(path, sb, handle, header))
    except Exception:
        for h in handles:
            h.close()
        raise
    return header


def _header(path: Path, f: h5py.File) -> GroupHeader:
    h = f["Header"]
    try:
        nbls, ntimes = int(h["Nbls"][()]), int(h["Ntimes"][()])
        ant1 = h["ant_1_array"][()]
        ant2 = h["ant_2_array"][()]
        times = h["time_array"][()]
        if len(ant1) != nbls * ntimes:
            raise InputDataError(f"{path}: Nblts {len(ant1)} != Nbls x Ntimes")
        freqs = np.ravel(h["freq_array"][()])
        extra = h["extra_keywords"]
        return GroupHeader(
            ant1=ant1[:nbls].astype(np.int32),
            ant2=ant2[:nbls].astype(np.int32),
            uvw_m=h["uvw_array"][()].astype(np.float64),
            times_jd=times[::nbls].copy(),
            integration_s=float(np.ravel(h["integration_time"][()])[0]),
            n_bls=nbls,
            dec_of_date_rad=float(extra["phase_center_dec"][()]),
            antenna_numbers=h["antenna_numbers"][()].astype(np.int32),
            antenna_names=[_text(n) for n in h["antenna_names"][()]],
            antenna_positions_m=h["antenna_positions"][()].astype(np.float64),
            antenna_diameters_m=(
                h["antenna_diameters"][()]
                if "antenna_diameters" in h
                else np.full(len(h["antenna_numbers"]), 4.65)
            ),
            latitude_deg=float(h["latitude"][()]),
            longitude_deg=float(h["longitude"][()]),
            altitude_m=float(h["altitude"][()]),
            telescope_name=_text(h["telescope_name"][()]),
            pols=h["polarization_array"][()].astype(np.int32),
            n_chan_per_subband=len(freqs),
            channel_width_hz=abs(float(np.ravel(h["channel_width"][()])[0])),
        )
    except KeyError as exc:
        raise InputDataError(f"{path}: header lacks {exc}") from exc


def _subband_file(path: Path, sb: int, f: h5py.File, header: GroupHeader) -> SubbandFile:
    h = f["Header"]
    nbls = int(h["Nbls"][()])
    if nbls != header.n_bls or not np.array_equal(h["ant_1_array"][:nbls], header.ant1):
        raise InputDataError(f"{path}: baselines differ from the group's first file")
    times = h["time_array"][::nbls]
    if len(times) != header.n_times or not np.allclose(times, header.times_jd, atol=1e-7):
        raise InputDataError(f"{path}: integration times differ from the group's first file")
    freqs = np.ravel(h["freq_array"][()])
    if len(freqs) != header.n_chan_per_subband:
        raise InputDataError(
            f"{path}: {len(freqs)} channels, the group has {header.n_chan_per_subband}"
        )
    shape = f["Data/visdata"].shape
    if shape[0] != nbls * header.n_times or shape[2] != len(freqs):
        raise InputDataError(f"{path}: visdata shape {shape} does not match its header")
    band = header.band_frequencies()
    first = int(np.argmin(np.abs(band - freqs.min())))
    if abs(band[first] - freqs.min()) > 0.01 * header.channel_width_hz:
        raise InputDataError(f"{path}: channels do not lie on the DSA-110 band's grid")
    return SubbandFile(path, sb, f, freqs, bool(freqs[0] > freqs[-1]), first)

"""Write UVH5 subband files in the layout of the DSA-110 correlator's writer.

The layout is the old-style UVH5 of the 2018 memo, written incrementally with
h5py (see ../shared/docs/dsa110.md §2): a ``Header`` group of scalars and
per-blt arrays (``uvw_array`` float32, ``phase_type`` "drift" although the
data are fringe-stopped, the real centre in ``extra_keywords``) and a
``Data`` group with ``visdata`` complex64, ``flags`` bool and ``nsamples``
float32 of shape (Nblts, 1, Nfreqs, Npols), contiguous and uncompressed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from dsa110_contimg.atomic import atomic_output
from dsa110_contimg.telescope import (
    DISH_DIAMETER_M,
    INSTRUMENT,
    POLARIZATION_CODES,
    SITE_HEIGHT_M,
    SITE_LATITUDE_RAD,
    SITE_LONGITUDE_RAD,
    TELESCOPE_NAME,
    ArrayLayout,
)


@dataclass(frozen=True)
class SubbandHeader:
    """What one file's header holds besides the telescope's fixed facts.

    Attributes
    ----------
    ant1, ant2 : (Nbls,) int
        Antenna numbers (pad - 1) of each baseline, in the correlator's order.
    uvw_m : (Nbls, 3) float
        uvw of each baseline (it repeats every integration: the fringe-stop
        centre is fixed in the topocentric frame).
    times_jd : (Nt,) float
        Julian dates of the integration centres.
    lst_rad : (Nt,) float
    integration_s : float
    freqs_hz : (Nf,) float
        Channel centres in the file's order.
    channel_width_hz : float
        Signed as the writer stores it.
    phase_center_dec_rad : float
        Pointing declination of date.
    """

    ant1: np.ndarray
    ant2: np.ndarray
    uvw_m: np.ndarray
    times_jd: np.ndarray
    lst_rad: np.ndarray
    integration_s: float
    freqs_hz: np.ndarray
    channel_width_hz: float
    phase_center_dec_rad: float

    @property
    def n_bls(self) -> int:
        return len(self.ant1)

    @property
    def n_blts(self) -> int:
        return self.n_bls * len(self.times_jd)


def _write_header(h: h5py.Group, layout: ArrayLayout, hdr: SubbandHeader) -> None:
    nt, nbl = len(hdr.times_jd), hdr.n_bls
    n_active = len(np.unique(np.concatenate([hdr.ant1, hdr.ant2])))
    scalars = {
        "latitude": np.degrees(SITE_LATITUDE_RAD),
        "longitude": np.degrees(SITE_LONGITUDE_RAD),
        "altitude": SITE_HEIGHT_M,
        "telescope_name": np.bytes_(TELESCOPE_NAME),
        "instrument": np.bytes_(INSTRUMENT),
        "object_name": np.bytes_("search"),
        "history": np.bytes_("Written by dsa110_contimg.simulate (simulated DSA-110 data)."),
        "phase_type": np.bytes_("drift"),
        "phase_center_app_dec": hdr.phase_center_dec_rad,
        "vis_units": np.bytes_("uncalib"),
        "Nants_data": n_active,
        "Nants_telescope": layout.n_antennas,
        "Nbls": nbl,
        "Nblts": nt * nbl,
        "Nfreqs": len(hdr.freqs_hz),
        "Npols": len(POLARIZATION_CODES),
        "Ntimes": nt,
        "Nspws": 1,
        "channel_width": float(hdr.channel_width_hz),
    }
    for key, value in scalars.items():
        h[key] = value
    h["antenna_names"] = np.array([n.encode() for n in layout.antenna_names])
    h["antenna_numbers"] = layout.antenna_numbers.astype(np.int64)
    h["antenna_diameters"] = np.full(layout.n_antennas, DISH_DIAMETER_M)
    h["antenna_positions"] = layout.ecef_offsets_m
    h["ant_1_array"] = np.tile(hdr.ant1.astype(np.int64), nt)
    h["ant_2_array"] = np.tile(hdr.ant2.astype(np.int64), nt)
    h["uvw_array"] = np.tile(hdr.uvw_m.astype(np.float32), (nt, 1))
    h["time_array"] = np.repeat(hdr.times_jd, nbl)
    h["lst_array"] = np.repeat(hdr.lst_rad, nbl)
    h["integration_time"] = np.full(nt * nbl, hdr.integration_s)
    h["freq_array"] = hdr.freqs_hz[None, :].astype(np.float64)
    h["spw_array"] = np.array([1], np.int64)
    h["polarization_array"] = np.array(POLARIZATION_CODES, np.int64)
    extra = h.create_group("extra_keywords")
    extra["phase_center_dec"] = hdr.phase_center_dec_rad
    extra["ha_phase_center"] = 0.0
    extra["phase_center_epoch"] = np.bytes_("HADEC")


class SubbandWriter:
    """One subband file, written one integration at a time.

    Use as a context manager; the file is written under a temporary name and
    renamed into place on a clean exit (:func:`dsa110_contimg.atomic.atomic_output`),
    so a reader never sees half a file.
    """

    def __init__(self, path: Path, layout: ArrayLayout, header: SubbandHeader) -> None:
        self.path = Path(path)
        self.header = header
        self._output = atomic_output(self.path, overwrite=True)
        self._file = h5py.File(self._output.__enter__(), "w")
        try:
            _write_header(self._file.create_group("Header"), layout, header)
            shape = (header.n_blts, 1, len(header.freqs_hz), len(POLARIZATION_CODES))
            data = self._file.create_group("Data")
            self._vis = data.create_dataset("visdata", shape, np.complex64)
            # The correlator flags nothing and integrates every sample.
            data.create_dataset("flags", data=np.zeros(shape, bool))
            data.create_dataset("nsamples", data=np.ones(shape, np.float32))
        except BaseException as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise

    def write_integration(self, t_index: int, vis: np.ndarray) -> None:
        """Store one integration's data, shape (Nbls, Nf, Npols), baselines in header order."""
        start = t_index * self.header.n_bls
        self._vis[start : start + self.header.n_bls] = vis[:, None]

    def __enter__(self) -> SubbandWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:  # type: ignore[no-untyped-def]
        self._file.close()
        self._output.__exit__(exc_type, exc, tb)

"""Create a Measurement Set with python-casacore and fill its subtables.

The main table's DATA and FLAG have a fixed cell shape (channels x
polarisations) in tiled storage, which is what makes writing a group fast;
subtables follow the MeasurementSet v2 definition closely enough for
casacore, CASA and WSClean (alt-az mounts, X/Y feeds, one field, one
spectral window of ascending channels, XX and YY).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from casacore import tables

from dsa110_contimg import __version__

#: Rows per tile of DATA: 32 rows x 768 channels x 2 pols x 8 bytes = 384 KiB.
DATA_TILE_ROWS = 32
#: CASA's Stokes codes of the two linear products we write.
CORR_TYPES = {-5: 9, -6: 12, -7: 10, -8: 11}  # XX, YY, XY, YX
CORR_PRODUCTS = {-5: (0, 0), -6: (1, 1), -7: (0, 1), -8: (1, 0)}


@dataclass(frozen=True)
class MSMetadata:
    """What the subtables say about the observation."""

    telescope_name: str
    antenna_names: list[str]
    antenna_itrf_m: np.ndarray  # (Nant, 3) absolute ITRF/ECEF positions
    antenna_diameters_m: np.ndarray
    array_centre_itrf_m: np.ndarray  # (3,)
    freqs_hz: np.ndarray  # ascending
    channel_width_hz: float
    pols: np.ndarray  # AIPS codes, e.g. [-5, -6]
    field_name: str
    phase_centre_rad: tuple[float, float]  # (ra, dec) J2000
    time_range_s: tuple[float, float]  # MJD seconds
    history: str


def create_ms(path: Path, n_rows: int, n_chan: int, n_pol: int) -> tables.table:
    """An empty MS with ``n_rows`` rows and fixed-shape DATA and FLAG columns."""
    desc = tables.required_ms_desc("MAIN")
    cell = [n_chan, n_pol]
    data = tables.makearrcoldesc(
        "DATA",
        0j,
        valuetype="complex",
        shape=cell,
        options=4,  # FixedShape
        datamanagertype="TiledColumnStMan",
        datamanagergroup="TiledData",
        comment="The data column",
    )
    desc.update(tables.maketabdesc(data))
    desc["FLAG"].update(
        shape=cell,
        ndim=2,
        option=4,
        dataManagerType="TiledColumnStMan",
        dataManagerGroup="TiledFlag",
    )
    desc["UVW"].update(dataManagerType="TiledColumnStMan", dataManagerGroup="TiledUVW")
    for key in ("WEIGHT", "SIGMA"):
        desc[key].update(
            shape=[n_pol],
            ndim=1,
            option=4,
            dataManagerType="TiledColumnStMan",
            dataManagerGroup=f"Tiled{key}",
        )
    desc["FLAG_CATEGORY"].update(
        dataManagerType="TiledShapeStMan", dataManagerGroup="TiledFlagCategory"
    )
    for key in (
        "ARRAY_ID",
        "EXPOSURE",
        "FEED1",
        "FEED2",
        "FIELD_ID",
        "INTERVAL",
        "OBSERVATION_ID",
        "PROCESSOR_ID",
        "SCAN_NUMBER",
        "STATE_ID",
        "TIME",
        "TIME_CENTROID",
        "DATA_DESC_ID",
    ):
        desc[key].update(dataManagerType="IncrementalStMan", dataManagerGroup=key)
    tiles = {
        "TiledData": {"DEFAULTTILESHAPE": np.array([n_pol, n_chan, DATA_TILE_ROWS], np.int32)},
        "TiledFlag": {"DEFAULTTILESHAPE": np.array([n_pol, n_chan, 8 * DATA_TILE_ROWS], np.int32)},
        "TiledUVW": {"DEFAULTTILESHAPE": np.array([3, 1024], np.int32)},
    }
    ms = tables.default_ms(str(path), desc, tables.makedminfo(desc, tiles))
    ms.addrows(n_rows)
    return ms


def _fill(table: tables.table, columns: dict[str, object], n_rows: int) -> None:
    if table.nrows() < n_rows:
        table.addrows(n_rows - table.nrows())
    for name, value in columns.items():
        try:
            table.putcol(name, value)
        except RuntimeError as exc:
            raise RuntimeError(f"{table.name()}: cannot write column {name}: {exc}") from exc


def write_subtables(path: Path, meta: MSMetadata) -> None:
    """Fill ANTENNA, FEED, FIELD, SOURCE, SPECTRAL_WINDOW, POLARIZATION, ... of an MS."""
    n_ant, n_chan, n_pol = len(meta.antenna_names), len(meta.freqs_hz), len(meta.pols)
    sub = lambda name: tables.table(f"{path}/{name}", readonly=False, ack=False)  # noqa: E731

    with sub("ANTENNA") as t:
        _fill(
            t,
            {
                "NAME": meta.antenna_names,
                "STATION": [f"DSA-{int(n):03d}" if n.isdigit() else n for n in meta.antenna_names],
                "TYPE": ["GROUND-BASED"] * n_ant,
                "MOUNT": ["ALT-AZ"] * n_ant,  # without it CASA predicts NaN models
                "POSITION": meta.antenna_itrf_m,
                "OFFSET": np.zeros((n_ant, 3)),
                "DISH_DIAMETER": meta.antenna_diameters_m,
                "FLAG_ROW": np.zeros(n_ant, bool),
            },
            n_ant,
        )
    with sub("FEED") as t:
        _fill(
            t,
            {
                "ANTENNA_ID": np.arange(n_ant, dtype=np.int32),
                "FEED_ID": np.zeros(n_ant, np.int32),
                "SPECTRAL_WINDOW_ID": np.full(n_ant, -1, np.int32),
                "TIME": np.zeros(n_ant),
                "INTERVAL": np.zeros(n_ant),
                "NUM_RECEPTORS": np.full(n_ant, 2, np.int32),
                "BEAM_ID": np.full(n_ant, -1, np.int32),
                "BEAM_OFFSET": np.zeros((n_ant, 2, 2)),
                "POLARIZATION_TYPE": np.array([["X", "Y"]] * n_ant),
                "POL_RESPONSE": np.tile(np.eye(2, dtype=np.complex64), (n_ant, 1, 1)),
                "POSITION": np.zeros((n_ant, 3)),
                "RECEPTOR_ANGLE": np.tile([0.0, np.pi / 2], (n_ant, 1)),
            },
            n_ant,
        )
    direction = np.array([[list(meta.phase_centre_rad)]])
    mid_s = 0.5 * sum(meta.time_range_s)
    with sub("FIELD") as t:
        _fill(
            t,
            {
                "NAME": [meta.field_name],
                "CODE": [""],
                "TIME": [mid_s],
                "NUM_POLY": np.zeros(1, np.int32),
                "DELAY_DIR": direction,
                "PHASE_DIR": direction,
                "REFERENCE_DIR": direction,
                "SOURCE_ID": np.zeros(1, np.int32),
                "FLAG_ROW": np.zeros(1, bool),
            },
            1,
        )
    total = n_chan * meta.channel_width_hz
    with sub("SPECTRAL_WINDOW") as t:
        _fill(
            t,
            {
                "NAME": ["DSA-110 L band"],
                "NUM_CHAN": np.array([n_chan], np.int32),
                "CHAN_FREQ": meta.freqs_hz[None, :],
                "CHAN_WIDTH": np.full((1, n_chan), meta.channel_width_hz),
                "EFFECTIVE_BW": np.full((1, n_chan), meta.channel_width_hz),
                "RESOLUTION": np.full((1, n_chan), meta.channel_width_hz),
                "REF_FREQUENCY": [float(meta.freqs_hz[n_chan // 2])],
                "TOTAL_BANDWIDTH": [total],
                "MEAS_FREQ_REF": np.array([5], np.int32),  # TOPO
                "NET_SIDEBAND": np.ones(1, np.int32),
                "FREQ_GROUP": np.zeros(1, np.int32),
                "FREQ_GROUP_NAME": [""],
                "IF_CONV_CHAIN": np.zeros(1, np.int32),
                "FLAG_ROW": np.zeros(1, bool),
            },
            1,
        )
    with sub("POLARIZATION") as t:
        _fill(
            t,
            {
                "NUM_CORR": np.array([n_pol], np.int32),
                "CORR_TYPE": np.array([[CORR_TYPES[int(p)] for p in meta.pols]], np.int32),
                "CORR_PRODUCT": np.array([[CORR_PRODUCTS[int(p)] for p in meta.pols]], np.int32),
                "FLAG_ROW": np.zeros(1, bool),
            },
            1,
        )
    with sub("DATA_DESCRIPTION") as t:
        _fill(
            t,
            {
                "SPECTRAL_WINDOW_ID": np.zeros(1, np.int32),
                "POLARIZATION_ID": np.zeros(1, np.int32),
                "FLAG_ROW": np.zeros(1, bool),
            },
            1,
        )
    with sub("OBSERVATION") as t:
        _fill(
            t,
            {
                "TELESCOPE_NAME": [meta.telescope_name],
                "TIME_RANGE": np.array([meta.time_range_s]),
                "OBSERVER": ["dsa110-contimg"],
                "PROJECT": ["DSA-110 continuum"],
                "SCHEDULE_TYPE": [""],
                "RELEASE_DATE": [0.0],
                "FLAG_ROW": np.zeros(1, bool),
            },
            1,
        )
    with sub("PROCESSOR") as t:
        _fill(
            t,
            {
                "TYPE": ["CORRELATOR"],
                "SUB_TYPE": ["DSA-110"],
                "TYPE_ID": [0],
                "MODE_ID": [0],
                "FLAG_ROW": [False],
            },
            1,
        )
    with sub("HISTORY") as t:
        _fill(
            t,
            {
                "TIME": [mid_s],
                "OBSERVATION_ID": np.zeros(1, np.int32),
                "MESSAGE": [meta.history],
                "PRIORITY": ["NORMAL"],
                "ORIGIN": [f"dsa110_contimg {__version__}"],
                "OBJECT_ID": np.zeros(1, np.int32),
                "APPLICATION": ["dsa110 convert"],
                "CLI_COMMAND": np.array([["dsa110 convert"]]),
                "APP_PARAMS": np.array([[""]]),
            },
            1,
        )
    _write_source(path, meta, direction[0], mid_s)


def _write_source(path: Path, meta: MSMetadata, direction: np.ndarray, mid_s: float) -> None:
    desc = tables.complete_ms_desc("SOURCE")
    with tables.table(f"{path}/SOURCE", desc, nrow=1, ack=False) as t:
        t.putcol("SOURCE_ID", np.zeros(1, np.int32))
        t.putcol("NAME", [meta.field_name])
        t.putcol("DIRECTION", direction)
        t.putcol("TIME", [mid_s])
        t.putcol("INTERVAL", [meta.time_range_s[1] - meta.time_range_s[0]])
        t.putcol("SPECTRAL_WINDOW_ID", np.full(1, -1, np.int32))
        t.putcol("NUM_LINES", np.zeros(1, np.int32))
        t.putcol("CALIBRATION_GROUP", np.zeros(1, np.int32))
        t.putcol("CODE", [""])
        t.putcol("PROPER_MOTION", np.zeros((1, 2)))
    with tables.table(str(path), readonly=False, ack=False) as ms:
        ms.putkeyword("SOURCE", f"Table: {path}/SOURCE")

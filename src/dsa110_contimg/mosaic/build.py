"""Co-add primary-beam-corrected images on one celestial grid (inverse-variance weights).

Each tile ``i`` is a pb-corrected image ``I_i = F_i / B_i`` (``F_i`` the
flat-noise image with noise ``sigma_i``, ``B_i`` its primary beam), so its
noise at a pixel is ``sigma_i / B_i`` and its inverse-variance weight::

    w_i = B_i**2 / sigma_i**2      (0 where B_i < the tile's PBLIMIT)

The mosaic is ``sum_i w_i I_i / sum_i w_i`` and its noise map
``1 / sqrt(sum_i w_i)``. We resample ``w_i I_i`` (which is
``B_i F_i / sigma_i**2``, finite everywhere) and ``B_i`` with ``reproject``
(bicubic: the restored beam spans ~4 pixels, where bilinear interpolation
would lose ~8% of a peak between pixels), then blank where the resampled
beam is below the limit. The grid is the smallest one in the tiles'
grid holding every tile (``find_optimal_celestial_wcs``): SIN like the tiles,
or CAR when the tiles' centres span more than ``SIN_MAX_SPAN_DEG`` (SIN cannot
hold a hemisphere; CAR holds a strip of any length at the cost of a
cos(dec) stretch in RA).

The tiles must share a restoring beam (one imaging tier): the mosaic's
BMAJ/BMIN/BPA are the tiles' medians, and tiles more than
``beam_tolerance`` apart are refused (no convolution to a common beam).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS

from dsa110_contimg import __version__
from dsa110_contimg.atomic import atomic_output
from dsa110_contimg.errors import InputDataError
from dsa110_contimg.imaging.headers import TELESCOPE
from dsa110_contimg.imaging.preview import write_previews
from dsa110_contimg.mosaic.select import TileInput

#: Widest spread of tile centres (deg) put on a SIN grid; wider strips go on CAR.
SIN_MAX_SPAN_DEG = 60.0
#: Tiles' restoring beams may differ by this fraction (BMAJ, BMIN) before we refuse.
BEAM_TOLERANCE = 0.05


@dataclass
class MosaicResult:
    """The files written and what the products DB records of them.

    ``tile_weights`` maps each image id to its share of the mosaic's total
    weight (sum over pixels of ``w_i`` / sum of ``sum_i w_i``; they add to 1).
    """

    path: str
    noise_path: str
    preview_path: str
    thumbnail_path: str
    mjd_start: float
    mjd_end: float
    ra_deg: float
    dec_deg: float
    size_x: int
    size_y: int
    cell_arcsec: float
    noise_jy: float
    freq_hz: float | None
    beam_deg: tuple[float, float, float]
    tile_weights: dict[int, float] = field(default_factory=dict)


def _read(path: str) -> tuple[np.ndarray, fits.Header]:
    with fits.open(path) as hdul:
        header = hdul[0].header.copy()
        data = np.asarray(hdul[0].data, dtype=np.float64)
    return data.reshape(data.shape[-2:]), header


def common_beam(headers: Sequence[fits.Header], tolerance: float = BEAM_TOLERANCE):
    """The tiles' median (BMAJ, BMIN, BPA), degrees; refuse beams further apart than ``tolerance``."""
    beams = np.array([[h["BMAJ"], h["BMIN"], h.get("BPA", 0.0)] for h in headers], float)
    median = np.median(beams, axis=0)
    spread = np.abs(beams[:, :2] / median[:2] - 1.0).max()
    if spread > tolerance:
        raise InputDataError(
            f"the tiles' restoring beams differ by {spread:.1%} (> {tolerance:.0%}): "
            f"BMAJ {beams[:, 0].min() * 3600:.1f}-{beams[:, 0].max() * 3600:.1f} arcsec",
            hint="mosaic images of one imaging tier, or select a narrower range",
        )
    return float(median[0]), float(median[1]), float(median[2])


def mosaic_grid(headers: Sequence[fits.Header], cell_arcsec: float | None) -> tuple[WCS, tuple]:
    """The celestial WCS and (ny, nx) of a grid holding every tile (ICRS; SIN or CAR)."""
    from astropy.coordinates import SkyCoord
    from reproject.mosaicking import find_optimal_celestial_wcs

    footprints = [((h["NAXIS2"], h["NAXIS1"]), WCS(h).celestial) for h in headers]
    centres = SkyCoord([h["CRVAL1"] for h in headers], [h["CRVAL2"] for h in headers], unit="deg")
    span = max(centres[i].separation(centres).max().deg for i in range(len(centres)))
    projection = "SIN" if span <= SIN_MAX_SPAN_DEG else "CAR"
    cell = cell_arcsec if cell_arcsec is not None else abs(headers[0]["CDELT2"]) * 3600
    wcs, shape = find_optimal_celestial_wcs(
        footprints, frame="icrs", projection=projection, resolution=cell * u.arcsec
    )
    return wcs, tuple(int(n) for n in shape)


def tile_box(
    tile_wcs: WCS, tile_shape: tuple[int, int], wcs: WCS, shape: tuple[int, int], margin: int = 3
) -> tuple[slice, slice] | None:
    """The (y, x) slices of the grid ``wcs``/``shape`` that hold a tile, None if none.

    The tile's edge is sampled every few pixels (a straight edge in one
    projection is curved in another), mapped to the grid and boxed with
    ``margin`` pixels to spare: resampling each tile onto its box, not the
    whole grid, keeps a long strip's cost proportional to its tiles.
    """
    ny, nx = tile_shape
    xs, ys = np.linspace(-0.5, nx - 0.5, 65), np.linspace(-0.5, ny - 0.5, 65)
    edge_x = np.concatenate([xs, xs, np.full(65, -0.5), np.full(65, nx - 0.5)])
    edge_y = np.concatenate([np.full(65, -0.5), np.full(65, ny - 0.5), ys, ys])
    gx, gy = wcs.world_to_pixel(tile_wcs.pixel_to_world(edge_x, edge_y))
    good = np.isfinite(gx) & np.isfinite(gy)
    if not good.any():
        return None
    x0 = max(int(np.floor(gx[good].min())) - margin, 0)
    x1 = min(int(np.ceil(gx[good].max())) + margin + 1, shape[1])
    y0 = max(int(np.floor(gy[good].min())) - margin, 0)
    y1 = min(int(np.ceil(gy[good].max())) + margin + 1, shape[0])
    if x1 <= x0 or y1 <= y0:
        return None
    return slice(y0, y1), slice(x0, x1)


def _header(wcs: WCS, result: MosaicResult, n_tiles: int, bunit: str) -> fits.Header:
    header = wcs.to_header()
    beg, end = (Time(m, format="mjd", scale="utc") for m in (result.mjd_start, result.mjd_end))
    header["BUNIT"] = bunit
    header["BMAJ"], header["BMIN"], header["BPA"] = result.beam_deg
    header["TELESCOP"] = TELESCOPE
    header["DATE-OBS"] = (beg.isot, "mid-time of the earliest tile (UTC)")
    header["DATE-BEG"] = (beg.isot, "mid-time of the earliest tile (UTC)")
    header["DATE-END"] = (end.isot, "mid-time of the latest tile (UTC)")
    header["MJD-OBS"] = (result.mjd_start, "[d] mid-time of the earliest tile")
    header["MJD-BEG"] = (result.mjd_start, "[d] mid-time of the earliest tile")
    header["MJD-END"] = (result.mjd_end, "[d] mid-time of the latest tile")
    if result.freq_hz is not None:
        header["FREQ"] = (result.freq_hz, "[Hz] tiles' mean frequency")
        header["RESTFRQ"] = result.freq_hz
    header["NTILES"] = (n_tiles, "images co-added")
    header["WEIGHTS"] = ("beam**2/rms**2", "inverse-variance weights")
    header["PBCOR"] = (True, "co-add of primary-beam-corrected images")
    header["PIPELINE"] = "dsa110-contimg"
    header["PIPEVER"] = __version__
    return header


def build_mosaic(
    tiles: Sequence[TileInput],
    out_path: str | Path,
    *,
    cell_arcsec: float | None = None,
    beam_tolerance: float = BEAM_TOLERANCE,
    on_tile: Callable[[TileInput], None] | None = None,
) -> MosaicResult:
    """Co-add ``tiles`` into ``out_path`` (and ``-noise.fits``, ``.png``, ``-thumb.png``).

    Files are written under temporary names in the same folder
    (:func:`dsa110_contimg.atomic.atomic_output`) and renamed at the end, the
    mosaic last: an interrupted build leaves nothing under the final names.

    Parameters
    ----------
    tiles
        Images to co-add (:func:`~.select.select_tiles`).
    out_path
        The mosaic FITS to write (Jy/beam); must not exist.
    cell_arcsec
        Pixel size of the grid (default: the first tile's).
    beam_tolerance
        Largest fractional difference of the tiles' BMAJ/BMIN from their median.
    on_tile
        Called after each tile is added (progress).

    Raises
    ------
    InputDataError
        No tiles, a missing file, a tile without a restoring beam, or beams
        that differ by more than ``beam_tolerance``.
    """
    from reproject import reproject_interp

    out = Path(out_path)
    if not tiles:
        raise InputDataError("no pb-corrected images to mosaic", hint="widen the time range")
    stem = out.name.removesuffix(".fits")
    final = {
        "image": out,
        "noise": out.with_name(f"{stem}-noise.fits"),
        "preview": out.with_name(f"{stem}.png"),
        "thumbnail": out.with_name(f"{stem}-thumb.png"),
    }
    for path in final.values():
        if path.exists():
            raise InputDataError(f"{path} exists", hint="choose another mosaic name")
    missing = [p for t in tiles for p in (t.pb_path, t.beam_path) if not Path(p).is_file()]
    if missing:
        raise InputDataError(f"tile files missing on disk: {missing[:5]}")
    headers = [fits.getheader(t.pb_path) for t in tiles]
    if any("BMAJ" not in h for h in headers):
        raise InputDataError("a tile has no restoring beam (BMAJ) in its header")
    beam_deg = common_beam(headers, beam_tolerance)
    wcs, shape = mosaic_grid(headers, cell_arcsec)

    numerator = np.zeros(shape)
    weight_sum = np.zeros(shape)
    tile_totals: dict[int, float] = {}
    for tile, header in zip(tiles, headers, strict=True):
        image, _ = _read(tile.pb_path)
        beam, beam_header = _read(tile.beam_path)
        pb_limit = float(header.get("PBLIMIT", 0.0))
        inv_var = 1.0 / tile.rms_jy**2
        weighted = np.where(np.isfinite(image) & (beam >= pb_limit), image * beam**2, 0.0)
        tile_wcs = WCS(header).celestial
        box = tile_box(tile_wcs, beam.shape, wcs, shape)
        if box is None:  # cannot happen for a grid made from the tiles; kept safe
            tile_totals[tile.image_id] = 0.0
            continue
        sub_wcs, sub_shape = wcs[box], (box[0].stop - box[0].start, box[1].stop - box[1].start)
        kwargs = {"shape_out": sub_shape, "order": "bicubic", "return_footprint": False}
        w_image = reproject_interp((weighted, tile_wcs), sub_wcs, **kwargs)
        w_beam = reproject_interp((beam, WCS(beam_header).celestial), sub_wcs, **kwargs)
        valid = np.isfinite(w_image) & np.isfinite(w_beam) & (w_beam >= max(pb_limit, 1e-6))
        weight = np.where(valid, w_beam**2 * inv_var, 0.0)
        numerator[box] += np.where(valid, w_image * inv_var, 0.0)
        weight_sum[box] += weight
        tile_totals[tile.image_id] = float(weight.sum())
        if on_tile is not None:
            on_tile(tile)

    covered = weight_sum > 0
    if not covered.any():
        raise InputDataError("the tiles have no pixel above their pb limit")
    with np.errstate(divide="ignore", invalid="ignore"):
        mosaic = np.where(covered, numerator / weight_sum, np.nan).astype(np.float32)
        noise = np.where(covered, 1.0 / np.sqrt(weight_sum), np.nan).astype(np.float32)
    total = sum(tile_totals.values())
    centre = wcs.pixel_to_world((shape[1] - 1) / 2, (shape[0] - 1) / 2).icrs
    freqs = [h["FREQ"] for h in headers if "FREQ" in h]
    mjds = [t.mjd_obs for t in tiles]
    result = MosaicResult(
        path=str(final["image"]),
        noise_path=str(final["noise"]),
        preview_path=str(final["preview"]),
        thumbnail_path=str(final["thumbnail"]),
        mjd_start=min(mjds),
        mjd_end=max(mjds),
        ra_deg=float(centre.ra.deg),
        dec_deg=float(centre.dec.deg),
        size_x=shape[1],
        size_y=shape[0],
        cell_arcsec=float(abs(wcs.wcs.cdelt[1]) * 3600),
        noise_jy=float(np.median(noise[covered])),
        freq_hz=float(np.mean(freqs)) if freqs else None,
        beam_deg=beam_deg,
        tile_weights={i: w / total for i, w in tile_totals.items()},
    )

    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        # published in reverse order of entry: the mosaic itself last
        with ExitStack() as stack:
            part = {k: stack.enter_context(atomic_output(p)) for k, p in final.items()}
            fits.writeto(part["image"], mosaic, _header(wcs, result, len(tiles), "Jy/beam"))
            noise_header = _header(wcs, result, len(tiles), "Jy/beam")
            noise_header["BTYPE"] = ("Noise", "1/sqrt(sum of weights)")
            fits.writeto(part["noise"], noise, noise_header)
            write_previews(part["image"], part["preview"], part["thumbnail"], title=out.name)
    except BaseException:
        if not final["image"].exists():
            for kind in ("noise", "preview", "thumbnail"):
                final[kind].unlink(missing_ok=True)
        raise
    return result


def remove_outputs(result: MosaicResult) -> None:
    """Delete a mosaic's files (a registration that failed after the build)."""
    for path in (result.path, result.noise_path, result.preview_path, result.thumbnail_path):
        Path(path).unlink(missing_ok=True)

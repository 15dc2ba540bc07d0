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

Tiles whose restoring beams differ are brought to one: the smallest
Gaussian every tile's beam can be convolved to (:mod:`.beams`). Each tile
is convolved with its difference kernel and rescaled by the ratio of the
beams' areas, so the mosaic stays in Jy/beam of the common beam (a point
source's peak is its flux density). The convolution changes a tile's noise:
its ``rms_jy`` is scaled by the ratio of robust rms of the flat-noise image
(``I_i * B_i``) after and before, measured on the tile itself, and that
scaled rms is the one in the weights and the noise map. ``max_beam_ratio``
refuses tiles whose beam area differs from the common beam's by more
(a far-off tier would wash out the others' resolution).
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
from dsa110_contimg.mosaic.beams import Beam, convolve_to, east_north_scale, smallest_common_beam
from dsa110_contimg.mosaic.select import TileInput
from dsa110_contimg.qa.image_qa import robust_rms

#: Widest spread of tile centres (deg) put on a SIN grid; wider strips go on CAR.
SIN_MAX_SPAN_DEG = 60.0
#: Largest ratio of the common beam's area to a tile's beam area before we refuse.
MAX_BEAM_RATIO = 4.0


@dataclass
class MosaicResult:
    """The files written and what the products DB records of them.

    ``tile_weights`` maps each image id to its share of the mosaic's total
    weight (sum over pixels of ``w_i`` / sum of ``sum_i w_i``; they add to 1);
    ``tile_rms_jy`` to the flat-noise rms used in its weight (its registered
    rms, scaled by the convolution to the common beam).
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
    tile_rms_jy: dict[int, float] = field(default_factory=dict)


def _read(path: str) -> tuple[np.ndarray, fits.Header]:
    with fits.open(path) as hdul:
        header = hdul[0].header.copy()
        data = np.asarray(hdul[0].data, dtype=np.float64)
    return data.reshape(data.shape[-2:]), header


def common_beam(headers: Sequence[fits.Header], max_ratio: float = MAX_BEAM_RATIO) -> Beam:
    """The smallest beam every tile's can be convolved to; refuse a spread above ``max_ratio``.

    Raises
    ------
    InputDataError
        When the common beam's area is more than ``max_ratio`` times a tile's.
    """
    beams = [Beam.from_header(h) for h in headers]
    common = smallest_common_beam(beams)
    ratio = max(common.area_sr / b.area_sr for b in beams)
    if ratio > max_ratio:
        raise InputDataError(
            f"the tiles' restoring beams are too different: the common beam is {ratio:.1f}x "
            f"the smallest tile beam's area (> {max_ratio:g}); BMAJ "
            f"{min(b.major_deg for b in beams) * 3600:.1f}-"
            f"{max(b.major_deg for b in beams) * 3600:.1f} arcsec",
            hint="mosaic images of similar tiers, or raise max_beam_ratio",
        )
    return common


def _to_beam(
    image: np.ndarray,
    beam: np.ndarray,
    rms_jy: float,
    tile_beam: Beam,
    target: Beam,
    tile_wcs: WCS,
) -> tuple[np.ndarray, float]:
    """A pb-corrected tile in Jy/beam of ``target``, and its flat-noise rms after convolution."""
    out = convolve_to(image, tile_beam, target, east_north_scale(tile_wcs))
    if out is image:
        return image, rms_jy
    before = robust_rms((image * beam)[np.isfinite(out)])
    after = robust_rms(out * beam)
    return out, rms_jy * after / before


def mosaic_grid(headers: Sequence[fits.Header], cell_arcsec: float | None) -> tuple[WCS, tuple]:
    """The celestial WCS and (ny, nx) of a grid holding every tile (ICRS; SIN or CAR)."""
    from reproject.mosaicking import find_optimal_celestial_wcs

    from dsa110_contimg.sky import separation_deg

    footprints = [((h["NAXIS2"], h["NAXIS1"]), WCS(h).celestial) for h in headers]
    ra, dec = (np.array([h[key] for h in headers], float) for key in ("CRVAL1", "CRVAL2"))
    span = float(separation_deg(ra[:, None], dec[:, None], ra, dec).max())
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
    max_beam_ratio: float = MAX_BEAM_RATIO,
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
    max_beam_ratio
        Largest ratio of the common beam's area to a tile's.
    on_tile
        Called after each tile is added (progress).

    Raises
    ------
    InputDataError
        No tiles, a missing file, a tile without a restoring beam, or beams
        further apart than ``max_beam_ratio``.
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
    target = common_beam(headers, max_beam_ratio)
    beam_deg = target.as_tuple()
    wcs, shape = mosaic_grid(headers, cell_arcsec)

    numerator = np.zeros(shape)
    weight_sum = np.zeros(shape)
    tile_totals: dict[int, float] = {}
    tile_rms: dict[int, float] = {}
    for tile, header in zip(tiles, headers, strict=True):
        image, _ = _read(tile.pb_path)
        beam, beam_header = _read(tile.beam_path)
        pb_limit = float(header.get("PBLIMIT", 0.0))
        tile_wcs = WCS(header).celestial
        image, rms = _to_beam(image, beam, tile.rms_jy, Beam.from_header(header), target, tile_wcs)
        tile_rms[tile.image_id] = rms
        inv_var = 1.0 / rms**2
        usable = np.isfinite(image) & (beam >= pb_limit)
        weighted = np.where(usable, image * beam**2, 0.0)
        box = tile_box(tile_wcs, beam.shape, wcs, shape)
        if box is None:  # cannot happen for a grid made from the tiles; kept safe
            tile_totals[tile.image_id] = 0.0
            continue
        sub_wcs, sub_shape = wcs[box], (box[0].stop - box[0].start, box[1].stop - box[1].start)
        kwargs = {"shape_out": sub_shape, "order": "bicubic", "return_footprint": False}
        w_image = reproject_interp((weighted, tile_wcs), sub_wcs, **kwargs)
        w_beam = reproject_interp((beam, WCS(beam_header).celestial), sub_wcs, **kwargs)
        # a grid pixel is used only if every tile pixel it is interpolated from is usable
        # (the tile's edge, its pb limit, the convolution's blanked rim): bicubic
        # interpolation across a blank would mix zeros into the value, not into the weight
        w_usable = reproject_interp(
            (usable.astype(float), tile_wcs), sub_wcs, **{**kwargs, "order": "bilinear"}
        )
        valid = (
            np.isfinite(w_image)
            & np.isfinite(w_beam)
            & (w_beam >= max(pb_limit, 1e-6))
            & (np.nan_to_num(w_usable) >= 1 - 1e-6)
        )
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
        tile_rms_jy=tile_rms,
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

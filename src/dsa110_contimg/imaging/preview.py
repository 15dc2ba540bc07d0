"""PNG preview and thumbnail of an image (matplotlib, Agg backend).

Stretch: asinh between the 0.5th and 99.8th percentiles of the finite
pixels (faint noise visible, bright sources not saturated to a blob). The
preview has RA/Dec axes (WCSAxes), a colour bar in mJy/beam and the
restoring beam drawn as a filled ellipse in the lower-left corner; the
thumbnail is the same stretch, no axes, at most ``thumb_px`` on a side
(maximum of each block of pixels, so compact sources survive).
"""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.visualization import AsinhStretch, ImageNormalize
from astropy.wcs import WCS


def _norm(data: np.ndarray) -> ImageNormalize:
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        finite = np.zeros(1)
    lo, hi = np.percentile(finite, [0.5, 99.8])
    if hi <= lo:
        hi = lo + 1e-12
    return ImageNormalize(vmin=lo, vmax=hi, stretch=AsinhStretch(0.05), clip=False)


def write_previews(
    fits_path: str | Path,
    preview_path: str | Path,
    thumbnail_path: str | Path,
    *,
    title: str | None = None,
    dpi: int = 100,
    thumb_px: int = 256,
) -> tuple[str, str]:
    """Write a preview PNG (RA/Dec axes, beam) and a thumbnail of a FITS image.

    Parameters
    ----------
    fits_path
        Image, Jy/beam.
    preview_path, thumbnail_path
        PNG files to write.
    title
        Plot title (default: the file name).
    dpi
        Preview resolution (the figure is 8 x 7 inches).
    thumb_px
        Thumbnail side, pixels.

    Returns
    -------
    tuple of str
        The preview and thumbnail paths.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from astropy.visualization.wcsaxes import add_beam

    with fits.open(fits_path) as hdul:
        header = hdul[0].header
        data = np.asarray(hdul[0].data, float)
    data = data.reshape(data.shape[-2:]) * 1e3  # mJy/beam
    wcs = WCS(header).celestial
    norm = _norm(data)
    # blanked pixels (beyond the pb limit): light grey
    cmap = matplotlib.colormaps["inferno"].with_extremes(bad="0.8")

    fig = plt.figure(figsize=(8, 7))
    ax = fig.add_subplot(projection=wcs)
    im = ax.imshow(
        np.ma.masked_invalid(data), origin="lower", cmap=cmap, norm=norm, interpolation="nearest"
    )
    ax.set_xlabel("RA (ICRS)")
    ax.set_ylabel("Dec (ICRS)")
    ax.coords.grid(color="white", alpha=0.25, linestyle=":")
    ax.set_title(title or Path(fits_path).name, fontsize=9)
    fig.colorbar(im, ax=ax, label="mJy/beam", shrink=0.85)
    if "BMAJ" in header:
        add_beam(ax, header=header, frame=True, color="cyan", corner="bottom left")
    # PNG by name, not by suffix: products are written under temporary names first
    fig.savefig(preview_path, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    # A closed figure is still reference cycles (figure <-> axes <-> artists), and
    # drawing the WCSAxes tick labels (mathtext, pyparsing) leaves caught
    # exceptions whose tracebacks pin this frame: ~6,600 objects holding the
    # pixels twice, the mask and the renderer (~22 MiB for a 1114^2 image, ~4x
    # that at 2400^2). CPython frees them only at its next full collection,
    # which in a daemon with ~400k live objects comes every ~10 groups: RSS
    # grew ~30 MiB/group in the soak. Drop the big references and collect now
    # (~0.15 s per image).
    fig.clear()
    del fig, ax, im
    gc.collect()

    # block maxima, not a stride: a thumbnail keeps its sources
    step = max(1, int(np.ceil(max(data.shape) / thumb_px)))
    ny, nx = (s // step * step for s in data.shape)
    blocks = data[:ny, :nx].reshape(ny // step, step, nx // step, step)
    with np.errstate(all="ignore"):
        small = np.fmax.reduce(np.fmax.reduce(blocks, axis=3), axis=1)
    rgba = cmap(norm(np.ma.masked_invalid(small)))
    plt.imsave(thumbnail_path, rgba, origin="lower", format="png")
    return str(preview_path), str(thumbnail_path)

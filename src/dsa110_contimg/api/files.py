"""Serving product files: only paths the database registered, only under the data folders.

A URL never names a file directly: routes look the product up in the
database and serve the path recorded there, after checking it lies within
the configured data folders (so a corrupt row cannot expose other files).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from dsa110_contimg.api.errors import ApiError
from dsa110_contimg.config import Settings
from dsa110_contimg.errors import PurgedError

#: Longest side of a rendered thumbnail (pixels).
THUMBNAIL_PX = 256
#: Longest side of a rendered preview (pixels).
PREVIEW_PX = 1024


def _private(settings: Settings, path: Path) -> bool:
    """Whether ``path`` is the service's own state (the state folder, the products DB
    and its journals), never served whatever a row records."""
    if path.is_relative_to(settings.state_dir.resolve()):
        return True
    url = str(settings.db_url)
    if url.startswith("sqlite:///"):
        database = Path(url.removeprefix("sqlite:///").split("?")[0]).resolve()
        return path.parent == database.parent and path.name.startswith(database.name)
    return False


def product_file(
    settings: Settings, recorded: str | None, what: str, *, purged_at: dt.datetime | None = None
) -> Path:
    """The on-disk file of a registered product, checked.

    Raises
    ------
    PurgedError
        (410) if ``purged_at`` is set: the storage lifecycle removed the file.
    ApiError
        404 if there is no recorded file, it lies outside the data folders, or
        it is missing on disk.
    """
    if purged_at is not None:
        raise PurgedError(
            f"the file of {what} was removed by the storage lifecycle on {purged_at.isoformat()}",
            purged_at=purged_at,
            hint="its record (metadata, provenance) is kept",
        )
    if not recorded:
        raise ApiError(404, "file_not_recorded", f"no file is recorded for {what}")
    path = Path(recorded).resolve()
    roots = {settings.data_root.resolve(), *(p.resolve() for p in settings.data_folders().values())}
    if not any(path.is_relative_to(root) for root in roots) or _private(settings, path):
        raise ApiError(404, "file_outside_data", f"the file of {what} is outside the data folders")
    if not path.is_file():
        raise ApiError(404, "file_missing", f"the file of {what} is missing on disk")
    return path


def _plane_view(data: np.ndarray) -> np.ndarray:
    # FITS cubes carry degenerate Stokes/frequency axes in front.
    while data.ndim > 2:
        data = data[0]
    return data


def _plane(data: np.ndarray) -> np.ndarray:
    return np.asarray(_plane_view(data), dtype=np.float32)


def render_png(fits_path: Path, max_px: int) -> bytes:
    """A PNG of a FITS image's first plane: 1-99.5 percentile stretch, north up.

    Parameters
    ----------
    fits_path
        The FITS image.
    max_px
        The longest side of the PNG; larger images are block-decimated.
    """
    from astropy.io import fits

    with fits.open(fits_path, memmap=True) as hdul:
        plane = _plane(hdul[0].data)
    step = max(1, int(np.ceil(max(plane.shape) / max_px)))
    return _stretched_png(plane[::step, ::step])


def _stretched_png(plane: np.ndarray) -> bytes:
    """A PNG of a plane: 1-99.5 percentile stretch, inferno, row 0 at the bottom (north up)."""
    from matplotlib import image as mpimg

    finite = np.isfinite(plane)
    if finite.any():
        low, high = np.percentile(plane[finite], [1.0, 99.5])
    else:
        low, high = 0.0, 1.0
    scaled = np.clip((np.nan_to_num(plane, nan=low) - low) / max(high - low, 1e-30), 0, 1)
    buffer = io.BytesIO()
    mpimg.imsave(buffer, scaled, cmap="inferno", origin="lower", format="png")
    return buffer.getvalue()


def render_cutout_png(fits_path: Path, ra_deg: float, dec_deg: float, radius_deg: float) -> bytes:
    """A PNG of the square of a FITS image's first plane around a position, in its pixels.

    Parameters
    ----------
    fits_path
        The FITS image (only the pixels of the square are read).
    ra_deg, dec_deg
        The centre (ICRS, deg).
    radius_deg
        Half the side of the square (deg); parts beyond the image are blank.

    Raises
    ------
    ApiError
        404 if the image does not cover the position.
    """
    from astropy import units as u
    from astropy.coordinates import SkyCoord
    from astropy.io import fits
    from astropy.nddata import Cutout2D, NoOverlapError
    from astropy.wcs import WCS

    position = SkyCoord(ra_deg, dec_deg, unit="deg")
    not_covered = ApiError(
        404, "not_covered", f"the image does not cover RA {ra_deg}, Dec {dec_deg}"
    )
    with fits.open(fits_path, memmap=True) as hdul:
        wcs = WCS(hdul[0].header).celestial
        if not np.all(np.isfinite(wcs.world_to_pixel(position))):  # behind the projection
            raise not_covered
        try:
            cut = Cutout2D(
                _plane_view(hdul[0].data),
                position,
                2 * radius_deg * u.deg,
                wcs=wcs,
                mode="partial",
                fill_value=np.nan,
            )
        except NoOverlapError:
            raise not_covered from None
        plane = np.asarray(cut.data, dtype=np.float32)
    return _stretched_png(plane)


class _Sink(io.RawIOBase):
    """A write-only stream whose written bytes are collected for the next yield."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def zip_stream(files: list[Path], chunk: int = 1 << 20) -> Iterator[bytes]:
    """Stream a zip archive of ``files`` (stored, not compressed: FITS barely compress)."""
    import zipfile

    sink = _Sink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for path in files:
            with (
                archive.open(path.name, mode="w", force_zip64=True) as member,
                path.open("rb") as src,
            ):
                while block := src.read(chunk):
                    member.write(block)
                    yield sink.take()
    yield sink.take()

"""Mosaics: registered primary-beam-corrected images co-added on one celestial grid.

:func:`select_tiles` picks the images, :func:`build_mosaic` co-adds them
(inverse-variance weights ``beam**2 / rms**2``, resampled with ``reproject``)
and writes the FITS, noise map and previews; :func:`make_mosaic` does both
and registers the mosaic and its tiles.
"""

from dsa110_contimg.mosaic.build import MosaicResult, build_mosaic
from dsa110_contimg.mosaic.select import TileInput, select_tiles
from dsa110_contimg.mosaic.stage import make_mosaic

__all__ = ["MosaicResult", "TileInput", "build_mosaic", "make_mosaic", "select_tiles"]

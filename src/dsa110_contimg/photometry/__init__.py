"""Photometry: forced (matched filter) and blind measurements, and flux normalisation.

Public surface::

    from dsa110_contimg.photometry import forced_photometry, background_rms_map, Beam
    from dsa110_contimg.photometry import PhotFlag, load_image
"""

from dsa110_contimg.photometry.background import background_rms_map
from dsa110_contimg.photometry.beam import Beam, load_image
from dsa110_contimg.photometry.flags import PhotFlag
from dsa110_contimg.photometry.forced import (
    ForcedPhotometry,
    forced_photometry,
    forced_photometry_fits,
)

__all__ = [
    "Beam",
    "ForcedPhotometry",
    "PhotFlag",
    "background_rms_map",
    "forced_photometry",
    "forced_photometry_fits",
    "load_image",
]

"""Imaging: WSClean tiles, primary-beam correction, FITS products, previews.

Public surface::

    from dsa110_contimg.imaging import image_ms, register_imaging, next_image_version
    from dsa110_contimg.imaging import ImagingResult, ImagingTier, TIERS, get_tier, scale_tier
"""

from dsa110_contimg.imaging.stage import (
    ImagingResult,
    image_ms,
    next_image_version,
    register_imaging,
)
from dsa110_contimg.imaging.tiers import TIERS, ImagingTier, get_tier, scale_tier

__all__ = [
    "TIERS",
    "ImagingResult",
    "ImagingTier",
    "get_tier",
    "image_ms",
    "next_image_version",
    "register_imaging",
    "scale_tier",
]

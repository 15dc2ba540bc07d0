"""Photometry: forced (matched filter) and blind measurements, and flux normalisation.

The science modules are pure functions over arrays: ``forced`` (and its
``kernels``, ``beam``, ``background``, ``blends``, ``flags``), ``unclean``
(WSClean's uncleaned flux brought to the restoring beam's scale), ``blind``
(PyBDSF), ``normalise``, ``backfill``. The stage that folds one image into
the products DB reads, computes, then writes, so that SQLite's write lock is
held only for the writes:

* ``field``: the read phase, one short session loading plain records
  (``records``: the image, the sources in its cone, known variables,
  reference histories, earlier images for a back-fill);
* ``stage``: the compute phase, no session open (pixels, forced photometry,
  PyBDSF, back-fill, references, normalisation), and ``measure_image``,
  which chains the three phases;
* ``store``: the write phase, one transaction through the repositories
  (sources, photometry, normalisations, light curves and candidates).

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

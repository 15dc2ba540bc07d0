"""dsa110-contimg: the continuum imaging and variability pipeline of DSA-110.

Subpackages follow the data flow: ``telescope`` (instrument facts),
``simulate`` (synthetic UVH5 data), ``ingest``, ``conversion``, ``flagging``,
``calibration``, ``imaging``, ``photometry``, ``variability``, ``products``
(the products database), ``pipeline`` and ``api``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dsa110-contimg")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]

"""Flagging: autocorrelations, invalid samples, AOFlagger RFI, MAD clip, extension.

Entry points: :func:`flag_ms` (an MS in place) and :func:`flag_visibilities`
(a (Ntimes, Nbls, Nchan, Npol) cube); both return a :class:`FlagResult`
whose ``qa()`` gives flag fractions per antenna, channel and polarisation.
"""

from dsa110_contimg.flagging.arrays import FlagFractions
from dsa110_contimg.flagging.flag import FlagParams, FlagResult, flag_ms, flag_visibilities
from dsa110_contimg.flagging.rfi import aoflagger_flags, default_strategy

__all__ = [
    "FlagFractions",
    "FlagParams",
    "FlagResult",
    "aoflagger_flags",
    "default_strategy",
    "flag_ms",
    "flag_visibilities",
]

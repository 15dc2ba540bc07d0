"""Bit flags of a photometric measurement (``Photometry.flags`` in the products DB).

A measurement with ``flags == 0`` is clean. Bits, combinable:

=====  ===============  ===========================================================
value  name             meaning
=====  ===============  ===========================================================
1      NEAR_EDGE        the ~3 x BMAJ cutout runs off the image
2      BLANKED          pixels of the cutout are NaN (blanked, e.g. below the
                        primary-beam limit); the fit used the rest
4      BLENDED          another position lies within 1.5 BMAJ: fitted jointly
8      UPPER_LIMIT      SNR below the detection threshold; value and error kept
16     NO_DATA          position off the image or no usable pixel: flux is NaN
32     BAD_NOISE        no positive finite rms at the position: flux is NaN
64     UNSTABLE_BLEND   blended with a position closer than ~0.5 BMIN: the joint
                        fit cannot separate them (their sum is still right)
=====  ===============  ===========================================================

:data:`METRICS_VETO` (NEAR_EDGE, BLENDED, UNSTABLE_BLEND) marks measurements
kept in the light curve but left out of the variability metrics and the
candidates' classification: their fluxes depend on a neighbour's fit or on a
cutout cut by the image edge, from epoch to epoch as the pointing moves.
"""

from __future__ import annotations

import enum


class PhotFlag(enum.IntFlag):
    """Bit mask of a forced or blind measurement; see the module table."""

    NEAR_EDGE = 1
    BLANKED = 2
    BLENDED = 4
    UPPER_LIMIT = 8
    NO_DATA = 16
    BAD_NOISE = 32
    UNSTABLE_BLEND = 64


METRICS_VETO = PhotFlag.NEAR_EDGE | PhotFlag.BLENDED | PhotFlag.UNSTABLE_BLEND
"""Flags that keep a measurement out of the variability metrics (see the module notes)."""

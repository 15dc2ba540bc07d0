"""Restoring beams as Gaussians: the smallest common beam of several tiles, and convolving to it.

A restoring beam (FWHM ``BMAJ`` x ``BMIN``, position angle ``BPA`` east of
north) is a 2-D Gaussian with covariance ``C`` in (east, north) sky offsets.
Convolving Gaussians adds covariances, so a tile with beam ``B`` can be
brought to a beam ``C`` exactly when ``C - B`` is positive semi-definite (the
difference kernel is then a Gaussian, or a delta along a degenerate axis).
The smallest common beam is the least-area ``C`` with ``C >= B_i`` for every
tile: when one tile's beam already holds all the others it is that beam, else
it is found by a small constrained minimisation of ``log det C``.

An image in Jy/beam convolved with a unit-sum kernel keeps its integrated
flux, but the beam's solid angle grows from ``area(B)`` to ``area(C)``: we
multiply by ``area(C) / area(B)`` so a point source's peak stays its flux
density in Jy/beam of the new beam.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: FWHM = FWHM_TO_SIGMA * sigma of a Gaussian.
FWHM_TO_SIGMA = math.sqrt(8.0 * math.log(2.0))


@dataclass(frozen=True)
class Beam:
    """A Gaussian restoring beam: FWHM major and minor axes and position angle, degrees."""

    major_deg: float
    minor_deg: float
    pa_deg: float = 0.0

    @classmethod
    def from_header(cls, header) -> Beam:  # type: ignore[no-untyped-def]
        return cls(float(header["BMAJ"]), float(header["BMIN"]), float(header.get("BPA", 0.0)))

    def covariance(self) -> np.ndarray:
        """The 2x2 covariance (deg**2) in (east, north) offsets."""
        pa = math.radians(self.pa_deg)
        major = np.array([math.sin(pa), math.cos(pa)])  # east, north
        minor = np.array([math.cos(pa), -math.sin(pa)])
        s_maj, s_min = self.major_deg / FWHM_TO_SIGMA, self.minor_deg / FWHM_TO_SIGMA
        return s_maj**2 * np.outer(major, major) + s_min**2 * np.outer(minor, minor)

    @classmethod
    def from_covariance(cls, cov: np.ndarray) -> Beam:
        values, vectors = np.linalg.eigh(0.5 * (cov + cov.T))
        values = np.clip(values, 0.0, None)
        east, north = vectors[:, 1]  # the major axis (largest eigenvalue)
        pa = math.degrees(math.atan2(east, north))
        pa = (pa + 90.0) % 180.0 - 90.0  # (-90, 90]
        if pa == -90.0:
            pa = 90.0
        s_maj, s_min = math.sqrt(values[1]), math.sqrt(values[0])
        return cls(s_maj * FWHM_TO_SIGMA, s_min * FWHM_TO_SIGMA, pa)

    @property
    def area_sr(self) -> float:
        """Solid angle (steradian): pi / (4 ln 2) * BMAJ * BMIN."""
        return (
            math.pi
            / (4 * math.log(2))
            * math.radians(self.major_deg)
            * math.radians(self.minor_deg)
        )

    def as_tuple(self) -> tuple[float, float, float]:
        return self.major_deg, self.minor_deg, self.pa_deg


def contains(outer: Beam, inner: Beam, rtol: float = 1e-9) -> bool:
    """Whether ``inner`` can be convolved up to ``outer`` (``outer - inner`` is PSD)."""
    diff = outer.covariance() - inner.covariance()
    scale = np.abs(outer.covariance()).max()
    return bool(np.linalg.eigvalsh(diff).min() >= -rtol * scale)


def smallest_common_beam(beams: Sequence[Beam]) -> Beam:
    """The least-area Gaussian every beam can be convolved to (``C >= B_i`` for all i)."""
    from scipy.optimize import minimize

    if not beams:
        raise ValueError("no beams")
    by_area = sorted(beams, key=lambda b: b.major_deg * b.minor_deg, reverse=True)
    if all(contains(by_area[0], b) for b in by_area):
        return by_area[0]
    scale = max(b.major_deg for b in beams) ** 2  # work in units of order one
    covs = [b.covariance() / scale for b in beams]
    # C >= B_i  <=>  C^-1 <= B_i^-1: maximising log det of X = C^-1 under these is convex
    inverses = [np.linalg.inv(c) for c in covs]

    def matrix(p: np.ndarray) -> np.ndarray:
        return np.array([[p[0], p[1]], [p[1], p[2]]])

    def least_eigenvalue(p: np.ndarray, inverse: np.ndarray) -> float:
        d = inverse - matrix(p)
        half_trace, det = 0.5 * (d[0, 0] + d[1, 1]), d[0, 0] * d[1, 1] - d[0, 1] ** 2
        return half_trace - math.sqrt(max(half_trace**2 - det, 0.0))

    constraints = [{"type": "ineq", "fun": least_eigenvalue, "args": (i,)} for i in inverses]
    start = 0.5 * min(np.linalg.eigvalsh(i).min() for i in inverses)  # strictly inside
    best = minimize(
        lambda p: -math.log(max(np.linalg.det(matrix(p)), 1e-300)),
        np.array([start, 0.0, start]),
        constraints=constraints,
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 1000},
    )
    x = matrix(best.x)
    ok = np.all(np.isfinite(x)) and np.linalg.eigvalsh(x).min() > 0
    cov = np.linalg.inv(x) if ok else np.eye(2) / start  # else: the enclosing circle
    # nudge outward so every tile's difference kernel is PSD despite rounding
    for _ in range(50):
        worst = min(np.linalg.eigvalsh(cov - c).min() for c in covs)
        if worst >= 0:
            break
        cov = cov + (1e-9 - worst) * np.eye(2)
    return Beam.from_covariance(cov * scale)


def difference_covariance(target: Beam, beam: Beam, pixel_scale: np.ndarray) -> np.ndarray | None:
    """The covariance (pixels**2) of the Gaussian taking ``beam`` to ``target``; None if none is needed.

    Parameters
    ----------
    pixel_scale
        The 2x2 matrix from pixel offsets (x, y) to (east, north) degrees
        (:func:`east_north_scale`).
    """
    diff = target.covariance() - beam.covariance()
    values, vectors = np.linalg.eigh(0.5 * (diff + diff.T))
    diff = (vectors * np.clip(values, 0.0, None)) @ vectors.T
    inverse = np.linalg.inv(pixel_scale)
    cov_px = inverse @ diff @ inverse.T
    if np.trace(cov_px) < 1e-6:  # under a thousandth of a pixel: nothing to do
        return None
    return cov_px


def difference_kernel(cov_px: np.ndarray) -> np.ndarray:
    """The unit-sum Gaussian of covariance ``cov_px`` (pixels**2) on a small pixel grid.

    Made from the Gaussian's transform ``exp(-2 pi**2 f^T K f)`` on the
    kernel's own grid (at least 5 sigma each side), so an axis narrower than a
    pixel, or degenerate, still adds its variance (sampling the Gaussian at
    pixel centres would lose it); the kernel stays local, unlike a transform
    over the whole image, which rings out from every blank edge.
    """
    sigma_max = math.sqrt(max(np.linalg.eigvalsh(cov_px).max(), 0.0))
    n = 2 * max(int(math.ceil(5 * sigma_max)), 4) + 1
    f = np.fft.fftfreq(n)
    fy, fx = f[:, None], f[None, :]
    transfer = np.exp(
        -2 * np.pi**2 * (cov_px[0, 0] * fx**2 + 2 * cov_px[0, 1] * fx * fy + cov_px[1, 1] * fy**2)
    )
    kernel = np.fft.fftshift(np.fft.ifft2(transfer).real)
    return kernel / kernel.sum()


def east_north_scale(wcs) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Pixel offsets to (east, north) degrees at the reference pixel of a celestial WCS.

    FITS intermediate world coordinates of an RA/Dec image already run east
    and north (``CDELT1 < 0``: RA grows to the left), so this is the WCS's
    pixel scale matrix.
    """
    return np.asarray(wcs.celestial.pixel_scale_matrix, float)


def convolve_to(
    image: np.ndarray,
    beam: Beam,
    target: Beam,
    pixel_scale: np.ndarray,
    *,
    min_support: float = 0.9999,
) -> np.ndarray:
    """``image`` (Jy/beam of ``beam``, NaN where blank) in Jy/beam of ``target``.

    Blank pixels are left out of the convolution (normalised by the
    convolved mask), and pixels whose kernel does not lie (to ``1 -
    min_support``) on valid data become NaN: a rim of about five kernel
    sigmas along blank edges.
    """
    cov_px = difference_covariance(target, beam, pixel_scale)
    if cov_px is None:
        return image
    from scipy.signal import fftconvolve

    kernel = difference_kernel(cov_px)
    valid = np.isfinite(image)
    smooth = fftconvolve(np.where(valid, image, 0.0), kernel, mode="same")
    support = fftconvolve(valid.astype(float), kernel, mode="same")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(np.abs(support - 1.0) <= 1.0 - min_support, smooth / support, np.nan)
    return out * (target.area_sr / beam.area_sr)

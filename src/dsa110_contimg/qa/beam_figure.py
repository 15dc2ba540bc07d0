"""The QA figure of the beam profile: the measured beam, the model in use, and their ratio."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dsa110_contimg.qa.beam_profile import (
    AIRY,
    REFERENCE_FREQ_HZ,
    BeamProfile,
    PrimaryBeamModel,
)

_LABELS = {"radial": "radial", "ew": "E-W cut (east +)", "ns": "N-S cut (north +)"}
_COLOURS = {"radial": "C0", "ew": "C1", "ns": "C2"}


def write_beam_figure(
    profile: BeamProfile,
    path: str | Path,
    *,
    model: PrimaryBeamModel = AIRY,
    fitted: PrimaryBeamModel | None = None,
    title: str = "Primary beam from forced / catalog fluxes",
) -> Path:
    """Write a PNG: top, the measured beam with errors and the model; bottom, measured / model.

    Parameters
    ----------
    profile
        The binned profiles (:func:`~.beam_profile.beam_profile`).
    path
        The PNG to write.
    model
        The beam the images were corrected with, drawn as a line (at the
        reference frequency, no drift averaging).
    fitted
        A fitted model to draw too, if any.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(7.5, 7), height_ratios=(3, 2))
    for axis, bins in profile.profiles.items():
        if not bins:
            continue
        x = np.array([b.offset_deg for b in bins])
        kw = {"fmt": "o", "color": _COLOURS[axis], "ms": 4, "capsize": 2}
        top.errorbar(x, [b.gain for b in bins], [b.gain_err for b in bins],
                     label=f"measured, {_LABELS[axis]}", **kw)  # fmt: skip
        top.plot(x, [b.model_gain for b in bins], "-", color=_COLOURS[axis], lw=0.8)
        bottom.errorbar(x, [b.ratio for b in bins], [b.ratio_err for b in bins], **kw)
    reach = max((abs(b.hi_deg) for bins in profile.profiles.values() for b in bins), default=2.5)
    r = np.linspace(-reach, reach, 401)
    top.plot(r, model.gain(np.radians(np.abs(r)), REFERENCE_FREQ_HZ), "k-",
             label=f"model in use: {model.describe()}")  # fmt: skip
    if fitted is not None:
        top.plot(r, fitted.gain(np.radians(np.abs(r)), REFERENCE_FREQ_HZ), "k--",
                 label=f"fitted: {fitted.describe()}")  # fmt: skip
        ratio = fitted.gain(np.radians(np.abs(r)), REFERENCE_FREQ_HZ) / np.maximum(
            model.gain(np.radians(np.abs(r)), REFERENCE_FREQ_HZ), 1e-3
        )
        bottom.plot(r, ratio, "k--")
    top.axhline(0.2, color="0.6", lw=0.8, ls=":")
    top.set_ylabel("beam power (forced / catalog x model)")
    top.text(0.01, 0.97, "thin lines: the model in use, drift-averaged as applied", va="top",
             transform=top.transAxes, fontsize=7, color="0.3")  # fmt: skip
    top.set_ylim(-0.05, 1.15)
    top.legend(fontsize=8, loc="lower center")
    top.set_title(f"{title}\n{profile.n_measurements} measurements on {profile.n_images} images")
    bottom.axhline(1.0, color="k", lw=0.8)
    bottom.set_ylabel("measured / model (forced / catalog)")
    bottom.set_xlabel("offset from the pointing, deg (at the image frequency)")
    ratios = [b.ratio for bins in profile.profiles.values() for b in bins]
    if ratios:
        lo, hi = min(ratios), max(ratios)
        bottom.set_ylim(min(0.8, lo - 0.05), max(1.2, hi + 0.05))
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

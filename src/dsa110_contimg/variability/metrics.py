"""Variability metrics updated incrementally from running sums.

Each source keeps the ``VariabilityMetrics`` running state: ``n_epochs``,
``sum_w``, ``sum_wf``, ``sum_wf2`` (weights ``w = 1 / sigma^2``), ``sum_f``,
``sum_f2``, the extreme fluxes with their errors and the first/last MJD. A new
measurement updates them in O(1) without reading the history
(:func:`update_record` for one, :func:`update_batch` for millions at once),
and the metrics follow from them (:func:`compute_metrics`). Fluxes in Jy.

Definitions (``N`` epochs, ``f_i`` fluxes, ``s_i`` errors, ``w_i = 1/s_i^2``)
---------------------------------------------------------------------------
* ``mean_flux_jy`` = ``sum f / N``; ``std_flux_jy`` its sample standard
  deviation (``N - 1``); ``v`` = std / mean (modulation index).
* ``weighted_mean_flux_jy`` = ``sum w f / sum w``.
* ``eta`` (VAST) = ``N / (N - 1) (<w f^2> - <w f>^2 / <w>)`` with ``<x>`` the
  mean over epochs; this equals ``sum w (f - weighted mean)^2 / (N - 1)``,
  the reduced chi-square about the weighted mean.
* ``chi2_nu`` = ``sum w (f - mean)^2 / (N - 1)``: the reduced chi-square about
  the arithmetic mean (so ``chi2_nu >= eta``, equal when errors are equal).
* ``vs_max`` = ``|f_max - f_min| / sqrt(s_max^2 + s_min^2)`` and ``m2_max`` =
  ``2 (f_max - f_min) / (f_max + f_min)``, the two-epoch statistics of the
  brightest and faintest epochs. ``m2_max`` is the exact maximum of ``|m2|``
  over all pairs when fluxes are positive (``m2`` grows with the flux ratio);
  NaN when ``f_max + f_min <= 0``. ``vs_max`` is exact when errors are equal
  and otherwise a lower bound of the maximum over pairs (a pair with a
  smaller combined error but a smaller difference can exceed it); it is
  the value of a real pair, never an overestimate.
* ``sigma_deviation`` = ``max(|f_max - wmean| / s_max, |f_min - wmean| / s_min)``:
  how many of its own errors the most extreme epoch lies from the weighted
  mean. Exact under equal errors, else evaluated on the extreme fluxes.

Systematic floor: calibration leaves every epoch's flux scale uncertain by
about 1-2% (``docs/dsa110.md``: the normalisation's aim), an error the
photometry's thermal errors do not contain. Bright sources then show
chi2_nu and eta of tens from calibration alone (3C286 in the demo: 0.7%
scatter on 0.1% errors, chi2_nu 43). With ``frac_floor`` = ``e`` each error
becomes ``sqrt(s^2 + (e f)^2)`` (:func:`with_floor`) as the measurement is
added: weights, extremes and every metric use it. The presets choose ``e``
(:mod:`~dsa110_contimg.variability.candidates`); sums built with one floor
are rebuilt for another by ``variability.stage.recompute_metrics``.

One epoch per transit: the groups of one transit see a source two or three
times within minutes, with errors that share the transit's calibration.
Counted as separate epochs they would divide the floor's weight between
them and make a run of three out of one day. With ``epoch_days``
(:data:`EPOCH_DAYS`, 0.5 d), :func:`update_batch` first combines each
source's measurements that lie within ``epoch_days`` of their epoch's first
one (:func:`transit_epochs`, also the ESE classifier's epochs in
:mod:`~dsa110_contimg.variability.candidates`): inverse-variance mean of
the fluxes and thermal errors, then the floor. That combining sees only the
measurements of one call, so it serves a rebuild from the whole history.

The pipeline adds one image at a time, and an image holds one sighting of
each source: :class:`TransitState` keeps the current transit's sightings
apart as the *open* epoch (their count, thermal sums ``sum w``,
``sum w f`` and first MJD) beside the closed epochs' sums and extremes. A
sighting within ``epoch_days`` of the open epoch's first one joins it; a
later one closes it (its combined flux and error, floored, enter the closed
sums) and opens the next (:func:`add_sightings`). The reported state, whose
metrics are stored, counts the open epoch as if closed
(:meth:`TransitState.reported`), so after every image it equals
``update_batch(..., epoch_days=...)`` over the whole history. A sighting
earlier than a source's latest one (a back-fill, a reprocessed image) is
not added: :func:`add_sightings` returns those sources for a rebuild
(:meth:`TransitState.from_history`). ``first_mjd`` and ``last_mjd`` are
those of the sightings, not of the epochs' mean times.

Rounding: the sums are raw, not centred, so eta and chi2_nu lose about
``log10(N SNR^2 / chi2)`` digits to cancellation: ~1e-12 relative at SNR
1000, still far below any threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

SUM_FIELDS = ("sum_w", "sum_wf", "sum_wf2", "sum_f", "sum_f2")
EXTREME_FIELDS = ("min_flux_jy", "min_flux_err_jy", "max_flux_jy", "max_flux_err_jy")
CLOSED_FIELDS = tuple(f"closed_{name}" for name in SUM_FIELDS + EXTREME_FIELDS)
"""``VariabilityMetrics`` columns of the closed epochs' sums and extremes."""
OPEN_FIELDS = ("open_sightings", "open_start_mjd", "open_sum_w", "open_sum_wf")
"""``VariabilityMetrics`` columns of the open epoch (the current transit's sightings)."""
BOOKKEEPING_FIELDS = SUM_FIELDS + CLOSED_FIELDS + OPEN_FIELDS
"""Running-state columns that are no part of a source's published record."""
EPOCH_DAYS = 0.5
"""Sightings within this many days of an epoch's first one are one epoch (one transit)."""
METRIC_FIELDS = (
    "mean_flux_jy",
    "weighted_mean_flux_jy",
    "std_flux_jy",
    "v",
    "eta",
    "chi2_nu",
    "vs_max",
    "m2_max",
    "sigma_deviation",
)
"""Derived columns of ``VariabilityMetrics``."""


@dataclass
class MetricsState:
    """Running state of many sources (arrays of shape (n_sources,)).

    Field names are the ``VariabilityMetrics`` column names. Extremes and
    MJDs are NaN before the first measurement.
    """

    n_epochs: np.ndarray
    sum_w: np.ndarray
    sum_wf: np.ndarray
    sum_wf2: np.ndarray
    sum_f: np.ndarray
    sum_f2: np.ndarray
    min_flux_jy: np.ndarray
    min_flux_err_jy: np.ndarray
    max_flux_jy: np.ndarray
    max_flux_err_jy: np.ndarray
    first_mjd: np.ndarray
    last_mjd: np.ndarray

    @classmethod
    def empty(cls, n_sources: int) -> MetricsState:
        """State of ``n_sources`` sources never measured."""
        values = {f.name: np.full(n_sources, np.nan) for f in fields(cls)}
        values["n_epochs"] = np.zeros(n_sources, np.int64)
        for name in SUM_FIELDS:
            values[name] = np.zeros(n_sources)
        return cls(**values)

    @classmethod
    def from_records(cls, records: list[Any]) -> MetricsState:
        """Gather the state of ORM rows (or any objects with the column attributes)."""
        state = cls.empty(len(records))
        for f in fields(cls):
            column = getattr(state, f.name)
            for i, rec in enumerate(records):
                value = getattr(rec, f.name, None)
                if value is not None:
                    column[i] = value
        return state

    def write_records(self, records: list[Any]) -> None:
        """Write the state and the metrics back onto ORM rows (same order)."""
        columns = {f.name: getattr(self, f.name) for f in fields(self)}
        _set_columns(records, {**columns, **compute_metrics(self)})


def _set_columns(records: list[Any], columns: dict[str, np.ndarray]) -> None:
    """Set each record's attributes from arrays (same order) as Python values, NaN as None."""
    for name, values in columns.items():
        for rec, value in zip(records, _py_values(values), strict=True):
            setattr(rec, name, value)


def _py_values(values: np.ndarray) -> list[Any]:
    """numpy array -> list of Python values, NaN -> None (SQL NULL)."""
    out = values.tolist()
    if values.dtype.kind == "f":
        return [None if v != v else v for v in out]  # NaN is the one value unequal to itself
    return out


def compute_metrics(state: MetricsState) -> dict[str, np.ndarray]:
    """Metrics of every source from its running state.

    Parameters
    ----------
    state : MetricsState

    Returns
    -------
    dict of str to numpy.ndarray
        :data:`METRIC_FIELDS` (Jy or dimensionless), NaN where undefined
        (fewer than 2 epochs, zero mean...).
    """
    n = state.n_epochs.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = state.sum_f / n
        wmean = state.sum_wf / state.sum_w
        dof = np.where(n >= 2, n - 1, np.nan)
        var = np.maximum(state.sum_f2 - n * mean**2, 0.0) / dof
        std = np.sqrt(var)
        eta = np.maximum(state.sum_wf2 - state.sum_wf**2 / state.sum_w, 0.0) / dof
        chi2 = state.sum_wf2 - 2 * mean * state.sum_wf + mean**2 * state.sum_w
        chi2_nu = np.maximum(chi2, 0.0) / dof
        f_hi, s_hi = state.max_flux_jy, state.max_flux_err_jy
        f_lo, s_lo = state.min_flux_jy, state.min_flux_err_jy
        two = n >= 2
        vs = np.where(two, np.abs(f_hi - f_lo) / np.hypot(s_hi, s_lo), np.nan)
        total = f_hi + f_lo
        m2 = np.where(two & (total > 0), 2 * np.abs(f_hi - f_lo) / total, np.nan)
        sigma_dev = np.where(
            two, np.fmax(np.abs(f_hi - wmean) / s_hi, np.abs(f_lo - wmean) / s_lo), np.nan
        )
    return {
        "mean_flux_jy": mean,
        "weighted_mean_flux_jy": wmean,
        "std_flux_jy": std,
        "v": std / mean,
        "eta": eta,
        "chi2_nu": chi2_nu,
        "vs_max": vs,
        "m2_max": m2,
        "sigma_deviation": sigma_dev,
    }


def with_floor(flux_jy: np.ndarray, flux_err_jy: np.ndarray, frac_floor: float) -> np.ndarray:
    """Errors with a fractional systematic floor in quadrature: ``sqrt(s^2 + (e f)^2)``.

    Parameters
    ----------
    flux_jy, flux_err_jy : array_like
        Fluxes and their (thermal) errors, Jy.
    frac_floor : float
        ``e``, a fraction of the flux (0 = errors unchanged).

    Returns
    -------
    numpy.ndarray
        Jy.
    """
    err = np.asarray(flux_err_jy, float)
    if not frac_floor:
        return err
    return np.hypot(err, frac_floor * np.abs(np.asarray(flux_jy, float)))


def transit_epochs(
    source_index: np.ndarray,
    mjd: np.ndarray,
    flux_jy: np.ndarray,
    flux_err_jy: np.ndarray,
    epoch_days: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each source's measurements combined into epochs (one per transit).

    A measurement joins its source's current epoch when it lies within
    ``epoch_days`` of the epoch's first measurement (time order), else it
    starts the next; an epoch's time and flux are the inverse-variance means,
    its error ``1 / sqrt(sum w)``.

    Parameters
    ----------
    source_index : array_like of int
        Source of each measurement, shape (M,).
    mjd, flux_jy, flux_err_jy : array_like
        Times (MJD), fluxes and thermal errors (Jy), shape (M,); errors > 0.
    epoch_days : float
        Span of an epoch, days (0.5: the groups of one transit).

    Returns
    -------
    source_index, mjd, flux_jy, flux_err_jy : numpy.ndarray
        One entry per epoch, ordered by source then time.
    """
    idx, t, f, s = _time_ordered(source_index, mjd, flux_jy, flux_err_jy)
    label = _epoch_labels(idx, t, epoch_days)
    w = 1.0 / s**2
    sw = np.bincount(label, w)
    first = np.flatnonzero(np.r_[True, label[1:] != label[:-1]])
    return (
        idx[first],
        np.bincount(label, w * t) / sw,
        np.bincount(label, w * f) / sw,
        1.0 / np.sqrt(sw),
    )


def _time_ordered(source_index, mjd, flux_jy, flux_err_jy):
    """The measurements as arrays ordered by source, then time."""
    idx = np.asarray(source_index, np.int64)
    t, f, s = (np.asarray(a, float) for a in (mjd, flux_jy, flux_err_jy))
    order = np.lexsort((t, idx))
    return idx[order], t[order], f[order], s[order]


def _epoch_labels(idx: np.ndarray, t: np.ndarray, epoch_days: float) -> np.ndarray:
    """Epoch number of each measurement (ordered by source, then time), counted from 0.

    Greedy: a measurement starts a new epoch when it is another source's or
    lies ``epoch_days`` or more after its epoch's first measurement.
    """
    label = np.zeros(idx.size, np.int64)
    current, start = -1, -np.inf
    for i in range(idx.size):  # sequential by nature; a source's history is short
        if i == 0 or idx[i] != idx[i - 1] or t[i] - start >= epoch_days:
            current += 1
            start = t[i]
        label[i] = current
    return label


def usable(flux_jy: np.ndarray, flux_err_jy: np.ndarray) -> np.ndarray:
    """Measurements the metrics use: a finite flux and a finite error > 0."""
    f = np.asarray(flux_jy, float)
    s = np.asarray(flux_err_jy, float)
    return np.isfinite(f) & np.isfinite(s) & (s > 0)


def update_batch(
    state: MetricsState,
    source_index: np.ndarray,
    flux_jy: np.ndarray,
    flux_err_jy: np.ndarray,
    mjd: np.ndarray,
    frac_floor: float = 0.0,
    epoch_days: float = 0.0,
) -> int:
    """Add many measurements of many sources to the running state, in place.

    Vectorised: sums by ``np.bincount``, extremes from one ``lexsort``.
    Measurements with a non-finite flux or a non-positive error are skipped.
    This is also the fast path for one image: gather its sources' rows with
    :meth:`MetricsState.from_records`, update, :meth:`MetricsState.write_records`.

    Parameters
    ----------
    state : MetricsState
        Updated in place.
    source_index : array_like of int
        Row of ``state`` each measurement belongs to, shape (M,).
    flux_jy, flux_err_jy : array_like
        Flux densities and their errors, Jy, shape (M,).
    mjd : array_like
        Observation times, MJD, shape (M,).
    frac_floor : float
        Fractional systematic error added to each error in quadrature
        (:func:`with_floor`; default 0).
    epoch_days : float
        When > 0, each source's measurements of this call within
        ``epoch_days`` are first combined into one epoch
        (:func:`transit_epochs`; the floor is added to the combined error).
        ``first_mjd`` and ``last_mjd`` stay those of the measurements.

    Returns
    -------
    int
        Measurements used (epochs when combined).
    """
    idx = np.asarray(source_index, np.int64)
    f = np.asarray(flux_jy, float)
    s = np.asarray(flux_err_jy, float)
    t = np.asarray(mjd, float)
    ok = usable(f, s)
    idx, f, s, t = idx[ok], f[ok], s[ok], t[ok]
    seen_idx, seen_t = idx, t
    if epoch_days > 0 and idx.size:
        idx, t, f, s = transit_epochs(idx, t, f, s, epoch_days)
    s = with_floor(f, s, frac_floor)
    n_src = state.n_epochs.size
    w = 1.0 / (s * s)
    state.n_epochs += np.bincount(idx, minlength=n_src)
    for name, weights in (
        ("sum_w", w),
        ("sum_wf", w * f),
        ("sum_wf2", w * f * f),
        ("sum_f", f),
        ("sum_f2", f * f),
    ):
        getattr(state, name)[:] += np.bincount(idx, weights, minlength=n_src)
    if idx.size == 0:
        return 0
    order = np.lexsort((f, idx))  # by source, then flux
    sorted_idx = idx[order]
    starts = np.flatnonzero(np.r_[True, sorted_idx[1:] != sorted_idx[:-1]])
    ends = np.r_[starts[1:], order.size] - 1
    src = sorted_idx[starts]
    lo, hi = order[starts], order[ends]
    _merge_extreme(state.min_flux_jy, state.min_flux_err_jy, src, f[lo], s[lo], np.less)
    _merge_extreme(state.max_flux_jy, state.max_flux_err_jy, src, f[hi], s[hi], np.greater)
    t_first = np.full(n_src, np.inf)
    t_last = np.full(n_src, -np.inf)
    np.minimum.at(t_first, seen_idx, seen_t)
    np.maximum.at(t_last, seen_idx, seen_t)
    seen = np.isfinite(t_first)
    state.first_mjd[seen] = np.fmin(state.first_mjd[seen], t_first[seen])
    state.last_mjd[seen] = np.fmax(state.last_mjd[seen], t_last[seen])
    return int(idx.size)


def _merge_extreme(value, err, src, new_value, new_err, better) -> None:
    """Replace stored extremes by the batch's where better (or none stored)."""
    take = np.isnan(value[src]) | better(new_value, value[src])
    value[src[take]] = new_value[take]
    err[src[take]] = new_err[take]


def _close_open_epochs(state: TransitState, into: MetricsState, idx: np.ndarray) -> None:
    """Fold the open epochs of sources ``idx`` (their combined flux and error) into ``into``."""
    w = state.open_sum_w[idx]
    update_batch(
        into, idx, state.open_sum_wf[idx] / w, 1.0 / np.sqrt(w), state.open_start_mjd[idx],
        state.frac_floor,
    )  # fmt: skip


@dataclass
class TransitState:
    """Running state of many sources split at the current transit (arrays of shape (n,)).

    Attributes
    ----------
    closed : MetricsState
        The closed epochs: ``n_epochs`` counts them, the sums and extremes
        are theirs (floored combined errors); ``first_mjd`` and ``last_mjd``
        are those of every sighting, the open epoch's included.
    open_sightings : numpy.ndarray of int
        Sightings in the open epoch (0: none open).
    open_start_mjd : numpy.ndarray
        MJD of the open epoch's first sighting (NaN: none open).
    open_sum_w, open_sum_wf : numpy.ndarray
        ``sum w`` and ``sum w f`` over its sightings, thermal ``w = 1 / s^2``
        (Jy^-2 and Jy^-1).
    frac_floor : float
        Systematic floor added to each epoch's combined error (:func:`with_floor`).
    epoch_days : float
        Span of an epoch from its first sighting, days (:data:`EPOCH_DAYS`).
    """

    closed: MetricsState
    open_sightings: np.ndarray
    open_start_mjd: np.ndarray
    open_sum_w: np.ndarray
    open_sum_wf: np.ndarray
    frac_floor: float = 0.0
    epoch_days: float = EPOCH_DAYS

    @classmethod
    def empty(
        cls, n_sources: int, frac_floor: float = 0.0, epoch_days: float = EPOCH_DAYS
    ) -> TransitState:
        """State of ``n_sources`` sources never measured."""
        return cls(
            MetricsState.empty(n_sources),
            np.zeros(n_sources, np.int64),
            np.full(n_sources, np.nan),
            np.zeros(n_sources),
            np.zeros(n_sources),
            frac_floor,
            epoch_days,
        )

    def _split_columns(self) -> dict[str, np.ndarray]:
        """The ``closed_*`` and ``open_*`` columns' arrays, by column name."""
        columns = {name: getattr(self, name) for name in OPEN_FIELDS}
        for column in CLOSED_FIELDS:
            columns[column] = getattr(self.closed, column.removeprefix("closed_"))
        return columns

    @classmethod
    def from_records(
        cls, records: list[Any], frac_floor: float = 0.0, epoch_days: float = EPOCH_DAYS
    ) -> TransitState:
        """Gather the state of ``VariabilityMetrics`` rows (or objects with their columns).

        ``n_epochs``, ``first_mjd`` and ``last_mjd`` are read from the
        reported columns, the rest from the ``closed_*`` and ``open_*`` ones.
        """
        state = cls.empty(len(records), frac_floor, epoch_days)
        columns = state._split_columns()
        columns.update(first_mjd=state.closed.first_mjd, last_mjd=state.closed.last_mjd)
        for i, rec in enumerate(records):
            for name, column in columns.items():
                value = getattr(rec, name, None)
                if value is not None:
                    column[i] = value
        reported = np.array([getattr(rec, "n_epochs", None) or 0 for rec in records], np.int64)
        state.closed.n_epochs[:] = reported - (state.open_sightings > 0)
        return state

    def reported(self) -> MetricsState:
        """The state with the open epoch counted as if closed (the metrics' state)."""
        out = MetricsState(
            **{f.name: getattr(self.closed, f.name).copy() for f in fields(MetricsState)}
        )
        _close_open_epochs(self, out, np.flatnonzero(self.open_sightings > 0))
        return out

    def write_records(self, records: list[Any]) -> MetricsState:
        """Write the state onto ``VariabilityMetrics`` rows (same order).

        The rows' state and metric columns get the reported state (the open
        epoch counted), the ``closed_*`` and ``open_*`` columns the split,
        ``epoch_days`` the span it was built with. Returns the reported state.
        """
        reported = self.reported()
        reported.write_records(records)
        _set_columns(records, self._split_columns())
        for rec in records:
            rec.epoch_days = self.epoch_days
        return reported

    @classmethod
    def from_history(
        cls,
        n_sources: int,
        source_index: np.ndarray,
        flux_jy: np.ndarray,
        flux_err_jy: np.ndarray,
        mjd: np.ndarray,
        frac_floor: float = 0.0,
        epoch_days: float = EPOCH_DAYS,
    ) -> TransitState:
        """The state of sources rebuilt from their whole light curves (any order).

        Each source's last epoch is left open, so that the next sighting of
        the same transit can join it; the others are closed
        (:func:`update_batch` with ``epoch_days``).
        """
        state = cls.empty(n_sources, frac_floor, epoch_days)
        ok = usable(flux_jy, flux_err_jy)
        idx, t, f, s = _time_ordered(
            np.asarray(source_index)[ok],
            np.asarray(mjd, float)[ok],
            np.asarray(flux_jy, float)[ok],
            np.asarray(flux_err_jy, float)[ok],
        )
        if idx.size == 0:
            return state
        label = _epoch_labels(idx, t, epoch_days)
        last_label = np.full(n_sources, -1, np.int64)
        last_label[idx] = label  # sorted by time: each source's last epoch wins
        is_open = label == last_label[idx]
        update_batch(
            state.closed,
            idx[~is_open],
            f[~is_open],
            s[~is_open],
            t[~is_open],
            frac_floor,
            epoch_days,
        )
        _open(state, idx[is_open], f[is_open], s[is_open], t[is_open])
        return state


def _open(
    state: TransitState, idx: np.ndarray, f: np.ndarray, s: np.ndarray, t: np.ndarray
) -> None:
    """Add sightings (ordered by source, then time) to the open epochs; extend first/last MJD."""
    n_src = state.open_sightings.size
    w = 1.0 / (s * s)
    state.open_sightings += np.bincount(idx, minlength=n_src)
    state.open_sum_w += np.bincount(idx, w, minlength=n_src)
    state.open_sum_wf += np.bincount(idx, w * f, minlength=n_src)
    np.fmin.at(state.open_start_mjd, idx, t)  # NaN (none open) gives way
    np.fmin.at(state.closed.first_mjd, idx, t)
    np.fmax.at(state.closed.last_mjd, idx, t)


def add_sightings(
    state: TransitState,
    source_index: np.ndarray,
    flux_jy: np.ndarray,
    flux_err_jy: np.ndarray,
    mjd: np.ndarray,
) -> tuple[int, np.ndarray]:
    """Add one image's sightings (at most one per source) to the running state, in place.

    A sighting within ``state.epoch_days`` of its source's open epoch's
    first sighting joins that epoch; any other closes the open epoch (its
    inverse-variance mean and combined error, floored, enter the closed
    sums) and opens a new one. O(1) per source. Unusable measurements
    (:func:`usable`) are skipped.

    Parameters
    ----------
    state : TransitState
        Updated in place.
    source_index : array_like of int
        Distinct rows of ``state``, shape (M,).
    flux_jy, flux_err_jy : array_like
        Fluxes and thermal errors, Jy, shape (M,).
    mjd : array_like
        Times, MJD, shape (M,).

    Returns
    -------
    used : int
        Sightings added.
    late : numpy.ndarray of int
        Rows whose sighting is earlier than their latest one (a back-fill, a
        reprocessed image): not added; rebuild them from their whole light
        curves (:meth:`TransitState.from_history`).
    """
    idx = np.asarray(source_index, np.int64)
    if np.unique(idx).size != idx.size:
        raise ValueError("add_sightings: at most one sighting per source")
    f, s, t = (
        np.broadcast_to(np.asarray(a, float), idx.shape) for a in (flux_jy, flux_err_jy, mjd)
    )
    ok = usable(f, s)
    idx, f, s, t = idx[ok], f[ok], s[ok], t[ok]
    closed = state.closed
    is_late = t < closed.last_mjd[idx]  # NaN (never seen): False
    late = idx[is_late]
    idx, f, s, t = idx[~is_late], f[~is_late], s[~is_late], t[~is_late]
    has_open = state.open_sightings[idx] > 0
    joins = has_open & (t - state.open_start_mjd[idx] < state.epoch_days)
    ending = idx[has_open & ~joins]
    _close_open_epochs(state, closed, ending)
    fresh = idx[~joins]
    state.open_sightings[fresh] = 0
    state.open_sum_w[fresh] = 0.0
    state.open_sum_wf[fresh] = 0.0
    state.open_start_mjd[fresh] = np.nan
    _open(state, idx, f, s, t)
    return int(idx.size), late


def update_record(
    record: Any, flux_jy: float, flux_err_jy: float, mjd: float, frac_floor: float = 0.0
) -> bool:
    """Add one measurement to one source's metrics row, in place, and refresh its metrics.

    Each call is one epoch (no combining of a transit's sightings: the
    pipeline's path is :func:`add_sightings`).

    Parameters
    ----------
    record : object
        A ``VariabilityMetrics`` ORM row, or any object with its column
        attributes (``None`` read as an empty state).
    flux_jy, flux_err_jy : float
        The measurement and its error, Jy.
    mjd : float
        Observation time, MJD.
    frac_floor : float
        Fractional systematic error (:func:`with_floor`; default 0).

    Returns
    -------
    bool
        False (nothing changed) if the flux is not finite or the error not > 0.
    """
    state = MetricsState.from_records([record])
    used = update_batch(state, np.zeros(1, np.int64), [flux_jy], [flux_err_jy], [mjd], frac_floor)
    if used:
        state.write_records([record])
    return bool(used)


def metrics_from_history(
    flux_jy: np.ndarray, flux_err_jy: np.ndarray, frac_floor: float = 0.0
) -> dict[str, float]:
    """Metrics recomputed from a whole light curve (the reference for tests and repairs).

    Uses centred two-pass formulas and, for ``vs_max`` and ``m2_max``, the
    same extreme pair as the running state (see the module notes); the exact
    all-pairs maxima are ``all_pairs_vs_max`` and ``all_pairs_m2_max``.
    Errors get the systematic floor ``frac_floor`` as in :func:`update_batch`.

    Returns
    -------
    dict
        :data:`METRIC_FIELDS` plus ``all_pairs_vs_max`` and ``all_pairs_m2_max``.
    """
    f = np.asarray(flux_jy, float)
    s = with_floor(f, flux_err_jy, frac_floor)
    n = f.size
    w = 1.0 / s**2
    mean = f.mean()
    wmean = np.sum(w * f) / np.sum(w)
    hi, lo = np.argmax(f), np.argmin(f)
    diff = f[:, None] - f[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        pair_vs = np.abs(diff) / np.hypot(s[:, None], s[None, :])
        pair_m2 = np.abs(2 * diff / (f[:, None] + f[None, :]))
    std = f.std(ddof=1)
    return {
        "mean_flux_jy": mean,
        "weighted_mean_flux_jy": wmean,
        "std_flux_jy": std,
        "v": std / mean,
        "eta": np.sum(w * (f - wmean) ** 2) / (n - 1),
        "chi2_nu": np.sum(w * (f - mean) ** 2) / (n - 1),
        "vs_max": abs(f[hi] - f[lo]) / np.hypot(s[hi], s[lo]),
        "m2_max": 2 * abs(f[hi] - f[lo]) / (f[hi] + f[lo]),
        "sigma_deviation": max(abs(f[hi] - wmean) / s[hi], abs(f[lo] - wmean) / s[lo]),
        "all_pairs_vs_max": float(np.nanmax(pair_vs)),
        "all_pairs_m2_max": float(np.nanmax(pair_m2)),
    }

"""One epoch per transit, image by image: the open epoch of ``TransitState``.

The pipeline adds one image at a time (one sighting of each source); the
metrics after every image must equal the full recomputation
``update_batch(..., epoch_days=0.5)`` over the light curve so far.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from dsa110_contimg.variability.metrics import (
    CLOSED_FIELDS,
    METRIC_FIELDS,
    OPEN_FIELDS,
    MetricsState,
    TransitState,
    add_sightings,
    compute_metrics,
    update_batch,
)

FLOOR, EPOCH_DAYS = 0.015, 0.5
GROUP_DAYS = 309.24 / 86400  # one 309 s group
COMPARED = ("mean_flux_jy", "weighted_mean_flux_jy", "eta", "v", "chi2_nu")


def _cadence(rng: np.random.Generator, n_days: int = 40) -> np.ndarray:
    """Image times: daily transits of three groups, some days missed, a few groups lost.

    The transit drifts by 4 minutes a day (sidereal), and a gap of a week
    sits in the middle.
    """
    days = [d for d in range(n_days) if rng.random() > 0.15 and not 15 <= d < 22]
    t = [
        61000.0 + d * (1 - 4 / 1440) + k * GROUP_DAYS
        for d in days
        for k in range(3)
        if rng.random() > 0.1
    ]
    return np.array(t)


def _sky(rng: np.random.Generator, n_src: int, t: np.ndarray, scatter: float = 0.01):
    """Fluxes and thermal errors (n_src, n_images): calibration scatter shared by a transit."""
    truth = rng.uniform(0.02, 1.0, n_src)
    err = truth[:, None] / rng.uniform(5, 300, (n_src, 1)) * np.ones(t.size)
    transit = np.floor(t - t[0] + 0.25).astype(int)
    scale = 1 + scatter * rng.normal(size=(n_src, transit.max() + 1))[:, transit]
    flux = truth[:, None] * scale + rng.normal(size=err.shape) * err
    return flux, err


def _assert_equal(state: TransitState, reference: MetricsState) -> None:
    reported = state.reported()
    assert np.array_equal(reported.n_epochs, reference.n_epochs)
    got, want = compute_metrics(reported), compute_metrics(reference)
    for name in COMPARED:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-9, atol=0, err_msg=name)
    for name in ("first_mjd", "last_mjd", "min_flux_jy", "max_flux_jy"):
        np.testing.assert_allclose(
            getattr(reported, name), getattr(reference, name), rtol=1e-12, err_msg=name
        )


def test_image_by_image_equals_the_full_recompute() -> None:
    rng = np.random.default_rng(11)
    t = _cadence(rng)
    n_src = 200
    flux, err = _sky(rng, n_src, t)
    flux[rng.random(flux.shape) < 0.02] = np.nan  # unmeasurable now and then
    state = TransitState.empty(n_src, FLOOR, EPOCH_DAYS)
    seen = []
    for k in range(t.size):
        ids = np.flatnonzero(rng.random(n_src) > 0.1)  # not every source in every image
        used, late = add_sightings(state, ids, flux[ids, k], err[ids, k], t[k])
        assert late.size == 0
        assert used == np.count_nonzero(np.isfinite(flux[ids, k]))
        seen += [(i, k) for i in ids]
        src, img = np.array(seen).T
        reference = MetricsState.empty(n_src)
        update_batch(
            reference, src, flux[src, img], err[src, img], t[img], FLOOR, epoch_days=EPOCH_DAYS
        )
        _assert_equal(state, reference)
        rebuilt = TransitState.from_history(
            n_src, src, flux[src, img], err[src, img], t[img], FLOOR, EPOCH_DAYS
        )
        for name in OPEN_FIELDS:
            np.testing.assert_allclose(getattr(rebuilt, name), getattr(state, name), rtol=1e-12)
        for name in ("n_epochs", "sum_w", "sum_wf", "sum_wf2", "sum_f", "sum_f2"):
            np.testing.assert_allclose(
                getattr(rebuilt.closed, name), getattr(state.closed, name), rtol=1e-12
            )
    transits = np.unique(np.floor(t - t[0] + 0.25)).size
    assert state.reported().n_epochs.max() == transits
    assert transits < t.size / 2  # about 2.6 sightings a transit


def test_epoch_span_counts_from_the_first_sighting() -> None:
    """A sighting 0.5 d or more after its epoch's first one opens the next epoch."""
    state = TransitState.empty(1, 0.0, EPOCH_DAYS)
    for mjd, flux in ((0.0, 1.0), (0.3, 2.0), (0.49, 3.0), (0.55, 4.0), (0.9, 5.0), (1.2, 6.0)):
        assert add_sightings(state, [0], [flux], [0.1], [mjd])[0] == 1
    reported = state.reported()
    assert reported.n_epochs[0] == 3  # [0, 0.3, 0.49], [0.55, 0.9], [1.2]
    assert state.closed.n_epochs[0] == 2 and state.open_sightings[0] == 1
    assert compute_metrics(reported)["mean_flux_jy"][0] == pytest.approx((2 + 4.5 + 6) / 3)
    assert (reported.first_mjd[0], reported.last_mjd[0]) == (0.0, 1.2)


def test_calibration_scatter_shared_by_a_transit_counts_once() -> None:
    """1% scatter per transit, 3 sightings each, a 1% floor: eta and chi2 as for T epochs.

    Counted per sighting, the run would claim 3T epochs whose errors are not
    independent; per transit, eta and chi2_nu have the mean (1) and the
    spread (sqrt(2 / (T - 1))) of a reduced chi-square of T - 1 degrees of
    freedom, and n_epochs is T.
    """
    rng = np.random.default_rng(5)
    n_src, n_transits, floor = 2000, 30, 0.01
    t = (61000.0 + np.arange(n_transits)[:, None] + np.arange(3) * GROUP_DAYS).ravel()
    truth = rng.uniform(0.02, 1.0, n_src)
    err = (truth / rng.uniform(30, 300, n_src))[:, None] * np.ones(t.size)
    scale = 1 + 0.01 * rng.normal(size=(n_src, n_transits)).repeat(3, axis=1)  # per transit
    flux = truth[:, None] * scale + rng.normal(size=err.shape) * err
    state = TransitState.empty(n_src, floor, EPOCH_DAYS)
    ids = np.arange(n_src)
    for k in range(t.size):
        add_sightings(state, ids, flux[:, k], err[:, k], t[k])
    reported = state.reported()
    metrics = compute_metrics(reported)
    assert np.all(reported.n_epochs == n_transits)
    expected_spread = np.sqrt(2 / (n_transits - 1))
    for name in ("eta", "chi2_nu"):
        assert np.mean(metrics[name]) == pytest.approx(1.0, abs=0.05), name
        assert np.std(metrics[name]) == pytest.approx(expected_spread, rel=0.15), name
    per_sighting = MetricsState.empty(n_src)
    update_batch(
        per_sighting, np.repeat(ids, t.size), flux.ravel(), err.ravel(), np.tile(t, n_src), floor
    )
    assert np.all(per_sighting.n_epochs == 3 * n_transits)


def test_late_sightings_are_returned_for_a_rebuild() -> None:
    """A sighting older than the source's latest one is not added (back-fill, reprocessing)."""
    state = TransitState.empty(3, FLOOR, EPOCH_DAYS)
    add_sightings(state, [0, 1], [1.0, 2.0], [0.1, 0.1], [61001.0, 61001.0])
    before = {name: getattr(state, name).copy() for name in OPEN_FIELDS}
    used, late = add_sightings(state, [0, 1, 2], [1.1, 2.1, 3.0], [0.1, 0.1, 0.1], 61000.0)
    assert used == 1 and late.tolist() == [0, 1]
    for name in OPEN_FIELDS:
        np.testing.assert_array_equal(getattr(state, name)[:2], before[name][:2])
    with pytest.raises(ValueError, match="one sighting per source"):
        add_sightings(state, [2, 2], [1.0, 1.0], [0.1, 0.1], 61002.0)


def test_out_of_order_history_rebuilds_to_the_same_state() -> None:
    """Images added in any order, late ones rebuilt from the history: the time-ordered answer."""
    rng = np.random.default_rng(12)
    t = _cadence(rng, 20)
    n_src = 50
    flux, err = _sky(rng, n_src, t)
    order = np.arange(t.size)
    swap = rng.choice(t.size - 1, 6, replace=False)
    order[swap], order[swap + 1] = order[swap + 1], order[swap]  # a few late images
    order = np.r_[order[order != 3], 3]  # and one back-filled long after
    state = TransitState.empty(n_src, FLOOR, EPOCH_DAYS)
    ids = np.arange(n_src)
    done: list[int] = []
    n_late = 0
    for k in order:
        done.append(k)
        _, late = add_sightings(state, ids, flux[:, k], err[:, k], t[k])
        if late.size:  # what the stage does: rebuild those sources from their light curves
            n_late += 1
            img = np.array(done)
            sub = TransitState.from_history(
                late.size,
                np.repeat(np.arange(late.size), img.size),
                flux[np.ix_(late, img)].ravel(),
                err[np.ix_(late, img)].ravel(),
                np.tile(t[img], late.size),
                FLOOR,
                EPOCH_DAYS,
            )
            _put(state, late, sub)
        img = np.array(done)
        reference = MetricsState.empty(n_src)
        update_batch(
            reference,
            np.repeat(ids, img.size),
            flux[:, img].ravel(),
            err[:, img].ravel(),
            np.tile(t[img], n_src),
            FLOOR,
            epoch_days=EPOCH_DAYS,
        )
        _assert_equal(state, reference)
    assert n_late >= 2


def _put(state: TransitState, rows: np.ndarray, sub: TransitState) -> None:
    """Copy ``sub``'s sources into ``state``'s ``rows`` through the DB columns' round trip."""
    records = [SimpleNamespace() for _ in rows]
    sub.write_records(records)
    back = TransitState.from_records(records, state.frac_floor, state.epoch_days)
    for name in OPEN_FIELDS:
        getattr(state, name)[rows] = getattr(back, name)
    for name in ("n_epochs", "first_mjd", "last_mjd") + tuple(
        c.removeprefix("closed_") for c in CLOSED_FIELDS
    ):
        getattr(state.closed, name)[rows] = getattr(back.closed, name)


def test_records_round_trip() -> None:
    """The reported columns count the open epoch; the split columns restore the state."""
    rng = np.random.default_rng(2)
    t = _cadence(rng, 6)
    flux, err = _sky(rng, 5, t)
    state = TransitState.empty(5, FLOOR, EPOCH_DAYS)
    for k in range(t.size):
        add_sightings(state, np.arange(5), flux[:, k], err[:, k], t[k])
    records = [SimpleNamespace() for _ in range(5)]
    reported = state.write_records(records)
    assert [r.n_epochs for r in records] == reported.n_epochs.tolist()
    assert all(r.epoch_days == EPOCH_DAYS for r in records)
    for name in METRIC_FIELDS:
        assert [getattr(r, name) for r in records] == pytest.approx(
            compute_metrics(reported)[name].tolist(), nan_ok=True
        )
    back = TransitState.from_records(records, FLOOR, EPOCH_DAYS)
    for name in OPEN_FIELDS:
        np.testing.assert_array_equal(getattr(back, name), getattr(state, name))
    np.testing.assert_array_equal(back.closed.n_epochs, state.closed.n_epochs)
    np.testing.assert_array_equal(back.closed.sum_wf2, state.closed.sum_wf2)

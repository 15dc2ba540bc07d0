"""Tests of DSA-110 channel and subband frequencies."""

import numpy as np
import pytest

from dsa110_contimg.telescope import (
    CHANNEL_WIDTH_HZ,
    channel_frequencies_ascending,
    subband_channel_frequencies,
    subband_edges,
    subband_of_frequency,
)


def test_all_channels_span_the_documented_range():
    freqs = channel_frequencies_ascending()
    assert freqs.shape == (768,)
    assert freqs[0] == 1311.3720703125e6
    assert freqs[-1] == 1498.6279296875e6
    np.testing.assert_allclose(np.diff(freqs), CHANNEL_WIDTH_HZ, rtol=0, atol=1e-6)


def test_sb00_is_highest_and_channels_descend_within_a_file():
    sb00 = subband_channel_frequencies(0)
    sb15 = subband_channel_frequencies(15)
    assert sb00.shape == (48,)
    assert sb00[0] == 1498.6279296875e6
    assert 1487e6 < sb00.min() < sb00.max() < 1499e6
    assert sb15[-1] == 1311.3720703125e6
    for sb in range(16):
        assert np.all(np.diff(subband_channel_frequencies(sb)) < 0)


def test_subbands_tile_the_band_in_descending_order():
    joined = np.concatenate([subband_channel_frequencies(sb) for sb in range(16)])
    np.testing.assert_array_equal(joined, channel_frequencies_ascending()[::-1])


def test_subband_edges_contain_their_channels():
    for sb in range(16):
        low, high = subband_edges(sb)
        assert high - low == pytest.approx(11.71875e6)
        freqs = subband_channel_frequencies(sb)
        assert low < freqs.min() and freqs.max() < high
    assert subband_edges(0) == (1487.03125e6, 1498.75e6)
    assert subband_edges(15) == (1311.25e6, 1322.96875e6)


def test_subband_of_frequency_inverts_the_channel_map():
    for sb in (0, 7, 15):
        assert np.all(subband_of_frequency(subband_channel_frequencies(sb)) == sb)
    assert subband_of_frequency(1498.75e6) == 0
    assert subband_of_frequency(1311.25e6) == 15
    assert isinstance(subband_of_frequency(1.4e9), int)
    assert subband_of_frequency(np.array([[1.4e9]])).shape == (1, 1)


@pytest.mark.parametrize("freq", [1.3e9, 1.5e9, np.nan])
def test_subband_of_frequency_rejects_out_of_band(freq):
    with pytest.raises(ValueError, match="frequency outside the DSA-110 band"):
        subband_of_frequency(freq)


@pytest.mark.parametrize("sb", [-1, 16, 2.5])
def test_bad_subband_numbers_are_rejected(sb):
    with pytest.raises(ValueError, match=f"subband must be an integer 0..15, got {sb}$"):
        subband_channel_frequencies(sb)

from __future__ import annotations

import threading

import pytest

from dsa110_contimg.tools.prefetch import prefetched


def test_items_arrive_in_order():
    assert list(prefetched(iter(range(100)), depth=3)) == list(range(100))


def test_producer_errors_reach_the_consumer_after_the_items_before_them():
    def items():
        yield 1
        yield 2
        raise OSError("disk went away")

    got = []
    with pytest.raises(OSError, match="disk went away"):
        for item in prefetched(items(), depth=1):
            got.append(item)
    assert got == [1, 2]


def test_an_abandoned_consumer_stops_the_producer():
    before = threading.active_count()
    endless = prefetched(iter(range(10**9)), depth=2, name="endless")
    assert [next(endless) for _ in range(3)] == [0, 1, 2]
    endless.close()  # joins the producer, which was blocked on a full queue
    assert threading.active_count() == before
    assert not any(t.name == "endless" for t in threading.enumerate())

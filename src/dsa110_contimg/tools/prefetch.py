"""Read ahead in a background thread: overlap producing items with consuming them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from queue import Full, Queue
from typing import TypeVar

T = TypeVar("T")


def prefetched(items: Iterator[T], depth: int = 1, name: str = "prefetch") -> Iterator[T]:
    """``items``, produced by a thread up to ``depth`` ahead of the consumer.

    The producer may be making item ``i + depth + 1`` while the consumer holds
    item ``i``. It pays off where the producer releases the GIL (h5py and
    casacore reads, numba ``nogil`` kernels). An exception in the producer is
    raised in the consumer; a consumer that stops early (``close()``, an
    exception) stops the producer and joins it, so no thread is left blocked.
    """
    queue: Queue = Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False  # the consumer has gone

    def produce() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
            offer(done)
        except BaseException as exc:  # handed to the consumer
            offer(exc)

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while (item := queue.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()

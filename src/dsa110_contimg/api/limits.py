"""Caps on concurrent transfers: downloads, exports and renders, each its own pool of slots.

A request that finds its pool full is answered at once with a 429 and a
``Retry-After`` header (never queued: a queue of slow clients is what the cap
prevents). A download or export holds its slot until its body has been sent;
a render only while it computes.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from dsa110_contimg.api.errors import ApiError


class Slots:
    """A fixed number of slots for one kind of transfer, taken without waiting.

    Parameters
    ----------
    kind
        What the slots are for (``downloads``, ``exports``, ``renders``), named in the 429.
    capacity
        How many may run at once.
    retry_after_s
        The ``Retry-After`` of the 429 when all are taken.
    """

    def __init__(self, kind: str, capacity: int, retry_after_s: int):
        self.kind, self.capacity, self.retry_after_s = kind, capacity, retry_after_s
        self.in_use = 0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Take a slot.

        Raises
        ------
        ApiError
            429 ``too_many_requests`` when every slot is taken.
        """
        with self._lock:
            if self.in_use >= self.capacity:
                raise ApiError(
                    429,
                    "too_many_requests",
                    f"too many {self.kind} at once (at most {self.capacity}); retry later",
                    details={"limit": self.capacity, "retry_after_s": self.retry_after_s},
                    headers={"Retry-After": str(self.retry_after_s)},
                )
            self.in_use += 1

    def release(self) -> None:
        """Give a slot back."""
        with self._lock:
            self.in_use = max(0, self.in_use - 1)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """A slot for the duration of a ``with`` block."""
        self.acquire()
        try:
            yield
        finally:
            self.release()

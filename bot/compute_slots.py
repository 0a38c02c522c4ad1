"""How many listener threads may run Python code at once, apart from those waiting on Slack.

A listener spends most of its wall time waiting on Slack's Web API (100 ms a call is common),
so a process needs many listener threads to keep up. But every thread that wants to compute
contends for the GIL with the event loop that acknowledges Slack's requests, and the GIL goes
to any waiting thread in turn, each for up to its 5 ms switch interval: with 16 threads busy the
event loop waited long enough for acknowledgements to take 200 ms. Holding a slot to compute,
and giving it back for the length of each Web API call, keeps the threads that wait many and
the threads that contend few.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_held = threading.local()


class ComputeSlots:
    """At most ``limit`` threads inside :meth:`held` at once, not counting those in :func:`slot_released`."""

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError(f"compute slots must be at least 1, not {limit}")
        self.limit = limit
        self._semaphore = threading.Semaphore(limit)

    @contextmanager
    def held(self) -> Iterator[None]:
        self._semaphore.acquire()
        outer = getattr(_held, "slots", None)
        _held.slots = self
        try:
            yield
        finally:
            _held.slots = outer
            self._semaphore.release()

    def _release(self) -> None:
        self._semaphore.release()

    def _acquire(self) -> None:
        self._semaphore.acquire()


@contextmanager
def slot_released() -> Iterator[None]:
    """Around a wait on the network: another thread may compute meanwhile. A no-op in a thread
    that holds no slot (the scheduler, the outbox worker) or has already given its slot back."""
    slots: ComputeSlots | None = getattr(_held, "slots", None)
    if slots is None:
        yield
        return
    _held.slots = None
    slots._release()
    try:
        yield
    finally:
        slots._acquire()
        _held.slots = slots

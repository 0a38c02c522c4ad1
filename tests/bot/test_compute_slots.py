"""Listener threads compute only while they hold a slot, and give it back while Slack answers."""

from __future__ import annotations

import threading
import time

import pytest

from bot.compute_slots import ComputeSlots, slot_released
from bot.runner import ListenerPool
from bot.slack_client import IdleConnections, PooledWebClient
from bot.standin import SlackStandIn
from tests.bot.conftest import TEAM

WAIT_S = 5.0


class Concurrency:
    """Counts the threads inside ``busy`` at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.most = 0

    def busy(self, seconds: float) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(seconds)
        with self._lock:
            self.now -= 1


def test_a_pool_with_slots_runs_no_more_listeners_at_once_than_it_has_slots():
    seen = Concurrency()
    pool = ListenerPool(max_workers=8, slots=ComputeSlots(2))
    try:
        for future in [pool.submit(seen.busy, 0.05) for _ in range(8)]:
            future.result(timeout=WAIT_S)
    finally:
        pool.shutdown(wait=True)
    assert seen.most == 2


def test_a_pool_without_slots_runs_as_many_as_it_has_threads():
    barrier = threading.Barrier(4, timeout=WAIT_S)  # broken (and raising) unless all four run at once
    pool = ListenerPool(max_workers=4)
    try:
        for future in [pool.submit(barrier.wait) for _ in range(4)]:
            future.result(timeout=WAIT_S)
    finally:
        pool.shutdown(wait=True)


def test_a_thread_waiting_with_its_slot_released_lets_another_compute_and_then_takes_it_back():
    slots = ComputeSlots(1)
    waiting, second_in, first_waited = threading.Event(), threading.Event(), threading.Event()
    order: list[str] = []

    def first() -> None:
        with slots.held():
            with slot_released():
                waiting.set()
                assert second_in.wait(WAIT_S)
                order.append("first waited")
                first_waited.set()
            order.append("first computes again")

    def second() -> None:
        assert waiting.wait(WAIT_S)
        with slots.held():
            second_in.set()
            assert first_waited.wait(WAIT_S)
            time.sleep(0.05)  # the first thread's wait is over: it must still not compute before this ends
            order.append("second done")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    assert order == ["first waited", "second done", "first computes again"]


def test_releasing_outside_a_slot_changes_nothing():
    slots = ComputeSlots(1)
    with slot_released():  # the scheduler's and the outbox worker's threads hold no slot
        pass
    with slots.held():
        with slot_released():
            with slot_released():  # nested: the slot is given back once, taken back once
                pass
    # Exactly one slot is left: a second holder would block.
    assert slots._semaphore.acquire(blocking=False)
    assert not slots._semaphore.acquire(blocking=False)


def test_limits_below_one_are_refused():
    with pytest.raises(ValueError, match="at least 1"):
        ComputeSlots(0)


class GatedSlack(SlackStandIn):
    """The stand-in holding every answer until ``release`` is set."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.release = threading.Event()
        self.arrived = threading.Event()

    def _handle(self, request) -> None:
        self.arrived.set()
        self.release.wait(WAIT_S)
        super()._handle(request)


def test_a_listener_gives_its_slot_back_while_slack_answers():
    standin = GatedSlack(team_id=TEAM).start()
    connections = IdleConnections()
    client = PooledWebClient(token="xoxb-standin-token", base_url=standin.api_url, connections=connections)
    slots = ComputeSlots(1)
    other_computed = threading.Event()
    results: list[bool] = []

    def listener() -> None:
        with slots.held():
            results.append(client.chat_postMessage(channel="C1", text="hello")["ok"])

    def other() -> None:
        with slots.held():
            other_computed.set()

    try:
        calling = threading.Thread(target=listener)
        calling.start()
        assert standin.arrived.wait(WAIT_S)
        threading.Thread(target=other).start()
        # The only slot's holder is waiting on Slack: the other listener computes meanwhile.
        assert other_computed.wait(WAIT_S)
        standin.release.set()
        calling.join(WAIT_S)
        assert results == [True]
    finally:
        standin.release.set()
        standin.stop()
        connections.close()

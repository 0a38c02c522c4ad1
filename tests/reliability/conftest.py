"""Fixtures for the reliability suite: the app behind signed HTTP, with every listener awaited.

Bolt acknowledges first and runs listeners on a thread pool, so a test that only looked at the
HTTP status would miss whatever the listener did afterwards. Here the pool is ours: ``drain()``
waits for every listener a request started and hands back anything it raised.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait

import pytest
from sqlalchemy import Engine

from bot.app import build_app
from bot.http import build_asgi
from bot.standin import SlackStandIn
from tests.bot.conftest import (  # noqa: F401  (fixtures shared with the bot tests)
    SIGNING_SECRET,
    SlackHttp,
    fraud_histograms,
    pulls,
    seeded,
    settings,
    slack_standin,
    web_client,
)


class TrackedExecutor(ThreadPoolExecutor):
    """A listener pool that remembers what it was given, so a test can wait for all of it."""

    def __init__(self) -> None:
        super().__init__(max_workers=4, thread_name_prefix="listener")
        self._futures: list[Future] = []

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future = super().submit(fn, *args, **kwargs)
        self._futures.append(future)
        return future

    def drain(self, timeout: float = 20.0) -> list[BaseException]:
        futures, self._futures = self._futures, []
        done, pending = wait(futures, timeout=timeout)
        assert not pending, f"{len(pending)} listeners still running after {timeout} s"
        return [f.exception() for f in done if f.exception() is not None]


@pytest.fixture
def executor() -> Iterator[TrackedExecutor]:
    pool = TrackedExecutor()
    yield pool
    pool.shutdown(wait=True)


@pytest.fixture
def app(settings, engine: Engine, web_client, pulls, executor):  # noqa: F811 (fixtures imported above)
    return build_app(settings, engine=engine, client=web_client, pull_requester=lambda **kw: pulls.append(kw),
                     listener_executor=executor)


@pytest.fixture
def http(app, engine: Engine) -> SlackHttp:
    return SlackHttp(build_asgi(app, engine=engine, signing_secret=SIGNING_SECRET))


@pytest.fixture
def standin(slack_standin: SlackStandIn) -> SlackStandIn:  # noqa: F811
    return slack_standin

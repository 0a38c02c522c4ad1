"""Slack calls reuse kept-alive connections, and fail, retry and reconnect as slack-sdk's own transport does."""

from __future__ import annotations

import os
import threading
import time
from http.client import RemoteDisconnected
from urllib.error import URLError

import pytest
from cryptography.fernet import Fernet
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import FixedValueRetryIntervalCalculator
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.oauth.installation_store import Installation

import bot.slack_client as slack_client
from bot.app import build_app
from bot.http import build_asgi
from bot.outbox_worker import make_worker_client
from bot.settings import Settings
from bot.slack_client import IdleConnections, PooledWebClient, make_client
from bot.standin import Call, SlackStandIn
from tests.bot.conftest import FRAUD_CHANNEL_ID, SIGNING_SECRET, TEAM, USER, SlackHttp

TOKEN = "xoxb-standin-token"


@pytest.fixture
def connections():
    connections = IdleConnections()
    yield connections
    connections.close()


@pytest.fixture
def pooled(slack_standin: SlackStandIn, connections: IdleConnections) -> PooledWebClient:
    """No retry handlers (as the outbox worker's): every error reaches the test as it was raised."""
    return PooledWebClient(token=TOKEN, base_url=slack_standin.api_url, retry_handlers=[], connections=connections)


def _texts(standin: SlackStandIn) -> list[str]:
    return [c.params["text"] for c in standin.calls_to("chat.postMessage")]


def _wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# --- reuse ----------------------------------------------------------------------------------


def test_calls_from_one_thread_share_one_connection(slack_standin: SlackStandIn, pooled: PooledWebClient, connections):
    for n in range(5):
        assert pooled.chat_postMessage(channel="C1", text=f"m{n}")["ts"]
    assert slack_standin.connections_accepted == 1
    assert len(connections) == 1
    assert _texts(slack_standin) == [f"m{n}" for n in range(5)]


def test_slack_sdk_alone_opens_a_connection_per_call(slack_standin: SlackStandIn):
    plain = WebClient(token=TOKEN, base_url=slack_standin.api_url, retry_handlers=[])
    for n in range(3):
        plain.chat_postMessage(channel="C1", text=f"m{n}")
    assert slack_standin.connections_accepted == 3


def test_answers_are_what_slack_sdk_alone_returns(slack_standin: SlackStandIn, pooled: PooledWebClient):
    plain = WebClient(token=TOKEN, base_url=slack_standin.api_url, retry_handlers=[])
    ours, theirs = pooled.auth_test(), plain.auth_test()
    assert ours.data == theirs.data and ours.status_code == theirs.status_code == 200
    assert ours.headers["Content-Type"] == theirs.headers["Content-Type"] == "application/json"
    sent = slack_standin.calls_to("auth.test")
    assert [c.token for c in sent] == [TOKEN, TOKEN]


def test_clients_of_the_factories_share_the_process_connections(settings: Settings):
    assert isinstance(make_client(settings), PooledWebClient)
    worker = make_worker_client(token=TOKEN, base_url=settings.slack_api_url)
    assert isinstance(worker, PooledWebClient) and worker.retry_handlers == []
    assert worker.connections is slack_client.IDLE_CONNECTIONS


def test_two_threads_at_once_never_share_a_connection(connections: IdleConnections):
    standin = _MeetingStandIn().start()
    try:
        client = PooledWebClient(token=TOKEN, base_url=standin.api_url, retry_handlers=[], connections=connections)
        client.chat_postMessage(channel="C1", text="alone")
        standin.meet = threading.Barrier(2, timeout=5)  # both requests must be in the server at once
        answers: list = []
        threads = [threading.Thread(target=lambda n=n: answers.append(client.chat_postMessage(channel="C1", text=f"t{n}")))
                   for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert len(answers) == 2 and all(a["ok"] for a in answers)
        assert standin.connections_accepted == 2
        assert len(connections) == 2
        standin.meet = None
        client.chat_postMessage(channel="C1", text="alone again")
        assert standin.connections_accepted == 2
    finally:
        standin.stop()


class _MeetingStandIn(SlackStandIn):
    meet: threading.Barrier | None = None

    def _handle(self, request) -> None:
        if self.meet is not None:
            self.meet.wait()
        super()._handle(request)


# --- connections closed by the server -------------------------------------------------------


def test_a_connection_the_server_closed_while_idle_is_replaced(slack_standin: SlackStandIn, pooled: PooledWebClient):
    pooled.chat_postMessage(channel="C1", text="first")
    slack_standin.close_connections()
    assert pooled.chat_postMessage(channel="C1", text="second")["ok"]
    assert slack_standin.connections_accepted == 2
    assert _texts(slack_standin) == ["first", "second"]


def test_a_request_sent_as_the_server_closes_the_idle_connection_is_sent_again_once(
        slack_standin: SlackStandIn, pooled: PooledWebClient, monkeypatch):
    pooled.chat_postMessage(channel="C1", text="first")
    slack_standin.close_connections()
    _wait_until(lambda: slack_standin.open_connections == 0)
    # The close is not noticed before sending: the request goes out on the closed connection.
    monkeypatch.setattr(slack_client, "_closed_by_peer", lambda connection: False)
    assert pooled.chat_postMessage(channel="C1", text="second")["ok"]
    assert slack_standin.connections_accepted == 2
    assert _texts(slack_standin) == ["first", "second"]


def test_a_new_connection_dropped_before_the_answer_is_not_sent_again(connections: IdleConnections):
    """Slack may have acted on it: whether to send again is the retry handlers' call, as with urllib."""
    standin = _HangUpStandIn().start()
    try:
        client = PooledWebClient(token=TOKEN, base_url=standin.api_url, retry_handlers=[], connections=connections)
        with pytest.raises(RemoteDisconnected):
            client.chat_postMessage(channel="C1", text="lost answer")
        assert len(standin.calls_to("chat.postMessage")) == 1
        assert len(connections) == 0
    finally:
        standin.stop()


class _HangUpStandIn(SlackStandIn):
    def _handle(self, request) -> None:
        self._record(_call_of(request))
        request.close_connection = True  # no answer at all


def _call_of(request) -> Call:
    request.rfile.read(int(request.headers["Content-Length"]))
    return Call(method=request.path.removeprefix("/api/"), params={}, token=None)


@pytest.mark.parametrize("noticed", [True, False], ids=["close-noticed", "close-unnoticed"])
def test_once_slack_stops_calls_fail_to_connect_and_nothing_answers(
        slack_standin: SlackStandIn, pooled: PooledWebClient, connections, monkeypatch, noticed):
    pooled.chat_postMessage(channel="C1", text="before")
    slack_standin.stop()
    if not noticed:
        monkeypatch.setattr(slack_client, "_closed_by_peer", lambda connection: False)
    with pytest.raises(URLError) as caught:
        pooled.chat_postMessage(channel="C1", text="after")
    # What the outbox worker reads as "nothing reached Slack" (and slack-sdk's handler retries).
    assert isinstance(caught.value.reason, ConnectionRefusedError)
    assert _texts(slack_standin) == ["before"]
    assert len(connections) == 0


def test_a_connection_idle_too_long_is_not_reused(slack_standin: SlackStandIn):
    now = [0.0]
    connections = IdleConnections(max_idle_seconds=30, clock=lambda: now[0])
    try:
        client = PooledWebClient(token=TOKEN, base_url=slack_standin.api_url, retry_handlers=[], connections=connections)
        client.chat_postMessage(channel="C1", text="first")
        now[0] = 29
        client.chat_postMessage(channel="C1", text="soon after")
        assert slack_standin.connections_accepted == 1
        now[0] = 60
        client.chat_postMessage(channel="C1", text="much later")
        assert slack_standin.connections_accepted == 2
        _wait_until(lambda: slack_standin.open_connections == 1)  # the old one was closed, not dropped
    finally:
        connections.close()


def test_past_max_idle_the_longest_idle_connection_is_closed(slack_standin: SlackStandIn):
    other = SlackStandIn().start()
    connections = IdleConnections(max_idle=1)
    try:
        first = PooledWebClient(token=TOKEN, base_url=slack_standin.api_url, retry_handlers=[], connections=connections)
        second = PooledWebClient(token=TOKEN, base_url=other.api_url, retry_handlers=[], connections=connections)
        first.chat_postMessage(channel="C1", text="one")
        second.chat_postMessage(channel="C1", text="two")
        assert len(connections) == 1
        _wait_until(lambda: slack_standin.open_connections == 0)
        assert other.open_connections == 1
    finally:
        connections.close()
        other.stop()



@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_does_not_inherit_the_parents_connections(slack_standin: SlackStandIn):
    client = PooledWebClient(token=TOKEN, base_url=slack_standin.api_url, retry_handlers=[])
    client.chat_postMessage(channel="C1", text="parent")
    assert len(slack_client.IDLE_CONNECTIONS) >= 1
    pid = os.fork()
    if pid == 0:  # the child: only report, never run pytest's teardown
        os._exit(0 if len(slack_client.IDLE_CONNECTIONS) == 0 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    client.chat_postMessage(channel="C1", text="parent again")
    assert slack_standin.connections_accepted == 1  # the child closing its copy left the parent's open

# --- errors and slack-sdk's retry handlers --------------------------------------------------


def test_an_error_status_reaches_slack_sdk_as_from_urllib(slack_standin: SlackStandIn, pooled: PooledWebClient):
    slack_standin.fail("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as caught:
        pooled.chat_postMessage(channel="C1", text="t")
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "7"
    assert caught.value.response["error"] == "ratelimited"
    assert pooled.chat_postMessage(channel="C1", text="t")["ok"]
    assert slack_standin.connections_accepted == 1  # an error answer keeps the connection


def test_429_and_500_are_retried_by_slack_sdks_handlers(slack_standin: SlackStandIn, connections):
    client = PooledWebClient(
        token=TOKEN, base_url=slack_standin.api_url, connections=connections,
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2, interval_calculator=FixedValueRetryIntervalCalculator(0.01)),
        ],
    )
    slack_standin.fail("chat.postMessage", status=429, retry_after=1)
    slack_standin.fail("chat.postMessage", status=500)
    assert client.chat_postMessage(channel="C1", text="t")["ok"]
    calls = slack_standin.calls_to("chat.postMessage")
    assert len(calls) == 3
    assert calls[1].at - calls[0].at >= 0.95  # Retry-After was read from the 429
    assert slack_standin.connections_accepted == 1


def test_tokens_stay_out_of_debug_logs(slack_standin: SlackStandIn, pooled: PooledWebClient, caplog):
    slack_client.redact_tokens_in_sdk_logs()
    pooled.logger.setLevel("DEBUG")
    try:
        with caplog.at_level("DEBUG", logger=slack_client.SDK_WEB_LOGGER):
            pooled.chat_postMessage(channel="C1", text="t")
    finally:
        pooled.logger.setLevel("NOTSET")
    assert any("Received the following response" in r.getMessage() for r in caplog.records)
    assert TOKEN not in caplog.text


# --- Bolt listeners -------------------------------------------------------------------------


@pytest.fixture
def sent_through_pool(monkeypatch) -> list[str]:
    """The URL of every call a PooledWebClient sends."""
    urls: list[str] = []
    original = PooledWebClient._perform_urllib_http_request_internal

    def spy(self, url, req):
        urls.append(url)
        return original(self, url, req)

    monkeypatch.setattr(PooledWebClient, "_perform_urllib_http_request_internal", spy)
    return urls


def _probe(app) -> list[dict]:
    """A /probe command whose listener reports the client and ``say`` it was given, then uses both."""
    seen: list[dict] = []

    @app.command("/probe")
    def probe(ack, client, say, context):
        ack()
        seen.append({"client": client, "say_client": say.client, "context_client": context.client})
        client.chat_postEphemeral(channel=context.channel_id, user=context.user_id, text="through client")
        say("through say")

    return seen


def _check_probe(seen: list[dict], standin: SlackStandIn, urls: list[str], token: str) -> None:
    standin.wait_for("chat.postMessage")
    [got] = seen
    assert isinstance(got["client"], PooledWebClient)
    assert got["say_client"] is got["client"] is got["context_client"]
    assert got["client"].token == token
    assert got["client"].default_params == {"team_id": TEAM}
    assert [c.token for c in standin.calls_to("chat.postEphemeral")] == [token]
    assert [c.token for c in standin.calls_to("chat.postMessage")] == [token]
    assert any(u.endswith("chat.postEphemeral") for u in urls)
    assert any(u.endswith("chat.postMessage") for u in urls)


def test_listeners_of_a_single_workspace_app_reply_through_the_pool(bolt_app, slack_http: SlackHttp, slack_standin, sent_through_pool):
    seen = _probe(bolt_app)
    assert slack_http.command("/probe").status_code == 200
    _check_probe(seen, slack_standin, sent_through_pool, TOKEN)


def test_listeners_of_an_oauth_app_reply_through_the_pool_with_the_installation_token(
        slack_standin: SlackStandIn, engine, sent_through_pool):
    settings = Settings(
        slack_signing_secret=SIGNING_SECRET, slack_client_id="111.222", slack_client_secret="client-secret-value",
        encryption_key=Fernet.generate_key().decode(), slack_api_url=slack_standin.api_url, default_workspace=TEAM,
    )
    app = build_app(settings, engine=engine)
    app.oauth_flow.settings.installation_store.save(Installation(
        app_id="A0NORTHSTAR", team_id=TEAM, bot_token="xoxb-installed-token", bot_id="B0NORTH", bot_user_id="U0BOT",
        bot_scopes=["commands", "chat:write"], user_id="U0INSTALLER", installed_at=time.time()))
    seen = _probe(app)
    assert SlackHttp(build_asgi(app, engine=engine)).command("/probe").status_code == 200
    _check_probe(seen, slack_standin, sent_through_pool, "xoxb-installed-token")


def test_a_real_listener_replies_through_the_pool(slack_http: SlackHttp, slack_standin: SlackStandIn, sent_through_pool):
    slack_http.command("/explain", "help", channel=FRAUD_CHANNEL_ID, user=USER)
    [reply] = slack_standin.wait_for("chat.postEphemeral")
    assert reply.params["user"] == USER
    assert sent_through_pool == [slack_standin.api_url + "chat.postEphemeral"]

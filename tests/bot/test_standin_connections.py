"""The stand-in keeps connections alive as Slack does, and answers nothing once stopped."""

from __future__ import annotations

import json
import time
from http.client import HTTPConnection

import pytest
from slack_sdk import WebClient

from bot.standin import SlackStandIn


def _post(connection: HTTPConnection, method: str, text: str) -> dict:
    body = json.dumps({"channel": "C1", "text": text}).encode()
    headers = {"Content-Type": "application/json", "Authorization": "Bearer xoxb-standin-token"}
    connection.request("POST", f"/api/{method}", body, headers)
    response = connection.getresponse()
    return json.loads(response.read())


def _wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def connection(slack_standin: SlackStandIn):
    host, port = slack_standin.base_url.removeprefix("http://").split(":")
    connection = HTTPConnection(host, int(port), timeout=5)
    yield connection
    connection.close()


def test_answers_many_calls_over_one_connection(slack_standin: SlackStandIn, connection):
    answers = [_post(connection, "chat.postMessage", f"m{n}") for n in range(3)]
    assert all(a["ok"] for a in answers)
    assert slack_standin.connections_accepted == 1
    assert [c.params["text"] for c in slack_standin.calls_to("chat.postMessage")] == ["m0", "m1", "m2"]


def test_a_client_asking_to_close_gets_its_connection_closed(slack_standin: SlackStandIn):
    # slack-sdk's own urllib transport sends "Connection: close" with every call.
    client = WebClient(token="xoxb-standin-token", base_url=slack_standin.api_url)
    for n in range(3):
        client.chat_postMessage(channel="C1", text=f"m{n}")
    assert slack_standin.connections_accepted == 3
    _wait_until(lambda: slack_standin.open_connections == 0)


def test_stop_closes_kept_alive_connections_so_nothing_answers_after_it(slack_standin: SlackStandIn, connection):
    assert _post(connection, "chat.postMessage", "before")["ok"]
    assert slack_standin.open_connections == 1
    slack_standin.stop()
    with pytest.raises((ConnectionError, OSError)):
        _post(connection, "chat.postMessage", "after")
    assert [c.params["text"] for c in slack_standin.calls_to("chat.postMessage")] == ["before"]
    _wait_until(lambda: slack_standin.open_connections == 0)


def test_close_connections_hangs_up_like_a_server_closing_idle_ones(slack_standin: SlackStandIn, connection):
    assert _post(connection, "chat.postMessage", "before")["ok"]
    slack_standin.close_connections()
    _wait_until(lambda: slack_standin.open_connections == 0)
    connection.close()  # the client notices and connects again
    assert _post(connection, "chat.postMessage", "after")["ok"]
    assert slack_standin.connections_accepted == 2

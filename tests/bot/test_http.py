"""HTTP mode: signatures, health, metrics."""

from __future__ import annotations

import logging
import os
import time
from urllib.parse import urlencode

from tests.bot.conftest import SIGNING_SECRET, SlackHttp


def _command_body() -> str:
    return urlencode({"command": "/explain", "text": "help", "team_id": "T0FRAUD01", "user_id": "U1", "channel_id": "C1"})


def test_a_signed_command_is_acknowledged(slack_http: SlackHttp, slack_standin):
    response = slack_http.command("/explain", "help")
    assert response.status_code == 200
    usage = slack_standin.wait_for("chat.postEphemeral")[0].params
    assert "/explain <term>" in usage["text"]


def test_a_bad_signature_is_refused(slack_http: SlackHttp, slack_standin):
    response = slack_http.post(_command_body(), content_type="application/x-www-form-urlencoded", signature="v0=" + "0" * 64)
    assert response.status_code == 401
    assert [c.method for c in slack_standin.calls if c.method != "auth.test"] == []


def test_a_stale_timestamp_is_refused_even_when_correctly_signed(slack_http: SlackHttp):
    stale = int(time.time()) - 301
    response = slack_http.post(_command_body(), content_type="application/x-www-form-urlencoded", timestamp=stale)
    assert response.status_code == 401


def test_a_future_timestamp_is_refused(slack_http: SlackHttp):
    response = slack_http.post(_command_body(), content_type="application/x-www-form-urlencoded", timestamp=int(time.time()) + 301)
    assert response.status_code == 401


def test_missing_signature_headers_are_refused(slack_http: SlackHttp):
    response = slack_http.post(_command_body(), content_type="application/x-www-form-urlencoded",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 401


def test_a_body_signed_with_another_secret_is_refused(slack_http: SlackHttp, bolt_app, engine):
    from bot.http import build_asgi

    impostor = SlackHttp(build_asgi(bolt_app, engine=engine), secret=SIGNING_SECRET[::-1])
    assert impostor.command("/explain", "help").status_code == 401


def test_failed_signature_bodies_never_reach_the_logs(slack_http: SlackHttp, caplog):
    secret_words = "confidential-launch-plan"
    body = urlencode({"command": "/explain", "text": secret_words, "team_id": "T1", "user_id": "U1", "channel_id": "C1"})
    bolt = logging.getLogger("slack_bolt")
    previous = bolt.level
    bolt.setLevel(logging.DEBUG)  # even a debugging deployment must not log the body
    try:
        with caplog.at_level(logging.DEBUG):
            response = slack_http.post(body, content_type="application/x-www-form-urlencoded", signature="v0=bad")
    finally:
        bolt.setLevel(previous)
    assert response.status_code == 401
    assert secret_words not in caplog.text
    assert logging.getLogger("slack_bolt.RequestVerification").getEffectiveLevel() >= logging.WARNING


def test_healthz_reports_a_current_schema(slack_http: SlackHttp):
    response = slack_http.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["pid"] == os.getpid()  # which worker process answered


def test_healthz_fails_without_a_schema(bolt_app, tmp_path):
    from bot.http import build_asgi
    from storage.db import make_engine

    empty = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    response = SlackHttp(build_asgi(bolt_app, engine=empty)).get("/healthz")
    empty.dispose()
    assert response.status_code == 503
    assert "northstar db upgrade" in response.json()["reason"]
    assert response.json()["pid"] == os.getpid()


def test_metrics_count_requests_and_read_the_outbox(slack_http: SlackHttp, slack_standin):
    slack_http.command("/explain", "help")
    slack_standin.wait_for("chat.postEphemeral")
    text = slack_http.get("/metrics").text
    assert 'northstar_slack_requests_total{kind="command",status="200"} 1' in text
    assert 'northstar_slack_request_seconds_count{kind="command"} 1' in text
    assert "northstar_outbox_depth 0" in text
    assert "northstar_pull_failures 0" in text
    assert "northstar_database_up 1" in text


def test_the_ack_does_not_wait_for_slow_work(slack_http: SlackHttp, slack_standin, seeded, monkeypatch):
    from bot.listeners.store import Store

    original = Store.contracts

    def slow_contracts(self, team_id):
        time.sleep(1.5)
        return original(self, team_id)

    monkeypatch.setattr(Store, "contracts", slow_contracts)
    started = time.monotonic()
    response = slack_http.command("/tradeoff")
    acked_in = time.monotonic() - started
    assert response.status_code == 200
    assert acked_in < 1.0
    assert slack_standin.wait_for("chat.postEphemeral")[0].at - started >= 1.5

"""`northstar run --http` as a real process: migrated-schema check, signed requests, metrics, shutdown."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier

from bot.standin import SlackStandIn
from storage.db import make_engine
from tests.bot.conftest import FRAUD_CHANNEL_ID, FRAUD_CHANNEL_NAME, SIGNING_SECRET, TEAM, seed_contract

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(database_url: str, api_url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SLACK_", "NORTHSTAR_", "DATABASE_URL"))}
    env.update({
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": "xoxb-standin-token",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": api_url,
        "NORTHSTAR_DEFAULT_WORKSPACE": TEAM,
        "NORTHSTAR_LOG_LEVEL": "WARNING",
        # Run from this checkout whichever virtualenv the tests use.
        "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    })
    return env


def _northstar(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli", *args]


def _run_command(port: int) -> list[str]:
    return _northstar("run", "--http", "--no-scheduler", "--host", "127.0.0.1", "--port", str(port))


def _signed(body: str, secret: str = SIGNING_SECRET) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body),
    }


def _command(command: str, text: str, user: str) -> str:
    return urlencode({
        "token": "legacy-unused",
        "team_id": TEAM,
        "team_domain": "northstar",
        "channel_id": FRAUD_CHANNEL_ID,
        "channel_name": FRAUD_CHANNEL_NAME,
        "user_id": user,
        "user_name": "analyst",
        "command": command,
        "text": text,
        "api_app_id": "A0NORTHSTAR",
        "response_url": "https://hooks.slack.invalid/commands/1",
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
    })


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    server = SlackStandIn(team_id=TEAM).start()
    try:
        yield server
    finally:
        server.stop()


def test_an_unmigrated_database_refuses_to_serve_and_names_the_fix(tmp_path: Path, standin: SlackStandIn):
    env = _env(f"sqlite:///{tmp_path / 'fresh.db'}", standin.api_url)
    result = subprocess.run(_run_command(_free_port()), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=STARTUP_TIMEOUT_S)
    assert result.returncode != 0
    assert "northstar db upgrade" in (result.stdout + result.stderr)
    assert standin.calls == []  # refused before touching Slack


def test_the_http_server_answers_signed_commands_and_reports_metrics(tmp_path: Path, standin: SlackStandIn):
    database_url = f"sqlite:///{tmp_path / 'northstar.db'}"
    env = _env(database_url, standin.api_url)
    upgrade = subprocess.run(_northstar("db", "upgrade"), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=STARTUP_TIMEOUT_S)
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    # The contract makes /explain answer in the fraud team's words, as in production.
    engine = make_engine(database_url)
    seed_contract(engine, TEAM)
    engine.dispose()

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(_run_command(port), cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=base, timeout=5.0) as client:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while True:
                assert server.poll() is None, f"server exited with {server.returncode}:\n{log.read_text()}"
                try:
                    health = client.get("/healthz")
                    if health.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, f"/healthz not 200 within {STARTUP_TIMEOUT_S} s:\n{log.read_text()}"
                time.sleep(0.1)
            assert health.json()["status"] == "ok"

            body = _command("/explain", "precision", "U0ANALYST")
            assert client.post("/slack/events", content=body.encode(), headers=_signed(body)).status_code == 200
            forged = _command("/explain", "precision", "U0FORGER1")
            assert client.post("/slack/events", content=forged.encode(), headers=_signed(forged, secret="not-the-secret")).status_code == 401

            malformed = urlencode({"payload": '{"type": "block_actions", "actions": "not a list"}'})
            assert client.post("/slack/events", content=malformed.encode(), headers=_signed(malformed)).status_code == 400

            reply = standin.wait_for("chat.postEphemeral", timeout=10)[0].params
            assert reply["user"] == "U0ANALYST" and reply["channel"] == FRAUD_CHANNEL_ID
            assert "precision" in (reply["text"] + str(reply.get("blocks"))).lower()
            assert "fraud-screening" in str(reply.get("blocks"))  # answered in the contract's terms

            metrics = client.get("/metrics")
            assert metrics.status_code == 200
            assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
            assert "# TYPE northstar_slack_requests_total counter" in metrics.text
            assert 'northstar_slack_requests_total{kind="command",status="200"} 1' in metrics.text
            assert 'northstar_slack_requests_total{kind="command",status="401"} 1' in metrics.text
            assert "northstar_database_up 1" in metrics.text

        # The forged request never reached a listener.
        assert [c.params["user"] for c in standin.calls_to("chat.postEphemeral")] == ["U0ANALYST"]
        server.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught: the process must
        # unwind from it (stopping the scheduler and outbox worker), not be ended by it.
        assert server.wait(timeout=10) == 0, log.read_text()
        # The app's own warnings reach the process's output, formatted, not only uvicorn's.
        refused = [line for line in log.read_text().splitlines() if " WARNING bot.http " in line and "actions is not a list" in line]
        assert len(refused) == 1, log.read_text()
        # Bolt's "`token` will be unused" warning, about the token the client already carries, is not shown.
        assert "will be unused" not in log.read_text()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=5)

"""The app's wiring: the global error handler, Web API retries, multi-workspace OAuth."""

from __future__ import annotations

import json
import logging
import re
import time

import pytest
from cryptography.fernet import Fernet
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import text

from bot.app import build_app
from bot.settings import Settings
from bot.listeners.store import Store
from tests.bot.conftest import SIGNING_SECRET, TEAM, SlackHttp


def test_an_unexpected_error_gives_the_user_a_reference_and_the_log_the_traceback(
    slack_http: SlackHttp, slack_standin, seeded, monkeypatch, caplog
):
    def explode(self, team_id):
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(Store, "contracts", explode)
    with caplog.at_level(logging.ERROR, logger="bot.app"):
        slack_http.command("/explain", "precision")
        answer = slack_standin.wait_for("chat.postEphemeral")[0].params
    match = re.search(r"Something went wrong \(ref ([A-Z0-9]{6})\)", answer["text"])
    assert match, answer["text"]
    assert "hunter2" not in json.dumps(answer) and "Traceback" not in json.dumps(answer)
    record = next(r for r in caplog.records if match.group(1) in r.getMessage())
    assert record.exc_info is not None and "hunter2" in str(record.exc_info[1])


def test_a_rate_limited_reply_is_retried_after_retry_after(slack_http: SlackHttp, slack_standin):
    slack_standin.fail("chat.postEphemeral", status=429, retry_after=1)
    started = time.monotonic()
    slack_http.command("/explain", "help")
    calls = slack_standin.wait_for("chat.postEphemeral", count=2)
    assert calls[1].at - calls[0].at >= 0.9
    assert time.monotonic() - started < 10


def test_a_server_error_is_retried(slack_http: SlackHttp, slack_standin):
    slack_standin.fail("chat.postEphemeral", status=500)
    slack_http.command("/metric", "help")
    assert len(slack_standin.wait_for("chat.postEphemeral", count=2)) == 2


@pytest.fixture
def oauth_settings(slack_standin) -> Settings:
    return Settings(
        slack_signing_secret=SIGNING_SECRET,
        slack_client_id="111.222",
        slack_client_secret="client-secret-value",
        encryption_key=Fernet.generate_key().decode(),
        slack_api_url=slack_standin.api_url,
        default_workspace=TEAM,
    )


def test_oauth_stores_bot_tokens_encrypted_and_reads_them_back(oauth_settings, engine):
    app = build_app(oauth_settings, engine=engine)
    store = app.oauth_flow.settings.installation_store
    store.save(
        Installation(app_id="A0NORTHSTAR", team_id="T0NEWTEAM", bot_token="xoxb-very-secret", bot_id="B1", bot_user_id="U0BOT",
                     bot_scopes=["commands"], user_id="U0INSTALLER", installed_at=time.time())
    )
    with engine.connect() as connection:
        raw = connection.execute(text("SELECT bot_token FROM slack_bots")).scalars().all()
        raw += connection.execute(text("SELECT bot_token FROM slack_installations")).scalars().all()
    assert raw and all(value and "xoxb" not in value for value in raw)
    bot = store.find_bot(enterprise_id=None, team_id="T0NEWTEAM")
    assert bot.bot_token == "xoxb-very-secret"
    assert store.find_installation(enterprise_id=None, team_id="T0NEWTEAM").bot_token == "xoxb-very-secret"


def test_oauth_install_page_is_served(oauth_settings, engine):
    from bot.http import build_asgi

    app = build_app(oauth_settings, engine=engine)
    response = SlackHttp(build_asgi(app, engine=engine)).get("/slack/install")
    assert response.status_code in (200, 302)
    assert "111.222" in response.text or "111.222" in response.headers.get("location", "")


def test_an_uninstall_deletes_the_workspaces_installation(oauth_settings, engine):
    from bot.http import build_asgi

    app = build_app(oauth_settings, engine=engine)
    store = app.oauth_flow.settings.installation_store
    store.save(Installation(app_id="A0NORTHSTAR", team_id="T0NEWTEAM", bot_token="xoxb-gone", bot_id="B1", bot_user_id="U0BOT",
                            user_id="U0INSTALLER", installed_at=time.time()))
    event = {
        "token": "unused", "team_id": "T0NEWTEAM", "api_app_id": "A0NORTHSTAR", "type": "event_callback",
        "event": {"type": "app_uninstalled", "event_ts": "1700000000.1"}, "event_id": "Ev1", "event_time": 1700000000,
    }
    response = SlackHttp(build_asgi(app, engine=engine)).post(json.dumps(event), content_type="application/json")
    assert response.status_code == 200
    deadline = time.monotonic() + 5
    while store.find_bot(enterprise_id=None, team_id="T0NEWTEAM") is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.find_bot(enterprise_id=None, team_id="T0NEWTEAM") is None


def test_oauth_without_an_encryption_key_fails_fast(oauth_settings, engine):
    from bot.settings import ConfigError

    with pytest.raises(ConfigError, match="NORTHSTAR_ENCRYPTION_KEY"):
        build_app(oauth_settings.model_copy(update={"encryption_key": None}), engine=engine)


def test_socket_mode_needs_an_app_token(settings, engine):
    from bot.runner import run_socket
    from bot.settings import ConfigError

    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN"):
        run_socket(settings, engine=engine)


def test_socket_mode_builds_without_a_signing_secret(settings, engine, web_client):
    app = build_app(settings.model_copy(update={"slack_signing_secret": None}), engine=engine, client=web_client, socket_mode=True)
    assert app is not None


def test_build_app_wires_the_launch_command(slack_http: SlackHttp, slack_standin):
    slack_http.command("/launch", "")
    assert "/launch" in slack_standin.wait_for("chat.postEphemeral")[0].params["text"]

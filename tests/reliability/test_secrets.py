"""Secrets stay secret: bot tokens, the signing secret, the OAuth client secret, the encryption key
and database passwords never surface anywhere a person or another system could read them.

Every test runs with distinctive fake secrets loaded the way production loads them (environment
variables read by the settings class), captures every log record of every logger at DEBUG (the
SDKs', SQLAlchemy's, the HTTP libraries', the scheduler's and the app's own) plus whatever reaches
stdout and stderr, drives a failure, and then searches everything it can read for each secret
in its raw, URL-quoted and base64 forms:

* the logs and the process output (tracebacks included, with their chained causes);
* every HTTP answer of the app, ``GET /metrics`` and ``GET /healthz``;
* the parameters of every Web API call the Slack stand-in received (what Slack would display);
* every row of every table of the bot's database (snapshot errors, outbox payloads and errors,
  and the installation tables, whose tokens must be ciphertext);
* the output of the ``northstar`` command line.

Each scenario also checks that the failure really happened and was recorded (a search of output
that never mentioned the failure would prove nothing). The last tests read the raw installation
tables with plain SQL and check that their token columns are Fernet ciphertext that the key
opens, after an OAuth install and after a direct save.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Engine, inspect, text

from bot.app import build_app
from bot.http import build_asgi
from bot.listeners.store import Store
from bot.outbox_worker import OutboxWorker, failed_delivery_findings, outbox_status
from bot.settings import ConfigError, Settings, load_settings
from bot.slack_client import retry_handlers
from bot.standin import SlackStandIn
from bot.workers import make_client_for_team
from storage.db import make_engine, session_scope
from storage.outbox import enqueue_message
from tests.bot.conftest import FRAUD_CHANNEL_ID, REPO, TEAM, USER, SlackHttp, seed_contract
from tests.reliability.conftest import TrackedExecutor

# --- the secrets ------------------------------------------------------------------------------
# Each carries a word that appears nowhere else, so that a secret cut short or re-encoded in a way
# the forms below miss is still found by its distinctive part.

CLIENT_ID = "1111111111.2222222222"
BOT_TOKEN = "xoxb-1000000001-2000000001-nsSingleBotCanary7Qx"
OAUTH_BOT_TOKEN = "xoxb-1000000002-2000000002-nsSecondTeamCanary9Zr"
OAUTH_REFRESH_TOKEN = "xoxe-1-nsBotRefreshCanary4Lm"
USER_TOKEN = "xoxp-1000000003-2000000003-nsInstallerCanary2Wd"
USER_REFRESH_TOKEN = "xoxe-1-nsUserRefreshCanary6Hk"
SIGNING_SECRET = "nsSigningCanary8c1f0e2d4b6a8c0e"
CLIENT_SECRET = "nsClientSecretCanary5e7f9a1b3c"
ENCRYPTION_KEY = base64.urlsafe_b64encode(b"nsEncryptionKeyCanary-0123456789").decode()
# Characters that must be quoted in a URL, so the quoted and raw forms differ.
WAREHOUSE_PASSWORD = "nsWh/P@ss:w0rd%Canary"
DATABASE_PASSWORD = "nsDbP@ss#Canary"

SECRETS = {
    "bot token": (BOT_TOKEN, "nsSingleBotCanary"),
    "second workspace's bot token": (OAUTH_BOT_TOKEN, "nsSecondTeamCanary"),
    "bot refresh token": (OAUTH_REFRESH_TOKEN, "nsBotRefreshCanary"),
    "user token": (USER_TOKEN, "nsInstallerCanary"),
    "user refresh token": (USER_REFRESH_TOKEN, "nsUserRefreshCanary"),
    "signing secret": (SIGNING_SECRET, "nsSigningCanary"),
    "OAuth client secret": (CLIENT_SECRET, "nsClientSecretCanary"),
    "encryption key": (ENCRYPTION_KEY, "nsEncryptionKeyCanary"),
    "warehouse password": (WAREHOUSE_PASSWORD, "nsWh/P@ss"),
    "database password": (DATABASE_PASSWORD, "nsDbP@ss"),
}

OAUTH_TEAM = "T0SECOND2"
OAUTH_CODE = "oauth-code-4242"
OTHER_USER = "U0SECOND1"


def _b64(value: str) -> set[str]:
    raw = value.encode()
    return {base64.b64encode(raw).decode().rstrip("="), base64.urlsafe_b64encode(raw).decode().rstrip("=")}


def forms(value: str) -> set[str]:
    """How a secret could appear: as is, URL-quoted (either way), JSON-escaped, base64."""
    found = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1], *_b64(value)}
    return {f for f in found if f}


def forbidden() -> dict[str, set[str]]:
    table = {name: forms(value) | {marker} for name, (value, marker) in SECRETS.items()}
    # HTTP basic auth of oauth.v2.access carries the client secret as base64("id:secret").
    table["OAuth client secret"] |= _b64(f"{CLIENT_ID}:{CLIENT_SECRET}")
    return table


# --- where secrets could surface ---------------------------------------------------------------

WATCHED_LOGGERS = (
    "", "bot", "storage", "metrics", "slack_bolt", "slack_sdk", "sqlalchemy", "httpx", "httpcore", "urllib3",
    "apscheduler", "uvicorn", "uvicorn.error", "uvicorn.access", "starlette", "asyncio", "alembic", "psycopg",
)
_RECORD_FIELDS = set(vars(logging.makeLogRecord({})))


def hidden_loggers() -> list[str]:
    """Loggers whose DEBUG records would not reach the search, besides the one the app quiets on purpose."""
    from bot.app import REQUEST_VERIFICATION_LOGGER

    return sorted(
        name for name, found in logging.Logger.manager.loggerDict.items()
        if isinstance(found, logging.Logger) and name != REQUEST_VERIFICATION_LOGGER
        and (found.disabled or not found.propagate or found.level > logging.DEBUG)
    )


class EveryRecord(logging.Handler):
    """Keeps every record of every logger, rendered as a log file would show it, plus its extras."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(threadName)s: %(message)s"))
        self.lines: list[str] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            rendered = self.format(record)  # the message, and the traceback with its chained causes
        except Exception as exc:  # a record that cannot be formatted still has to be searched
            rendered = f"{record.name}: unformattable {record.msg!r} {record.args!r} ({exc})"
        extras = {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS and k not in ("message", "asctime")}
        if extras:
            rendered += f" extras={extras!r}"
        if record.exc_info and record.exc_info[1] is not None:
            rendered += f" exception-args={record.exc_info[1].args!r}"
        with self._guard:
            self.lines.append(rendered)

    def text(self) -> str:
        with self._guard:
            return "\n".join(self.lines)


@dataclass
class Exposure:
    """Everything a secret could reach in one test, and the search over it."""

    capfd: pytest.CaptureFixture
    records: EveryRecord = field(default_factory=EveryRecord)
    places: list[tuple[str, str]] = field(default_factory=list)

    def add(self, where: str, value: Any) -> None:
        self.places.append((where, value if isinstance(value, str) else repr(value)))

    def response(self, where: str, response: httpx.Response) -> httpx.Response:
        self.add(f"HTTP answer to {where}", f"{response.status_code} {dict(response.headers)!r} {response.text}")
        return response

    def standin(self, standin: SlackStandIn) -> None:
        # What the app sent (Slack's own answers carry tokens by design: oauth.v2.access).
        for call in list(standin.calls):
            self.add(f"Slack call {call.method}", json.dumps(call.params, default=str))

    def database(self, engine: Engine) -> dict[str, list[dict]]:
        """Every row of every table, read with plain SQL."""
        dump: dict[str, list[dict]] = {}
        with engine.connect() as connection:
            for table in inspect(connection).get_table_names():
                rows = connection.execute(text(f'SELECT * FROM "{table}"')).mappings().all()
                dump[table] = [dict(r) for r in rows]
                for row in dump[table]:
                    self.add(f"database table {table}", json.dumps(row, default=str))
        return dump

    def surfaces(self, http: SlackHttp) -> None:
        for path in ("/metrics", "/healthz"):
            self.response(f"GET {path}", http.get(path))

    def haystack(self) -> list[tuple[str, str]]:
        out, err = self.capfd.readouterr()
        # Keep what was read for a later call in the same test.
        self.places += [("stdout", out), ("stderr", err)]
        return [("logs", self.records.text()), *self.places]

    def assert_clean(self, *, extra: dict[str, set[str]] | None = None) -> None:
        assert hidden_loggers() == [], "some records were kept from the search"
        leaks = []
        table = forbidden() | (extra or {})
        for where, content in self.haystack():
            for name, variants in table.items():
                for variant in variants:
                    at = content.find(variant)
                    if at >= 0:
                        leaks.append(f"{name} in {where}: …{content[max(0, at - 150):at + len(variant) + 60]}…")
                        break
        assert not leaks, "secrets surfaced:\n" + "\n".join(leaks[:20])

    def logs(self) -> str:
        return self.records.text()


@pytest.fixture
def exposure(capfd: pytest.CaptureFixture) -> Iterator[Exposure]:
    """Every record of every logger reaches the root at DEBUG for the test (settings restored after)."""
    watch = Exposure(capfd=capfd)
    root = logging.getLogger()
    for name in WATCHED_LOGGERS:
        logging.getLogger(name)  # exist, so that the loop below sets them
    saved = {}
    for name in [*hidden_loggers(), *WATCHED_LOGGERS]:
        found = logging.getLogger(name)
        saved[name] = (found.level, found.disabled, found.propagate)
        found.setLevel(logging.DEBUG)
        found.disabled, found.propagate = False, True
    root.addHandler(watch.records)
    try:
        yield watch
    finally:
        root.removeHandler(watch.records)
        for name, (level, disabled, propagate) in saved.items():
            found = logging.getLogger(name)
            found.setLevel(level)
            found.disabled, found.propagate = disabled, propagate


# --- the app, configured from the environment as in production ---------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def warehouse_url(shape: str, port: int) -> str:
    quoted = quote(WAREHOUSE_PASSWORD, safe="")
    if shape == "authority":
        return f"postgresql+psycopg://reader:{quoted}@127.0.0.1:{port}/analytics"
    if shape == "query":
        return f"postgresql+psycopg://reader@127.0.0.1:{port}/analytics?password={quoted}&sslmode=disable"
    raise ValueError(shape)


def database_url(engine: Engine) -> str:
    """The URL of the test database, with a password (PostgreSQL's trust login ignores it)."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return url.render_as_string(hide_password=False)
    with engine.connect() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    return url.set(password=DATABASE_PASSWORD, query={"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch, standin: SlackStandIn) -> pytest.MonkeyPatch:
    """Every secret in the environment, where the settings class reads it from."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("NORTHSTAR_ENCRYPTION_KEY", ENCRYPTION_KEY)
    monkeypatch.setenv("SLACK_API_URL", standin.api_url)
    monkeypatch.setenv("NORTHSTAR_DEFAULT_WORKSPACE", TEAM)
    # Two warehouses, the password in the URL's authority and in its query string.
    monkeypatch.setenv("NORTHSTAR_WAREHOUSE_DEMO_URL", warehouse_url("authority", closed_port()))
    monkeypatch.setenv("NORTHSTAR_WAREHOUSE_ANALYTICS_URL", warehouse_url("query", closed_port()))
    return monkeypatch


@pytest.fixture
def single_settings(secret_env) -> Settings:
    return load_settings()


@pytest.fixture
def oauth_settings(secret_env) -> Settings:
    secret_env.setenv("SLACK_CLIENT_ID", CLIENT_ID)
    secret_env.setenv("SLACK_CLIENT_SECRET", CLIENT_SECRET)
    return load_settings()


class OAuthStandIn(SlackStandIn):
    """The stand-in, also answering ``oauth.v2.access`` the way Slack does for a granted code."""

    # The token of the request being answered (one thread per request).
    _asking = threading.local()

    def _handle(self, request) -> None:
        self._asking.token = (request.headers.get("Authorization") or "").removeprefix("Bearer ") or None
        super()._handle(request)

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "oauth.v2.access":
            if params.get("code") != OAUTH_CODE:
                return {"ok": False, "error": "invalid_code"}
            return {
                "ok": True, "app_id": "A0NORTHSTAR", "token_type": "bot", "scope": "commands,chat:write",
                "access_token": OAUTH_BOT_TOKEN, "refresh_token": OAUTH_REFRESH_TOKEN, "expires_in": 43200,
                "bot_user_id": "U0BOTTWO", "team": {"id": OAUTH_TEAM, "name": "Second"}, "enterprise": None,
                "is_enterprise_install": False,
                "authed_user": {"id": OTHER_USER, "scope": "search:read", "token_type": "user", "access_token": USER_TOKEN,
                                "refresh_token": USER_REFRESH_TOKEN, "expires_in": 43200},
            }
        if method == "auth.test" and getattr(self._asking, "token", None) == OAUTH_BOT_TOKEN:
            # auth.test answers for the workspace whose token asks, as on Slack.
            return {**super()._answer(method, params), "team_id": OAUTH_TEAM, "bot_id": "B0SECOND", "user_id": "U0BOTTWO"}
        return super()._answer(method, params)


@pytest.fixture(scope="module")
def shared_standin() -> Iterator[OAuthStandIn]:
    server = OAuthStandIn(team_id=TEAM).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def standin(shared_standin: OAuthStandIn) -> OAuthStandIn:
    """One stand-in for the module (stopping one takes half a second), emptied for each test."""
    shared_standin.clear_failures()
    with shared_standin._lock:
        shared_standin.calls.clear()
        shared_standin.uploads.clear()
    return shared_standin


def make_http(settings: Settings, engine: Engine, standin: SlackStandIn, executor: TrackedExecutor) -> tuple[Any, SlackHttp]:
    """The app as `northstar run --http` builds it, its Web API client on the stand-in."""
    handlers = retry_handlers()
    for handler in handlers:
        # The same retries as in production, without the pauses between them.
        handler.interval_calculator = FixedValueRetryIntervalCalculator(0.0)
    client = WebClient(base_url=standin.api_url, retry_handlers=handlers)
    app = build_app(settings, engine=engine, client=client, pull_requester=lambda **kw: None, listener_executor=executor)
    return app, SlackHttp(build_asgi(app, engine=engine, signing_secret=SIGNING_SECRET), secret=SIGNING_SECRET)


# Where the bot's database plays no part in what is checked, SQLite alone; where it keeps what is
# checked (errors, outbox, installations), both databases through the `engine` fixture.
SQLITE_ONLY = pytest.mark.parametrize("blank_engine", ["sqlite"], indirect=True)
POSTGRES_ONLY = pytest.mark.parametrize("blank_engine", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def deliver(engine: Engine, settings: Settings, clock: FakeClock, passes: int = 1) -> None:
    """Run the outbox worker the way `northstar run` does, with the clock moved between passes."""
    worker = OutboxWorker(engine=engine, client_for_team=make_client_for_team(settings, engine), worker_id="secrets",
                          clock=clock, sleep=clock.sleep, jitter=lambda: 0.0, max_attempts=2)
    for _ in range(passes):
        worker.run_once()
        clock.sleep(3600)


# --- OAuth: install, a bad code, a bad state ----------------------------------------------------


def install_through_oauth(http: SlackHttp, exposure: Exposure, *, code: str = OAUTH_CODE) -> httpx.Response:
    """/slack/install, then Slack's redirect back with the state the install page set in a cookie."""
    page = exposure.response("GET /slack/install", http.get("/slack/install"))
    assert page.status_code in (200, 302), page.text
    cookie = page.headers["set-cookie"].split(";")[0]
    state = cookie.split("=", 1)[1]
    assert f"state={state}" in page.text.replace("&amp;", "&")
    query = urlencode({"code": code, "state": state})
    return exposure.response("GET /slack/oauth_redirect", http.request("GET", f"/slack/oauth_redirect?{query}", headers={"cookie": cookie}))


def test_an_oauth_install_keeps_every_secret_out_of_sight(oauth_settings, engine, standin, executor, exposure):
    app, http = make_http(oauth_settings, engine, standin, executor)

    done = install_through_oauth(http, exposure)
    assert done.status_code == 200, done.text
    [access] = standin.calls_to("oauth.v2.access")
    # The client secret went to Slack, in the basic-auth header only.
    assert access.token == "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()

    # The new workspace is served with its own token, decrypted from the store.
    before = len(standin.calls)
    exposure.response("/explain from the new workspace", http.command("/explain", "help", team=OAUTH_TEAM, user=OTHER_USER))
    assert executor.drain() == []
    replies = [c for c in standin.calls[before:] if c.method == "chat.postEphemeral"]
    assert [c.token for c in replies] == [OAUTH_BOT_TOKEN]

    exposure.surfaces(http)
    exposure.standin(standin)
    tables = exposure.database(engine)
    assert any(row.get("team_id") == OAUTH_TEAM for row in tables["slack_bots"])
    assert "Sending a request" in exposure.logs(), "slack_sdk's DEBUG records were not captured"
    exposure.assert_clean()


@SQLITE_ONLY
@pytest.mark.parametrize("failure", ["invalid_code", "slack_500", "invalid_state", "no_cookie"])
def test_a_failed_oauth_install_keeps_the_client_secret_out_of_sight(failure, oauth_settings, engine, standin, executor, exposure):
    app, http = make_http(oauth_settings, engine, standin, executor)
    if failure == "invalid_code":
        answer = install_through_oauth(http, exposure, code="not-a-granted-code")
    elif failure == "slack_500":
        standin.fail("oauth.v2.access", status=500, times=None)
        answer = install_through_oauth(http, exposure)
    else:
        exposure.response("GET /slack/install", http.get("/slack/install"))
        query = urlencode({"code": OAUTH_CODE, "state": "forged-state"})
        headers = {"cookie": "slack-app-oauth-state=forged-state"} if failure == "invalid_state" else {}
        answer = exposure.response("GET /slack/oauth_redirect", http.request("GET", f"/slack/oauth_redirect?{query}", headers=headers))
    assert answer.status_code in (400, 401, 500), answer.text
    if failure in ("invalid_code", "slack_500"):
        assert "Failed to fetch oauth.v2.access" in exposure.logs()
    else:
        assert standin.calls_to("oauth.v2.access") == []
    exposure.surfaces(http)
    exposure.standin(standin)
    tables = exposure.database(engine)
    assert tables["slack_bots"] == [] and tables["slack_installations"] == []
    exposure.assert_clean()


# --- Slack refusing the bot --------------------------------------------------------------------

SLACK_FAILURES = {
    "invalid_auth": dict(error="invalid_auth"),
    "token_revoked": dict(error="token_revoked"),
    "500": dict(status=500),
}


@SQLITE_ONLY
@pytest.mark.parametrize("failure", list(SLACK_FAILURES))
def test_a_command_reply_refused_by_slack_leaks_no_token(failure, single_settings, engine, standin, executor, exposure):
    seed_contract(engine, TEAM)
    app, http = make_http(single_settings, engine, standin, executor)
    standin.fail("chat.postEphemeral", times=None, **SLACK_FAILURES[failure])

    exposure.response("/explain", http.command("/explain", "precision"))
    assert executor.drain() == []

    replies = standin.calls_to("chat.postEphemeral")
    assert replies and {c.token for c in replies} == {BOT_TOKEN}, "the reply was not attempted with the bot token"
    assert "unhandled error (ref" in exposure.logs()
    exposure.surfaces(http)
    exposure.standin(standin)
    exposure.database(engine)
    exposure.assert_clean()


@SQLITE_ONLY
def test_a_token_slack_no_longer_accepts_stops_the_start_without_showing_it(single_settings, engine, standin, executor, exposure):
    # Bolt checks the token once, when the app is built, and serves requests with that answer;
    # a token revoked later shows as refused replies (test_a_command_reply_refused_by_slack_leaks_no_token).
    standin.fail("auth.test", error="invalid_auth", times=None)
    with pytest.raises(ConfigError) as refused:
        make_http(single_settings, engine, standin, executor)
    assert "Slack refused SLACK_BOT_TOKEN at start (invalid_auth)" in str(refused.value)
    assert [c.token for c in standin.calls_to("auth.test")] == [BOT_TOKEN]
    exposure.add("the start-up error", "".join(traceback.format_exception(refused.value)))
    exposure.standin(standin)
    exposure.assert_clean()


@SQLITE_ONLY
def test_slack_failing_at_start_is_not_taken_for_a_refused_token(single_settings, engine, standin, executor):
    # A 5xx may pass: the start fails as before (a supervisor tries again), not with the token advice.
    standin.fail("auth.test", status=500, times=None)
    with pytest.raises(Exception) as failed:
        make_http(single_settings, engine, standin, executor)
    assert not isinstance(failed.value, ConfigError) and "SLACK_BOT_TOKEN" not in str(failed.value)


def install_directly(settings: Settings, engine: Engine) -> None:
    """The second workspace's installation, saved the way the OAuth flow saves it."""
    from bot.oauth import make_installation_store

    make_installation_store(settings, engine).save(Installation(
        app_id="A0NORTHSTAR", team_id=OAUTH_TEAM, bot_token=OAUTH_BOT_TOKEN, bot_refresh_token=OAUTH_REFRESH_TOKEN,
        bot_token_expires_in=43200, bot_id="B0SECOND", bot_user_id="U0BOTTWO", bot_scopes=["commands", "chat:write"],
        user_id=OTHER_USER, user_token=USER_TOKEN, user_refresh_token=USER_REFRESH_TOKEN, user_token_expires_in=43200,
        user_scopes=["search:read"], installed_at=time.time(),
    ))


@pytest.mark.parametrize("mode", ["single workspace", "oauth"])
@pytest.mark.parametrize("failure", ["token_revoked", "500"])  # a permanent refusal (as invalid_auth), an outage
def test_outbox_delivery_refused_by_slack_records_the_reason_without_the_token(
    failure, mode, secret_env, engine, standin, exposure
):
    if mode == "oauth":
        secret_env.setenv("SLACK_CLIENT_ID", CLIENT_ID)
        secret_env.setenv("SLACK_CLIENT_SECRET", CLIENT_SECRET)
    settings = load_settings()
    team, token = (OAUTH_TEAM, OAUTH_BOT_TOKEN) if mode == "oauth" else (TEAM, BOT_TOKEN)
    if mode == "oauth":
        install_directly(settings, engine)
    clock = FakeClock(datetime(2026, 11, 16, 9, tzinfo=UTC))
    with session_scope(engine) as session:
        enqueue_message(session=session, team_id=team, idempotency_key=f"{team}:audit:1", kind="post", channel=FRAUD_CHANNEL_ID,
                        payload={"text": "weekly audit"}, now=clock())
    standin.fail("chat.postMessage", times=None, **SLACK_FAILURES[failure])

    deliver(engine, settings, clock, passes=3)

    posts = standin.calls_to("chat.postMessage")
    assert posts and {c.token for c in posts} == {token}
    [row] = outbox_status(engine)
    if failure == "500":
        # An outage: retried later (how long for is the worker's policy), the reason kept meanwhile.
        assert "HTTP 500" in row.last_error, row
    else:
        assert row.status == "failed" and failure in row.last_error, row
    findings = failed_delivery_findings(engine, team_id=team)
    exposure.add("the delivery failures the next audit lists", [(f.reason, f.error) for f in findings])
    exposure.standin(standin)
    exposure.database(engine)
    exposure.assert_clean()


# --- the warehouse unreachable ------------------------------------------------------------------

PULL_AT = datetime(2026, 11, 17, 7, tzinfo=UTC)


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.jobs.pull as pull_job

    monkeypatch.setattr(pull_job, "BACKOFF_S", 0.0)


def seed_both_warehouses(engine: Engine) -> list[str]:
    """fraud-screening reads warehouse demo; support-deflection is moved to warehouse analytics."""
    support = (REPO / "examples/contracts/support-deflection.yml").read_text().replace("warehouse: demo", "warehouse: analytics")
    assert "warehouse: analytics" in support
    seed_contract(engine, TEAM)
    seed_contract(engine, TEAM, support)
    return ["fraud-screening", "support-deflection"]


def test_an_unreachable_warehouse_is_reported_without_its_password(secret_env, engine, standin, executor, exposure, no_backoff):
    from bot.jobs.audit import post_audit
    from bot.jobs.pull import pull_contract

    settings = load_settings()
    for name in seed_both_warehouses(engine):
        report = pull_contract(engine=engine, settings_or_warehouse_factory=settings, team_id=TEAM, contract_name=name,
                               now=PULL_AT, sleep=lambda seconds: None)
        assert report.metrics and all(m.status == "failed" and m.attempts == 3 for m in report.metrics), report.metrics
        assert all("could not connect" in m.error for m in report.metrics), report.metrics
        exposure.add(f"the pull report of {name}", [report.summary(), *report.metrics])
        # The weekly audit lists the failed pulls; the pipeline alert says why; both go to Slack.
        post_audit(engine=engine, team_id=TEAM, contract_name=name, week_end=PULL_AT.date(), now=PULL_AT, with_chart=False)
    deliver(engine, settings, FakeClock(PULL_AT), passes=2)
    posted = [json.dumps(c.params) for c in standin.calls_to("chat.postMessage")]
    for channel in ("#fraud-ml", "#support-ai"):
        told = " ".join(p for p in posted if channel in p)
        assert "could not be pulled" in told and "could not connect" in told, (channel, posted)

    # What people ask in Slack about a metric after the failure.
    app, http = make_http(settings, engine, standin, executor)
    exposure.response("/metric", http.command("/metric", "fraud-screening fraud_recall"))
    exposure.response("/audit", http.command("/audit", "support-deflection"))
    assert executor.drain() == []

    exposure.surfaces(http)
    exposure.standin(standin)
    tables = exposure.database(engine)
    assert sum("could not connect" in (row.get("error") or "") for row in tables["metric_snapshots"]) >= 6
    exposure.assert_clean()


def test_northstar_pull_reports_an_unreachable_warehouse_without_any_password(secret_env, engine, exposure, no_backoff, monkeypatch):
    from typer.testing import CliRunner

    import storage.db
    from bot.cli import app as cli

    seed_both_warehouses(engine)
    secret_env.setenv("DATABASE_URL", database_url(engine))
    engines: list[Engine] = []
    make = storage.db.make_engine
    monkeypatch.setattr(storage.db, "make_engine", lambda *a, **kw: engines.append(make(*a, **kw)) or engines[-1])
    runner = CliRunner()
    try:
        pulled = runner.invoke(cli, ["pull", "--at", PULL_AT.strftime("%Y-%m-%dT%H:%M:%S")])
        listed = runner.invoke(cli, ["outbox"])
    finally:
        for opened in engines:  # the command leaves its engine to the process's exit
            opened.dispose()

    assert pulled.exit_code == 1, pulled.output
    assert "failed: " in pulled.output and "fraud_recall" in pulled.output and "support-deflection" in pulled.output, pulled.output
    assert listed.exit_code == 0 and "pending" in listed.output, listed.output
    exposure.add("northstar pull", pulled.output)
    exposure.add("northstar pull (exception)", "".join(traceback.format_exception(pulled.exception)) if pulled.exception else "")
    exposure.add("northstar outbox", listed.output)
    tables = exposure.database(engine)
    assert sum("could not connect" in (row.get("error") or "") for row in tables["metric_snapshots"]) >= 6
    exposure.assert_clean()


# --- requests that fail the signature check ------------------------------------------------------

BODY_CANARY = "nsBodyCanary-launch-plan"


@SQLITE_ONLY
@pytest.mark.parametrize("forgery", ["wrong secret", "stale", "future", "no signature", "tampered"])
def test_a_refused_request_logs_neither_its_body_nor_the_signing_secret(forgery, single_settings, engine, standin, executor, exposure):
    app, http = make_http(single_settings, engine, standin, executor)
    body = urlencode({"command": "/explain", "text": BODY_CANARY, "team_id": TEAM, "user_id": USER, "channel_id": FRAUD_CHANNEL_ID})
    now = int(time.time())
    right = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=str(now), body=body)
    kind = "application/x-www-form-urlencoded"
    if forgery == "wrong secret":
        sent = http.post(body, content_type=kind, signature=SignatureVerifier("not-the-secret").generate_signature(timestamp=str(now), body=body))
    elif forgery == "stale":
        sent = http.post(body, content_type=kind, timestamp=now - 301)
    elif forgery == "future":
        sent = http.post(body, content_type=kind, timestamp=now + 301)
    elif forgery == "no signature":
        sent = http.post(body, content_type=kind, headers={"Content-Type": kind})
    else:
        sent = http.post(body + "&user_name=mallory", content_type=kind, signature=right, timestamp=now)
    exposure.response(forgery, sent)
    assert sent.status_code == 401
    assert executor.drain() == []
    assert [c.method for c in standin.calls if c.method != "auth.test"] == []
    exposure.surfaces(http)
    # The signature the secret makes for this body would let anyone who read it replay the request.
    exposure.assert_clean(extra={"request body": {BODY_CANARY}, "valid signature": {right.removeprefix("v0=")}})


# --- an exception inside a listener -------------------------------------------------------------


@SQLITE_ONLY
@pytest.mark.parametrize("failure", ["error in the app", "Slack unreachable"])
def test_the_global_error_handler_logs_a_reference_and_no_token(failure, single_settings, engine, standin, executor, exposure, monkeypatch):
    seed_contract(engine, TEAM)
    app, http = make_http(single_settings, engine, standin, executor)
    if failure == "error in the app":
        def explode(self, team_id):
            raise RuntimeError(f"contracts of {team_id} could not be read")

        monkeypatch.setattr(Store, "contracts", explode)
    else:
        # Requests to Slack are refused from now on (the port is closed): the reply fails after retries.
        app.client.base_url = f"http://127.0.0.1:{closed_port()}/api/"

    exposure.response("/explain", http.command("/explain", "precision"))
    assert executor.drain() == []

    logged = exposure.logs()
    assert "unhandled error (ref " in logged and "Traceback" in logged
    if failure == "Slack unreachable":
        assert "could not tell the user about error ref" in logged
    exposure.surfaces(http)
    exposure.standin(standin)
    exposure.assert_clean()


# --- the bot's own database down ------------------------------------------------------------------


def test_the_bot_database_down_is_reported_without_its_password(single_settings, standin, executor, exposure):
    down = make_engine(f"postgresql+psycopg://northstar:{quote(DATABASE_PASSWORD, safe='')}@127.0.0.1:{closed_port()}/northstar",
                       connect_args={"connect_timeout": 2})
    app, http = make_http(single_settings, down, standin, executor)

    health = exposure.response("GET /healthz", http.get("/healthz"))
    metrics = exposure.response("GET /metrics", http.get("/metrics"))
    exposure.response("/explain", http.command("/explain", "precision"))
    exposure.response("/metric", http.command("/metric", "fraud-screening fraud_recall"))
    assert executor.drain() == []

    assert health.status_code == 503 and "cannot reach the database" in health.json()["reason"]
    assert "northstar_database_up 0" in metrics.text
    assert "Connection refused" in exposure.logs(), "the failure was not logged"
    exposure.standin(standin)
    exposure.assert_clean()


# --- a real `northstar run --http` process, logging at DEBUG ---------------------------------------


@POSTGRES_ONLY
def test_a_running_server_prints_no_secret_on_failures(secret_env, engine, standin, tmp_path, exposure):
    """The process as deployed: its own logging setup, uvicorn at DEBUG, the scheduler and outbox worker on."""
    seed_contract(engine, TEAM)
    with session_scope(engine) as session:
        enqueue_message(session=session, team_id=TEAM, idempotency_key=f"{TEAM}:secrets:1", kind="post", channel=FRAUD_CHANNEL_ID,
                        payload={"text": "weekly audit"})
    standin.fail("chat.postMessage", error="token_revoked", times=None)
    standin.fail("chat.postEphemeral", error="invalid_auth", times=None)
    env: dict[str, str] = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NORTHSTAR_", "DATABASE_URL"))}
    env |= {k: v for k, v in os.environ.items() if k.startswith(("SLACK_", "NORTHSTAR_"))}  # the secrets set above
    env |= {"DATABASE_URL": database_url(engine), "NORTHSTAR_LOG_LEVEL": "DEBUG",
            "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    port = closed_port()
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "--http", "--host", "127.0.0.1", "--port", str(port)],
                                  cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    answers = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5.0) as client:
            deadline = time.monotonic() + 60  # the process imports numpy, scipy and pandas: slow on a busy machine
            while True:
                assert server.poll() is None, log.read_text()
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            signer = SignatureVerifier(SIGNING_SECRET)
            command = urlencode({"command": "/explain", "text": "precision", "team_id": TEAM, "user_id": USER,
                                 "channel_id": FRAUD_CHANNEL_ID, "response_url": "https://hooks.slack.invalid/1", "trigger_id": "1.2.3"})
            stamp = str(int(time.time()))
            signed = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": stamp,
                      "X-Slack-Signature": signer.generate_signature(timestamp=stamp, body=command)}
            answers.append(client.post("/slack/events", content=command.encode(), headers=signed))
            forged = command.replace("precision", BODY_CANARY)
            answers.append(client.post("/slack/events", content=forged.encode(), headers=signed))
            assert [a.status_code for a in answers] == [200, 401]
            standin.wait_for("chat.postEphemeral", count=2, timeout=30)  # the reply, then the error reference
            deadline = time.monotonic() + 30
            while outbox_status(engine)[0].status != "failed":
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            answers += [client.get("/metrics"), client.get("/healthz")]
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=15)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=5)
    printed = log.read_text()
    assert "unhandled error (ref " in printed and "outbox: " in printed and "failed for good: token_revoked" in printed, printed
    assert {c.token for c in standin.calls if c.method != "upload"} == {BOT_TOKEN}
    exposure.add("the server's output", printed)
    for answer in answers:
        exposure.response(str(answer.request.url), answer)
    exposure.standin(standin)
    exposure.database(engine)
    exposure.assert_clean(extra={"request body": {BODY_CANARY}})


# --- tokens at rest --------------------------------------------------------------------------------

TOKEN_COLUMNS = {
    "slack_bots": {"bot_token": OAUTH_BOT_TOKEN, "bot_refresh_token": OAUTH_REFRESH_TOKEN},
    "slack_installations": {"bot_token": OAUTH_BOT_TOKEN, "bot_refresh_token": OAUTH_REFRESH_TOKEN,
                            "user_token": USER_TOKEN, "user_refresh_token": USER_REFRESH_TOKEN},
}


@pytest.mark.parametrize("installed_by", ["the OAuth flow", "a direct save"])
def test_tokens_are_fernet_ciphertext_at_rest(installed_by, oauth_settings, engine, standin, executor, exposure):
    if installed_by == "the OAuth flow":
        app, http = make_http(oauth_settings, engine, standin, executor)
        assert install_through_oauth(http, exposure).status_code == 200
    else:
        install_directly(oauth_settings, engine)
    fernet = Fernet(ENCRYPTION_KEY.encode())
    with engine.connect() as connection:
        for table, columns in TOKEN_COLUMNS.items():
            rows = connection.execute(text(f"SELECT * FROM {table}")).mappings().all()
            assert [r["team_id"] for r in rows] == [OAUTH_TEAM], table
            row = dict(rows[0])
            raw = json.dumps(row, default=str)
            for name, variants in forbidden().items():
                assert not any(v in raw for v in variants), f"{name} readable in {table}: {raw}"
            for column, token in columns.items():
                stored = row[column]
                assert stored and stored != token, f"{table}.{column} is empty or plain"
                # Ciphertext of this very token under the configured key, not a token dropped or mangled.
                assert fernet.decrypt(stored.encode()).decode() == token, f"{table}.{column}"
    # And the app reads them back through its store.
    from bot.oauth import make_installation_store

    store = make_installation_store(oauth_settings, engine)
    assert store.find_bot(enterprise_id=None, team_id=OAUTH_TEAM).bot_token == OAUTH_BOT_TOKEN
    assert store.find_installation(enterprise_id=None, team_id=OAUTH_TEAM).user_token == USER_TOKEN


@SQLITE_ONLY
def test_a_token_under_another_key_fails_without_showing_the_token_or_either_key(oauth_settings, engine, exposure):
    from bot.oauth import TokenDecryptionError, make_installation_store

    install_directly(oauth_settings, engine)
    rotated = Fernet.generate_key().decode()
    store = make_installation_store(oauth_settings.model_copy(update={"encryption_key": SecretStr(rotated)}), engine)
    with pytest.raises(TokenDecryptionError) as failed:
        store.find_bot(enterprise_id=None, team_id=OAUTH_TEAM)
    assert "NORTHSTAR_ENCRYPTION_KEY" in str(failed.value)
    exposure.add("the decryption error", "".join(traceback.format_exception(failed.value)))
    exposure.assert_clean(extra={"the other key": forms(rotated)})

"""Fixtures for the Slack app: the Web API stand-in, a signed-request client, a seeded database."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Engine
import asyncio

import httpx

from bot.app import build_app
from bot.http import build_asgi
from bot.settings import Settings
from bot.slack_client import retry_handlers
from metrics.classification import ScoreHistogram
from metrics.contract import parse_contract
from storage import contracts as contract_repo
from storage import snapshots as snapshot_repo
from storage.db import session_scope
from bot.standin import DEFAULT_TEAM, SlackStandIn

REPO = Path(__file__).resolve().parents[2]
FRAUD_YAML = (REPO / "examples" / "contracts" / "fraud-screening.yml").read_text()
SIGNING_SECRET = "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5"
TEAM = DEFAULT_TEAM
OTHER_TEAM = "T0OTHER02"
FRAUD_CHANNEL_ID = "C0FRAUDML"
FRAUD_CHANNEL_NAME = "fraud-ml"
USER = "U0ANALYST"
WINDOW_END = datetime(2026, 11, 16, tzinfo=UTC)


@pytest.fixture
def slack_standin() -> Iterator[SlackStandIn]:
    standin = SlackStandIn(team_id=TEAM).start()
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture
def settings(slack_standin: SlackStandIn) -> Settings:
    return Settings(
        slack_bot_token="xoxb-standin-token",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack_standin.api_url,
        default_workspace=TEAM,
        database_url="sqlite://",
    )


@pytest.fixture
def web_client(slack_standin: SlackStandIn) -> WebClient:
    return WebClient(token="xoxb-standin-token", base_url=slack_standin.api_url, retry_handlers=retry_handlers())


@pytest.fixture
def pulls() -> list[dict]:
    return []


@pytest.fixture
def bolt_app(settings: Settings, engine: Engine, web_client: WebClient, pulls: list[dict]):
    return build_app(settings, engine=engine, client=web_client, pull_requester=lambda **kw: pulls.append(kw))


class SlackHttp:
    """Sends real, signed Slack requests to the ASGI app over httpx's ASGI transport."""

    def __init__(self, asgi, secret: str = SIGNING_SECRET):
        self.asgi = asgi
        self.verifier = SignatureVerifier(secret)

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.asgi)
            async with httpx.AsyncClient(transport=transport, base_url="http://northstar.test") as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(send())

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)

    def post(self, body: str, *, content_type: str, timestamp: int | None = None, signature: str | None = None, headers: dict | None = None):
        timestamp = int(time.time()) if timestamp is None else timestamp
        signed = {
            "X-Slack-Request-Timestamp": str(timestamp),
            "X-Slack-Signature": signature or self.verifier.generate_signature(timestamp=str(timestamp), body=body),
            "Content-Type": content_type,
        }
        if headers is not None:
            signed = headers
        return self.request("POST", "/slack/events", content=body.encode(), headers=signed)

    def command(self, command: str, text: str = "", *, team: str = TEAM, user: str = USER, channel: str = FRAUD_CHANNEL_ID,
                channel_name: str = FRAUD_CHANNEL_NAME, **extra):
        form = {
            "token": "legacy-unused",
            "team_id": team,
            "team_domain": "northstar",
            "channel_id": channel,
            "channel_name": channel_name,
            "user_id": user,
            "user_name": "analyst",
            "command": command,
            "text": text,
            "api_app_id": "A0NORTHSTAR",
            "response_url": "https://hooks.slack.invalid/commands/1",
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        }
        form.update(extra)
        return self.post(urlencode(form), content_type="application/x-www-form-urlencoded")

    def interactive(self, payload: dict):
        return self.post(urlencode({"payload": json.dumps(payload)}), content_type="application/x-www-form-urlencoded")


@pytest.fixture
def slack_http(bolt_app, engine: Engine) -> SlackHttp:
    return SlackHttp(build_asgi(bolt_app, engine=engine, signing_secret=SIGNING_SECRET))


# --- seeded data ----------------------------------------------------------------------------


def fraud_scores(seed: int, n: int = 20_000, prevalence: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores that look like a fraud model: fraud scores high, legitimate low."""
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < prevalence
    scores = np.where(labels, rng.beta(6, 2, n), rng.beta(1.6, 6, n))
    return labels.astype(int), np.clip(scores, 0, 1)


def seed_contract(engine: Engine, team: str, yaml_text: str = FRAUD_YAML, author: str = "U0AUTHOR1"):
    contract = parse_contract(yaml_text)
    with session_scope(engine) as session:
        result = contract_repo.sync_contract(session=session, team_id=team, contract=contract, source_yaml=yaml_text, author=author)
        return result.contract_row.id, result.version_row.id


def seed_snapshot(engine: Engine, team: str, ids: tuple[int, int], metric: str, *, histogram: ScoreHistogram | None = None,
                  value: float | None = None, sample_size: float | None = None, end: datetime = WINDOW_END, days: int = 7) -> None:
    contract_id, version_id = ids
    with session_scope(engine) as session:
        snapshot_repo.add_snapshot(
            session=session,
            team_id=team,
            contract_id=contract_id,
            contract_version_id=version_id,
            metric=metric,
            window_start=end - timedelta(days=days),
            window_end=end,
            value=value,
            sample_size=sample_size if sample_size is not None else (histogram.n if histogram is not None else None),
            stats={"histogram": histogram.to_dict()} if histogram is not None else None,
        )


@pytest.fixture
def fraud_histograms() -> dict[str, ScoreHistogram]:
    labels, scores = fraud_scores(7)
    premium_labels, premium_scores = fraud_scores(8, n=5_000)
    return {
        "fraud_recall": ScoreHistogram.from_arrays(labels, scores, bins=100),
        "premium_false_positive_rate": ScoreHistogram.from_arrays(premium_labels, premium_scores, bins=100),
    }


@pytest.fixture
def seeded(engine: Engine, fraud_histograms) -> tuple[int, int]:
    """The fraud contract in TEAM with this week's classification snapshots."""
    ids = seed_contract(engine, TEAM)
    for metric, histogram in fraud_histograms.items():
        c = histogram.confusion_at(0.7)
        value = c.recall if metric == "fraud_recall" else c.false_positive_rate
        seed_snapshot(engine, TEAM, ids, metric, histogram=histogram, value=value)
    return ids

"""/audit, the audit's review buttons and /contract pause, end to end through signed requests."""

from __future__ import annotations

import json
from datetime import timedelta
from itertools import count

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.app import build_app
from bot.blocks import ids
from bot.http import build_asgi
from bot.jobs.audit import audit_key, compose_audit, post_audit
from storage.contracts import get_contract, list_review_answers
from tests.bot.conftest import FRAUD_CHANNEL_ID, OTHER_TEAM, TEAM, SlackHttp, seed_contract
from tests.bot.guardrails import CHANNEL, DAY1, NAME, Clock, DailyWarehouse, deliver, outbox, pull_day, seed_guardrail_contract

NOW = DAY1 + timedelta(days=6, hours=9)  # Monday 2026-11-16 09:00 UTC
_action_ts = count(1)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def http(settings, engine, web_client, clock) -> SlackHttp:
    return SlackHttp(build_asgi(build_app(settings, engine=engine, client=web_client, clock=clock), engine=engine))


def said(standin, number: int) -> str:
    call = standin.wait_for("chat.postEphemeral", number)[number - 1]
    return call.params["text"]


def contract_row(engine: Engine, team: str, name: str):
    with Session(engine) as session:
        return get_contract(session=session, team_id=team, name=name)


# --- /audit ---------------------------------------------------------------------------------


def test_audit_posts_this_weeks_audit_into_the_contracts_channel(http, engine, slack_standin, seeded, clock):
    assert http.command("/audit", "fraud-screening").status_code == 200
    assert said(slack_standin, 1) == "Audit queued for #fraud-ml."
    key = audit_key(TEAM, "fraud-screening", NOW.date())
    [audit] = [m for m in outbox(engine, kind="post") if m.idempotency_key == key]
    assert audit.channel == "#fraud-ml"

    deliver(engine, slack_standin.api_url, clock)
    posted = slack_standin.wait_for("chat.postMessage")[0].params
    assert posted["channel"] == "#fraud-ml" and "Weekly audit" in posted["text"]
    # Typed again the same day: nothing more is queued.
    assert http.command("/audit", "fraud-screening").status_code == 200
    assert "already queued" in said(slack_standin, 2)
    assert len([m for m in outbox(engine, kind="post") if m.idempotency_key == key]) == 1


def test_audit_help_unknown_contract_and_the_channels_own_contract(http, engine, slack_standin, seeded):
    http.command("/audit", "help")
    assert said(slack_standin, 1).startswith("Usage: `/audit [<contract>]`")
    http.command("/audit", "nope")
    assert "No contract called “nope” in this workspace" in said(slack_standin, 2)
    # No name: the contract that watches this channel.
    http.command("/audit", "", channel=FRAUD_CHANNEL_ID, channel_name="fraud-ml")
    assert said(slack_standin, 3) == "Audit queued for #fraud-ml."


# --- review buttons -------------------------------------------------------------------------


def review_click(http: SlackHttp, action_id: str, *, user: str, team: str = TEAM, value: str = "fraud-screening",
                 ts: str = "1700000099.000100"):
    payload = {
        "type": "block_actions",
        "team": {"id": team, "domain": "northstar"},
        "user": {"id": user, "team_id": team},
        "channel": {"id": FRAUD_CHANNEL_ID, "name": "fraud-ml"},
        "api_app_id": "A0NORTHSTAR",
        "trigger_id": "13345224609.738474920.review",
        "container": {"type": "message", "message_ts": ts, "channel_id": FRAUD_CHANNEL_ID},
        "actions": [{"type": "button", "action_id": action_id, "block_id": ids.BLOCK_REVIEW, "value": value,
                     "action_ts": f"1700000000.{next(_action_ts)}"}],
    }
    assert http.interactive(payload).status_code == 200


def test_review_buttons_record_each_answer_once_per_person_and_week(http, engine, slack_standin, seeded):
    contract_id = seeded[0]
    review_click(http, ids.ACTION_REVIEW_STILL_RIGHT, user="U0FRAUDPM")
    assert said(slack_standin, 1) == "Recorded “Still right” for fraud-screening, week ending 2026-11-16. Thank you."
    review_click(http, ids.ACTION_REVIEW_STILL_RIGHT, user="U0FRAUDPM")  # a double click
    assert "already answered “Still right”" in said(slack_standin, 2)
    review_click(http, ids.ACTION_REVIEW_REVISIT, user="U0FRAUDDS")
    assert said(slack_standin, 3).startswith("Recorded “Revisit”")
    review_click(http, ids.ACTION_REVIEW_REVISIT, user="U0FRAUDPM", team=OTHER_TEAM)
    assert "isn't about one of this workspace's contracts" in said(slack_standin, 4)

    with Session(engine) as session:
        answers = list_review_answers(session=session, team_id=TEAM, contract_id=contract_id)
        assert [(a.user_id, a.answer, a.period) for a in answers] == [
            ("U0FRAUDPM", "still_right", "2026-W46"), ("U0FRAUDDS", "revisit", "2026-W46"),
        ]
        assert answers[0].created_at == NOW
        assert list_review_answers(session=session, team_id=OTHER_TEAM, contract_id=contract_id) == []


def test_a_review_answer_belongs_to_the_week_of_the_audit_clicked(http, engine, slack_standin, seeded, clock):
    # Last week's audit was posted and delivered; clicking it a week later counts for its own week.
    last_week = NOW - timedelta(days=7)
    post_audit(engine=engine, team_id=TEAM, contract_name="fraud-screening", week_end=last_week.date(), now=last_week, with_chart=False)
    post_audit(engine=engine, team_id=TEAM, contract_name="fraud-screening", week_end=NOW.date(), now=NOW, with_chart=False)
    deliver(engine, slack_standin.api_url, clock)
    ts = next(m.delivered_ts for m in outbox(engine, kind="post") if m.idempotency_key.endswith("2026-11-09"))
    review_click(http, ids.ACTION_REVIEW_STILL_RIGHT, user="U0FRAUDENG", ts=ts)
    assert "week ending 2026-11-09" in said(slack_standin, 1)
    with Session(engine) as session:
        [answer] = list_review_answers(session=session, team_id=TEAM, contract_id=seeded[0])
    assert answer.period == "2026-W45"


# --- /contract pause ------------------------------------------------------------------------


@pytest.fixture
def warehouse(tmp_path) -> DailyWarehouse:
    return DailyWarehouse(tmp_path / "daily.duckdb")


def test_pause_by_a_signer_pauses_alerts_and_the_audit_says_so(http, engine, slack_standin, warehouse, clock):
    seed_guardrail_contract(engine, TEAM)
    clock.now = DAY1 + timedelta(hours=9)
    http.command("/contract", f"pause {NAME} 2d", user="U0PM", channel=CHANNEL, channel_name="checkout")
    assert said(slack_standin, 1).startswith(f"Paused {NAME} until 2026-11-12 09:00 UTC")
    assert contract_row(engine, TEAM, NAME).paused_until == clock.now + timedelta(days=2)

    # A breach while paused is tracked, and nothing is queued for the channel.
    report = pull_day(engine, warehouse, TEAM, 0, 0.4, now=DAY1 + timedelta(days=1, hours=6))
    assert any(f.breached for f in report.findings) and report.intents == []
    assert outbox(engine) == []
    audit = compose_audit(engine=engine, team_id=TEAM, contract_name=NAME, week_end=(DAY1 + timedelta(days=1)).date(),
                          now=DAY1 + timedelta(days=1, hours=9), with_chart=False)
    assert audit.audit.paused_note and "Paused until 2026-11-12 09:00 UTC" in json.dumps(audit.payloads)

    http.command("/contract", f"resume {NAME}", user="U0DS", channel=CHANNEL, channel_name="checkout")
    assert said(slack_standin, 2).startswith(f"Resumed {NAME}")
    assert contract_row(engine, TEAM, NAME).paused_until is None


def test_pause_defaults_to_a_week_and_rejects_a_bad_duration(http, engine, slack_standin):
    seed_guardrail_contract(engine, TEAM)
    http.command("/contract", f"pause {NAME} soon", user="U0PM")
    assert "“soon” is not a duration" in said(slack_standin, 1)
    assert contract_row(engine, TEAM, NAME).paused_until is None
    http.command("/contract", f"pause {NAME}", user="U0PM")
    assert said(slack_standin, 2).startswith(f"Paused {NAME}")
    assert contract_row(engine, TEAM, NAME).paused_until == NOW + timedelta(days=7)


def test_pause_by_a_non_signer_is_refused_naming_the_signers(http, engine, slack_standin):
    seed_guardrail_contract(engine, TEAM)
    http.command("/contract", f"pause {NAME} 1w", user="U0INTERN")
    text = said(slack_standin, 1)
    assert f"Only the contract's listed signers can pause {NAME}" in text
    assert all(f"<@{u}>" in text for u in ("U0PM", "U0ENG", "U0DS"))
    assert contract_row(engine, TEAM, NAME).paused_until is None


def test_contract_help_lists_pause(http, engine, slack_standin, seeded):
    http.command("/contract", "help")
    assert "/contract pause <name>" in said(slack_standin, 1)

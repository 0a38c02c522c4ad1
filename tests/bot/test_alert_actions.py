"""Acknowledge / Snooze on guardrail alerts, end to end: signed clicks in, alert states and edits out."""

from __future__ import annotations

import json
from datetime import timedelta
from itertools import count

import pytest
from sqlalchemy import Engine

from bot.app import build_app
from bot.blocks import ids
from bot.http import build_asgi
from tests.bot.conftest import OTHER_TEAM, TEAM, SlackHttp
from tests.bot.guardrails import (
    CHANNEL,
    DAY1,
    SIGNERS,
    Clock,
    DailyWarehouse,
    alert_state,
    deliver,
    outbox,
    pull_day,
    seed_guardrail_contract,
)

# Day 0's pull runs at 06:00 the next morning; the alert is posted then.
ALERTED_AT = DAY1 + timedelta(days=1, hours=6)
_action_ts = count(1)


@pytest.fixture
def clock() -> Clock:
    return Clock(ALERTED_AT)


@pytest.fixture
def http(settings, engine, web_client, clock) -> SlackHttp:
    return SlackHttp(build_asgi(build_app(settings, engine=engine, client=web_client, clock=clock), engine=engine))


@pytest.fixture
def warehouse(tmp_path) -> DailyWarehouse:
    return DailyWarehouse(tmp_path / "daily.duckdb")


@pytest.fixture
def alerted(engine: Engine, warehouse: DailyWarehouse, slack_standin, clock) -> dict:
    """A breach of the guardrail alerted and delivered: the alert's outbox row and Slack ts."""
    seed_guardrail_contract(engine, TEAM)
    report = pull_day(engine, warehouse, TEAM, 0, 0.4, now=ALERTED_AT)
    assert [i.kind for i in report.intents] == ["alert"]
    deliver(engine, slack_standin.api_url, clock)
    slack_standin.wait_for("chat.postMessage")
    [alert] = outbox(engine, kind="post")
    return {"key": alert.idempotency_key, "ts": alert_ts(engine, alert.idempotency_key)}


def alert_ts(engine: Engine, key: str) -> str:
    return next(m.delivered_ts for m in outbox(engine) if m.idempotency_key == key)


def click(http: SlackHttp, action_id: str, value: str, *, user: str, team: str = TEAM, ts: str = "1700000001.000100"):
    payload = {
        "type": "block_actions",
        "team": {"id": team, "domain": "northstar"},
        "user": {"id": user, "team_id": team},
        "channel": {"id": CHANNEL, "name": "checkout"},
        "api_app_id": "A0NORTHSTAR",
        "trigger_id": "13345224609.738474920.alert",
        "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL},
        "message": {"ts": ts, "text": "alert"},
        "actions": [{"type": "button", "action_id": action_id, "block_id": f"alert-{value}", "value": value,
                     "action_ts": f"1700000000.{next(_action_ts)}"}],
    }
    response = http.interactive(payload)
    assert response.status_code == 200


def ephemeral(standin, number: int) -> str:
    call = standin.wait_for("chat.postEphemeral", number)[number - 1]
    return call.params["text"] + json.dumps(call.params.get("blocks") or "")


def buttons(params: dict) -> list[str]:
    blocks = params.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_acknowledge_records_who_once_and_edits_the_alert_in_place(http, engine, slack_standin, alerted, clock, warehouse):
    state = alert_state(engine, TEAM)
    clock.now = ALERTED_AT + timedelta(hours=1)
    click(http, ids.ACTION_ALERT_ACKNOWLEDGE, str(state.id), user="U0ONCALL", ts=alerted["ts"])
    assert "Acknowledged" in ephemeral(slack_standin, 1)
    click(http, ids.ACTION_ALERT_ACKNOWLEDGE, str(state.id), user="U0SOMEONE", ts=alerted["ts"])  # a second click
    assert "Already acknowledged by <@U0ONCALL>" in ephemeral(slack_standin, 2)

    acknowledged = alert_state(engine, TEAM)
    assert (acknowledged.acknowledged_by, acknowledged.acknowledged_at) == ("U0ONCALL", clock.now)
    assert acknowledged.revision == state.revision + 1, "the double click recorded once"
    [edit] = outbox(engine, kind="update")
    assert edit.target_key == alerted["key"]

    deliver(engine, slack_standin.api_url, clock)
    [update] = slack_standin.wait_for("chat.update")
    assert update.params["ts"] == alerted["ts"] and update.params["channel"] == CHANNEL
    assert "Acknowledged by <@U0ONCALL> at 2026-11-11 07:00 UTC" in update.params["text"]
    assert buttons(update.params) == [], "an acknowledged breach needs neither button"
    # Acknowledged: the reminder that would be due the next day is not queued.
    clock.now = ALERTED_AT + timedelta(days=1)
    assert pull_day(engine, warehouse, TEAM, 1, 0.4, now=clock.now).intents == []


def test_snooze_by_a_non_signer_is_refused_naming_the_signers(http, engine, slack_standin, alerted):
    state = alert_state(engine, TEAM)
    click(http, ids.ACTION_ALERT_SNOOZE, str(state.id), user="U0INTERN", ts=alerted["ts"])
    text = ephemeral(slack_standin, 1)
    assert "Only the contract's signers can snooze" in text
    assert all(f"<@{signer}>" in text for signer in SIGNERS)
    after = alert_state(engine, TEAM)
    assert after.snoozed_until is None and after.revision == state.revision
    assert outbox(engine, kind="update") == []


@pytest.mark.parametrize(("value", "speaks"), [(0.4, False), (0.45, False), (0.52, True)])
def test_snooze_by_a_signer_silences_the_next_reminder_unless_it_worsens(
    http, engine, slack_standin, alerted, clock, warehouse, value, speaks
):
    state = alert_state(engine, TEAM)
    clock.now = ALERTED_AT + timedelta(hours=1)
    click(http, ids.ACTION_ALERT_SNOOZE, str(state.id), user="U0PM", ts=alerted["ts"])
    assert "Snoozed" in ephemeral(slack_standin, 1)
    snoozed = alert_state(engine, TEAM)
    assert (snoozed.snoozed_by, snoozed.snoozed_until) == ("U0PM", clock.now + timedelta(hours=24))
    assert snoozed.snooze_value == pytest.approx(0.4)
    deliver(engine, slack_standin.api_url, clock)
    [update] = slack_standin.wait_for("chat.update")
    assert "Snoozed until 2026-11-12 07:00 UTC by <@U0PM>" in update.params["text"]
    assert buttons(update.params) == [ids.ACTION_ALERT_ACKNOWLEDGE]

    # The next day's pull is when a reminder would be due (24 h after the alert); the margin is 20%.
    clock.now = ALERTED_AT + timedelta(days=1)
    report = pull_day(engine, warehouse, TEAM, 1, value, now=clock.now)
    reminders = [m for m in outbox(engine, kind="post") if m.idempotency_key.startswith("reminder:")]
    if speaks:
        assert [i.kind for i in report.intents] == ["reminder"] and report.intents[0].worsened
        assert len(reminders) == 1 and "Worse since it was snoozed" in reminders[0].payload["text"]
        assert reminders[0].thread_key == alerted["key"]
    else:
        assert report.intents == [] and reminders == []


def test_an_alert_id_from_another_workspace_is_refused_and_nothing_changes(http, engine, slack_standin, warehouse, clock):
    seed_guardrail_contract(engine, OTHER_TEAM)
    pull_day(engine, warehouse, OTHER_TEAM, 0, 0.4, now=ALERTED_AT)
    theirs = alert_state(engine, OTHER_TEAM)
    for number, (action, value) in enumerate(
        [(ids.ACTION_ALERT_ACKNOWLEDGE, str(theirs.id)), (ids.ACTION_ALERT_SNOOZE, str(theirs.id)), (ids.ACTION_ALERT_ACKNOWLEDGE, "not-an-id")],
        start=1,
    ):
        click(http, action, value, user="U0PM", team=TEAM)
        assert "isn't one of this workspace's" in ephemeral(slack_standin, number)
    after = alert_state(engine, OTHER_TEAM)
    assert after.revision == theirs.revision and after.acknowledged_at is None and after.snoozed_until is None
    assert outbox(engine, kind="update") == []


def test_recovery_edits_the_alert_in_place_and_replies_in_its_thread_once(engine, slack_standin, alerted, clock, warehouse):
    clock.now = ALERTED_AT + timedelta(days=1)
    report = pull_day(engine, warehouse, TEAM, 1, 0.1, now=clock.now)
    assert [i.kind for i in report.intents] == ["resolution"]
    again = pull_day(engine, warehouse, TEAM, 1, 0.1, now=clock.now)  # a re-run of the same pull
    assert again.intents == []
    deliver(engine, slack_standin.api_url, clock)
    deliver(engine, slack_standin.api_url, clock)

    [update] = slack_standin.wait_for("chat.update")
    assert update.params["ts"] == alerted["ts"]
    assert "Recovered at 0.1 on 2026-11-12" in update.params["text"] and buttons(update.params) == []
    posts = slack_standin.wait_for("chat.postMessage", 2)
    assert len(posts) == 2, "the alert and its resolution, nothing more"
    resolution = posts[1].params
    assert resolution["thread_ts"] == alerted["ts"] and resolution["text"].startswith("Resolved after 24 h")
    assert len(slack_standin.calls_to("chat.update")) == 1


def test_a_reminder_updates_the_still_breached_line(engine, slack_standin, alerted, clock, warehouse):
    clock.now = ALERTED_AT + timedelta(days=1)
    report = pull_day(engine, warehouse, TEAM, 1, 0.4, now=clock.now)
    assert [i.kind for i in report.intents] == ["reminder"]
    deliver(engine, slack_standin.api_url, clock)
    [update] = slack_standin.wait_for("chat.update")
    assert update.params["ts"] == alerted["ts"] and "Still breached for 24 h" in update.params["text"]
    assert buttons(update.params) == [ids.ACTION_ALERT_ACKNOWLEDGE, ids.ACTION_ALERT_SNOOZE]

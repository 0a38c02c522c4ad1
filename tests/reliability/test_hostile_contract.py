"""A contract whose every free-text field tries to ping the channel, a user, or plant a link.

Contracts are written by people (in a file or in the /contract editor modal) and their words are
quoted back in every message Northstar sends: explanations, trade-offs, metric cards, the contract
itself, the launch scorecard, the audit and the guardrail alert. Whatever a contract (or a signer's
written reason) says, none of it may become a broadcast, a mention or a link in Slack: it must
arrive escaped, once, and still be there to read.

Slack parses ``<…>`` in a message's top-level ``text``, in every mrkdwn text (sections, fields,
context) and in a file's ``initial_comment``; plain_text objects (headers, buttons, modal titles)
are shown as typed, so those are the only part of a payload not searched here.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from ruamel.yaml import YAML

from bot.alerts import acknowledge_alert
from bot.blocks.launch import VIEW_LAUNCH_OVERRIDE_REASON
from bot.blocks.messages import build_error
from bot.jobs.audit import post_audit
from bot.launches import list_launches
from metrics.contract import Contract
from storage.contracts import sync_contract
from storage.db import session_scope
from tests.bot.conftest import TEAM, WINDOW_END, seed_contract, seed_snapshot
from tests.bot.guardrails import DAY1, DailyWarehouse, alert_state, deliver, outbox, pull_day
from tests.bot.test_launch_flow import DS, ENG, FRAUD_WITH_STAR, PM, seed_experiment, submit
from tests.metrics.contract_factory import BASE, contract_data
from tests.reliability.test_hostile_input import BROADCASTS, VICTIM

PING = f"<!channel> <@{VICTIM}> <https://evil.example|invoice>"
FORBIDDEN = [f"<@{VICTIM}>", "<https://evil.example"]
SHOWN = "&lt;!channel&gt;"  # the words, escaped once: Slack shows them as typed
TWICE = "&amp;lt;"  # escaped twice: Slack would show "&lt;" to the reader
FAILED = build_error("")["text"].split(" (")[0]  # "Something went wrong": a listener raised
SENDS = ("chat.postMessage", "chat.postEphemeral", "chat.update", "views.open", "views.update", "files.completeUploadExternal")


def hostile(text: str) -> str:
    return f"{text} {PING}"


def hostile_fraud_yaml(*, decision: bool = True) -> str:
    yaml = YAML()
    data = yaml.load(FRAUD_WITH_STAR)
    data["title"] = hostile(data["title"])
    if decision:
        data["decision"] = hostile(data["decision"])
    data["retirement"] = hostile(data["retirement"])
    for key in ("positive", "negative", "action", "action_past", "unit", "false_positive_cost_means", "false_negative_cost_means"):
        data["business"][key] = hostile(data["business"][key])
    for touchpoint in data["validation_touchpoints"]:
        touchpoint["check"] = hostile(touchpoint["check"])
    for metric in data["metrics"]:
        metric["label"] = hostile(metric["label"])
        if "description" in metric:
            metric["description"] = hostile(metric["description"])
    for experiment in data["experiments"]:
        experiment["description"] = hostile(experiment["description"])
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def parsed(obj: Any) -> list[str]:
    """Every string of a payload Slack parses for mentions and links: all of it but plain_text objects."""
    if isinstance(obj, dict):
        if obj.get("type") == "plain_text":
            return []
        return [text for value in obj.values() for text in parsed(value)]
    if isinstance(obj, list):
        return [text for value in obj for text in parsed(value)]
    return [obj] if isinstance(obj, str) else []


def rendered(method: str, params: dict) -> str:
    # An upload's file title is plain text; only its comment is mrkdwn.
    if method == "files.completeUploadExternal":
        return str(params.get("initial_comment") or "")
    return "\n".join(parsed(params))


def assert_nothing_pings(texts: list[str]) -> None:
    assert texts, "nothing was sent"
    for text in texts:
        assert not BROADCASTS.search(text), f"a raw broadcast: {text[:400]!r}"
        for forbidden in FORBIDDEN:
            assert forbidden not in text, f"{forbidden} survived: {text[:400]!r}"
        assert TWICE not in text, f"escaped twice: {text[:400]!r}"


def sent(standin, since: int = 0) -> list[str]:
    return [rendered(c.method, c.params) for c in standin.calls[since:] if c.method in SENDS]


def queued(engine) -> list[str]:
    return ["\n".join(parsed(m.payload)) for m in outbox(engine)]


@pytest.fixture
def hostile_seeded(engine, fraud_histograms):
    # Two versions, so that /contract diff has hostile lines to show.
    seed_contract(engine, TEAM, hostile_fraud_yaml(decision=False))
    yaml_text = hostile_fraud_yaml()
    assert "<!channel>" in yaml_text
    ids = seed_contract(engine, TEAM, yaml_text)
    for metric, histogram in fraud_histograms.items():
        confusion = histogram.confusion_at(0.7)
        value = confusion.recall if metric == "fraud_recall" else confusion.false_positive_rate
        for week in range(3):
            seed_snapshot(engine, TEAM, ids, metric, histogram=histogram, value=value, end=WINDOW_END - timedelta(days=7 * week))
    seed_snapshot(engine, TEAM, ids, "fraud_loss_per_1k", value=41.0, sample_size=150_000)
    seed_experiment(engine, TEAM, ids, "block")  # the scorecard then quotes the broken guardrail too
    return ids


COMMANDS = [
    ("/explain", "precision"), ("/explain", "recall"), ("/explain", "premium_false_positive_rate"),
    ("/tradeoff", ""), ("/tradeoff", "premium_false_positive_rate"), ("/tradeoff", "fraud_recall vs premium_false_positive_rate"),
    ("/metric", "fraud_recall"), ("/metric", "premium_false_positive_rate history"),
    ("/contract", "show fraud-screening"), ("/contract", "list"), ("/contract", "history fraud-screening"),
    ("/contract", "diff fraud-screening 1 2"),
    ("/launch", "fraud-screening"), ("/audit", "fraud-screening"),
]

# Replies that do not quote the contract's own words.
QUOTE_NOTHING = {("/audit", "fraud-screening"), ("/contract", "history fraud-screening")}


def test_command_replies_quote_the_contract_without_pinging(http, executor, standin, hostile_seeded):
    # One seeded workspace for every command (seeding dominates the cost); each reply is checked on its own.
    problems = {}
    for command, text in COMMANDS:
        since = len(standin.calls)
        response = http.command(command, text)
        assert response.status_code == 200
        assert executor.drain() == []
        replies = sent(standin, since) + [response.text]
        try:
            assert not [r for r in replies if FAILED in r], "the reply failed"
            assert_nothing_pings(replies)
            if (command, text) not in QUOTE_NOTHING:
                # The words are still there, shown as text rather than dropped.
                assert any(SHOWN in r for r in replies), f"the contract's words are missing: {replies}"
        except AssertionError as failure:
            problems[f"{command} {text}"] = str(failure).splitlines()[0]
    assert not problems, "\n".join(f"{command}: {problem}" for command, problem in problems.items())


def test_override_reasons_are_quoted_without_pinging_and_fit_the_scorecard(http, executor, standin, engine, hostile_seeded):
    assert http.command("/launch", "fraud-screening").status_code == 200
    assert executor.drain() == []
    decision_id = list_launches(engine, TEAM, "fraud-screening")[0].id
    # Every reason is quoted in one section of the scorecard; "<" grows fourfold when escaped.
    reasons = {PM: hostile("Premium FPs are a labelling artefact."), ENG: "<" * 1000, DS: hostile("Fix ships next week. ") * 20}
    for signer, reason in reasons.items():
        assert submit(http, VIEW_LAUNCH_OVERRIDE_REASON, decision_id, reason, user=signer) == {}
    assert executor.drain() == []
    assert list_launches(engine, TEAM, "fraud-screening")[0].state == "approved"
    assert http.command("/launch", "history fraud-screening").status_code == 200
    assert executor.drain() == []

    assert [c.method for c in standin.calls if c.method in ("chat.update", "chat.postEphemeral")] == ["chat.update"] * 3 + ["chat.postEphemeral"]
    replies = sent(standin)
    assert not [r for r in replies if FAILED in r], "a reply failed"
    assert_nothing_pings(replies)
    assert all(c.response["ok"] for c in standin.calls if c.method == "chat.update"), "Slack refused an edit"
    # The last edit and the history both quote the reasons, escaped (and the long ones shortened).
    assert all("Premium FPs are a labelling artefact. " + SHOWN in r and "&lt;" * 100 + "…" in r for r in replies[-2:])


def test_the_weekly_audit_quotes_the_contract_without_pinging(engine, standin, hostile_seeded):
    post_audit(engine=engine, team_id=TEAM, contract_name="fraud-screening", week_end=WINDOW_END.date(), now=WINDOW_END,
               with_chart=False)
    payloads = queued(engine)
    assert_nothing_pings(payloads)
    assert any(SHOWN in p for p in payloads)

    deliver(engine, standin.api_url, lambda: WINDOW_END)
    assert_nothing_pings(sent(standin))


def test_a_guardrail_alert_quotes_the_contract_without_pinging(engine, standin, tmp_path):
    business = {key: hostile(value) if isinstance(value, str) else value for key, value in BASE["business"].items()}
    metrics = [dict(m, label=hostile(m["name"]), description=hostile("what it means"), unit=hostile("slots")) for m in BASE["metrics"][:2]]
    contract = Contract.model_validate(contract_data(business=business, metrics=metrics, decision=hostile(BASE["decision"])))
    with session_scope(engine) as session:
        sync_contract(session=session, team_id=TEAM, contract=contract, source_yaml="{}", author="test")
    warehouse = DailyWarehouse(tmp_path / "w.duckdb")
    pull_day(engine, warehouse, TEAM, 0, 0.1, now=DAY1 + timedelta(days=1))
    pull_day(engine, warehouse, TEAM, 1, 0.9, now=DAY1 + timedelta(days=2))  # the guardrail (at most 0.3) breached
    alerts = queued(engine)
    assert alerts, "the breach queued no alert"
    assert_nothing_pings(alerts)
    assert any(SHOWN in a for a in alerts)
    deliver(engine, standin.api_url, lambda: DAY1 + timedelta(days=2))

    # Acknowledging restates the posted alert: its text must not be escaped a second time.
    state = alert_state(engine, TEAM)
    acknowledge_alert(engine, team_id=TEAM, value=str(state.id), user_id="U0ONCALL", now=DAY1 + timedelta(days=2, hours=1))
    deliver(engine, standin.api_url, lambda: DAY1 + timedelta(days=2, hours=1))
    updates = [c.params for c in standin.calls if c.method == "chat.update"]
    assert updates and "Acknowledged by <@U0ONCALL>" in updates[-1]["text"]
    assert_nothing_pings(sent(standin))

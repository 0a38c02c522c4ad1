"""/launch end to end: signed requests in, the Web API stand-in out, the decision in the database."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from sqlalchemy import Engine

from bot.app import build_app
from bot.blocks.launch import (
    ACTION_LAUNCH_APPROVE,
    ACTION_LAUNCH_OVERRIDE,
    ACTION_LAUNCH_REJECT,
    ACTION_LAUNCH_REASON,
    BLOCK_LAUNCH_REASON,
    VIEW_LAUNCH_OVERRIDE_REASON,
    VIEW_LAUNCH_REJECT_REASON,
)
from bot.http import build_asgi
from bot.launches import cast_vote, expire_decisions, experiment_snapshot_key, list_launches, request_decision
from bot.listeners.actions import launch as launch_actions
from bot.listeners.commands import launch as launch_commands
from bot.listeners.views import launch as launch_views
from storage import outbox as outbox_repo
from storage import snapshots as snapshot_repo
from bot.scheduler import build_scheduler
from bot.workers import make_launch_expiry
from storage.db import session_scope
from tests.bot.conftest import FRAUD_CHANNEL_ID, FRAUD_YAML, OTHER_TEAM, TEAM, SlackHttp, seed_contract
from tests.bot.guardrails import deliver, outbox

PM, ENG, DS = "U0FRAUDPM", "U0FRAUDENG", "U0FRAUDDS"
SIGNERS = (PM, ENG, DS)
START = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
# The fraud example's experiment plus its north star, so that a launch can ship.
FRAUD_WITH_STAR = FRAUD_YAML.rstrip("\n") + """
      fraud_loss_per_1k:
        type: mean
        sql: |
          SELECT variant, loss_per_1k AS value FROM fraud_experiment WHERE ts >= :window_start AND ts < :window_end
"""


def mean_stats(mean: float, n: int = 20_000, sd: float = 5.0) -> dict:
    return {"n": n, "sum": n * mean, "sum_sq": n * mean**2 + (n - 1) * sd**2}


SCENARIOS = {
    "ship": {"fraud_loss_per_1k": (10.0, 8.0), "fraud_recall": ((800, 1000), (880, 1000)),
             "premium_false_positive_rate": ((150, 10_000), (150, 10_000)), "scoring_latency_p95": (100.0, 100.0)},
    "hold": {"fraud_loss_per_1k": (10.0, 10.0), "fraud_recall": ((800, 1000), (880, 1000)),
             "premium_false_positive_rate": ((150, 10_000), (150, 10_000)), "scoring_latency_p95": (100.0, 100.0)},
    "block": {"fraud_loss_per_1k": (10.0, 8.0), "fraud_recall": ((800, 1000), (880, 1000)),
              "premium_false_positive_rate": ((150, 10_000), (340, 10_000)), "scoring_latency_p95": (100.0, 100.0)},
}


def seed_experiment(engine: Engine, team: str, ids: tuple[int, int], scenario: str) -> None:
    contract_id, version_id = ids
    with session_scope(engine) as session:
        for metric, (control, treatment) in SCENARIOS[scenario].items():
            if isinstance(control, tuple):
                stats = {"type": "proportion", "control": "control", "treatment": "v2", "variants": {
                    "control": {"successes": control[0], "trials": control[1]},
                    "v2": {"successes": treatment[0], "trials": treatment[1]}}}
            else:
                stats = {"type": "mean", "control": "control", "treatment": "v2",
                         "variants": {"control": mean_stats(control), "v2": mean_stats(treatment)}}
            snapshot_repo.add_snapshot(
                session=session, team_id=team, contract_id=contract_id, contract_version_id=version_id,
                metric=experiment_snapshot_key("model-v2", metric), window_start=START - timedelta(days=14),
                window_end=START, stats=stats,
            )


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def launch_app(settings, engine, web_client, clock):
    app = build_app(settings, engine=engine, client=web_client, clock=clock)
    # Registered here until register_listeners wires them; each register() is a no-op the
    # second time, so both may happen.
    deps = _deps(engine, settings, clock)
    launch_commands.register(app, deps)
    launch_actions.register(app, deps)
    launch_views.register(app, deps)
    launch_actions.register(app, deps)
    return app


def _deps(engine, settings, clock):
    from bot.listeners.deps import Deps
    from bot.listeners.store import Store

    return Deps(store=Store(engine), default_workspace=settings.default_workspace, clock=clock)


@pytest.fixture
def http(launch_app, engine) -> SlackHttp:
    return SlackHttp(build_asgi(launch_app, engine=engine))


_action_ts = count(1)


def click(http: SlackHttp, action_id: str, decision_id: str, *, user: str, team: str = TEAM, ts: str = "1700000001.000100"):
    payload = {
        "type": "block_actions",
        "team": {"id": team, "domain": "northstar"},
        "user": {"id": user, "team_id": team},
        "channel": {"id": FRAUD_CHANNEL_ID, "name": "fraud-ml"},
        "api_app_id": "A0NORTHSTAR",
        "trigger_id": "13345224609.738474920.launch",
        "container": {"type": "message", "message_ts": ts, "channel_id": FRAUD_CHANNEL_ID},
        "message": {"ts": ts, "text": "Launch decision"},
        "actions": [{"type": "button", "action_id": action_id, "block_id": "launch_actions", "value": decision_id,
                     "action_ts": f"1700000000.{next(_action_ts)}"}],
    }
    response = http.interactive(payload)
    assert response.status_code == 200
    return response


def submit(http: SlackHttp, callback_id: str, decision_id: str, reason: str, *, user: str, team: str = TEAM):
    payload = {
        "type": "view_submission",
        "team": {"id": team, "domain": "northstar"},
        "user": {"id": user, "team_id": team},
        "api_app_id": "A0NORTHSTAR",
        "trigger_id": "1.2.3",
        "view": {"id": "V0LAUNCH1", "team_id": team, "type": "modal", "callback_id": callback_id, "private_metadata": decision_id,
                 "state": {"values": {BLOCK_LAUNCH_REASON: {ACTION_LAUNCH_REASON: {"type": "plain_text_input", "value": reason}}}},
                 "hash": "h"},
    }
    response = http.interactive(payload)
    assert response.status_code == 200
    return response.json() if response.content else {}


def buttons(params: dict) -> list[str]:
    return [e["action_id"] for b in params.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]


def texts(params: dict) -> str:
    return json.dumps(params.get("blocks") or []) + params.get("text", "")


def launch(http: SlackHttp, standin, engine: Engine, scenario: str, team: str = TEAM) -> tuple[str, dict]:
    ids = seed_contract(engine, team, FRAUD_WITH_STAR)
    seed_experiment(engine, team, ids, scenario)
    assert http.command("/launch", "fraud-screening", team=team).status_code == 200
    post = standin.wait_for("chat.postMessage")[-1].params
    # The listener records where the message landed just after posting it.
    deadline = time.monotonic() + 10
    while (decision := list_launches(engine, team, "fraud-screening")[0]).message_ts is None:
        assert time.monotonic() < deadline, "the scorecard's ts was never recorded"
        time.sleep(0.02)
    return decision.id, post


def state(engine: Engine, decision_id: str, team: str = TEAM) -> str:
    return next(d for d in list_launches(engine, team) if d.id == decision_id).state


# --- the flow ---------------------------------------------------------------------------------


def test_ship_is_approved_once_every_signer_approves(http, slack_standin, engine):
    decision_id, post = launch(http, slack_standin, engine, "ship")
    assert post["channel"] == "#fraud-ml"
    assert "Ship" in post["text"] and all(f"<@{s}>" in post["text"] for s in SIGNERS)
    assert buttons(post) == [ACTION_LAUNCH_APPROVE, ACTION_LAUNCH_REJECT]
    stored = list_launches(engine, TEAM)[0]
    assert stored.recommendation == "ship" and stored.message_ts is not None and stored.contract_version == 1
    assert stored.expires_at == START + timedelta(days=7)

    for number, signer in enumerate(SIGNERS, start=1):
        click(http, ACTION_LAUNCH_APPROVE, decision_id, user=signer)
        update = slack_standin.wait_for("chat.update", number)[-1].params
        assert update["ts"] == stored.message_ts and f"<@{signer}> (" in texts(update)
        assert state(engine, decision_id) == ("approved" if number == 3 else "pending")
    assert buttons(update) == []
    assert "Approved" in texts(update)
    votes = list_launches(engine, TEAM)[0].votes
    assert [(v.role, v.vote) for v in votes] == [("pm", "approve"), ("eng", "approve"), ("ds", "approve")]


def test_hold_is_posted_with_the_reason_and_can_still_be_approved(http, slack_standin, engine):
    _, post = launch(http, slack_standin, engine, "hold")
    assert "Hold" in post["text"]
    assert "no detectable change in the north star" in post["text"]
    assert buttons(post) == [ACTION_LAUNCH_APPROVE, ACTION_LAUNCH_REJECT]


def test_block_needs_every_signer_to_override_with_a_written_reason(http, slack_standin, engine):
    decision_id, post = launch(http, slack_standin, engine, "block")
    assert "premium-customer false positives 3.4% against a 2% bound: blocked" in post["text"]
    assert buttons(post) == [ACTION_LAUNCH_REJECT, ACTION_LAUNCH_OVERRIDE]

    click(http, ACTION_LAUNCH_OVERRIDE, decision_id, user=PM)
    modal = slack_standin.wait_for("views.open")[0].params["view"]
    assert modal["callback_id"] == VIEW_LAUNCH_OVERRIDE_REASON and modal["private_metadata"] == decision_id

    short = submit(http, VIEW_LAUNCH_OVERRIDE_REASON, decision_id, "looks fine", user=PM)
    assert short["response_action"] == "errors" and "20 characters" in short["errors"][BLOCK_LAUNCH_REASON]
    assert list_launches(engine, TEAM)[0].votes == ()

    reason = "Premium FPs are a labelling artefact; fix ships next week."
    for number, signer in enumerate(SIGNERS, start=1):
        assert submit(http, VIEW_LAUNCH_OVERRIDE_REASON, decision_id, reason, user=signer) == {}
        update = slack_standin.wait_for("chat.update", number)[-1].params
    assert state(engine, decision_id) == "approved"
    assert "labelling artefact" in texts(update) and buttons(update) == []
    assert {v.vote for v in list_launches(engine, TEAM)[0].votes} == {"override"}


def test_approve_on_a_blocked_launch_is_refused(http, slack_standin, engine):
    decision_id, _ = launch(http, slack_standin, engine, "block")
    click(http, ACTION_LAUNCH_APPROVE, decision_id, user=PM)
    refusal = slack_standin.wait_for("chat.postEphemeral")[0].params
    assert refusal["user"] == PM and "Override" in refusal["text"]
    assert list_launches(engine, TEAM)[0].votes == ()


def test_one_rejection_rejects_and_later_clicks_are_refused(http, slack_standin, engine):
    decision_id, _ = launch(http, slack_standin, engine, "ship")
    click(http, ACTION_LAUNCH_REJECT, decision_id, user=ENG)
    assert slack_standin.wait_for("views.open")[0].params["view"]["callback_id"] == VIEW_LAUNCH_REJECT_REASON
    assert submit(http, VIEW_LAUNCH_REJECT_REASON, decision_id, "Latency budget is already spent.", user=ENG) == {}
    update = slack_standin.wait_for("chat.update")[0].params
    assert state(engine, decision_id) == "rejected"
    assert "Rejected" in texts(update) and "Latency budget" in texts(update) and buttons(update) == []

    click(http, ACTION_LAUNCH_APPROVE, decision_id, user=PM)
    refusal = slack_standin.wait_for("chat.postEphemeral")[0].params
    assert "already rejected" in refusal["text"]
    assert len(list_launches(engine, TEAM)[0].votes) == 1


def test_a_non_signer_is_refused_with_the_signers_named(http, slack_standin, engine):
    decision_id, _ = launch(http, slack_standin, engine, "ship")
    click(http, ACTION_LAUNCH_APPROVE, decision_id, user="U0INTRUDER")
    refusal = slack_standin.wait_for("chat.postEphemeral")[0].params
    assert refusal["user"] == "U0INTRUDER"
    assert all(f"<@{s}>" in refusal["text"] for s in SIGNERS)
    click(http, ACTION_LAUNCH_REJECT, decision_id, user="U0INTRUDER")
    slack_standin.wait_for("chat.postEphemeral", 2)
    assert slack_standin.calls_to("views.open") == []
    assert list_launches(engine, TEAM)[0].votes == ()
    assert slack_standin.calls_to("chat.update") == []


def test_a_decision_id_from_another_workspace_changes_nothing(http, slack_standin, engine):
    foreign_id, _ = launch(http, slack_standin, engine, "ship", team=OTHER_TEAM)
    seed_contract(engine, TEAM, FRAUD_WITH_STAR)
    # The same signer ids exist in both workspaces: only the payload's workspace counts.
    click(http, ACTION_LAUNCH_APPROVE, foreign_id, user=PM, team=TEAM)
    refusal = slack_standin.wait_for("chat.postEphemeral")[0].params
    assert "can't find that launch decision" in refusal["text"]
    answer = submit(http, VIEW_LAUNCH_REJECT_REASON, foreign_id, "forged", user=PM, team=TEAM)
    assert answer["response_action"] == "errors"
    foreign = list_launches(engine, OTHER_TEAM)[0]
    assert foreign.votes == () and foreign.state == "pending"
    assert slack_standin.calls_to("chat.update") == []


def test_a_double_click_is_recorded_once(http, slack_standin, engine):
    decision_id, _ = launch(http, slack_standin, engine, "ship")
    threads = [threading.Thread(target=click, args=(http, ACTION_LAUNCH_APPROVE, decision_id), kwargs={"user": PM}) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    slack_standin.wait_for("chat.update")
    slack_standin.wait_for("chat.postEphemeral")
    assert "already voted" in slack_standin.calls_to("chat.postEphemeral")[0].params["text"]
    assert [(v.user_id, v.role) for v in list_launches(engine, TEAM)[0].votes] == [(PM, "pm")]


def test_concurrent_votes_count_once_and_the_last_two_signers_still_approve(engine):
    ids = seed_contract(engine, TEAM, FRAUD_WITH_STAR)
    seed_experiment(engine, TEAM, ids, "ship")
    decision = request_decision(engine, team_id=TEAM, contract_name="fraud-screening", requested_by=PM, now=START).view
    cast_vote(engine, team_id=TEAM, decision_id=decision.id, user_id=PM, vote="approve", now=START)
    barrier = threading.Barrier(8)
    outcomes = []

    def vote(user: str) -> None:
        barrier.wait()
        outcomes.append(cast_vote(engine, team_id=TEAM, decision_id=decision.id, user_id=user, vote="approve", now=START))

    threads = [threading.Thread(target=vote, args=(ENG if i % 2 else DS,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(o.ok for o in outcomes) == 2
    final = list_launches(engine, TEAM)[0]
    assert sorted(v.role for v in final.votes) == ["ds", "eng", "pm"]
    assert final.state == "approved"


def test_expiry_by_the_scheduler_and_on_click(http, slack_standin, engine, clock):
    first, _ = launch(http, slack_standin, engine, "ship")
    clock.now = START + timedelta(days=7, minutes=1)
    click(http, ACTION_LAUNCH_APPROVE, first, user=PM)
    update = slack_standin.wait_for("chat.update")[0].params
    refusal = slack_standin.wait_for("chat.postEphemeral")[0].params
    assert "expired" in refusal["text"] and "Expired" in texts(update) and buttons(update) == []
    assert state(engine, first) == "expired" and list_launches(engine, TEAM)[0].votes == ()

    assert http.command("/launch", "fraud-screening").status_code == 200
    slack_standin.wait_for("chat.postMessage", 2)
    second = list_launches(engine, TEAM)[0]
    assert second.id != first and second.state == "pending"
    assert expire_decisions(engine, clock.now + timedelta(days=6)) == []
    expired = expire_decisions(engine, clock.now + timedelta(days=7))
    assert [e.view.id for e in expired] == [second.id]
    assert "Expired" in json.dumps(expired[0].payload["blocks"])
    assert expire_decisions(engine, clock.now + timedelta(days=8)) == []  # each decision expires once


def test_the_minute_tick_expires_a_direct_scorecard_and_edits_it_once(http, slack_standin, engine, clock, settings):
    decision_id, _ = launch(http, slack_standin, engine, "ship")
    posted = list_launches(engine, TEAM)[0]
    replicas = [build_scheduler(engine=engine, settings=settings, clock=clock, replica_id=name, runner=lambda run: None,
                                minute_jobs=[make_launch_expiry(engine)]) for name in ("a", "b")]

    def tick_all() -> None:
        for replica in replicas:
            replica.get_job("northstar:tick").func()

    clock.now = START + timedelta(days=6, hours=23)
    tick_all()
    assert state(engine, decision_id) == "pending" and outbox(engine, kind="update") == []

    clock.now = START + timedelta(days=7, minutes=1)
    tick_all()
    tick_all()
    assert state(engine, decision_id) == "expired"
    assert len(outbox(engine, kind="update")) == 1, "both replicas ticked twice: still one edit"
    deliver(engine, slack_standin.api_url, clock)
    update = slack_standin.wait_for("chat.update")[0].params
    assert (update["channel"], update["ts"]) == (posted.channel, posted.message_ts)
    assert "Expired" in texts(update) and buttons(update) == []
    assert [m.status for m in outbox(engine, kind="update")] == ["delivered"]


def test_history_shows_decisions_votes_and_outcome(http, slack_standin, engine):
    decision_id, _ = launch(http, slack_standin, engine, "ship")
    click(http, ACTION_LAUNCH_REJECT, decision_id, user=DS)
    slack_standin.wait_for("views.open")
    submit(http, VIEW_LAUNCH_REJECT_REASON, decision_id, "Wait for the holiday peak to pass.", user=DS)
    http.command("/launch", "history fraud-screening")
    history = slack_standin.wait_for("chat.postEphemeral")[0].params
    assert "Rejected" in texts(history) and "holiday peak" in texts(history) and f"<@{DS}>" in texts(history)


def test_unknown_contract_and_missing_data_are_explained(http, slack_standin, engine):
    http.command("/launch", "nope")
    assert "No contract called “nope”" in slack_standin.wait_for("chat.postEphemeral")[0].params["text"]
    seed_contract(engine, TEAM, FRAUD_WITH_STAR)
    http.command("/launch", "fraud-screening")
    assert "No experiment data" in slack_standin.wait_for("chat.postEphemeral", 2)[1].params["text"]
    assert list_launches(engine, TEAM) == []


def test_outbox_delivery_queues_the_post_with_the_decision_and_each_edit(engine):
    ids = seed_contract(engine, TEAM, FRAUD_WITH_STAR)
    seed_experiment(engine, TEAM, ids, "ship")
    requested = request_decision(engine, team_id=TEAM, contract_name="fraud-screening", requested_by=PM, now=START, enqueue=True)
    assert requested.queued
    cast_vote(engine, team_id=TEAM, decision_id=requested.view.id, user_id=PM, vote="approve", now=START, enqueue=True)
    cast_vote(engine, team_id=TEAM, decision_id=requested.view.id, user_id=ENG, vote="approve", now=START, enqueue=True)
    with session_scope(engine) as session:
        queued = outbox_repo.list_outbox(session=session, team_id=TEAM)
        assert [m.kind for m in queued] == ["post", "update", "update"]
        assert queued[0].idempotency_key == requested.view.outbox_key
        assert {m.target_key for m in queued[1:]} == {requested.view.outbox_key}
        assert queued[0].payload["text"] == requested.payload["text"]

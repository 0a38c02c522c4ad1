"""Tenancy: two workspaces hold a contract of the same name, and no surface of one reaches the other.

Workspace A (``TEAM``) and workspace B (``OTHER_TEAM``) are both installed through OAuth, each with
its own bot token, which is how the app serves more than one workspace. Each holds a contract
called ``fraud-screening`` with its own title, channel, weekly volume, costs, authors, snapshots,
experiment results and launch decision, so anything of B's that reached A would show as B's
channel, dollars or numbers (``Workspace.markers``). The same signers are named in both: only the
workspace tells them apart. Each surface kind walks a table of surfaces, driven as A through
signed HTTP requests to the real app (or through the scheduler's entry point for jobs), with the
listener pool drained before anything is checked, and reports every surface that leaked:

* commands that read (:data:`READS`): A's answer is the same, call for call, before and after B's
  data exists, and names nothing of B's; B's answer to the same words differs from A's and names
  nothing of A's. Every Web API call made for a workspace carries that workspace's token.
* commands that write (:data:`WRITES`): A's rows change as the command says, in the tables it
  says; every row of B's is unchanged.
* buttons (:data:`BUTTONS`) carrying B's opaque ids (launch decision, alert state, a contract only
  B holds, a "which contract?" choice): a polite refusal, or A's own answer, and no row of B's
  changed.
* modals (:data:`MODALS`) submitted from A with B's ``private_metadata``: no row of B's changed.
* events: A's ``tokens_revoked`` and ``app_uninstalled`` delete A's installation, not B's.
* scheduled jobs: A's pull and audit, run by :func:`bot.scheduler.run_due_jobs`, bind B's
  workspace in no SQL statement, change no row of B's, queue outbox rows only for A's team and
  channel, and come out as they would without B; the outbox worker delivers each row with its own
  workspace's token.

The storage layer's guarantees are in tests/storage/test_isolation.py; the single-workspace
behaviour of the same buttons in tests/bot/test_launch_flow.py, tests/bot/test_alert_actions.py
and tests/bot/test_audit_command.py.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import count
from typing import Any

import pytest
from cryptography.fernet import Fernet
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import Engine, MetaData, event, select, update
from sqlmodel import Session, col

from bot.app import build_app
from bot.blocks import ids
from bot.blocks.launch import (
    ACTION_LAUNCH_APPROVE,
    ACTION_LAUNCH_OVERRIDE,
    ACTION_LAUNCH_REASON,
    ACTION_LAUNCH_REJECT,
    BLOCK_LAUNCH_REASON,
    VIEW_LAUNCH_OVERRIDE_REASON,
    VIEW_LAUNCH_REJECT_REASON,
)
from bot.alerts import NOT_HERE as NOT_AN_ALERT_HERE
from bot.jobs.audit import audit_key, compose_audit, post_audit
from bot.jobs.pull import PullReport, pull_contract
from bot.launches import list_launches, request_decision
from bot.listeners.store import Store
from bot.reviews import NOT_HERE as NOT_A_REVIEW_HERE
from bot.outbox_worker import OutboxWorker
from bot.scheduler import make_runner, run_due_jobs, scheduled_contracts
from bot.settings import Settings
from bot.slack_client import retry_handlers
from bot.standin import SlackStandIn
from bot.workers import make_audit_runner, make_client_for_team
from metrics.classification import ScoreHistogram
from metrics.contract import Contract as ContractSpec
from storage import outbox as outbox_repo
from storage.contracts import get_contract, sync_contract
from storage.db import session_scope
from storage.models import OutboxMessage, OutboxStatus
from storage.warehouse.errors import WarehouseConnectionError
from tests.bot import guardrails
from tests.bot.conftest import (
    FRAUD_CHANNEL_ID,
    FRAUD_CHANNEL_NAME,
    OTHER_TEAM,
    SIGNING_SECRET,
    TEAM,
    WINDOW_END,
    SlackHttp,
    fraud_scores,
    seed_contract,
    seed_snapshot,
)
from tests.bot.test_launch_flow import FRAUD_WITH_STAR, seed_experiment
from tests.metrics.contract_factory import BASE, contract_data, to_yaml

NAME = "fraud-screening"
ONLY_B = guardrails.NAME  # a contract B holds and A does not
PM, DS = "U0FRAUDPM", "U0FRAUDDS"  # signers of fraud-screening in both workspaces
# Monday 10:00 UTC: the weekly audit (Mondays 09:00, Europe/London) is due; the snapshots' week ended at midnight.
NOW = WINDOW_END + timedelta(hours=10)
WEEK_END = NOW.date()


def _figure(text: str) -> str:
    """A figure as a marker, never part of a longer number."""
    return rf"(?<![\d,.]){re.escape(text)}(?![\d,])"


@dataclass(frozen=True)
class Workspace:
    """One workspace's installation and data, and the strings that would give that data away."""

    team: str
    token: str
    channel_id: str
    channel_name: str
    yaml: str
    author: str
    histogram_seed: int
    sample_size: int
    loss: float
    latency: float
    scenario: str
    markers: tuple[str, ...]

    @property
    def contract_channel(self) -> str:
        return f"#{self.channel_name}"

    def found_in(self, text: str) -> list[str]:
        return [marker for marker in self.markers if re.search(marker, text, re.IGNORECASE)]


A = Workspace(
    team=TEAM, token="xoxb-workspace-a-token", channel_id=FRAUD_CHANNEL_ID, channel_name=FRAUD_CHANNEL_NAME,
    yaml=FRAUD_WITH_STAR.replace("weekly_volume: 150000", "weekly_volume: 180000"), author="U0AUTHORA",
    histogram_seed=7, sample_size=20_500, loss=3.25, latency=101.0, scenario="ship",
    markers=(TEAM, "xoxb-workspace-a-token", FRAUD_CHANNEL_ID, "#fraud-ml", "Card fraud screening", "U0AUTHORA",
             _figure("180,000"), _figure("20,500"), r"\$420\b", r"\$3\.25\b"),
)
B = Workspace(
    team=OTHER_TEAM, token="xoxb-workspace-b-token", channel_id="C0OTHERBANK", channel_name="other-bank-fraud",
    yaml=(
        FRAUD_WITH_STAR.replace("Card fraud screening", "Other bank card fraud")
        .replace('channel: "#fraud-ml"', 'channel: "#other-bank-fraud"')
        .replace("Block card transactions the model scores", "Hold card payments the model scores")
        .replace("weekly_volume: 150000", "weekly_volume: 2400000")
        .replace("cost_false_positive: 15", "cost_false_positive: 90")
        .replace("cost_false_negative: 420", "cost_false_negative: 3100")
        # A lint warning A's contract does not have, so that /contract lint answers differ too.
        .replace("retirement: Retire when the card network's own screening catches 95% of what this model catches.\n", "")
    ),
    author="U0AUTHORB", histogram_seed=11, sample_size=7_321, loss=48.5, latency=333.0, scenario="hold",
    markers=(OTHER_TEAM, "xoxb-workspace-b-token", "C0OTHERBANK", "other-bank", "Other bank", "Hold card payments", "U0AUTHORB",
             _figure("2,400,000"), _figure("7,321"), r"\$3,100\b", r"\$48\.5"),
)
assert "180000" in A.yaml and "#other-bank-fraud" in B.yaml and "2400000" in B.yaml and "retirement" not in B.yaml


# --- the app, serving both workspaces -----------------------------------------------------------


@pytest.fixture(scope="module")
def slack_standin() -> Iterator[SlackStandIn]:
    """One stand-in for the module: each exchange reads only the calls its own request made."""
    standin = SlackStandIn(team_id=TEAM).start()
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture
def settings(slack_standin: SlackStandIn) -> Settings:
    """Multi-workspace OAuth: installations and their encrypted tokens live in the bot's database."""
    return Settings(
        slack_signing_secret=SIGNING_SECRET,
        slack_client_id="111.222",
        slack_client_secret="client-secret-value",
        encryption_key=Fernet.generate_key().decode(),
        slack_api_url=slack_standin.api_url,
        default_workspace=TEAM,
    )


@pytest.fixture
def app(settings: Settings, engine: Engine, slack_standin: SlackStandIn, pulls: list[dict], executor):
    client = WebClient(base_url=slack_standin.api_url, retry_handlers=retry_handlers())
    app = build_app(settings, engine=engine, client=client, clock=lambda: NOW, pull_requester=lambda **kw: pulls.append(kw),
                    listener_executor=executor)
    installations = app.oauth_flow.settings.installation_store
    for workspace in (A, B):
        installations.save(Installation(
            app_id="A0NORTHSTAR", team_id=workspace.team, bot_token=workspace.token, bot_id=f"B{workspace.team}",
            bot_user_id="UBOT00001", bot_scopes=["commands", "chat:write"], user_id="U0INSTALLER", installed_at=time.time(),
        ))
    return app


# --- the data -----------------------------------------------------------------------------------


def seed_workspace(engine: Engine, workspace: Workspace) -> str:
    """fraud-screening v1 and v2 (v2 signed by DS in B only), three weeks of snapshots,
    experiment results and a pending launch decision, whose id is returned."""
    team = workspace.team
    seed_contract(engine, team, workspace.yaml, author=workspace.author)
    v2 = workspace.yaml.replace("before they settle", f"before they settle (v2 by {workspace.author})")
    contract_id, version_id = seed_contract(engine, team, v2, author=workspace.author)
    if workspace is B:
        assert Store(engine).sign(team, NAME, version=2, role="ds", user_id=DS)
    labels, scores = fraud_scores(workspace.histogram_seed, n=workspace.sample_size)
    histogram = ScoreHistogram.from_arrays(labels, scores, bins=100)
    confusion = histogram.confusion_at(0.7)
    ids_ = (contract_id, version_id)
    n = workspace.sample_size
    for week in range(3):
        end = WINDOW_END - timedelta(weeks=week)
        seed_snapshot(engine, team, ids_, "fraud_recall", histogram=histogram, value=confusion.recall, end=end)
        seed_snapshot(engine, team, ids_, "premium_false_positive_rate", histogram=histogram, value=confusion.false_positive_rate,
                      end=end)
        seed_snapshot(engine, team, ids_, "fraud_loss_per_1k", value=workspace.loss + week, sample_size=n, end=end)
        seed_snapshot(engine, team, ids_, "scoring_latency_p95", value=workspace.latency + week, sample_size=n, end=end)
    seed_experiment(engine, team, ids_, workspace.scenario)
    decision = request_decision(engine, team_id=team, contract_name=NAME, requested_by=workspace.author, now=NOW - timedelta(hours=1))
    return decision.view.id


def seed_checkout(engine: Engine, team: str, channel: str) -> None:
    """The small guardrail contract of tests/bot/guardrails.py, posting to ``channel``."""
    data = contract_data(metrics=BASE["metrics"][:2], channel=channel)
    with session_scope(engine) as session:
        sync_contract(session=session, team_id=team, contract=ContractSpec.model_validate(data), source_yaml=to_yaml(data),
                      author="U0PM")


class Ledger:
    """Every row the database holds for a workspace, table by table, to compare before and after."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.metadata = MetaData()
        self.metadata.reflect(engine)  # once: Northstar's tables and slack-sdk's installation tables

    def rows(self, team: str) -> dict[str, list[tuple]]:
        found = {}
        with self.engine.connect() as connection:
            for name, table in sorted(self.metadata.tables.items()):
                if "team_id" in table.c:
                    where = table.c.team_id == team
                elif "job_key" in table.c:  # job claims are keyed "<kind>:<team>:<contract>"
                    where = table.c.job_key.like(f"%:{team}:%")
                else:
                    continue
                order = list(table.primary_key.columns) or list(table.c)
                found[name] = [tuple(row) for row in connection.execute(select(table).where(where).order_by(*order))]
        return found


def changed(before: dict[str, list[tuple]], after: dict[str, list[tuple]]) -> list[str]:
    return [name for name in sorted(set(before) | set(after)) if before.get(name) != after.get(name)]


def outbox_rows(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).scalars())


# --- requests -----------------------------------------------------------------------------------

_VOLATILE = [(re.compile(r"\b[VF]\d{8}\b"), "<id>"), (re.compile(r"\b17\d{8}\.\d{6}\b"), "<ts>")]
_ANSWERS = {"chat.postEphemeral", "chat.postMessage", "chat.update", "views.open", "views.update", "files.completeUploadExternal"}
_action_ts = count(1)


def _mask(text: str) -> str:
    """Without the stand-in's file and view ids and message timestamps, which differ run to run."""
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return text


@dataclass
class Exchange:
    """One request: the app's HTTP answer and the Web API calls it led to, as Slack received them."""

    calls: list[Any]
    response: dict = field(default_factory=dict)

    @property
    def tokens(self) -> set[str | None]:
        # The file bytes go to the upload URL Slack handed out, which takes no token.
        return {call.token for call in self.calls if call.method != "upload"}

    def methods(self) -> list[str]:
        return [call.method for call in self.calls]

    def text(self) -> str:
        return json.dumps(self.response, ensure_ascii=False) + "\n" + "\n".join(
            json.dumps(call.params, ensure_ascii=False) for call in self.calls)

    def content(self) -> str:
        """What the user reads, wherever it went: texts, blocks and views."""
        shown = [(c.params.get("text"), c.params.get("blocks"), c.params.get("view"), c.params.get("initial_comment"))
                 for c in self.calls if c.method in _ANSWERS]
        return _mask(json.dumps(shown, sort_keys=True, ensure_ascii=False))

    def transcript(self) -> list[tuple[str, str | None, str]]:
        """Every call, comparable across runs; uploads by their bytes."""
        return [(c.method, c.token, _mask(json.dumps(c.params, sort_keys=True, ensure_ascii=False))
                 + (hashlib.sha256(c.body).hexdigest() if c.method == "upload" else "")) for c in self.calls]


def _exchange(send: Callable[[], Any], standin: SlackStandIn, executor) -> Exchange:
    start = len(standin.calls)
    response = send()
    assert response.status_code == 200, response.text
    assert executor.drain() == [], "a listener raised"
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    return Exchange(calls=standin.calls[start:], response=body)


def ask(http: SlackHttp, standin, executor, workspace: Workspace, command: str, text: str, *, user: str = PM) -> Exchange:
    return _exchange(lambda: http.command(command, text, team=workspace.team, user=user, channel=workspace.channel_id,
                                          channel_name=workspace.channel_name), standin, executor)


def click(http: SlackHttp, standin, executor, workspace: Workspace, action_id: str, value: str, *, user: str = PM) -> Exchange:
    """A button under a message in ``workspace``'s channel, clicked by ``user`` of that workspace."""
    payload = {
        "type": "block_actions",
        "team": {"id": workspace.team, "domain": "northstar"},
        "user": {"id": user, "team_id": workspace.team},
        "channel": {"id": workspace.channel_id, "name": workspace.channel_name},
        "api_app_id": "A0NORTHSTAR",
        "trigger_id": "13345224609.738474920.tenancy",
        "container": {"type": "message", "message_ts": CLICKED_TS, "channel_id": workspace.channel_id},
        "message": {"ts": CLICKED_TS, "text": "a message with buttons"},
        "actions": [{"type": "button", "action_id": action_id, "block_id": "tenancy", "value": value,
                     "action_ts": f"1700000000.{next(_action_ts)}"}],
    }
    return _exchange(lambda: http.interactive(payload), standin, executor)


def submit(http: SlackHttp, standin, executor, workspace: Workspace, view: dict, *, claimed_team: str, user: str = PM) -> Exchange:
    """A modal submitted by ``user`` of ``workspace``; the view itself claims ``claimed_team``."""
    payload = {
        "type": "view_submission",
        "team": {"id": workspace.team, "domain": "northstar"},
        "user": {"id": user, "team_id": workspace.team},
        "api_app_id": "A0NORTHSTAR",
        "trigger_id": "13345224609.738474920.tenancy",
        "view": {"id": "V0TENANCY", "team_id": claimed_team, "type": "modal", "hash": "h", **view},
    }
    return _exchange(lambda: http.interactive(payload), standin, executor)


def leaks(exchange: Exchange, mine: Workspace, theirs: Workspace) -> list[str]:
    """Why ``exchange``, made for ``mine``, is not ``mine``'s alone (empty when it is)."""
    problems = []
    if exchange.tokens - {mine.token}:
        problems.append(f"called Slack with {sorted(map(str, exchange.tokens - {mine.token}))}")
    if found := theirs.found_in(exchange.text()):
        problems.append(f"showed {theirs.team}'s {found}")
    return problems


def judge(exchange: Exchange, before: tuple[dict, dict], after: tuple[dict, dict], *, tables: tuple[str, ...], answer: str,
          forbidden: tuple[str, ...]) -> list[str]:
    """Why a click or submission from A with B's ids went wrong: it leaked, changed B's rows,
    changed other rows of A's than ``tables``, did not say ``answer`` or went on to ``forbidden`` calls."""
    (before_a, before_b), (after_a, after_b) = before, after
    why = leaks(exchange, A, B)
    if moved := changed(before_b, after_b):
        why.append(f"changed B's {moved}")
    if changed(before_a, after_a) != list(tables):
        why.append(f"changed A's {changed(before_a, after_a)}, not {list(tables)}")
    if answer not in exchange.text():
        why.append(f"did not answer {answer!r}")
    if calls := [m for m in exchange.methods() if m in forbidden]:
        why.append(f"went on to {calls}")
    return why


def report(problems: dict[str, list[str]]) -> None:
    """Fail naming every surface that went wrong and how, not only the first."""
    found = {surface: why for surface, why in problems.items() if why}
    assert not found, "surfaces that failed:\n" + "\n".join(f"  {s}: {'; '.join(w)}" for s, w in found.items())


# --- commands that read -------------------------------------------------------------------------

READS = [
    ("/explain", "precision"),
    ("/explain", "fraud_recall"),
    ("/explain", "false positive rate in fraud-screening"),
    ("/metric", "fraud-screening fraud_loss_per_1k history"),
    ("/metric", "fraud-screening fraud_recall"),
    ("/tradeoff", ""),
    ("/tradeoff", "fraud-screening premium_false_positive_rate threshold 0.6"),
    ("/tradeoff", "fraud_loss_per_1k vs scoring_latency_p95"),
    ("/contract", "list"),
    ("/contract", "show fraud-screening"),
    ("/contract", "lint fraud-screening"),
    ("/contract", "history fraud-screening"),
    ("/contract", "diff fraud-screening 1 2"),
    ("/contract", "edit fraud-screening"),  # the modal, filled with the contract's YAML
    ("/launch", "history fraud-screening"),
]


def test_commands_answer_from_their_own_workspace_only(http, engine, standin, executor):
    seed_workspace(engine, A)
    alone = {read: ask(http, standin, executor, A, *read) for read in READS}
    seed_workspace(engine, B)
    problems = {}
    for read in READS:
        ours = ask(http, standin, executor, A, *read)
        theirs = ask(http, standin, executor, B, *read)
        why = leaks(ours, A, B) + [f"(as B) {p}" for p in leaks(theirs, B, A)]
        if ours.transcript() != alone[read].transcript():
            why.append("A's answer changed once B's data existed")
        if "[]" in (ours.content(), theirs.content()):
            why.append("no answer")
        elif ours.content() == theirs.content():
            why.append("A and B got the same answer, so a leak could not show")
        problems[" ".join(read)] = why
    report(problems)


# --- commands that write ------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    """A command that changes state: ``prepare`` sets up both workspaces, ``check`` says what A's change is."""

    command: str
    text: str
    tables: tuple[str, ...]  # A's tables the command changes
    check: Callable[[Engine, Exchange, list[dict]], None]
    prepare: Callable[[Engine], None] = lambda engine: None


def _signed(engine: Engine, exchange: Exchange, pulls: list[dict]) -> None:
    assert [(s.role, s.user_id) for s in Store(engine).signatures(A.team, NAME, 2)] == [("pm", PM)]
    assert "Signed fraud-screening v2 as pm" in exchange.text()


def _paused(until: datetime | None) -> Callable[[Engine, Exchange, list[dict]], None]:
    def check(engine: Engine, exchange: Exchange, pulls: list[dict]) -> None:
        with session_scope(engine) as session:
            assert get_contract(session=session, team_id=A.team, name=NAME).paused_until == until
    return check


def _pause_both(engine: Engine) -> None:
    for workspace in (A, B):
        assert Store(engine).set_paused(workspace.team, NAME, NOW + timedelta(days=3))


def _pull_queued(engine: Engine, exchange: Exchange, pulls: list[dict]) -> None:
    assert pulls == [{"team_id": A.team, "contract": NAME, "metric": "fraud_recall", "requested_by": PM}]


def _launched(engine: Engine, exchange: Exchange, pulls: list[dict]) -> None:
    newest = list_launches(engine, A.team, NAME)[0]
    assert newest.requested_by == PM and newest.recommendation == "ship" and newest.message_ts is not None
    [post] = [c for c in exchange.calls if c.method == "chat.postMessage"]
    assert post.params["channel"] == A.contract_channel and post.token == A.token


def _audit_queued(engine: Engine, exchange: Exchange, pulls: list[dict]) -> None:
    queued = [m for m in outbox_rows(engine) if m.team_id == A.team]
    assert queued and {m.channel for m in queued} == {A.contract_channel}
    assert queued[0].idempotency_key == f"audit:{A.team}:{NAME}:{WEEK_END}"
    assert not B.found_in(json.dumps([m.payload for m in queued], ensure_ascii=False))


WRITES = [
    Write("/contract", "sign fraud-screening", ("contract_signatures",), _signed),
    Write("/contract", "pause fraud-screening 2d", ("contracts",), _paused(NOW + timedelta(days=2))),
    Write("/contract", "resume fraud-screening", ("contracts",), _paused(None), prepare=_pause_both),
    Write("/metric", "fraud-screening fraud_recall refresh", (), _pull_queued),
    Write("/launch", "fraud-screening", ("launch_decisions",), _launched),
    Write("/audit", "fraud-screening", ("outbox",), _audit_queued),
]


def test_commands_change_only_their_own_workspace(http, engine, standin, executor, pulls):
    seed_workspace(engine, A)
    seed_workspace(engine, B)
    ledger = Ledger(engine)
    problems = {}
    for write in WRITES:
        write.prepare(engine)
        pulls.clear()
        before_a, before_b = ledger.rows(A.team), ledger.rows(B.team)
        exchange = ask(http, standin, executor, A, write.command, write.text)
        after_a, after_b = ledger.rows(A.team), ledger.rows(B.team)
        why = leaks(exchange, A, B)
        if moved := changed(before_b, after_b):
            why.append(f"changed B's {moved}")
        if changed(before_a, after_a) != list(write.tables):
            why.append(f"changed A's {changed(before_a, after_a)}, not {list(write.tables)}")
        try:
            write.check(engine, exchange, pulls)
        except AssertionError as exc:
            why.append(f"did not do what it says for A: {exc}")
        problems[f"{write.command} {write.text}"] = why
    report(problems)


# --- buttons ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Button:
    """A click from A whose value is built from B's world; ``answer`` is what A must be told."""

    name: str
    action_id: str
    value: Callable[[dict], str]
    answer: str
    user: str = PM
    tables: tuple[str, ...] = ()  # A's tables the click changes


def _choice(command: str, text: str, name: str) -> Callable[[dict], str]:
    return lambda world: json.dumps({"c": command, "t": text, "n": name})


NOT_A_DECISION_HERE = "I can't find that launch decision in this workspace, so nothing was recorded."
CLICKED_TS = "1700000001.000100"  # the message every click in this module is under

BUTTONS = [
    Button("Approve with B's decision id", ACTION_LAUNCH_APPROVE, lambda w: w["decision"], NOT_A_DECISION_HERE),
    Button("Reject with B's decision id", ACTION_LAUNCH_REJECT, lambda w: w["decision"], NOT_A_DECISION_HERE),
    Button("Override with B's decision id", ACTION_LAUNCH_OVERRIDE, lambda w: w["decision"], NOT_A_DECISION_HERE),
    # U0PM signs B's checkout-assist: only the workspace stands between the click and B's alert.
    Button("Acknowledge with B's alert id", ids.ACTION_ALERT_ACKNOWLEDGE, lambda w: w["alert"], NOT_AN_ALERT_HERE, user="U0PM"),
    Button("Snooze with B's alert id", ids.ACTION_ALERT_SNOOZE, lambda w: w["alert"], NOT_AN_ALERT_HERE, user="U0PM"),
    Button("Still right for a contract only B has", ids.ACTION_REVIEW_STILL_RIGHT, lambda w: ONLY_B, NOT_A_REVIEW_HERE),
    # Under a message whose ts is that of B's audit of the week before: A's answer is for A's own week.
    Button("Revisit for the name both hold", ids.ACTION_REVIEW_REVISIT, lambda w: NAME,
           f"Recorded “Revisit” for {NAME}, week ending {WEEK_END}", tables=("review_answers",)),
    Button("Which contract? naming one only B has", ids.indexed(ids.ACTION_CHOOSE_CONTRACT_PREFIX, 0),
           _choice("/explain", "precision", ONLY_B), f"No contract called “{ONLY_B}” in this workspace"),
    Button("Which contract? naming the name both hold", ids.indexed(ids.ACTION_CHOOSE_CONTRACT_PREFIX, 1),
           _choice("/metric", "fraud_loss_per_1k", NAME), "fraud losses per 1,000 transactions (fraud-screening): $3.25"),
    Button("Did you mean…? in a contract only B has", ids.indexed(ids.ACTION_EXPLAIN_SUGGESTION_PREFIX, 0),
           lambda w: f"precision in {ONLY_B}", f"No contract called “{ONLY_B}” in this workspace"),
]


@pytest.fixture
def daily_warehouse(tmp_path) -> guardrails.DailyWarehouse:
    return guardrails.DailyWarehouse(tmp_path / "daily.duckdb")


def test_buttons_with_another_workspaces_ids_change_nothing_of_it(http, engine, standin, executor, daily_warehouse):
    seed_workspace(engine, A)
    their_decision = seed_workspace(engine, B)
    seed_checkout(engine, B.team, "C0OTHERCHK")
    breach = guardrails.pull_day(engine, daily_warehouse, B.team, 0, 0.4, now=NOW - timedelta(days=1))
    assert [i.kind for i in breach.intents] == ["alert"]
    world = {"decision": their_decision, "alert": str(guardrails.alert_state(engine, B.team).id)}
    earlier = WEEK_END - timedelta(weeks=1)
    assert post_audit(engine=engine, team_id=B.team, contract_name=NAME, week_end=earlier, now=NOW, with_chart=False)
    with session_scope(engine) as session:
        session.exec(update(OutboxMessage).where(col(OutboxMessage.idempotency_key) == audit_key(B.team, NAME, earlier))
                     .values(status=OutboxStatus.DELIVERED, delivered_ts=CLICKED_TS))
    ledger = Ledger(engine)
    problems = {}
    for button in BUTTONS:
        before = ledger.rows(A.team), ledger.rows(B.team)
        exchange = click(http, standin, executor, A, button.action_id, button.value(world), user=button.user)
        problems[button.name] = judge(exchange, before, (ledger.rows(A.team), ledger.rows(B.team)), tables=button.tables,
                                      answer=button.answer, forbidden=("chat.update", "views.open"))
    report(problems)


# --- modals -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Modal:
    """A submission from A whose view is built from B's world; ``answer`` is what A is told."""

    name: str
    view: Callable[[dict], dict]
    answer: str
    tables: tuple[str, ...] = ()


def _reason_view(callback_id: str, reason: str) -> Callable[[dict], dict]:
    return lambda world: {
        "callback_id": callback_id, "private_metadata": world["decision"],
        "state": {"values": {BLOCK_LAUNCH_REASON: {ACTION_LAUNCH_REASON: {"type": "plain_text_input", "value": reason}}}},
    }


def _editor_view(metadata: dict, yaml_text: str) -> Callable[[dict], dict]:
    return lambda world: {
        "callback_id": ids.VIEW_CONTRACT_EDITOR, "private_metadata": json.dumps(metadata),
        "state": {"values": {ids.BLOCK_CONTRACT_YAML: {ids.ACTION_CONTRACT_YAML: {"type": "plain_text_input", "value": yaml_text}}}},
    }


_CHECKOUT = contract_data(metrics=BASE["metrics"][:2], channel="C0ACHECKOUT")

MODALS = [
    Modal("Reject reason for B's decision", _reason_view(VIEW_LAUNCH_REJECT_REASON, "Not ready."), NOT_A_DECISION_HERE),
    Modal("Override reason for B's decision",
          _reason_view(VIEW_LAUNCH_OVERRIDE_REASON, "The guardrail is measured on a stale segment."), NOT_A_DECISION_HERE),
    # The view claims B's workspace and B's channel: the contract saved is still A's own.
    Modal("Contract editor claiming B's workspace",
          _editor_view({"name": NAME, "channel": B.channel_id}, A.yaml.replace("before they settle", "before they settle (v3)")),
          "Saved fraud-screening v3", tables=("contract_versions", "contracts")),
    Modal("Contract editor naming a contract only B has",
          _editor_view({"name": ONLY_B, "channel": B.channel_id}, to_yaml(_CHECKOUT)),
          f"Saved {ONLY_B} v1", tables=("contract_versions", "contracts")),
]


def test_modals_with_another_workspaces_metadata_change_nothing_of_it(http, engine, standin, executor):
    seed_workspace(engine, A)
    world = {"decision": seed_workspace(engine, B)}
    seed_checkout(engine, B.team, "C0OTHERCHK")
    ledger = Ledger(engine)
    problems = {}
    for modal in MODALS:
        before = ledger.rows(A.team), ledger.rows(B.team)
        exchange = submit(http, standin, executor, A, modal.view(world), claimed_team=B.team)
        problems[modal.name] = judge(exchange, before, (ledger.rows(A.team), ledger.rows(B.team)), tables=modal.tables,
                                     answer=modal.answer, forbidden=("chat.update",))
    report(problems)
    assert list_launches(engine, B.team)[0].votes == ()


# --- events -------------------------------------------------------------------------------------

EVENTS = [
    ("tokens_revoked", {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UBOT00001"]}}, ["slack_bots"]),
    ("app_uninstalled", {"type": "app_uninstalled"}, ["slack_installations"]),
]


def test_an_uninstall_removes_only_its_own_workspaces_tokens(http, engine, standin, executor):
    seed_workspace(engine, A)
    seed_workspace(engine, B)
    ledger = Ledger(engine)
    problems = {}
    for number, (name, body, tables) in enumerate(EVENTS, start=1):
        before_a, before_b = ledger.rows(A.team), ledger.rows(B.team)
        envelope = {"token": "unused", "team_id": A.team, "api_app_id": "A0NORTHSTAR", "type": "event_callback",
                    "event": {**body, "event_ts": f"1700000000.{number}"}, "event_id": f"Ev{number}", "event_time": 1700000000}
        _exchange(lambda: http.post(json.dumps(envelope), content_type="application/json"), standin, executor)
        after_a, after_b = ledger.rows(A.team), ledger.rows(B.team)
        why = [f"changed B's {moved}"] if (moved := changed(before_b, after_b)) else []
        if changed(before_a, after_a) != tables or any(after_a[t] for t in tables):
            why.append(f"left A's {tables} or changed {changed(before_a, after_a)}")
        problems[name] = why
    report(problems)
    theirs = ask(http, standin, executor, B, "/contract", "show fraud-screening")
    assert theirs.tokens == {B.token} and "Other bank card fraud" in theirs.content(), "B is still installed"


# --- scheduled jobs -----------------------------------------------------------------------------


class Bound:
    """Every parameter the engine binds while a job runs, to show the job never names B."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.parameters: list[str] = []
        self.listening = False

    def __call__(self, connection, cursor, statement, parameters, context, executemany) -> None:
        if self.listening:
            self.parameters.append(repr(parameters))

    def __enter__(self) -> Bound:
        event.listen(self.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self)

    def naming(self, *needles: str) -> list[str]:
        return [p for p in self.parameters if any(n in p for n in needles)]


def run_scheduled(engine: Engine, job_key: str, *, now: datetime, bound: Bound, runner) -> list:
    """Run one due job through the scheduler's entry point, watching only the job itself.

    Working out what is due reads every workspace's schedule by design; the run does not.
    """
    # The contracts were stored at the wall clock's time; the simulated runs are earlier.
    contracts = [dataclasses.replace(c, created_at=now - timedelta(days=60)) for c in scheduled_contracts(engine)]

    def watched(due) -> None:
        bound.listening = True
        try:
            runner(due)
        finally:
            bound.listening = False

    results = run_due_jobs(engine=engine, now=now, replica_id="replica-a", runner=watched, contracts=contracts, only=job_key)
    assert [(r.run.job_key, r.outcome) for r in results] == [(job_key, "ran")], results
    return results


def test_a_scheduled_pull_never_reads_or_writes_the_other_workspace(engine, daily_warehouse):
    # The same contract name in both workspaces; B is mid-breach and its pulls have been failing.
    seed_checkout(engine, A.team, guardrails.CHANNEL)
    seed_checkout(engine, B.team, "C0OTHERCHK")
    guardrails.pull_day(engine, daily_warehouse, B.team, 0, 0.4, now=guardrails.DAY1 + timedelta(days=1, hours=6))

    def unreachable(name: str):
        raise WarehouseConnectionError("connection refused")

    for hour in range(3):
        pull_contract(engine=engine, settings_or_warehouse_factory=unreachable, team_id=B.team, contract_name=ONLY_B,
                      window_start=guardrails.DAY1, window_end=guardrails.DAY1 + timedelta(days=1),
                      now=guardrails.DAY1 + timedelta(days=1, hours=7 + hour), sleep=lambda s: None)
    ledger = Ledger(engine)
    before_b, queued_before = ledger.rows(B.team), {m.id for m in outbox_rows(engine)}

    daily_warehouse.set_day(1, 0.4)  # A's day 1 breaches the guardrail too
    reports: list[PullReport] = []

    def pull(**kwargs) -> None:
        reports.append(pull_contract(**kwargs, sleep=lambda s: None))

    runner = make_runner(engine=engine, settings=daily_warehouse.factory, pull=pull)
    with Bound(engine) as bound:
        run_scheduled(engine, f"pull:{A.team}:{ONLY_B}", now=guardrails.DAY1 + timedelta(days=2, hours=6), bound=bound, runner=runner)

    [pulled] = reports
    assert pulled.window_start == guardrails.DAY1 + timedelta(days=1)
    # Had A's pull read B's alert state it would remind about B's breach; had it read B's failed
    # attempts it would raise a pipeline alert. A alone gets one fresh alert for its own breach.
    assert [(i.kind, i.metrics) for i in pulled.intents] == [("alert", (guardrails.GUARDRAIL,))]
    assert not [f for f in pulled.findings if f.breached and f.key != guardrails.GUARDRAIL]
    assert bound.parameters and bound.naming(B.team, "C0OTHERCHK") == []
    assert ledger.rows(B.team) == before_b
    queued = [m for m in outbox_rows(engine) if m.id not in queued_before]
    assert [(m.team_id, m.channel) for m in queued] == [(A.team, guardrails.CHANNEL)]
    assert queued[0].idempotency_key.startswith(f"alert:{A.team}:{ONLY_B}:")
    alert = guardrails.alert_state(engine, A.team)
    assert json.dumps(queued[0].payload).count(f'"value": "{alert.id}"') == 2, "both buttons carry A's own alert id"


def test_a_scheduled_audit_reads_only_its_workspace_and_posts_only_to_its_channel(engine):
    seed_workspace(engine, A)
    alone = compose_audit(engine=engine, team_id=A.team, contract_name=NAME, week_end=WEEK_END, now=NOW)
    seed_workspace(engine, B)
    # A failed delivery of B's to a channel that is also called #fraud-ml in B's workspace: A's
    # audit lists failed deliveries to its channel, and must not list this one.
    with session_scope(engine) as session:
        trap = outbox_repo.enqueue_message(session=session, team_id=B.team, idempotency_key=f"note:{B.team}:1", kind="post",
                                           channel=A.contract_channel, payload={"text": "B's note"}, now=NOW - timedelta(hours=2))
        trap.status, trap.last_error = OutboxStatus.FAILED, "not_in_channel"
        session.add(trap)
    ledger = Ledger(engine)
    before_b = ledger.rows(B.team)

    runner = make_runner(engine=engine, settings=lambda name: None, audit_runner=make_audit_runner(engine=engine, clock=lambda: NOW))
    with Bound(engine) as bound:
        run_scheduled(engine, f"audit:{A.team}:{NAME}", now=NOW, bound=bound, runner=runner)

    assert bound.parameters and bound.naming(B.team, B.channel_name) == []
    assert ledger.rows(B.team) == before_b
    queued = [m for m in outbox_rows(engine) if m.team_id == A.team]
    assert {(m.team_id, m.channel) for m in queued} == {(A.team, A.contract_channel)}
    posts = [m.payload for m in queued if m.kind == "post"]
    assert posts == alone.payloads, "B's data changed A's audit"
    [upload] = [m.payload for m in queued if m.kind == "upload"]
    assert alone.chart is not None and upload["file_b64"] == base64.b64encode(alone.chart).decode("ascii")
    assert not B.found_in(json.dumps(posts, ensure_ascii=False)) and "not_in_channel" not in json.dumps(posts)


def test_the_outbox_worker_delivers_each_row_with_its_own_workspaces_token(app, settings, engine, standin):
    for workspace in (A, B):
        seed_workspace(engine, workspace)
        assert post_audit(engine=engine, team_id=workspace.team, contract_name=NAME, week_end=WEEK_END, now=NOW)
    start = len(standin.calls)
    worker = OutboxWorker(engine=engine, client_for_team=make_client_for_team(settings, engine), worker_id="tenancy",
                          clock=lambda: NOW, sleep=lambda s: None, pacing_per_channel_s=0, jitter=lambda: 0.0)
    for _ in range(3):  # posts, then what waits for their ts (the chart and replies in the thread)
        worker.run_once(NOW)
    rows = outbox_rows(engine)
    assert rows and {m.status for m in rows} == {OutboxStatus.DELIVERED}

    calls = standin.calls[start:]
    # The upload URL is asked for before the channel is named; each workspace asks with its own token.
    assert sorted(c.token for c in calls if c.method == "files.getUploadURLExternal") == [A.token, B.token]
    channel_of = {A.contract_channel: A, B.contract_channel: B}
    seen: dict[str, set[str | None]] = {A.team: set(), B.team: set()}
    for call in calls:
        channel = call.params.get("channel") or call.params.get("channel_id")
        if call.method in ("upload", "files.getUploadURLExternal"):
            continue
        owner = channel_of[channel]
        seen[owner.team].add(call.token)
        assert call.token == owner.token, f"{call.method} to {owner.team}'s {channel} used {call.token}"
        assert not (B if owner is A else A).found_in(json.dumps(call.params, ensure_ascii=False))
    assert seen == {A.team: {A.token}, B.team: {B.token}}

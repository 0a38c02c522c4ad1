"""`northstar demo`: the whole product on a laptop, with no Slack account and no network.

It runs the same code paths as the running bot: contracts synced and linted, metrics pulled
from a generated DuckDB warehouse through the push-down, guardrails evaluated, alerts and weekly
audits queued in the outbox and delivered by the outbox worker, and slash commands and button
clicks sent as *signed* requests to the real Bolt app over its ASGI interface. Slack itself is an
in-process stand-in of the Web API that records every call; the recording becomes the
transcript printed in the terminal and laid out in ``index.html``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Engine

from bot.app import build_app
from bot.blocks.audit import render_text
from bot.contract_files import load_contract_files
from bot.demo_html import ChannelLog, PostedFile, PostedMessage, Transcript, write_transcript
from bot.http import build_asgi
from bot.jobs.audit import post_audit
from bot.jobs.experiments import pull_experiments
from bot.jobs.pull import pull_contract
from bot.launches import get_launch
from bot.outbox_worker import OutboxWorker, make_worker_client
from bot.settings import Settings
from bot.standin import SlackStandIn, channel_id
from metrics.contract import Contract
from storage.contracts import sync_contract
from storage.db import make_engine, session_scope, upgrade_database

DEMO_TEAM = "T0DEMO0001"
DEMO_SECRET = "demo-signing-secret-not-for-production"
DEMO_TOKEN = "xoxb-demo-standin"
ANALYST = "U0ANALYST1"
AUDITED_WEEKS = 12
REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = REPO_ROOT / "examples"


@dataclass
class DemoResult:
    """What the demo did, for the terminal summary and for tests."""

    out_dir: Path
    transcript: Transcript
    seconds: float
    lint_findings: int = 0
    pulls: int = 0
    launch_states: dict[str, str] = field(default_factory=dict)

    @property
    def index_html(self) -> Path:
        return self.out_dir / "index.html"

    @property
    def charts_dir(self) -> Path:
        return self.out_dir / "charts"


def load_warehouse_generator():
    """The generator lives in examples/ (it is sample data, not product code): load it by path."""
    path = EXAMPLES / "demo_warehouse.py"
    spec = importlib.util.spec_from_file_location("northstar_demo_warehouse", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"demo warehouse generator not found at {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def weekly_windows(contract: Contract, as_of: date, weeks: int) -> list[tuple[datetime, datetime]]:
    """Monday-to-Monday windows at local midnight in the contract's time zone, oldest first."""
    tz = ZoneInfo(contract.schedule.timezone)
    ends = [as_of - timedelta(weeks=i) for i in range(weeks)][::-1]
    return [
        (datetime.combine(end - timedelta(weeks=1), datetime.min.time(), tz), datetime.combine(end, datetime.min.time(), tz))
        for end in ends
    ]


class SignedSlack:
    """Sends signed Slack requests (commands, button clicks, modal submissions) to the ASGI app."""

    def __init__(self, asgi, secret: str):
        self.asgi = asgi
        self.verifier = SignatureVerifier(secret)

    def _post(self, body: str) -> httpx.Response:
        timestamp = str(int(time.time()))
        headers = {
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": self.verifier.generate_signature(timestamp=timestamp, body=body),
            "Content-Type": "application/x-www-form-urlencoded",
        }

        async def send() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.asgi), base_url="http://northstar.local") as client:
                return await client.post("/slack/events", content=body.encode(), headers=headers)

        response = asyncio.run(send())
        response.raise_for_status()
        return response

    def command(self, command: str, text: str, *, user: str, channel: str) -> httpx.Response:
        form = {
            "team_id": DEMO_TEAM, "team_domain": "northstar-demo", "channel_id": channel, "channel_name": channel.lstrip("#"),
            "user_id": user, "user_name": user.lower(), "command": command, "text": text, "api_app_id": "A0NORTHSTAR",
            "response_url": "https://hooks.slack.invalid/commands/demo", "trigger_id": f"demo.{time.monotonic_ns()}",
        }
        return self._post(urlencode(form))

    def click(self, *, user: str, channel: str, message_ts: str, action_id: str, value: str) -> httpx.Response:
        payload = {
            "type": "block_actions", "team": {"id": DEMO_TEAM, "domain": "northstar-demo"},
            "user": {"id": user, "team_id": DEMO_TEAM}, "api_app_id": "A0NORTHSTAR", "trigger_id": f"demo.{time.monotonic_ns()}",
            "channel": {"id": channel}, "container": {"type": "message", "channel_id": channel, "message_ts": message_ts},
            "message": {"ts": message_ts, "text": ""}, "response_url": "https://hooks.slack.invalid/actions/demo",
            "actions": [{"type": "button", "action_id": action_id, "block_id": "demo", "value": value, "action_ts": str(time.time())}],
        }
        return self._post(urlencode({"payload": json.dumps(payload)}))


class FakeClock:
    """Simulated time for the outbox worker, so pacing (1 message/s/channel) holds without waiting."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def deliver_outbox(engine: Engine, standin: SlackStandIn, clock: FakeClock, *, max_passes: int = 2000) -> None:
    """Run the outbox worker until nothing is due, advancing simulated time between passes."""
    worker = OutboxWorker(
        engine=engine,
        client_for_team=lambda team: make_worker_client(token=DEMO_TOKEN, base_url=standin.api_url),
        worker_id="demo-worker",
        clock=clock,
        sleep=clock.sleep,
        jitter=lambda: 0.5,
    )
    idle = 0
    for _ in range(max_passes):
        report = worker.run_once(clock())
        if report.claimed == 0:
            idle += 1
            if idle > 3:
                return
        else:
            idle = 0
        clock.sleep(1.0)


# --- transcript -----------------------------------------------------------------------------


def _channel_name(channel: str) -> str:
    if channel.startswith("D"):
        return "Direct messages"
    return channel if channel.startswith("#") else f"#{channel}"


def build_transcript(standin: SlackStandIn, charts_dir: Path) -> Transcript:
    """Turn the stand-in's recorded Web API calls into channels, messages, threads and files."""
    channels: dict[str, ChannelLog] = {}
    by_ts: dict[tuple[str, str], PostedMessage] = {}
    upload_names: dict[str, str] = {}
    upload_bytes = dict(standin.uploads)
    charts_dir.mkdir(parents=True, exist_ok=True)

    def log_for(channel: str) -> ChannelLog:
        name = _channel_name(channel)
        if name not in channels:
            channels[name] = ChannelLog(name=name, messages=[])
        return channels[name]

    def place(channel: str, message: PostedMessage, thread_ts: str | None) -> None:
        parent = by_ts.get((channel_id(channel), thread_ts)) if thread_ts else None
        if parent is not None:
            parent.replies.append(message)
        else:
            log_for(channel).messages.append(message)

    for call in list(standin.calls):
        answer = call.response or {}
        if not answer.get("ok"):
            continue
        params = call.params
        blocks = params.get("blocks") if isinstance(params.get("blocks"), list) else None
        if call.method == "chat.postMessage":
            channel = str(params["channel"])
            message = PostedMessage(ts=answer["ts"], author="Northstar", text=str(params.get("text") or ""), blocks=blocks, replies=[], files=[])
            # Threads and edits refer to the channel by the id Slack answered with.
            by_ts[(channel_id(channel), answer["ts"])] = message
            place(channel, message, params.get("thread_ts"))
        elif call.method == "chat.update":
            message = by_ts.get((channel_id(params["channel"]), str(params["ts"])))
            if message is not None:
                message.text, message.blocks, message.edited = str(params.get("text") or message.text), blocks, True
        elif call.method == "chat.postEphemeral":
            channel = str(params["channel"])
            message = PostedMessage(
                ts=answer.get("message_ts", ""), author="Northstar", text=str(params.get("text") or ""), blocks=blocks,
                replies=[], files=[], ephemeral_to=str(params.get("user")),
            )
            place(channel, message, params.get("thread_ts"))
        elif call.method == "files.getUploadURLExternal":
            upload_names[answer["file_id"]] = str(params.get("filename") or f"{answer['file_id']}.png")
        elif call.method == "files.completeUploadExternal":
            files = params.get("files")
            files = json.loads(files) if isinstance(files, str) else files or []
            channel = str(params.get("channel_id") or params.get("channels") or "")
            if not channel:
                continue
            posted = []
            for item in files:
                filename = f"{item['id']}-{upload_names.get(item['id'], 'chart.png')}"
                (charts_dir / filename).write_bytes(upload_bytes.get(item["id"], b""))
                posted.append(PostedFile(title=str(item.get("title") or filename), filename=f"charts/{filename}",
                                         initial_comment=str(params.get("initial_comment") or "")))
            message = PostedMessage(ts=f"file-{files[0]['id'] if files else ''}", author="Northstar",
                                    text=str(params.get("initial_comment") or ""), blocks=None, replies=[], files=posted)
            place(channel, message, params.get("thread_ts"))
    return Transcript(workspace=DEMO_TEAM, channels=list(channels.values()), generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))


def print_transcript(console: Console, transcript: Transcript) -> None:
    """Each message as readable text, grouped by channel, threads indented."""

    def show(message: PostedMessage, indent: str) -> None:
        tag = f" (only visible to {message.ephemeral_to})" if message.ephemeral_to else ""
        tag += " (edited)" if message.edited else ""
        console.print(f"{indent}[bold cyan]Northstar[/][dim]{escape(tag)}[/]")
        body = render_text({"text": message.text, "blocks": message.blocks}) if message.blocks else message.text
        for line in body.splitlines():
            console.print(f"{indent}  {line}", markup=False, highlight=False)
        for file in message.files:
            console.print(f"{indent}  [magenta]📎 {escape(file.title)}[/] [dim]({escape(file.filename)})[/]")
        for reply in message.replies:
            show(reply, indent + "    ↳ ")

    for channel in transcript.channels:
        console.rule(f"[bold]{escape(channel.name)}[/]")
        for message in channel.messages:
            show(message, "")
            console.print()


# --- the run --------------------------------------------------------------------------------


def _latest_ts(standin: SlackStandIn, channel: str, *, containing: str) -> str | None:
    for call in reversed(standin.calls):
        if call.method == "chat.postMessage" and call.params.get("channel") == channel and containing in json.dumps(call.params.get("blocks") or call.params.get("text")):
            return (call.response or {}).get("ts")
    return None


def _decision_id(standin: SlackStandIn, channel: str) -> tuple[str, str] | None:
    """The opaque decision id on the latest scorecard's buttons in ``channel``, with its ts."""
    for call in reversed(standin.calls):
        if call.method != "chat.postMessage" or call.params.get("channel") != channel:
            continue
        for block in call.params.get("blocks") or []:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if str(element.get("action_id", "")).startswith("launch_"):
                    return element["value"], (call.response or {}).get("ts", "")
    return None


def run_demo(
    *,
    out_dir: Path,
    console: Console,
    seed: int = 7,
    scale: float = 1.0,
    show: bool = True,
    step: Callable[[str], None] | None = None,
) -> DemoResult:
    """Run the demo into ``out_dir`` (replaced) and return what it produced."""
    started = time.perf_counter()
    say = step or (lambda text: console.print(f"[bold green]▸[/] {text}"))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)

    say("Generating the demo warehouse (DuckDB, 16 weeks of seeded data for four AI features)")
    generator = load_warehouse_generator()
    warehouse = generator.generate(out_dir / "warehouse.duckdb", seed=seed, scale=scale)
    as_of: date = warehouse.as_of

    engine = make_engine(f"sqlite:///{out_dir / 'northstar.db'}")
    upgrade_database(engine)

    say("Syncing and linting the example contracts")
    loaded = load_contract_files([EXAMPLES / "contracts"], dialect="duckdb")
    findings = 0
    contracts: list[Contract] = []
    with session_scope(engine) as session:
        for item in loaded:
            if item.contract is None or item.report is None:
                raise RuntimeError(item.error or f"{item.path}: not a contract")
            for finding in item.report.findings:
                findings += 1
                console.print(f"  [yellow]{finding.severity.value}[/] {escape(item.contract.name)} {escape(str(finding.subject))}: {escape(finding.message)}")
            result = sync_contract(session=session, team_id=DEMO_TEAM, contract=item.contract, source_yaml=item.text, author="demo", source_path=str(item.path))
            contracts.append(item.contract)
            console.print(f"  {escape(item.contract.name)}: version {result.version_row.version} stored")

    standin = SlackStandIn(team_id=DEMO_TEAM).start()
    try:
        settings = Settings(
            database_url=str(engine.url), slack_bot_token=DEMO_TOKEN, slack_signing_secret=DEMO_SECRET,
            slack_api_url=standin.api_url, default_workspace=DEMO_TEAM,
            warehouses={"demo": f"duckdb:///{out_dir / 'warehouse.duckdb'}"},
        )
        clock = FakeClock(datetime.combine(as_of, datetime.min.time(), UTC))

        say(f"Backfilling {AUDITED_WEEKS} weeks of pulls, evaluating guardrails and queueing alerts")
        pulls = 0
        with Progress(TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=not show) as progress:
            task = progress.add_task("pulling", total=len(contracts) * AUDITED_WEEKS)
            for week in range(AUDITED_WEEKS):
                for contract in contracts:
                    start, end = weekly_windows(contract, as_of, AUDITED_WEEKS)[week]
                    report = pull_contract(
                        engine=engine, settings_or_warehouse_factory=settings, team_id=DEMO_TEAM, contract_name=contract.name,
                        window_start=start, window_end=end, now=end + timedelta(hours=6), sleep=lambda s: None,
                    )
                    pulls += 1
                    if report.intents:
                        progress.console.print(f"  [dim]{escape(report.summary())}[/]")
                    progress.advance(task)
                clock.now = weekly_windows(contracts[0], as_of, AUDITED_WEEKS)[week][1].astimezone(UTC) + timedelta(hours=7)
                deliver_outbox(engine, standin, clock)

        exp_start = datetime.combine(warehouse.experiment_window[0], datetime.min.time(), UTC)
        exp_end = datetime.combine(warehouse.experiment_window[1], datetime.min.time(), UTC)
        say("Pulling the A/B experiments for launch scorecards")
        for contract in contracts:
            for result in pull_experiments(
                engine=engine, settings_or_warehouse_factory=settings, team_id=DEMO_TEAM, contract_name=contract.name,
                window_start=exp_start, window_end=exp_end, now=exp_end,
            ):
                console.print(f"  {escape(result.summary())}")

        say("Composing this week's audit for every contract")
        audit_now = datetime.combine(as_of, datetime.min.time(), UTC) + timedelta(hours=9)
        for contract in contracts:
            post_audit(engine=engine, team_id=DEMO_TEAM, contract_name=contract.name, week_end=as_of, now=audit_now)
        clock.now = audit_now
        deliver_outbox(engine, standin, clock)

        say("Asking the bot: /explain precision, /tradeoff, /launch (signed requests to the Bolt app)")
        client = WebClient(token=DEMO_TOKEN, base_url=standin.api_url)
        listeners = ThreadPoolExecutor(max_workers=5, thread_name_prefix="demo-listener")
        app = build_app(settings, engine=engine, client=client, clock=lambda: audit_now, listener_executor=listeners)
        slack = SignedSlack(build_asgi(app, engine=engine, signing_secret=DEMO_SECRET), DEMO_SECRET)
        fraud = next(c for c in contracts if c.name == "fraud-screening")
        support = next(c for c in contracts if c.name == "support-deflection")
        expected = len(standin.calls_to("chat.postEphemeral"))
        slack.command("/explain", "precision", user=ANALYST, channel=fraud.channel)
        slack.command("/tradeoff", "", user=ANALYST, channel=fraud.channel)
        standin.wait_for("chat.postEphemeral", expected + 2, timeout=30)

        launch_states: dict[str, str] = {}
        for contract in (fraud, support):
            posted = len(standin.calls_to("chat.postMessage"))
            slack.command("/launch", contract.name, user=contract.signers["pm"], channel=contract.channel)
            standin.wait_for("chat.postMessage", posted + 1, timeout=30)
            found = _decision_id(standin, contract.channel)
            if found is None:
                launch_states[contract.name] = "not posted"
                continue
            decision_id, ts = found
            launch_states[contract.name] = "pending"
            if contract is support:
                for role in ("pm", "eng", "ds"):
                    updates = len(standin.calls_to("chat.update"))
                    slack.click(user=contract.signers[role], channel=contract.channel, message_ts=ts, action_id="launch_approve", value=decision_id)
                    standin.wait_for("chat.update", updates + 1, timeout=30)
            else:
                # A non-signer tries to approve the blocked launch: refused, politely, by name.
                ephemerals = len(standin.calls_to("chat.postEphemeral"))
                slack.click(user=ANALYST, channel=contract.channel, message_ts=ts, action_id="launch_approve", value=decision_id)
                standin.wait_for("chat.postEphemeral", ephemerals + 1, timeout=30)
            view = get_launch(engine, team_id=DEMO_TEAM, decision_id=decision_id)
            launch_states[contract.name] = getattr(view, "state", "unknown") if view is not None else "unknown"
        # Let every listener finish talking to the stand-in before it stops.
        listeners.shutdown(wait=True)
        deliver_outbox(engine, standin, clock)
    finally:
        standin.stop()
        engine.dispose()

    transcript = build_transcript(standin, out_dir / "charts")
    write_transcript(out_dir, transcript)
    if show:
        print_transcript(console, transcript)
    return DemoResult(
        out_dir=out_dir, transcript=transcript, seconds=time.perf_counter() - started, lint_findings=findings,
        pulls=pulls, launch_states=launch_states,
    )

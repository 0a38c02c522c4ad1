"""/tradeoff: thresholds in money per week, or how two metrics rank against each other."""

from __future__ import annotations

import logging

from slack_bolt import Ack, App
from slack_sdk import WebClient

from metrics.contract import BOUNDED_ROLES, Contract, Kind, Role

from bot.blocks import ids
from bot.blocks.common import escape
from bot.blocks.tradeoff import build_hierarchy, build_tradeoff
from bot.charts import tradeoff_chart
from bot.listeners.analysis import build_tradeoff as compute_tradeoff
from bot.listeners.analysis import comovement
from bot.listeners.common import (
    run_command,
    Invocation,
    UserFacingError,
    ask_which_contract,
    parse_float,
    reply,
    resolve_contract,
)
from bot.listeners.deps import Deps

logger = logging.getLogger(__name__)


def _metric(contract: Contract, name: str):
    metric = contract.metric(name)
    if metric is None:
        known = ", ".join(m.name for m in contract.metrics)
        raise UserFacingError(f"{contract.name} has no metric “{name}”. Its metrics: {known}.")
    return metric


def _default_classifier(contract: Contract):
    classifiers = [m for m in contract.metrics if m.kind is Kind.CLASSIFICATION]
    if not classifiers:
        raise UserFacingError(f"{contract.name} has no classification metric to trade off. Try `/tradeoff <metric> vs <metric>`.")
    preferred = [m for m in classifiers if m.role in (Role.NORTH_STAR, Role.SECONDARY)]
    return (preferred or classifiers)[0]


def threshold_answer(deps: Deps, client: WebClient, invocation: Invocation, contract: Contract) -> None:
    words = list(invocation.words)
    threshold = None
    if words and words[0].lower() == "threshold":
        if len(words) < 2 or parse_float(words[1]) is None or not 0 < float(words[1]) < 1:
            raise UserFacingError("`threshold` needs a number between 0 and 1, e.g. `threshold 0.6`.")
        threshold = float(words[1])
        words = words[2:]
    elif len(words) >= 2 and words[1].lower() == "threshold":
        if len(words) < 3 or parse_float(words[2]) is None or not 0 < float(words[2]) < 1:
            raise UserFacingError("`threshold` needs a number between 0 and 1, e.g. `threshold 0.6`.")
        threshold = float(words[2])
        words = words[:1]
    if len(words) > 1:
        raise UserFacingError(f"I didn't understand “{' '.join(words)}”.")
    metric = _metric(contract, words[0]) if words else _default_classifier(contract)
    if metric.kind is not Kind.CLASSIFICATION:
        raise UserFacingError(f"{metric.name} is not a classification metric; thresholds only apply to classifiers.")
    snapshot = deps.store.latest_snapshot(invocation.team_id, contract.name, metric.name)
    histogram = snapshot.histogram if snapshot is not None else None
    if histogram is None:
        raise UserFacingError(f"No stored score histogram for {metric.name} yet; it appears after the next pull.")
    guards = {}
    for guard in contract.metrics:
        if guard.role in BOUNDED_ROLES and guard.kind is Kind.CLASSIFICATION:
            guard_snapshot = deps.store.latest_snapshot(invocation.team_id, contract.name, guard.name)
            if guard_snapshot is not None and guard_snapshot.histogram is not None:
                guards[guard.name] = guard_snapshot.histogram
    tradeoff = compute_tradeoff(contract, metric, histogram, guardrail_histograms=guards, threshold=threshold)
    responses = reply(client, invocation, build_tradeoff(tradeoff))
    png = tradeoff_chart(tradeoff)
    # The chart goes where the answer went: the channel when shared, else the asker's DM with the
    # bot (an ephemeral message cannot carry a file).
    if invocation.share:
        channel = invocation.channel_id
    else:
        channel = client.conversations_open(users=invocation.user_id)["channel"]["id"]
    client.files_upload_v2(
        channel=channel,
        file=png,
        filename=f"tradeoff-{contract.name}-{metric.name}.png",
        title=f"{metric.title}: cost and accuracy by threshold",
        # The comment is mrkdwn; the file's title is shown as is.
        initial_comment=escape(f"Trade-off chart for {metric.title} ({contract.name})"),
        thread_ts=(responses[0].get("ts") if invocation.share and responses else None),
    )


def versus_answer(deps: Deps, client: WebClient, invocation: Invocation, contract: Contract) -> None:
    lowered = [w.lower() for w in invocation.words]
    split = lowered.index("vs")
    if split != 1 or len(invocation.words) != 3:
        raise UserFacingError("Compare two metrics like `/tradeoff fraud_recall vs fraud_loss_per_1k`.")
    first, second = _metric(contract, invocation.words[0]), _metric(contract, invocation.words[2])
    a = deps.store.recent_snapshots(invocation.team_id, contract.name, first.name, limit=24)
    b = deps.store.recent_snapshots(invocation.team_id, contract.name, second.name, limit=24)
    reply(client, invocation, build_hierarchy(comovement(contract, first, second, a, b)))


def answer(deps: Deps, client: WebClient, invocation: Invocation) -> None:
    resolution = resolve_contract(deps, invocation)
    if resolution.choices:
        ask_which_contract(client, invocation, resolution.choices)
        return
    if resolution.contract is None:
        names = ", ".join(resolution.known_names) or "none yet"
        raise UserFacingError(f"Which contract? None is set up for this channel. Contracts: {names}.")
    if "vs" in (w.lower() for w in invocation.words):
        versus_answer(deps, client, invocation, resolution.contract)
    else:
        threshold_answer(deps, client, invocation, resolution.contract)


def handle_tradeoff(ack: Ack, body: dict, client: WebClient, context, deps: Deps) -> None:
    ack()
    run_command(
        body, client, context, deps, command=ids.COMMAND_TRADEOFF, needs_words=False,
        answer=lambda invocation: answer(deps, client, invocation),
    )


def register(app: App, deps: Deps) -> None:
    app.command(ids.COMMAND_TRADEOFF)(lambda ack, body, client, context: handle_tradeoff(ack, body, client, context, deps))

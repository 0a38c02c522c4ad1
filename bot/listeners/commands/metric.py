"""/metric <contract> <metric> [history|refresh]: the latest stored value and where it stands."""

from __future__ import annotations

import logging

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.blocks import ids
from bot.blocks.messages import build_notice
from bot.blocks.metric import build_metric
from bot.listeners.analysis import summarise_metric
from bot.listeners.common import (
    run_command,
    Invocation,
    UserFacingError,
    ask_which_contract,
    reply,
    resolve_contract,
)
from bot.listeners.deps import Deps

logger = logging.getLogger(__name__)
HISTORY_LENGTH = 12


def answer(deps: Deps, client: WebClient, invocation: Invocation) -> None:
    resolution = resolve_contract(deps, invocation)
    if resolution.choices:
        ask_which_contract(client, invocation, resolution.choices)
        return
    contract = resolution.contract
    if contract is None:
        names = ", ".join(resolution.known_names) or "none yet"
        raise UserFacingError(f"Which contract? Name it first. Contracts: {names}.")
    if not invocation.words:
        raise UserFacingError(f"Which metric of {contract.name}? {', '.join(m.name for m in contract.metrics)}.")
    metric = contract.metric(invocation.words[0])
    if metric is None:
        raise UserFacingError(f"{contract.name} has no metric “{invocation.words[0]}”. Its metrics: {', '.join(m.name for m in contract.metrics)}.")
    mode = invocation.words[1].lower() if len(invocation.words) > 1 else "latest"
    if mode not in ("latest", "history", "refresh") or len(invocation.words) > 2:
        raise UserFacingError(f"I didn't understand “{' '.join(invocation.words[1:])}”.")
    if mode == "refresh":
        if deps.pull_requester is None:
            reply(client, invocation, build_notice("Pulls are not enabled in this deployment; values update on the schedule."), share=False)
            return
        # Queued, not run: the warehouse is never queried inside a Slack request.
        deps.pull_requester(team_id=invocation.team_id, contract=contract.name, metric=metric.name, requested_by=invocation.user_id)
        reply(client, invocation, build_notice(f"Queued a pull of {metric.name} ({contract.name}). The new value will show here once it lands."), share=False)
        return
    history = deps.store.recent_snapshots(invocation.team_id, contract.name, metric.name, limit=HISTORY_LENGTH)
    reply(client, invocation, build_metric(summarise_metric(contract, metric, history), with_history=mode == "history"))


def handle_metric(ack: Ack, body: dict, client: WebClient, context, deps: Deps) -> None:
    ack()
    run_command(
        body, client, context, deps, command=ids.COMMAND_METRIC, needs_words=True,
        answer=lambda invocation: answer(deps, client, invocation),
    )


def register(app: App, deps: Deps) -> None:
    app.command(ids.COMMAND_METRIC)(lambda ack, body, client, context: handle_metric(ack, body, client, context, deps))

"""/launch <contract> [<experiment>] and /launch history <contract>.

``register(app, deps, delivery=...)``: ``"direct"`` (default) posts the scorecard from the
listener and records its ts; ``"outbox"`` queues it with the decision for the outbox worker.
Pick one per deployment: both would post it twice.
"""

from __future__ import annotations

import logging
from typing import Literal

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.blocks.launch import COMMAND_LAUNCH, build_launch_history, build_launch_usage
from bot.blocks.messages import build_notice
from bot.launches import LaunchRefused, list_launches, record_message, request_decision
from bot.listeners.common import Invocation, authorized_team, reply, reply_reinstall, workspace_known
from bot.listeners.deps import Deps

logger = logging.getLogger(__name__)

Delivery = Literal["direct", "outbox"]
_REGISTERED = "_northstar_launch_command"


def handle_launch(ack: Ack, body: dict, client: WebClient, context, deps: Deps, delivery: Delivery) -> None:
    ack()
    invocation = Invocation.from_command(body)
    words = invocation.words
    if not words or words[0].lower() == "help":
        reply(client, invocation, build_launch_usage(), share=False)
        return
    if not workspace_known(deps, invocation.team_id, authorized_team(context)):
        reply_reinstall(client, invocation)
        return
    if words[0].lower() == "history":
        if len(words) != 2:
            reply(client, invocation, build_launch_usage("Which contract's history?"), share=False)
            return
        name = words[1].lstrip("#")
        reply(client, invocation, build_launch_history(name, list_launches(deps.store.engine, invocation.team_id, name)), share=False)
        return
    if len(words) > 2:
        reply(client, invocation, build_launch_usage(f"I didn't understand “{' '.join(words[2:])}”."), share=False)
        return
    try:
        requested = request_decision(
            deps.store.engine,
            team_id=invocation.team_id,
            contract_name=words[0].lstrip("#"),
            experiment=words[1] if len(words) > 1 else None,
            requested_by=invocation.user_id,
            now=deps.clock(),
            enqueue=delivery == "outbox",
        )
    except LaunchRefused as exc:
        reply(client, invocation, build_launch_usage(str(exc)), share=False)
        return
    if requested.queued:
        reply(client, invocation, build_notice(f"The scorecard for {requested.view.contract} is on its way to {requested.view.channel}."), share=False)
        return
    response = client.chat_postMessage(channel=requested.view.channel, **requested.payload)
    # Slack answers with the channel id even when the contract names the channel (#fraud-ml);
    # chat.update accepts only the id.
    record_message(deps.store.engine, team_id=invocation.team_id, decision_id=requested.view.id,
                   channel=response["channel"], ts=response["ts"])


def register(app: App, deps: Deps, *, delivery: Delivery = "direct") -> None:
    if getattr(app, _REGISTERED, False):
        return
    setattr(app, _REGISTERED, True)
    app.command(COMMAND_LAUNCH)(lambda ack, body, client, context: handle_launch(ack, body, client, context, deps, delivery))

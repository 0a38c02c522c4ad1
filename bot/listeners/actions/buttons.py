"""Buttons under answers: "which contract?" and "did you mean …?".

A button's value is never trusted as data: the workspace and the user come from the payload,
and whatever the value names is looked up again inside that workspace.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from threading import Lock

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.blocks import ids
from bot.blocks.messages import USAGE, build_usage
from bot.listeners.commands import explain, metric, tradeoff
from bot.listeners.common import Invocation, UserFacingError, reply
from bot.listeners.deps import Deps

logger = logging.getLogger(__name__)

ANSWERS = {
    ids.COMMAND_EXPLAIN: explain.answer,
    ids.COMMAND_TRADEOFF: tradeoff.answer,
    ids.COMMAND_METRIC: metric.answer,
}


class SeenClicks:
    """Recently handled (team, action_ts) pairs: Slack may deliver one click twice."""

    def __init__(self, size: int = 1024):
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._size = size
        self._lock = Lock()

    def first_time(self, key: tuple[str, str]) -> bool:
        with self._lock:
            if key in self._seen:
                return False
            self._seen[key] = None
            if len(self._seen) > self._size:
                self._seen.popitem(last=False)
            return True


def _invocation(body: dict, command: str, text: str) -> Invocation:
    invocation = Invocation.from_command(
        {
            "command": command,
            "text": text,
            "team_id": (body.get("team") or {}).get("id", ""),
            "user_id": (body.get("user") or {}).get("id", ""),
            "channel_id": (body.get("channel") or {}).get("id", ""),
            "channel_name": (body.get("channel") or {}).get("name", ""),
        }
    )
    return invocation


def handle_choose_contract(ack: Ack, body: dict, action: dict, client: WebClient, deps: Deps, seen: SeenClicks) -> None:
    ack()
    if not seen.first_time(((body.get("team") or {}).get("id", ""), action.get("action_ts", ""))):
        return
    try:
        choice = json.loads(action.get("value") or "{}")
        command, text, name = str(choice["c"]), str(choice["t"]), str(choice["n"])
    except (ValueError, KeyError, TypeError):
        logger.warning("ignoring a contract choice with an unreadable value")
        return
    if command not in ANSWERS:
        return
    invocation = _invocation(body, command, f"{text} in {name}")
    try:
        ANSWERS[command](deps, client, invocation)
    except UserFacingError as exc:
        reply(client, invocation, build_usage(command, problem=str(exc)), share=False)


def handle_explain_suggestion(ack: Ack, body: dict, action: dict, client: WebClient, deps: Deps, seen: SeenClicks) -> None:
    ack()
    if not seen.first_time(((body.get("team") or {}).get("id", ""), action.get("action_ts", ""))):
        return
    invocation = _invocation(body, ids.COMMAND_EXPLAIN, action.get("value") or "")
    try:
        explain.answer(deps, client, invocation)
    except UserFacingError as exc:
        reply(client, invocation, build_usage(ids.COMMAND_EXPLAIN, problem=str(exc)), share=False)


def register(app: App, deps: Deps) -> None:
    seen = SeenClicks()
    assert set(ANSWERS) <= set(USAGE)
    app.action(ids.ACTION_CHOOSE_CONTRACT)(
        lambda ack, body, action, client: handle_choose_contract(ack, body, action, client, deps, seen)
    )
    app.action(ids.ACTION_EXPLAIN_SUGGESTION)(
        lambda ack, body, action, client: handle_explain_suggestion(ack, body, action, client, deps, seen)
    )

"""Helpers every command shares: parsing, finding the contract, replying within the limits."""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient

from metrics.contract import Contract

from bot.blocks.limits import split_message
from bot.blocks.messages import build_choose_contract, build_reinstall
from bot.listeners.deps import Deps

logger = logging.getLogger(__name__)


class UserFacingError(Exception):
    """A problem the user can fix; its message is shown to them as is."""


@dataclass
class Invocation:
    """One slash command as typed: who, where, and the words after the command."""

    command: str
    team_id: str
    user_id: str
    channel_id: str
    channel_name: str
    words: list[str]
    share: bool = False
    raw: str = ""
    contract_name: str | None = None  # from "in <name>"
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_command(cls, body: dict) -> Invocation:
        # PostgreSQL refuses NUL in text parameters; nobody means one in a contract or metric name.
        raw = (body.get("text") or "").replace("\x00", "").strip()
        words = raw.split()
        share = any(w.lower() == "share" for w in words)
        words = [w for w in words if w.lower() != "share"]
        contract_name = None
        lowered = [w.lower() for w in words]
        if "in" in lowered[1:] or (lowered and lowered[0] == "in" and len(words) == 2):
            index = len(lowered) - 1 - lowered[::-1].index("in")
            if index + 1 < len(words):
                contract_name = words[index + 1].lstrip("#")
                words = words[:index] + words[index + 2 :]
        return cls(
            command=body.get("command", ""),
            team_id=body.get("team_id", ""),
            user_id=body.get("user_id", ""),
            channel_id=body.get("channel_id", ""),
            channel_name=body.get("channel_name", ""),
            words=words,
            share=share,
            raw=raw,
            contract_name=contract_name,
        )


def authorized_team(context) -> str | None:
    """The workspace the bot token belongs to (single-workspace mode) or was installed in."""
    result = context.get("authorize_result") if context else None
    return getattr(result, "team_id", None)


def workspace_known(deps: Deps, team_id: str, authorized_team: str | None) -> bool:
    """A workspace is known once installed (its own token), named as default, or holding contracts."""
    if team_id and (team_id == deps.default_workspace or team_id == authorized_team):
        return True
    return deps.store.has_contracts(team_id)


def contracts_in_channel(contracts: Sequence[Contract], channel_id: str, channel_name: str) -> list[Contract]:
    wanted = {channel_id, f"#{channel_name}", channel_name} - {"", "#"}
    return [c for c in contracts if c.channel in wanted or c.channel.lstrip("#") in {channel_name} - {""}]


@dataclass(frozen=True)
class Resolution:
    contract: Contract | None = None
    choices: tuple[str, ...] = ()
    known_names: tuple[str, ...] = ()


def resolve_contract(deps: Deps, invocation: Invocation, *, leading_name: bool = True) -> Resolution:
    """The contract a command is about: named (``in x`` or a leading name), else the channel's.

    A leading word that names a contract is consumed from ``invocation.words``.
    """
    team = invocation.team_id
    if invocation.contract_name:
        contract = deps.store.contract(team, invocation.contract_name)
        if contract is None:
            raise UserFacingError(f"No contract called “{invocation.contract_name}” in this workspace. Try `/contract list`.")
        return Resolution(contract=contract)
    contracts = deps.store.contracts(team)
    names = tuple(c.name for c in contracts)
    if leading_name and invocation.words:
        first = invocation.words[0].lstrip("#")
        match = next((c for c in contracts if c.name == first), None)
        if match is not None:
            invocation.words = invocation.words[1:]
            return Resolution(contract=match)
    here = contracts_in_channel(contracts, invocation.channel_id, invocation.channel_name)
    if len(here) == 1:
        return Resolution(contract=here[0])
    if len(here) > 1:
        return Resolution(choices=tuple(c.name for c in here), known_names=names)
    return Resolution(known_names=names)


def choice_value(invocation: Invocation, name: str) -> str:
    """What a "which contract?" button carries: the command to re-run, scoped to the clicker's workspace."""
    # Kept well under the 2000-character button value so the JSON is never cut.
    return json.dumps({"c": invocation.command, "t": invocation.raw[:1500], "n": name[:100]}, separators=(",", ":"))


def ask_which_contract(client: WebClient, invocation: Invocation, names: Sequence[str]) -> None:
    payload = build_choose_contract(names, [choice_value(invocation, n) for n in names], prompt=f"`{invocation.command} {invocation.raw}`.")
    reply(client, invocation, payload, share=False)


def reply_reinstall(client: WebClient, invocation: Invocation) -> None:
    reply(client, invocation, build_reinstall(), share=False)


def reply(client: WebClient, invocation: Invocation, payload: dict, *, share: bool | None = None) -> list[dict]:
    """Send a payload to the channel (``share``) or only to the user, split to fit Slack's limits.

    A shared answer that needs several messages continues in the first message's thread.
    """
    share = invocation.share if share is None else share
    parts = split_message(payload["text"], payload.get("blocks") or [])
    responses = []
    thread_ts = None
    for part in parts:
        if share:
            response = client.chat_postMessage(channel=invocation.channel_id, thread_ts=thread_ts, **part)
            thread_ts = thread_ts or response.get("ts")
        else:
            response = client.chat_postEphemeral(channel=invocation.channel_id, user=invocation.user_id, **part)
        responses.append(response.data if hasattr(response, "data") else response)
    return responses


_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def parse_float(word: str) -> float | None:
    return float(word) if _NUMBER.match(word) else None


def run_command(
    body: dict,
    client: WebClient,
    context,
    deps: Deps,
    *,
    command: str,
    answer: Callable[[Invocation], None],
    needs_words: bool = True,
) -> None:
    """The steps every slash command shares once acked: help and usage, an unknown workspace,
    then the command's own ``answer``; a :class:`UserFacingError` becomes a usage reply."""
    from bot.blocks.messages import build_usage

    invocation = Invocation.from_command(body)
    if (needs_words and not invocation.words) or (invocation.words and invocation.words[0].lower() == "help"):
        reply(client, invocation, build_usage(command), share=False)
        return
    if not workspace_known(deps, invocation.team_id, authorized_team(context)):
        reply_reinstall(client, invocation)
        return
    try:
        answer(invocation)
    except UserFacingError as exc:
        reply(client, invocation, build_usage(command, problem=str(exc)), share=False)


def reporting(listener: Callable[..., Any]) -> Callable[..., Any]:
    """``listener``, made to report its own failure instead of raising it to Bolt.

    Bolt waits for the ack on one thread while the listener runs on another. When a listener
    raises soon after its ``ack()``, Bolt's runner resets the acknowledgement it is waiting for,
    and Slack gets a 500 or, three seconds later, a 404: the user sees "failed" on top of our
    own reply. So the failure goes to the app's error handler from here (a reference for the
    user, the traceback in the log; "the database is unreachable" when it is) and never reaches
    the runner; a listener that failed before acking is acknowledged first, so Slack hears 200.
    """

    @functools.wraps(listener)  # Bolt passes the arguments named in the listener's own signature
    def run(**kwargs: Any) -> Any:
        try:
            return listener(**kwargs)
        except Exception as error:
            ack = kwargs.get("ack")
            if ack is not None and getattr(ack, "response", None) is None:
                ack()
            from bot.app import handle_errors  # bot.app imports the listeners: looked up when needed

            handle_errors(error, kwargs.get("body") or {}, kwargs.get("client"))
            return None

    return run


_LISTENER_KINDS = frozenset({"command", "action", "view", "event", "shortcut", "options", "message"})


class ReportingApp:
    """The App as the listener modules register on it: every listener they add is :func:`reporting`."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._app, name)
        if name not in _LISTENER_KINDS:
            return attribute

        def listen(*args: Any, **kwargs: Any) -> Callable[..., Any]:
            register = attribute(*args, **kwargs)
            return lambda *listeners: register(*[reporting(listener) for listener in listeners])

        return listen

"""/audit [<contract>]: compose this week's audit now and queue it for the contract's channel."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.blocks import ids
from bot.blocks.messages import build_notice
from bot.jobs.audit import post_audit
from bot.listeners.common import Invocation, UserFacingError, reply, resolve_contract, run_command
from bot.listeners.deps import Deps
from metrics.contract import Contract

logger = logging.getLogger(__name__)


def _contract(deps: Deps, invocation: Invocation) -> Contract:
    if invocation.words and invocation.contract_name is None:
        # A word after /audit can only be a contract's name, so an unknown one is said as such.
        invocation.contract_name = invocation.words.pop(0).lstrip("#")
    resolution = resolve_contract(deps, invocation)
    if resolution.choices:
        raise UserFacingError(f"Several contracts use this channel: name one of {', '.join(resolution.choices)}.")
    if resolution.contract is None:
        names = ", ".join(resolution.known_names) or "none yet"
        raise UserFacingError(f"Which contract? Name it first. Contracts: {names}.")
    if invocation.words:
        raise UserFacingError(f"I didn't understand “{' '.join(invocation.words)}”.")
    return resolution.contract


def answer(deps: Deps, invocation: Invocation) -> dict:
    contract = _contract(deps, invocation)
    now = deps.clock()
    # The week ends at the coming local midnight, as the scheduled audit's does on its day.
    week_end = now.astimezone(ZoneInfo(contract.schedule.timezone)).date()
    # Through the outbox under the week's key: a second /audit the same day queues nothing more.
    queued = post_audit(engine=deps.store.engine, team_id=invocation.team_id, contract_name=contract.name, week_end=week_end, now=now)
    if not queued:
        return build_notice(f"The audit of {contract.name} for the week ending {week_end:%Y-%m-%d} is already queued for {contract.channel}.")
    return build_notice(f"Audit queued for {contract.channel}.")


def handle_audit(ack: Ack, body: dict, client: WebClient, context, deps: Deps) -> None:
    ack()
    run_command(
        body, client, context, deps, command=ids.COMMAND_AUDIT, needs_words=False,
        answer=lambda invocation: reply(client, invocation, answer(deps, invocation), share=False),
    )


def register(app: App, deps: Deps) -> None:
    app.command(ids.COMMAND_AUDIT)(lambda ack, body, client, context: handle_audit(ack, body, client, context, deps))

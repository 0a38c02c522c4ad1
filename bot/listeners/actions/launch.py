"""Approve / Reject / Override… on a launch scorecard.

The button's value is only the opaque decision id; who clicks and in which workspace come from
the payload, and the service checks them against the signers stored with the decision.
"""

from __future__ import annotations

import logging
from typing import Literal

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.blocks.launch import ACTION_LAUNCH_APPROVE, ACTION_LAUNCH_OVERRIDE, ACTION_LAUNCH_REJECT, build_reason_modal
from bot.blocks.limits import check_message
from bot.blocks.messages import build_mrkdwn_notice
from bot.launches import MIN_OVERRIDE_REASON_CHARS, VoteOutcome, cast_vote, check_vote
from bot.listeners.deps import Deps

logger = logging.getLogger(__name__)

_REGISTERED = "_northstar_launch_actions"


def _who(body: dict, action: dict) -> tuple[str, str, str]:
    # No decision id holds a NUL, and PostgreSQL refuses one in a query parameter.
    decision_id = str(action.get("value") or "").replace("\x00", "")
    return (body.get("team") or {}).get("id", ""), (body.get("user") or {}).get("id", ""), decision_id


def show_outcome(client: WebClient, body: dict, outcome: VoteOutcome, *, redraw: bool) -> None:
    """Redraw the message when the vote changed it; tell the clicker privately when refused."""
    channel = (body.get("channel") or {}).get("id") or (outcome.view.channel if outcome.view else None)
    if redraw and outcome.changed and outcome.view is not None and outcome.payload is not None:
        ts = outcome.view.message_ts or (body.get("container") or {}).get("message_ts")
        client.chat_update(channel=outcome.view.channel if outcome.view.message_ts else channel, ts=ts, **outcome.payload)
    if outcome.refusal is not None:
        user = (body.get("user") or {}).get("id")
        # The refusal is the app's own sentence and names the signers as mentions, as the scorecard does.
        client.chat_postEphemeral(channel=channel, user=user, **check_message(build_mrkdwn_notice(outcome.refusal)))


def handle_approve(ack: Ack, body: dict, action: dict, client: WebClient, deps: Deps, delivery: str) -> None:
    ack()
    team_id, user_id, decision_id = _who(body, action)
    outcome = cast_vote(deps.store.engine, team_id=team_id, decision_id=decision_id, user_id=user_id, vote="approve",
                        now=deps.clock(), enqueue=delivery == "outbox")
    show_outcome(client, body, outcome, redraw=delivery == "direct")


def handle_reason_button(kind: Literal["reject", "override"], ack: Ack, body: dict, action: dict, client: WebClient,
                         deps: Deps, delivery: str) -> None:
    ack()
    team_id, user_id, decision_id = _who(body, action)
    # Checked before the modal opens so a non-signer is not asked to write a reason for nothing.
    outcome = check_vote(deps.store.engine, team_id=team_id, decision_id=decision_id, user_id=user_id, vote=kind, now=deps.clock())
    if not outcome.ok or outcome.view is None:
        show_outcome(client, body, outcome, redraw=delivery == "direct")
        return
    modal = build_reason_modal(kind, outcome.view.id, contract_title=outcome.view.contract_title, min_chars=MIN_OVERRIDE_REASON_CHARS)
    client.views_open(trigger_id=body["trigger_id"], view=modal)


def register(app: App, deps: Deps, *, delivery: Literal["direct", "outbox"] = "direct") -> None:
    if getattr(app, _REGISTERED, False):
        return
    setattr(app, _REGISTERED, True)
    app.action(ACTION_LAUNCH_APPROVE)(lambda ack, body, action, client: handle_approve(ack, body, action, client, deps, delivery))
    app.action(ACTION_LAUNCH_REJECT)(
        lambda ack, body, action, client: handle_reason_button("reject", ack, body, action, client, deps, delivery))
    app.action(ACTION_LAUNCH_OVERRIDE)(
        lambda ack, body, action, client: handle_reason_button("override", ack, body, action, client, deps, delivery))

"""The reason modals of a launch decision: a rejection, or an override of a blocking guardrail.

Refusals stay inside the modal (``response_action: errors``), where the signer is looking.
``private_metadata`` is only the opaque decision id; the workspace and the voter come from the
payload.
"""

from __future__ import annotations

import logging
from typing import Literal

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.blocks.launch import (
    ACTION_LAUNCH_REASON,
    BLOCK_LAUNCH_REASON,
    VIEW_LAUNCH_OVERRIDE_REASON,
    VIEW_LAUNCH_REJECT_REASON,
    build_reason_errors,
)
from bot.launches import MIN_OVERRIDE_REASON_CHARS, cast_vote
from bot.listeners.deps import Deps

logger = logging.getLogger(__name__)

_REGISTERED = "_northstar_launch_views"


def handle_reason_submission(kind: Literal["reject", "override"], ack: Ack, body: dict, view: dict, client: WebClient,
                             deps: Deps, delivery: str) -> None:
    reason = ((view.get("state") or {}).get("values", {}).get(BLOCK_LAUNCH_REASON, {}).get(ACTION_LAUNCH_REASON, {}).get("value") or "").strip()
    if kind == "override" and len(reason) < MIN_OVERRIDE_REASON_CHARS:
        ack(**build_reason_errors(f"Write at least {MIN_OVERRIDE_REASON_CHARS} characters: an override is kept with the decision "
                                  f"and must say why the guardrail may be crossed ({len(reason)} so far)."))
        return
    if not reason:
        ack(**build_reason_errors("Say why you reject the launch."))
        return
    team_id = (body.get("team") or {}).get("id") or view.get("team_id") or ""
    user_id = (body.get("user") or {}).get("id", "")
    outcome = cast_vote(deps.store.engine, team_id=team_id, decision_id=str(view.get("private_metadata") or ""), user_id=user_id,
                        vote=kind, reason=reason, now=deps.clock(), enqueue=delivery == "outbox")
    if outcome.refusal is not None:
        ack(**build_reason_errors(outcome.refusal))
    else:
        ack()
    if delivery == "direct" and outcome.changed and outcome.view is not None and outcome.payload is not None and outcome.view.message_ts:
        client.chat_update(channel=outcome.view.channel, ts=outcome.view.message_ts, **outcome.payload)


def register(app: App, deps: Deps, *, delivery: Literal["direct", "outbox"] = "direct") -> None:
    if getattr(app, _REGISTERED, False):
        return
    setattr(app, _REGISTERED, True)
    app.view(VIEW_LAUNCH_REJECT_REASON)(
        lambda ack, body, view, client: handle_reason_submission("reject", ack, body, view, client, deps, delivery))
    app.view(VIEW_LAUNCH_OVERRIDE_REASON)(
        lambda ack, body, view, client: handle_reason_submission("override", ack, body, view, client, deps, delivery))

"""Acknowledge / Snooze 24 h under a guardrail alert.

The button's value is only the alert state id; the workspace and the user come from the payload
and :mod:`bot.alerts` checks them against the stored state. The alert message itself is edited
through the outbox, in the same transaction as the change; the clicker hears back privately.
"""

from __future__ import annotations

import logging

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.alerts import AlertOutcome, acknowledge_alert, snooze_alert
from bot.blocks import ids
from bot.blocks.limits import check_message
from bot.blocks.messages import build_mrkdwn_notice
from bot.listeners.deps import Deps

logger = logging.getLogger(__name__)


def _who(body: dict, action: dict) -> tuple[str, str, str, str | None]:
    team_id = (body.get("team") or {}).get("id", "")
    user_id = (body.get("user") or {}).get("id", "")
    channel = (body.get("container") or {}).get("channel_id") or (body.get("channel") or {}).get("id")
    return team_id, user_id, str(action.get("value") or ""), channel


def tell(client: WebClient, body: dict, outcome: AlertOutcome) -> None:
    channel = (body.get("channel") or {}).get("id")
    user = (body.get("user") or {}).get("id")
    if not (channel and user):
        logger.info("alert click answered with nowhere to say it: %s", outcome.notice)
        return
    client.chat_postEphemeral(channel=channel, user=user, **check_message(build_mrkdwn_notice(outcome.notice)))


def handle_acknowledge(ack: Ack, body: dict, action: dict, client: WebClient, deps: Deps) -> None:
    ack()
    team_id, user_id, value, channel = _who(body, action)
    outcome = acknowledge_alert(deps.store.engine, team_id=team_id, value=value, user_id=user_id, now=deps.clock(), channel=channel)
    tell(client, body, outcome)


def handle_snooze(ack: Ack, body: dict, action: dict, client: WebClient, deps: Deps) -> None:
    ack()
    team_id, user_id, value, channel = _who(body, action)
    outcome = snooze_alert(deps.store.engine, team_id=team_id, value=value, user_id=user_id, now=deps.clock(), channel=channel)
    tell(client, body, outcome)


def register(app: App, deps: Deps) -> None:
    app.action(ids.ACTION_ALERT_ACKNOWLEDGE)(lambda ack, body, action, client: handle_acknowledge(ack, body, action, client, deps))
    app.action(ids.ACTION_ALERT_SNOOZE)(lambda ack, body, action, client: handle_snooze(ack, body, action, client, deps))

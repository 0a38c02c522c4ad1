"""Still right / Revisit under the weekly audit's review question."""

from __future__ import annotations

import logging

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.blocks import ids
from bot.blocks.limits import check_message
from bot.blocks.messages import build_notice
from bot.listeners.deps import Deps
from bot.reviews import record_review
from storage.models import ReviewVerdict

logger = logging.getLogger(__name__)

ANSWERS = {ids.ACTION_REVIEW_STILL_RIGHT: ReviewVerdict.STILL_RIGHT, ids.ACTION_REVIEW_REVISIT: ReviewVerdict.REVISIT}


def handle_review(ack: Ack, body: dict, action: dict, client: WebClient, deps: Deps) -> None:
    ack()
    team_id = (body.get("team") or {}).get("id", "")
    user_id = (body.get("user") or {}).get("id", "")
    message_ts = (body.get("container") or {}).get("message_ts")
    answer = ANSWERS[action["action_id"]]
    outcome = record_review(deps.store.engine, team_id=team_id, contract_name=str(action.get("value") or ""), user_id=user_id,
                            answer=answer, now=deps.clock(), message_ts=message_ts)
    channel = (body.get("channel") or {}).get("id")
    if not (channel and user_id):
        logger.info("review click answered with nowhere to say it: %s", outcome.notice)
        return
    client.chat_postEphemeral(channel=channel, user=user_id, **check_message(build_notice(outcome.notice)))


def register(app: App, deps: Deps) -> None:
    for action_id in ANSWERS:
        app.action(action_id)(lambda ack, body, action, client: handle_review(ack, body, action, client, deps))

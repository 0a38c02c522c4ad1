"""Events: uninstalls and revoked tokens."""

from __future__ import annotations

import logging

from slack_bolt import App

from bot.listeners.deps import Deps

logger = logging.getLogger(__name__)


def handle_uninstalled(ack, body: dict) -> None:
    # In single-workspace mode there is no installation row to delete; say so in the logs.
    ack()
    logger.warning("Northstar was uninstalled from workspace %s", body.get("team_id"))


def register(app: App, deps: Deps) -> None:
    if deps.oauth:
        # Deletes the workspace's installation (and so its encrypted tokens) on either event.
        app.enable_token_revocation_listeners()
    else:
        app.event("app_uninstalled")(handle_uninstalled)
        app.event("tokens_revoked")(handle_uninstalled)

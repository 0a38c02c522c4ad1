"""Every listener, registered on one App by register_listeners."""

from __future__ import annotations

from slack_bolt import App

from bot.listeners import actions, commands, events, views
from bot.listeners.common import ReportingApp
from bot.listeners.deps import Deps


def register_listeners(app: App, deps: Deps) -> None:
    app = ReportingApp(app)  # type: ignore[assignment]  # registers like the App, each listener reporting its failures
    commands.register(app, deps)
    actions.register(app, deps)
    views.register(app, deps)
    events.register(app, deps)

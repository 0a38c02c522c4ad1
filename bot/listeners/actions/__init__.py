"""Button clicks."""

from __future__ import annotations

from slack_bolt import App

from bot.listeners.actions import alerts, buttons, launch, review
from bot.listeners.deps import Deps


def register(app: App, deps: Deps) -> None:
    buttons.register(app, deps)
    launch.register(app, deps)
    alerts.register(app, deps)
    review.register(app, deps)

"""Modal submissions."""

from __future__ import annotations

from slack_bolt import App

from bot.listeners.deps import Deps
from bot.listeners.views import contract_editor, launch


def register(app: App, deps: Deps) -> None:
    contract_editor.register(app, deps)
    launch.register(app, deps)

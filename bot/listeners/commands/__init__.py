"""Slash commands: /explain, /tradeoff, /contract, /metric, /launch, /audit."""

from __future__ import annotations

from slack_bolt import App

from bot.listeners.commands import audit, contract, explain, launch, metric, tradeoff
from bot.listeners.deps import Deps


def register(app: App, deps: Deps) -> None:
    explain.register(app, deps)
    tradeoff.register(app, deps)
    contract.register(app, deps)
    metric.register(app, deps)
    launch.register(app, deps)
    audit.register(app, deps)

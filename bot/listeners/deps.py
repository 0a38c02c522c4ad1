"""What the listeners need from the outside world, handed in by build_app (never global)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.listeners.store import Store

PullRequester = Callable[..., object]
"""Queue a pull: called as ``pull_requester(team_id=..., contract=..., metric=..., requested_by=...)``."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Deps:
    store: Store
    default_workspace: str
    clock: Callable[[], datetime] = utc_now
    pull_requester: PullRequester | None = None
    oauth: bool = False

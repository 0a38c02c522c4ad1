"""Run the app: HTTP behind uvicorn (many replicas) or Socket Mode (no public URL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import logging
from collections.abc import Callable

from slack_bolt.adapter.socket_mode import SocketModeHandler
from sqlalchemy import Engine

from bot.app import build_app
from bot.http import build_asgi
from bot.listeners.deps import PullRequester
from bot.settings import ConfigError, Settings
from bot.slack_client import require
from storage.db import check_schema_current, make_engine

logger = logging.getLogger(__name__)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"


def configure_logging(level: str) -> None:
    """Send every logger's records at ``level`` and above to stderr, one line each.

    Without a root handler only uvicorn's own loggers would print, and the bot's warnings (error
    references, refused requests, failed deliveries) would reach nobody.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ConfigError(f"NORTHSTAR_LOG_LEVEL is {level!r}; use DEBUG, INFO, WARNING or ERROR")
    logging.basicConfig(level=numeric, format=LOG_FORMAT, force=True)


def _engine(settings: Settings, engine: Engine | None) -> Engine:
    engine = engine or make_engine(settings.database_url)
    # Refuse to serve on a schema this code does not match; the error names the fix.
    check_schema_current(engine)
    return engine


def run_http(
    settings: Settings,
    host: str = "0.0.0.0",
    port: int = 3000,
    *,
    engine: Engine | None = None,
    pull_requester: PullRequester | None = None,
) -> None:
    """Serve ``/slack/events``, ``/healthz`` and ``/metrics`` with uvicorn until interrupted."""
    import uvicorn

    require(settings, "slack_signing_secret")
    engine = _engine(settings, engine)
    # Bolt acks from inside the listener, on its thread pool: with the default 5 threads, acks
    # queue behind replies that wait on Slack's Web API. A larger pool keeps acks prompt.
    listeners = ThreadPoolExecutor(max_workers=settings.listener_threads, thread_name_prefix="northstar-listener")
    app = build_app(settings, engine=engine, pull_requester=pull_requester, listener_executor=listeners)
    uvicorn.run(build_asgi(app, engine=engine), host=host, port=port, log_level=settings.log_level.lower(), access_log=False)


def run_socket(
    settings: Settings,
    *,
    engine: Engine | None = None,
    pull_requester: PullRequester | None = None,
    on_ready: Callable[[SocketModeHandler], None] | None = None,
) -> None:
    """Connect over Socket Mode (``SLACK_APP_TOKEN``, ``xapp-…`` with ``connections:write``) and block."""
    require(settings, "slack_app_token", "slack_bot_token")
    engine = _engine(settings, engine)
    listeners = ThreadPoolExecutor(max_workers=settings.listener_threads, thread_name_prefix="northstar-listener")
    app = build_app(settings, engine=engine, pull_requester=pull_requester, socket_mode=True, listener_executor=listeners)
    handler = SocketModeHandler(app, settings.slack_app_token.get_secret_value())
    if on_ready is not None:
        on_ready(handler)
    handler.start()

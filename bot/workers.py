"""The background side of a running bot: the scheduler and the outbox worker.

`northstar run` starts both unless told not to (``--no-scheduler``), so replicas can be split
by role: any number of them may run these, because every scheduled run is claimed in the
database first and every outbox row is claimed with SKIP LOCKED.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from sqlalchemy import Engine

from bot.app import uses_oauth
from bot.jobs.audit import post_audit
from bot.launches import expire_decisions
from bot.outbox_worker import OutboxWorker, make_worker_client
from bot.scheduler import DueRun, build_scheduler
from bot.settings import Settings
from bot.slack_client import api_base_url
from storage.contracts import latest_parsed_contract
from storage.db import session_scope, utcnow

logger = logging.getLogger(__name__)


def make_audit_runner(*, engine: Engine, clock: Callable[[], datetime] = utcnow) -> Callable[[DueRun], None]:
    """Queue the weekly audit for the week that ends on the run's local date."""

    def run(due: DueRun) -> None:
        with session_scope(engine) as session:
            spec = latest_parsed_contract(session=session, team_id=due.team_id, name=due.contract_name)
        if spec is None:
            return
        week_end = due.fire_time.astimezone(ZoneInfo(spec.schedule.timezone)).date()
        post_audit(engine=engine, team_id=due.team_id, contract_name=due.contract_name, week_end=week_end, now=clock())

    return run


def make_launch_expiry(engine: Engine) -> Callable[[datetime], None]:
    """Expire launch decisions whose time ran out, and queue the edit that says so on their scorecard."""

    def expire_launches(now: datetime) -> None:
        for expired in expire_decisions(engine, now, enqueue=True):
            logger.info("launch decision %s of %s expired unanswered", expired.view.id, expired.view.contract)

    return expire_launches


def make_client_for_team(settings: Settings, engine: Engine) -> Callable[[str], WebClient]:
    """A Web API client per workspace: the bot token, or the installation's token under OAuth."""
    base_url = api_base_url(settings)
    if not uses_oauth(settings):
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
        return lambda team_id: make_worker_client(token=token, base_url=base_url)
    from bot.oauth import make_installation_store

    store = make_installation_store(settings, engine)

    def client(team_id: str) -> WebClient:
        bot = store.find_bot(enterprise_id=None, team_id=team_id)
        return make_worker_client(token=bot.bot_token if bot else "", base_url=base_url)

    return client


@contextmanager
def background_workers(*, settings: Settings, engine: Engine, enabled: bool = True) -> Iterator[None]:
    """Run the scheduler and one outbox worker thread for as long as the block runs."""
    if not enabled:
        yield
        return
    scheduler = build_scheduler(engine=engine, settings=settings, audit_runner=make_audit_runner(engine=engine),
                                minute_jobs=[make_launch_expiry(engine)])
    worker = OutboxWorker(engine=engine, client_for_team=make_client_for_team(settings, engine), worker_id=f"outbox-{id(engine):x}")
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,), name="northstar-outbox", daemon=True)
    scheduler.start()
    thread.start()
    logger.info("scheduler and outbox worker started")
    try:
        yield
    finally:
        stop.set()
        scheduler.shutdown(wait=False)
        thread.join(timeout=10)

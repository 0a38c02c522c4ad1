"""When each contract's pulls, audits and reviews run, exactly once across replicas and restarts.

The schedule lives in the contracts (cron expressions in the team's time zone). The core is
:func:`run_due_jobs`: given the clock, it works out every run that is due — including the ones
missed while no process was up, at most ``max_catch_up`` per job — and runs each one that this
replica manages to *claim* in the database (``job_key`` + period). A replica that loses the claim
skips the run. APScheduler only supplies the ticks: one job per contract schedule (so runs start
on time) and a minute tick that catches up and picks up contract changes. Tests call
:func:`run_due_jobs` with a frozen clock and never wait for a trigger.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine
from sqlalchemy.pool import StaticPool
from sqlmodel import col, func, select

from bot.settings import Settings
from storage.contracts import parse_version
from storage.db import session_scope, utcnow
from storage.jobs import claim_job, finish_job, get_job_claim, reclaim_job
from storage.models import Contract, ContractVersion, JobClaim, JobStatus

logger = logging.getLogger(__name__)

__all__ = [
    "DueRun",
    "ScheduledContract",
    "build_scheduler",
    "reconcile_jobs",
    "run_due_jobs",
    "scheduled_contracts",
]

JobKind = Literal["pull", "audit", "review"]
Runner = Callable[["DueRun"], None]

#: Missed periods run after downtime, per job (the most recent ones).
MAX_CATCH_UP = 7
#: A claim still 'running' after this long belongs to a process that died; another may take it.
STALE_AFTER = timedelta(hours=1)
#: A failed run is tried again once it has waited as long as it had been failing since its fire
#: time, at least RETRY_MIN and at most RETRY_MAX: 5, 10, 20, 40 minutes, then hourly.
RETRY_MIN = timedelta(minutes=5)
RETRY_MAX = timedelta(hours=1)
#: A failed or abandoned run is tried again for this long after its fire time, then left failed.
RETRY_FOR = timedelta(days=1)
#: Contracts whose runs go ahead side by side in one tick, so one slow warehouse (each query is
#: cut at the statement timeout, and retried) does not hold up every other team's pulls.
PARALLEL_CONTRACTS = 4
TICK_JOB_ID = "northstar:tick"
# How far back a job that has never run looks for its latest period (a weekly audit must find
# last Monday's; a review every 8 weeks is anchored on its own weeks below).
_FIRST_RUN_LOOKBACK = timedelta(days=8)
_MAX_FIRE_TIMES = 20_000


@dataclass(frozen=True)
class ScheduledContract:
    """What scheduling needs from a stored contract."""

    team_id: str
    name: str
    pull: str
    audit: str
    timezone: str
    review_every_weeks: int | None
    created_at: datetime

    def job_key(self, kind: JobKind) -> str:
        return f"{kind}:{self.team_id}:{self.name}"

    def cron(self, kind: JobKind) -> str:
        # A review is due on an audit day, every review_every_weeks weeks.
        return self.pull if kind == "pull" else self.audit

    def kinds(self) -> tuple[JobKind, ...]:
        return ("pull", "audit", "review") if self.review_every_weeks else ("pull", "audit")


@dataclass(frozen=True)
class DueRun:
    """One run of one job for one period; ``fire_time`` is when it was scheduled (UTC)."""

    kind: JobKind
    team_id: str
    contract_name: str
    job_key: str
    period: str
    fire_time: datetime


class PullIncomplete(Exception):
    """A scheduled pull left metrics unpulled for a reason that may pass; its period is tried again."""


@dataclass(frozen=True)
class RunResult:
    run: DueRun
    outcome: Literal["ran", "skipped", "failed"]
    error: str | None = None


def period_of(fire_time: datetime) -> str:
    """The claim's period: the fire time in UTC, sortable as text."""
    return fire_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def _parse_period(period: str) -> datetime:
    return datetime.strptime(period, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)


def scheduled_contracts(engine: Engine) -> list[ScheduledContract]:
    """Every active (not archived) contract of every workspace, with its latest schedule."""
    with session_scope(engine) as session:
        statement = (
            select(Contract, ContractVersion)
            .join(ContractVersion, (col(ContractVersion.contract_id) == col(Contract.id)) & (col(ContractVersion.version) == col(Contract.latest_version)))
            .where(col(Contract.archived_at).is_(None))
            .order_by(col(Contract.team_id), col(Contract.name))
        )
        found = []
        for row, version in session.exec(statement).all():
            spec = parse_version(version)
            found.append(
                ScheduledContract(
                    team_id=row.team_id, name=row.name, pull=spec.schedule.pull, audit=spec.schedule.audit,
                    timezone=spec.schedule.timezone, review_every_weeks=spec.review_every_weeks, created_at=row.created_at,
                )
            )
        return found


def _trigger(contract: ScheduledContract, kind: JobKind) -> CronTrigger:
    return CronTrigger.from_crontab(contract.cron(kind), timezone=contract.timezone)


def _fire_times(trigger: CronTrigger, after: datetime, until: datetime, keep: int) -> list[datetime]:
    """The last ``keep`` fire times in ``(after, until]``."""
    found: deque[datetime] = deque(maxlen=keep)
    current = trigger.get_next_fire_time(None, after + timedelta(seconds=1))
    for _ in range(_MAX_FIRE_TIMES):
        if current is None or current > until:
            break
        found.append(current.astimezone(UTC))
        current = trigger.get_next_fire_time(current, current + timedelta(seconds=1))
    return list(found)


def _review_week(contract: ScheduledContract, fire_time: datetime) -> bool:
    weeks = (fire_time - contract.created_at).days // 7
    return weeks > 0 and weeks % (contract.review_every_weeks or 1) == 0


def _last_period(engine: Engine, job_key: str) -> datetime | None:
    with session_scope(engine) as session:
        latest = session.exec(select(func.max(JobClaim.period)).where(JobClaim.job_key == job_key)).one()
    return _parse_period(latest) if latest else None


def _retry_due(claim: JobClaim, now: datetime) -> bool:
    """Whether a claimed run should be tried again now: it failed and has waited out its backoff,
    or it is still 'running' long after its claim (its process died, or the database went away
    before the outcome could be recorded)."""
    if claim.status == JobStatus.RUNNING:
        return claim.claimed_at < now - STALE_AFTER
    if claim.status != JobStatus.FAILED:
        return False
    failing_for = claim.claimed_at - _parse_period(claim.period)
    return now >= claim.claimed_at + min(max(failing_for, RETRY_MIN), RETRY_MAX)


def _retries(engine: Engine, now: datetime) -> dict[str, list[datetime]]:
    """Fire times of recent runs that failed or were abandoned and are due again, by job key.

    One query per tick for every job: the recent unfinished claims are few.
    """
    with session_scope(engine) as session:
        statement = select(JobClaim).where(JobClaim.status != JobStatus.DONE, JobClaim.period >= period_of(now - RETRY_FOR))
        due: dict[str, list[datetime]] = {}
        for claim in session.exec(statement).all():
            if _retry_due(claim, now):
                due.setdefault(claim.job_key, []).append(_parse_period(claim.period))
        return due


def due_runs(engine: Engine, contracts: Iterable[ScheduledContract], *, now: datetime, max_catch_up: int = MAX_CATCH_UP) -> list[DueRun]:
    """Every run due by ``now`` and not yet claimed, oldest first, with the claimed ones due again.

    After downtime, each job's missed periods since its last claimed one run once each, the most
    recent ``max_catch_up`` of them. A job that has never run starts with its latest period, if
    that is after the contract was created. A run that failed is tried again with backoff, and
    one abandoned mid-way after :data:`STALE_AFTER`, for :data:`RETRY_FOR` after its fire time:
    a warehouse or database outage delays a period's pull, it does not lose it.
    """
    runs = []
    retries = _retries(engine, now)
    for contract in contracts:
        for kind in contract.kinds():
            key = contract.job_key(kind)
            runs.extend(DueRun(kind, contract.team_id, contract.name, key, period_of(t), t) for t in retries.get(key, ()))
            last = _last_period(engine, key)
            after = last if last is not None else max(contract.created_at, now - _FIRST_RUN_LOOKBACK) - timedelta(seconds=1)
            keep = max_catch_up if last is not None else 1
            if kind == "review":
                times = [t for t in _fire_times(_trigger(contract, kind), after, now, _MAX_FIRE_TIMES) if _review_week(contract, t)][-keep:]
            else:
                times = _fire_times(_trigger(contract, kind), after, now, keep)
            runs.extend(DueRun(kind, contract.team_id, contract.name, key, period_of(t), t) for t in times)
    return sorted(runs, key=lambda r: (r.fire_time, r.job_key))


def _claim(engine: Engine, run: DueRun, *, replica_id: str, now: datetime) -> bool:
    with session_scope(engine) as session:
        if claim_job(session=session, job_key=run.job_key, period=run.period, claimed_by=replica_id, claimed_at=now):
            return True
        claim = get_job_claim(session=session, job_key=run.job_key, period=run.period)
        # A failed run waits out its backoff, a running one is taken over only once its process
        # must be dead; of several replicas trying at once, the conditional update lets one win.
        if claim is not None and _retry_due(claim, now):
            return reclaim_job(session=session, job_key=run.job_key, period=run.period, claimed_by=replica_id,
                               stale_before=now - STALE_AFTER, now=now)
        return False


def run_due_jobs(
    *,
    engine: Engine,
    now: datetime,
    replica_id: str,
    runner: Runner,
    contracts: Iterable[ScheduledContract] | None = None,
    only: str | None = None,
    max_catch_up: int = MAX_CATCH_UP,
    parallel: int = PARALLEL_CONTRACTS,
) -> list[RunResult]:
    """Claim and run every due run (or only job ``only``'s); a run another replica claimed is skipped.

    Each claim is committed before the run starts, so the other replicas see it at once. The
    run's outcome is recorded on its claim; an exception in one run does not stop the others.
    One contract's runs go in order (its pull before the audit that reads it); up to
    ``parallel`` contracts run at the same time.
    """
    contracts = list(contracts) if contracts is not None else scheduled_contracts(engine)
    by_contract: dict[tuple[str, str], list[DueRun]] = {}
    for run in due_runs(engine, contracts, now=now, max_catch_up=max_catch_up):
        if only is None or run.job_key == only:
            by_contract.setdefault((run.team_id, run.contract_name), []).append(run)

    def run_in_order(runs: list[DueRun]) -> list[RunResult]:
        return [_run_claimed(engine, run, now=now, replica_id=replica_id, runner=runner) for run in runs]

    groups = list(by_contract.values())
    # An in-memory SQLite database is one shared connection, which threads must not use at once.
    if parallel <= 1 or len(groups) <= 1 or isinstance(engine.pool, StaticPool):
        return [result for runs in groups for result in run_in_order(runs)]
    with ThreadPoolExecutor(max_workers=min(parallel, len(groups)), thread_name_prefix="northstar-jobs") as pool:
        return [result for results in pool.map(run_in_order, groups) for result in results]


def _run_claimed(engine: Engine, run: DueRun, *, now: datetime, replica_id: str, runner: Runner) -> RunResult:
    if not _claim(engine, run, replica_id=replica_id, now=now):
        return RunResult(run, "skipped")
    error = None
    try:
        runner(run)
    except Exception as exc:  # recorded on the claim; the next job still runs
        logger.exception("scheduled %s for %s failed", run.job_key, run.period)
        error = f"{type(exc).__name__}: {exc}"
    with session_scope(engine) as session:
        finish_job(session=session, job_key=run.job_key, period=run.period, claimed_by=replica_id, error=error, finished_at=utcnow())
    return RunResult(run, "failed" if error else "ran", error)


def make_runner(
    *,
    engine: Engine,
    settings: Settings | Callable[[str], object],
    clock: Callable[[], datetime] = utcnow,
    audit_runner: Runner | None = None,
    review_runner: Runner | None = None,
    pull: Callable[..., object] | None = None,
) -> Runner:
    """Dispatch a due run to its job: pulls to :func:`bot.jobs.pull.pull_contract`, the rest to
    the given runners (by default nothing beyond the claim, which records that the period ran).

    A pull that could not read some metric for a reason that may pass (the warehouse down or
    too slow) raises :class:`PullIncomplete`, so its claim fails and the period is tried again
    with backoff; metrics already stored for the window are not pulled twice.
    """
    from bot.jobs.pull import PullReport, pull_contract, pull_window
    from storage.contracts import latest_parsed_contract

    pull = pull or pull_contract

    def run(due: DueRun) -> None:
        if due.kind == "pull":
            with session_scope(engine) as session:
                spec = latest_parsed_contract(session=session, team_id=due.team_id, name=due.contract_name)
            if spec is None:
                return
            start, end = pull_window(due.fire_time, spec)
            report = pull(engine=engine, settings_or_warehouse_factory=settings, team_id=due.team_id, contract_name=due.contract_name,
                          window_start=start, window_end=end, now=clock(), once_per_window=True)
            if isinstance(report, PullReport) and report.retryable:
                missing = "; ".join(f"{m.metric}: {m.error}" for m in report.retryable)
                raise PullIncomplete(f"{len(report.retryable)} of {len(report.metrics)} metrics not pulled, to be tried again: {missing}")
        elif due.kind == "audit" and audit_runner is not None:
            audit_runner(due)
        elif due.kind == "review" and review_runner is not None:
            review_runner(due)

    return run


def reconcile_jobs(scheduler: BackgroundScheduler, contracts: Iterable[ScheduledContract], *, tick: Callable[[str | None], None]) -> set[str]:
    """Make the scheduler's cron jobs match ``contracts``: add new ones, replace changed
    schedules, remove those of removed or archived contracts. Returns the job ids kept."""
    wanted: dict[str, CronTrigger] = {}
    for contract in contracts:
        for kind in contract.kinds():
            wanted[contract.job_key(kind)] = _trigger(contract, kind)
    for job in scheduler.get_jobs():
        if job.id != TICK_JOB_ID and job.id not in wanted:
            job.remove()
    for job_id, trigger in wanted.items():
        existing = scheduler.get_job(job_id)
        if existing is not None and str(existing.trigger) == str(trigger) and existing.trigger.timezone == trigger.timezone:
            continue
        # replace_existing keeps one job per id, so reconciling twice never duplicates.
        scheduler.add_job(tick, trigger=trigger, args=[job_id], id=job_id, name=job_id, replace_existing=True,
                          coalesce=True, max_instances=1, misfire_grace_time=None)
    return set(wanted)


def build_scheduler(
    *,
    engine: Engine,
    settings: Settings,
    clock: Callable[[], datetime] = utcnow,
    replica_id: str | None = None,
    audit_runner: Runner | None = None,
    review_runner: Runner | None = None,
    runner: Runner | None = None,
    minute_jobs: Sequence[Callable[[datetime], object]] = (),
) -> BackgroundScheduler:
    """A BackgroundScheduler (not started) whose ticks call :func:`run_due_jobs`.

    The minute tick catches up missed periods and reconciles the cron jobs with the stored
    contracts, so a synced, changed or archived contract is picked up within a minute. Its first
    run is as soon as the scheduler starts: a replica back from downtime (a deploy, a crash)
    catches up at once instead of a minute later. ``minute_jobs`` run on each minute tick too,
    after the due runs, each with the tick's time; they must be safe on several replicas at once.
    """
    replica = replica_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    run = runner or make_runner(engine=engine, settings=settings, clock=clock, audit_runner=audit_runner, review_runner=review_runner)
    scheduler = BackgroundScheduler(timezone=UTC)

    def tick(only: str | None = None) -> None:
        contracts = scheduled_contracts(engine)
        if only is None:
            reconcile_jobs(scheduler, contracts, tick=tick)
        now = clock()
        run_due_jobs(engine=engine, now=now, replica_id=replica, runner=run, contracts=contracts, only=only)
        if only is None:
            for job in minute_jobs:
                try:
                    job(now)
                except Exception:  # the next tick tries again; the scheduled runs are unaffected
                    logger.exception("minute job %s failed", getattr(job, "__name__", job))

    scheduler.add_job(tick, trigger=IntervalTrigger(minutes=1, timezone=UTC), id=TICK_JOB_ID, name=TICK_JOB_ID,
                      replace_existing=True, coalesce=True, max_instances=1, next_run_time=datetime.now(UTC))
    reconcile_jobs(scheduler, scheduled_contracts(engine), tick=tick)
    return scheduler

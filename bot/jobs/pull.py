"""Pull a contract's metrics for one window, keep the snapshots, evaluate, and queue alerts.

One pull of one contract:

1. read the latest contract version;
2. pull each metric from the warehouse with the heavy work pushed down, retrying transient
   failures with backoff; every attempt is kept as a snapshot (a failed one with its error and
   attempt number, beside, never over, the good ones);
3. evaluate each snapshot (:mod:`metrics.evaluation`) with its recent history, its baseline
   window's value and, for drift, its reference window's counts;
4. step the alert state machine (:mod:`metrics.alerting`) and, in one transaction, write the
   alert states (compare-and-set) and the outbox messages they call for: the alert, reminders
   and resolutions in its thread, and an edit of the alert itself when a breach is reminded
   about or recovers. A concurrent writer (another pull, a click on Acknowledge or Snooze)
   makes the transaction start over from fresh states rather than post twice.

Everything slow or external is passed in: the engine, a warehouse factory, the clock, ``sleep``.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.alerts import enqueue_alert_update
from bot.blocks.alerts import build_alert, build_reminder, build_resolution
from bot.settings import Settings
from metrics.alerting import AlertIntent, AlertMemory, plan_alerts
from metrics.classification import ScoreHistogram
from metrics.contract import Contract as ContractSpec
from metrics.contract import Kind, Metric
from metrics.errors import MetricInputError, NorthstarError
from metrics.evaluation import Finding, Observation, evaluate_metric, pipeline_finding
from storage.alerts import get_alert_state, list_alert_states, upsert_alert_state
from storage.contracts import get_contract, get_version, list_contracts, parse_version
from storage.db import session_scope, utcnow
from storage.models import AlertState, MetricSnapshot, SnapshotStatus
from storage.outbox import enqueue_message
from storage.snapshots import add_snapshot, recent_snapshots, snapshots_between
from storage.warehouse.errors import WarehouseConnectionError, WarehouseError, WarehousePermissionError, WarehouseTimeoutError
from storage.warehouse.pushdown import PulledStatistics, pull_statistics
from storage.warehouse.runner import Warehouse, connect_warehouse

logger = logging.getLogger(__name__)

__all__ = [
    "MetricPull",
    "PullReport",
    "backfill",
    "pull_contract",
    "pull_window",
    "run_pull_command",
    "warehouse_factory",
]

WarehouseFactory = Callable[[str], Warehouse]

#: Attempts per metric per pull, and the pause before the second (doubled each time after).
MAX_ATTEMPTS = 3
BACKOFF_S = 2.0
#: Failed attempts in a row (since the last good pull) that make a data pipeline alert.
PIPELINE_FAILURE_THRESHOLD = 3
#: Good snapshots read as history for the silent-failure average.
HISTORY = 8
#: Attempts at the alert transaction when another writer keeps moving the states.
WRITE_ATTEMPTS = 3
# Errors another attempt may cure; anything else (rejected SQL, a missing column) will not be.
_TRANSIENT = (WarehouseTimeoutError, WarehouseConnectionError)
# Pass-one grid for reference quantiles when a distribution has no fixed edges: a symmetric
# log grid finds the decade of every quantile whatever the feature's scale.
_DECADES = [10.0**k for k in range(-6, 13)]
_COARSE_GRID = sorted({0.0, *_DECADES, *(-d for d in _DECADES)})
_REFINE_STEPS = 200


@dataclass(frozen=True)
class MetricPull:
    """What happened to one metric in one pull."""

    metric: str
    status: str
    value: float | None = None
    sample_size: float | None = None
    attempts: int = 1
    error: str | None = None
    # Retrying cannot help (the SQL is rejected, the warehouse is not configured).
    permanent: bool = False


@dataclass
class PullReport:
    """The outcome of pulling one contract for one window, for logs and the CLI."""

    contract: str
    window_start: datetime
    window_end: datetime
    metrics: list[MetricPull] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    intents: list[AlertIntent] = field(default_factory=list)
    skipped: str | None = None

    @property
    def failed(self) -> list[MetricPull]:
        return [m for m in self.metrics if m.status != SnapshotStatus.OK]

    @property
    def retryable(self) -> list[MetricPull]:
        """Metrics that failed for a reason that may pass (the warehouse down or too slow)."""
        return [m for m in self.failed if not m.permanent]

    def summary(self) -> str:
        if self.skipped:
            return f"{self.contract}: skipped ({self.skipped})"
        window = f"{self.window_start:%Y-%m-%d %H:%M}–{self.window_end:%Y-%m-%d %H:%M} UTC"
        breached = [f.key for f in self.findings if f.breached]
        parts = [f"{len(self.metrics) - len(self.failed)}/{len(self.metrics)} metrics pulled"]
        if self.failed:
            parts.append("failed: " + ", ".join(m.metric for m in self.failed))
        if breached:
            parts.append("breached: " + ", ".join(breached))
        if self.intents:
            parts.append("queued: " + ", ".join(f"{i.kind} ({', '.join(i.metrics)})" for i in self.intents))
        return f"{self.contract} {window}: " + "; ".join(parts)


# --------------------------------------------------------------------------------------------
# Windows
# --------------------------------------------------------------------------------------------


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def pull_window(now: datetime, contract: ContractSpec) -> tuple[datetime, datetime]:
    """The last complete day in the contract's time zone, as UTC instants.

    A day is midnight to midnight local time, so it is 23 or 25 hours long across a DST change.
    """
    tz = ZoneInfo(contract.schedule.timezone)
    today = now.astimezone(tz).date()
    return _local_midnight(today - timedelta(days=1), tz), _local_midnight(today, tz)


def _baseline_window(contract: ContractSpec, name: str) -> tuple[datetime, datetime]:
    baseline = contract.baselines[name]
    tz = ZoneInfo(contract.schedule.timezone)
    return _local_midnight(baseline.start, tz), _local_midnight(baseline.end, tz)


# --------------------------------------------------------------------------------------------
# Warehouses
# --------------------------------------------------------------------------------------------


def warehouse_factory(settings: Settings, *, team_id: str | None = None) -> WarehouseFactory:
    """Connect warehouses by name with the settings' URL, timeout and row cap; with ``team_id``,
    only those that workspace may use (see :meth:`Settings.warehouse_refusal`)."""

    def connect(name: str) -> Warehouse:
        refusal = settings.warehouse_refusal(name, team_id) if team_id is not None else None
        if refusal is not None:
            raise WarehousePermissionError(refusal, warehouse=name)
        return connect_warehouse(
            name, settings.warehouse_url(name), statement_timeout_s=settings.statement_timeout_s, row_cap=settings.row_cap
        )

    return connect


def as_warehouse_factory(settings_or_warehouse_factory: Settings | WarehouseFactory, *, team_id: str | None = None) -> WarehouseFactory:
    if isinstance(settings_or_warehouse_factory, Settings):
        return warehouse_factory(settings_or_warehouse_factory, team_id=team_id)
    return settings_or_warehouse_factory


# --------------------------------------------------------------------------------------------
# Contract context
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    spec: ContractSpec
    contract_id: int
    version_id: int
    paused_until: datetime | None


def _load_target(engine: Engine, team_id: str, name: str) -> _Target | str:
    with session_scope(engine) as session:
        row = get_contract(session=session, team_id=team_id, name=name)
        if row is None:
            return "no such contract"
        if row.archived_at is not None:
            return "archived"
        version = get_version(session=session, team_id=team_id, name=name)
        if version is None:
            return "no version"
        return _Target(spec=parse_version(version), contract_id=row.id, version_id=version.id, paused_until=row.paused_until)


# --------------------------------------------------------------------------------------------
# Pulling one metric
# --------------------------------------------------------------------------------------------


def _store(engine: Engine, team_id: str, target: _Target, metric: str, start: datetime, end: datetime, now: datetime, **values: Any) -> None:
    # Each attempt in a transaction of its own: a failure recorded stays recorded whatever follows.
    with session_scope(engine) as session:
        add_snapshot(
            session=session, team_id=team_id, contract_id=target.contract_id, contract_version_id=target.version_id,
            metric=metric, window_start=start, window_end=end, pulled_at=now, **values,
        )


def _pull_with_retries(
    pull: Callable[[], PulledStatistics],
    *,
    engine: Engine,
    team_id: str,
    target: _Target,
    metric: Metric,
    start: datetime,
    end: datetime,
    now: datetime,
    sleep: Callable[[float], None],
    max_attempts: int,
) -> tuple[PulledStatistics | None, MetricPull, bool]:
    """Pull, storing every attempt; returns (statistics or None, what happened, permanent failure)."""
    error = None
    for attempt in range(1, max_attempts + 1):
        try:
            pulled = pull()
        except _TRANSIENT as exc:
            error, permanent = exc.reason, False
        except (NorthstarError, ValueError) as exc:
            error, permanent = getattr(exc, "reason", None) or str(exc), True
        except Exception as exc:  # a bug in one metric must not stop the others
            logger.exception("pulling %s.%s failed unexpectedly", target.spec.name, metric.name)
            error, permanent = f"{type(exc).__name__}: {exc}", True
        else:
            _store(engine, team_id, target, metric.name, start, end, now, value=pulled.value,
                   sample_size=pulled.sample_size, stats=pulled.stats, attempt=attempt)
            return pulled, MetricPull(metric.name, SnapshotStatus.OK, pulled.value, pulled.sample_size, attempt), False
        _store(engine, team_id, target, metric.name, start, end, now, status=SnapshotStatus.FAILED, error=error, attempt=attempt)
        if permanent:
            return None, MetricPull(metric.name, SnapshotStatus.FAILED, attempts=attempt, error=error, permanent=True), True
        if attempt < max_attempts:
            sleep(BACKOFF_S * 2 ** (attempt - 1))
    return None, MetricPull(metric.name, SnapshotStatus.FAILED, attempts=max_attempts, error=error), False


def _window_snapshot(engine: Engine, team_id: str, target: _Target, metric: str, start: datetime, end: datetime) -> MetricSnapshot | None:
    with session_scope(engine) as session:
        statement = (
            select(MetricSnapshot)
            .where(
                MetricSnapshot.team_id == team_id, MetricSnapshot.contract_id == target.contract_id,
                MetricSnapshot.metric == metric, MetricSnapshot.window_start == start, MetricSnapshot.window_end == end,
                MetricSnapshot.status == SnapshotStatus.OK,
            )
            .order_by(col(MetricSnapshot.pulled_at).desc(), col(MetricSnapshot.id).desc())
        )
        return session.exec(statement).first()


def _open_edges(stored: Sequence[float | None]) -> list[float]:
    return [-math.inf if i == 0 and e is None else math.inf if e is None else float(e) for i, e in enumerate(stored)]


def _quantile_from_counts(edges: Sequence[float], counts: Sequence[float], q: float) -> tuple[int, float]:
    """(bin index, interpolated value) of quantile ``q`` of binned counts."""
    cumulative = np.cumsum(counts)
    target = q * cumulative[-1]
    index = int(np.searchsorted(cumulative, target, side="left"))
    low, high = edges[index], edges[index + 1]
    before = cumulative[index - 1] if index else 0.0
    inside = counts[index]
    if not (math.isfinite(low) and math.isfinite(high)) or inside <= 0:
        return index, high if math.isfinite(high) else low
    return index, low + (high - low) * (target - before) / inside


def _reference(
    warehouse: Warehouse, engine: Engine, team_id: str, target: _Target, metric: Metric, now: datetime
) -> tuple[list[float] | None, list[float] | None]:
    """Edges and counts of a distribution's reference window, pulled once and kept as a snapshot.

    Fixed ``distribution.edges`` are used as they are. Otherwise the edges are the reference's
    deciles (or ``bins`` quantiles), found in two binned passes so no row leaves the warehouse:
    a coarse log grid locates each quantile's decade, a fine grid inside it places the quantile.
    """
    spec = metric.spec()
    if spec.reference is None:
        return (list(spec.edges) if spec.edges else None), None
    start, end = _baseline_window(target.spec, spec.reference)
    kept = _window_snapshot(engine, team_id, target, metric.name, start, end)
    if kept is not None and kept.stats and kept.stats.get("counts"):
        return _open_edges(kept.stats["edges"]), list(kept.stats["counts"])
    edges = list(spec.edges) if spec.edges else None
    if edges is None:
        quantiles = np.linspace(0, 1, spec.bins + 1)[1:-1]
        coarse = [-math.inf, *_COARSE_GRID, math.inf]
        first = pull_statistics(warehouse, metric, window_start=start, window_end=end, reference_edges=coarse)
        if not first.sample_size:
            raise MetricInputError(f"the reference window {spec.reference} has no rows to take bin edges from")
        located = {_quantile_from_counts(coarse, first.stats["counts"], q)[0] for q in quantiles}
        fine: set[float] = set()
        for index in located:
            low, high = coarse[index], coarse[index + 1]
            low = low if math.isfinite(low) else -1e12
            high = high if math.isfinite(high) else 1e12
            fine.update(float(x) for x in np.linspace(low, high, _REFINE_STEPS + 1))
        fine_edges = [-math.inf, *sorted(fine), math.inf]
        second = pull_statistics(warehouse, metric, window_start=start, window_end=end, reference_edges=fine_edges)
        interior = sorted({round(_quantile_from_counts(fine_edges, second.stats["counts"], q)[1], 12) for q in quantiles})
        edges = [-math.inf, *interior, math.inf]
    pulled = pull_statistics(warehouse, metric, window_start=start, window_end=end, reference_edges=edges)
    _store(engine, team_id, target, metric.name, start, end, now, value=pulled.value, sample_size=pulled.sample_size, stats=pulled.stats)
    return edges, list(pulled.stats["counts"])


def _pooled_value(metric: Metric, rows: Sequence[MetricSnapshot]) -> float | None:
    """One value for several snapshots: pooled counts for classification, weighted mean otherwise."""
    if not rows:
        return None
    if metric.kind is Kind.CLASSIFICATION:
        try:
            merged = None
            for row in rows:
                histogram = ScoreHistogram.from_dict(row.stats)
                merged = histogram if merged is None else merged.merge(histogram)
            spec = metric.spec()
            return merged.total().confusion_at(spec.threshold).value(spec.statistic, zero_division="nan")
        except (MetricInputError, KeyError, TypeError):
            pass
    values = [(r.value, r.sample_size) for r in rows if r.value is not None]
    if not values:
        return None
    if all(n for _, n in values):
        return sum(v * n for v, n in values) / sum(n for _, n in values)
    return sum(v for v, _ in values) / len(values)


def _baseline_value(warehouse: Warehouse, engine: Engine, team_id: str, target: _Target, metric: Metric, now: datetime) -> float | None:
    """The value of a ratio bound's named baseline window: from its snapshots, else pulled once."""
    bound = metric.bound
    if bound is None or not isinstance(bound.baseline, str):
        return None
    start, end = _baseline_window(target.spec, bound.baseline)
    whole = _window_snapshot(engine, team_id, target, metric.name, start, end)
    if whole is not None:
        return _pooled_value(metric, [whole])
    with session_scope(engine) as session:
        rows = snapshots_between(session=session, team_id=team_id, contract_id=target.contract_id, start=start, end=end, metric=metric.name)
    if rows:
        return _pooled_value(metric, rows)
    pulled = pull_statistics(warehouse, metric, window_start=start, window_end=end)
    _store(engine, team_id, target, metric.name, start, end, now, value=pulled.value, sample_size=pulled.sample_size, stats=pulled.stats)
    return pulled.value


def _history(engine: Engine, team_id: str, target: _Target, metric: str, before: datetime) -> tuple[list[Observation], int]:
    """Earlier good snapshots (newest first) and failed attempts since the last good pull."""
    with session_scope(engine) as session:
        rows = recent_snapshots(session=session, team_id=team_id, contract_id=target.contract_id, metric=metric, limit=200)
    failures = 0
    for row in rows:
        if row.status == SnapshotStatus.OK:
            break
        failures += 1
    seen: set[tuple[datetime, datetime]] = set()
    history = []
    for row in rows:
        window = (row.window_start, row.window_end)
        if row.status != SnapshotStatus.OK or row.window_end > before or window in seen:
            continue
        seen.add(window)
        history.append(Observation(row.value, row.sample_size, row.stats, row.window_start, row.window_end))
        if len(history) >= HISTORY:
            break
    return history, failures


# --------------------------------------------------------------------------------------------
# Alerts
# --------------------------------------------------------------------------------------------


def _memory(row: AlertState) -> AlertMemory:
    return AlertMemory(
        state=row.state, since=row.since, last_value=row.last_value, last_evaluated_at=row.last_evaluated_at,
        # The column holds when the channel was last told (alert or reminder): reminder intervals count from it.
        last_notified_at=row.last_reminded_at, reminders=row.reminders, outbox_key=row.outbox_key,
        acknowledged_at=row.acknowledged_at, snoozed_until=row.snoozed_until, snooze_value=row.snooze_value,
        revision=row.revision,
    )


def _changes(memory: AlertMemory, now: datetime) -> dict[str, Any]:
    return {
        "state": memory.state, "since": memory.since or now, "last_value": memory.last_value,
        "last_evaluated_at": memory.last_evaluated_at or now, "last_reminded_at": memory.last_notified_at,
        "reminders": memory.reminders, "outbox_key": memory.outbox_key, "acknowledged_at": memory.acknowledged_at,
        "snoozed_until": memory.snoozed_until, "snooze_value": memory.snooze_value,
        **({"acknowledged_by": None} if memory.acknowledged_at is None else {}),
        **({"snoozed_by": None} if memory.snoozed_until is None else {}),
    }


class _StateMoved(Exception):
    """Another writer changed an alert state between our read and our write."""


def _write_alerts(
    *, engine: Engine, team_id: str, target: _Target, findings: list[Finding], now: datetime, quiet: bool
) -> list[AlertIntent]:
    spec = target.spec
    paused_until = target.paused_until
    if quiet:
        paused_until = datetime.max.replace(tzinfo=UTC)
    for _ in range(WRITE_ATTEMPTS):
        try:
            with session_scope(engine) as session:
                rows = {r.metric: r for r in list_alert_states(session=session, team_id=team_id, contract_id=target.contract_id)}
                memories = {key: _memory(row) for key, row in rows.items()}
                plan = plan_alerts(memories, findings, now=now, noise=spec.noise, paused_until=paused_until, key_prefix=f"{team_id}:{spec.name}")
                for key, memory in plan.states.items():
                    revision = rows[key].revision if key in rows else 0
                    if not upsert_alert_state(session=session, team_id=team_id, contract_id=target.contract_id, metric=key,
                                              expected_revision=revision, **_changes(memory, now)):
                        raise _StateMoved(key)
                for intent in plan.intents:
                    _enqueue(session, team_id=team_id, target=target, intent=intent, now=now)
                # Reminders and recoveries also edit the alert they follow up, so the message
                # itself says where the breach stands (read after the writes above).
                units = {m.name: m.unit for m in spec.metrics}
                for alert_key in dict.fromkeys(i.thread_key for i in plan.intents if i.kind != "alert" and i.thread_key):
                    enqueue_alert_update(session, team_id=team_id, alert_key=alert_key, now=now, units=units)
                return plan.intents
        except _StateMoved as moved:
            logger.info("alert state %s of %s moved under us; evaluating again", moved, spec.name)
    raise RuntimeError(f"alert states of {spec.name} kept changing; gave up after {WRITE_ATTEMPTS} attempts")


def _enqueue(session: Session, *, team_id: str, target: _Target, intent: AlertIntent, now: datetime) -> None:
    spec = target.spec
    if intent.kind == "alert":
        pairs = []
        for finding in intent.findings:
            state = get_alert_state(session=session, team_id=team_id, contract_id=target.contract_id, metric=finding.key)
            pairs.append((finding, state.id if state is not None else None))
        payload = build_alert(contract_title=spec.display_name, findings=pairs, signers=spec.signers, since=intent.since)
    elif intent.kind == "reminder":
        payload = build_reminder(finding=intent.findings[0], since=intent.since, now=now, worsened=intent.worsened)
    else:
        payload = build_resolution(finding=intent.findings[0], since=intent.since, now=now)
    enqueue_message(
        session=session, team_id=team_id, idempotency_key=intent.key, kind="post", channel=spec.channel,
        payload=payload, thread_key=intent.thread_key, now=now,
    )


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def pull_contract(
    *,
    engine: Engine,
    settings_or_warehouse_factory: Settings | WarehouseFactory,
    team_id: str,
    contract_name: str,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    now: datetime,
    sleep: Callable[[float], None] = time.sleep,
    max_attempts: int = MAX_ATTEMPTS,
    quiet: bool = False,
    once_per_window: bool = False,
) -> PullReport:
    """Pull, store, evaluate and alert for one contract and one window (default: yesterday, local).

    ``quiet`` tracks alert states without queueing messages (a backfill's older days).
    ``once_per_window`` evaluates a metric that already has a good snapshot of this window from
    that snapshot instead of pulling it again: a scheduled run tried again after an outage cut
    it short must not store the metrics it had already pulled twice. (A refresh asked for by a
    person pulls again: late data may have arrived.)
    """
    target = _load_target(engine, team_id, contract_name)
    if isinstance(target, str):
        start, end = window_start or now, window_end or now
        return PullReport(contract=contract_name, window_start=start, window_end=end, skipped=target)
    spec = target.spec
    if window_start is None or window_end is None:
        window_start, window_end = pull_window(now, spec)
    report = PullReport(contract=spec.name, window_start=window_start, window_end=window_end)
    try:
        warehouse: Warehouse | None = as_warehouse_factory(settings_or_warehouse_factory, team_id=team_id)(spec.warehouse)
        connect_error = None
    except WarehouseError as exc:
        warehouse, connect_error = None, exc.reason
    try:
        for metric in spec.metrics:
            report.findings.extend(
                _pull_and_evaluate(
                    engine=engine, warehouse=warehouse, connect_error=connect_error, team_id=team_id, target=target,
                    metric=metric, start=window_start, end=window_end, now=now, sleep=sleep, max_attempts=max_attempts,
                    report=report, once_per_window=once_per_window,
                )
            )
    finally:
        if warehouse is not None:
            warehouse.dispose()
    report.intents = _write_alerts(engine=engine, team_id=team_id, target=target, findings=report.findings, now=now, quiet=quiet)
    return report


def _pull_and_evaluate(
    *, engine, warehouse, connect_error, team_id, target, metric, start, end, now, sleep, max_attempts, report, once_per_window
) -> list[Finding]:
    spec = target.spec
    kept = _window_snapshot(engine, team_id, target, metric.name, start, end) if once_per_window else None
    if warehouse is None and kept is None:
        _store(engine, team_id, target, metric.name, start, end, now, status=SnapshotStatus.FAILED, error=connect_error)
        report.metrics.append(MetricPull(metric.name, SnapshotStatus.FAILED, error=connect_error, permanent=True))
        _, failures = _history(engine, team_id, target, metric.name, start)
        return [pipeline_finding(metric, failures=failures, error=connect_error, threshold=PIPELINE_FAILURE_THRESHOLD, permanent=True)]
    reference_edges = reference_counts = None
    baseline = None

    def prepare() -> None:
        # The reference and baseline windows are read from their snapshots, pulled only the first time.
        nonlocal reference_edges, reference_counts, baseline
        if metric.kind is Kind.DISTRIBUTION and reference_edges is None:
            reference_edges, reference_counts = _reference(warehouse, engine, team_id, target, metric, now)
        if metric.bound is not None and isinstance(metric.bound.baseline, str) and baseline is None:
            baseline = _baseline_value(warehouse, engine, team_id, target, metric, now)

    def pull() -> PulledStatistics:
        prepare()
        return pull_statistics(
            warehouse, metric, window_start=start, window_end=end, reference_edges=reference_edges, reference_counts=reference_counts
        )

    if kept is not None:
        # The reference and baseline were stored before this snapshot was, so no warehouse is needed.
        if warehouse is not None:
            prepare()
        pulled = PulledStatistics(kind=metric.kind.value, value=kept.value, sample_size=kept.sample_size, stats=kept.stats or {})
        outcome, permanent = MetricPull(metric.name, SnapshotStatus.OK, kept.value, kept.sample_size, kept.attempt), False
    else:
        pulled, outcome, permanent = _pull_with_retries(
            pull, engine=engine, team_id=team_id, target=target, metric=metric, start=start, end=end, now=now,
            sleep=sleep, max_attempts=max_attempts,
        )
    report.metrics.append(outcome)
    history, failures = _history(engine, team_id, target, metric.name, start)
    pipeline = pipeline_finding(metric, failures=failures, error=outcome.error, threshold=PIPELINE_FAILURE_THRESHOLD, permanent=permanent)
    if pulled is None:
        return [pipeline]
    observation = Observation(pulled.value, pulled.sample_size, pulled.stats, start, end)
    evaluation = evaluate_metric(spec, metric, observation, history=history, baseline_value=baseline, reference_counts=reference_counts)
    return [*evaluation.findings, pipeline]


def backfill(
    *,
    engine: Engine,
    settings_or_warehouse_factory: Settings | WarehouseFactory,
    team_id: str,
    contract_name: str,
    days: int,
    now: datetime,
    progress: Callable[[PullReport], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[PullReport]:
    """Pull the last ``days`` complete days, oldest first.

    Each day is evaluated as of its own end, so alert states walk through history as they would
    have; only the newest day may queue messages, so a backfill does not post last month's alerts.
    """
    target = _load_target(engine, team_id, contract_name)
    if isinstance(target, str):
        return [PullReport(contract=contract_name, window_start=now, window_end=now, skipped=target)]
    _, last_end = pull_window(now, target.spec)
    tz = ZoneInfo(target.spec.schedule.timezone)
    last_day = last_end.astimezone(tz).date()
    reports = []
    for offset in range(days, 0, -1):
        end = _local_midnight(last_day - timedelta(days=offset - 1), tz)
        start = _local_midnight(last_day - timedelta(days=offset), tz)
        report = pull_contract(
            engine=engine, settings_or_warehouse_factory=settings_or_warehouse_factory, team_id=team_id,
            contract_name=contract_name, window_start=start, window_end=end, now=min(now, end) if offset > 1 else now,
            sleep=sleep, quiet=offset > 1,
        )
        reports.append(report)
        if progress is not None:
            progress(report)
    return reports


def run_pull_command(
    *,
    engine: Engine,
    settings: Settings | WarehouseFactory,
    team_id: str,
    names: Iterable[str] = (),
    at: datetime | None = None,
    backfill_days: int | None = None,
    progress: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """``northstar pull [CONTRACT…] [--at DATETIME] [--backfill N]``: one summary line per pull.

    No names pulls every active contract of the workspace. ``at`` stands for "now" (the window
    is the last complete day before it); a naive ``at`` is read as UTC.
    """
    now = at or utcnow()
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    names = list(names)
    if not names:
        with session_scope(engine) as session:
            names = [row.name for row in list_contracts(session=session, team_id=team_id)]
    lines: deque[str] = deque()

    def report(r: PullReport) -> None:
        line = r.summary()
        lines.append(line)
        if progress is not None:
            progress(line)

    for name in names:
        if backfill_days:
            backfill(engine=engine, settings_or_warehouse_factory=settings, team_id=team_id, contract_name=name,
                     days=backfill_days, now=now, progress=report, sleep=sleep)
        else:
            report(pull_contract(engine=engine, settings_or_warehouse_factory=settings, team_id=team_id,
                                 contract_name=name, now=now, sleep=sleep))
    return list(lines)

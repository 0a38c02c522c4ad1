"""The alert state machine: when a finding becomes a message, and when it stays quiet.

One state per alert key (a metric's bound, or ``metric:check`` for a health check)::

    ok ──breach──▶ violated ──(min_breach_hours pass)──▶ alert posted
                      │  └─(every reminder_every_hours while it lasts)──▶ reminder in the thread
                      └─clears──▶ recovered ──▶ ok          resolution in the thread

* A breach must last ``noise.min_breach_hours`` before the first alert; one that clears sooner
  goes back to ok without a word.
* One continuous breach is alerted once. Reminders go in the alert's thread at most once per
  ``noise.reminder_every_hours``, and not after someone acknowledged it.
* Snoozed: quiet until ``snoozed_until``, unless the value worsens by more than
  ``noise.snooze_worsen_margin`` (relative) from where it was snoozed; then one reminder says so.
* Paused contract (``paused_until``): the state is tracked as usual, nothing is said. A breach
  that outlives the pause is alerted when the pause ends.
* ``insufficient_data`` neither raises nor clears: a thin window says nothing either way.

Several alerts of one contract in one pull become one grouped alert message.

Pure code: states in, states and intents out; the caller persists both in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from metrics.contract import NoiseControls
from metrics.evaluation import Finding

__all__ = ["AlertIntent", "AlertMemory", "AlertPlan", "plan_alerts", "step"]

IntentKind = Literal["alert", "reminder", "resolution"]
StateName = Literal["ok", "violated", "recovered"]


@dataclass(frozen=True)
class AlertMemory:
    """What the machine remembers about one alert key (mirrors a row of ``alert_states``).

    ``since`` is when the current breach began (or when the state last changed otherwise).
    ``outbox_key`` is set once the breach has been alerted: it is the alert message's key, the
    thread its reminders and resolution go to. ``last_notified_at`` is when the channel was last
    told about this breach (the alert or a reminder); reminder intervals count from it.
    """

    state: StateName = "ok"
    since: datetime | None = None
    last_value: float | None = None
    last_evaluated_at: datetime | None = None
    last_notified_at: datetime | None = None
    reminders: int = 0
    outbox_key: str | None = None
    acknowledged_at: datetime | None = None
    snoozed_until: datetime | None = None
    snooze_value: float | None = None
    revision: int = 0

    @property
    def alerted(self) -> bool:
        return self.state == "violated" and self.outbox_key is not None


@dataclass(frozen=True)
class AlertIntent:
    """A message the caller should queue.

    ``alert`` intents carry every finding of the group and ``key`` is the alert message's
    idempotency key; ``reminder`` and ``resolution`` intents carry one finding and ``thread_key``,
    the alert they reply to.
    """

    kind: IntentKind
    metric: str
    key: str
    findings: tuple[Finding, ...] = ()
    since: datetime | None = None
    thread_key: str | None = None
    worsened: bool = False

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.findings) or (self.metric,)


@dataclass(frozen=True)
class AlertPlan:
    """The outcome of one pull: new states (only those that changed) and messages to queue."""

    states: dict[str, AlertMemory] = field(default_factory=dict)
    intents: list[AlertIntent] = field(default_factory=list)


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def _worsened(finding: Finding, memory: AlertMemory, margin: float) -> bool:
    if finding.value is None or memory.snooze_value is None:
        return False
    reference = memory.snooze_value
    step_size = margin * abs(reference) if reference else margin
    if finding.worse_when == "higher":
        return finding.value > reference + step_size
    return finding.value < reference - step_size


def step(
    memory: AlertMemory,
    finding: Finding,
    *,
    now: datetime,
    noise: NoiseControls,
    paused: bool = False,
    key_prefix: str = "",
) -> tuple[AlertMemory, list[AlertIntent]]:
    """Advance one alert key by one evaluated finding.

    Returns the new memory and at most one intent. An ``alert`` intent here is for one finding;
    :func:`plan_alerts` groups them. ``key_prefix`` (``team:contract``) makes message keys
    unique across workspaces and contracts.
    """
    key = finding.key
    seen = replace(memory, last_evaluated_at=now, last_value=finding.value if finding.value is not None else memory.last_value)
    if not finding.judged:
        return seen, []

    if not finding.breached:
        if memory.state == "violated":
            if memory.outbox_key is None:
                # Cleared before it was ever alerted (shorter than min_breach_hours, or paused).
                return _cleared(seen, now), []
            recovered = replace(seen, state="recovered", since=now, snoozed_until=None, snooze_value=None)
            if paused:
                return recovered, []
            intent = AlertIntent(
                kind="resolution", metric=key, findings=(finding,), since=memory.since,
                key=f"resolution:{key_prefix}:{key}:{_iso(memory.since)}", thread_key=memory.outbox_key,
            )
            return recovered, [intent]
        if memory.state == "recovered":
            return _cleared(seen, now), []
        return seen, []

    # Breached.
    if memory.state != "violated":
        started = replace(
            _cleared(seen, now), state="violated", since=now,
        )
        return _maybe_alert(started, finding, now=now, noise=noise, paused=paused, key_prefix=key_prefix)
    if memory.outbox_key is None:
        return _maybe_alert(seen, finding, now=now, noise=noise, paused=paused, key_prefix=key_prefix)
    if paused:
        return seen, []
    if memory.snoozed_until is not None and now < memory.snoozed_until:
        if _worsened(finding, memory, noise.snooze_worsen_margin):
            # Worse than when it was snoozed: speak once, and end the snooze so it is not muted again.
            woken = replace(seen, snoozed_until=None, snooze_value=None, last_notified_at=now, reminders=memory.reminders + 1)
            return woken, [_reminder(memory, finding, key_prefix=key_prefix, worsened=True)]
        return seen, []
    if memory.acknowledged_at is not None:
        return seen, []
    last = memory.last_notified_at or memory.since
    if last is not None and _hours(now - last) >= noise.reminder_every_hours:
        reminded = replace(seen, last_notified_at=now, reminders=memory.reminders + 1)
        return reminded, [_reminder(memory, finding, key_prefix=key_prefix)]
    return seen, []


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else "-"


def _cleared(memory: AlertMemory, now: datetime) -> AlertMemory:
    return replace(
        memory, state="ok", since=now, last_notified_at=None, reminders=0, outbox_key=None,
        acknowledged_at=None, snoozed_until=None, snooze_value=None,
    )


def _reminder(memory: AlertMemory, finding: Finding, *, key_prefix: str, worsened: bool = False) -> AlertIntent:
    number = memory.reminders + 1
    return AlertIntent(
        kind="reminder", metric=finding.key, findings=(finding,), since=memory.since, thread_key=memory.outbox_key,
        key=f"reminder:{key_prefix}:{finding.key}:{_iso(memory.since)}:{number}", worsened=worsened,
    )


def _maybe_alert(
    memory: AlertMemory, finding: Finding, *, now: datetime, noise: NoiseControls, paused: bool, key_prefix: str
) -> tuple[AlertMemory, list[AlertIntent]]:
    assert memory.since is not None
    if paused or _hours(now - memory.since) < noise.min_breach_hours:
        return memory, []
    key = f"alert:{key_prefix}:{finding.key}:{_iso(memory.since)}"
    alerted = replace(memory, outbox_key=key, last_notified_at=now)
    return alerted, [AlertIntent(kind="alert", metric=finding.key, key=key, findings=(finding,), since=memory.since)]


def plan_alerts(
    memories: Mapping[str, AlertMemory],
    findings: Sequence[Finding],
    *,
    now: datetime,
    noise: NoiseControls,
    paused_until: datetime | None = None,
    key_prefix: str = "",
) -> AlertPlan:
    """Step every finding of one contract's pull and group its new alerts into one message.

    ``memories`` maps alert keys to their current memory (missing keys start at ok). The
    grouped alert's key is the first member's key (members sorted by key), so a re-run of the
    same pull yields the same key; every member's memory records that key as its thread.
    """
    paused = paused_until is not None and now < paused_until
    states: dict[str, AlertMemory] = {}
    alerts: list[AlertIntent] = []
    others: list[AlertIntent] = []
    for finding in sorted(findings, key=lambda f: f.key):
        memory = memories.get(finding.key, AlertMemory())
        new, intents = step(memory, finding, now=now, noise=noise, paused=paused, key_prefix=key_prefix)
        states[finding.key] = new
        for intent in intents:
            (alerts if intent.kind == "alert" else others).append(intent)
    if len(alerts) > 1:
        group_key = alerts[0].key
        for intent in alerts:
            states[intent.metric] = replace(states[intent.metric], outbox_key=group_key)
        grouped = AlertIntent(
            kind="alert",
            metric=alerts[0].metric,
            key=group_key,
            findings=tuple(f for intent in alerts for f in intent.findings),
            since=min(intent.since for intent in alerts if intent.since is not None),
        )
        alerts = [grouped]
    return AlertPlan(states=states, intents=alerts + others)

"""The alert state machine on frozen clocks, and its promises over arbitrary sequences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.alerting import AlertMemory, plan_alerts, step
from metrics.contract import NoiseControls
from metrics.evaluation import Finding

T0 = datetime(2026, 11, 16, 6, tzinfo=UTC)
NOISE = NoiseControls()  # no minimum breach, reminders every 24 h, snooze margin 20%


def finding(status: str, value: float = 0.03, metric: str = "premium_false_positive_rate") -> Finding:
    return Finding(metric=metric, check="bound", status=status, severity="critical", reason=f"{metric} {status}", value=value, high=0.02)


def run(timeline, *, noise=NOISE, paused_until=None, memory=None):
    """Feed (hours after T0, status) pairs through the machine; return the kinds of message sent."""
    memory = memory or AlertMemory()
    sent = []
    for hours, status in timeline:
        memory, intents = step(memory, finding(status), now=T0 + timedelta(hours=hours), noise=noise,
                               paused=paused_until is not None and T0 + timedelta(hours=hours) < paused_until, key_prefix="T1:fraud")
        sent.extend(intents)
    return memory, sent


def hourly(status: str, start: int, end: int, every: int = 1):
    return [(h, status) for h in range(start, end, every)]


def test_a_six_hour_violation_alerts_once_and_never_reminds():
    memory, sent = run(hourly("violated", 0, 7) + [(7, "ok")])
    assert [i.kind for i in sent] == ["alert", "resolution"]
    assert sent[0].key == f"alert:T1:fraud:premium_false_positive_rate:{T0.isoformat()}"
    assert sent[1].thread_key == sent[0].key
    assert memory.state == "recovered"


def test_a_thirty_hour_violation_reminds_once_in_its_thread():
    memory, sent = run(hourly("violated", 0, 31))
    assert [i.kind for i in sent] == ["alert", "reminder"]
    assert sent[1].thread_key == sent[0].key
    assert memory.reminders == 1


def test_recovery_resolves_once_then_settles_to_ok():
    memory, sent = run(hourly("violated", 0, 3) + hourly("ok", 3, 10))
    assert [i.kind for i in sent] == ["alert", "resolution"]
    assert memory.state == "ok" and memory.outbox_key is None


def test_a_breach_shorter_than_min_breach_hours_is_never_posted():
    noise = NoiseControls(min_breach_hours=12)
    _, short = run(hourly("violated", 0, 11) + [(11, "ok")], noise=noise)
    assert short == []
    memory, long = run(hourly("violated", 0, 13), noise=noise)
    assert [i.kind for i in long] == ["alert"]
    # The alert names when the breach began, not when it was posted.
    assert long[0].since == T0 and memory.last_notified_at == T0 + timedelta(hours=12)


def test_insufficient_data_neither_raises_nor_clears():
    memory, sent = run([(0, "violated"), (1, "insufficient_data"), (2, "insufficient_data")])
    assert [i.kind for i in sent] == ["alert"] and memory.state == "violated"
    _, nothing = run([(0, "insufficient_data"), (1, "ok")])
    assert nothing == []


def test_snooze_is_quiet_unless_the_value_worsens_past_the_margin():
    memory, _ = run([(0, "violated")])
    snoozed = AlertMemory(**{**memory.__dict__, "snoozed_until": T0 + timedelta(hours=48), "snooze_value": 0.03})
    # 30 hours of the same value: the reminder due at 24 h is held back.
    quiet, sent = run(hourly("violated", 1, 31), memory=snoozed)
    assert sent == []
    still, sent = step(quiet, finding("violated", value=0.035), now=T0 + timedelta(hours=32), noise=NOISE)
    assert sent == []  # 17% worse: inside the 20% margin
    woken, sent = step(still, finding("violated", value=0.037), now=T0 + timedelta(hours=33), noise=NOISE)
    assert [(i.kind, i.worsened) for i in sent] == [("reminder", True)]
    assert woken.snoozed_until is None


def test_acknowledged_alerts_get_no_reminders():
    memory, _ = run([(0, "violated")])
    acknowledged = AlertMemory(**{**memory.__dict__, "acknowledged_at": T0 + timedelta(hours=1)})
    _, sent = run(hourly("violated", 1, 60), memory=acknowledged)
    assert sent == []


def test_paused_contract_tracks_state_silently_and_alerts_when_the_pause_ends():
    paused_until = T0 + timedelta(hours=10)
    memory, sent = run(hourly("violated", 0, 10), paused_until=paused_until)
    assert sent == [] and memory.state == "violated" and memory.since == T0
    memory, sent = run([(10, "violated")], paused_until=paused_until, memory=memory)
    assert [i.kind for i in sent] == ["alert"] and sent[0].since == T0


def test_several_violations_in_one_pull_become_one_grouped_alert():
    findings = [finding("violated", metric=name) for name in ("b_metric", "a_metric", "c_metric")] + [finding("ok", metric="d")]
    plan = plan_alerts({}, findings, now=T0, noise=NOISE, key_prefix="T1:fraud")
    assert [i.kind for i in plan.intents] == ["alert"]
    grouped = plan.intents[0]
    assert grouped.metrics == ("a_metric", "b_metric", "c_metric")
    assert {plan.states[m].outbox_key for m in grouped.metrics} == {grouped.key}
    # The next pull, still violated: nothing new, whatever the order of findings.
    again = plan_alerts(plan.states, list(reversed(findings)), now=T0 + timedelta(hours=1), noise=NOISE, key_prefix="T1:fraud")
    assert again.intents == []
    # One recovers: its resolution replies in the grouped alert's thread.
    findings[0] = finding("ok", metric="b_metric")
    later = plan_alerts(again.states, findings, now=T0 + timedelta(hours=2), noise=NOISE, key_prefix="T1:fraud")
    assert [(i.kind, i.metric, i.thread_key) for i in later.intents] == [("resolution", "b_metric", grouped.key)]


# --- properties over arbitrary sequences ------------------------------------------------------

statuses = st.sampled_from(["ok", "violated", "insufficient_data", "near", "at_risk"])
gaps = st.integers(min_value=1, max_value=20)


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(st.tuples(gaps, statuses), min_size=1, max_size=60),
    min_breach=st.sampled_from([0, 4, 12]),
    every=st.sampled_from([6, 24]),
)
def test_alert_promises_hold_for_any_sequence(steps, min_breach, every):
    noise = NoiseControls(min_breach_hours=min_breach, reminder_every_hours=every)
    memory = AlertMemory()
    now = T0
    alerts_this_breach = 0
    last_told = None
    alerted = 0
    resolved = 0
    for gap, status in steps:
        now += timedelta(hours=gap)
        before = memory
        memory, intents = step(memory, finding(status), now=now, noise=noise, key_prefix="T1:fraud")
        kinds = [i.kind for i in intents]
        assert len(intents) <= 1
        if before.state != "violated" and memory.state == "violated":
            alerts_this_breach = 0  # a new continuous violation begins
        if "alert" in kinds:
            alerts_this_breach += 1
            alerted += 1
            assert alerts_this_breach == 1, "two alerts for one continuous violation"
            last_told = now
        if "reminder" in kinds:
            assert before.alerted
            assert (now - last_told) >= timedelta(hours=every), "two reminders within one interval"
            last_told = now
        if "resolution" in kinds:
            resolved += 1
            assert status in ("ok", "near", "at_risk") and before.alerted
    # Every alerted violation that ended has exactly one resolution; at most one is still open.
    assert alerted - resolved == (1 if memory.alerted else 0)

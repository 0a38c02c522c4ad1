"""The weekly audit's composition on synthetic weekly series."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from metrics.audit import REVIEW_QUESTION, WeeklyPoint, compose_audit, pool_points
from metrics.classification import ScoreHistogram
from metrics.contract import Contract
from metrics.evaluation import Evaluation, Finding
from tests.metrics.contract_factory import SCORES_SQL, SQL, contract_data, metric

WEEK = timedelta(days=7)
WEEK_END = date(2026, 11, 16)
LAUNCH = date(2026, 9, 21)  # eight weeks before WEEK_END


def weeks(values, *, n=None, end=WEEK_END, stats=None):
    """Weekly points ending on ``end``, oldest first."""
    count = len(values)
    return [
        WeeklyPoint(end - (count - 1 - i) * WEEK, v, n if not callable(n) else n(i), stats[i] if stats else None)
        for i, v in enumerate(values)
    ]


def fpr_histogram(fp: int, negatives: int, *, tp: int = 990, positives: int = 1000) -> dict:
    """Scores on two bins; at threshold 0.5 exactly ``fp`` negatives and ``tp`` positives are flagged."""
    h = ScoreHistogram.from_counts([0.0, 0.5, 1.0], pos=[positives - tp, tp], neg=[negatives - fp, fp])
    return h.to_dict()


def fraud_like(**overrides) -> Contract:
    data = contract_data(
        name="fraud-screening",
        launched_on=LAUNCH.isoformat(),
        business={
            "positive": "fraudulent transaction", "negative": "legitimate customer", "action": "block",
            "action_past": "blocked", "unit": "transaction", "weekly_volume": 150000,
            "cost_false_positive": 15, "cost_false_negative": 420, "false_positive_cost_means": "manual review",
        },
        metrics=[
            metric("approval_rate", role="north_star", layer="business", unit="%"),
            metric(
                "premium_false_positive_rate", label="premium-customer false positives", role="guardrail",
                direction="decrease", kind="classification", unit="%", sql=SCORES_SQL,
                classification={"statistic": "false_positive_rate", "threshold": 0.5, "bins": 2}, bound={"max": 0.02},
            ),
            metric("latency_p95", label="scoring latency p95", role="efficiency", direction="decrease", unit="ms", bound={"max": 120}),
        ],
    )
    data.update(overrides)
    return Contract.model_validate(data)


def crafted_series() -> dict[str, list[WeeklyPoint]]:
    fpr = [fpr_histogram(225, 22500), fpr_histogram(540, 22500), fpr_histogram(560, 22500), fpr_histogram(540, 22500)]
    return {
        "approval_rate": weeks([0.31, 0.30, 0.300, 0.301], n=1000),
        "premium_false_positive_rate": weeks([225 / 22500, 540 / 22500, 560 / 22500, 540 / 22500], n=23500, stats=fpr),
        "latency_p95": weeks([90, 95, 100, 100], n=5000),
    }


# --- headline and guardrails ------------------------------------------------------------------


def test_headline_is_exact_with_the_cost_computed_independently():
    audit = compose_audit(fraud_like(), crafted_series(), week_end=WEEK_END)
    cost = 540 * 15  # false positives this week × cost of a false positive
    assert cost == 8100
    assert audit.headline == (
        "North star flat; 1 guardrail violated: premium-customer false positives 2.4% (bound 2%), ≈ $8,100 this week"
    )
    assert audit.decision.startswith("Decision needed: premium-customer false positives has been beyond its bound for 3 weeks")


def test_violated_since_the_first_week_of_the_current_run():
    audit = compose_audit(fraud_like(), crafted_series(), week_end=WEEK_END)
    line = next(b for b in audit.bounds if b.metric == "premium_false_positive_rate")
    assert line.status == "violated"
    assert line.since == WEEK_END - 2 * WEEK
    assert line.weeks_violated == 3
    assert line.cost == pytest.approx(8100)
    assert "about 540 legitimate customers blocked" in line.cost_text
    assert line.bound_text == "≤ 0.02"


def test_near_and_ok_bounds():
    series = crafted_series()
    series["latency_p95"] = weeks([100, 112], n=5000)  # within 10% of 120
    series["premium_false_positive_rate"] = weeks([0.01], n=23500, stats=[fpr_histogram(225, 22500)])
    audit = compose_audit(fraud_like(), series, week_end=WEEK_END)
    statuses = {b.metric: b.status for b in audit.bounds}
    assert statuses == {"premium_false_positive_rate": "ok", "latency_p95": "near"}
    assert audit.headline == "North star flat; 1 efficiency bar close to its bound"
    # WEEK_END is eight weeks after launch: the review is the only decision.
    assert audit.decision == "Decision needed: answer the metric review below"
    ok = next(b for b in audit.bounds if b.status == "ok")
    assert ok.since is None and ok.cost is None


def test_guardrail_status_comes_through_the_evaluator_seam():
    calls = []

    def always_violated(contract, metric, observation, **kwargs):
        calls.append(metric.name)
        finding = Finding(metric=metric.name, check="bound", status="violated", severity="critical", reason="forced", high=1.0, unit=metric.unit)
        return Evaluation(metric=metric.name, findings=(finding,))

    audit = compose_audit(fraud_like(), crafted_series(), week_end=WEEK_END, evaluate=always_violated)
    assert {b.status for b in audit.bounds} == {"violated"}
    assert "latency_p95" in calls


# --- north star ---------------------------------------------------------------------------------


def test_north_star_change_beyond_noise_with_two_proportion_test():
    series = crafted_series()
    series["approval_rate"] = weeks([0.30, 0.33], n=20000)
    north = compose_audit(fraud_like(), series, week_end=WEEK_END).north_star
    assert north.significant is True
    assert north.change == pytest.approx(0.1)
    assert north.trend_word == "up 10.0%"
    assert north.noise_text.startswith("beyond noise")


def test_north_star_small_change_is_within_noise():
    series = crafted_series()
    series["approval_rate"] = weeks([0.30, 0.31], n=500)
    north = compose_audit(fraud_like(), series, week_end=WEEK_END).north_star
    assert north.significant is False
    assert north.trend_word == "flat"
    assert north.noise_text.startswith("within noise")


def test_north_star_without_n_has_no_interval():
    series = crafted_series()
    series["approval_rate"] = weeks([120.0, 150.0])
    north = compose_audit(fraud_like(), series, week_end=WEEK_END).north_star
    assert north.significant is None
    assert north.noise_text == "no interval available"
    assert north.trend_word == "up 25.0%"


def test_launch_baseline_from_baseline_windows_then_launch_value_then_first_weeks():
    series = crafted_series()
    # First weeks after launch: the two weeks ending after LAUNCH among the series.
    series["approval_rate"] = weeks([0.20, 0.22, 0.24, 0.30], n=1000, end=LAUNCH + 3 * WEEK)
    series["approval_rate"].append(WeeklyPoint(WEEK_END, 0.3, 1000))
    north = compose_audit(fraud_like(), series, week_end=WEEK_END).north_star
    assert north.launch_baseline == pytest.approx((0.22 + 0.24) / 2)
    with_windows = fraud_like(baselines={"launch": {"start": "2026-08-01", "end": "2026-08-29"}, "summer": {"start": "2026-07-01", "end": "2026-07-29"}})
    points = {"approval_rate": {"launch": WeeklyPoint(date(2026, 8, 29), 0.25), "summer": WeeklyPoint(date(2026, 7, 29), 0.27)}}
    north = compose_audit(with_windows, series, week_end=WEEK_END, baseline_points=points).north_star
    assert north.launch_baseline == pytest.approx(0.26)


# --- model health ------------------------------------------------------------------------------


def test_drift_band_from_reference_counts_and_from_the_value():
    data = fraud_like().model_dump(mode="json")
    data["metrics"].append(metric("score_drift", layer="model", direction="decrease", kind="distribution", distribution={"edges": [0, 0.5, 1]}))
    data["metrics"].append(metric("feature_drift", layer="model", direction="decrease", kind="distribution", distribution={"edges": [0, 0.5, 1]}))
    contract = Contract.model_validate(data)
    series = crafted_series()
    series["score_drift"] = [WeeklyPoint(WEEK_END, None, 20000, {"counts": [3000, 17000], "reference_counts": [10000, 10000]})]
    series["feature_drift"] = weeks([0.15], n=5000)
    audit = compose_audit(contract, series, week_end=WEEK_END)
    drift = {h.metric: h for h in audit.health if h.check == "drift"}
    assert drift["score_drift"].details["band"] == "significant"  # PSI ≈ 0.61
    assert drift["score_drift"].status == "violated"
    assert drift["feature_drift"].details["band"] == "moderate"
    assert "PSI 0.15" in drift["feature_drift"].text


def test_staleness_past_the_drop_is_a_retraining_trigger():
    data = fraud_like().model_dump(mode="json")
    data["metrics"].append(metric("auc", layer="model", direction="increase", launch_baseline=0.90))
    contract = Contract.model_validate(data)
    series = crafted_series()
    series["auc"] = weeks([0.89, 0.84], n=5000)  # 6.7% below launch, trigger at 5%
    audit = compose_audit(contract, series, week_end=WEEK_END)
    stale = next(h for h in audit.health if h.check == "staleness")
    assert stale.status == "violated"
    assert "retraining trigger" in stale.text
    assert "retraining trigger on auc" in audit.headline
    series["auc"] = weeks([0.89, 0.89], n=5000)
    assert next(h for h in compose_audit(contract, series, week_end=WEEK_END).health if h.check == "staleness").status == "ok"


def test_silent_failure_when_volume_collapses():
    series = crafted_series()
    series["latency_p95"] = weeks([90, 91, 92, 93, 94], n=lambda i: 5000 if i < 4 else 400)
    audit = compose_audit(fraud_like(), series, week_end=WEEK_END)
    silent = [h for h in audit.health if h.check == "silent_failure"]
    assert [h.metric for h in silent] == ["latency_p95"]
    assert "trailing average of 5,000" in silent[0].text


def test_fairness_sentence_names_the_segments():
    data = fraud_like().model_dump(mode="json")
    data["metrics"].append(
        metric(
            "fpr_by_language", label="false positives by language", role="guardrail", direction="decrease",
            kind="classification", unit="%", sql=SCORES_SQL.replace("label", "label, lang AS segment"), bound={"max": 0.5},
            classification={"statistic": "false_positive_rate", "threshold": 0.5, "bins": 2, "segment_column": "segment", "max_disparity": 2.0},
        )
    )
    contract = Contract.model_validate(data)
    histogram = ScoreHistogram.from_counts(
        [0.0, 0.5, 1.0], pos=[[10, 90], [10, 90]], neg=[[955, 45], [985, 15]], segments=["arabic", "english"]
    )
    series = crafted_series()
    series["fpr_by_language"] = [WeeklyPoint(WEEK_END, 0.03, histogram.n, histogram.to_dict())]
    audit = compose_audit(contract, series, week_end=WEEK_END)
    fairness = next(h for h in audit.health if h.check == "fairness")
    assert fairness.text == (
        "false positives by language is 3.0× higher for arabic (4.5%) than for english (1.5%), beyond the 2× disparity bound"
    )
    assert fairness.status == "violated"


# --- hygiene -------------------------------------------------------------------------------------


def test_touchpoint_due_in_the_week_it_falls():
    contract = fraud_like(validation_touchpoints=[{"after_weeks": 2, "check": "adoption check"}, {"after_weeks": 6, "check": "conversion check"}])
    due = compose_audit(contract, crafted_series(), week_end=LAUNCH + 2 * WEEK).hygiene.touchpoints_due
    assert due == ("adoption check (check due at 2 weeks)",)
    # Launch on a Monday, audit on a Sunday: the touchpoint still falls inside that audit's week.
    assert compose_audit(contract, crafted_series(), week_end=LAUNCH + 2 * WEEK + timedelta(days=3)).hygiene.touchpoints_due == due
    assert compose_audit(contract, crafted_series(), week_end=LAUNCH + 3 * WEEK).hygiene.touchpoints_due == ()


@pytest.mark.parametrize("weeks_after", range(1, 25))
def test_review_question_every_eight_weeks_and_not_otherwise(weeks_after):
    audit = compose_audit(fraud_like(), crafted_series(), week_end=LAUNCH + weeks_after * WEEK)
    assert audit.hygiene.review_due is (weeks_after % 8 == 0)
    assert ("answer the metric review" in (audit.decision or "")) is (weeks_after % 8 == 0)


def test_review_cadence_follows_the_contract():
    contract = fraud_like(review_every_weeks=4)
    assert compose_audit(contract, crafted_series(), week_end=LAUNCH + 4 * WEEK).hygiene.review_due
    assert not compose_audit(fraud_like(review_every_weeks=None), crafted_series(), week_end=WEEK_END).hygiene.review_due
    assert REVIEW_QUESTION == "If we were building this today, would we measure the same thing?"


def test_hygiene_counts_core_metrics_lint_unsigned_and_problems():
    contract = fraud_like(signers={})
    audit = compose_audit(contract, crafted_series(), week_end=WEEK_END, unsigned_versions=[2, 3], problems=["latency_p95: a pull failed"])
    h = audit.hygiene
    assert h.core_metrics == 3
    assert h.unsigned_versions == (2, 3)
    assert h.problems == ("latency_p95: a pull failed",)
    assert any("signers" in line for line in h.lint)


def test_paused_contract_says_so():
    until = datetime(2026, 12, 1, tzinfo=UTC)
    audit = compose_audit(fraud_like(), crafted_series(), week_end=WEEK_END, paused_until=until, now=datetime(2026, 11, 16, 9, tzinfo=UTC))
    assert audit.paused_note.startswith("Paused until 2026-12-01")
    over = compose_audit(fraud_like(), crafted_series(), week_end=WEEK_END, paused_until=until, now=until + WEEK)
    assert over.paused_note is None


def test_missing_week_has_no_value_and_no_judgement():
    series = {"approval_rate": weeks([0.3], end=WEEK_END - WEEK, n=1000)}
    audit = compose_audit(fraud_like(), series, week_end=WEEK_END)
    assert audit.north_star.trend_word == "has no value this week"
    assert {b.status for b in audit.bounds} == {"insufficient_data"}


# --- pooling --------------------------------------------------------------------------------------


def test_pooling_days_recomputes_rates_over_all_rows():
    contract = fraud_like()
    guard = contract.metric("premium_false_positive_rate")
    days = [WeeklyPoint(WEEK_END, 0.01, 1100, fpr_histogram(10, 1000, tp=90, positives=100)),
            WeeklyPoint(WEEK_END, 0.05, 3100, fpr_histogram(150, 3000, tp=90, positives=100))]
    week = pool_points(guard, WEEK_END, days)
    assert week.value == pytest.approx(160 / 4000)
    assert week.sample_size == 4200
    value_metric = contract.metric("latency_p95")
    pooled = pool_points(value_metric, WEEK_END, [WeeklyPoint(WEEK_END, 100, 1), WeeklyPoint(WEEK_END, 200, 3)])
    assert pooled.value == pytest.approx(175)
    assert np.isclose(pooled.sample_size, 4)

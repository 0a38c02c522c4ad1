"""Guardrail evaluation: noise controls, the Wilson interval, health checks and business words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from scipy import stats as scipy_stats

from metrics.classification import ScoreHistogram
from metrics.contract import Contract, parse_contract
from metrics.evaluation import Observation, evaluate_metric, pipeline_finding, wilson_interval

ROOT = Path(__file__).resolve().parents[2]
DAY = datetime(2026, 11, 16, tzinfo=UTC)
EDGES = [i / 100 for i in range(101)]


@pytest.fixture(scope="module")
def fraud() -> Contract:
    return parse_contract((ROOT / "examples/contracts/fraud-screening.yml").read_text())


def fpr_stats(*, false_positives: int, negatives: int, positives: int = 30, segments: dict | None = None) -> dict:
    """Histogram stats with ``false_positives`` of ``negatives`` scoring above the 0.7 threshold."""
    segments = segments or {"all": (false_positives, negatives, positives)}
    pos, neg = [], []
    for fp, n_neg, n_pos in segments.values():
        neg_row, pos_row = [0] * 100, [0] * 100
        neg_row[10], neg_row[80] = n_neg - fp, fp
        pos_row[90] = n_pos
        neg.append(neg_row)
        pos.append(pos_row)
    data = ScoreHistogram.from_counts(EDGES, pos, neg, list(segments)).to_dict()
    data.update(threshold=0.7, statistic="false_positive_rate", dropped_rows=0)
    return data


def day(value, n, stats=None, start=DAY) -> Observation:
    return Observation(value=value, sample_size=n, stats=stats, window_start=start, window_end=start + timedelta(days=1))


def test_wilson_interval_matches_the_closed_form_and_stays_in_the_unit_interval():
    low, high = wilson_interval(0, 50)
    assert low == 0.0 and 0 < high < 0.08
    # Against statsmodels' implementation of the same interval.
    from statsmodels.stats.proportion import proportion_confint

    expected = proportion_confint(24, 1000, alpha=0.05, method="wilson")
    assert wilson_interval(24, 1000) == pytest.approx(expected, rel=1e-9)
    assert scipy_stats.norm.ppf(0.975) == pytest.approx(1.959963984540054)


def test_a_small_window_is_never_judged(fraud):
    metric = fraud.metric("premium_false_positive_rate")
    stats = fpr_stats(false_positives=20, negatives=100)  # 20% against a 2% bound, on 130 rows
    finding = evaluate_metric(fraud, metric, day(0.2, 130, stats)).finding("bound")
    assert finding.status == "insufficient_data"
    assert "fewer than the 200 needed" in finding.reason
    assert not finding.breached and not finding.judged


def test_metric_min_sample_size_overrides_the_contract_noise_floor(fraud):
    metric = fraud.metric("premium_false_positive_rate").model_copy(update={"min_sample_size": 100})
    stats = fpr_stats(false_positives=20, negatives=100)
    assert evaluate_metric(fraud, metric, day(0.2, 130, stats)).finding("bound").status == "violated"


def test_point_estimate_beyond_the_bound_is_at_risk_until_the_interval_clears_it(fraud):
    metric = fraud.metric("premium_false_positive_rate")
    # 2.4% of 3,214: the 95% interval (1.9%–3.0%) still reaches below 2%.
    risky = evaluate_metric(fraud, metric, day(77 / 3214, 3244, fpr_stats(false_positives=77, negatives=3214))).finding("bound")
    assert risky.status == "at_risk"
    assert risky.interval[0] < 0.02 < risky.value
    # 2.4% of 32,140: the whole interval is above 2%.
    sure = evaluate_metric(fraud, metric, day(770 / 32140, 32170, fpr_stats(false_positives=770, negatives=32140))).finding("bound")
    assert sure.status == "violated" and sure.severity == "critical"
    assert sure.interval[0] > 0.02
    assert sure.high == 0.02 and sure.low is None


def test_violation_reason_speaks_in_the_contracts_words_and_money(fraud):
    metric = fraud.metric("premium_false_positive_rate")
    # A day with 3,214 legitimate premium transactions, 2.4% blocked: 77 a day, 539 a week, $15 each.
    stats = fpr_stats(false_positives=77, negatives=3214)
    finding = evaluate_metric(fraud, metric.model_copy(update={"min_sample_size": 0}), day(77 / 3214, 3244, stats)).finding("bound")
    assert finding.reason.startswith("premium-customer false positives 2.4% against a 2% bound")
    assert "about 539 legitimate customers blocked a week, ≈ $8,085 of manual review" in finding.reason


def test_within_ten_percent_of_the_bound_is_near_and_further_is_ok(fraud):
    metric = fraud.metric("scoring_latency_p95")  # max 120 ms
    assert evaluate_metric(fraud, metric, day(115.0, 5000)).finding("bound").status == "near"
    assert evaluate_metric(fraud, metric, day(90.0, 5000)).finding("bound").status == "ok"
    over = evaluate_metric(fraud, metric, day(134.0, 5000)).finding("bound")
    # Latency has no binomial denominator: the point estimate decides.
    assert over.status == "violated" and over.severity == "warning"
    assert over.reason == "scoring latency p95 134 ms against a 120 ms bound"


def test_ratio_bound_resolves_numeric_and_named_baselines(fraud):
    numeric = fraud.metric("false_positive_rate_by_region")  # ≤ 1.5 × 0.012
    finding = evaluate_metric(fraud, numeric, day(0.03, 50_000, fpr_stats(false_positives=1500, negatives=50_000))).finding("bound")
    assert finding.baseline == 0.012 and finding.high == pytest.approx(0.018)
    assert finding.status == "violated"
    assert "(1.5× the 1.2% baseline)" in finding.reason

    named = numeric.model_copy(update={"bound": numeric.bound.model_copy(update={"baseline": "launch"})})
    obs = day(0.03, 50_000, fpr_stats(false_positives=1500, negatives=50_000))
    assert evaluate_metric(fraud, named, obs).finding("bound").status == "insufficient_data"
    resolved = evaluate_metric(fraud, named, obs, baseline_value=0.025).finding("bound")
    assert resolved.high == pytest.approx(0.0375) and resolved.status == "ok"


def test_drift_is_significant_only_when_psi_band_and_chi_square_agree(fraud):
    metric = fraud.metric("score_drift")
    reference = [1000] * 10
    shifted = [300, 300, 300, 300, 300, 2500, 2500, 2000, 1000, 500]
    big = evaluate_metric(fraud, metric, day(None, sum(shifted), {"counts": shifted}), reference_counts=reference).finding("drift")
    assert big.status == "violated"
    assert "significant shift" in big.reason and "launch window" in big.reason
    # The same shape on a few hundred rows: PSI is large, the test cannot tell it from noise.
    few = [0, 0, 1, 1, 1, 2, 2, 2, 3, 3]
    small_metric = metric.model_copy(update={"min_sample_size": 0})
    small = evaluate_metric(fraud, small_metric, day(None, sum(few), {"counts": few}), reference_counts=[5] * 10).finding("drift")
    assert small.details["band"] == "significant" and small.status == "at_risk"
    same = evaluate_metric(fraud, metric, day(None, 10_000, {"counts": reference}), reference_counts=reference).finding("drift")
    assert same.status == "ok" and same.value == pytest.approx(0.0)


def test_staleness_flags_a_model_metric_fallen_past_the_retraining_trigger(fraud):
    metric = fraud.metric("fraud_recall")  # launch baseline 0.82, trigger 5% relative
    stale = evaluate_metric(fraud, metric, day(0.74, 20_000)).finding("staleness")
    assert stale.status == "violated"
    assert "9.8% below its launch baseline of 82%" in stale.reason and "retrain" in stale.reason
    assert evaluate_metric(fraud, metric, day(0.80, 20_000)).finding("staleness").status == "ok"
    assert evaluate_metric(fraud, fraud.metric("premium_false_positive_rate"), day(0.01, 20_000)).finding("staleness") is None


def test_silent_failure_when_volume_collapses_below_the_trailing_average(fraud):
    metric = fraud.metric("scoring_latency_p95")
    history = [day(80.0, n, start=DAY - timedelta(days=i + 1)) for i, n in enumerate([21_000, 22_000, 20_000, 21_000])]
    dropped = evaluate_metric(fraud, metric, day(80.0, 6_000), history=history).finding("silent_failure")
    assert dropped.status == "violated" and dropped.severity == "critical"
    assert dropped.baseline == pytest.approx(21_000) and dropped.low == pytest.approx(10_500)
    assert "failing silently" in dropped.reason
    assert evaluate_metric(fraud, metric, day(80.0, 19_000), history=history).finding("silent_failure").status == "ok"
    # Too little history to average: no verdict at all. A month-long window is not comparable.
    month = Observation(80.0, 600_000, None, DAY - timedelta(days=40), DAY - timedelta(days=10))
    assert evaluate_metric(fraud, metric, day(80.0, 6_000), history=[month, *history[:2]]).finding("silent_failure") is None


def test_completeness_from_rows_dropped_for_missing_inputs(fraud):
    metric = fraud.metric("premium_false_positive_rate")
    stats = fpr_stats(false_positives=20, negatives=5000)
    stats["dropped_rows"] = 50
    finding = evaluate_metric(fraud, metric, day(0.004, 5030, stats)).finding("completeness")
    assert finding.status == "violated"
    assert finding.value == pytest.approx(5030 / 5080)
    stats["dropped_rows"] = 0
    assert evaluate_metric(fraud, metric, day(0.004, 5030, stats)).finding("completeness").status == "ok"


def test_fairness_names_the_segments_beyond_the_disparity_bound(fraud):
    metric = fraud.metric("false_positive_rate_by_region")  # max_disparity 2.0
    stats = fpr_stats(
        false_positives=0, negatives=0,
        segments={"north": (30, 3000, 10), "south": (33, 3000, 10), "west": (99, 3000, 10), "tiny": (5, 20, 1)},
    )
    finding = evaluate_metric(fraud, metric, day(0.018, 9061, stats)).finding("fairness")
    assert finding.status == "violated"
    assert finding.details["highest"] == "west" and finding.details["lowest"] == "north"
    assert finding.value == pytest.approx(3.3)
    assert "3.3× higher for west (3.3%) than for north (1.0%)" in finding.reason
    assert "tiny" in finding.reason  # excluded for too few rows, and said so
    even = fpr_stats(false_positives=0, negatives=0, segments={"north": (30, 3000, 10), "south": (45, 3000, 10)})
    assert evaluate_metric(fraud, metric, day(0.012, 6020, even)).finding("fairness").status == "ok"


def test_pipeline_failure_breaches_after_repeated_transient_failures_or_one_permanent(fraud):
    metric = fraud.metric("fraud_recall")
    assert pipeline_finding(metric, failures=0, error=None).status == "ok"
    assert pipeline_finding(metric, failures=2, error="timeout").status == "at_risk"
    third = pipeline_finding(metric, failures=3, error="timeout")
    assert third.breached and third.key == "fraud_recall:pipeline" and "3 failed attempts" in third.reason
    assert pipeline_finding(metric, failures=1, error="no column score", permanent=True).breached


def test_no_value_is_insufficient_data_not_a_breach(fraud):
    metric = fraud.metric("premium_false_positive_rate")
    evaluation = evaluate_metric(fraud, metric, day(None, 5000, {"value_error": "no negatives"}))
    assert evaluation.finding("bound").status == "insufficient_data"
    assert "no negatives" in evaluation.finding("bound").reason
    assert evaluation.breaches == ()

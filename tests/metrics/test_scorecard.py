"""The launch scorecard: numbers against SciPy/statsmodels, verdicts, recommendation, flags."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from metrics.contract import Contract
from metrics.errors import MetricInputError
from metrics.experiment import MeanArm, ProportionArm
from metrics.scorecard import Scorecard, arms_from_stats, build_scorecard, format_value
from tests.metrics.contract_factory import SQL, contract_data, metric

EXPERIMENT_SQL = "SELECT variant, value FROM e WHERE ts >= :window_start AND ts < :window_end"


def make_contract(*, sequential: bool = False, mde: float | None = None, split=(0.5, 0.5), guardrail_bound=None,
                  with_model_metric: bool = False, with_star: bool = True) -> Contract:
    data = contract_data()
    if guardrail_bound is not None:
        data["metrics"][1]["bound"] = guardrail_bound
    data["metrics"].append(metric("slot_accuracy", layer="model", role="secondary", direction="increase"))
    data["metrics"].append(metric("session_length", layer="product", role="diagnostic", direction="increase", sql=SQL))
    experiment_metrics = {
        "slot_change_rate": {"type": "proportion", "sql": EXPERIMENT_SQL},
        "suggest_latency_p95": {"type": "mean", "sql": EXPERIMENT_SQL},
    }
    if with_star:
        experiment_metrics["checkout_completion"] = {"type": "proportion", "sql": EXPERIMENT_SQL}
    if with_model_metric:
        experiment_metrics["slot_accuracy"] = {"type": "proportion", "sql": EXPERIMENT_SQL}
    experiment = {"name": "slots-v2", "control": "control", "treatment": "v2", "planned_split": list(split),
                  "sequential": sequential, "metrics": experiment_metrics}
    if mde is not None:
        experiment["minimum_detectable_effect"] = mde
    data["experiments"] = [experiment]
    return Contract.model_validate(data)


def latency(mean_c: float = 150.0, mean_t: float = 150.0, n: int = 10_000, sd: float = 20.0) -> tuple[MeanArm, MeanArm]:
    def arm(mean: float) -> MeanArm:
        return MeanArm(n=n, sum=n * mean, sum_sq=n * (mean**2) + (n - 1) * sd**2)

    return arm(mean_c), arm(mean_t)


def arms(*, star=(1000, 10_000, 1150, 10_000), guard=(2000, 10_000, 2000, 10_000), lat=None, model=None):
    out = {
        "checkout_completion": (ProportionArm(star[0], star[1]), ProportionArm(star[2], star[3])),
        "slot_change_rate": (ProportionArm(guard[0], guard[1]), ProportionArm(guard[2], guard[3])),
        "suggest_latency_p95": lat or latency(),
    }
    if model is not None:
        out["slot_accuracy"] = (ProportionArm(model[0], model[1]), ProportionArm(model[2], model[3]))
    return out


# --- numbers against the references ----------------------------------------------------------


def test_proportion_lift_ci_and_p_match_statsmodels():
    card = build_scorecard(make_contract(), None, arms(star=(1000, 10_000, 1080, 9_800)))
    r = card.metric("checkout_completion")
    _, p = proportions_ztest([1080, 1000], [9_800, 10_000])
    low, high = confint_proportions_2indep(1080, 9_800, 1000, 10_000, method="wald", compare="diff")
    assert r.control_value == pytest.approx(0.1)
    assert r.treatment_value == pytest.approx(1080 / 9_800)
    assert r.absolute_lift == pytest.approx(1080 / 9_800 - 0.1)
    assert r.p_value == pytest.approx(p, rel=1e-9)
    assert r.abs_ci == pytest.approx((low, high), rel=1e-9)
    assert r.relative_lift == pytest.approx((1080 / 9_800) / 0.1 - 1)
    assert r.rel_ci[0] < r.relative_lift < r.rel_ci[1]
    assert r.always_valid_p is None and r.cs is None


def test_mean_lift_ci_and_p_match_scipy_welch():
    rng = np.random.default_rng(3)
    control, treatment = rng.normal(150, 20, 800), rng.normal(147, 25, 900)
    pair = (MeanArm.from_values(control), MeanArm.from_values(treatment))
    card = build_scorecard(make_contract(), None, {**arms(), "suggest_latency_p95": pair})
    r = card.metric("suggest_latency_p95")
    reference = stats.ttest_ind(treatment, control, equal_var=False)
    ci = reference.confidence_interval(0.95)
    assert r.absolute_lift == pytest.approx(treatment.mean() - control.mean())
    assert r.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert r.abs_ci == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_sequential_experiment_reports_always_valid_p_and_judges_by_it():
    # Significant at the fixed horizon (p ≈ 0.01) but not always-valid: peeking must not ship it.
    card = build_scorecard(make_contract(sequential=True), None, arms(star=(1000, 10_000, 1110, 10_000)))
    r = card.metric("checkout_completion")
    assert r.p_value < 0.05
    assert r.always_valid_p is not None and r.always_valid_p >= r.p_value
    assert r.always_valid_p > 0.05
    assert r.cs[0] < 0 < r.cs[1]
    assert r.verdict == "flat"
    assert card.recommendation == "hold"


# --- verdicts and recommendations ----------------------------------------------------------------


def test_ship_when_north_star_wins_and_every_bar_holds():
    card = build_scorecard(make_contract(), None, arms())
    assert [card.metric(n).verdict for n in ("checkout_completion", "slot_change_rate", "suggest_latency_p95")] == [
        "win", "holds", "holds"]
    assert card.score == pytest.approx(1.0)
    assert card.recommendation == "ship"
    assert card.summary.startswith("Checkout completion +15% (CI +")
    assert card.summary.endswith("ship.")


def test_hold_when_north_star_is_flat():
    card = build_scorecard(make_contract(), None, arms(star=(1000, 10_000, 1010, 10_000)))
    r = card.metric("checkout_completion")
    assert r.abs_ci[0] < 0 < r.abs_ci[1]
    assert r.verdict == "flat" and r.points == 0
    assert card.recommendation == "hold"
    assert "no detectable change in the north star" in card.summary


def test_loss_counts_against_the_score_in_the_metrics_direction():
    # A secondary that got worse costs its weight even when nothing else moved.
    card = build_scorecard(make_contract(with_model_metric=True), None,
                           arms(star=(1000, 10_000, 1010, 10_000), model=(5000, 10_000, 4700, 10_000)))
    model = card.metric("slot_accuracy")
    assert model.verdict == "loss" and model.points == pytest.approx(-0.5)
    assert card.score == pytest.approx(-0.5)


def test_block_when_a_guardrail_breaks_its_bound_whatever_the_score():
    card = build_scorecard(make_contract(), None, arms(guard=(2900, 10_000, 3400, 10_000)))
    guard = card.metric("slot_change_rate")
    assert card.metric("checkout_completion").verdict == "win"
    assert guard.verdict == "violated"
    assert guard.violation == "34% against a 30% bound"
    assert card.score == pytest.approx(1.0 - 2.0)
    assert card.recommendation == "block"
    assert card.summary.startswith("Checkout completion +15% (CI +")
    assert card.summary.endswith("slot change rate 34% against a 30% bound: blocked.")


def test_significant_harm_below_the_bound_still_violates_by_default():
    card = build_scorecard(make_contract(), None, arms(guard=(2000, 10_000, 2200, 10_000)))
    guard = card.metric("slot_change_rate")
    assert guard.treatment_value < 0.3
    assert guard.verdict == "violated"
    assert guard.violation.startswith("significantly worse")
    assert card.recommendation == "block"


def test_efficiency_bar_mean_harm_violates():
    card = build_scorecard(make_contract(), None, arms(lat=latency(150, 153)))
    assert card.metric("suggest_latency_p95").verdict == "violated"
    assert card.recommendation == "block"


def test_non_inferiority_holds_only_when_the_interval_excludes_a_loss_beyond_the_margin():
    bound = {"max": 0.3, "judged_by": "non_inferiority", "margin": 0.02}
    # +1 point of slot changes, CI roughly +0.0…+0.02: worse, but not by more than 2 points.
    within = build_scorecard(make_contract(guardrail_bound=bound), None, arms(guard=(2000, 10_000, 2080, 10_000)))
    assert within.metric("slot_change_rate").abs_ci[1] < 0.02
    assert within.metric("slot_change_rate").verdict == "holds"
    assert within.recommendation == "ship"
    # Same point estimate with a quarter of the data: the CI now reaches past the margin.
    unsure = build_scorecard(make_contract(guardrail_bound=bound), None,
                             {**arms(), "slot_change_rate": (ProportionArm(500, 2_500), ProportionArm(520, 2_500))})
    guard = unsure.metric("slot_change_rate")
    assert guard.abs_ci[1] > 0.02
    assert guard.verdict == "violated"
    assert "non-inferiority margin" in guard.violation
    assert unsure.recommendation == "block"


def test_sample_ratio_mismatch_holds_a_winning_experiment():
    card = build_scorecard(make_contract(), None, arms(star=(1000, 10_000, 1200, 10_600), guard=(2000, 10_000, 2120, 10_600),
                                                       lat=latency(n=5_000)))
    expected = stats.chisquare([10_000, 10_600]).pvalue
    assert card.srm_p_value == pytest.approx(expected)
    assert card.srm_mismatch
    assert card.metric("checkout_completion").verdict == "win"
    assert card.recommendation == "hold"
    assert "sample ratio mismatch" in card.summary.lower()
    assert any(f.startswith("Sample ratio mismatch") for f in card.flags)


def test_planned_uneven_split_is_not_a_mismatch():
    card = build_scorecard(make_contract(split=(0.9, 0.1)), None,
                           arms(star=(9000, 90_000, 1150, 10_000), guard=(18_000, 90_000, 2000, 10_000)))
    assert not card.srm_mismatch
    assert card.recommendation == "ship"


def test_flag_when_the_sample_cannot_see_the_planned_effect():
    small = build_scorecard(make_contract(mde=0.05), None, arms(star=(100, 1_000, 104, 1_000)))
    r = small.metric("checkout_completion")
    assert r.detectable_relative_effect > 0.05
    assert any(f.startswith("Too little data for checkout completion") for f in small.flags)
    big = build_scorecard(make_contract(mde=0.05), None, arms(star=(10_000, 100_000, 10_100, 100_000)))
    assert big.metric("checkout_completion").detectable_relative_effect < 0.05
    assert not any(f.startswith("Too little data") for f in big.flags)


def test_flag_when_the_model_improves_but_the_product_does_not():
    card = build_scorecard(make_contract(with_model_metric=True), None,
                           arms(star=(1000, 10_000, 1010, 10_000), model=(5000, 10_000, 5400, 10_000)))
    assert card.metric("slot_accuracy").verdict == "win"
    assert card.metric("checkout_completion").verdict == "flat"
    assert any(f.startswith("The model improved, the product did not") for f in card.flags)
    assert card.recommendation == "hold"  # positive score, but no north-star win
    assert card.score == pytest.approx(0.5)


def test_no_model_flag_when_the_outcome_moves_too():
    card = build_scorecard(make_contract(with_model_metric=True), None, arms(model=(5000, 10_000, 5400, 10_000)))
    assert not any("model improved" in f for f in card.flags)
    assert card.recommendation == "ship"


def test_missing_guardrail_data_holds():
    data = arms()
    del data["slot_change_rate"]
    card = build_scorecard(make_contract(), None, data)
    assert card.metric("slot_change_rate").verdict == "missing"
    assert card.recommendation == "hold"


def test_unknown_experiment_is_named():
    with pytest.raises(MetricInputError, match="no experiment 'nope'.*slots-v2"):
        build_scorecard(make_contract(), "nope", arms())


# --- serialisation and inputs -----------------------------------------------------------------


def test_scorecard_round_trips_through_strict_json():
    card = build_scorecard(make_contract(sequential=True, mde=0.05, with_model_metric=True), "slots-v2",
                           arms(model=(0, 1000, 0, 1000)), values={"checkout_completion": 0.1, "slot_accuracy": 0.5})
    text = json.dumps(card.to_dict(), allow_nan=False)
    again = Scorecard.from_dict(json.loads(text))
    assert again == card
    # slot_accuracy has no variation at all: undefined numbers become None, noted, never NaN.
    model = card.metric("slot_accuracy")
    assert model.relative_lift is None and model.note


def test_context_values_are_shown_only_for_metrics_outside_the_experiment():
    contract = make_contract()
    card = build_scorecard(contract, None, arms(), values={"slot_accuracy": 0.71, "checkout_completion": 0.2})
    assert [c["name"] for c in card.context] == ["slot_accuracy"]


def test_arms_from_push_down_stats():
    control, treatment = arms_from_stats(
        {"type": "mean", "control": "control", "treatment": "v2",
         "variants": {"control": {"n": 3, "sum": 6.0, "sum_sq": 14.0}, "v2": {"n": 2, "sum": 2.0, "sum_sq": 2.0}}},
        control="control", treatment="v2")
    assert control.mean == 2.0 and treatment.mean == 1.0
    with pytest.raises(MetricInputError, match="no arm 'v2'"):
        arms_from_stats({"type": "proportion", "variants": {"control": {"successes": 1, "trials": 2}}}, control="control", treatment="v2")
    with pytest.raises(MetricInputError, match="'proportion' or 'mean'"):
        arms_from_stats({"type": "ratio", "variants": {}}, control="control", treatment="v2")


@pytest.mark.parametrize(("value", "unit", "kind", "expected"), [
    (0.034, "%", "proportion", "3.4%"),
    (0.02, "%", None, "2%"),
    (0.25, "", "proportion", "25%"),
    (118.0, "ms", "mean", "118ms"),
    (4.5, "$", "mean", "$4.5"),
])
def test_format_value(value, unit, kind, expected):
    contract = make_contract()
    m = contract.metric("checkout_completion").model_copy(update={"unit": unit})
    assert format_value(value, m, kind) == expected

"""Each lint rule: a contract that triggers it, and the same contract fixed, which does not."""

import pytest

from metrics.contract import Contract
from metrics.lint import Severity, lint_contract
from storage.warehouse.guard import check_read_only_sql
from tests.metrics.contract_factory import SCORES_SQL, contract_data, metric


def lint(data, **kwargs):
    return lint_contract(Contract.model_validate(data), **kwargs)


def rules(report):
    return {f.rule for f in report.findings}


def test_base_contract_is_clean():
    report = lint(contract_data(), sql_checker=lambda sql: check_read_only_sql(sql).problems)
    assert report.findings == ()
    assert report.ok


def test_no_north_star_is_an_error():
    data = contract_data()
    data["metrics"][0]["role"] = "secondary"
    report = lint(data)
    finding = next(f for f in report.findings if f.rule == "north-star-count")
    assert finding.severity is Severity.ERROR and "exactly one" in finding.message
    assert not report.ok


def test_two_north_stars_are_an_error_naming_both():
    data = contract_data()
    data["metrics"].append(metric("basket_size", role="north_star", layer="business"))
    finding = next(f for f in lint(data).findings if f.rule == "north-star-count")
    assert "checkout_completion" in finding.message and "basket_size" in finding.message


def test_no_guardrail_is_an_error():
    data = contract_data()
    data["metrics"] = [m for m in data["metrics"] if m["role"] != "guardrail"]
    report = lint(data)
    assert "no-guardrail" in rules(report)
    assert not report.ok


@pytest.mark.parametrize("index", [1, 2], ids=["guardrail", "efficiency"])
def test_bounded_role_without_bound_is_an_error(index):
    data = contract_data()
    del data["metrics"][index]["bound"]
    finding = next(f for f in lint(data).findings if f.rule == "unbounded-guardrail")
    assert finding.subject == f"metrics.{data['metrics'][index]['name']}"
    assert finding.severity is Severity.ERROR


def test_more_than_five_core_metrics_warns():
    data = contract_data()
    data["metrics"] += [metric(f"extra_{i}", role="secondary") for i in range(2)]
    assert "too-many-core-metrics" not in rules(lint(data))
    data["metrics"].append(metric("extra_2", role="secondary"))
    finding = next(f for f in lint(data).findings if f.rule == "too-many-core-metrics")
    assert finding.severity is Severity.WARNING and "6 core metrics" in finding.message


def test_model_layer_north_star_warns():
    data = contract_data()
    data["metrics"][0]["layer"] = "model"
    finding = next(f for f in lint(data).findings if f.rule == "model-layer-north-star")
    assert "not product performance" in finding.message


def test_accuracy_with_rare_positives_warns_with_arithmetic():
    data = contract_data()
    data["business"]["prevalence"] = 0.001
    data["metrics"].append(
        metric("hit_rate", kind="classification", layer="model", sql=SCORES_SQL, classification={"statistic": "accuracy"})
    )
    finding = next(f for f in lint(data).findings if f.rule == "accuracy-on-rare-positives")
    assert "99.9% accurate" in finding.message and finding.subject == "metrics.hit_rate"
    data["business"]["prevalence"] = 0.4
    assert "accuracy-on-rare-positives" not in rules(lint(data))


def test_accuracy_without_known_prevalence_warns_with_the_classic_example():
    data = contract_data()
    data["metrics"].append(metric("model_accuracy", layer="model"))
    finding = next(f for f in lint(data).findings if f.rule == "accuracy-on-rare-positives")
    assert "1 in 1,000" in finding.message and "99.9% accurate" in finding.message


def test_engagement_proxy_north_star_needs_counter_metric():
    data = contract_data()
    data["metrics"][0] = metric("click_through_rate", role="north_star", layer="product")
    assert "engagement-proxy-ungamed" in rules(lint(data))
    data["metrics"].append(metric("suppression_rate", role="anti_gaming", direction="decrease"))
    assert "engagement-proxy-ungamed" not in rules(lint(data))


def test_no_efficiency_bar_warns():
    data = contract_data()
    data["metrics"] = [m for m in data["metrics"] if m["role"] != "efficiency"]
    assert "no-efficiency-bar" in rules(lint(data))


def test_signers_missing_or_incomplete_warn():
    assert "no-signers" in rules(lint(contract_data(signers={})))
    finding = next(f for f in lint(contract_data(signers={"pm": "U0PM"})).findings if f.rule == "missing-signer")
    assert "eng, ds" in finding.message


def test_review_cadence_and_retirement_warn():
    data = contract_data(review_every_weeks=None, retirement=None)
    assert {"no-review-cadence", "no-retirement-condition"} <= rules(lint(data))


def test_agent_without_counter_metric_warns():
    data = contract_data(autonomy="agent")
    assert "agent-without-counter-metric" in rules(lint(data))
    data["metrics"].append(metric("undo_rate", role="anti_gaming", direction="decrease"))
    assert "agent-without-counter-metric" not in rules(lint(data))


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1 AS value WHERE :window_start < :window_end; DROP TABLE t",
        "DELETE FROM t WHERE ts >= :window_start AND ts < :window_end",
        "WITH gone AS (DELETE FROM t WHERE ts >= :window_start AND ts < :window_end RETURNING 1) SELECT COUNT(*) AS value FROM gone",
        "SELECT nextval('s') AS value WHERE :window_start < :window_end",
    ],
)
def test_sql_that_is_not_a_single_read_only_select_is_an_error(sql):
    data = contract_data()
    data["metrics"][0]["sql"] = sql
    checker = lambda text: check_read_only_sql(text, dialect="postgres").problems  # noqa: E731
    report = lint(data, sql_checker=checker)
    finding = next(f for f in report.findings if f.rule == "sql-not-read-only")
    assert finding.subject == "metrics.checkout_completion" and finding.severity is Severity.ERROR
    assert "read-only" in finding.message


def test_string_containing_sql_keywords_is_not_flagged():
    data = contract_data()
    data["metrics"][0]["sql"] = "SELECT 'DROP TABLE t; DELETE' AS label, 1 AS value WHERE :window_start < :window_end"
    assert "sql-not-read-only" not in rules(lint(data, sql_checker=lambda s: check_read_only_sql(s).problems))


def test_disparity_bound_needs_segments():
    data = contract_data()
    data["metrics"][1].update(kind="classification", sql=SCORES_SQL, classification={"statistic": "false_positive_rate", "max_disparity": 2})
    assert "disparity-without-segments" in rules(lint(data))


def test_errors_sort_before_warnings():
    data = contract_data(signers={}, retirement=None)
    data["metrics"][0]["role"] = "secondary"
    severities = [f.severity for f in lint(data).findings]
    assert severities == sorted(severities, key=lambda s: {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}[s])
    assert severities[0] is Severity.ERROR


def test_every_finding_names_its_subject_and_teaches():
    data = contract_data(signers={}, retirement=None, review_every_weeks=None)
    for finding in lint(data).findings:
        assert finding.subject
        assert len(finding.message.split()) >= 8


def test_threshold_between_bin_edges_is_an_error():
    data = contract_data()
    data["metrics"].append(
        metric("hits", kind="classification", sql=SCORES_SQL, classification={"statistic": "recall", "threshold": 0.75, "bins": 10})
    )
    finding = next(f for f in lint(data).findings if f.rule == "threshold-between-bins")
    assert finding.subject == "metrics.hits" and "0.75" in finding.message
    data["metrics"][-1]["classification"]["bins"] = 100
    assert "threshold-between-bins" not in rules(lint(data))

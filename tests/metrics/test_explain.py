"""The business-term explainer: glossary coverage, forgiving lookup, and the money arithmetic."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from metrics.contract import Contract, parse_contract
from metrics.explain import (
    COMMON_TERMS,
    GLOSSARY,
    Explanation,
    Reading,
    explain,
    format_count,
    format_money,
    lookup,
)

FRAUD_YAML = Path(__file__).resolve().parents[2] / "examples" / "contracts" / "fraud-screening.yml"

# The published example: 150,000 transactions a week, precision 0.91 with 1,350 legitimate
# customers blocked. These counts cover exactly one week, so the scale factor is 1.
WEEK = Reading(value=None, tp=13_650, fp=1_350, tn=132_000, fn=3_000)
# The same rates over a tenth of the volume (say, a day-and-a-bit window): scale factor 10.
TENTH = Reading(value=None, tp=1_365, fp=135, tn=13_200, fn=300)

REQUIRED_KEYS = (
    "accuracy precision recall f1 specificity false_positive_rate false_negative_rate false_accept_rate "
    "false_reject_rate roc_auc average_precision log_loss ndcg mrr precision_at_k rmse mae mape psi "
    "kl_divergence js_divergence lift confidence_interval p_value statistical_power sequential_testing "
    "north_star guardrail counter_metric ctr conversion_rate p95_latency cost_per_inference"
).split()


@pytest.fixture(scope="module")
def fraud() -> Contract:
    return parse_contract(FRAUD_YAML.read_text(), source=str(FRAUD_YAML))


def with_business(contract: Contract, **changes: object) -> Contract:
    return contract.model_copy(update={"business": contract.business.model_copy(update=changes)})


# --- glossary coverage --------------------------------------------------------------------


def test_glossary_holds_every_required_term():
    assert set(REQUIRED_KEYS) <= set(GLOSSARY)
    for key, entry in GLOSSARY.items():
        assert entry.key == key
        assert entry.definition and entry.formula and entry.when_right and entry.misleads
        assert all(related in GLOSSARY for related in entry.related), key


@pytest.mark.parametrize("key", sorted(GLOSSARY))
@pytest.mark.parametrize(
    "reading",
    [None, Reading(0.0), Reading(0.42, sample_size=900), Reading(1.0), WEEK],
    ids=["no-reading", "zero", "value", "one", "counts"],
)
def test_every_term_renders_with_and_without_the_contract(key, reading, fraud):
    entry = GLOSSARY[key]
    for contract in (None, fraud):
        explanation = explain(key, contract, reading)
        assert explanation.found
        assert explanation.term == key
        assert explanation.title == entry.title
        assert explanation.headline.strip()
        markdown = explanation.to_markdown()
        assert explanation.title in markdown
        assert "**" not in markdown
        if contract is not None and entry.in_terms:
            # Rewritten in the contract's words: no template slot survives and a contract word appears.
            assert "{" not in explanation.in_your_terms
            business = fraud.business
            assert any(
                word in explanation.in_your_terms
                for word in (business.unit, business.positive, business.negative, business.action)
            ), explanation.in_your_terms
        if contract is None:
            assert explanation.in_your_terms == ""
            assert explanation.weekly == {}


def test_definition_headline_without_numbers_or_contract():
    explanation = explain("precision")
    assert explanation.headline == "Precision: of the cases the model flags, the share that really are positive."
    assert explanation.numbers == ()


def test_in_your_terms_uses_the_contracts_words(fraud):
    explanation = explain("precision", fraud)
    assert explanation.in_your_terms == "Of the transactions we block, the share that really are fraudulent transactions."
    assert explanation.headline == "Precision: of the transactions we block, the share that really are fraudulent transactions."


def test_accuracy_warns_with_the_rare_fraud_arithmetic():
    misleads = GLOSSARY["accuracy"].misleads
    assert "never flags fraud is 99.9% accurate when 1 in 1,000 transactions is fraud" in misleads
    assert "catches none" in misleads


# --- money: the fraud example -------------------------------------------------------------


def test_precision_headline_in_business_words_and_money(fraud):
    explanation = explain("precision", fraud, WEEK)
    assert explanation.headline == (
        "Precision 0.91: of every 100 transactions we block, 9 are legitimate customers — about 1,350 a "
        "week at 150,000 transactions, $20,250 of manual review at $15 each."
    )
    numbers = dict(explanation.numbers)
    assert numbers["Legitimate customers blocked per week"] == "≈ 1,350"
    assert numbers["Manual review cost per week"] == "$20,250"
    assert numbers["Precision"] == "0.91"


def test_weekly_figures_are_the_raw_numbers(fraud):
    weekly = explain("precision", fraud, WEEK).weekly
    assert weekly["false_positives_per_week"] == pytest.approx(1_350)
    assert weekly["false_negatives_per_week"] == pytest.approx(3_000)
    assert weekly["cost_fp_per_week"] == pytest.approx(20_250)
    assert weekly["cost_fn_per_week"] == pytest.approx(1_260_000)
    assert weekly["total_cost_per_week"] == pytest.approx(1_280_250)


def test_counts_are_scaled_to_a_week_from_the_window(fraud):
    week, tenth = explain("precision", fraud, WEEK), explain("precision", fraud, TENTH)
    assert tenth.headline == week.headline
    assert tenth.weekly["false_positives_per_week"] == pytest.approx(1_350)
    assert tenth.weekly["cost_fn_per_week"] == pytest.approx(1_260_000)


def test_recall_sentence_prices_the_missed_fraud(fraud):
    explanation = explain("recall", fraud, WEEK)
    assert explanation.headline == (
        "Recall 0.82: of every 100 fraudulent transactions, we block 82 and miss 18 — about 3,000 missed a "
        "week at 150,000 transactions, $1,260,000 of chargebacks at $420 each."
    )
    numbers = dict(explanation.numbers)
    assert numbers["Fraudulent transactions missed per week"] == "≈ 3,000"
    assert numbers["Chargebacks cost per week"] == "$1,260,000"
    # Recall is about what gets through, so the false-positive lines stay out of its numbers.
    assert "Manual review cost per week" not in numbers


def test_f1_prices_both_errors(fraud):
    explanation = explain("f1", fraud, WEEK)
    assert "precision 0.91 and recall 0.82" in explanation.headline
    assert "$20,250 + $1,260,000 = $1,280,250" in explanation.headline
    assert dict(explanation.numbers)["Cost of errors per week"] == "$1,280,250"


def test_value_alone_still_says_of_every_100(fraud):
    explanation = explain("precision", fraud, Reading(0.91))
    assert explanation.headline == "Precision 0.91: of every 100 transactions we block, 9 are legitimate customers."
    assert explanation.weekly == {}


@pytest.mark.parametrize(
    ("term", "value", "expected"),
    [
        ("recall", 0.8, "of every 100 fraudulent transactions, we block 80 and miss 20."),
        ("false_positive_rate", 0.018, "of every 1,000 legitimate customers, we block 18."),
        ("false_reject_rate", 0.01, "of every 100 legitimate customers, we wrongly block 1."),
        ("false_negative_rate", 0.25, "of every 100 fraudulent transactions, 25 are not blocked."),
        ("false_accept_rate", 0.01, "of every 100 fraudulent transactions, 1 gets through without being blocked."),
        ("specificity", 0.97, "of every 100 legitimate customers, we leave 97 alone and block 3."),
        ("precision", 0.999, "of every 1,000 transactions we block, 1 is a legitimate customer."),
        ("precision", 1.0, "of every 100 transactions we block, none are legitimate customers."),
    ],
)
def test_of_every_n_sentences(fraud, term, value, expected):
    assert explain(term, fraud, Reading(value)).headline.endswith(expected)


def test_accuracy_with_rare_positives_says_doing_nothing_scores_the_same(fraud):
    never_blocks = Reading(None, tp=0, fp=0, tn=149_850, fn=150)
    headline = explain("accuracy", fraud, never_blocks).headline
    assert headline.startswith("Accuracy 0.999: we make the right call on 999 of every 1,000 transactions")
    assert "only 1 in 1,000 transactions is a fraudulent transaction" in headline
    assert "never blocking anything would score 0.999, as well as this model or better" in headline


def test_without_a_contract_counts_stay_in_the_window():
    explanation = explain("precision", snapshot=WEEK)
    assert explanation.headline == "Precision 0.91: of every 100 cases we flag, 9 are negative cases."
    assert dict(explanation.numbers)["Negative cases flagged in window"] == "1,350"
    assert explanation.weekly == {}


@pytest.mark.parametrize(
    ("currency", "expected"),
    [("USD", "$20,250"), ("EUR", "€20,250"), ("GBP", "£20,250"), ("CHF", "20,250 CHF"), ("jpy", "20,250 JPY")],
)
def test_money_in_the_contracts_currency(fraud, currency, expected):
    explanation = explain("precision", with_business(fraud, currency=currency), WEEK)
    assert f"{expected} of manual review" in explanation.headline
    assert dict(explanation.numbers)["Manual review cost per week"] == expected


def test_default_cost_wording_still_reads(fraud):
    plain = with_business(fraud, false_positive_cost_means="cost of a false positive")
    explanation = explain("precision", plain, WEEK)
    assert explanation.headline.endswith("$20,250 in costs at $15 each.")
    assert dict(explanation.numbers)["Cost of a false positive per week"] == "$20,250"


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (20_250, "USD", "$20,250"),
        (1_260_000.4, "USD", "$1,260,000"),
        (15, "USD", "$15"),
        (2.5, "GBP", "£2.50"),
        (0.0021, "USD", "$0.0021"),
        (0, "EUR", "€0"),
        (315, None, "315"),
    ],
)
def test_format_money(amount, currency, expected):
    assert format_money(amount, currency) == expected


@pytest.mark.parametrize(
    ("count", "expected"),
    [(1_350, "1,350"), (1_347.2, "1,350"), (13_654, "13,700"), (87.4, "87"), (0.3, "fewer than 1"), (0, "0")],
)
def test_format_count_rounds_to_meaningful_figures(count, expected):
    assert format_count(count) == expected


# --- contract metrics ---------------------------------------------------------------------


def test_a_contract_metric_by_label_shows_where_it_sits(fraud):
    explanation = explain("fraud caught", fraud, Reading(0.8))
    assert explanation.term == "recall"
    assert explanation.headline.startswith("Fraud caught 80%: of every 100 fraudulent transactions, we block 80")
    context = dict(explanation.contract_context)
    assert context["Role"] == "secondary"
    assert context["Layer"] == "model"
    assert context["Direction"] == "higher is better"
    assert context["Launch baseline"] == "82%"


def test_metric_name_supplies_role_layer_and_bound(fraud):
    reading = Reading(0.018, tp=100, fp=18, tn=982, fn=20)
    explanation = explain("false_positive_rate", fraud, reading, metric_name="premium_false_positive_rate")
    context = dict(explanation.contract_context)
    assert (context["Role"], context["Layer"], context["Bound"]) == ("guardrail", "product", "≤ 0.02")
    assert explanation.headline.startswith("Premium-customer false positives 1.8%: of every 1,000 legitimate customers")


def test_relative_bound_names_its_baseline(fraud):
    context = dict(explain("false_positive_rate_by_region", fraud).contract_context)
    assert context["Bound"] == "≤ 1.5× baseline (baseline 0.012)"
    assert context["Disparity bound"] == "highest segment ≤ 2× lowest"


def test_generic_term_lists_the_contract_metrics_it_describes(fraud):
    context = dict(explain("false_positive_rate", fraud).contract_context)
    assert context["In this contract"] == (
        "premium-customer false positives (guardrail), false positives by region (guardrail)"
    )


def test_unknown_metric_name_is_a_caller_error(fraud):
    with pytest.raises(ValueError, match="no_such_metric"):
        explain("precision", fraud, metric_name="no_such_metric")


def test_latency_in_the_contracts_words_and_ceiling(fraud):
    explanation = explain("scoring_latency_p95", fraud, Reading(87))
    assert explanation.term == "p95_latency"
    assert "95 of every 100 transactions are scored within 87 ms" in explanation.headline
    assert "the contract's ceiling is 120 ms" in explanation.headline
    assert dict(explanation.contract_context)["Role"] == "efficiency"


@pytest.mark.parametrize(
    ("value", "band"),
    [(0.05, "stable"), (0.1, "a moderate shift"), (0.18, "a moderate shift"), (0.25, "a significant shift"), (0.4, "a significant shift")],
)
def test_psi_bands(fraud, value, band):
    explanation = explain("score drift", fraud, Reading(value))
    assert explanation.term == "psi"
    assert explanation.headline.split(": ", 1)[1].startswith(band)


def test_lift_needs_no_money(fraud):
    explanation = explain("lift", fraud, Reading(-0.05))
    assert explanation.headline.startswith("Lift −5%: the metric is 5% lower with the change than in the control")
    assert "$" not in explanation.headline
    assert explanation.weekly == {}


def test_cost_per_inference_at_weekly_volume(fraud):
    explanation = explain("cost per prediction", fraud, Reading(0.0021))
    assert explanation.headline == "Cost per inference $0.0021 per transaction: about $315 a week at 150,000 transactions."
    assert explanation.weekly["inference_cost_per_week"] == pytest.approx(315)


def test_role_terms_name_the_contracts_metrics(fraud):
    assert "fraud losses per 1,000 transactions" in explain("north star", fraud).headline
    assert "premium-customer false positives (≤ 0.02)" in explain("guardrails", fraud).headline
    assert "block appeals" in explain("counter metric", fraud).headline
    assert "always-valid p-values" in explain("sequential testing", fraud).headline


def test_window_and_threshold_are_listed():
    reading = Reading(0.91, sample_size=15_000, threshold=0.7, window_start=date(2026, 9, 7), window_end=date(2026, 9, 14))
    numbers = dict(explain("precision", snapshot=reading).numbers)
    assert numbers["Window"] == "2026-09-07 → 2026-09-14"
    assert numbers["Threshold"] == "0.7"
    assert numbers["Sample size"] == "15,000"


@pytest.mark.parametrize("field", ["tp", "fp", "tn", "fn", "sample_size"])
def test_reading_rejects_negative_counts(field):
    with pytest.raises(ValueError, match=field):
        Reading(0.5, **{field: -1})


def test_reading_rejects_non_finite_values():
    with pytest.raises(ValueError, match="value"):
        Reading(float("nan"))


# --- lookup -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "key"),
    [
        ("Precision", "precision"),
        ("  PRECISION  ", "precision"),
        ("f1 score", "f1"),
        ("F-1", "f1"),
        ("fpr", "false_positive_rate"),
        ("False-Positive_Rate", "false_positive_rate"),
        ("fnr", "false_negative_rate"),
        ("FAR", "false_accept_rate"),
        ("frr", "false_reject_rate"),
        ("tpr", "recall"),
        ("sensitivity", "recall"),
        ("precision@k", "precision_at_k"),
        ("precision@10", "precision_at_k"),
        ("recall@k", "recall_at_k"),
        ("NDCG@10", "ndcg"),
        ("auc", "roc_auc"),
        ("AUROC", "roc_auc"),
        ("roc-auc", "roc_auc"),
        ("pr auc", "average_precision"),
        ("PR-AUC", "average_precision"),
        ("ap", "average_precision"),
        ("ks", "ks_statistic"),
        ("click-through rate", "ctr"),
        ("CTR", "ctr"),
        ("p95", "p95_latency"),
        ("cvr", "conversion_rate"),
        ("log-loss", "log_loss"),
        ("p-value", "p_value"),
        ("guardrails", "guardrail"),
        ("north star", "north_star"),
        ("anti-gaming", "counter_metric"),
        ("Jensen-Shannon", "js_divergence"),
        ("psi?", "psi"),
    ],
)
def test_lookup_aliases(term, key):
    result = lookup(term)
    assert result.entry is not None and result.entry.key == key
    assert result.exact


def test_every_alias_finds_its_own_entry():
    # Two entries claiming one spelling would silently send users to the wrong explanation.
    for key, entry in GLOSSARY.items():
        for spelling in (key, entry.title, *entry.aliases):
            found = lookup(spelling).entry
            assert found is not None and found.key == key, (spelling, key, found and found.key)


@pytest.mark.parametrize(
    ("typo", "key"),
    [("precsion", "precision"), ("recal", "recall"), ("specifity", "specificity"), ("acuracy", "accuracy"), ("conversion rte", "conversion_rate")],
)
def test_lookup_corrects_clear_typos(typo, key):
    result = lookup(typo)
    assert result.entry is not None and result.entry.key == key
    assert not result.exact
    assert key not in result.suggestions


def test_short_ambiguous_typos_are_suggested_not_guessed():
    result = lookup("mpe")
    assert result.entry is None
    assert "mape" in result.suggestions


@pytest.mark.parametrize("term", ["banana", "zzzzzz", "!!!???", "the thing with the curve", "é"])
def test_unknown_terms_give_suggestions_not_errors(term):
    result = lookup(term)
    assert result.entry is None
    assert 1 <= len(result.suggestions) <= 3
    assert all(key in GLOSSARY for key in result.suggestions)


def test_empty_term_suggests_common_terms():
    assert lookup("").suggestions == COMMON_TERMS
    assert lookup("   ").entry is None


def test_explain_unknown_term_offers_suggestions(fraud):
    explanation = explain("precisoin rate thing", fraud)
    assert not explanation.found
    assert explanation.suggestions
    assert "Did you mean" in explanation.headline


def test_explain_misspelt_metric_suggests_the_contract_metric(fraud):
    explanation = explain("fraud_recal", fraud)
    assert not explanation.found
    assert explanation.suggestions[0] == "fraud_recall"


def test_corrected_term_says_what_it_matched():
    explanation = explain("precsion", snapshot=Reading(0.91))
    assert explanation.corrected
    assert explanation.term == "precision"
    assert "closest match to “precsion”" in explanation.to_markdown()


# --- Slack mrkdwn -------------------------------------------------------------------------


def test_markdown_bolds_the_contracts_words_with_single_asterisks(fraud):
    markdown = explain("precision", fraud, WEEK).to_markdown()
    assert markdown.startswith("*Precision*\n")
    assert "we *block*, 9 are *legitimate customers* —" in markdown
    assert "*In your terms:* Of the transactions we *block*, the share that really are *fraudulent transactions*." in markdown
    assert "• Manual review cost per week: $20,250" in markdown
    assert "**" not in markdown


def test_markdown_escapes_html_from_the_contract(fraud):
    hostile = with_business(fraud, negative="VIP <b>customer</b> & partner", action="block <script>")
    explanation = explain("precision", hostile, WEEK)
    markdown = explanation.to_markdown()
    assert "<" not in markdown and ">" not in markdown
    assert re.search(r"&(?!amp;|lt;|gt;)", markdown) is None
    assert "&lt;b&gt;customer&lt;/b&gt; &amp; partner" in markdown
    # The raw fields stay raw: escaping is the renderer's job, once.
    assert "<b>customer</b>" in explanation.headline


def test_markdown_of_unknown_term_escapes_the_users_text():
    markdown = explain("<@U123> & <!channel>").to_markdown()
    assert "<" not in markdown
    assert "&lt;!channel&gt;" in markdown
    assert "Did you mean" in markdown


def test_explanation_is_frozen():
    explanation = explain("precision")
    assert isinstance(explanation, Explanation)
    with pytest.raises(AttributeError):
        explanation.headline = "changed"  # type: ignore[misc]


def test_a_term_read_off_another_metrics_counts_keeps_its_own_name(fraud):
    # "/explain precision" answered from the counts stored for fraud_recall: the value and the
    # headline are precision's, the contract context says where the counts came from.
    reading = Reading(0.8198, tp=13_650, fp=1_350, tn=132_000, fn=3_000)
    explanation = explain("precision", fraud, reading, metric_name="fraud_recall")
    assert explanation.headline.startswith("Precision 0.91: of every 100 transactions we block, 9 are legitimate customers")
    assert dict(explanation.numbers)["Precision"] == "0.91"
    assert dict(explanation.contract_context)["Metric"] == "fraud caught"


def test_a_value_of_another_metric_is_not_reused_without_counts(fraud):
    explanation = explain("psi", fraud, Reading(87), metric_name="scoring_latency_p95")
    assert "87" not in explanation.headline
    assert explanation.headline.startswith("Population stability index:")

"""Explain a metric in the team's own business terms.

``/explain precision`` should not answer with a textbook definition: a fraud team wants to hear
"of every 100 transactions we block, 9 are legitimate customers — about 1,350 a week, $20,250 of
manual review". This module holds the glossary (what each metric is, when it is the right one,
when it misleads) and renders one entry with the words, volume and costs a contract declares.

Three ways in, each optional, each adding detail:

* the term alone gives the definition, the formula and the caveats;
* a :class:`~metrics.contract.Contract` rewrites the definition in the team's words and, when the
  term names one of its metrics, says where that metric sits (role, layer, bound);
* a :class:`Reading` (the value, and for classification the confusion counts of the window)
  turns it into numbers: "of every 100", and with counts, what the errors cost per week.

Money arithmetic: the counts of a window are scaled to a week with
``business.weekly_volume / (tp + fp + tn + fn)``, so a daily window and a weekly one give the same
weekly figures. False positives cost ``cost_false_positive`` each, false negatives
``cost_false_negative``.

Pure code: no I/O. Lookups never raise on unknown or misspelt terms; they suggest close ones.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType

from metrics.contract import BusinessTerms, Contract, Direction, Kind, Metric, Role
from metrics.drift import PSI_SIGNIFICANT, PSI_STABLE

__all__ = [
    "COMMON_TERMS",
    "GLOSSARY",
    "Explanation",
    "GlossaryEntry",
    "LookupResult",
    "Reading",
    "Story",
    "explain",
    "format_count",
    "format_money",
    "lookup",
]


class Story(StrEnum):
    """Which confusion cells carry the money when a metric is rendered in the team's costs."""

    FALSE_POSITIVES = "false_positives"
    FALSE_NEGATIVES = "false_negatives"
    BOTH = "both"


@dataclass(frozen=True, kw_only=True)
class GlossaryEntry:
    """One metric or concept the bot can explain.

    Attributes
    ----------
    key : str
        Canonical snake_case name, also the key in :data:`GLOSSARY`.
    title : str
        Human name ("False positive rate").
    aliases : tuple of str
        Other spellings and abbreviations that :func:`lookup` accepts.
    definition : str
        Plain-words definition, no jargon beyond the term itself.
    formula : str
        The formula, written without characters that Slack's mrkdwn would interpret.
    when_right : str
        When it is the right metric to watch.
    misleads : str
        When it misleads, with a concrete example.
    related : tuple of str
        Keys of related entries.
    story : Story or None
        Which errors its money rendering is about; None when it has no confusion-cell story.
    short : str
        Name used to lead a headline ("PSI 0.18"); the title when empty.
    in_terms : str or None
        The definition as a template over the contract's words (``{units}``, ``{action}``,
        ``{positives}``, ``{negatives}``, ``{acted}``, ``{acting}``, ``{unit}``, ``{positive}``,
        ``{negative}``); None when the team's words add nothing.
    """

    key: str
    title: str
    aliases: tuple[str, ...] = ()
    definition: str
    formula: str
    when_right: str
    misleads: str
    related: tuple[str, ...] = ()
    story: Story | None = None
    short: str = ""
    in_terms: str | None = None

    @property
    def name(self) -> str:
        """The name that leads a headline."""
        return self.short or self.title


def _entries() -> tuple[GlossaryEntry, ...]:
    fp, fn, both = Story.FALSE_POSITIVES, Story.FALSE_NEGATIVES, Story.BOTH
    return (
        # --- classification ---------------------------------------------------------------
        GlossaryEntry(
            key="accuracy",
            title="Accuracy",
            aliases=("acc", "classification accuracy"),
            definition="The share of all cases the model gets right, positives and negatives together.",
            formula="(TP + TN) / (TP + FP + TN + FN)",
            when_right=(
                "When the classes are roughly balanced and a false positive costs about as much as a "
                "false negative."
            ),
            misleads=(
                "On rare positives it rewards doing nothing: a model that never flags fraud is 99.9% "
                "accurate when 1 in 1,000 transactions is fraud, and catches none. Compare it with "
                "1 − prevalence, or use precision and recall instead."
            ),
            related=("precision", "recall", "balanced_accuracy", "prevalence"),
            story=both,
            in_terms=(
                "The share of all {units} where we make the right call: {acting} a {positive}, or "
                "leaving a {negative} alone."
            ),
        ),
        GlossaryEntry(
            key="balanced_accuracy",
            title="Balanced accuracy",
            aliases=("bacc", "balanced acc"),
            definition="The average of recall on positives and recall on negatives (specificity).",
            formula="(TP / (TP + FN) + TN / (TN + FP)) / 2",
            when_right="When classes are imbalanced and you want one number that a do-nothing model cannot game.",
            misleads=(
                "It weighs both kinds of error equally, whatever they cost: a missed chargeback and an "
                "unnecessary review count the same."
            ),
            related=("accuracy", "recall", "specificity"),
            story=both,
            in_terms="The average of the share of {positives} we {action} and the share of {negatives} we leave alone.",
        ),
        GlossaryEntry(
            key="precision",
            title="Precision",
            aliases=("ppv", "positive predictive value"),
            definition="Of the cases the model flags, the share that really are positive.",
            formula="TP / (TP + FP)",
            when_right=(
                "When acting on a false alarm is expensive (manual review, a blocked customer, a wrong "
                "email) and you need to know how much of the acted-on work is wasted."
            ),
            misleads=(
                "Alone, it can be pushed up by flagging less: a model that flags only its single surest "
                "case has perfect precision and catches almost nothing. Read it with recall."
            ),
            related=("recall", "f1", "false_positive_rate", "average_precision"),
            story=fp,
            in_terms="Of the {units} we {action}, the share that really are {positives}.",
        ),
        GlossaryEntry(
            key="recall",
            title="Recall",
            aliases=(
                "sensitivity",
                "tpr",
                "true positive rate",
                "hit rate",
                "detection rate",
                "catch rate",
            ),
            definition="Of all the positive cases, the share the model flags.",
            formula="TP / (TP + FN)",
            when_right="When missing a positive is expensive (fraud that goes through, a disease not diagnosed).",
            misleads=(
                "Alone, it can be pushed up by flagging more: flag everything and recall is 1.0 while "
                "every negative pays for it. Read it with precision or the false positive rate."
            ),
            related=("precision", "false_negative_rate", "f1"),
            story=fn,
            in_terms="Of all {positives}, the share we {action}.",
        ),
        GlossaryEntry(
            key="f1",
            title="F1 score",
            aliases=("f1 score", "f-1", "f score", "f measure", "f1-score", "dice"),
            short="F1",
            definition="One number that is high only when precision and recall are both high (their harmonic mean).",
            formula="2 · precision · recall / (precision + recall)",
            when_right="When you need a single score to compare models and both kinds of error matter.",
            misleads=(
                "It weighs false positives and false negatives equally whatever they cost, ignores true "
                "negatives, and hides which of the two is weak. When a missed positive costs 28 times a "
                "false alarm, compare models on cost per week instead."
            ),
            related=("precision", "recall"),
            story=both,
            in_terms="One score that is high only when we both {action} most {positives} and rarely {action} {negatives}.",
        ),
        GlossaryEntry(
            key="specificity",
            title="Specificity",
            aliases=("tnr", "true negative rate", "selectivity"),
            definition="Of all the negative cases, the share the model correctly leaves alone.",
            formula="TN / (TN + FP)",
            when_right="When the negatives are the people you must not bother, and you want the share left alone.",
            misleads=(
                "Near 1.0 it looks perfect while still hurting many people: 99% specificity on a million "
                "legitimate customers is 10,000 of them flagged."
            ),
            related=("false_positive_rate", "recall"),
            story=fp,
            in_terms="Of all {negatives}, the share we correctly leave alone (do not {action}).",
        ),
        GlossaryEntry(
            key="false_positive_rate",
            title="False positive rate",
            aliases=("fpr", "fall out", "fallout", "false alarm rate", "false positives", "type i error rate"),
            definition="Of all the negative cases, the share the model wrongly flags.",
            formula="FP / (FP + TN)",
            when_right=(
                "As a guardrail on the people a model must not hurt, especially per segment: a rate that is "
                "3× higher for one group is a fairness problem."
            ),
            misleads=(
                "A small rate on a huge base is still many people: 1% of 150,000 legitimate transactions "
                "is 1,500 blocked a week. Read it against volume, not as a percentage alone."
            ),
            related=("specificity", "precision", "false_reject_rate"),
            story=fp,
            in_terms="Of all {negatives}, the share we {action} by mistake.",
        ),
        GlossaryEntry(
            key="false_negative_rate",
            title="False negative rate",
            aliases=("fnr", "miss rate", "false negatives", "type ii error rate"),
            definition="Of all the positive cases, the share the model misses.",
            formula="FN / (FN + TP) = 1 − recall",
            when_right="When each miss has a price (a chargeback, a breach) and you want the share that gets through.",
            misleads=(
                "It says nothing about how many negatives were flagged to achieve it: a model that flags "
                "everything has a false negative rate of 0."
            ),
            related=("recall", "false_accept_rate"),
            story=fn,
            in_terms="Of all {positives}, the share we miss (do not {action}).",
        ),
        GlossaryEntry(
            key="false_accept_rate",
            title="False accept rate",
            aliases=("far", "false acceptance rate", "fmr", "false match rate"),
            definition=(
                "Of the cases that should have been stopped (the positives), the share let through. In "
                "fraud or identity checks it is the false negative rate."
            ),
            formula="FN / (FN + TP)",
            when_right="In verification and screening, where letting a bad case through is the costly error.",
            misleads=(
                "Vendors quote it at their own threshold; without the false reject rate at the same "
                "threshold it can be made as small as you like by rejecting more."
            ),
            related=("false_reject_rate", "false_negative_rate"),
            story=fn,
            in_terms="Of all {positives}, the share we let through instead of {acting}.",
        ),
        GlossaryEntry(
            key="false_reject_rate",
            title="False reject rate",
            aliases=("frr", "false rejection rate", "fnmr", "false non match rate", "insult rate"),
            definition=(
                "Of the cases that should have gone through (the negatives), the share wrongly stopped. In "
                "fraud or identity checks it is the false positive rate."
            ),
            formula="FP / (FP + TN)",
            when_right="In verification and screening, to measure friction for genuine users.",
            misleads=(
                "Quoted alone it hides the other side: accept everyone and it is 0. Always read it with the "
                "false accept rate at the same threshold."
            ),
            related=("false_accept_rate", "false_positive_rate"),
            story=fp,
            in_terms="Of all {negatives}, the share we {action} although they should have gone through.",
        ),
        GlossaryEntry(
            key="prevalence",
            title="Prevalence",
            aliases=("base rate", "positive rate", "class balance"),
            definition="The share of all cases that are positive.",
            formula="(TP + FN) / (TP + FP + TN + FN)",
            when_right="Always, as context: it is what accuracy and average precision must be compared with.",
            misleads="It drifts with the season and the population; a change in prevalence moves precision even if the model is unchanged.",
            related=("accuracy", "average_precision", "precision"),
            in_terms="The share of {units} that are {positives}.",
        ),
        GlossaryEntry(
            key="roc_auc",
            title="ROC AUC",
            aliases=("auc", "auroc", "roc", "auc roc", "area under the roc curve", "area under the curve", "c statistic"),
            definition=(
                "The chance that the model scores a random positive case above a random negative one; 0.5 "
                "is a coin toss, 1.0 a perfect ranking."
            ),
            formula="P(score of a random positive > score of a random negative)",
            when_right="To compare how well models rank across all thresholds, before a threshold is chosen.",
            misleads=(
                "It averages over every threshold, including ones you will never use: when only the top of "
                "the ranking matters (the 1% you can review), two models with the same AUC can differ "
                "widely there. On rare positives it looks high while precision is poor; prefer average "
                "precision or precision at your operating threshold."
            ),
            related=("average_precision", "precision_at_k", "recall"),
            in_terms="The chance that a random {positive} gets a higher score than a random {negative}.",
        ),
        GlossaryEntry(
            key="average_precision",
            title="Average precision (PR AUC)",
            aliases=(
                "ap",
                "pr auc",
                "auprc",
                "auc pr",
                "precision recall auc",
                "area under the precision recall curve",
            ),
            short="Average precision",
            definition=(
                "The area under the precision–recall curve: precision averaged over every point where the "
                "model catches one more positive. A random ranking scores the prevalence."
            ),
            formula="Σₙ (Rₙ − Rₙ₋₁) · Pₙ over thresholds n",
            when_right="When positives are rare and what matters is how clean the top of the ranking is.",
            misleads=(
                "Its scale depends on prevalence: 0.3 is excellent when 1 in 1,000 cases is positive and "
                "poor when half are. Compare it with the prevalence, not across populations."
            ),
            related=("roc_auc", "precision", "recall", "prevalence"),
            in_terms="Averaged over every {positive} we could catch, the share of {units} ranked above it that really are {positives}.",
        ),
        GlossaryEntry(
            key="log_loss",
            title="Log loss",
            aliases=("logloss", "cross entropy", "binary cross entropy", "bce", "logistic loss", "negative log likelihood", "nll"),
            definition=(
                "The average penalty for the probability the model gave to what actually happened; "
                "confident wrong answers cost the most."
            ),
            formula="−mean( y · ln p + (1 − y) · ln(1 − p) )",
            when_right="When the scores are used as probabilities (pricing, expected cost), not only to rank.",
            misleads=(
                "It has no natural scale: compare it with always predicting the base rate. A few "
                "confidently wrong cases can dominate it."
            ),
            related=("roc_auc", "average_precision", "prevalence"),
            in_terms="How well the scores work as the probability that a {unit} is a {positive}; confident wrong scores cost most.",
        ),
        GlossaryEntry(
            key="ks_statistic",
            title="Kolmogorov–Smirnov statistic",
            aliases=("ks", "k s", "kolmogorov smirnov", "ks test"),
            short="KS",
            definition="The largest gap between two cumulative distributions, from 0 (identical) to 1 (no overlap).",
            formula="max over x of | F₁(x) − F₂(x) |",
            when_right="To check whether scores (or a feature) moved between two windows, or how far apart positives and negatives score.",
            misleads="On large samples a tiny, harmless gap is 'significant'; judge the size of the gap, not its p-value.",
            related=("psi", "js_divergence"),
        ),
        # --- ranking ----------------------------------------------------------------------
        GlossaryEntry(
            key="ndcg",
            title="NDCG",
            aliases=("ndcg@k", "ndcg at k", "normalized discounted cumulative gain", "normalised discounted cumulative gain"),
            definition=(
                "How close a ranking is to the best possible order, counting the top positions most; 1.0 is "
                "the ideal order."
            ),
            formula="DCG@k / ideal DCG@k, with DCG@k = Σᵢ relᵢ / log₂(i + 1)",
            when_right="For search and recommendations with graded relevance, where position matters.",
            misleads=(
                "Normalised per query, so a query with one mediocre result can score 1.0; and relevance "
                "labels from clicks reward what was already ranked high."
            ),
            related=("mrr", "precision_at_k", "recall_at_k"),
            in_terms="How close the order we show {units} in is to the best possible order, counting the top positions most.",
        ),
        GlossaryEntry(
            key="mrr",
            title="Mean reciprocal rank",
            aliases=("mrr@k", "mean reciprocal rank", "reciprocal rank"),
            short="MRR",
            definition="The average of 1 / position of the first relevant result; 1.0 means it is always first.",
            formula="mean over queries of 1 / rank of the first relevant result",
            when_right="When the user needs one right answer and stops there (navigational search, answer retrieval).",
            misleads="It ignores everything after the first relevant result, so it cannot see a list that is otherwise poor.",
            related=("ndcg", "precision_at_k"),
        ),
        GlossaryEntry(
            key="precision_at_k",
            title="Precision at k",
            aliases=("precision@k", "p@k", "prec@k", "precision at k", "top k precision"),
            short="Precision@k",
            definition="Of the top k results, the share that are relevant.",
            formula="relevant results in the top k / k",
            when_right="When users see exactly k results (a page, a review queue of fixed size).",
            misleads="It ignores the order within the top k and is capped when fewer than k relevant results exist.",
            related=("recall_at_k", "ndcg", "precision"),
            in_terms="Of the top k {units} we show, the share that are relevant.",
        ),
        GlossaryEntry(
            key="recall_at_k",
            title="Recall at k",
            aliases=("recall@k", "r@k", "recall at k", "hit rate at k", "hit@k"),
            short="Recall@k",
            definition="Of all the relevant results, the share that appear in the top k.",
            formula="relevant results in the top k / all relevant results",
            when_right="For retrieval stages that feed a re-ranker: what the first stage misses is lost for good.",
            misleads="It grows with k for free; compare models at the k your product actually shows.",
            related=("precision_at_k", "ndcg", "recall"),
        ),
        # --- regression -------------------------------------------------------------------
        GlossaryEntry(
            key="rmse",
            title="Root mean squared error",
            aliases=("root mean squared error", "root mean square error", "rms error"),
            short="RMSE",
            definition="The typical size of a prediction error, in the target's units, with large errors weighted more.",
            formula="√( mean( (prediction − actual)² ) )",
            when_right="When a large miss is disproportionately worse than several small ones.",
            misleads="A few outliers can dominate it; it is in the target's units, so it cannot be compared across targets.",
            related=("mae", "mape", "mean_error"),
        ),
        GlossaryEntry(
            key="mae",
            title="Mean absolute error",
            aliases=("mean absolute error", "mean abs error"),
            short="MAE",
            definition="The average size of a prediction error, in the target's units.",
            formula="mean( | prediction − actual | )",
            when_right="When every unit of error costs the same (an hour late is an hour late).",
            misleads="It hides rare large misses that may be what hurts; read it with RMSE.",
            related=("rmse", "mape"),
        ),
        GlossaryEntry(
            key="mape",
            title="Mean absolute percentage error",
            aliases=("mean absolute percentage error", "mean absolute percent error"),
            short="MAPE",
            definition="The average prediction error as a share of the actual value.",
            formula="mean( | prediction − actual | / | actual | )",
            when_right="To compare forecasts across series of very different size.",
            misleads=(
                "It explodes when actual values are near zero and punishes over-forecasts more than "
                "under-forecasts, so models learn to predict low."
            ),
            related=("mae", "rmse"),
        ),
        GlossaryEntry(
            key="mean_error",
            title="Mean error (bias)",
            aliases=("bias", "mean bias", "me", "mean signed error"),
            short="Mean error",
            definition="The average signed error: above zero the model over-predicts, below zero it under-predicts.",
            formula="mean( prediction − actual )",
            when_right="To catch a systematic lean (always forecasting too low) that RMSE and MAE do not show.",
            misleads="Large errors in both directions cancel: zero bias can hide very poor predictions.",
            related=("mae", "rmse"),
        ),
        # --- drift ------------------------------------------------------------------------
        GlossaryEntry(
            key="psi",
            title="Population stability index",
            aliases=("population stability index", "stability index"),
            short="PSI",
            definition=(
                "How far a distribution (a feature or the model's score) has moved from a reference window. "
                "Conventionally below 0.1 is stable, 0.1–0.25 a moderate shift, 0.25 or more significant."
            ),
            formula="Σ over bins (currentᵢ − referenceᵢ) · ln(currentᵢ / referenceᵢ)",
            when_right="As an early warning that the inputs changed before labels arrive to measure accuracy.",
            misleads=(
                "On small windows sampling noise alone passes 0.1; and a shift is not harm — the model can "
                "be fine on the new population. Confirm with a significance test and with outcome metrics."
            ),
            related=("kl_divergence", "js_divergence", "ks_statistic"),
            in_terms="How far this window's mix of {units} (or of their scores) has moved from the reference window.",
        ),
        GlossaryEntry(
            key="kl_divergence",
            title="KL divergence",
            aliases=("kl", "kullback leibler", "kullback leibler divergence", "relative entropy"),
            short="KL divergence",
            definition="How surprised a reference distribution would be by the current one, in nats; 0 when they match.",
            formula="Σ currentᵢ · ln(currentᵢ / referenceᵢ)",
            when_right="When drift is measured against a fixed reference and direction matters.",
            misleads="It is not symmetric and is infinite when a bin is empty in the reference; the numbers need smoothing to compare.",
            related=("psi", "js_divergence"),
        ),
        GlossaryEntry(
            key="js_divergence",
            title="Jensen–Shannon divergence",
            aliases=("js", "jsd", "jensen shannon", "jensen shannon divergence"),
            short="JS divergence",
            definition="A symmetric, bounded distance between two distributions: 0 when identical, ln 2 ≈ 0.69 nats when they do not overlap.",
            formula="½ KL(P ‖ M) + ½ KL(Q ‖ M), with M = ½ (P + Q)",
            when_right="To compare drift across features on one bounded scale.",
            misleads="Bounded but not calibrated: what counts as large depends on the feature and the number of bins.",
            related=("psi", "kl_divergence"),
        ),
        # --- experiments ------------------------------------------------------------------
        GlossaryEntry(
            key="lift",
            title="Lift",
            aliases=("uplift", "relative lift", "treatment effect", "relative change"),
            definition="How much the metric changed in the treatment group relative to the control group.",
            formula="(treatment − control) / control",
            when_right="To state a launch claim against a counterfactual, always with its confidence interval.",
            misleads=(
                "A point estimate without its interval is a guess: +5% with an interval of −2% to +12% is "
                "not a win. Relative lift on a tiny base ('+100%' from 1 to 2) also overstates."
            ),
            related=("confidence_interval", "p_value", "statistical_power"),
            in_terms="How much better the metric is for {units} that get the change than for the control group, relative to the control.",
        ),
        GlossaryEntry(
            key="confidence_interval",
            title="Confidence interval",
            aliases=("ci", "confidence intervals", "confidence bounds", "error bars"),
            definition="The range of effect sizes the data cannot rule out at the chosen confidence level (usually 95%).",
            formula="estimate ± z · standard error (z = 1.96 for 95%)",
            when_right="Whenever an estimate drives a decision: the interval says how wrong it could plausibly be.",
            misleads=(
                "It is not a 95% chance that the true value is inside this particular interval; and "
                "checking it every week without a sequential method makes it too narrow."
            ),
            related=("lift", "p_value", "sequential_testing"),
        ),
        GlossaryEntry(
            key="p_value",
            title="p-value",
            aliases=("pvalue", "p val", "significance", "statistical significance"),
            definition="If the change made no difference, the chance of seeing a difference at least this large by luck.",
            formula="P(result at least this extreme | no real effect)",
            when_right="To control how often you ship changes that did nothing, against a threshold (α) fixed in advance.",
            misleads=(
                "It is not the chance that the change works, and it says nothing about the size of the "
                "effect. Peeking every week and stopping at the first p < 0.05 makes false wins far more "
                "likely than 5%."
            ),
            related=("confidence_interval", "statistical_power", "sequential_testing"),
        ),
        GlossaryEntry(
            key="statistical_power",
            title="Statistical power",
            aliases=("power", "test power", "sensitivity of a test"),
            short="Power",
            definition="The chance that a test detects an effect of the size you care about, if it is really there.",
            formula="1 − β = P(significant result | true effect = minimum detectable effect)",
            when_right="Before an experiment starts, to size it: 80% power is the usual bar.",
            misleads="An underpowered test that finds nothing is not evidence of no effect; and a 'win' from one tends to overstate the effect.",
            related=("p_value", "confidence_interval", "lift"),
        ),
        GlossaryEntry(
            key="sequential_testing",
            title="Sequential testing",
            aliases=(
                "sequential test",
                "sequential tests",
                "always valid p value",
                "always valid inference",
                "msprt",
                "peeking",
                "continuous monitoring",
            ),
            definition="A test designed to be read at any time — every week — without inflating the false-alarm rate.",
            formula="always-valid p-value, e.g. mixture SPRT: reject when the likelihood ratio ≥ 1 / α",
            when_right="When results are looked at before the planned end, as a weekly audit does.",
            misleads="It buys that freedom with wider intervals: at a fixed end date a classic test detects the same effect with fewer samples.",
            related=("p_value", "confidence_interval", "statistical_power"),
        ),
        # --- contract vocabulary ----------------------------------------------------------
        GlossaryEntry(
            key="north_star",
            title="North star metric",
            aliases=("north star", "north star metric", "nsm", "primary metric", "omtm"),
            short="North star",
            definition="The one metric tied to user or business value that says whether the feature is working.",
            formula="declared in the contract; exactly one",
            when_right="Always exactly one, in the business or product layer, agreed before launch.",
            misleads=(
                "Optimised alone it gets gamed: pair it with guardrails and counter metrics that rise when it "
                "is being bought at someone else's expense."
            ),
            related=("guardrail", "counter_metric", "lift"),
        ),
        GlossaryEntry(
            key="guardrail",
            title="Guardrail metric",
            aliases=("guardrail", "guardrails", "guardrail metric", "guard rail", "do no harm metric"),
            short="Guardrail",
            definition="A metric that must not degrade, with a hard bound; breaching it blocks a launch.",
            formula="value within its bound (absolute, or relative to a baseline such as ≤ 1.5× baseline)",
            when_right="For everything a win must not be bought with: harm to a segment, latency, cost, complaints.",
            misleads=(
                "Judged on a noisy small window it fires on chance; judged only on averages it misses harm "
                "concentrated in one segment."
            ),
            related=("north_star", "counter_metric", "false_positive_rate"),
        ),
        GlossaryEntry(
            key="counter_metric",
            title="Counter metric",
            aliases=("counter metric", "counter metrics", "anti gaming", "anti gaming metric", "countermetric", "balancing metric"),
            short="Counter metric",
            definition="A metric that rises when the north star is being gamed (undo rate, opt-outs, appeals).",
            formula="declared in the contract as role: anti_gaming",
            when_right="Next to any north star that the model or the team could push up without creating value.",
            misleads="It only catches the gaming you anticipated; review the contract regularly for new ways to game it.",
            related=("north_star", "guardrail", "ctr"),
        ),
        # --- product and efficiency -------------------------------------------------------
        GlossaryEntry(
            key="ctr",
            title="Click-through rate",
            aliases=("click through rate", "clickthrough rate", "click rate"),
            short="CTR",
            definition="Of the times something is shown, the share that get clicked.",
            formula="clicks / impressions",
            when_right="As an early, fast signal of interest, next to an outcome metric.",
            misleads=(
                "A gamed proxy: clickbait titles raise CTR while satisfaction and conversion fall. Pair it "
                "with what happens after the click (conversion, dwell time, undo or bounce)."
            ),
            related=("conversion_rate", "counter_metric", "north_star"),
        ),
        GlossaryEntry(
            key="conversion_rate",
            title="Conversion rate",
            aliases=("cvr", "conversion", "conversions", "cr"),
            definition="Of the people (or sessions) exposed, the share who complete the goal action.",
            formula="conversions / exposed visitors",
            when_right="As an outcome metric close to revenue, measured against a control.",
            misleads=(
                "It moves with traffic mix (a campaign brings visitors who convert less) and with the "
                "denominator's definition; compare within an experiment, not week over week."
            ),
            related=("ctr", "lift", "north_star"),
            in_terms="Of the {units} exposed, the share that go on to convert.",
        ),
        GlossaryEntry(
            key="p95_latency",
            title="95th-percentile latency",
            aliases=("p95", "p95 latency", "latency p95", "95th percentile latency", "tail latency", "latency"),
            short="p95 latency",
            definition="The time within which 95 of every 100 requests are answered; the slowest 5% take longer.",
            formula="95th percentile of response times",
            when_right="As an efficiency bar: users feel the slow tail, not the average.",
            misleads="It says nothing about the slowest 5%: with p95 at 80 ms, one request in a hundred can still take seconds (check p99).",
            related=("cost_per_inference", "guardrail"),
            in_terms="The time within which 95 of every 100 {units} are scored.",
        ),
        GlossaryEntry(
            key="cost_per_inference",
            title="Cost per inference",
            aliases=("cost per prediction", "inference cost", "cost per call", "cost per request", "unit cost"),
            definition="What one prediction costs to serve: compute, model API fees and infrastructure, per call.",
            formula="serving cost in the window / predictions in the window",
            when_right="As an efficiency bar, multiplied by volume: small per call, large per year.",
            misleads="Averages hide the expensive path (long prompts, retries); and it is only worth cutting if quality holds.",
            related=("p95_latency", "guardrail"),
            in_terms="What it costs to score one {unit}.",
        ),
    )


GLOSSARY: Mapping[str, GlossaryEntry] = MappingProxyType({entry.key: entry for entry in _entries()})

#: Suggested when the term is empty: the questions teams ask first.
COMMON_TERMS: tuple[str, ...] = ("precision", "recall", "false_positive_rate", "roc_auc", "psi", "lift")

# --- lookup -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LookupResult:
    """The entry a term names, if any, and close alternatives.

    Attributes
    ----------
    entry : GlossaryEntry or None
        The entry, or None when the term is unknown or ambiguous.
    suggestions : tuple of str
        Glossary keys to offer ("did you mean …"), best first, never including ``entry``.
    exact : bool
        False when the entry was found by correcting a misspelling, so the caller can say so.
    """

    entry: GlossaryEntry | None
    suggestions: tuple[str, ...] = ()
    exact: bool = True


def _compact(text: str) -> str:
    """Fold case, spacing, hyphens, underscores and punctuation: 'F-1 score' -> 'f1score'."""
    text = text.lower().strip()
    # "precision@10" and "precision@k" name the same metric; only the k differs.
    text = re.sub(r"@\s*\d+\b", "@k", text)
    text = text.replace("@", " at ")
    return re.sub(r"[^a-z0-9]", "", text)


def _build_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for entry in GLOSSARY.values():
        for name in (entry.key, entry.title, entry.short, *entry.aliases):
            compact = _compact(name)
            if compact:
                # The first entry to claim a spelling keeps it; tests check aliases do not collide.
                index.setdefault(compact, entry.key)
    return index


_INDEX: Mapping[str, str] = MappingProxyType(_build_index())

# A misspelling is corrected without asking only when it is this close to exactly one entry.
_AUTOCORRECT_RATIO = 0.85
_SUGGEST_CUTOFF = 0.6
_MAX_SUGGESTIONS = 3


def _exact_key(compact: str) -> str | None:
    if compact in _INDEX:
        return _INDEX[compact]
    # Plurals: "guardrails", "precisions at k" are asked as often as the singular.
    if compact.endswith("s") and compact[:-1] in _INDEX:
        return _INDEX[compact[:-1]]
    return None


def _ranked_keys(compact: str, cutoff: float) -> list[tuple[float, str]]:
    """Glossary keys by best spelling similarity to ``compact``, best first."""
    best: dict[str, float] = {}
    matcher = difflib.SequenceMatcher(b=compact)
    for spelling, key in _INDEX.items():
        matcher.set_seq1(spelling)
        if matcher.real_quick_ratio() < cutoff or matcher.quick_ratio() < cutoff:
            continue
        ratio = matcher.ratio()
        if ratio >= cutoff and ratio > best.get(key, 0.0):
            best[key] = ratio
    return sorted(((ratio, key) for key, ratio in best.items()), key=lambda item: (-item[0], item[1]))


def lookup(term: str) -> LookupResult:
    """Find the glossary entry a user's term names.

    Forgiving about case, spacing, hyphens, underscores and punctuation, and about aliases
    (``fpr``, ``f-1``, ``auroc``, ``precision@10``, ``click-through rate``). A misspelling close to
    exactly one entry is corrected (``exact=False``); otherwise an unknown term gives no entry and
    up to three suggestions. Never raises.

    Parameters
    ----------
    term : str
        What the user typed.

    Returns
    -------
    LookupResult

    Examples
    --------
    >>> lookup("F-1 Score").entry.key
    'f1'
    >>> lookup("precsion").entry.key
    'precision'
    >>> lookup("banana").entry is None
    True
    """
    if not (term or "").strip():
        return LookupResult(entry=None, suggestions=COMMON_TERMS)
    compact = _compact(term)
    if not compact:
        # Only punctuation: nothing to match against, but still an answer the user can click.
        return LookupResult(entry=None, suggestions=COMMON_TERMS[:_MAX_SUGGESTIONS])
    key = _exact_key(compact)
    if key is not None:
        return LookupResult(entry=GLOSSARY[key])
    ranked = _ranked_keys(compact, _SUGGEST_CUTOFF)
    if ranked:
        best_ratio, best_key = ranked[0]
        runner_up = ranked[1][0] if len(ranked) > 1 else 0.0
        # Short terms are too easy to confuse ("mae" and "mape") to correct silently.
        if best_ratio >= _AUTOCORRECT_RATIO and best_ratio - runner_up >= 0.05 and len(compact) >= 4:
            others = tuple(k for _, k in ranked[1 : 1 + _MAX_SUGGESTIONS])
            return LookupResult(entry=GLOSSARY[best_key], suggestions=others, exact=False)
        return LookupResult(entry=None, suggestions=tuple(k for _, k in ranked[:_MAX_SUGGESTIONS]))
    loose = _ranked_keys(compact, 0.3)
    suggestions = tuple(k for _, k in loose[:_MAX_SUGGESTIONS]) or COMMON_TERMS[:_MAX_SUGGESTIONS]
    return LookupResult(entry=None, suggestions=suggestions)


# --- readings -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """The numbers behind one explanation, taken from a stored snapshot.

    Attributes
    ----------
    value : float or None
        The metric's value in the window (a fraction for rates: 0.91, not 91).
    sample_size : float or None
        Rows behind the value.
    tp, fp, tn, fn : float or None
        Confusion counts of the window at the operating threshold (classification only).
    window_start, window_end : date, datetime, str or None
        The window the numbers describe.
    threshold : float or None
        The score threshold the counts were taken at.
    """

    value: float | None
    sample_size: float | None = None
    tp: float | None = None
    fp: float | None = None
    tn: float | None = None
    fn: float | None = None
    window_start: date | datetime | str | None = None
    window_end: date | datetime | str | None = None
    threshold: float | None = None

    def __post_init__(self) -> None:
        for name in ("value", "sample_size", "threshold"):
            number = getattr(self, name)
            if number is not None and not math.isfinite(number):
                raise ValueError(f"Reading.{name} must be a finite number, got {number!r}")
        for name in ("sample_size", "tp", "fp", "tn", "fn"):
            number = getattr(self, name)
            if number is not None and (not math.isfinite(number) or number < 0):
                raise ValueError(f"Reading.{name} must be a count >= 0, got {number!r}")

    @property
    def has_counts(self) -> bool:
        """All four confusion counts are known and at least one is non-zero."""
        counts = (self.tp, self.fp, self.tn, self.fn)
        return all(c is not None for c in counts) and sum(counts) > 0  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Counts:
    tp: float
    fp: float
    tn: float
    fn: float

    @property
    def total(self) -> float:
        return self.tp + self.fp + self.tn + self.fn

    @staticmethod
    def _ratio(numerator: float, denominator: float) -> float | None:
        # An empty denominator means the rate is undefined for this window; say nothing rather than 0.
        return numerator / denominator if denominator > 0 else None

    def rate(self, key: str) -> float | None:
        tp, fp, tn, fn = self.tp, self.fp, self.tn, self.fn
        precision = self._ratio(tp, tp + fp)
        recall = self._ratio(tp, tp + fn)
        specificity = self._ratio(tn, tn + fp)
        if key == "precision":
            return precision
        if key == "recall":
            return recall
        if key == "specificity":
            return specificity
        if key in ("false_positive_rate", "false_reject_rate"):
            return self._ratio(fp, fp + tn)
        if key in ("false_negative_rate", "false_accept_rate"):
            return self._ratio(fn, fn + tp)
        if key == "accuracy":
            return self._ratio(tp + tn, self.total)
        if key == "prevalence":
            return self._ratio(tp + fn, self.total)
        if key == "balanced_accuracy":
            if recall is None or specificity is None:
                return None
            return (recall + specificity) / 2
        if key == "f1":
            return self._ratio(2 * tp, 2 * tp + fp + fn)
        return None


# --- words --------------------------------------------------------------------------------


def _plural(phrase: str) -> str:
    """Pluralise the last word of a noun phrase: 'legitimate customer' -> 'legitimate customers'."""
    head, _, last = phrase.rpartition(" ")
    lower = last.lower()
    if re.search(r"[^aeiou]y$", lower):
        last = last[:-1] + "ies"
    elif re.search(r"(s|x|z|ch|sh)$", lower):
        last = last + "es"
    else:
        last = last + "s"
    return f"{head} {last}" if head else last


def _article(phrase: str) -> str:
    return "an" if phrase[:1].lower() in "aeiou" else "a"


def _gerund(verb: str) -> str:
    """'block' -> 'blocking', 'escalate' -> 'escalating', 'flag' -> 'flagging'."""
    head, _, last = verb.rpartition(" ")
    if last.endswith("e") and not last.endswith(("ee", "ye", "oe")) and len(last) > 2:
        last = last[:-1] + "ing"
    elif re.search(r"[^aeiou][aeiou][bdgkmnprt]$", last) and len(last) <= 4:
        # Same short-verb rule as BusinessTerms.acted, so 'flag' gives 'flagged' and 'flagging'.
        last = last + last[-1] + "ing"
    else:
        last = last + "ing"
    return f"{head} {last}" if head else last


@dataclass(frozen=True)
class _Words:
    unit: str
    units: str
    positive: str
    positives: str
    negative: str
    negatives: str
    action: str
    acted: str
    acting: str
    fp_means: str
    fn_means: str

    @classmethod
    def from_business(cls, business: BusinessTerms) -> _Words:
        return cls(
            unit=business.unit,
            units=business.units,
            positive=business.positive,
            positives=_plural(business.positive),
            negative=business.negative,
            negatives=_plural(business.negative),
            action=business.action,
            acted=business.acted,
            acting=_gerund(business.action),
            fp_means=business.false_positive_cost_means,
            fn_means=business.false_negative_cost_means,
        )

    def as_template_values(self) -> dict[str, str]:
        return {
            "unit": self.unit,
            "units": self.units,
            "positive": self.positive,
            "positives": self.positives,
            "negative": self.negative,
            "negatives": self.negatives,
            "action": self.action,
            "acted": self.acted,
            "acting": self.acting,
        }

    def emphasis(self) -> tuple[str, ...]:
        """The team's words, longest first, for bolding in Slack."""
        words = {self.positives, self.positive, self.negatives, self.negative, self.acted, self.action}
        return tuple(sorted((w for w in words if w), key=len, reverse=True))


# Without a contract the sentences still need nouns; these are the field's neutral ones.
_GENERIC_WORDS = _Words(
    unit="case",
    units="cases",
    positive="positive case",
    positives="positive cases",
    negative="negative case",
    negatives="negative cases",
    action="flag",
    acted="flagged",
    acting="flagging",
    fp_means="cost of a false positive",
    fn_means="cost of a missed positive",
)

# --- number formatting --------------------------------------------------------------------

_CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}


def _nearest(x: float) -> int:
    """Round half up: 8.5 people is 9, not Python's banker's 8."""
    return int(math.floor(x + 0.5))


def _round_significant(x: float, digits: int) -> float:
    if x == 0:
        return 0.0
    magnitude = math.floor(math.log10(abs(x)))
    factor = 10.0 ** (magnitude - digits + 1)
    return _nearest(x / factor) * factor


def format_count(x: float) -> str:
    """A per-week count rounded to what it means: 1,347.2 -> '1,350', 87.4 -> '87'.

    Weekly counts are scaled estimates, so more than three significant figures would be false
    precision; below 1 the honest answer is 'fewer than 1'.

    Examples
    --------
    >>> format_count(1347.2), format_count(87.4), format_count(0.3)
    ('1,350', '87', 'fewer than 1')
    """
    if x <= 0:
        return "0"
    if x < 1:
        return "fewer than 1"
    if x < 1000:
        return f"{_nearest(x):,}"
    return f"{_nearest(_round_significant(x, 3)):,}"


def format_money(amount: float, currency: str | None = "USD") -> str:
    """Money in the contract's currency: '$20,250', '€15', '£2.50', '20,250 CHF'.

    Whole units from 100 up, so that the parts of a weekly total add up to the total as shown;
    cents below 100 when there are any; two significant figures below one cent, so a cost per
    inference of 0.0021 is not shown as 0.00. ``currency=None`` gives the bare number.

    Examples
    --------
    >>> format_money(20250), format_money(2.5, "GBP"), format_money(20250, "CHF")
    ('$20,250', '£2.50', '20,250 CHF')
    """
    sign = "−" if amount < 0 else ""
    amount = abs(amount)
    if amount == 0:
        digits = "0"
    elif amount < 0.01:
        digits = f"{amount:.2g}"
    elif amount < 100 and not math.isclose(amount, round(amount), abs_tol=1e-9):
        digits = f"{amount:,.2f}"
    else:
        digits = f"{_nearest(amount):,}"
    if currency is None:
        return sign + digits
    code = currency.upper()
    symbol = _CURRENCY_SYMBOLS.get(code)
    return f"{sign}{symbol}{digits}" if symbol else f"{sign}{digits} {code}"


def _format_number(x: float) -> str:
    """A metric value: 0.91, 0.018, 87, 1,350, 0.9995 (never rounded onto 0 or 1 when it is not)."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    magnitude = abs(x)
    if magnitude >= 1000:
        return f"{x:,.0f}"
    if magnitude >= 100:
        return f"{x:.0f}"
    if magnitude >= 1:
        return f"{x:.2f}".rstrip("0").rstrip(".")
    for decimals in range(3, 8):
        text = f"{x:.{decimals}f}".rstrip("0").rstrip(".")
        rounded = float(text)
        if rounded not in (0.0, 1.0, -1.0) or decimals == 7:
            return text
    return f"{x:g}"  # pragma: no cover - loop always returns


def _format_percent(x: float, *, signed: bool = False) -> str:
    """Three significant figures at most: 0.8198 -> '82%', 0.018 -> '1.8%', 0.0012 -> '0.12%'."""
    pct = 100 * x
    magnitude = abs(pct)
    if magnitude >= 100:
        text = f"{magnitude:.0f}"
    elif magnitude >= 10:
        text = f"{magnitude:.1f}".rstrip("0").rstrip(".")
    elif magnitude >= 1:
        text = f"{magnitude:.2f}".rstrip("0").rstrip(".")
    else:
        text = _format_number(magnitude)
    sign = ("+" if pct > 0 else "−" if pct < 0 else "") if signed else ("−" if pct < 0 else "")
    return f"{sign}{text}%"


def _format_volume(x: float) -> str:
    return f"{_nearest(x):,}"


def _per_base(share: float) -> tuple[int, int]:
    """Pick 'of every N' so the smaller side is shown to within 10%.

    0.09 -> (100, 9); 0.018 -> (1000, 18) rather than "2 of every 100", which would overstate it by
    a tenth; 0.001 -> (1000, 1).
    """
    smaller = min(share, 1 - share)
    base = 100
    while smaller > 0 and base < 1_000_000:
        exact = base * smaller
        if _nearest(exact) >= 1 and abs(_nearest(exact) - exact) <= 0.1 * exact:
            break
        base *= 10
    return base, _nearest(base * share)


def _is_are(n: int) -> str:
    return "is" if n == 1 else "are"


def _one_or_many(n: int, singular: str, plural: str) -> str:
    """'1 is a legitimate customer', '9 are legitimate customers', 'none are legitimate customers'."""
    if n == 0:
        return f"none are {plural}"
    if n == 1:
        return f"1 is {_article(singular)} {singular}"
    return f"{n:,} are {plural}"


def _share_of(share: float, words: _Words) -> str:
    """'1 in 1,000 transactions is a fraudulent transaction' or '11% of transactions are fraudulent transactions'."""
    if share <= 0:
        return f"none of the {words.units} are {words.positives}"
    if share < 0.1:
        one_in = _nearest(_round_significant(1 / share, 2))
        return f"1 in {one_in:,} {words.units} is {_article(words.positive)} {words.positive}"
    return f"{_format_percent(share)} of {words.units} are {words.positives}"


def _lower_first(text: str) -> str:
    """Lower-case a sentence's first letter unless it starts an acronym ('ROC', 'PSI')."""
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _format_when(when: date | datetime | str) -> str:
    if isinstance(when, datetime):
        return when.strftime("%Y-%m-%d %H:%M") if (when.hour or when.minute) else when.strftime("%Y-%m-%d")
    if isinstance(when, date):
        return when.isoformat()
    return str(when)


# --- explanation --------------------------------------------------------------------------


@dataclass(frozen=True)
class Explanation:
    """A glossary entry rendered for one team, ready for Block Kit or plain mrkdwn.

    Attributes
    ----------
    term : str
        The glossary key, or the term as asked when it is unknown.
    title : str
        The entry's title, or the metric's when a contract metric has no glossary entry.
    headline : str
        One sentence: with numbers when there are any, else the definition (in the team's words
        when a contract is given).
    definition, formula, when_right, misleads : str
        From the glossary entry.
    in_your_terms : str
        The definition in the contract's words; empty without a contract.
    numbers : tuple of (label, value) pairs
        Display-ready figures, e.g. ("Legitimate customers blocked per week", "≈ 1,350").
    weekly : dict
        Raw weekly figures when computable: ``false_positives_per_week``,
        ``false_negatives_per_week``, ``cost_fp_per_week``, ``cost_fn_per_week``,
        ``total_cost_per_week`` (and ``inference_cost_per_week`` for cost per inference).
    suggestions : tuple of str
        Glossary keys to offer when the term was unknown or corrected.
    contract_context : tuple of (label, value) pairs
        Where the metric sits in the contract: ("Role", "guardrail"), ("Bound", "≤ 0.02"), …
    related : tuple of str
        Keys of related glossary entries.
    found : bool
        False when the term matched neither the glossary nor a contract metric.
    corrected : bool
        True when the term was a misspelling that was corrected.
    emphasis : tuple of str
        The contract's words, bolded by :meth:`to_markdown`.
    asked : str
        The term as the user typed it.
    """

    term: str
    title: str
    headline: str
    definition: str = ""
    formula: str = ""
    in_your_terms: str = ""
    when_right: str = ""
    misleads: str = ""
    numbers: tuple[tuple[str, str], ...] = ()
    weekly: dict[str, float] = field(default_factory=dict)
    suggestions: tuple[str, ...] = ()
    contract_context: tuple[tuple[str, str], ...] = ()
    related: tuple[str, ...] = ()
    found: bool = True
    corrected: bool = False
    emphasis: tuple[str, ...] = ()
    asked: str = ""

    def to_markdown(self) -> str:
        """Slack mrkdwn: *bold* section names, the contract's words bolded, text escaped."""
        title = f"*{_escape(self.title)}*"
        if self.corrected and self.asked:
            title += f" (closest match to “{_escape(self.asked.strip())}”)"
        lines = [title, self._emphasise(self.headline)]
        if self.in_your_terms and self.in_your_terms != self.headline:
            lines.append(f"*In your terms:* {self._emphasise(self.in_your_terms)}")
        if self.definition:
            lines.append(f"*What it is:* {_escape(self.definition)}")
        if self.formula:
            lines.append(f"*Formula:* `{_escape(self.formula).replace('`', chr(39))}`")
        if self.numbers:
            lines.append("*Numbers*")
            lines.extend(f"• {_escape(label)}: {_escape(value)}" for label, value in self.numbers)
        if self.contract_context:
            lines.append("*In the contract*")
            lines.extend(f"• {_escape(label)}: {_escape(value)}" for label, value in self.contract_context)
        if self.when_right:
            lines.append(f"*When it's the right metric:* {_escape(self.when_right)}")
        if self.misleads:
            lines.append(f"*When it misleads:* {_escape(self.misleads)}")
        if self.suggestions:
            label = "Did you mean" if not self.found else "See also"
            lines.append(f"*{label}:* " + ", ".join(_escape(_display_key(k)) for k in self.suggestions))
        elif self.related:
            lines.append("*Related:* " + ", ".join(_escape(_display_key(k)) for k in self.related))
        return "\n".join(lines)

    def _emphasise(self, text: str) -> str:
        escaped = _escape(text)
        words = [_escape(w) for w in self.emphasis if w]
        if not words:
            return escaped
        pattern = r"(?<![\w*])(" + "|".join(re.escape(w) for w in words) + r")(?![\w*])"
        return re.sub(pattern, r"*\1*", escaped)


def _escape(text: str) -> str:
    """Slack's three control characters; everything else is literal in mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _display_key(key: str) -> str:
    entry = GLOSSARY.get(key)
    return entry.name if entry is not None else key


# --- contract metrics ---------------------------------------------------------------------

_DISTRIBUTION_KEYS = {"psi": "psi", "kl": "kl_divergence", "js": "js_divergence"}
_ROLE_KEYS = {
    Role.NORTH_STAR: "north_star",
    Role.GUARDRAIL: "guardrail",
    Role.ANTI_GAMING: "counter_metric",
}


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", text.lower()) if t]


def _entry_for_metric(metric: Metric) -> GlossaryEntry | None:
    """The glossary entry that explains a contract metric: its statistic, else its name, else its role."""
    statistic: str | None = None
    if metric.kind is Kind.CLASSIFICATION:
        statistic = metric.spec().statistic  # type: ignore[union-attr]
    elif metric.kind in (Kind.RANKING, Kind.REGRESSION):
        statistic = metric.spec().statistic  # type: ignore[union-attr]
    elif metric.kind is Kind.DISTRIBUTION:
        statistic = _DISTRIBUTION_KEYS.get(metric.spec().statistic)  # type: ignore[union-attr]
    elif metric.kind is Kind.EXPERIMENT:
        statistic = "lift"
    if statistic is not None and statistic in GLOSSARY:
        return GLOSSARY[statistic]
    # Value metrics: a whole-token match on the name or label ("scoring latency p95" -> p95), so
    # that a short alias such as "ap" cannot match inside a word such as "appeal".
    best: tuple[int, str] | None = None
    for text in (metric.name, metric.label or ""):
        tokens = _tokens(text)
        for spelling_key in GLOSSARY.values():
            for spelling in (spelling_key.key, spelling_key.title, *spelling_key.aliases):
                wanted = _tokens(spelling)
                if not wanted or len(wanted) > len(tokens):
                    continue
                width = len(wanted)
                if any(tokens[i : i + width] == wanted for i in range(len(tokens) - width + 1)):
                    score = len("".join(wanted))
                    if best is None or score > best[0]:
                        best = (score, spelling_key.key)
    if best is not None:
        return GLOSSARY[best[1]]
    role_key = _ROLE_KEYS.get(metric.role)
    return GLOSSARY[role_key] if role_key else None


def _find_metric(contract: Contract, term: str) -> Metric | None:
    wanted = _compact(term)
    if not wanted:
        return None
    for metric in contract.metrics:
        if wanted in (_compact(metric.name), _compact(metric.label or "")):
            return metric
    return None


def _direction_phrase(direction: Direction) -> str:
    return "lower is better" if direction is Direction.DECREASE else "higher is better"


def _role_phrase(role: Role) -> str:
    return role.value.replace("_", " ")


def _metric_context(contract: Contract, metric: Metric) -> tuple[tuple[str, str], ...]:
    rows: list[tuple[str, str]] = [
        ("Metric", metric.title),
        ("Role", _role_phrase(metric.role)),
        ("Layer", metric.layer.value),
        ("Direction", _direction_phrase(metric.direction)),
    ]
    if metric.bound is not None:
        rows.append(("Bound", metric.bound.describe(contract.baseline_value(metric))))
    spec = metric.spec()
    threshold = getattr(spec, "threshold", None)
    if threshold is not None:
        rows.append(("Threshold", _format_number(threshold)))
    disparity = getattr(spec, "max_disparity", None)
    if disparity is not None:
        rows.append(("Disparity bound", f"highest segment ≤ {disparity:g}× lowest"))
    k = getattr(spec, "k", None)
    if k is not None:
        rows.append(("k", str(k)))
    if metric.launch_baseline is not None:
        rows.append(("Launch baseline", _format_metric_value(metric.launch_baseline, metric, None, contract)))
    return tuple(rows)


def _usage_context(contract: Contract, entry: GlossaryEntry) -> tuple[tuple[str, str], ...]:
    """Which of the contract's metrics this term describes, when no single metric was named."""
    users = [m for m in contract.metrics if _entry_for_metric(m) is entry and entry.key not in _ROLE_KEYS.values()]
    if not users:
        return ()
    described = ", ".join(f"{m.title} ({_role_phrase(m.role)})" for m in users)
    return (("In this contract", described),)


# --- rendering ----------------------------------------------------------------------------

_PERCENT_KEYS = frozenset({"ctr", "conversion_rate", "mape"})


def _format_metric_value(value: float, metric: Metric | None, entry: GlossaryEntry | None, contract: Contract | None) -> str:
    unit = metric.unit if metric is not None else ""
    key = entry.key if entry is not None else ""
    if unit == "%" or (not unit and key in _PERCENT_KEYS):
        return _format_percent(value)
    if key == "lift" and not unit:
        return _format_percent(value, signed=True)
    if unit in ("$", "€", "£") or (not unit and key == "cost_per_inference" and contract is not None):
        currency = {"$": "USD", "€": "EUR", "£": "GBP"}.get(unit) or (contract.business.currency if contract else "USD")
        return format_money(value, currency)
    if unit == "ms" or (not unit and key == "p95_latency"):
        return f"{_format_number(value)} ms"
    if unit and unit not in ("%",):
        return f"{_format_number(value)} {unit}"
    return _format_number(value)


@dataclass(frozen=True)
class _Context:
    entry: GlossaryEntry
    words: _Words
    contract: Contract | None
    metric: Metric | None
    value: float | None
    counts: _Counts | None
    weekly: Mapping[str, float]

    @property
    def name(self) -> str:
        return _upper_first(self.metric.title) if self.metric is not None else self.entry.name

    @property
    def value_text(self) -> str:
        assert self.value is not None
        return _format_metric_value(self.value, self.metric, self.entry, self.contract)

    @property
    def lead(self) -> str:
        return f"{self.name} {self.value_text}"

    @property
    def business(self) -> BusinessTerms | None:
        return self.contract.business if self.contract is not None else None

    @property
    def k(self) -> int | None:
        if self.metric is not None and self.metric.kind is Kind.RANKING:
            return self.metric.spec().k  # type: ignore[union-attr]
        return None

    def money(self, amount: float) -> str:
        return format_money(amount, self.business.currency if self.business else None)

    def _cost_phrase(self, amount: float, unit_cost: float, means: str) -> str:
        each = self.money(unit_cost)
        if means.lower().startswith("cost"):
            return f"{self.money(amount)} in costs at {each} each"
        return f"{self.money(amount)} of {means} at {each} each"

    def fp_tail(self, qualifier: str = "") -> str:
        """' — about 1,350 a week at 150,000 transactions, $20,250 of manual review at $15 each'."""
        business = self.business
        if business is None or "false_positives_per_week" not in self.weekly:
            return ""
        per_week = self.weekly["false_positives_per_week"]
        tail = f" — about {format_count(per_week)}{qualifier} a week at {_format_volume(business.weekly_volume)} {self.words.units}"
        if business.cost_false_positive > 0:
            tail += ", " + self._cost_phrase(self.weekly["cost_fp_per_week"], business.cost_false_positive, self.words.fp_means)
        return tail

    def fn_tail(self, qualifier: str = "") -> str:
        business = self.business
        if business is None or "false_negatives_per_week" not in self.weekly:
            return ""
        per_week = self.weekly["false_negatives_per_week"]
        tail = f" — about {format_count(per_week)}{qualifier} a week at {_format_volume(business.weekly_volume)} {self.words.units}"
        if business.cost_false_negative > 0:
            tail += ", " + self._cost_phrase(self.weekly["cost_fn_per_week"], business.cost_false_negative, self.words.fn_means)
        return tail


Headline = Callable[[_Context], "str | None"]


def _precision(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    w = ctx.words
    base, wrong = _per_base(1 - ctx.value)
    return f"{ctx.lead}: of every {base:,} {w.units} we {w.action}, {_one_or_many(wrong, w.negative, w.negatives)}{ctx.fp_tail()}."


def _recall(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    w = ctx.words
    base, caught = _per_base(ctx.value)
    missed = base - caught
    return f"{ctx.lead}: of every {base:,} {w.positives}, we {w.action} {caught:,} and miss {missed:,}{ctx.fn_tail(' missed')}."


def _false_positive_rate(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    w = ctx.words
    base, wrong = _per_base(ctx.value)
    verb = "wrongly " + w.action if ctx.entry.key == "false_reject_rate" else w.action
    return f"{ctx.lead}: of every {base:,} {w.negatives}, we {verb} {wrong:,}{ctx.fp_tail()}."


def _false_negative_rate(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    w = ctx.words
    base, missed = _per_base(ctx.value)
    if ctx.entry.key == "false_accept_rate":
        gets = "gets" if missed == 1 else "get"
        clause = f"{missed:,} {gets} through without being {w.acted}"
    else:
        clause = f"{missed:,} {_is_are(missed)} not {w.acted}"
    return f"{ctx.lead}: of every {base:,} {w.positives}, {clause}{ctx.fn_tail()}."


def _specificity(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    w = ctx.words
    base, spared = _per_base(ctx.value)
    return f"{ctx.lead}: of every {base:,} {w.negatives}, we leave {spared:,} alone and {w.action} {base - spared:,}{ctx.fp_tail()}."


def _accuracy(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    w = ctx.words
    base, right = _per_base(ctx.value)
    sentence = f"{ctx.lead}: we make the right call on {right:,} of every {base:,} {w.units}"
    prevalence = ctx.counts.rate("prevalence") if ctx.counts is not None else None
    if prevalence is not None and prevalence < 0.5:
        do_nothing = 1 - prevalence
        sentence += f" — but only {_share_of(prevalence, w)}, so never {w.acting} anything would score {_format_number(do_nothing)}"
        if do_nothing >= ctx.value:
            sentence += ", as well as this model or better"
    return sentence + "."


def _both_errors_tail(ctx: _Context) -> str:
    business = ctx.business
    if business is None or "false_positives_per_week" not in ctx.weekly:
        return ""
    w = ctx.words
    fp_text = f"about {format_count(ctx.weekly['false_positives_per_week'])} {w.negatives} {w.acted}"
    fn_text = f"{format_count(ctx.weekly['false_negatives_per_week'])} {w.positives} missed"
    money = ""
    if business.cost_false_positive > 0 or business.cost_false_negative > 0:
        money = (
            f" ({ctx.money(ctx.weekly['cost_fp_per_week'])} + {ctx.money(ctx.weekly['cost_fn_per_week'])}"
            f" = {ctx.money(ctx.weekly['total_cost_per_week'])})"
        )
    return f"; each week that is {fp_text} and {fn_text}{money}"


def _f1(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    sentence = f"{ctx.lead}: high only when precision and recall are both high"
    if ctx.counts is not None:
        precision, recall = ctx.counts.rate("precision"), ctx.counts.rate("recall")
        if precision is not None and recall is not None:
            sentence += f" — here precision {_format_number(precision)} and recall {_format_number(recall)}"
    return sentence + _both_errors_tail(ctx) + "."


def _balanced_accuracy(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    w = ctx.words
    sentence = f"{ctx.lead}: the average of the share of {w.positives} we {w.action} and the share of {w.negatives} we leave alone (0.5 is a coin toss)"
    if ctx.counts is not None:
        recall, specificity = ctx.counts.rate("recall"), ctx.counts.rate("specificity")
        if recall is not None and specificity is not None:
            sentence += f" — here {_format_number(recall)} and {_format_number(specificity)}"
    return sentence + _both_errors_tail(ctx) + "."


def _prevalence(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    w = ctx.words
    sentence = f"{ctx.lead}: {_share_of(ctx.value, w)}"
    if ctx.business is not None:
        sentence += f" — about {format_count(ctx.value * ctx.business.weekly_volume)} a week at {_format_volume(ctx.business.weekly_volume)} {w.units}"
    return sentence + "."


def _roc_auc(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    w = ctx.words
    n = _nearest(100 * ctx.value)
    return (
        f"{ctx.lead}: pick one {w.positive} and one {w.negative} at random, and {n} times in 100 the model "
        f"scores the {w.positive} higher (50 is a coin toss)."
    )


def _average_precision(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    w = ctx.words
    n = _nearest(100 * ctx.value)
    sentence = f"{ctx.lead}: going down the ranking, about {n} of every 100 {w.units} ranked above each {w.positive} really are {w.positives}"
    prevalence = ctx.counts.rate("prevalence") if ctx.counts is not None else None
    if prevalence is not None:
        sentence += f"; a random ranking would score the prevalence, {_format_number(prevalence)}"
    return sentence + "."


def _log_loss(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    sentence = f"{ctx.lead} nats per {ctx.words.unit} (lower is better)"
    prevalence = ctx.counts.rate("prevalence") if ctx.counts is not None else None
    if prevalence is not None and 0 < prevalence < 1:
        base_rate_loss = -(prevalence * math.log(prevalence) + (1 - prevalence) * math.log(1 - prevalence))
        sentence += f"; always predicting the base rate would score {_format_number(base_rate_loss)}"
    return sentence + "."


def _ndcg(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    top = f"the top {ctx.k}" if ctx.k else "the top k"
    return f"{ctx.lead}: the ranking earns {_format_percent(ctx.value)} of the gain a perfect ordering of {top} would."


def _mrr(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    if ctx.value <= 0:
        return f"{ctx.lead}: no relevant result appears in the lists at all."
    return f"{ctx.lead}: the first relevant result sits at about position {1 / ctx.value:.1f} (harmonic average)."


def _precision_at_k(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    if ctx.k:
        return f"{ctx.lead}: of the top {ctx.k} results, on average {_format_number(ctx.value * ctx.k)} are relevant."
    base, relevant = _per_base(ctx.value)
    return f"{ctx.lead}: of every {base:,} results in the top k, {relevant:,} {_is_are(relevant)} relevant."


def _recall_at_k(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    top = f"top {ctx.k}" if ctx.k else "top k"
    return f"{ctx.lead}: the {top} results hold {_format_percent(ctx.value)} of everything relevant."


def _rmse(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    return f"{ctx.lead}: a typical prediction is off by about {ctx.value_text}, large misses weighted more."


def _mae(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    return f"{ctx.lead}: on average a prediction is off by {ctx.value_text}."


def _mape(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    return f"{ctx.lead}: on average a prediction is off by {_format_percent(ctx.value)} of the actual value."


def _mean_error(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    if ctx.value == 0:
        return f"{ctx.lead}: no lean either way on average (large errors can still cancel out)."
    lean = "over-predicts" if ctx.value > 0 else "under-predicts"
    size = _format_metric_value(abs(ctx.value), ctx.metric, ctx.entry, ctx.contract)
    return f"{ctx.lead}: the model {lean} by {size} on average."


def _psi(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    if ctx.value < PSI_STABLE:
        verdict = f"stable against the reference window (below {PSI_STABLE:g})"
    elif ctx.value < PSI_SIGNIFICANT:
        verdict = (
            f"a moderate shift from the reference window ({PSI_STABLE:g}–{PSI_SIGNIFICANT:g}), worth "
            f"investigating before it reaches {PSI_SIGNIFICANT:g}"
        )
    else:
        verdict = (
            f"a significant shift from the reference window ({PSI_SIGNIFICANT:g} or more): check the pipeline "
            "and whether the model needs retraining"
        )
    return f"{ctx.lead}: {verdict}."


def _kl(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    return f"{ctx.lead} nats: how far the distribution has moved from the reference (0 means unchanged; there is no upper limit)."


def _js(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    share = min(ctx.value / math.log(2), 1.0)
    return (
        f"{ctx.lead} nats: the distribution has moved {_format_percent(share)} of the way from identical (0) "
        f"to no overlap at all (ln 2 ≈ 0.69)."
    )


def _ks(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    return f"{ctx.lead}: at the point where they differ most, the two cumulative distributions are {_format_percent(ctx.value)} apart."


def _lift(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    subject = ctx.metric.title if ctx.metric is not None else "the metric"
    name = f"Lift on {ctx.metric.title}" if ctx.metric is not None else ctx.entry.name
    pct = _format_percent(abs(ctx.value))
    if ctx.value == 0:
        change = f"{subject} is the same with the change as in the control"
    else:
        change = f"{subject} is {pct} {'higher' if ctx.value > 0 else 'lower'} with the change than in the control"
    return f"{name} {_format_percent(ctx.value, signed=True)}: {change} — read it with its confidence interval, not as a point estimate."


def _alpha(ctx: _Context) -> float | None:
    return ctx.contract.launch.alpha if ctx.contract is not None else None


def _confidence_interval(ctx: _Context) -> str | None:
    alpha = _alpha(ctx)
    level = f"{_format_percent(1 - alpha)} " if alpha is not None else ""
    if ctx.value is not None:
        return f"{ctx.entry.name} ± {_format_number(ctx.value)}: the {level}interval runs that far either side of the estimate; effects inside it cannot be ruled out."
    if ctx.contract is not None:
        return f"Launch decisions for {ctx.contract.display_name} report each lift with a {level}confidence interval: a win is an interval that excludes zero, not a number that went up."
    return None


def _p_value(ctx: _Context) -> str | None:
    alpha = _alpha(ctx)
    if ctx.value is not None:
        base, n = _per_base(ctx.value)
        sentence = f"{ctx.lead}: if the change did nothing, a difference at least this large would turn up about {n:,} times in {base:,} by chance"
        if alpha is not None:
            side = "below" if ctx.value < alpha else "not below"
            sentence += f" — {side} this contract's α of {alpha:g}"
        return sentence + "."
    if alpha is not None and ctx.contract is not None:
        return f"Launch decisions for {ctx.contract.display_name} call a difference significant when p < {alpha:g}."
    return None


def _experiments_sentence(ctx: _Context) -> str:
    if ctx.contract is None:
        return ""
    sized = [e for e in ctx.contract.experiments if e.minimum_detectable_effect is not None]
    if not sized:
        return ""
    return "; ".join(
        f"experiment {e.name} is sized to detect a {_format_percent(e.minimum_detectable_effect)} relative lift"  # type: ignore[arg-type]
        for e in sized
    )


def _statistical_power(ctx: _Context) -> str | None:
    sized = _experiments_sentence(ctx)
    if ctx.value is not None:
        base, detected = _per_base(ctx.value)
        sentence = f"{ctx.lead}: if the effect is real and as large as planned, the test detects it {detected:,} times in {base:,} and misses it {base - detected:,}"
        return sentence + (f"; {sized}" if sized else "") + "."
    if sized:
        return _upper_first(sized) + "."
    return None


def _sequential_testing(ctx: _Context) -> str | None:
    if ctx.contract is None or not ctx.contract.experiments:
        return None
    parts = []
    for experiment in ctx.contract.experiments:
        if experiment.sequential:
            parts.append(f"experiment {experiment.name} uses always-valid p-values, so the weekly audit can read it every week without inflating false alarms")
        else:
            parts.append(f"experiment {experiment.name} is a fixed-horizon test: read it once, at its planned size, because weekly peeks inflate false alarms")
    return _upper_first("; ".join(parts)) + "."


def _north_star(ctx: _Context) -> str | None:
    if ctx.contract is None:
        return None
    metric = ctx.metric if ctx.metric is not None and ctx.metric.role is Role.NORTH_STAR else ctx.contract.north_star
    if metric is None:
        return f"{ctx.contract.display_name} declares no north star yet: name the one metric that says whether the feature is working."
    now = ""
    if ctx.metric is metric and ctx.value is not None:
        now = f", now {ctx.value_text}"
    return (
        f"The north star of {ctx.contract.display_name} is {metric.title} ({metric.layer.value} layer, "
        f"{_direction_phrase(metric.direction)}){now}: the one number that says whether the model is paying off."
    )


def _guardrail(ctx: _Context) -> str | None:
    if ctx.contract is None:
        return None
    if ctx.metric is not None and ctx.metric.role is Role.GUARDRAIL:
        metric = ctx.metric
        bound = metric.bound.describe(ctx.contract.baseline_value(metric)) if metric.bound else "no bound declared"
        now = f", now {ctx.value_text}" if ctx.value is not None else ""
        return f"{_upper_first(metric.title)} is a guardrail of {ctx.contract.display_name}: it must stay {bound}{now}; a breach blocks a launch."
    guardrails = ctx.contract.by_role(Role.GUARDRAIL)
    if not guardrails:
        return f"{ctx.contract.display_name} declares no guardrails: name what a win must not be bought with."
    listed = "; ".join(
        f"{m.title} ({m.bound.describe(ctx.contract.baseline_value(m)) if m.bound else 'no bound'})" for m in guardrails
    )
    return f"The guardrails of {ctx.contract.display_name}, which must not degrade: {listed}."


def _counter_metric(ctx: _Context) -> str | None:
    if ctx.contract is None:
        return None
    if ctx.metric is not None and ctx.metric.role is Role.ANTI_GAMING:
        why = f" {ctx.metric.description}" if ctx.metric.description else ""
        now = f" Now {ctx.value_text}." if ctx.value is not None else ""
        return f"{_upper_first(ctx.metric.title)} is a counter metric: it rises when the north star is being gamed.{why}{now}"
    counters = ctx.contract.by_role(Role.ANTI_GAMING)
    if not counters:
        return f"{ctx.contract.display_name} declares no counter metric: name what would rise if the north star were being gamed."
    listed = ", ".join(m.title for m in counters)
    return f"The counter metrics of {ctx.contract.display_name}, which rise when the north star is being gamed: {listed}."


def _ctr(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    base, clicks = _per_base(ctx.value)
    return f"{ctx.lead}: {clicks:,} of every {base:,} impressions get a click — check that what follows the click (conversion, undo) moves too."


def _conversion_rate(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    base, converted = _per_base(ctx.value)
    who = ctx.words.units if ctx.contract is not None else "visitors"
    verb = "converts" if converted == 1 else "convert"
    return f"{ctx.lead}: {converted:,} of every {base:,} {who} {verb}."


def _p95_latency(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    who = f"{ctx.words.units} are scored" if ctx.contract is not None else "requests are answered"
    sentence = f"{ctx.lead}: 95 of every 100 {who} within {ctx.value_text}"
    if ctx.metric is not None and ctx.metric.bound is not None and ctx.metric.bound.max is not None:
        ceiling = _format_metric_value(ctx.metric.bound.max, ctx.metric, ctx.entry, ctx.contract)
        sentence += f"; the contract's ceiling is {ceiling}"
    return sentence + "."


def _cost_per_inference(ctx: _Context) -> str | None:
    if ctx.value is None:
        return None
    if ctx.business is None:
        return f"{ctx.lead} per prediction: {format_money(ctx.value * 1000, None)} per 1,000 predictions."
    volume = ctx.business.weekly_volume
    return f"{ctx.lead} per {ctx.words.unit}: about {ctx.money(ctx.value * volume)} a week at {_format_volume(volume)} {ctx.words.units}."


_HEADLINES: Mapping[str, Headline] = MappingProxyType(
    {
        "accuracy": _accuracy,
        "balanced_accuracy": _balanced_accuracy,
        "precision": _precision,
        "recall": _recall,
        "f1": _f1,
        "specificity": _specificity,
        "false_positive_rate": _false_positive_rate,
        "false_reject_rate": _false_positive_rate,
        "false_negative_rate": _false_negative_rate,
        "false_accept_rate": _false_negative_rate,
        "prevalence": _prevalence,
        "roc_auc": _roc_auc,
        "average_precision": _average_precision,
        "log_loss": _log_loss,
        "ks_statistic": _ks,
        "ndcg": _ndcg,
        "mrr": _mrr,
        "precision_at_k": _precision_at_k,
        "recall_at_k": _recall_at_k,
        "rmse": _rmse,
        "mae": _mae,
        "mape": _mape,
        "mean_error": _mean_error,
        "psi": _psi,
        "kl_divergence": _kl,
        "js_divergence": _js,
        "lift": _lift,
        "confidence_interval": _confidence_interval,
        "p_value": _p_value,
        "statistical_power": _statistical_power,
        "sequential_testing": _sequential_testing,
        "north_star": _north_star,
        "guardrail": _guardrail,
        "counter_metric": _counter_metric,
        "ctr": _ctr,
        "conversion_rate": _conversion_rate,
        "p95_latency": _p95_latency,
        "cost_per_inference": _cost_per_inference,
    }
)


def _weekly(counts: _Counts | None, business: BusinessTerms | None) -> dict[str, float]:
    if counts is None or business is None or counts.total <= 0:
        return {}
    scale = business.weekly_volume / counts.total
    false_positives = counts.fp * scale
    false_negatives = counts.fn * scale
    cost_fp = false_positives * business.cost_false_positive
    cost_fn = false_negatives * business.cost_false_negative
    return {
        "false_positives_per_week": false_positives,
        "false_negatives_per_week": false_negatives,
        "cost_fp_per_week": cost_fp,
        "cost_fn_per_week": cost_fn,
        "total_cost_per_week": cost_fp + cost_fn,
    }


def _cost_label(means: str) -> str:
    return _upper_first(means if means.lower().startswith("cost") else f"{means} cost") + " per week"


def _numbers(ctx: _Context, reading: Reading | None) -> tuple[tuple[str, str], ...]:
    rows: list[tuple[str, str]] = []
    if ctx.value is not None:
        rows.append((ctx.name, ctx.value_text))
    w = ctx.words
    story = ctx.entry.story
    if story is not None and ctx.weekly:
        fp_rows = [
            (_upper_first(f"{w.negatives} {w.acted} per week"), f"≈ {format_count(ctx.weekly['false_positives_per_week'])}"),
            (_cost_label(w.fp_means), ctx.money(ctx.weekly["cost_fp_per_week"])),
        ]
        fn_rows = [
            (_upper_first(f"{w.positives} missed per week"), f"≈ {format_count(ctx.weekly['false_negatives_per_week'])}"),
            (_cost_label(w.fn_means), ctx.money(ctx.weekly["cost_fn_per_week"])),
        ]
        if story is Story.FALSE_POSITIVES:
            rows.extend(fp_rows)
        elif story is Story.FALSE_NEGATIVES:
            rows.extend(fn_rows)
        else:
            rows.extend(fp_rows + fn_rows)
            rows.append(("Cost of errors per week", ctx.money(ctx.weekly["total_cost_per_week"])))
    elif story is not None and ctx.counts is not None:
        # No contract to scale with: the window's own counts are still worth showing.
        rows.append((_upper_first(f"{w.negatives} {w.acted} in window"), _format_volume(ctx.counts.fp)))
        rows.append((_upper_first(f"{w.positives} missed in window"), _format_volume(ctx.counts.fn)))
    if "inference_cost_per_week" in ctx.weekly:
        rows.append(("Inference cost per week", ctx.money(ctx.weekly["inference_cost_per_week"])))
    if reading is not None:
        if reading.sample_size is not None:
            rows.append(("Sample size", _format_volume(reading.sample_size)))
        if reading.threshold is not None:
            rows.append(("Threshold", _format_number(reading.threshold)))
        if reading.window_start is not None or reading.window_end is not None:
            start = _format_when(reading.window_start) if reading.window_start is not None else "…"
            end = _format_when(reading.window_end) if reading.window_end is not None else "…"
            rows.append(("Window", f"{start} → {end}"))
    return tuple(rows)


def _unknown(term: str, result: LookupResult, contract: Contract | None) -> Explanation:
    suggestions = result.suggestions
    if contract is not None:
        # A misspelt metric name is as likely as a misspelt glossary term.
        names = {_compact(m.name): m.name for m in contract.metrics}
        close = difflib.get_close_matches(_compact(term), list(names), n=2, cutoff=_SUGGEST_CUTOFF)
        suggestions = tuple(names[c] for c in close) + suggestions
    shown = term.strip()
    if not shown:
        headline = "Which metric? Try one of: " + ", ".join(_display_key(k) for k in suggestions) + "."
    elif suggestions:
        names = [_display_key(k) for k in suggestions[:_MAX_SUGGESTIONS]]
        choices = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        headline = f"I don't know “{shown}” yet. Did you mean {choices}?"
    else:
        headline = f"I don't know “{shown}” yet."
    return Explanation(
        term=shown, title=shown or "Explain a metric", headline=headline, suggestions=suggestions, found=False, asked=term
    )


def _metric_only(contract: Contract, metric: Metric, reading: Reading | None) -> Explanation:
    """A contract metric the glossary has no entry for: say what the contract says about it."""
    value = reading.value if reading is not None else None
    name = _upper_first(metric.title)
    headline = f"{name}: {metric.description}" if metric.description else f"{name} ({_role_phrase(metric.role)}, {metric.layer.value} layer)."
    numbers: tuple[tuple[str, str], ...] = ()
    if value is not None:
        value_text = _format_metric_value(value, metric, None, contract)
        headline = f"{name} {value_text}: " + (_lower_first(metric.description) if metric.description else f"{_direction_phrase(metric.direction)}.")
        numbers = ((name, value_text),)
    return Explanation(
        term=metric.name,
        title=name,
        headline=headline,
        definition=metric.description,
        numbers=numbers,
        contract_context=_metric_context(contract, metric),
        emphasis=_Words.from_business(contract.business).emphasis(),
    )


def explain(
    term: str,
    contract: Contract | None = None,
    snapshot: Reading | None = None,
    *,
    metric_name: str | None = None,
) -> Explanation:
    """Explain a metric, in the contract's words and money when a contract is given.

    Parameters
    ----------
    term : str
        A glossary term or alias ("precision", "FPR", "p95"), or a contract metric's name or label
        ("fraud_recall", "fraud caught").
    contract : Contract, optional
        Supplies the words (what a positive is, what acting is), the weekly volume and the costs.
    snapshot : Reading, optional
        The value, and for classification the confusion counts of the window, which turn the
        explanation into "of every 100" and money per week.
    metric_name : str, optional
        The contract metric the numbers belong to, when ``term`` is the generic statistic.

    Returns
    -------
    Explanation
        Never raises for an unknown term: ``found`` is False and ``suggestions`` says what to try.

    Raises
    ------
    ValueError
        If ``metric_name`` is given with a contract that has no such metric (a caller bug, not a
        user typo).

    Examples
    --------
    >>> explain("precision", snapshot=Reading(0.91)).headline
    'Precision 0.91: of every 100 cases we flag, 9 are negative cases.'
    """
    metric: Metric | None = None
    if contract is not None and metric_name is not None:
        metric = contract.metric(metric_name)
        if metric is None:
            known = ", ".join(m.name for m in contract.metrics)
            raise ValueError(f"metric_name {metric_name!r} is not in contract {contract.name!r} (its metrics: {known})")
    if contract is not None and metric is None:
        # The team's own metric names win over the glossary: a metric called "precision" in this
        # contract is the one the team means.
        metric = _find_metric(contract, term)
    result = lookup(term)
    if metric is not None and (result.entry is None or _compact(term) in (_compact(metric.name), _compact(metric.label or ""))):
        result = LookupResult(entry=_entry_for_metric(metric))
    entry = result.entry
    if entry is None:
        if contract is not None and metric is not None:
            return _metric_only(contract, metric, snapshot)
        return _unknown(term, result, contract)

    words = _Words.from_business(contract.business) if contract is not None else _GENERIC_WORDS
    counts = None
    if snapshot is not None and snapshot.has_counts:
        counts = _Counts(snapshot.tp, snapshot.fp, snapshot.tn, snapshot.fn)  # type: ignore[arg-type]
    # The numbers may come from a contract metric that measures something else ("precision" read
    # off the counts of the fraud_recall metric): then its value is not this term's value, and the
    # headline must not carry its name.
    own_metric = metric if metric is not None and _entry_for_metric(metric) is entry else None
    value = snapshot.value if snapshot is not None and (metric is None or own_metric is not None) else None
    if value is None and counts is not None:
        value = counts.rate(entry.key)
    business = contract.business if contract is not None else None
    weekly = _weekly(counts, business)
    if entry.key == "cost_per_inference" and value is not None and business is not None:
        weekly["inference_cost_per_week"] = value * business.weekly_volume

    ctx = _Context(entry=entry, words=words, contract=contract, metric=own_metric, value=value, counts=counts, weekly=weekly)
    in_your_terms = ""
    if contract is not None and entry.in_terms:
        in_your_terms = entry.in_terms.format(**words.as_template_values())

    headline = _HEADLINES[entry.key](ctx) if entry.key in _HEADLINES else None
    if headline is None:
        sentence = in_your_terms or entry.definition
        name = _upper_first(own_metric.title) if own_metric is not None else entry.title
        headline = f"{name}: {_lower_first(sentence)}"

    if contract is not None and metric is not None:
        context = _metric_context(contract, metric)
    elif contract is not None:
        context = _usage_context(contract, entry)
    else:
        context = ()

    return Explanation(
        term=entry.key,
        title=entry.title,
        headline=headline,
        definition=entry.definition,
        formula=entry.formula,
        in_your_terms=in_your_terms,
        when_right=entry.when_right,
        misleads=entry.misleads,
        numbers=_numbers(ctx, snapshot),
        weekly=dict(weekly),
        suggestions=result.suggestions,
        contract_context=context,
        related=entry.related,
        corrected=not result.exact,
        emphasis=words.emphasis() if contract is not None else (),
        asked=term,
    )

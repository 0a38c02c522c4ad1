"""/tradeoff end to end: a money table, the cheapest allowed threshold, and a chart upload."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np

from tests.bot.conftest import TEAM, WINDOW_END, SlackHttp, seed_snapshot


def _text(params: dict) -> str:
    return params["text"] + "\n" + json.dumps(params.get("blocks") or [], ensure_ascii=False)


def _weekly_cost(histogram, threshold: float) -> float:
    c = histogram.confusion_at(threshold)
    return (c.fp * 15 + c.fn * 420) / c.n * 150_000


def test_tradeoff_prices_thresholds_per_week_and_uploads_a_chart(slack_http: SlackHttp, slack_standin, seeded, fraud_histograms):
    assert slack_http.command("/tradeoff").status_code == 200
    answer = slack_standin.wait_for("chat.postEphemeral")[0].params
    text = _text(answer)
    histogram = fraud_histograms["fraud_recall"]
    assert f"${_weekly_cost(histogram, 0.7):,.0f}" in text
    assert f"${_weekly_cost(histogram, 0.5):,.0f}" in text
    assert "legitimate customers" in text and "chargebacks" in text

    # Oracle for the optimum: brute force over the bin edges, premium FPR judged on its own histogram.
    premium = fraud_histograms["premium_false_positive_rate"]
    edges = [float(e) for e in histogram.edges[:-1]]
    allowed = [t for t in edges if premium.confusion_at(t).false_positive_rate <= 0.02]
    best = min(allowed, key=lambda t: _weekly_cost(histogram, t))
    assert f"*{best:.2f}*" in text
    assert f"${_weekly_cost(histogram, best):,.0f} a week" in text
    unconstrained = min(edges, key=lambda t: _weekly_cost(histogram, t))
    if unconstrained != best:
        assert "premium-customer false positives" in text

    complete = slack_standin.wait_for("files.completeUploadExternal")[0].params
    assert complete["channel_id"] == "D0ANALYST"  # the asker's DM: an ephemeral answer cannot carry a file
    upload = slack_standin.calls_to("upload")[0]
    assert upload.body[:8] == b"\x89PNG\r\n\x1a\n"


def test_tradeoff_at_a_named_threshold(slack_http: SlackHttp, slack_standin, seeded, fraud_histograms):
    slack_http.command("/tradeoff", "fraud-screening fraud_recall threshold 0.55 share")
    answer = slack_standin.wait_for("chat.postMessage")[0].params
    assert answer["channel"] == "C0FRAUDML"
    assert f"${_weekly_cost(fraud_histograms['fraud_recall'], 0.55):,.0f}" in _text(answer)
    complete = slack_standin.wait_for("files.completeUploadExternal")[0].params
    assert complete["channel_id"] == "C0FRAUDML"


def test_metric_vs_metric_shows_the_declared_hierarchy_and_co_movement(slack_http: SlackHttp, slack_standin, seeded, engine):
    rng = np.random.default_rng(3)
    for week in range(1, 6):
        end = WINDOW_END - timedelta(days=7 * week)
        seed_snapshot(engine, TEAM, seeded, "fraud_recall", value=0.6 + rng.random() / 10, sample_size=20_000, end=end)
        seed_snapshot(engine, TEAM, seeded, "fraud_loss_per_1k", value=30 + rng.random() * 5, sample_size=20_000, end=end)
    slack_http.command("/tradeoff", "fraud_recall vs fraud_loss_per_1k")
    text = _text(slack_standin.wait_for("chat.postEphemeral")[0].params)
    assert "weight +1" in text and "weight +0.5" in text
    assert "never the reverse" in text
    assert "changes both got better or both got worse" in text


def test_tradeoff_on_a_non_classifier_explains_why_not(slack_http: SlackHttp, slack_standin, seeded):
    slack_http.command("/tradeoff", "fraud_loss_per_1k")
    text = slack_standin.wait_for("chat.postEphemeral")[0].params["text"]
    assert "not a classification metric" in text

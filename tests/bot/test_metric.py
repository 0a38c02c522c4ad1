"""/metric end to end."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.bot.conftest import TEAM, WINDOW_END, SlackHttp, seed_snapshot


def _text(params: dict) -> str:
    return params["text"] + "\n" + json.dumps(params.get("blocks") or [], ensure_ascii=False)


def test_metric_shows_value_window_sample_status_and_trend(slack_http: SlackHttp, slack_standin, seeded, engine):
    seed_snapshot(engine, TEAM, seeded, "premium_false_positive_rate", value=0.031, sample_size=4_000, end=WINDOW_END + timedelta(days=7))
    slack_http.command("/metric", "fraud-screening premium_false_positive_rate")
    text = _text(slack_standin.wait_for("chat.postEphemeral")[0].params)
    assert "3.10%" in text
    assert "2026-11-16 → 2026-11-23" in text
    assert "4,000" in text
    assert "violated" in text and "≤ 0.02" in text
    assert "up (worse)" in text


def test_metric_history_lists_windows(slack_http: SlackHttp, slack_standin, seeded, engine):
    seed_snapshot(engine, TEAM, seeded, "fraud_recall", value=0.7, sample_size=20_000, end=WINDOW_END - timedelta(days=7))
    slack_http.command("/metric", "fraud-screening fraud_recall history")
    text = _text(slack_standin.wait_for("chat.postEphemeral")[0].params)
    assert "2026-11-09" in text and "2026-11-16" in text and "70.00%" in text


def test_refresh_queues_a_pull_and_never_waits_for_it(slack_http: SlackHttp, slack_standin, seeded, pulls):
    slack_http.command("/metric", "fraud-screening fraud_recall refresh")
    text = slack_standin.wait_for("chat.postEphemeral")[0].params["text"]
    assert "Queued a pull" in text
    assert pulls == [{"team_id": TEAM, "contract": "fraud-screening", "metric": "fraud_recall", "requested_by": "U0ANALYST"}]


def test_an_unknown_metric_lists_the_contracts_metrics(slack_http: SlackHttp, slack_standin, seeded):
    slack_http.command("/metric", "fraud-screening banana")
    text = slack_standin.wait_for("chat.postEphemeral")[0].params["text"]
    assert "no metric “banana”" in text and "fraud_recall" in text

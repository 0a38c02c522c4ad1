"""/explain end to end: signed request in, ephemeral answer in the contract's words out."""

from __future__ import annotations

import json
import math
from fractions import Fraction

from tests.bot.conftest import OTHER_TEAM, TEAM, SlackHttp, seed_contract


def _texts(params: dict) -> str:
    blocks = params.get("blocks") or []
    return params["text"] + "\n" + json.dumps(blocks, ensure_ascii=False)


def test_precision_in_the_fraud_channel_speaks_of_legitimate_customers_and_dollars(slack_http: SlackHttp, slack_standin, seeded, fraud_histograms):
    assert slack_http.command("/explain", "precision").status_code == 200
    answer = slack_standin.wait_for("chat.postEphemeral")[0].params
    text = _texts(answer)
    # Computed independently: false positives at the contract's 0.7 threshold, scaled to a week.
    c = fraud_histograms["fraud_recall"].confusion_at(0.7)
    weekly_review_cost = math.floor(Fraction(int(c.fp) * 150_000 * 15, int(c.n)) + Fraction(1, 2))  # whole dollars, halves up
    assert "legitimate customers" in text
    assert f"${weekly_review_cost:,}" in text
    assert "When it misleads" in text
    assert answer["user"] == "U0ANALYST" and answer["channel"] == "C0FRAUDML"
    assert slack_standin.calls_to("chat.postMessage") == []


def test_a_contract_metric_name_shows_where_it_sits(slack_http: SlackHttp, slack_standin, seeded):
    slack_http.command("/explain", "premium_false_positive_rate in fraud-screening share", channel="C0ELSEWHERE", channel_name="random")
    answer = slack_standin.wait_for("chat.postMessage")[0].params
    text = _texts(answer)
    assert "guardrail" in text
    assert "0.02" in text or "2%" in text
    assert answer["channel"] == "C0ELSEWHERE"


def test_an_unknown_term_offers_suggestions_as_buttons(slack_http: SlackHttp, slack_standin, seeded):
    slack_http.command("/explain", "precison recal zzz")
    answer = slack_standin.wait_for("chat.postEphemeral")[0].params
    buttons = [e for b in answer["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons, answer
    assert all(b["action_id"].startswith("explain_suggestion") for b in buttons)


def test_a_suggestion_button_explains_that_term(slack_http: SlackHttp, slack_standin, seeded):
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "northstar"},
        "user": {"id": "U0ANALYST", "team_id": TEAM},
        "channel": {"id": "C0FRAUDML", "name": "fraud-ml"},
        "api_app_id": "A0NORTHSTAR",
        "trigger_id": "1.2.3",
        "container": {"type": "message", "is_ephemeral": True},
        "actions": [{"type": "button", "action_id": "explain_suggestion:0", "block_id": "b", "value": "recall", "action_ts": "1700000000.1"}],
    }
    assert slack_http.interactive(payload).status_code == 200
    answer = slack_standin.wait_for("chat.postEphemeral")[0].params
    assert "fraudulent transactions" in _texts(answer)


def test_help_and_empty_text_show_usage(slack_http: SlackHttp, slack_standin):
    slack_http.command("/explain", "")
    usage = slack_standin.wait_for("chat.postEphemeral")[0].params
    assert "/explain <term>" in usage["text"]


def test_an_unknown_workspace_is_asked_to_reinstall(slack_http: SlackHttp, slack_standin, seeded):
    slack_http.command("/explain", "precision", team="T0STRANGER")
    answer = slack_standin.wait_for("chat.postEphemeral")[0].params
    assert "reinstall" in answer["text"]


def test_another_workspace_with_a_same_named_contract_sees_none_of_this_ones_numbers(slack_http: SlackHttp, slack_standin, seeded, engine):
    from tests.bot.conftest import FRAUD_YAML

    seed_contract(engine, OTHER_TEAM, FRAUD_YAML.replace("Card fraud screening", "Other bank fraud"))
    slack_http.command("/explain", "precision in fraud-screening", team=OTHER_TEAM)
    answer = slack_standin.wait_for("chat.postEphemeral")[0].params
    text = _texts(answer)
    assert "fraudulent transactions" in text
    # TEAM's snapshot would put sample size and dollars in the answer; OTHER_TEAM has none.
    assert "Sample size" not in text
    assert "manual review at" not in text


def test_several_contracts_in_one_channel_ask_which_with_buttons(slack_http: SlackHttp, slack_standin, seeded, engine):
    from tests.bot.conftest import FRAUD_YAML

    seed_contract(engine, TEAM, FRAUD_YAML.replace("name: fraud-screening", "name: fraud-screening-v2"))
    slack_http.command("/explain", "precision")
    ask = slack_standin.wait_for("chat.postEphemeral")[0].params
    buttons = [e for b in ask["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["text"]["text"] for b in buttons] == ["fraud-screening", "fraud-screening-v2"]
    click = {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": "U0ANALYST"},
        "channel": {"id": "C0FRAUDML", "name": "fraud-ml"},
        "api_app_id": "A0NORTHSTAR",
        "trigger_id": "1.2.3",
        "container": {"type": "message", "is_ephemeral": True},
        "actions": [{**buttons[0], "block_id": "b", "action_ts": "1700000000.2"}],
    }
    slack_http.interactive(click)
    answer = slack_standin.wait_for("chat.postEphemeral", count=2)[1].params
    assert "legitimate customers" in _texts(answer)

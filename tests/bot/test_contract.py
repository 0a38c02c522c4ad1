"""/contract end to end, including the YAML editor modal."""

from __future__ import annotations

import io
import json

from ruamel.yaml import YAML

from tests.bot.conftest import FRAUD_YAML, OTHER_TEAM, TEAM, SlackHttp, seed_contract
from bot.blocks import ids


def _text(params: dict) -> str:
    return params["text"] + "\n" + json.dumps(params.get("blocks") or [], ensure_ascii=False)


def _submission(yaml_text: str, *, team: str = TEAM, user: str = "U0FRAUDPM", name: str | None = None) -> dict:
    # Long YAML arrives in two inputs, cut at a line break as the editor cuts it.
    cut = yaml_text.rfind("\n", 0, 2500)
    first, rest = yaml_text[:cut], yaml_text[cut + 1 :]
    return {
        "type": "view_submission",
        "team": {"id": team, "domain": "northstar"},
        "user": {"id": user, "team_id": team},
        "api_app_id": "A0NORTHSTAR",
        "trigger_id": "1.2.3",
        "view": {
            "id": "V0EDITOR1",
            "team_id": team,
            "type": "modal",
            "callback_id": ids.VIEW_CONTRACT_EDITOR,
            "private_metadata": json.dumps({"name": name, "channel": "C0FRAUDML"}),
            "state": {"values": {
                ids.BLOCK_CONTRACT_YAML: {ids.ACTION_CONTRACT_YAML: {"type": "plain_text_input", "value": first}},
                f"{ids.BLOCK_CONTRACT_YAML}:1": {ids.ACTION_CONTRACT_YAML: {"type": "plain_text_input", "value": rest}},
            }},
            "hash": "h",
        },
    }


def test_list_names_the_workspaces_contracts(slack_http: SlackHttp, slack_standin, seeded):
    slack_http.command("/contract", "list")
    text = _text(slack_standin.wait_for("chat.postEphemeral")[0].params)
    assert "fraud-screening" in text and "Card fraud screening" in text and "v1" in text


def test_show_speaks_the_business_terms(slack_http: SlackHttp, slack_standin, seeded):
    slack_http.command("/contract", "show fraud-screening share")
    params = slack_standin.wait_for("chat.postMessage")[0].params
    text = _text(params)
    assert "a fraudulent transaction" in text
    assert "150,000 transactions a week" in text
    assert "premium-customer false positives" in text and "≤ 0.02" in text


def test_show_in_another_workspace_reads_that_workspaces_contract_only(slack_http: SlackHttp, slack_standin, seeded, engine):
    seed_contract(engine, OTHER_TEAM, FRAUD_YAML.replace("Card fraud screening", "Other bank fraud"))
    slack_http.command("/contract", "show fraud-screening", team=OTHER_TEAM)
    text = _text(slack_standin.wait_for("chat.postEphemeral")[0].params)
    assert "Other bank fraud" in text
    assert "Card fraud screening" not in text


def test_lint_explains_findings(slack_http: SlackHttp, slack_standin, seeded):
    slack_http.command("/contract", "lint fraud-screening")
    params = slack_standin.wait_for("chat.postEphemeral")[0].params
    assert params["text"].startswith("fraud-screening")


def test_sign_by_a_listed_signer_is_recorded_once(slack_http: SlackHttp, slack_standin, seeded):
    slack_http.command("/contract", "sign fraud-screening", user="U0FRAUDPM")
    first = slack_standin.wait_for("chat.postEphemeral")[0].params["text"]
    assert "Signed fraud-screening v1 as pm" in first and "eng" in first
    slack_http.command("/contract", "sign fraud-screening", user="U0FRAUDPM")
    second = slack_standin.wait_for("chat.postEphemeral", count=2)[1].params["text"]
    assert "already signed" in second
    slack_http.command("/contract", "history fraud-screening")
    history = _text(slack_standin.wait_for("chat.postEphemeral", count=3)[2].params)
    assert "pm <@U0FRAUDPM>" in history


def test_sign_by_anyone_else_is_refused_naming_who_can(slack_http: SlackHttp, slack_standin, seeded):
    slack_http.command("/contract", "sign fraud-screening", user="U0INTRUDER")
    text = slack_standin.wait_for("chat.postEphemeral")[0].params["text"]
    assert "Only the contract's listed signers" in text
    assert "<@U0FRAUDPM>" in text and "<@U0FRAUDENG>" in text and "<@U0FRAUDDS>" in text


def test_diff_shows_what_changed_between_versions(slack_http: SlackHttp, slack_standin, seeded, engine):
    seed_contract(engine, TEAM, FRAUD_YAML.replace("weekly_volume: 150000", "weekly_volume: 180000"))
    slack_http.command("/contract", "diff fraud-screening 1 2")
    text = _text(slack_standin.wait_for("chat.postEphemeral")[0].params)
    assert "-  weekly_volume: 150000" in text and "+  weekly_volume: 180000" in text


def test_an_unknown_subcommand_gets_usage(slack_http: SlackHttp, slack_standin, seeded):
    slack_http.command("/contract", "frobnicate")
    text = slack_standin.wait_for("chat.postEphemeral")[0].params["text"]
    assert "/contract frobnicate" in text and "list | show" in text


def test_edit_opens_the_modal_first_then_fills_in_the_yaml(slack_http: SlackHttp, slack_standin, seeded):
    slack_http.command("/contract", "edit fraud-screening")
    update = slack_standin.wait_for("views.update")[0]
    opened = slack_standin.calls_to("views.open")[0]
    assert opened.at <= update.at
    assert opened.params["trigger_id"]
    from bot.blocks.contract import yaml_from_state

    inputs = [b for b in update.params["view"]["blocks"] if b["type"] == "input"]
    assert len(inputs) >= 3  # the fraud contract is longer than one 3000-character input
    state = {b["block_id"]: {b["element"]["action_id"]: {"value": b["element"].get("initial_value")}} for b in inputs}
    from metrics.contract import parse_contract

    assert parse_contract(yaml_from_state(state)) == parse_contract(FRAUD_YAML)


def test_edit_refuses_a_name_no_contract_can_have_before_opening_anything(slack_http: SlackHttp, slack_standin, seeded):
    slack_http.command("/contract", "edit <!channel>")
    text = slack_standin.wait_for("chat.postEphemeral")[0].params["text"]
    assert "is not a contract name" in text and "<!channel>" not in text
    assert slack_standin.calls_to("views.open") == []


def test_an_invalid_submission_shows_errors_in_the_modal_and_stores_nothing(slack_http: SlackHttp, seeded, engine):
    from bot.listeners.store import Store

    broken = FRAUD_YAML.replace("weekly_volume: 150000", "weekly_volume: -5")
    response = slack_http.interactive(_submission(broken, name="fraud-screening"))
    assert response.status_code == 200
    body = response.json()
    assert body["response_action"] == "errors"
    assert "weekly_volume" in body["errors"][ids.BLOCK_CONTRACT_YAML]
    assert [v.version for v in Store(engine).versions(TEAM, "fraud-screening")] == [1]


def test_a_submission_with_lint_errors_is_refused(slack_http: SlackHttp, seeded, engine):
    no_north_star = FRAUD_YAML.replace("role: north_star", "role: secondary")
    body = slack_http.interactive(_submission(no_north_star, name="fraud-screening")).json()
    assert body["response_action"] == "errors"
    assert "north" in body["errors"][ids.BLOCK_CONTRACT_YAML]


def test_a_valid_submission_stores_a_new_version_and_tells_the_author(slack_http: SlackHttp, slack_standin, seeded, engine):
    from bot.listeners.store import Store

    changed = FRAUD_YAML.replace("cost_false_positive: 15", "cost_false_positive: 18")
    response = slack_http.interactive(_submission(changed, name="fraud-screening"))
    assert response.status_code == 200 and b"errors" not in response.content
    dm = slack_standin.wait_for("chat.postMessage")[0].params
    assert dm["channel"] == "U0FRAUDPM" and "v2" in dm["text"]
    versions = Store(engine).versions(TEAM, "fraud-screening")
    assert [v.version for v in versions] == [1, 2] and versions[-1].author == "U0FRAUDPM"


def test_a_shared_answer_too_long_for_one_message_continues_in_its_thread(slack_http: SlackHttp, slack_standin, engine):
    from tests.bot.test_blocks import _big_contract

    big = _big_contract()
    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump(big.model_dump(mode="json"), stream)
    seed_contract(engine, TEAM, stream.getvalue())
    slack_http.command("/contract", f"show {big.name} share")
    posts = slack_standin.wait_for("chat.postMessage", count=2)
    first = posts[0]
    assert "thread_ts" not in first.params or not first.params["thread_ts"]
    assert all(p.params["thread_ts"] for p in posts[1:])
    assert all(len(p.params["blocks"]) <= 50 for p in posts)

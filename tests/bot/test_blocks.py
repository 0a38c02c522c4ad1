"""Every builder, fed large inputs, yields payloads within Slack's limits once split."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from bot.blocks import ids
from bot.blocks.contract import (
    ContractRow,
    HistoryRow,
    build_contract_diff,
    build_contract_editor,
    build_contract_history,
    build_contract_list,
    build_contract_show,
    build_editor_errors,
    build_lint_report,
)
from bot.blocks.explain import ExplainView, build_explanation, build_unknown_term
from bot.blocks.limits import BlockLimitError, check_message, split_message, split_text
from bot.blocks.messages import USAGE, build_choose_contract, build_error, build_notice, build_reinstall, build_usage
from bot.blocks.metric import build_metric
from bot.blocks.tradeoff import build_hierarchy, build_tradeoff
from bot.charts import tradeoff_chart
from bot.listeners import analysis
from bot.listeners.store import SnapshotView
from metrics.classification import ScoreHistogram
from metrics.contract import parse_contract
from metrics.lint import lint_contract
from tests.bot.conftest import FRAUD_YAML
from bot.standin import _blocks_problem

LONG = "x" * 400
LONG_NAME = "m" + "_long" * 12  # 61 characters, near the slug limit


def _big_contract(n_metrics: int = 50):
    contract = parse_contract(FRAUD_YAML)
    template = contract.metrics[2].model_dump()  # premium FPR: a bounded classification guardrail
    metrics = [
        {**template, "name": f"{LONG_NAME[:55]}_{i:03d}", "label": f"{LONG} label {i}", "description": LONG * 3}
        for i in range(n_metrics)
    ]
    data = contract.model_dump()
    data["metrics"] = [contract.metrics[0].model_dump(), *metrics]
    data["title"] = "T" * 300
    data["decision"] = "D" * 2000
    data["experiments"] = []
    data["validation_touchpoints"] = []
    return type(contract).model_validate(data)


def _sent(payload: dict) -> list[dict]:
    """What a handler sends: split, each part checked, and Slack (the stand-in's rules) accepts it."""
    parts = split_message(payload["text"], payload.get("blocks") or [])
    for part in parts:
        check_message(part)
        assert _blocks_problem(part.get("blocks", []), 50) is None
    return parts


def _segmented_histogram(segments: int = 40) -> ScoreHistogram:
    rng = np.random.default_rng(1)
    n = 40_000
    labels = rng.random(n) < 0.03
    scores = np.clip(np.where(labels, rng.beta(5, 2, n), rng.beta(1.5, 6, n)), 0, 1)
    names = [f"segment-{i:02d}-{LONG[:40]}" for i in rng.integers(0, segments, n)]
    return ScoreHistogram.from_arrays(labels.astype(int), scores, bins=100, segments=names)


def test_check_message_rejects_what_slack_rejects():
    with pytest.raises(BlockLimitError, match="fallback text"):
        check_message({"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]})
    with pytest.raises(BlockLimitError, match="51 blocks"):
        check_message({"text": "t", "blocks": [{"type": "divider"}] * 51})
    with pytest.raises(BlockLimitError, match="3001 characters"):
        check_message({"text": "t", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "a" * 3001}}]})
    with pytest.raises(BlockLimitError, match="header"):
        check_message({"text": "t", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]})
    button = {"type": "button", "action_id": "a", "value": "v", "text": {"type": "plain_text", "text": "b" * 76}}
    with pytest.raises(BlockLimitError, match="text is 76"):
        check_message({"text": "t", "blocks": [{"type": "actions", "elements": [button]}]})
    with pytest.raises(BlockLimitError, match="view.title"):
        check_message({"type": "modal", "title": {"type": "plain_text", "text": "t" * 25}, "blocks": []})


def test_split_message_keeps_every_word_and_each_part_within_limits():
    text = "\n".join(f"line {i} " + "y" * 90 for i in range(400))
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}] + [{"type": "divider"}] * 120
    parts = _sent({"text": "long", "blocks": blocks})
    assert len(parts) >= 3
    joined = "\n".join(b["text"]["text"] for p in parts for b in p["blocks"] if b["type"] == "section")
    assert all(f"line {i} " in joined for i in range(400))
    assert parts[1]["text"].startswith("long (continued, part 2")


def test_split_text_reopens_code_fences():
    pieces = split_text("```\n" + "\n".join("z" * 100 for _ in range(100)) + "\n```")
    assert len(pieces) > 1
    assert all(p.startswith("```\n") and p.endswith("\n```") and len(p) <= 3000 for p in pieces)


def test_contract_builders_with_fifty_metrics_and_long_names():
    contract = _big_contract()
    _sent(build_contract_show(contract, version=12, signed=[("pm", "U0FRAUDPM")]))
    _sent(build_contract_list([ContractRow(LONG_NAME, LONG, "#" + LONG, 3, 50) for _ in range(60)]))
    _sent(build_lint_report(contract.name, lint_contract(contract)))
    _sent(build_contract_history(LONG_NAME, [HistoryRow(i, "U0AUTHOR1", "2026-11-01 10:00", "pm <@U0FRAUDPM>, " * 5) for i in range(300)]))
    _sent(build_contract_diff(LONG_NAME, 1, 2, [f"+{LONG}{i}" for i in range(200)]))
    editor = build_contract_editor(name=LONG_NAME, yaml_text=FRAUD_YAML * 4, metadata={"name": LONG_NAME, "channel": "C1"})
    check_message(editor)
    errors = build_editor_errors([LONG] * 20)
    assert len(errors["errors"][ids.BLOCK_CONTRACT_YAML]) <= 2000


def test_tradeoff_builders_on_a_forty_segment_histogram():
    contract = _big_contract()
    histogram = _segmented_histogram()
    guards = {m.name: histogram.segment(histogram.segments[i % 40]) for i, m in enumerate(contract.metrics[1:])}
    tradeoff = analysis.build_tradeoff(contract, contract.metrics[1], histogram.total(), guardrail_histograms=guards)
    _sent(build_tradeoff(tradeoff))
    assert tradeoff_chart(tradeoff)[:4] == b"\x89PNG"
    end = datetime(2026, 11, 16, tzinfo=UTC)
    history = [
        SnapshotView(contract.metrics[1].name, end - timedelta(days=7 * (i + 1)), end - timedelta(days=7 * i), 0.01 + i / 1000, 20_000, None, "ok")
        for i in range(40)
    ]
    view = analysis.comovement(contract, contract.metrics[0], contract.metrics[1], history, history)
    _sent(build_hierarchy(view))
    summary = analysis.summarise_metric(contract, contract.metrics[1], history)
    _sent(build_metric(summary, with_history=True))


def test_explain_and_message_builders_with_long_content():
    view = ExplainView(
        term=LONG,
        headline=LONG * 10,
        definition=LONG * 10,
        formula=LONG,
        in_your_terms=LONG * 10,
        when_right=LONG * 10,
        misleads=LONG * 10,
        numbers=[(LONG, LONG)] * 40,
        placement=[(LONG, LONG)] * 40,
        contract_name=LONG_NAME,
        window=LONG,
        notes=[LONG] * 20,
    )
    _sent(build_explanation(view))
    _sent(build_unknown_term(LONG, [LONG] * 40))
    _sent(build_choose_contract([LONG_NAME] * 40, ['{"c":"/explain","t":"' + "q" * 1400 + '","n":"x"}'] * 40, prompt=LONG))
    for command in USAGE:
        _sent(build_usage(command, problem=LONG * 10))
    _sent(build_notice(LONG * 20))
    _sent(build_error("ABC123"))
    _sent(build_reinstall())

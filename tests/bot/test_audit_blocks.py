"""The audit message builder, its terminal rendering, the trend chart and the queuing job."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine

from bot.audit_chart import audit_chart
from bot.blocks.audit import ACTION_REVIEW_REVISIT, ACTION_REVIEW_STILL_RIGHT, build_audit_message, render_text
from bot.blocks.limits import check_message
from bot.jobs.audit import audit_key, compose_audit, post_audit
from metrics.audit import WeeklyPoint
from metrics.audit import compose_audit as compose_pure
from metrics.classification import ScoreHistogram
from metrics.contract import Contract, parse_contract
from storage import contracts as contract_repo
from storage import snapshots as snapshot_repo
from storage.db import session_scope
from storage.outbox import list_outbox
from tests.metrics.contract_factory import SCORES_SQL, SQL, contract_data, metric
from tests.metrics.test_audit import LAUNCH, WEEK, WEEK_END, crafted_series, fraud_like, weeks

TEAM = "T0AUDIT01"


def huge_contract() -> tuple[Contract, dict[str, list[WeeklyPoint]]]:
    """50 metrics with long labels, a 40-segment fairness check, most of them in trouble."""
    long = "a very long metric label that keeps going to test clipping and splitting " * 2
    metrics = [metric("north", role="north_star", layer="business", unit="%")]
    series: dict[str, list[WeeklyPoint]] = {"north": weeks([0.3, 0.31], n=1000)}
    for i in range(46):
        name = f"guard_{i:02d}"
        metrics.append(metric(name, label=f"{long} {i}", role="guardrail", direction="decrease", bound={"max": 100}))
        series[name] = weeks([90 + i, 150 + i], n=5000)
    segments = [f"segment-with-a-long-name-{i:02d}" for i in range(40)]
    neg = [[900 - 5 * i, 100 + 5 * i] for i in range(40)]
    histogram = ScoreHistogram.from_counts([0.0, 0.5, 1.0], pos=[[10, 90]] * 40, neg=neg, segments=segments)
    metrics.append(
        metric(
            "fpr_by_segment", label=f"{long} fairness", role="guardrail", direction="decrease", kind="classification", unit="%",
            sql=SCORES_SQL, bound={"max": 0.5},
            classification={"statistic": "false_positive_rate", "threshold": 0.5, "bins": 2, "segment_column": "segment", "max_disparity": 2},
        )
    )
    series["fpr_by_segment"] = [WeeklyPoint(WEEK_END, 0.2, histogram.n, histogram.to_dict())]
    for name in ("drift_a", "drift_b"):
        metrics.append(metric(name, layer="model", direction="decrease", kind="distribution", distribution={"edges": [0, 0.5, 1]}))
        series[name] = weeks([0.4], n=5000)
    contract = Contract.model_validate(contract_data(launched_on=LAUNCH.isoformat(), metrics=metrics))
    assert len(contract.metrics) == 50
    return contract, series


def test_huge_contract_splits_into_messages_that_all_pass_the_limits():
    contract, series = huge_contract()
    audit = compose_pure(contract, series, week_end=WEEK_END)
    payloads = build_audit_message(audit)
    assert len(payloads) >= 2
    for payload in payloads:
        assert check_message(payload) is payload
        assert payload["text"].strip()
        assert len(payload["blocks"]) <= 50
        for block in payload["blocks"]:
            if block["type"] == "section" and "text" in block:
                assert len(block["text"]["text"]) <= 3000
    everything = render_text(payloads)
    # Nothing is lost in the split: every bound and the fairness sentence reach the thread.
    for i in range(46):
        assert f"keeps going to test clipping and splitting  {i} " in everything.replace("\n", " ") or f" {i}* " in everything
    assert "segment-with-a-long-name-39" in everything
    # The review question stays in the channel message, where it is answered.
    assert ACTION_REVIEW_STILL_RIGHT in str(payloads[0])


def test_small_audit_is_one_message_with_the_headline_first():
    audit = compose_pure(fraud_like(), crafted_series(), week_end=WEEK_END)
    payloads = build_audit_message(audit)
    assert len(payloads) == 1
    blocks = payloads[0]["blocks"]
    assert blocks[0]["type"] == "header"
    assert audit.headline in blocks[1]["text"]["text"]
    assert "Decision needed:" in blocks[2]["text"]["text"]
    assert payloads[0]["text"].startswith("Weekly audit, fraud-screening: North star flat; 1 guardrail violated")


def test_review_buttons_carry_the_contract_and_render_as_brackets():
    audit = compose_pure(fraud_like(), crafted_series(), week_end=LAUNCH + 8 * WEEK)
    payload = build_audit_message(audit)[0]
    buttons = [e for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        (ACTION_REVIEW_STILL_RIGHT, "fraud-screening"),
        (ACTION_REVIEW_REVISIT, "fraud-screening"),
    ]
    text = render_text(payload)
    assert "[Still right] [Revisit]" in text
    assert "If we were building this today, would we measure the same thing?" in text
    assert text.splitlines()[1].startswith("=====")


def test_no_review_buttons_off_cadence():
    audit = compose_pure(fraud_like(), crafted_series(), week_end=LAUNCH + 5 * WEEK)
    assert "[Still right]" not in render_text(build_audit_message(audit))


def test_render_text_shows_fields_and_context():
    payload = {
        "text": "fallback",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Title"}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": "*This week*\n2.4%"}]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "a &lt;note&gt;"}]},
        ],
    }
    assert render_text(payload) == "Title\n=====\n  *This week*: 2.4%\n  a <note>"
    assert render_text({"text": "only text"}) == "only text"


def test_chart_is_a_png():
    audit = compose_pure(fraud_like(), crafted_series(), week_end=WEEK_END)
    png = audit_chart(audit)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    empty = compose_pure(fraud_like(), {}, week_end=WEEK_END)
    assert audit_chart(empty).startswith(b"\x89PNG")


# --- the job ---------------------------------------------------------------------------------


def seed(engine: Engine) -> Contract:
    contract = fraud_like(channel="C0FRAUD01")
    yaml_text = contract.model_dump_json()
    with session_scope(engine) as session:
        synced = contract_repo.sync_contract(session=session, team_id=TEAM, contract=contract, source_yaml=yaml_text, author="U0AUTHOR")
        ids = synced.contract_row.id, synced.version_row.id
        for name, points in crafted_series().items():
            for point in points:
                end = datetime.combine(point.week_end, datetime.min.time(), tzinfo=UTC)
                # Daily pulls: the job must pool seven days into each week.
                for day in range(7):
                    stats = point.stats
                    if stats is not None and day:
                        stats = {**stats, "pos": [[0, 0]], "neg": [[0, 0]]}
                    snapshot_repo.add_snapshot(
                        session=session, team_id=TEAM, contract_id=ids[0], contract_version_id=ids[1], metric=name,
                        window_start=end - timedelta(days=day + 1), window_end=end - timedelta(days=day),
                        value=point.value, sample_size=(point.sample_size or 0) / 7 if stats is None else (point.sample_size if not day else 0),
                        stats=stats,
                    )
    return contract


def test_compose_reads_daily_snapshots_into_weeks(engine: Engine):
    seed(engine)
    message = compose_audit(engine=engine, team_id=TEAM, contract_name="fraud-screening", week_end=WEEK_END, now=datetime(2026, 11, 16, 9, tzinfo=UTC))
    audit = message.audit
    assert audit.headline == "North star flat; 1 guardrail violated: premium-customer false positives 2.4% (bound 2%), ≈ $8,100 this week"
    assert audit.hygiene.unsigned_versions == (1,)
    assert message.chart.startswith(b"\x89PNG")
    assert message.key == f"audit:{TEAM}:fraud-screening:2026-11-16"


def test_post_audit_twice_for_the_same_week_enqueues_once(engine: Engine):
    seed(engine)
    now = datetime(2026, 11, 16, 9, tzinfo=UTC)
    first = post_audit(engine=engine, team_id=TEAM, contract_name="fraud-screening", week_end=WEEK_END, now=now)
    assert [m.kind for m in first][:2] == ["post", "upload"]
    again = post_audit(engine=engine, team_id=TEAM, contract_name="fraud-screening", week_end=WEEK_END, now=now + timedelta(hours=1))
    assert again == []
    with session_scope(engine) as session:
        rows = list_outbox(session=session, team_id=TEAM)
        # A caller's own transaction is honoured too and still adds nothing.
        assert post_audit(engine=engine, team_id=TEAM, contract_name="fraud-screening", week_end=WEEK_END, now=now, session=session) == []
    assert len(rows) == len(first)
    key = audit_key(TEAM, "fraud-screening", WEEK_END)
    upload = next(r for r in rows if r.kind == "upload")
    assert upload.thread_key == key and upload.idempotency_key == f"{key}:chart"
    assert base64.b64decode(upload.payload["file_b64"]).startswith(b"\x89PNG")
    assert all(r.channel == "C0FRAUD01" for r in rows)
    # Next week is a new audit.
    later = post_audit(engine=engine, team_id=TEAM, contract_name="fraud-screening", week_end=WEEK_END + WEEK, now=now + WEEK)
    assert later and later[0].idempotency_key == audit_key(TEAM, "fraud-screening", WEEK_END + WEEK)


def test_long_audit_posts_thread_replies_in_the_same_transaction(engine: Engine):
    contract, series = huge_contract()
    with session_scope(engine) as session:
        synced = contract_repo.sync_contract(session=session, team_id=TEAM, contract=contract, source_yaml="{}", author="U0AUTHOR")
        ids = synced.contract_row.id, synced.version_row.id
        for name, points in series.items():
            for point in points:
                end = datetime.combine(point.week_end, datetime.min.time(), tzinfo=UTC)
                snapshot_repo.add_snapshot(
                    session=session, team_id=TEAM, contract_id=ids[0], contract_version_id=ids[1], metric=name,
                    window_start=end - WEEK, window_end=end, value=point.value, sample_size=point.sample_size, stats=point.stats,
                )
    now = datetime(2026, 11, 16, 9, tzinfo=UTC)
    queued = post_audit(engine=engine, team_id=TEAM, contract_name=contract.name, week_end=WEEK_END, now=now)
    replies = [m for m in queued if m.idempotency_key.startswith(audit_key(TEAM, contract.name, WEEK_END) + ":reply:")]
    assert replies and all(m.thread_key == audit_key(TEAM, contract.name, WEEK_END) for m in replies)
    for m in queued:
        if m.kind == "post":
            check_message(m.payload)
    assert post_audit(engine=engine, team_id=TEAM, contract_name=contract.name, week_end=WEEK_END, now=now) == []

"""/explain <term> [in <contract>]: a metric in the team's words, with its current numbers."""

from __future__ import annotations

import logging

from slack_bolt import Ack, App
from slack_sdk import WebClient

from metrics.contract import Contract, Kind, Role
from metrics.explain import Explanation, Reading, explain, lookup

from bot.blocks import ids
from bot.blocks.explain import ExplainView, build_explanation, build_unknown_term
from bot.listeners.analysis import classification_threshold
from bot.listeners.common import (
    Resolution,
    run_command,
    Invocation,
    ask_which_contract,
    reply,
    resolve_contract,
)
from bot.listeners.deps import Deps
from storage.db import database_unreachable

logger = logging.getLogger(__name__)


def _metric_for(contract: Contract, term: str):
    """The contract metric whose numbers answer ``term``: named directly, else the one using that statistic."""
    folded = term.lower().replace(" ", "_")
    for metric in contract.metrics:
        if folded in (metric.name, (metric.label or "").lower().replace(" ", "_")):
            return metric
    classification = [m for m in contract.metrics if m.kind is Kind.CLASSIFICATION]
    if not classification:
        return None
    entry = lookup(term).entry
    if entry is None:
        return None
    key = entry.key
    same = [m for m in classification if getattr(m.spec(), "statistic", None) == key]
    if same:
        return same[0]
    # A generic rate ("precision") is read off the model's main decision: the headline classifier.
    ranked = sorted(classification, key=lambda m: [Role.NORTH_STAR, Role.SECONDARY].index(m.role) if m.role in (Role.NORTH_STAR, Role.SECONDARY) else 9)
    return ranked[0]


def reading_for(deps: Deps, team_id: str, contract: Contract, metric, *, term_is_metric: bool) -> tuple[Reading | None, str | None]:
    snapshot = deps.store.latest_snapshot(team_id, contract.name, metric.name)
    if snapshot is None:
        return None, None
    window = f"Window {snapshot.window_start:%Y-%m-%d} → {snapshot.window_end:%Y-%m-%d}, from the latest stored snapshot of {metric.name}"
    histogram = snapshot.histogram
    if histogram is None or metric.kind is not Kind.CLASSIFICATION:
        return Reading(value=snapshot.value, sample_size=snapshot.sample_size, window_start=snapshot.window_start, window_end=snapshot.window_end), window
    threshold = classification_threshold(metric)
    c = histogram.confusion_at(threshold)
    return (
        Reading(
            value=snapshot.value if term_is_metric else None,
            sample_size=c.n,
            tp=c.tp,
            fp=c.fp,
            tn=c.tn,
            fn=c.fn,
            window_start=snapshot.window_start,
            window_end=snapshot.window_end,
            threshold=threshold,
        ),
        window + f" at threshold {threshold:g}",
    )


WITHOUT_DATABASE = "Northstar can't reach its database right now: this is the general meaning, without your contract's terms and numbers."


def to_view(explanation: Explanation, contract: Contract | None, window: str | None, notes: tuple[str, ...] = ()) -> ExplainView:
    return ExplainView(
        term=explanation.title,
        headline=explanation.headline,
        definition=explanation.definition,
        formula=explanation.formula,
        in_your_terms=explanation.in_your_terms if explanation.in_your_terms != explanation.headline else "",
        when_right=explanation.when_right,
        misleads=explanation.misleads,
        numbers=explanation.numbers,
        placement=explanation.contract_context,
        contract_name=contract.name if contract else None,
        window=window,
        notes=((f"Closest match to “{explanation.asked}”.",) if explanation.corrected else ()) + notes,
    )


def answer(deps: Deps, client: WebClient, invocation: Invocation) -> None:
    """Explain the term in ``invocation`` (also used by the suggestion and contract buttons)."""
    notes: tuple[str, ...] = ()
    try:
        resolution = resolve_contract(deps, invocation, leading_name=len(invocation.words) > 1)
    except Exception as error:
        if not database_unreachable(error):
            raise
        # What a term means is in the glossary; only the contract's own words need the database.
        logger.warning("explaining %r without the contract: the database is unreachable", invocation.raw[:100])
        resolution, notes = Resolution(), (WITHOUT_DATABASE,)
    if resolution.choices:
        ask_which_contract(client, invocation, resolution.choices)
        return
    contract = resolution.contract
    term = " ".join(invocation.words)
    reading = window = None
    metric = _metric_for(contract, term) if contract is not None else None
    if contract is not None and metric is not None:
        is_metric = term.lower().replace(" ", "_") in (metric.name, (metric.label or "").lower().replace(" ", "_"))
        reading, window = reading_for(deps, invocation.team_id, contract, metric, term_is_metric=is_metric)
    explanation = explain(term, contract, reading, metric_name=metric.name if metric is not None else None)
    if not explanation.found:
        reply(client, invocation, build_unknown_term(term, explanation.suggestions), share=False)
        return
    reply(client, invocation, build_explanation(to_view(explanation, contract, window, notes)))


def handle_explain(ack: Ack, body: dict, client: WebClient, context, deps: Deps) -> None:
    ack()
    run_command(
        body, client, context, deps, command=ids.COMMAND_EXPLAIN, needs_words=True,
        answer=lambda invocation: answer(deps, client, invocation),
    )


def register(app: App, deps: Deps) -> None:
    app.command(ids.COMMAND_EXPLAIN)(lambda ack, body, client, context: handle_explain(ack, body, client, context, deps))

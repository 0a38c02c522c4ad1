"""/explain: a glossary entry in the contract's business terms, with current numbers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.blocks import ids
from bot.blocks.common import actions, button, context, divider, escape, fields, header, section


@dataclass(frozen=True)
class ExplainView:
    term: str
    headline: str
    definition: str = ""
    formula: str = ""
    in_your_terms: str = ""
    when_right: str = ""
    misleads: str = ""
    numbers: Sequence[tuple[str, str]] = ()
    weekly: Sequence[tuple[str, str]] = ()
    placement: Sequence[tuple[str, str]] = ()
    contract_name: str | None = None
    window: str | None = None
    notes: Sequence[str] = field(default_factory=tuple)


def build_explanation(view: ExplainView) -> dict:
    title = f"{view.term} — {view.contract_name}" if view.contract_name else view.term
    blocks: list[dict] = [header(title), section(f"*{escape(view.headline)}*")]
    if view.in_your_terms:
        blocks.append(section(f":moneybag: *In your terms*\n{escape(view.in_your_terms)}"))
    if view.definition or view.formula:
        text = escape(view.definition)
        if view.formula:
            text += f"\n`{escape(view.formula)}`"
        blocks.append(section(text.strip()))
    if view.numbers:
        blocks.extend(fields([(label, value) for label, value in view.numbers]))
    if view.weekly:
        blocks.append(section("*Per week*"))
        blocks.extend(fields([(label, value) for label, value in view.weekly]))
    if view.when_right:
        blocks.append(section(f":white_check_mark: *When it's the right metric*\n{escape(view.when_right)}"))
    if view.misleads:
        blocks.append(section(f":warning: *When it misleads*\n{escape(view.misleads)}"))
    if view.placement:
        blocks.append(divider())
        blocks.append(section("*Where it sits in the contract*"))
        blocks.extend(fields([(label, value) for label, value in view.placement]))
    footer = [n for n in ([view.window] if view.window else []) + list(view.notes)]
    if footer:
        blocks.append(context(*(escape(n) for n in footer)))
    text = view.headline if not view.in_your_terms else f"{view.headline} {view.in_your_terms}"
    return {"text": escape(text), "blocks": blocks}


def build_unknown_term(term: str, suggestions: Sequence[str]) -> dict:
    """An unknown term: the closest entries as buttons that explain them."""
    text = f"I don't have an entry for “{term}”."
    blocks = [section(escape(text) + (" Did you mean one of these?" if suggestions else " Try `/explain help`."))]
    if suggestions:
        buttons = [
            button(s, ids.indexed(ids.ACTION_EXPLAIN_SUGGESTION_PREFIX, i), s) for i, s in enumerate(suggestions[:25])
        ]
        blocks.extend(actions(buttons))
    return {"text": escape(text + (" Suggestions: " + ", ".join(suggestions) if suggestions else "")), "blocks": blocks}

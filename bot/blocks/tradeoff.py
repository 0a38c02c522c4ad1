"""/tradeoff: thresholds priced per week, and metric-vs-metric hierarchy."""

from __future__ import annotations

from bot.blocks.common import code, context, escape, header, money, percent, section
from bot.listeners.analysis import Comovement, Tradeoff


def _table(tradeoff: Tradeoff) -> str:
    b = tradeoff.contract.business
    head = f"{'threshold':>9}  {'precision':>9}  {'recall':>7}  {'FP/week':>9}  {'FN/week':>9}  {'cost/week':>12}"
    lines = [head]
    for row in tradeoff.rows:
        mark = {"current": " ← current", "cost-optimal": " ← cheapest allowed"}.get(row.label, "")
        if tradeoff.optimal is not None and row.threshold == tradeoff.optimal.threshold and row.label == "current":
            mark = " ← current, cheapest allowed"
        elif tradeoff.optimal is not None and row.threshold == tradeoff.optimal.threshold:
            mark = " ← cheapest allowed"
        lines.append(
            f"{row.threshold:>9.2f}  {percent(row.precision):>9}  {percent(row.recall):>7}  "
            f"{row.fp_per_week:>9,.0f}  {row.fn_per_week:>9,.0f}  {money(row.cost_per_week, b.currency):>12}{mark}"
        )
    return "\n".join(lines)


def build_tradeoff(tradeoff: Tradeoff) -> dict:
    b = tradeoff.contract.business
    current = tradeoff.current

    def cost(value: float) -> str:
        # The currency is the contract's own word (any code, not only $ £ €).
        return escape(money(value, b.currency))

    blocks: list[dict] = [
        header(f"Trade-off: {tradeoff.metric.title} ({tradeoff.contract.name})"),
        section(
            f"At threshold *{current.threshold:.2f}* you {escape(b.action)} {percent(current.recall)} of {escape(b.positive)}s; "
            f"about *{current.fp_per_week:,.0f} {escape(b.negative)}s* a week are {escape(b.acted)} by mistake "
            f"({escape(b.false_positive_cost_means)}) and *{current.fn_per_week:,.0f} {escape(b.positive)}s* get through "
            f"({escape(b.false_negative_cost_means)}): *{cost(current.cost_per_week)} a week*."
        ),
        section(code(escape(_table(tradeoff)))),
    ]
    if tradeoff.optimal is not None:
        saving = current.cost_per_week - tradeoff.optimal.cost_per_week
        verdict = (
            f"The cheapest threshold the guardrails allow is *{tradeoff.optimal.threshold:.2f}* at "
            f"*{cost(tradeoff.optimal.cost_per_week)} a week*"
        )
        verdict += f", {cost(saving)} a week less than now." if saving > 0.5 else ", which is where you are."
        if tradeoff.binding:
            verdict += f" The binding guardrail is *{escape(tradeoff.binding)}*: without it a lower cost is possible."
        else:
            verdict += " No guardrail binds there."
        blocks.append(section(verdict))
    else:
        blocks.append(section(":no_entry: No threshold meets every guardrail at once: the model itself needs to improve."))
    notes = [
        f"Costs: {cost(b.cost_false_positive)} per {escape(b.negative)} {escape(b.acted)} ({escape(b.false_positive_cost_means)}), "
        f"{cost(b.cost_false_negative)} per missed {escape(b.positive)} ({escape(b.false_negative_cost_means)}); "
        f"{b.weekly_volume:,.0f} {escape(b.units)} a week. From stored histograms, not a live query.",
        *(escape(n) for n in tradeoff.guardrail_notes),
    ]
    blocks.append(context(*notes[:10]))
    text = (
        f"{tradeoff.metric.title} at threshold {current.threshold:.2f}: {current.fp_per_week:,.0f} {b.negative}s {b.acted} "
        f"and {current.fn_per_week:,.0f} {b.positive}s missed a week, {money(current.cost_per_week, b.currency)} a week"
    )
    return {"text": escape(text), "blocks": blocks}


def build_hierarchy(view: Comovement) -> dict:
    first, second = view.first, view.second
    ranked = sorted([(view.first_weight, first), (view.second_weight, second)], key=lambda p: -abs(p[0]))
    lines = [
        f"• *{escape(m.title)}* `{m.name}` — {m.role.value.replace('_', ' ')}, {m.layer.value} layer, weight {w:+g}"
        for w, m in ranked
    ]
    if first.layer != second.layer:
        order = {"model": 0, "product": 1, "business": 2}
        lower, higher = sorted([first, second], key=lambda m: order[m.layer.value])
        lines.append(
            f"You may give up some *{escape(lower.title)}* ({lower.layer.value}) for *{escape(higher.title)}* "
            f"({higher.layer.value}), never the reverse."
        )
    blocks: list[dict] = [header(f"{first.title} vs {second.title}"), section("*Declared hierarchy*\n" + "\n".join(lines))]
    if view.pairs:
        rows = [f"{'window end':<12} {first.name[:24]:>24} {second.name[:24]:>24}"]
        rows += [f"{end:<12} {a:>24.4g} {b:>24.4g}" for end, a, b in view.pairs[-12:]]
        blocks.append(section(code("\n".join(rows))))
        together = (
            f"In {view.together} of {view.steps} changes both got better or both got worse together"
            if view.steps
            else "Not enough changes yet to say how they move together"
        )
        if view.correlation is not None:
            together += f" (correlation {view.correlation:+.2f})"
        blocks.append(section(together + "."))
    else:
        blocks.append(section("No windows where both metrics were pulled yet."))
    text = f"{first.title} (weight {view.first_weight:+g}) vs {second.title} (weight {view.second_weight:+g})"
    return {"text": escape(text), "blocks": blocks}

"""/metric: latest value, window, sample size, status against its bound, trend."""

from __future__ import annotations

from bot.blocks.common import code, context, escape, fields, header, number, section
from bot.listeners.analysis import MetricSummary


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "%":
        return f"{100 * value:.2f}%"
    if unit == "$":
        return f"${value:,.2f}"
    return f"{value:,.4g}{(' ' + unit) if unit else ''}"


STATUS_ICON = {"ok": ":large_green_circle: within bound", "violated": ":red_circle: violated", "no bound": "no bound", "no data": "no data"}


def build_metric(summary: MetricSummary, *, with_history: bool = False) -> dict:
    metric, contract, latest = summary.metric, summary.contract, summary.latest
    title = f"{metric.title} ({contract.name})"
    if latest is None:
        text = escape(f"{title}: no snapshot stored yet. `/metric {contract.name} {metric.name} refresh` queues a pull.")
        return {"text": text, "blocks": [section(text)]}
    bound = metric.bound.describe(contract.baseline_value(metric)) if metric.bound else "—"
    blocks: list[dict] = [
        header(title),
        *fields(
            [
                ("Latest", format_value(latest.value, metric.unit)),
                ("Window", f"{latest.window_start:%Y-%m-%d} → {latest.window_end:%Y-%m-%d}"),
                ("Sample size", number(latest.sample_size)),
                ("Status", f"{STATUS_ICON.get(summary.status, summary.status)} (bound {bound})"),
                ("Trend", summary.trend),
                ("Role", f"{metric.role.value.replace('_', ' ')}, {metric.layer.value} layer"),
            ]
        ),
    ]
    if with_history and summary.history:
        rows = [f"{'window end':<12} {'value':>14} {'n':>10}"]
        rows += [
            f"{s.window_end:%Y-%m-%d}   {format_value(s.value, metric.unit):>14} {number(s.sample_size):>10}" for s in summary.history
        ]
        # The unit beside each value comes from the contract.
        blocks.append(section(code(escape("\n".join(rows)))))
    if metric.description:
        blocks.append(context(escape(metric.description)))
    text = (
        f"{title}: {format_value(latest.value, metric.unit)} for {latest.window_start:%Y-%m-%d} → {latest.window_end:%Y-%m-%d}, "
        f"n={number(latest.sample_size)}, {summary.status}"
    )
    return {"text": escape(text), "blocks": blocks}

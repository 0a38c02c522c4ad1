"""Charts rendered to PNG bytes for upload; matplotlib's Agg backend, no display needed."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402  (after choosing the backend)

from bot.listeners.analysis import Tradeoff  # noqa: E402


def tradeoff_chart(tradeoff: Tradeoff) -> bytes:
    """Cost per week and precision/recall against the threshold, current and optimal marked."""
    # Figure() rather than pyplot: no global state, safe on the listener thread pool.
    figure = Figure(figsize=(8, 4.5), dpi=100)
    cost_axis = figure.add_subplot(1, 1, 1)
    business = tradeoff.contract.business
    thresholds = list(tradeoff.curve_thresholds)
    cost_axis.plot(thresholds, tradeoff.curve_cost, color="#c0392b", label=f"cost per week ({business.currency})")
    cost_axis.set_xlabel("threshold")
    cost_axis.set_ylabel(f"cost per week ({business.currency})")
    rate_axis = cost_axis.twinx()
    rate_axis.plot(thresholds, tradeoff.curve_precision, color="#2980b9", label="precision")
    rate_axis.plot(thresholds, tradeoff.curve_recall, color="#27ae60", label="recall")
    rate_axis.set_ylim(0, 1.05)
    rate_axis.set_ylabel("precision / recall")
    cost_axis.axvline(tradeoff.current.threshold, color="#555555", linestyle="--", label="current")
    if tradeoff.optimal is not None:
        cost_axis.axvline(tradeoff.optimal.threshold, color="#8e44ad", linestyle=":", label="cheapest allowed")
    handles = cost_axis.get_legend_handles_labels()
    more = rate_axis.get_legend_handles_labels()
    cost_axis.legend(handles[0] + more[0], handles[1] + more[1], loc="upper center", fontsize=8)
    cost_axis.set_title(f"{tradeoff.metric.title}: cost and accuracy by threshold")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()

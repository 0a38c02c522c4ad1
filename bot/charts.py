"""Charts rendered to PNG bytes for upload; matplotlib's Agg backend, no display needed."""

from __future__ import annotations

import io
from functools import lru_cache

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402  (after choosing the backend)

from bot.listeners.analysis import Tradeoff  # noqa: E402


def tradeoff_chart(tradeoff: Tradeoff) -> bytes:
    """Cost per week and precision/recall against the threshold, current and optimal marked."""
    return _render_tradeoff(
        currency=tradeoff.contract.business.currency,
        title=tradeoff.metric.title,
        thresholds=tuple(tradeoff.curve_thresholds),
        cost=tuple(tradeoff.curve_cost),
        precision=tuple(tradeoff.curve_precision),
        recall=tuple(tradeoff.curve_recall),
        current=tradeoff.current.threshold,
        optimal=tradeoff.optimal.threshold if tradeoff.optimal is not None else None,
    )


# Drawing takes ~200 ms of CPU under the GIL, and the same stored histograms give the same chart
# until the next pull: keyed on every number drawn, a repeat /tradeoff costs nothing.
@lru_cache(maxsize=256)
def _render_tradeoff(
    *,
    currency: str,
    title: str,
    thresholds: tuple[float, ...],
    cost: tuple[float, ...],
    precision: tuple[float, ...],
    recall: tuple[float, ...],
    current: float,
    optimal: float | None,
) -> bytes:
    # Figure() rather than pyplot: no global state, safe on the listener thread pool.
    figure = Figure(figsize=(8, 4.5), dpi=100)
    # Fixed margins instead of tight_layout, which measures every text artist on each render.
    figure.subplots_adjust(left=0.1, right=0.9, top=0.9, bottom=0.12)
    cost_axis = figure.add_subplot(1, 1, 1)
    cost_axis.plot(thresholds, cost, color="#c0392b", label=f"cost per week ({currency})")
    cost_axis.set_xlabel("threshold")
    cost_axis.set_ylabel(f"cost per week ({currency})")
    rate_axis = cost_axis.twinx()
    rate_axis.plot(thresholds, precision, color="#2980b9", label="precision")
    rate_axis.plot(thresholds, recall, color="#27ae60", label="recall")
    rate_axis.set_ylim(0, 1.05)
    rate_axis.set_ylabel("precision / recall")
    cost_axis.axvline(current, color="#555555", linestyle="--", label="current")
    if optimal is not None:
        cost_axis.axvline(optimal, color="#8e44ad", linestyle=":", label="cheapest allowed")
    handles = cost_axis.get_legend_handles_labels()
    more = rate_axis.get_legend_handles_labels()
    cost_axis.legend(handles[0] + more[0], handles[1] + more[1], loc="upper center", fontsize=8)
    cost_axis.set_title(f"{title}: cost and accuracy by threshold")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()

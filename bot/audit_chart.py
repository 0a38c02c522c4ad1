"""The weekly audit's trend chart as PNG bytes: matplotlib's Agg backend, no display needed.

Top panel: the north star's last weeks with its launch baseline. Bottom panel (when the contract
has a guardrail): the guardrail most in trouble, its allowed band shaded, so a breach reads as a
line leaving the band.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402  (after choosing the backend)

from matplotlib.dates import DateFormatter  # noqa: E402

from metrics.audit import Audit, TrendSeries  # noqa: E402

_DATES = DateFormatter("%d %b")


def _scale(series: TrendSeries) -> float:
    # Rates are stored as fractions and read as percentages.
    return 100.0 if series.unit == "%" else 1.0


def _draw(axis, series: TrendSeries, *, colour: str) -> None:
    k = _scale(series)
    xs = [day for day, value in series.points if value is not None]
    ys = [value * k for _, value in series.points if value is not None]
    if xs:
        axis.plot(xs, ys, marker="o", color=colour, label=series.title)
    if series.baseline is not None:
        axis.axhline(series.baseline * k, color="#555555", linestyle="--", linewidth=1, label="baseline")
    if series.low is not None or series.high is not None:
        bottom, top = axis.get_ylim()
        low = series.low * k if series.low is not None else min(bottom, *(ys or [bottom]))
        high = series.high * k if series.high is not None else max(top, *(ys or [top]))
        axis.axhspan(low, high, color="#27ae60", alpha=0.12, label="allowed band")
    axis.xaxis.set_major_formatter(_DATES)
    axis.tick_params(labelsize=7)
    unit = "%" if series.unit == "%" else series.unit
    axis.set_ylabel(unit or "value")
    axis.set_title(series.title, fontsize=10)
    axis.grid(True, alpha=0.3)
    if xs or series.baseline is not None:
        # A fixed corner: "best" searches every position and costs more than the plot.
        axis.legend(loc="upper left", fontsize=7)


def audit_chart(audit: Audit) -> bytes:
    """PNG bytes of the audit's trend panels; a single placeholder panel when there is no data."""
    panels = list(audit.trend) or [TrendSeries(title=f"{audit.title}: no series yet", unit="", points=())]
    # Figure() rather than pyplot: no global state, safe on a worker thread.
    figure = Figure(figsize=(8, 2.6 * len(panels) + 0.4), dpi=80)
    colours = ("#2980b9", "#c0392b")
    for i, series in enumerate(panels):
        axis = figure.add_subplot(len(panels), 1, i + 1)
        _draw(axis, series, colour=colours[i % len(colours)])
    figure.suptitle(f"{audit.title}: week ending {audit.week_end:%Y-%m-%d}", fontsize=11)
    # Fixed margins rather than tight_layout(), which renders the figure once more to measure it.
    figure.subplots_adjust(left=0.1, right=0.97, top=0.9, bottom=0.1, hspace=0.45)
    buffer = io.BytesIO()
    # Fast zlib level: the file is a few KB larger, the encode several times faster.
    figure.savefig(buffer, format="png", pil_kwargs={"compress_level": 1})
    return buffer.getvalue()

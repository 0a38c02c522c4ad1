"""The weekly audit's trend chart as PNG bytes: matplotlib's Agg backend, no display needed.

Top panel: the north star's last weeks with its launch baseline. Bottom panel (when the contract
has a guardrail): the guardrail most in trouble, its allowed band shaded, so a breach reads as a
line leaving the band.
"""

from __future__ import annotations

import io
import threading

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402  (after choosing the backend)
from matplotlib.dates import DateFormatter  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from metrics.audit import Audit, TrendSeries  # noqa: E402

_DATE_FORMAT = "%d %b"
_COLOURS = ("#2980b9", "#c0392b")


def _scale(series: TrendSeries) -> float:
    # Rates are stored as fractions and read as percentages.
    return 100.0 if series.unit == "%" else 1.0


def _new_figure(count: int) -> Figure:
    # Figure() rather than pyplot: no global state, safe on a worker thread.
    figure = Figure(figsize=(8, 2.6 * count + 0.4), dpi=80)
    FigureCanvasAgg(figure)  # attached once: savefig neither swaps canvases nor builds a renderer each time
    for i in range(count):
        axis = figure.add_subplot(count, 1, i + 1)
        axis.xaxis.set_major_formatter(DateFormatter(_DATE_FORMAT))
        axis.tick_params(labelsize=7)
        axis.grid(True, alpha=0.3)
        # Plain tick labels, never an offset or exponent above the axis: they read better, and
        # with nothing drawn above the axes the title can stay put (see _draw).
        axis.ticklabel_format(axis="y", style="plain", useOffset=False)
        # The x axis has no label; fixing where it would go spares measuring every tick label.
        axis.xaxis.set_label_coords(0.5, -0.1)
    # Fixed margins rather than tight_layout(), which renders the figure once more to measure it.
    figure.subplots_adjust(left=0.1, right=0.97, top=0.9, bottom=0.1, hspace=0.45)
    return figure


def _clear(figure: Figure) -> None:
    """Remove the last chart's data, keeping the axes, their ticks and their settings."""
    for axis in figure.axes:
        for artist in (*axis.lines, *axis.patches, *axis.collections, *axis.texts):
            artist.remove()
        if axis.legend_ is not None:
            axis.legend_.remove()
        # Limits come from the next chart's data alone, as on new axes.
        axis.relim()
        axis.set_autoscale_on(True)


_local = threading.local()


def _figure(count: int, reuse: bool) -> Figure:
    """A figure with ``count`` panels: this thread's own, cleared, or a new one.

    Building axes and their ticks costs more than drawing the lines, so each thread keeps one
    figure per panel count. A chart with an empty panel gets new axes: with nothing plotted the
    x axis keeps its default limits, which reused axes would have moved.
    """
    if not reuse:
        return _new_figure(count)
    figures = getattr(_local, "figures", None)
    if figures is None:
        figures = _local.figures = {}
    figure = figures.get(count)
    if figure is None:
        figure = figures[count] = _new_figure(count)
    else:
        _clear(figure)
    return figure


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
    unit = "%" if series.unit == "%" else series.unit
    axis.set_ylabel(unit or "value")
    # An explicit y keeps the title where matplotlib would put it anyway (nothing is drawn above
    # the axes), without measuring every tick label of the panel to check.
    axis.set_title(series.title, fontsize=10, y=1.0)
    if xs or series.baseline is not None:
        # A fixed corner: "best" searches every position and costs more than the plot.
        axis.legend(loc="upper left", fontsize=7)


def audit_chart(audit: Audit) -> bytes:
    """PNG bytes of the audit's trend panels; a single placeholder panel when there is no data."""
    panels = list(audit.trend) or [TrendSeries(title=f"{audit.title}: no series yet", unit="", points=())]
    every_panel_plotted = all(any(value is not None for _, value in series.points) for series in panels)
    figure = _figure(len(panels), reuse=every_panel_plotted)
    for i, (axis, series) in enumerate(zip(figure.axes, panels, strict=True)):
        _draw(axis, series, colour=_COLOURS[i % len(_COLOURS)])
    figure.suptitle(f"{audit.title}: week ending {audit.week_end:%Y-%m-%d}", fontsize=11)
    buffer = io.BytesIO()
    # Fast zlib level: the file is a few KB larger, the encode several times faster.
    figure.savefig(buffer, format="png", pil_kwargs={"compress_level": 1})
    return buffer.getvalue()

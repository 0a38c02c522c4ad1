"""Metrics disaggregated by segment, and the disparity between the best and worst segment.

A disparity is reported as a ratio ("false positives 3.0x higher for arabic than for english")
because that is how it is read in a review, with the absolute gap kept alongside for the case
where the ratio is meaningless (the lowest segment is exactly zero).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from metrics._validation import ZeroDivision, as_non_negative, safe_divide
from metrics.errors import MetricInputError

__all__ = ["Disparity", "disaggregate", "rate_by_segment"]


@dataclass(frozen=True)
class Disparity:
    """How far apart a metric is across segments.

    Attributes
    ----------
    values : dict of str to float
        Metric value of every segment that met the sample-size floor.
    highest, lowest : str
        Segments with the largest and smallest value (ties: the first in input order).
    ratio : float
        ``values[highest] / values[lowest]``. ``inf`` when the lowest value is 0 and the highest
        is not (then ``lowest_is_zero`` is True); 1.0 when every value is 0.
    difference : float
        ``values[highest] - values[lowest]``, always finite.
    lowest_is_zero : bool
        True when the ratio is infinite because the lowest segment is exactly zero.
    excluded : dict of str to int
        Segments left out for having fewer than ``min_samples`` samples, with their counts.
    min_samples : int
        The floor that was applied.
    """

    values: dict[str, float]
    highest: str
    lowest: str
    ratio: float
    difference: float
    lowest_is_zero: bool
    excluded: dict[str, int] = field(default_factory=dict)
    min_samples: int = 0

    def describe(self, metric_label: str, *, percent: bool = True) -> str:
        """One sentence for a review, e.g. ``"false positive rate is 3.0× higher for ..."``.

        Parameters
        ----------
        metric_label : str
            What the values are, in words ("false positive rate").
        percent : bool, default=True
            Format values as percentages (rates); otherwise with three significant digits.

        Examples
        --------
        >>> d = disaggregate({"english": 0.015, "arabic": 0.045})
        >>> d.describe("false positive rate")
        'false positive rate is 3.0× higher for arabic (4.5%) than for english (1.5%)'
        """
        hi, lo = self.values[self.highest], self.values[self.lowest]
        fmt = _percent if percent else _plain
        if len(self.values) == 1:
            sentence = (
                f"{metric_label} is {fmt(hi)} for {self.highest}, the only segment with enough samples"
            )
        elif self.lowest_is_zero:
            sentence = (
                f"{metric_label} is {fmt(hi)} for {self.highest} and zero for {self.lowest}, "
                "so no ratio can be given"
            )
        elif hi == lo:
            sentence = f"{metric_label} is {fmt(hi)} in every segment"
        else:
            sentence = (
                f"{metric_label} is {self.ratio:.1f}× higher for {self.highest} ({fmt(hi)}) "
                f"than for {self.lowest} ({fmt(lo)})"
            )
        if self.excluded:
            names = ", ".join(sorted(self.excluded))
            sentence += f" (excluded with fewer than {self.min_samples} samples: {names})"
        return sentence


def disaggregate(
    values_by_segment: Mapping[str, float],
    *,
    min_n: Mapping[str, int] | None = None,
    min_samples: int = 0,
) -> Disparity:
    """Summarise a metric across segments as a :class:`Disparity`.

    Parameters
    ----------
    values_by_segment : mapping of str to float
        Non-negative metric value per segment (a rate, an error, a latency).
    min_n : mapping of str to int, optional
        Sample size behind each value. Required when ``min_samples > 0``; every segment must
        appear in it.
    min_samples : int, default=0
        Segments with fewer samples are excluded (and listed in ``excluded``): a rate on a
        handful of rows would dominate the ratio by noise alone.

    Returns
    -------
    Disparity

    Raises
    ------
    MetricInputError
        On an empty mapping, negative or non-finite values, missing sample sizes, or when no
        segment meets ``min_samples``.

    Examples
    --------
    >>> d = disaggregate({"en": 0.02, "ar": 0.06, "ur": 0.5}, min_n={"en": 900, "ar": 400, "ur": 3},
    ...                  min_samples=30)
    >>> d.highest, d.lowest, round(d.ratio, 2), d.excluded
    ('ar', 'en', 3.0, {'ur': 3})
    >>> disaggregate({"a": 0.0, "b": 0.1}).lowest_is_zero
    True
    """
    if not values_by_segment:
        raise MetricInputError("values_by_segment is empty")
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 0:
        raise MetricInputError(f"min_samples must be a non-negative integer, got {min_samples!r}")
    values = {str(k): as_non_negative(v, name=f"value for segment {k!r}") for k, v in values_by_segment.items()}

    excluded: dict[str, int] = {}
    if min_n is not None or min_samples > 0:
        if min_n is None:
            raise MetricInputError(f"min_samples={min_samples} needs min_n, the sample size per segment")
        missing = [k for k in values if k not in min_n]
        if missing:
            raise MetricInputError(f"min_n has no sample size for segment(s): {', '.join(missing)}")
        for k in values:
            n = min_n[k]
            if isinstance(n, bool) or as_non_negative(n, name=f"min_n for segment {k!r}") != int(n):
                raise MetricInputError(f"min_n for segment {k!r} must be a whole number, got {n!r}")
            if n < min_samples:
                excluded[k] = int(n)
    kept = {k: v for k, v in values.items() if k not in excluded}
    if not kept:
        detail = ", ".join(f"{k} (n={n})" for k, n in excluded.items())
        raise MetricInputError(f"no segment has at least min_samples={min_samples} samples: {detail}")

    highest = max(kept, key=kept.__getitem__)
    lowest = min(kept, key=kept.__getitem__)
    hi, lo = kept[highest], kept[lowest]
    lowest_is_zero = lo == 0 and hi > 0
    if lowest_is_zero:
        ratio = math.inf
    elif hi == 0:
        ratio = 1.0  # every segment is zero: no disparity
    else:
        ratio = hi / lo
    return Disparity(
        values=kept,
        highest=highest,
        lowest=lowest,
        ratio=ratio,
        difference=hi - lo,
        lowest_is_zero=lowest_is_zero,
        excluded=excluded,
        min_samples=min_samples,
    )


def rate_by_segment(
    numerators: Mapping[str, float],
    denominators: Mapping[str, float],
    *,
    zero_division: ZeroDivision = "warn",
) -> dict[str, float]:
    """Per-segment rate ``numerators[k] / denominators[k]``.

    Parameters
    ----------
    numerators, denominators : mapping of str to float
        Same keys; non-negative counts, numerator at most the denominator is *not* required
        (rates per 1,000 requests are fine).
    zero_division : "warn", float or "nan", default="warn"
        Value for a segment with a zero denominator; ``"warn"`` gives 0.0 and an
        :class:`~metrics.errors.UndefinedMetricWarning`.

    Examples
    --------
    >>> rate_by_segment({"en": 3, "ar": 9}, {"en": 200, "ar": 200})
    {'en': 0.015, 'ar': 0.045}
    """
    if not numerators:
        raise MetricInputError("numerators is empty")
    if set(numerators) != set(denominators):
        only_num = sorted(set(numerators) - set(denominators))
        only_den = sorted(set(denominators) - set(numerators))
        raise MetricInputError(
            f"numerators and denominators must have the same segments; "
            f"only in numerators: {only_num}, only in denominators: {only_den}"
        )
    return {
        str(k): safe_divide(
            as_non_negative(numerators[k], name=f"numerator for segment {k!r}"),
            as_non_negative(denominators[k], name=f"denominator for segment {k!r}"),
            metric=f"rate for segment {k!r}",
            zero_division=zero_division,
        )
        for k in numerators
    }


def _percent(x: float) -> str:
    return f"{100 * x:.1f}%"


def _plain(x: float) -> str:
    return f"{x:.3g}"

"""Regression error metrics, from arrays or from sums a warehouse can push down.

Two ways in, one meaning:

* :func:`root_mean_squared_error`, :func:`mean_absolute_error`,
  :func:`mean_absolute_percentage_error` take arrays and return scikit-learn's values;
* :class:`RegressionSums` holds the few sums those metrics need, so a warehouse can return
  ``n, sum(error), sum(error^2), ...`` per window and windows can be merged afterwards.

The error of a row is ``y_pred - y_true``: a positive mean error means over-prediction.

MAPE and zero actuals differ by design between the two: on arrays we match scikit-learn,
which divides by ``max(|y_true|, eps)`` (a zero actual yields an enormous term); from sums,
rows whose actual is 0 are excluded from MAPE and counted (``n - n_pct``), because a
percentage of zero is meaningless and one such row would otherwise swamp the audit.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from metrics._validation import ZeroDivision, as_1d_float, check_same_length, safe_divide
from metrics.errors import MetricInputError

__all__ = [
    "RegressionSums",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "root_mean_squared_error",
]

# scikit-learn's floor for |y_true| in MAPE.
_EPS = np.finfo(np.float64).eps


def _errors(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(y_true, y_pred - y_true)`` as validated float arrays."""
    t = as_1d_float(y_true, name="y_true")
    p = as_1d_float(y_pred, name="y_pred")
    check_same_length(y_true=t, y_pred=p)
    with np.errstate(over="ignore"):
        error = p - t
    if not np.isfinite(error).all():
        i = int(np.flatnonzero(~np.isfinite(error))[0])
        raise MetricInputError(
            f"y_pred - y_true overflows float64 at index {i} "
            f"(y_true={float(t[i])!r}, y_pred={float(p[i])!r})"
        )
    return t, error


def root_mean_squared_error(y_true, y_pred) -> float:
    """Root mean squared error, as :func:`sklearn.metrics.root_mean_squared_error`.

    Examples
    --------
    >>> root_mean_squared_error([3, -0.5, 2, 7], [2.5, 0.0, 2, 8])
    0.6123724356957945
    """
    _, error = _errors(y_true, y_pred)
    with np.errstate(over="ignore", under="ignore"):
        plain = math.sqrt(float(np.mean(error**2)))
    if math.isfinite(plain) and (plain != 0.0 or not error.any()):
        return plain
    # Squares overflow (or vanish) although the root is representable: factor out the scale.
    scale = float(np.abs(error).max())
    return scale * math.sqrt(float(np.mean((error / scale) ** 2)))


def mean_absolute_error(y_true, y_pred) -> float:
    """Mean absolute error, as :func:`sklearn.metrics.mean_absolute_error`.

    Examples
    --------
    >>> mean_absolute_error([3, -0.5, 2, 7], [2.5, 0.0, 2, 8])
    0.5
    """
    _, error = _errors(y_true, y_pred)
    return _mean_abs(np.abs(error), what="mean_absolute_error")


def _mean_abs(values: np.ndarray, *, what: str) -> float:
    with np.errstate(over="ignore"):
        plain = float(np.mean(values))
    if math.isfinite(plain):
        return plain
    scale = float(values.max())
    if not math.isfinite(scale):
        raise MetricInputError(f"{what} overflows float64: a single row's term is infinite")
    return float(np.mean(values / scale)) * scale


def mean_absolute_percentage_error(y_true, y_pred) -> float:
    """Mean absolute percentage error as a fraction, as scikit-learn computes it.

    Each row contributes ``|y_pred - y_true| / max(|y_true|, eps)`` with ``eps`` the float64
    machine epsilon, so a zero actual gives a huge term rather than a division error. Use
    :attr:`RegressionSums.mape` to leave zero actuals out instead.

    Examples
    --------
    >>> mean_absolute_percentage_error([100, 200], [110, 180])
    0.1
    """
    t, error = _errors(y_true, y_pred)
    with np.errstate(over="ignore"):
        terms = np.abs(error) / np.maximum(np.abs(t), _EPS)
    return _mean_abs(terms, what="mean_absolute_percentage_error")


@dataclass(frozen=True)
class RegressionSums:
    """Sufficient statistics for regression errors; additive across windows and shards.

    Attributes
    ----------
    n : float
        Rows.
    sum_error : float
        ``sum(y_pred - y_true)``.
    sum_squared_error, sum_abs_error : float
        ``sum((y_pred - y_true)**2)`` and ``sum(|y_pred - y_true|)``.
    sum_abs_pct_error : float
        ``sum(|y_pred - y_true| / |y_true|)`` over rows with ``y_true != 0``.
    n_pct : float
        Rows with ``y_true != 0`` (those in the MAPE).

    Examples
    --------
    >>> a = RegressionSums.from_arrays([100, 200], [110, 180])
    >>> b = RegressionSums.from_arrays([0, 50], [5, 50])
    >>> whole = a.merge(b)
    >>> whole.n, whole.n_pct, whole.mae, round(whole.mape, 4)
    (4.0, 3.0, 8.75, 0.0667)
    >>> RegressionSums.from_dict(whole.to_dict()) == whole
    True
    """

    n: float
    sum_error: float
    sum_squared_error: float
    sum_abs_error: float
    sum_abs_pct_error: float
    n_pct: float

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            try:
                number = float(value)
            except (TypeError, ValueError) as exc:
                raise MetricInputError(f"{f.name} must be a number, got {value!r}") from exc
            if not math.isfinite(number):
                raise MetricInputError(
                    f"{f.name} must be finite, got {number!r}; errors this large overflow float64 sums"
                )
            if f.name != "sum_error" and number < 0:
                raise MetricInputError(f"{f.name} must be non-negative, got {number!r}")
            object.__setattr__(self, f.name, number)
        if self.n_pct > self.n:
            raise MetricInputError(f"n_pct ({self.n_pct:g}) cannot exceed n ({self.n:g})")

    @classmethod
    def zero(cls) -> RegressionSums:
        """The empty sums, the identity of :meth:`merge`."""
        return cls(n=0, sum_error=0, sum_squared_error=0, sum_abs_error=0, sum_abs_pct_error=0, n_pct=0)

    @classmethod
    def from_arrays(cls, y_true, y_pred) -> RegressionSums:
        """Accumulate the sums over rows."""
        t, error = _errors(y_true, y_pred)
        absolute = np.abs(error)
        nonzero = t != 0
        with np.errstate(over="ignore"):
            sums = {
                "sum_error": float(error.sum()),
                "sum_squared_error": float(np.square(error).sum()),
                "sum_abs_error": float(absolute.sum()),
                "sum_abs_pct_error": float((absolute[nonzero] / np.abs(t[nonzero])).sum()),
            }
        return cls(n=t.size, n_pct=int(nonzero.sum()), **sums)

    def merge(self, other: RegressionSums) -> RegressionSums:
        """Sums of both (windows, shards or segments added together)."""
        return RegressionSums(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def to_dict(self) -> dict[str, float]:
        """JSON-ready dict; :meth:`from_dict` restores it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RegressionSums:
        names = [f.name for f in fields(cls)]
        missing = [name for name in names if name not in data]
        if missing:
            raise MetricInputError(f"regression sums dict is missing {', '.join(missing)}")
        return cls(**{name: data[name] for name in names})

    def _per_row(self, total: float, metric: str, zero_division: ZeroDivision) -> float:
        return safe_divide(total, self.n, metric=metric, zero_division=zero_division)

    @property
    def rmse(self) -> float:
        """Root mean squared error."""
        return math.sqrt(self._per_row(self.sum_squared_error, "rmse", "warn"))

    @property
    def mae(self) -> float:
        """Mean absolute error."""
        return self._per_row(self.sum_abs_error, "mae", "warn")

    @property
    def mean_error(self) -> float:
        """Mean of ``y_pred - y_true`` (bias): positive means over-prediction."""
        return self._per_row(self.sum_error, "mean_error", "warn")

    @property
    def mape(self) -> float:
        """Mean absolute percentage error (a fraction) over rows with a nonzero actual."""
        return safe_divide(self.sum_abs_pct_error, self.n_pct, metric="mape", zero_division="warn")

    @property
    def n_zero_actual(self) -> float:
        """Rows left out of :attr:`mape` because their actual is 0."""
        return self.n - self.n_pct

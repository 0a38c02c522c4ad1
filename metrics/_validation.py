"""Input checks shared by the metric functions.

Every check raises :class:`~metrics.errors.MetricInputError` with a message that names the
offending argument and value, so callers never see a bare numpy traceback or a silent NaN.
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import numpy as np

from metrics.errors import MetricInputError, UndefinedMetricWarning

ZeroDivision = Literal["warn", 0.0, 1.0, "nan"] | float


def as_1d_float(values, *, name: str) -> np.ndarray:
    """Return ``values`` as a 1-D float64 array of finite numbers."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MetricInputError(f"{name} must be numeric: {exc}") from exc
    if arr.ndim != 1:
        raise MetricInputError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise MetricInputError(f"{name} is empty")
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = int(np.flatnonzero(bad)[0])
        raise MetricInputError(
            f"{name} must be finite; {int(bad.sum())} value(s) are NaN or infinite "
            f"(first at index {idx}: {arr[idx]!r})"
        )
    return arr


def as_binary_labels(values, *, name: str = "y_true") -> np.ndarray:
    """Return ``values`` as a boolean array; accepts {0, 1} or booleans only."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise MetricInputError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise MetricInputError(f"{name} is empty")
    if arr.dtype == np.bool_:
        return arr
    try:
        numeric = arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise MetricInputError(f"{name} must hold binary labels 0/1: {exc}") from exc
    not_binary = (numeric != 0) & (numeric != 1)
    if not_binary.any():
        uniq = np.unique(arr[not_binary])[:5]
        raise MetricInputError(
            f"{name} must hold binary labels 0/1; found {', '.join(map(repr, uniq.tolist()))}"
        )
    return numeric == 1


def check_same_length(**arrays: np.ndarray) -> int:
    """Check that all named arrays have the same length and return it."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise MetricInputError(f"inputs have mismatched lengths: {detail}")
    return next(iter(lengths.values()))


def as_counts(values, *, name: str) -> np.ndarray:
    """Return ``values`` as a float64 array of non-negative finite counts (any shape)."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MetricInputError(f"{name} must be numeric counts: {exc}") from exc
    if not np.isfinite(arr).all():
        raise MetricInputError(f"{name} must be finite counts")
    if (arr < 0).any():
        idx = np.argwhere(arr < 0)[0]
        raise MetricInputError(
            f"{name} must be non-negative; found {arr[tuple(idx)]!r} at index {tuple(int(i) for i in idx)}"
        )
    return arr


def as_non_negative(value, *, name: str) -> float:
    """Return ``value`` as a finite, non-negative float (a count, a cost, a rate)."""
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise MetricInputError(f"{name} must be a number, got {value!r}") from exc
    if not math.isfinite(number) or number < 0:
        raise MetricInputError(f"{name} must be finite and non-negative, got {value!r}")
    return number


def safe_divide(numerator: float, denominator: float, *, metric: str, zero_division: ZeroDivision = "warn") -> float:
    """Divide, resolving ``x / 0`` through the explicit ``zero_division`` choice.

    ``"warn"`` returns 0.0 and emits :class:`UndefinedMetricWarning`; a number returns that
    number silently; ``"nan"`` returns NaN silently (the caller asked for it).
    """
    if denominator != 0:
        return float(numerator) / float(denominator)
    if zero_division == "warn":
        warnings.warn(
            f"{metric} is undefined (division by zero); returning 0.0. "
            "Pass zero_division= to choose the value explicitly.",
            UndefinedMetricWarning,
            stacklevel=3,
        )
        return 0.0
    if zero_division == "nan":
        return float("nan")
    return float(zero_division)

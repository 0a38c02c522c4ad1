"""Benchmark Northstar's classification curves against scikit-learn on the same arrays.

Usage::

    python benchmarks/bench_metrics.py [--rows N] [--seed S]

Times ``threshold_curve`` + ROC AUC + average precision (one sort, reused) against
``roc_curve`` + ``roc_auc_score`` + ``precision_recall_curve`` + ``average_precision_score``,
checks that the results agree, and reports the peak memory of our path relative to the input
arrays (tracemalloc tracks numpy's allocations) and the time of ``ScoreHistogram.from_arrays``
with 1,000 bins.

Targets: speed-up >= 5x, peak memory <= 4x the inputs, histogram < 0.2 s at 10M rows.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from metrics.classification import ScoreHistogram, curve_summary  # noqa: E402


def make_data(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """2% positives; scores a model could emit: beta-distributed, float32 precision.

    Rounding to float32 keeps the ties a served model produces while leaving most scores
    distinct, so sorting dominates as it does on real data.
    """
    rng = np.random.default_rng(seed)
    y_true = rng.random(rows) < 0.02
    y_score = np.where(y_true, rng.beta(5, 2, rows), rng.beta(2, 5, rows))
    return y_true, y_score.astype(np.float32).astype(np.float64)


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def sklearn_path(y_true, y_score):
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    fpr, tpr, roc_thresholds = roc_curve(y_true, y_score, drop_intermediate=False)
    auc = roc_auc_score(y_true, y_score)
    precision, recall, pr_thresholds = precision_recall_curve(y_true, y_score)
    ap = average_precision_score(y_true, y_score)
    return (fpr, tpr, roc_thresholds, precision, recall, pr_thresholds), auc, ap


def check_equal(ours, theirs) -> None:
    curve, auc, ap = ours
    (fpr, tpr, roc_thresholds, precision, recall, pr_thresholds), sk_auc, sk_ap = theirs
    np.testing.assert_array_equal(curve.thresholds, roc_thresholds[1:])
    np.testing.assert_array_equal(curve.false_positive_rate, fpr[1:])
    np.testing.assert_array_equal(curve.recall, tpr[1:])
    np.testing.assert_array_equal(curve.thresholds, pr_thresholds[::-1])
    np.testing.assert_array_equal(curve.precision, precision[-2::-1])
    np.testing.assert_array_equal(curve.recall, recall[-2::-1])
    assert abs(auc - sk_auc) <= 1e-9, (auc, sk_auc)
    assert abs(ap - sk_ap) <= 1e-9, (ap, sk_ap)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import sklearn

    print(f"platform  {platform.platform()}  python {platform.python_version()}")
    print(f"cpus      {os.cpu_count()}  numpy {np.__version__}  scikit-learn {sklearn.__version__}")

    y_true, y_score = make_data(args.rows, args.seed)
    input_bytes = y_true.nbytes + y_score.nbytes
    print(
        f"data      {args.rows:,} rows, {int(y_true.sum()):,} positives, "
        f"{np.unique(y_score).size:,} distinct scores; inputs {input_bytes / 1e6:.0f} MB "
        f"(y_true {y_true.dtype}, y_score {y_score.dtype})"
    )

    # Warm both paths once on a small slice so imports and first-call costs are not timed.
    curve_summary(y_true[:1000], y_score[:1000])
    sklearn_path(y_true[:1000], y_score[:1000])

    ours, ours_s = timed(curve_summary, y_true, y_score)
    theirs, theirs_s = timed(sklearn_path, y_true, y_score)
    check_equal(ours, theirs)
    del theirs
    print(f"curve+auc+ap  ours {ours_s:.3f} s   sklearn {theirs_s:.3f} s   speed-up {theirs_s / ours_s:.1f}x"
          f"   (target >= 5x; results equal, AUC {ours[1]:.6f}, AP {ours[2]:.6f})")
    del ours

    tracemalloc.start()
    result = curve_summary(y_true, y_score)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    print(f"peak memory   {peak / 1e6:.0f} MB = {peak / input_bytes:.2f}x the inputs   (target <= 4x)")

    times = []
    for _ in range(3):
        _, seconds = timed(lambda: ScoreHistogram.from_arrays(y_true, y_score, bins=1000))
        times.append(seconds)
    print(f"histogram     ScoreHistogram.from_arrays, 1,000 bins: best {min(times):.3f} s of 3 "
          f"(runs {', '.join(f'{t:.3f}' for t in times)})   (target < 0.2 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

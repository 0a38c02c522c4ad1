"""Tests for metrics.fairness: disparity against a brute-force pass over the segments."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.errors import MetricInputError, UndefinedMetricWarning
from metrics.fairness import disaggregate, rate_by_segment

segment_values = st.dictionaries(
    st.text("abcdefgh", min_size=1, max_size=4),
    st.floats(0, 1e3, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=8,
)


@settings(max_examples=80, deadline=None)
@given(segment_values)
def test_disparity_matches_brute_force(values):
    d = disaggregate(values)
    by_value = sorted(values.items(), key=lambda kv: kv[1])
    lo_value, hi_value = by_value[0][1], by_value[-1][1]
    assert values[d.highest] == hi_value
    assert values[d.lowest] == lo_value
    assert d.difference == hi_value - lo_value
    if lo_value > 0:
        assert d.ratio == pytest.approx(hi_value / lo_value)
        assert not d.lowest_is_zero
    elif hi_value > 0:
        assert d.ratio == math.inf and d.lowest_is_zero
    else:
        assert d.ratio == 1.0 and not d.lowest_is_zero
    assert d.ratio >= 1.0
    assert d.values == values


@settings(max_examples=50, deadline=None)
@given(segment_values, st.floats(0.1, 100))
def test_ratio_is_scale_invariant(values, scale):
    d = disaggregate(values)
    scaled = disaggregate({k: v * scale for k, v in values.items()})
    if not d.lowest_is_zero:
        assert scaled.ratio == pytest.approx(d.ratio, rel=1e-9)


def test_describe_reads_like_a_review_sentence():
    d = disaggregate({"english": 0.015, "arabic": 0.045, "french": 0.02})
    assert d.describe("false positive rate") == (
        "false positive rate is 3.0× higher for arabic (4.5%) than for english (1.5%)"
    )
    latency = disaggregate({"eu": 120.0, "us": 80.0})
    assert latency.describe("p95 latency (ms)", percent=False) == (
        "p95 latency (ms) is 1.5× higher for eu (120) than for us (80)"
    )


def test_zero_lowest_is_flagged_not_crashed():
    d = disaggregate({"english": 0.0, "arabic": 0.045})
    assert d.ratio == math.inf and d.lowest_is_zero
    assert d.difference == pytest.approx(0.045)
    assert d.describe("false positive rate") == (
        "false positive rate is 4.5% for arabic and zero for english, so no ratio can be given"
    )


def test_all_zero_is_no_disparity():
    d = disaggregate({"a": 0.0, "b": 0.0})
    assert (d.ratio, d.lowest_is_zero, d.difference) == (1.0, False, 0.0)
    assert d.describe("error rate") == "error rate is 0.0% in every segment"


def test_small_segments_are_excluded_and_listed():
    d = disaggregate(
        {"en": 0.02, "ar": 0.06, "ur": 0.9},
        min_n={"en": 1000, "ar": 30, "ur": 29},
        min_samples=30,
    )
    assert set(d.values) == {"en", "ar"}
    assert d.excluded == {"ur": 29}
    assert d.ratio == pytest.approx(3.0)
    assert d.describe("false positive rate").endswith("(excluded with fewer than 30 samples: ur)")


def test_single_remaining_segment_has_ratio_one():
    d = disaggregate({"en": 0.02, "ar": 0.06}, min_n={"en": 100, "ar": 5}, min_samples=10)
    assert (d.highest, d.lowest, d.ratio) == ("en", "en", 1.0)
    assert "the only segment with enough samples" in d.describe("false positive rate")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"values_by_segment": {}}, "empty"),
        ({"values_by_segment": {"a": -0.1}}, "segment 'a'.*-0.1"),
        ({"values_by_segment": {"a": float("nan")}}, "segment 'a'"),
        ({"values_by_segment": {"a": 0.1}, "min_samples": 5}, "needs min_n"),
        ({"values_by_segment": {"a": 0.1, "b": 0.2}, "min_n": {"a": 5}}, "segment\\(s\\): b"),
        ({"values_by_segment": {"a": 0.1}, "min_n": {"a": 2}, "min_samples": 5}, "no segment.*a \\(n=2\\)"),
        ({"values_by_segment": {"a": 0.1}, "min_n": {"a": -2}}, "min_n for segment 'a'"),
        ({"values_by_segment": {"a": 0.1}, "min_samples": -1}, "min_samples"),
    ],
)
def test_disaggregate_bad_input(kwargs, match):
    with pytest.raises(MetricInputError, match=match):
        disaggregate(**kwargs)


def test_rate_by_segment_divides_per_segment():
    assert rate_by_segment({"en": 3, "ar": 9}, {"ar": 200, "en": 100}) == {"en": 0.03, "ar": 0.045}


def test_rate_by_segment_zero_denominator_goes_through_zero_division():
    with pytest.warns(UndefinedMetricWarning, match="segment 'ar'"):
        assert rate_by_segment({"en": 3, "ar": 0}, {"en": 100, "ar": 0}) == {"en": 0.03, "ar": 0.0}
    assert rate_by_segment({"ar": 0}, {"ar": 0}, zero_division=1.0) == {"ar": 1.0}


@pytest.mark.parametrize(
    ("num", "den", "match"),
    [
        ({}, {}, "empty"),
        ({"a": 1}, {"b": 2}, "only in numerators: \\['a'\\]"),
        ({"a": -1}, {"a": 2}, "numerator for segment 'a'"),
        ({"a": 1}, {"a": "x"}, "denominator for segment 'a'"),
    ],
)
def test_rate_by_segment_bad_input(num, den, match):
    with pytest.raises(MetricInputError, match=match):
        rate_by_segment(num, den)

"""Generate the demo warehouse: a DuckDB file the four example contracts can be audited against.

``northstar demo`` needs a warehouse that behaves like a real one: the tables and columns the
contracts' SQL reads, realistic volumes and distributions, launch-baseline weeks to compare
against, and a few incidents for the product to catch. Everything is drawn from one seed, so the
same call always writes the same data.

Calendar (defaults: 16 weeks ending Monday 2026-11-23): the first 4 weeks are the launch baseline
the contracts name (fraud 2026-08-03..2026-08-31, support 2026-08-03..2026-08-24); the remaining
12 are the audited weeks. Incidents are placed relative to the end, so any ``end`` and ``weeks``
keep the same story:

* ``premium_fp_breach`` -- legitimate premium customers are blocked at ~3% (bound 2%) through
  audited week 10; a fix rolls out during week 11, so week 11 still averages above the bound
  (~2.2%) while daily pulls see it back within the bound from its Saturday; week 12 is ~1.2%.
* ``drift_week`` -- a partner launch brings a wave of first-time customers the model has never
  seen; their scores pile up in the 0.3-0.55 band, so the score distribution drifts (PSI > 0.25
  against the launch baseline) even though recall and false positives barely move.
* ``volume_drop_day`` -- an upstream export silently loses 70% of one day's transactions.
* ``high_fp_segment`` -- one region's legitimate customers are blocked 3x as often as the other
  regions' throughout (a fairness disparity, not an incident with a start).
* ``high_false_accept_language`` -- the wake-word detector falsely accepts background speech in
  one language about 3x as often as in the others.

Experiments run in the last two audited weeks: fraud model v2 catches ~25% more fraud but blocks
premium customers at ~3.4% against ~1.3% (the guardrail blocks the launch); support drafts_v3
resolves ~3.7 points more conversations with no guardrail harm (the launch is approved).

Rates that a guardrail watches are drawn with stratified uniforms per day (see
``_stratified_uniform``), so a guardrail meant to hold does not flap on sampling noise in a daily
pull, while day-to-day wobble still makes the series look alive.

Loaded by file path from the CLI, so it imports only numpy, pandas, duckdb and the standard
library. Run directly: ``python examples/demo_warehouse.py OUT.duckdb``.
"""

import argparse
import os
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

DEFAULT_END = date(2026, 11, 23)
BASELINE_WEEKS = 4
# Four baseline weeks plus room for the incidents not to overlap each other or the baseline.
MIN_WEEKS = 12

FRAUD_THRESHOLD = 0.7  # the contracts' classification threshold; `blocked` is score >= this
WAKE_THRESHOLD = 0.8

DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000

# Share of the day's traffic per hour (UTC): quiet at night, busy in the afternoon and evening.
_DIURNAL = np.array(
    [1.2, 0.8, 0.6, 0.5, 0.5, 0.7, 1.3, 2.4, 3.6, 4.6, 5.2, 5.6,
     5.9, 6.0, 5.9, 5.8, 5.8, 6.0, 6.3, 6.4, 6.0, 4.9, 3.4, 2.1]
)
_DIURNAL = _DIURNAL / _DIURNAL.sum()

# Weekday multipliers, Monday first.
_WEEKDAY_SHOPPING = np.array([0.95, 0.94, 0.96, 0.98, 1.05, 1.08, 1.04])
_WEEKDAY_OFFICE = np.array([1.18, 1.12, 1.08, 1.05, 0.98, 0.78, 0.81])
_WEEKDAY_FLAT = np.array([0.98, 0.98, 0.98, 0.99, 1.02, 1.04, 1.01])

REGIONS = ("us", "uk", "eu", "latam", "apac")
_REGION_SHARES = np.array([0.36, 0.18, 0.24, 0.12, 0.10])
HIGH_FP_REGION = "latam"
# Legitimate-customer false positive rate of each region relative to the others.
_REGION_FP_MULTIPLIER = np.array([1.0, 1.0, 1.0, 3.0, 1.0])

TIERS = ("standard", "premium")
PREMIUM_SHARE = 0.15
FRAUD_PREVALENCE = 0.02
STANDARD_FPR = 0.0095
PREMIUM_FPR = 0.012
FRAUD_RECALL = 0.82
# Daily premium false positive rate over the two breach weeks (audited weeks 10 and 11).
_PREMIUM_BREACH_FPR = np.array(
    [0.029, 0.030, 0.031, 0.030, 0.031, 0.030, 0.029,
     0.029, 0.028, 0.027, 0.026, 0.020, 0.016, 0.013]
)
PREMIUM_FPR_BOUND = 0.02

LANGUAGES = ("en", "es", "de", "ar")
_LANGUAGE_SHARES = np.array([0.55, 0.20, 0.12, 0.13])
HIGH_FALSE_ACCEPT_LANGUAGE = "ar"
_LANGUAGE_FALSE_ACCEPT = np.array([0.0045, 0.0050, 0.0045, 0.0150])
WAKE_FALSE_REJECT = 0.03

VARIANTS_FRAUD = ("control", "v2")
VARIANTS_SUPPORT = ("control", "drafts_v3")


@dataclass(frozen=True)
class DemoWarehouse:
    """What :func:`generate` wrote.

    ``incidents`` maps each injected incident to where it is: dates are days (UTC); a pair is a
    half-open range ``[start, end)`` like the metric windows (``ts >= start AND ts < end``);
    ``drift_week`` is the Monday starting the drifted week; segments are the value of the
    segment column. ``weekly_windows`` are the Monday-to-Monday weeks, launch baseline first.
    """

    path: Path
    as_of: date
    start: date
    tables: dict[str, int]
    incidents: dict[str, object]
    launch_baseline: tuple[date, date]
    experiment_window: tuple[date, date]
    seed: int = 7
    scale: float = 1.0
    weekly_windows: tuple[tuple[date, date], ...] = field(default=(), repr=False)


# ---------------------------------------------------------------------------------- calendar


@dataclass(frozen=True)
class _Calendar:
    start: date
    weeks: int

    @property
    def days(self) -> int:
        return self.weeks * 7

    def day(self, index: int) -> date:
        return self.start + timedelta(days=int(index))

    def week_start_day(self, week_index: int) -> int:
        """Day index of the Monday of ``week_index`` (negative counts from the end)."""
        return (week_index % self.weeks) * 7

    @property
    def breach_days(self) -> tuple[int, int]:
        first = self.week_start_day(-3)
        return first, first + _PREMIUM_BREACH_FPR.size

    @property
    def breach_recovered_day(self) -> int:
        """First day the premium false positive rate is back within its bound."""
        first, _ = self.breach_days
        return first + int(np.argmax(_PREMIUM_BREACH_FPR < PREMIUM_FPR_BOUND))

    @property
    def drift_week(self) -> int:
        return self.weeks - 7

    @property
    def volume_drop_day(self) -> int:
        return self.week_start_day(-5) + 2  # a Wednesday, mid-week where nobody expects a dip

    @property
    def experiment_days(self) -> tuple[int, int]:
        return self.week_start_day(-2), self.days

    def weekday(self, day_index: np.ndarray) -> np.ndarray:
        return day_index % 7  # the calendar starts on a Monday


# ---------------------------------------------------------------------------------- sampling


def _stream(seed: int, table: str) -> np.random.Generator:
    """An independent generator per table, so changing one table never reshuffles another."""
    sequence = np.random.SeedSequence(entropy=seed, spawn_key=(zlib.crc32(table.encode()),))
    return np.random.Generator(np.random.PCG64(sequence))


def _daily_counts(rng: np.random.Generator, days: int, per_day: float, weekday: np.ndarray, noise: float = 0.03) -> np.ndarray:
    expected = per_day * weekday[np.arange(days) % 7] * rng.lognormal(0.0, noise, days)
    return np.maximum(1, np.rint(expected)).astype(np.int64)


def _offsets_us(rng: np.random.Generator, day: np.ndarray) -> np.ndarray:
    """Microseconds since the calendar start: the row's day, at a time of day drawn from traffic."""
    hour = rng.choice(24, size=day.size, p=_DIURNAL)
    within = np.floor(rng.random(day.size) * HOUR_US).astype(np.int64)
    return day * DAY_US + hour * HOUR_US + within


def _timestamps(start: date, offsets_us: np.ndarray) -> np.ndarray:
    return np.datetime64(start, "us") + offsets_us.astype("timedelta64[us]")


def _stratified_uniform(rng: np.random.Generator, group: np.ndarray) -> np.ndarray:
    """Uniforms in (0, 1) spread evenly within each group.

    In a group of ``k`` rows, the values are ``(i + U_i) / k`` where ``i`` is the row's rank in
    the group: each row is still uniform, but the group's empirical distribution is exact to
    ``1/k``. Thresholding them gives rates that hold per group (per day) without Bernoulli noise.

    Rows are generated i.i.d. (row order carries no information: timestamps are drawn
    independently and rows are re-sorted by them), so the rank in row order is already a random
    rank; a stable radix sort on the group finds it in linear time.
    """
    n = group.size
    key = group.astype(np.uint16) if group.max(initial=0) < 2**16 else group
    order = np.argsort(key, kind="stable")
    counts = np.bincount(group)
    starts = np.cumsum(counts) - counts
    sorted_group = group[order]
    position = np.arange(n) - starts[sorted_group]
    u = np.empty(n)
    u[order] = (position + rng.random(n)) / counts[sorted_group]
    return np.clip(u, 1e-12, 1.0 - 1e-12)


def _logit(p):
    p = np.asarray(p, dtype=float)
    return np.log(p / (1.0 - p))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _logistic_scores(u: np.ndarray, exceed: np.ndarray, threshold: float, spread: float) -> np.ndarray:
    """Scores in (0, 1) whose share at or above ``threshold`` is ``exceed`` (per row).

    Scores are logit-logistic: ``sigmoid(mu + spread * logit(u))``. Its quantile function is
    closed-form, so ``mu`` is solved exactly from the wanted exceedance.
    """
    mu = _logit(threshold) + spread * _logit(exceed)
    return _sigmoid(mu + spread * _logit(u))


def _categorical(codes: np.ndarray, categories: tuple[str, ...]) -> pd.Categorical:
    return pd.Categorical.from_codes(codes.astype(np.int8), categories=list(categories))


def _sorted_by(offsets: np.ndarray, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    order = np.argsort(offsets, kind="stable")
    return {name: values[order] for name, values in columns.items()}


# ------------------------------------------------------------------------------ fraud tables


def _transactions(seed: int, cal: _Calendar, scale: float) -> pd.DataFrame:
    rng = _stream(seed, "transactions")
    counts = _daily_counts(rng, cal.days, 21_000 * scale, _WEEKDAY_SHOPPING)
    counts[cal.volume_drop_day] = max(1, round(counts[cal.volume_drop_day] * 0.3))
    day = np.repeat(np.arange(cal.days), counts)
    n = day.size
    offsets = _offsets_us(rng, day)

    premium = rng.random(n) < PREMIUM_SHARE
    region = rng.choice(len(REGIONS), size=n, p=_REGION_SHARES)
    is_fraud = rng.random(n) < FRAUD_PREVALENCE

    # Legitimate false positive rate per row: the tier's rate, split across regions so the
    # tier-wide rate is kept while the high-FP region sits at 3x the others.
    premium_fpr = np.full(cal.days, PREMIUM_FPR)
    first, last = cal.breach_days
    premium_fpr[first:last] = _PREMIUM_BREACH_FPR
    region_norm = float(_REGION_SHARES @ _REGION_FP_MULTIPLIER)
    tier_fpr = np.where(premium, premium_fpr[day], STANDARD_FPR)
    legit_exceed = tier_fpr * _REGION_FP_MULTIPLIER[region] / region_norm
    # Day-to-day wobble on the logit scale (a few percent relative), as real traffic has.
    wobble = rng.normal(0.0, 0.05, cal.days)[day]
    recall = _sigmoid(_logit(FRAUD_RECALL) + wobble)
    legit_exceed = _sigmoid(_logit(legit_exceed) + wobble)

    # Recall is the same everywhere, so fraud rows are stratified per day only (larger groups,
    # steadier daily recall); legitimate rows per tier and region, whose rates differ.
    cell = np.where(is_fraud, 2 * len(REGIONS), premium * len(REGIONS) + region)
    u = _stratified_uniform(rng, day * (2 * len(REGIONS) + 1) + cell)
    fraud_score = np.where(
        is_fraud,
        _logistic_scores(u, recall, FRAUD_THRESHOLD, 0.8),
        _logistic_scores(u, legit_exceed, FRAUD_THRESHOLD, 0.7),
    )

    # Drift: a partner's first-time customers, 30% of the week's legitimate traffic, score in a
    # band the launch population rarely used (0.3-0.55), almost never as high as the threshold.
    drift_first = cal.drift_week * 7
    newcomer = (day >= drift_first) & (day < drift_first + 7) & ~is_fraud & (rng.random(n) < 0.30)
    newcomer_u = np.clip(rng.random(int(newcomer.sum())), 1e-12, 1.0 - 1e-12)
    fraud_score[newcomer] = _sigmoid(_logit(0.42) + 0.2 * _logit(newcomer_u))
    premium[newcomer] = False

    # Only what the stratified draws shaped is carried through the sort; columns drawn
    # independently of row order are drawn afterwards, on the sorted rows.
    cols = _sorted_by(offsets, {
        "offsets": offsets, "fraud_score": fraud_score, "is_fraud": is_fraud,
        "premium": premium, "region": region,
    })
    fraud_score, is_fraud, premium = cols["fraud_score"], cols["is_fraud"], cols["premium"]
    blocked = fraud_score >= FRAUD_THRESHOLD
    amount = np.where(
        is_fraud,
        rng.lognormal(np.log(220.0), 0.8, n),
        rng.lognormal(np.log(38.0), 0.95, n) * np.where(premium, 2.2, 1.0),
    )
    amount = np.round(np.maximum(amount, 0.5), 2)
    # Blocked legitimate customers appeal (premium ones more often); fraudsters rarely do.
    appeal_rate = np.where(is_fraud, 0.01, np.where(premium, 0.45, 0.24))
    return pd.DataFrame(copy=False, data={
        "ts": _timestamps(cal.start, cols["offsets"]),
        "txn_id": np.arange(1, n + 1, dtype=np.int64),
        "amount": amount,
        "fraud_score": fraud_score,
        "is_fraud": is_fraud,
        "blocked": blocked,
        "customer_tier": _categorical(premium.astype(np.int8), TIERS),
        "region": _categorical(cols["region"], REGIONS),
        "latency_ms": np.round(28.0 + rng.gamma(2.0, 14.0, n), 1),
        "appealed": blocked & (rng.random(n) < appeal_rate),
    })


def _fraud_experiment(seed: int, cal: _Calendar, scale: float) -> pd.DataFrame:
    rng = _stream(seed, "fraud_experiment")
    first, last = cal.experiment_days
    counts = _daily_counts(rng, last - first, 10_000 * scale, _WEEKDAY_SHOPPING)
    day = first + np.repeat(np.arange(last - first), counts)
    n = day.size
    offsets = _offsets_us(rng, day)
    # Randomised 50/50 by card, balanced within each day: the arms match the planned split.
    treated = _stratified_uniform(rng, day) >= 0.5
    is_fraud = rng.random(n) < FRAUD_PREVALENCE
    premium = rng.random(n) < PREMIUM_SHARE

    # Block rates per arm: v2 catches ~25% more fraud but over-blocks premium customers.
    rate = np.select(
        [is_fraud & ~treated, is_fraud & treated, premium & ~treated, premium & treated, ~treated],
        [0.72, 0.90, 0.013, 0.034, 0.0100],
        default=0.0110,
    )
    cell = (treated.astype(np.int64) * 2 + is_fraud) * 2 + premium
    blocked = _stratified_uniform(rng, day * 8 + cell) < rate
    latency_ms = np.round(np.where(treated, 29.5, 28.0) + rng.gamma(2.0, 14.0, n), 1)

    cols = _sorted_by(offsets, {
        "offsets": offsets, "treated": treated, "is_fraud": is_fraud, "blocked": blocked,
        "premium": premium, "latency_ms": latency_ms,
    })
    return pd.DataFrame(copy=False, data={
        "ts": _timestamps(cal.start, cols["offsets"]),
        "variant": _categorical(cols["treated"].astype(np.int8), VARIANTS_FRAUD),
        "is_fraud": cols["is_fraud"],
        "blocked": cols["blocked"],
        "customer_tier": _categorical(cols["premium"].astype(np.int8), TIERS),
        "latency_ms": cols["latency_ms"],
    })


# ---------------------------------------------------------------------------- support tables


def _support_conversations(seed: int, cal: _Calendar, scale: float) -> pd.DataFrame:
    """Production conversations; during the experiment half of them are served by drafts_v3.

    ``support_experiment`` is read from this table, so the experiment and the production north
    star agree: the production rate rises by half the treatment effect in the experiment weeks.
    """
    rng = _stream(seed, "support_conversations")
    counts = _daily_counts(rng, cal.days, 6_000 * scale, _WEEKDAY_OFFICE)
    day = np.repeat(np.arange(cal.days), counts)
    n = day.size
    offsets = _offsets_us(rng, day)

    exp_first, _ = cal.experiment_days
    in_experiment = day >= exp_first
    treated = in_experiment & (_stratified_uniform(rng, day) >= 0.5)

    # Resolution creeps up as customers learn to use the assistant; drafts_v3 adds 4 points.
    wobble = rng.normal(0.0, 0.004, cal.days)
    p_resolved = 0.425 + 0.02 * day / max(cal.days - 1, 1) + wobble[day] + np.where(treated, 0.04, 0.0)
    resolved = _stratified_uniform(rng, day * 2 + treated) < p_resolved

    cols = _sorted_by(offsets, {"offsets": offsets, "treated": treated, "resolved": resolved})
    treated, resolved = cols["treated"], cols["resolved"]
    reopened = resolved & (rng.random(n) < 0.07)
    # Reopened conversations go to a human; most unresolved ones do too, the rest give up.
    escalated = (~resolved & (rng.random(n) < 0.85)) | reopened
    return pd.DataFrame(copy=False, data={
        "ts": _timestamps(cal.start, cols["offsets"]),
        "conversation_id": np.arange(1, n + 1, dtype=np.int64),
        "resolved_by_bot": resolved,
        "reopened": reopened,
        "escalated": escalated,
        "hours_to_resolution": np.round(rng.lognormal(np.log(6.0), 0.75, n), 2),
        "latency_ms": np.round(rng.lognormal(np.log(np.where(treated, 152.0, 150.0)), 0.28), 1),
        "model_cost_usd": np.round(rng.gamma(5.0, np.where(treated, 0.0066, 0.0062)), 5),
        "variant": _categorical(treated.astype(np.int8), VARIANTS_SUPPORT),
    })


# ---------------------------------------------------------------------- recommendation tables


def _rec_impressions(seed: int, cal: _Calendar, scale: float) -> pd.DataFrame:
    rng = _stream(seed, "rec_impressions")
    counts = _daily_counts(rng, cal.days, 30_000 * scale, _WEEKDAY_SHOPPING)
    day = np.repeat(np.arange(cal.days), counts)
    n = day.size
    offsets = _offsets_us(rng, day)

    # The ranking launched two weeks in and lifted clicks; suppressions and conversion held.
    launched = np.arange(cal.days) >= 14
    ctr = np.where(launched, 0.061, 0.052) * rng.lognormal(0.0, 0.02, cal.days)
    suppression = 0.014 * rng.lognormal(0.0, 0.03, cal.days)
    conversion = 0.0335 * rng.lognormal(0.0, 0.015, cal.days)
    u = _stratified_uniform(rng, day)
    clicked = u < ctr[day]
    suppressed = ~clicked & (u < ctr[day] + suppression[day])
    purchased = clicked & (_stratified_uniform(rng, day * 2 + clicked) < conversion[day])

    cols = _sorted_by(offsets, {
        "offsets": offsets, "clicked": clicked, "suppressed": suppressed, "purchased": purchased,
    })
    return pd.DataFrame(copy=False, data={
        "ts": _timestamps(cal.start, cols["offsets"]),
        "user_id": rng.integers(1, 400_001, n, dtype=np.int64),
        # A long tail: a few items collect most impressions.
        "item_id": (np.floor(60_000 * rng.random(n) ** 2.5) + 1).astype(np.int64),
        "clicked": cols["clicked"],
        "suppressed": cols["suppressed"],
        "purchased": cols["purchased"],
        "latency_ms": np.round(18.0 + rng.gamma(2.2, 9.0, n), 1),
    })


def _rec_judgments(seed: int, cal: _Calendar, scale: float) -> pd.DataFrame:
    """Graded relevance judgments, 20 candidates per query; all of a query share its ``ts``
    so a window never splits a query."""
    rng = _stream(seed, "rec_judgments")
    per_query = 20
    per_week = max(5, round(300 * scale))
    n_queries = per_week * cal.weeks
    query_offsets = np.sort(np.floor(rng.random(n_queries) * cal.days * DAY_US).astype(np.int64))
    query_id = np.repeat(np.arange(1, n_queries + 1, dtype=np.int64), per_query)
    offsets = np.repeat(query_offsets, per_query)
    n = query_id.size
    relevance = rng.choice(4, size=n, p=[0.45, 0.30, 0.17, 0.08]).astype(np.int8)
    score = _sigmoid(-1.3 + 0.9 * relevance + rng.normal(0.0, 0.8, n))
    return pd.DataFrame(copy=False, data={
        "ts": _timestamps(cal.start, offsets),
        "query_id": query_id,
        "item_id": rng.integers(1, 60_001, n, dtype=np.int64),
        "score": score,
        "relevance": relevance,
    })


# ------------------------------------------------------------------------- wake-word tables


def _wake_events(seed: int, cal: _Calendar, scale: float) -> pd.DataFrame:
    rng = _stream(seed, "wake_events")
    counts = _daily_counts(rng, cal.days, 15_000 * scale, _WEEKDAY_FLAT)
    day = np.repeat(np.arange(cal.days), counts)
    n = day.size
    offsets = _offsets_us(rng, day)
    language = rng.choice(len(LANGUAGES), size=n, p=_LANGUAGE_SHARES)
    is_wake_word = rng.random(n) < 0.01

    wobble = rng.normal(0.0, 0.05, cal.days)[day]
    false_accept = _sigmoid(_logit(_LANGUAGE_FALSE_ACCEPT[language]) + wobble)
    accept = _sigmoid(_logit(1.0 - WAKE_FALSE_REJECT) + wobble)
    # False rejects do not depend on language, so wake words are stratified per day only.
    cell = np.where(is_wake_word, len(LANGUAGES), language)
    u = _stratified_uniform(rng, day * (len(LANGUAGES) + 1) + cell)
    score = np.where(
        is_wake_word,
        _logistic_scores(u, accept, WAKE_THRESHOLD, 0.6),
        _logistic_scores(u, false_accept, WAKE_THRESHOLD, 0.8),
    )

    cols = _sorted_by(offsets, {
        "offsets": offsets, "score": score, "is_wake_word": is_wake_word, "language": language,
    })
    return pd.DataFrame(copy=False, data={
        "ts": _timestamps(cal.start, cols["offsets"]),
        "score": cols["score"],
        "is_wake_word": cols["is_wake_word"],
        "language": _categorical(cols["language"], LANGUAGES),
        "latency_ms": np.round(85.0 + rng.gamma(3.0, 18.0, n), 1),
    })


def _voice_sessions(seed: int, cal: _Calendar, scale: float) -> pd.DataFrame:
    rng = _stream(seed, "voice_sessions")
    counts = _daily_counts(rng, cal.days, 4_000 * scale, _WEEKDAY_FLAT)
    day = np.repeat(np.arange(cal.days), counts)
    offsets = np.sort(_offsets_us(rng, day))
    success = 0.91 + rng.normal(0.0, 0.004, cal.days)
    return pd.DataFrame(copy=False, data={
        "ts": _timestamps(cal.start, offsets),
        "first_try_success": _stratified_uniform(rng, day) < success[day],
    })


def _device_weeks(seed: int, cal: _Calendar, scale: float) -> pd.DataFrame:
    rng = _stream(seed, "device_weeks")
    devices = max(50, round(20_000 * scale))
    week = np.repeat(np.arange(cal.weeks, dtype=np.int64), devices)
    return pd.DataFrame(copy=False, data={
        "week_start": _timestamps(cal.start, week * 7 * DAY_US),
        "device_id": np.tile(np.arange(1, devices + 1, dtype=np.int64), cal.weeks),
        "mic_disabled": rng.random(week.size) < 0.004,
    })


# ---------------------------------------------------------------------------------- writing

# Explicit column types, so the warehouse looks the same whatever pandas infers.
_SCHEMAS: dict[str, str] = {
    "transactions": """ts::TIMESTAMP AS ts, txn_id::BIGINT AS txn_id, amount::DECIMAL(12, 2) AS amount,
        fraud_score::DOUBLE AS fraud_score, is_fraud::BOOLEAN AS is_fraud, blocked::BOOLEAN AS blocked,
        customer_tier::VARCHAR AS customer_tier, region::VARCHAR AS region,
        latency_ms::DOUBLE AS latency_ms, appealed::BOOLEAN AS appealed""",
    "fraud_experiment": """ts::TIMESTAMP AS ts, variant::VARCHAR AS variant, is_fraud::BOOLEAN AS is_fraud,
        blocked::BOOLEAN AS blocked, customer_tier::VARCHAR AS customer_tier, latency_ms::DOUBLE AS latency_ms""",
    "support_conversations": """ts::TIMESTAMP AS ts, conversation_id::BIGINT AS conversation_id,
        resolved_by_bot::BOOLEAN AS resolved_by_bot, reopened::BOOLEAN AS reopened,
        escalated::BOOLEAN AS escalated,
        CASE WHEN escalated THEN hours_to_resolution END::DOUBLE AS hours_to_resolution,
        latency_ms::DOUBLE AS latency_ms, model_cost_usd::DOUBLE AS model_cost_usd,
        variant::VARCHAR AS variant""",
    "rec_impressions": """ts::TIMESTAMP AS ts, user_id::BIGINT AS user_id, item_id::BIGINT AS item_id,
        clicked::BOOLEAN AS clicked, suppressed::BOOLEAN AS suppressed, purchased::BOOLEAN AS purchased,
        latency_ms::DOUBLE AS latency_ms""",
    "rec_judgments": """ts::TIMESTAMP AS ts, query_id::BIGINT AS query_id, item_id::BIGINT AS item_id,
        score::DOUBLE AS score, relevance::INTEGER AS relevance""",
    "wake_events": """ts::TIMESTAMP AS ts, score::DOUBLE AS score, is_wake_word::BOOLEAN AS is_wake_word,
        language::VARCHAR AS language, latency_ms::DOUBLE AS latency_ms""",
    "voice_sessions": "ts::TIMESTAMP AS ts, first_try_success::BOOLEAN AS first_try_success",
    "device_weeks": """week_start::TIMESTAMP AS week_start, device_id::BIGINT AS device_id,
        mic_disabled::BOOLEAN AS mic_disabled""",
}

_BUILDERS = {
    "transactions": _transactions,
    "fraud_experiment": _fraud_experiment,
    "support_conversations": _support_conversations,
    "rec_impressions": _rec_impressions,
    "rec_judgments": _rec_judgments,
    "wake_events": _wake_events,
    "voice_sessions": _voice_sessions,
    "device_weeks": _device_weeks,
}


def _write_table(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> int:
    con.register("frame", frame)
    try:
        con.execute(f"CREATE TABLE {name} AS SELECT {_SCHEMAS[name]} FROM frame")
    finally:
        con.unregister("frame")
    return len(frame)


def _remove(path: Path) -> None:
    for stale in (path, path.with_name(path.name + ".wal")):
        stale.unlink(missing_ok=True)


def generate(
    path: Path,
    *,
    seed: int = 7,
    end: date = DEFAULT_END,
    weeks: int = 16,
    scale: float = 1.0,
) -> DemoWarehouse:
    """Write the demo warehouse to ``path`` (replacing it) and describe what is in it.

    Parameters
    ----------
    path : Path
        DuckDB file to write. It is built beside ``path`` and moved into place, so a reader never
        sees a half-written warehouse.
    seed : int
        Same seed, same data.
    end : date
        A Monday; the data covers ``[end - 7 * weeks days, end)``.
    weeks : int
        At least 12: 4 launch-baseline weeks, then the audited weeks.
    scale : float
        Multiplies every volume (1.0 is about 21,000 transactions a day).
    """
    if end.weekday() != 0:
        raise ValueError(f"end must be a Monday so weeks start on Mondays, got {end:%A %Y-%m-%d}")
    if weeks < MIN_WEEKS:
        raise ValueError(f"weeks must be at least {MIN_WEEKS} (4 baseline weeks plus room for the incidents), got {weeks}")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")

    path = Path(path)
    cal = _Calendar(start=end - timedelta(days=7 * weeks), weeks=weeks)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    _remove(staging)
    tables: dict[str, int] = {}
    try:
        with duckdb.connect(str(staging)) as con:
            # DuckDB compresses one table while numpy draws the next: both release the GIL.
            with ThreadPoolExecutor(max_workers=1) as writer:
                written = [
                    writer.submit(_write_table, con, name, build(seed, cal, scale))
                    for name, build in _BUILDERS.items()
                ]
                for name, future in zip(_BUILDERS, written):
                    tables[name] = future.result()
            exp_first, _ = cal.experiment_days
            con.execute(
                """CREATE TABLE support_experiment AS
                   SELECT ts, variant, resolved_by_bot, reopened, escalated, hours_to_resolution, latency_ms
                   FROM support_conversations WHERE ts >= ? ORDER BY ts""",
                [cal.day(exp_first)],
            )
            tables["support_experiment"] = con.execute("SELECT COUNT(*) FROM support_experiment").fetchone()[0]
            con.execute("CHECKPOINT")
        _remove(path)
        os.replace(staging, path)
    finally:
        _remove(staging)

    breach_first, _ = cal.breach_days
    exp_first, exp_last = cal.experiment_days
    return DemoWarehouse(
        path=path,
        as_of=end,
        start=cal.start,
        tables=tables,
        incidents={
            "premium_fp_breach": (cal.day(breach_first), cal.day(cal.breach_recovered_day)),
            "drift_week": cal.day(cal.drift_week * 7),
            "volume_drop_day": cal.day(cal.volume_drop_day),
            "high_fp_segment": HIGH_FP_REGION,
            "high_false_accept_language": HIGH_FALSE_ACCEPT_LANGUAGE,
        },
        launch_baseline=(cal.start, cal.day(BASELINE_WEEKS * 7)),
        experiment_window=(cal.day(exp_first), cal.day(exp_last)),
        seed=seed,
        scale=scale,
        weekly_windows=tuple((cal.day(7 * w), cal.day(7 * w + 7)) for w in range(weeks)),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the Northstar demo warehouse (DuckDB).")
    parser.add_argument("out", type=Path, help="DuckDB file to write (replaced if present)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--end", type=date.fromisoformat, default=DEFAULT_END, help="a Monday, YYYY-MM-DD")
    parser.add_argument("--weeks", type=int, default=16)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    try:
        summary = generate(args.out, seed=args.seed, end=args.end, weeks=args.weeks, scale=args.scale)
    except ValueError as exc:
        parser.error(str(exc))
    elapsed = time.perf_counter() - began
    print(f"wrote {summary.path} ({summary.start} to {summary.as_of}) in {elapsed:.1f}s")
    for name, rows in summary.tables.items():
        print(f"  {name:<22} {rows:>10,} rows")
    for name, where in summary.incidents.items():
        shown = " to ".join(str(d) for d in where) if isinstance(where, tuple) else where
        print(f"  incident {name}: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

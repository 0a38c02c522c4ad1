"""The metric contract: what a team signs before an AI feature ships.

A contract is YAML validated by the pydantic models below. Parsing keeps line numbers so that a
schema error names the file, the line and the field (``fraud.yml:23: metrics[2].bound: ...``).
Pure code: no I/O beyond reading the text it is handed.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.tokens import (
    BlockEndToken,
    BlockMappingStartToken,
    BlockSequenceStartToken,
    FlowMappingEndToken,
    FlowMappingStartToken,
    FlowSequenceEndToken,
    FlowSequenceStartToken,
)

from metrics.errors import ContractSyntaxError, ContractValidationError

SLUG = r"^[a-z][a-z0-9_-]{0,62}$"
WINDOW_PARAMETERS = ("window_start", "window_end")


def check_window_parameters(sql: str) -> str:
    """Require ``:window_start`` and ``:window_end`` so each pull reads only its own window."""
    missing = [p for p in WINDOW_PARAMETERS if not re.search(rf"(?<!:):{p}\b", sql)]
    if missing:
        raise ValueError(
            "SQL must use the window parameters "
            + " and ".join(f":{p}" for p in missing)
            + " (bound at run time, so each pull reads only its window)"
        )
    return sql.strip()


class Layer(StrEnum):
    """Where a metric sits in the metric stack."""

    MODEL = "model"
    PRODUCT = "product"
    BUSINESS = "business"


class Role(StrEnum):
    """What a metric is for in the contract."""

    NORTH_STAR = "north_star"
    SECONDARY = "secondary"
    GUARDRAIL = "guardrail"
    EFFICIENCY = "efficiency"
    ANTI_GAMING = "anti_gaming"
    DIAGNOSTIC = "diagnostic"


class Direction(StrEnum):
    """Which way is better."""

    INCREASE = "increase"
    DECREASE = "decrease"


class Kind(StrEnum):
    """What the metric's SQL returns, which decides how it is pushed down."""

    VALUE = "value"
    CLASSIFICATION = "classification"
    RANKING = "ranking"
    REGRESSION = "regression"
    DISTRIBUTION = "distribution"
    EXPERIMENT = "experiment"


class Autonomy(StrEnum):
    """Whether the user stays in control (assistant) or the AI acts (agent)."""

    ASSISTANT = "assistant"
    AGENT = "agent"


CORE_ROLES = frozenset({Role.NORTH_STAR, Role.SECONDARY, Role.GUARDRAIL, Role.EFFICIENCY})
BOUNDED_ROLES = frozenset({Role.GUARDRAIL, Role.EFFICIENCY})
SIGNER_ROLES = ("pm", "eng", "ds")

CLASSIFICATION_STATISTICS = (
    "precision",
    "recall",
    "f1",
    "specificity",
    "accuracy",
    "balanced_accuracy",
    "false_positive_rate",
    "false_negative_rate",
    "roc_auc",
    "average_precision",
    "prevalence",
)
RANKING_STATISTICS = ("ndcg", "mrr", "precision_at_k", "recall_at_k")
REGRESSION_STATISTICS = ("rmse", "mae", "mape", "mean_error")
DISTRIBUTION_STATISTICS = ("psi", "kl", "js")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class BusinessTerms(_Model):
    """The team's own words and money, used by every explanation and trade-off."""

    positive: str = Field(description="what a positive is, e.g. 'fraudulent transaction'")
    negative: str = Field(description="what a negative is, e.g. 'legitimate customer'")
    action: str = Field(description="what acting on a prediction is, e.g. 'block'")
    action_past: str | None = Field(default=None, description="past tense of the action, e.g. 'blocked'")
    unit: str = Field(description="the unit being scored, e.g. 'transaction'")
    unit_plural: str | None = None
    weekly_volume: float = Field(gt=0, description="units scored per week")
    cost_false_positive: float = Field(ge=0, description="cost of acting on a negative")
    cost_false_negative: float = Field(ge=0, description="cost of missing a positive")
    false_positive_cost_means: str = "cost of a false positive"
    false_negative_cost_means: str = "cost of a missed positive"
    currency: str = "USD"
    prevalence: float | None = Field(default=None, gt=0, lt=1, description="share of units that are positive")

    @property
    def units(self) -> str:
        return self.unit_plural or f"{self.unit}s"

    @property
    def acted(self) -> str:
        if self.action_past:
            return self.action_past
        verb = self.action
        if verb.endswith("e"):
            return verb + "d"
        if re.search(r"[^aeiou][aeiou][bcdgkmnprt]$", verb) and len(verb) <= 4:
            return verb + verb[-1] + "ed"
        return verb + "ed"


class Schedule(_Model):
    """When pulls and audits run, in the team's time zone."""

    pull: str = "0 6 * * *"
    audit: str = "0 9 * * mon"
    timezone: str = "UTC"

    @field_validator("pull", "audit")
    @classmethod
    def _five_field_cron(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(f"expected a 5-field cron expression (minute hour day month weekday), got {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class Weights(_Model):
    """Launch weights declared before the experiment is read."""

    north_star: float = 1.0
    secondary: float = 0.5
    guardrail_violation: float = -2.0


class Baseline(_Model):
    """A named baseline window (e.g. the launch month)."""

    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> Baseline:
        if self.end <= self.start:
            raise ValueError(f"baseline end {self.end} must be after start {self.start}")
        return self


class Bound(_Model):
    """A hard bound on a guardrail or efficiency metric.

    Absolute (``max`` / ``min``) or relative to a baseline (``max_ratio_to_baseline: 1.5`` with
    ``baseline:`` a number or the name of a window under the contract's ``baselines``).
    """

    max: float | None = None
    min: float | None = None
    max_ratio_to_baseline: float | None = Field(default=None, gt=0)
    min_ratio_to_baseline: float | None = Field(default=None, gt=0)
    baseline: float | str | None = None
    judged_by: Literal["no_significant_harm", "non_inferiority"] = "no_significant_harm"
    margin: float | None = Field(default=None, ge=0, description="non-inferiority margin, absolute")

    @model_validator(mode="after")
    def _consistent(self) -> Bound:
        absolute = self.max is not None or self.min is not None
        relative = self.max_ratio_to_baseline is not None or self.min_ratio_to_baseline is not None
        if not absolute and not relative:
            raise ValueError("a bound needs max, min, max_ratio_to_baseline or min_ratio_to_baseline")
        if relative and self.baseline is None:
            raise ValueError("a ratio bound needs baseline: a value or the name of a baseline window")
        if self.max is not None and self.min is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        if self.judged_by == "non_inferiority" and self.margin is None:
            raise ValueError("judged_by: non_inferiority needs a margin")
        return self

    def limits(self, baseline_value: float | None = None) -> tuple[float | None, float | None]:
        """Return the (low, high) limits in the metric's own units; None where open."""
        low, high = self.min, self.max
        if self.max_ratio_to_baseline is not None and baseline_value is not None:
            ratio_high = self.max_ratio_to_baseline * baseline_value
            high = ratio_high if high is None else min(high, ratio_high)
        if self.min_ratio_to_baseline is not None and baseline_value is not None:
            ratio_low = self.min_ratio_to_baseline * baseline_value
            low = ratio_low if low is None else max(low, ratio_low)
        return low, high

    def describe(self, baseline_value: float | None = None) -> str:
        parts = []
        if self.max is not None:
            parts.append(f"≤ {self.max:g}")
        if self.min is not None:
            parts.append(f"≥ {self.min:g}")
        if self.max_ratio_to_baseline is not None:
            parts.append(f"≤ {self.max_ratio_to_baseline:g}× baseline")
        if self.min_ratio_to_baseline is not None:
            parts.append(f"≥ {self.min_ratio_to_baseline:g}× baseline")
        text = " and ".join(parts)
        if baseline_value is not None and (self.max_ratio_to_baseline or self.min_ratio_to_baseline):
            text += f" (baseline {baseline_value:g})"
        return text


class ClassificationSpec(_Model):
    """How a classification metric is read from scored rows (columns ``score``, ``label``)."""

    statistic: Literal[CLASSIFICATION_STATISTICS] = "precision"  # type: ignore[valid-type]
    threshold: float = Field(default=0.5, ge=0, le=1)
    bins: int = Field(default=100, ge=2, le=10_000)
    segment_column: str | None = None
    max_disparity: float | None = Field(default=None, gt=1, description="fairness bound: largest/smallest")
    disparity_statistic: Literal[CLASSIFICATION_STATISTICS] | None = None  # type: ignore[valid-type]


class RankingSpec(_Model):
    """Ranking metrics read rows ``query_id, score, relevance``."""

    statistic: Literal[RANKING_STATISTICS] = "ndcg"  # type: ignore[valid-type]
    k: int | None = Field(default=10, ge=1)


class RegressionSpec(_Model):
    """Regression metrics read rows ``prediction, actual``."""

    statistic: Literal[REGRESSION_STATISTICS] = "rmse"  # type: ignore[valid-type]


class DistributionSpec(_Model):
    """Drift of a feature or score: rows ``value`` binned on reference edges."""

    statistic: Literal[DISTRIBUTION_STATISTICS] = "psi"  # type: ignore[valid-type]
    edges: tuple[float, ...] | None = Field(default=None, description="fixed bin edges; else from the reference")
    reference: str | None = Field(default=None, description="name of a baseline window")
    bins: int = Field(default=10, ge=2, le=1000)


class ExperimentSpec(_Model):
    """A/B comparison: rows ``variant, value`` (value 0/1 for proportions)."""

    type: Literal["proportion", "mean"] = "proportion"
    control: str = "control"
    treatment: str = "treatment"


class Metric(_Model):
    """One metric of the contract."""

    name: str = Field(pattern=SLUG)
    label: str | None = Field(default=None, description="human name, e.g. 'premium-customer false positives'")
    description: str = ""
    layer: Layer
    role: Role
    direction: Direction
    kind: Kind = Kind.VALUE
    unit: str = Field(default="", description="'%', 'ms', '$', or a noun")
    sql: str
    bound: Bound | None = None
    min_sample_size: int | None = Field(default=None, ge=0)
    classification: ClassificationSpec | None = None
    ranking: RankingSpec | None = None
    regression: RegressionSpec | None = None
    distribution: DistributionSpec | None = None
    experiment: ExperimentSpec | None = None
    launch_baseline: float | None = Field(default=None, description="value at launch, for staleness checks")

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ")

    @property
    def is_core(self) -> bool:
        return self.role in CORE_ROLES

    @field_validator("sql")
    @classmethod
    def _has_window_parameters(cls, sql: str) -> str:
        return check_window_parameters(sql)

    @model_validator(mode="after")
    def _spec_matches_kind(self) -> Metric:
        specs = {
            Kind.CLASSIFICATION: "classification",
            Kind.RANKING: "ranking",
            Kind.REGRESSION: "regression",
            Kind.DISTRIBUTION: "distribution",
            Kind.EXPERIMENT: "experiment",
        }
        for kind, field in specs.items():
            if getattr(self, field) is not None and self.kind != kind:
                raise ValueError(f"'{field}' settings only apply to kind: {kind.value} (this metric is {self.kind.value})")
        return self

    def spec(self) -> BaseModel | None:
        """The kind-specific settings, with defaults filled in."""
        defaults = {
            Kind.CLASSIFICATION: ("classification", ClassificationSpec),
            Kind.RANKING: ("ranking", RankingSpec),
            Kind.REGRESSION: ("regression", RegressionSpec),
            Kind.DISTRIBUTION: ("distribution", DistributionSpec),
            Kind.EXPERIMENT: ("experiment", ExperimentSpec),
        }
        if self.kind not in defaults:
            return None
        field, cls = defaults[self.kind]
        return getattr(self, field) or cls()


class Touchpoint(_Model):
    """A validation checkpoint after launch ("adoption at 2 weeks")."""

    after_weeks: int = Field(ge=1)
    check: str
    metric: str | None = None


class NoiseControls(_Model):
    """Keep alerts quiet until a breach is real."""

    min_sample_size: int = Field(default=200, ge=0)
    min_breach_hours: float = Field(default=0, ge=0)
    reminder_every_hours: float = Field(default=24, gt=0)
    snooze_worsen_margin: float = Field(default=0.2, ge=0, description="re-alert a snoozed breach past this relative worsening")


class HealthChecks(_Model):
    """Operational health thresholds."""

    staleness_drop: float = Field(default=0.05, gt=0, lt=1)
    silent_failure_drop: float = Field(default=0.5, gt=0, lt=1)
    completeness_min: float = Field(default=0.999, gt=0, le=1)


class LaunchSettings(_Model):
    """How a launch decision is run."""

    alpha: float = Field(default=0.05, gt=0, lt=1)
    expires_after_days: int = Field(default=7, ge=1)


class ExperimentMetric(_Model):
    """How one contract metric is read per arm: rows ``variant, value`` (0/1 for proportions)."""

    type: Literal["proportion", "mean"] = "proportion"
    sql: str

    @field_validator("sql")
    @classmethod
    def _has_window_parameters(cls, sql: str) -> str:
        return check_window_parameters(sql)


class Experiment(_Model):
    """A controlled comparison used for launch decisions (A/B test or holdout)."""

    name: str = Field(pattern=SLUG)
    description: str = ""
    control: str = "control"
    treatment: str = "treatment"
    planned_split: tuple[float, float] = (0.5, 0.5)
    minimum_detectable_effect: float | None = Field(default=None, gt=0, description="relative lift the test must be able to see")
    sequential: bool = Field(default=False, description="report always-valid p-values for weekly peeking")
    metrics: dict[str, ExperimentMetric] = Field(min_length=1)


class Contract(_Model):
    """A metric contract for one AI feature."""

    name: str = Field(pattern=SLUG)
    title: str | None = None
    channel: str = Field(description="Slack channel id (C…) or #name where audits and alerts go")
    decision: str = Field(min_length=1, description="what changes for the user if the model improves")
    autonomy: Autonomy = Autonomy.ASSISTANT
    signers: dict[Literal["pm", "eng", "ds"], str] = Field(default_factory=dict)
    business: BusinessTerms
    warehouse: str = Field(default="default", pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    schedule: Schedule = Schedule()
    review_every_weeks: int | None = Field(default=8, ge=1)
    retirement: str | None = None
    validation_touchpoints: tuple[Touchpoint, ...] = ()
    weights: Weights = Weights()
    baselines: dict[str, Baseline] = Field(default_factory=dict)
    launched_on: date | None = None
    noise: NoiseControls = NoiseControls()
    health: HealthChecks = HealthChecks()
    launch: LaunchSettings = LaunchSettings()
    metrics: tuple[Metric, ...] = Field(min_length=1)
    experiments: tuple[Experiment, ...] = ()

    @field_validator("signers")
    @classmethod
    def _slack_user_ids(cls, value: dict[str, str]) -> dict[str, str]:
        for role, user in value.items():
            if not re.fullmatch(r"[UW][A-Z0-9]{2,}", user):
                raise ValueError(f"signer {role}: {user!r} is not a Slack user id (U… or W…)")
        return value

    @model_validator(mode="after")
    def _cross_references(self) -> Contract:
        seen: set[str] = set()
        for metric in self.metrics:
            if metric.name in seen:
                raise ValueError(f"duplicate metric name {metric.name!r}: metric names must be unique")
            seen.add(metric.name)
        for metric in self.metrics:
            bound = metric.bound
            if bound is not None and isinstance(bound.baseline, str) and bound.baseline not in self.baselines:
                raise ValueError(
                    f"metric {metric.name!r}: baseline {bound.baseline!r} is not defined under baselines "
                    f"(defined: {', '.join(self.baselines) or 'none'})"
                )
            spec = metric.distribution
            if spec is not None and spec.reference is not None and spec.reference not in self.baselines:
                raise ValueError(f"metric {metric.name!r}: reference {spec.reference!r} is not defined under baselines")
            if metric.kind is Kind.DISTRIBUTION and (spec is None or (spec.edges is None and spec.reference is None)):
                raise ValueError(f"metric {metric.name!r}: a distribution metric needs distribution.edges or distribution.reference")
        experiment_names: set[str] = set()
        for experiment in self.experiments:
            if experiment.name in experiment_names:
                raise ValueError(f"duplicate experiment name {experiment.name!r}")
            experiment_names.add(experiment.name)
            unknown = sorted(set(experiment.metrics) - seen)
            if unknown:
                raise ValueError(f"experiment {experiment.name!r} names unknown metric(s): {', '.join(unknown)}")
        for touchpoint in self.validation_touchpoints:
            if touchpoint.metric is not None and touchpoint.metric not in seen:
                raise ValueError(f"validation touchpoint names unknown metric {touchpoint.metric!r}")
        return self

    # --- lookups -------------------------------------------------------------------------
    def metric(self, name: str) -> Metric | None:
        return next((m for m in self.metrics if m.name == name), None)

    def by_role(self, role: Role) -> list[Metric]:
        return [m for m in self.metrics if m.role is role]

    @property
    def north_star(self) -> Metric | None:
        stars = self.by_role(Role.NORTH_STAR)
        return stars[0] if stars else None

    @property
    def display_name(self) -> str:
        return self.title or self.name

    def experiment(self, name: str | None = None) -> Experiment | None:
        """The named experiment, or the first one when no name is given."""
        if name is None:
            return self.experiments[0] if self.experiments else None
        return next((e for e in self.experiments if e.name == name), None)

    def weight_for(self, metric: Metric) -> float:
        if metric.role is Role.NORTH_STAR:
            return self.weights.north_star
        if metric.role is Role.SECONDARY:
            return self.weights.secondary
        return 0.0

    def baseline_value(self, metric: Metric) -> float | None:
        """The numeric baseline of a metric's bound, when it is a number."""
        if metric.bound is not None and isinstance(metric.bound.baseline, (int, float)):
            return float(metric.bound.baseline)
        return None

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


# --- loading ------------------------------------------------------------------------------


def content_hash(source: str) -> str:
    """Hash of a contract's parsed content: reformatting or comments do not make a new version."""
    return hashlib.sha256(source.encode()).hexdigest()


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


#: Deepest nesting of lists and mappings a contract may use (real ones use five or six). Parsing
#: recurses once per level, and a few thousand levels overflow the interpreter's stack.
MAX_CONTRACT_NESTING = 64
_OPENING_TOKENS = (BlockMappingStartToken, BlockSequenceStartToken, FlowMappingStartToken, FlowSequenceStartToken)
_CLOSING_TOKENS = (BlockEndToken, FlowMappingEndToken, FlowSequenceEndToken)


def _check_nesting(text: str, source: str) -> None:
    """Refuse a document nested too deeply, found by the scanner, which does not recurse."""
    depth = 0
    for token in _yaml().scan(io.StringIO(text)):
        if isinstance(token, _OPENING_TOKENS):
            depth += 1
            if depth > MAX_CONTRACT_NESTING:
                raise ContractSyntaxError(
                    f"{source}:{token.start_mark.line + 1}: invalid YAML: lists or mappings nested more than "
                    f"{MAX_CONTRACT_NESTING} levels deep"
                )
        elif isinstance(token, _CLOSING_TOKENS):
            depth -= 1


def _line_of(document: Any, loc: tuple[int | str, ...]) -> int | None:
    """Best line number (1-based) for a pydantic error location in a ruamel document."""
    node = document
    line = None
    for key in loc:
        lc = getattr(node, "lc", None)
        try:
            if lc is not None:
                if isinstance(key, int) and isinstance(node, list) and key < len(node):
                    line = lc.item(key)[0] + 1
                elif isinstance(key, str) and isinstance(node, Mapping) and key in node:
                    line = lc.key(key)[0] + 1
            node = node[key]
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    return line


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


#: Values a contract may hold once YAML aliases are expanded. A real contract has a few hundred;
#: nested aliases ("billion laughs") can make a 1 kB document expand to billions.
MAX_CONTRACT_VALUES = 50_000


class _TooManyValues(Exception):
    pass


def _plain(node: Any, budget: list[int] | None = None) -> Any:
    budget = budget if budget is not None else [MAX_CONTRACT_VALUES]
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooManyValues
    if isinstance(node, Mapping):
        return {str(k): _plain(v, budget) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v, budget) for v in node]
    return node


def parse_contract(text: str, *, source: str = "<contract>") -> Contract:
    """Parse and validate a contract's YAML.

    Raises :class:`ContractSyntaxError` (bad YAML) or :class:`ContractValidationError` (schema),
    each naming ``source``, the line and the field.
    """
    try:
        _check_nesting(text, source)
        document = _yaml().load(io.StringIO(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ContractSyntaxError(f"{source}{line}: invalid YAML: {exc.problem or exc.context}") from exc
    except YAMLError as exc:
        raise ContractSyntaxError(f"{source}: invalid YAML: {exc}") from exc
    except ValueError as exc:  # a scalar the loader cannot convert, such as an integer of 10,000 digits
        raise ContractSyntaxError(f"{source}: invalid YAML: {exc}") from None
    if not isinstance(document, Mapping):
        raise ContractValidationError(f"{source}: a contract must be a mapping of fields, got {type(document).__name__}")
    try:
        plain = _plain(document)
    except _TooManyValues:
        raise ContractValidationError(
            f"{source}: the contract expands to more than {MAX_CONTRACT_VALUES:,} values; "
            "check for YAML aliases (*name) that repeat large anchored blocks"
        ) from None
    try:
        return Contract.model_validate(plain)
    except ValidationError as exc:
        messages = []
        for error in exc.errors():
            loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-after")))
            line = _line_of(document, loc)
            where = f"{source}:{line}" if line else source
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown field (check its spelling and indentation)"
            messages.append(f"{where}: {_format_loc(loc)}: {message}")
        raise ContractValidationError("\n".join(messages)) from None


def contract_fingerprint(contract: Contract) -> str:
    """Content hash of the parsed contract, independent of YAML formatting and comments."""
    return content_hash(contract.canonical_json())

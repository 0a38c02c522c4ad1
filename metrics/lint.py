"""The contract linter: findings that teach why a contract will mislead the team.

Each rule is a small function ``(contract, context) -> Iterable[Finding]``. A finding names the
metric or field it concerns and explains, in plain words, why it matters. Rules that need
something outside pure Python (parsing SQL) receive it through :class:`LintContext`, so this
module stays free of I/O and of warehouse libraries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from metrics.contract import BOUNDED_ROLES, Contract, Kind, Layer, Role, SIGNER_ROLES

MAX_CORE_METRICS = 5
TARGET_CORE_METRICS = 3
RARE_POSITIVE_PREVALENCE = 0.1
_ENGAGEMENT_PROXY = re.compile(
    r"\b(ctr|click|clicks|click[-_ ]?through|sessions?|engagement|dwell|time[-_ ]on|page[-_ ]?views?|impressions?|opens?)\b",
    re.IGNORECASE,
)


class Severity(StrEnum):
    """How much a finding matters: errors block a sync, warnings are shown."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    """One thing the linter has to say about a contract."""

    severity: Severity
    rule: str
    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity.value}: [{self.rule}] {self.subject}: {self.message}"


SqlChecker = Callable[[str], Sequence[str]]
"""Returns the problems with one SQL text (empty when it is a single read-only SELECT/WITH)."""


@dataclass(frozen=True)
class LintContext:
    """What the rules may use beyond the contract itself."""

    sql_checker: SqlChecker | None = None


Rule = Callable[[Contract, LintContext], Iterable[Finding]]
RULES: list[Rule] = []


def rule(func: Rule) -> Rule:
    RULES.append(func)
    return func


def _label(metric) -> str:
    return f"metrics.{metric.name}"


@rule
def one_north_star(contract: Contract, ctx: LintContext) -> Iterable[Finding]:
    stars = contract.by_role(Role.NORTH_STAR)
    if len(stars) == 1:
        return
    if not stars:
        message = (
            "no metric has role north_star. A contract needs exactly one north-star metric tied to "
            "user or business value, or every launch debate re-opens what success means."
        )
    else:
        names = ", ".join(m.name for m in stars)
        message = (
            f"{len(stars)} metrics claim role north_star ({names}). Pick one; make the others "
            "secondary. Two north stars let each side of a trade-off claim victory."
        )
    yield Finding(Severity.ERROR, "north-star-count", "metrics", message)


@rule
def has_guardrail(contract: Contract, ctx: LintContext) -> Iterable[Finding]:
    if not contract.by_role(Role.GUARDRAIL):
        yield Finding(
            Severity.ERROR,
            "no-guardrail",
            "metrics",
            "no guardrail metric. Say what must not degrade while the north star improves "
            "(false positives on good customers, escalations, complaints) and give it a hard bound.",
        )


@rule
def bounded_guardrails(contract: Contract, ctx: LintContext) -> Iterable[Finding]:
    for metric in contract.metrics:
        if metric.role in BOUNDED_ROLES and metric.bound is None:
            yield Finding(
                Severity.ERROR,
                "unbounded-guardrail",
                _label(metric),
                f"{metric.role.value} without a bound. A guardrail nobody can violate guards nothing: "
                "add bound: {max: …} or {max_ratio_to_baseline: …, baseline: …}.",
            )


@rule
def core_metric_count(contract: Contract, ctx: LintContext) -> Iterable[Finding]:
    core = [m for m in contract.metrics if m.is_core]
    if len(core) > MAX_CORE_METRICS:
        yield Finding(
            Severity.WARNING,
            "too-many-core-metrics",
            "metrics",
            f"{len(core)} core metrics (north star, secondary, guardrail, efficiency). Three is the aim; "
            f"more than {MAX_CORE_METRICS} is a dashboard, and nobody acts on a dashboard. Move the rest "
            "to diagnostic.",
        )


@rule
def model_layer_north_star(contract: Contract, ctx: LintContext) -> Iterable[Finding]:
    star = contract.north_star
    if star is not None and star.layer is Layer.MODEL:
        yield Finding(
            Severity.WARNING,
            "model-layer-north-star",
            _label(star),
            "the north star is a model-layer metric. Model performance is not product performance: "
            "a better AUC can ship and move nothing users feel. Choose a product or business "
            "metric and keep this one as secondary.",
        )


def _uses_accuracy(metric) -> bool:
    spec = metric.classification
    if spec is not None and spec.statistic == "accuracy":
        return True
    return bool(re.search(r"\baccuracy\b", f"{metric.name.replace('_', ' ')} {metric.label or ''}", re.IGNORECASE))


@rule
def accuracy_on_rare_positives(contract: Contract, ctx: LintContext) -> Iterable[Finding]:
    prevalence = contract.business.prevalence
    for metric in contract.metrics:
        if not _uses_accuracy(metric):
            continue
        if prevalence is not None and prevalence >= RARE_POSITIVE_PREVALENCE:
            continue
        positive = contract.business.positive
        if prevalence is not None:
            arithmetic = (
                f"only {prevalence * 100:g}% of {contract.business.units} are a {positive}, so a model "
                f"that never flags one is {(1 - prevalence) * 100:g}% accurate and catches nothing"
            )
        else:
            arithmetic = (
                f"if 1 in 1,000 {contract.business.units} is a {positive}, a model that never flags one "
                "is 99.9% accurate and catches nothing"
            )
        yield Finding(
            Severity.WARNING,
            "accuracy-on-rare-positives",
            _label(metric),
            f"accuracy hides rare positives: {arithmetic}. Use precision and recall (or the cost "
            "of errors) instead.",
        )


def _looks_like_engagement(metric) -> bool:
    text = " ".join(filter(None, (metric.name.replace("_", " "), metric.label, metric.description)))
    return bool(_ENGAGEMENT_PROXY.search(text))


@rule
def engagement_proxy_needs_counter(contract: Contract, ctx: LintContext) -> Iterable[Finding]:
    star = contract.north_star
    if star is None or not _looks_like_engagement(star):
        return
    if contract.by_role(Role.ANTI_GAMING):
        return
    yield Finding(
        Severity.WARNING,
        "engagement-proxy-ungamed",
        _label(star),
        "an engagement proxy (clicks, CTR, sessions) is the north star with no anti-gaming metric. "
        "Proxies are easy to raise without helping anyone (clickbait raises CTR). Add a counter "
        "metric with role anti_gaming: undo rate, suppression rate, opt-outs, or conversion.",
    )


@rule
def has_efficiency_bar(contract: Contract, ctx: LintContext) -> Iterable[Finding]:
    if not contract.by_role(Role.EFFICIENCY):
        yield Finding(
            Severity.WARNING,
            "no-efficiency-bar",
            "metrics",
            "no efficiency bar. A model that wins on quality but doubles latency or cost per "
            "inference can still lose the launch: add a metric with role efficiency and a bound.",
        )


@rule
def signers_named(contract: Contract, ctx: LintContext) -> Iterable[Finding]:
    if not contract.signers:
        yield Finding(
            Severity.WARNING,
            "no-signers",
            "signers",
            "no signers. A contract nobody signed is a wish: name the PM, engineering lead and "
            "data-science lead (Slack user ids) who approve launches.",
        )
        return
    missing = [role for role in SIGNER_ROLES if role not in contract.signers]
    if missing:
        yield Finding(
            Severity.WARNING,
            "missing-signer",
            "signers",
            f"no signer for {', '.join(missing)}. Each of PM, engineering and data science sees a "
            "different way the model can fail; every role should sign.",
        )


@rule
def review_and_retirement(contract: Contract, ctx: LintContext) -> Iterable[Finding]:
    if contract.review_every_weeks is None:
        yield Finding(
            Severity.WARNING,
            "no-review-cadence",
            "review_every_weeks",
            "no review cadence. Metrics drift from what matters; every few weeks ask "
            "'if we built this today, would we measure the same thing?' (8 weeks is the default).",
        )
    if not contract.retirement:
        yield Finding(
            Severity.WARNING,
            "no-retirement-condition",
            "retirement",
            "no retirement condition. Say when this model should be switched off, or it will run "
            "long after it stopped paying for itself.",
        )


@rule
def agent_needs_counter_metric(contract: Contract, ctx: LintContext) -> Iterable[Finding]:
    if contract.autonomy.value != "agent":
        return
    if not contract.by_role(Role.ANTI_GAMING):
        yield Finding(
            Severity.WARNING,
            "agent-without-counter-metric",
            "autonomy",
            "an agent acts without the user in the loop, so mistakes land directly on users. "
            "Add a counter metric (overrides, undo rate, appeals) that rises when it acts wrongly.",
        )


@rule
def read_only_sql(contract: Contract, ctx: LintContext) -> Iterable[Finding]:
    if ctx.sql_checker is None:
        return
    sources = [(_label(m), m.sql) for m in contract.metrics]
    sources += [
        (f"experiments.{e.name}.metrics.{name}", em.sql) for e in contract.experiments for name, em in e.metrics.items()
    ]
    for subject, sql in sources:
        for problem in ctx.sql_checker(sql):
            yield Finding(
                Severity.ERROR,
                "sql-not-read-only",
                subject,
                f"{problem}. Northstar only runs a single read-only SELECT/WITH statement against "
                "your warehouse.",
            )


@rule
def disparity_needs_segments(contract: Contract, ctx: LintContext) -> Iterable[Finding]:
    for metric in contract.metrics:
        if metric.kind is Kind.CLASSIFICATION and metric.role is Role.GUARDRAIL:
            spec = metric.spec()
            if spec.max_disparity is not None and spec.segment_column is None:
                yield Finding(
                    Severity.ERROR,
                    "disparity-without-segments",
                    _label(metric),
                    "max_disparity needs classification.segment_column: a disparity is measured across segments.",
                )


@rule
def threshold_on_a_bin_edge(contract: Contract, ctx: LintContext) -> Iterable[Finding]:
    for metric in contract.metrics:
        if metric.kind is not Kind.CLASSIFICATION:
            continue
        spec = metric.spec()
        position = spec.threshold * spec.bins
        if abs(position - round(position)) > 1e-9 * max(1.0, position):
            yield Finding(
                Severity.ERROR,
                "threshold-between-bins",
                _label(metric),
                f"threshold {spec.threshold:g} falls inside a score bin ({spec.bins} bins of width "
                f"{1 / spec.bins:g}). The warehouse returns counts per bin, so only bin edges can be "
                "judged exactly: choose bins so the threshold is an edge (bins: 100 fits two decimals).",
            )


@dataclass(frozen=True)
class LintReport:
    """All findings for one contract."""

    contract: str
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.WARNING)

    @property
    def ok(self) -> bool:
        return not self.errors


_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def lint_contract(contract: Contract, *, sql_checker: SqlChecker | None = None) -> LintReport:
    """Run every rule on ``contract`` and return the findings, errors first."""
    ctx = LintContext(sql_checker=sql_checker)
    findings = [finding for check in RULES for finding in check(contract, ctx)]
    findings.sort(key=lambda f: _SEVERITY_ORDER[f.severity])
    return LintReport(contract=contract.name, findings=tuple(findings))

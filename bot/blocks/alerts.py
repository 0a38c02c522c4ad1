"""Guardrail alert, reminder and resolution messages. Pure builders: data in, payload out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from bot.blocks.common import actions, button, context, escape, fields, header, section
from bot.blocks.limits import check_message
from metrics.evaluation import Finding, format_value

# Kept beside the builder until the shared ids module lists them; the listeners import these.
ACTION_ALERT_ACKNOWLEDGE = "alert_acknowledge"
ACTION_ALERT_SNOOZE = "alert_snooze"

_EMOJI = {"critical": ":rotating_light:", "warning": ":warning:", "info": ":information_source:"}


def _limits(finding: Finding) -> str:
    parts = []
    if finding.high is not None:
        parts.append(f"≤ {format_value(finding.high, finding.unit)}")
    if finding.low is not None:
        parts.append(f"≥ {format_value(finding.low, finding.unit)}")
    return " and ".join(parts) or "—"


def _signers(signers: Mapping[str, str]) -> str:
    return " ".join(f"<@{user}>" for user in dict.fromkeys(signers.values()))


def build_alert(
    *,
    contract_title: str,
    findings: Sequence[tuple[Finding, int | None]],
    signers: Mapping[str, str],
    since: datetime | None,
) -> dict:
    """The first message of a breach (or of several, grouped): what, by how much, who, buttons.

    ``findings`` pairs each breached finding with its alert state id, which the Acknowledge and
    Snooze buttons carry.
    """
    worst = "critical" if any(f.severity == "critical" for f, _ in findings) else "warning"
    count = len(findings)
    title = f"{contract_title}: {findings[0][0].title} breached" if count == 1 else f"{contract_title}: {count} guardrails breached"
    blocks: list[dict] = [header(title)]
    for finding, state_id in findings:
        blocks.append(section(f"{_EMOJI[worst if count == 1 else finding.severity]} {escape(finding.reason)}"))
        pairs = [("Value", format_value(finding.value, finding.unit)), ("Bound", _limits(finding))]
        if finding.baseline is not None:
            pairs.append(("Baseline", format_value(finding.baseline, finding.unit)))
        if finding.interval is not None:
            low, high = finding.interval
            pairs.append(("95% interval", f"{format_value(low, finding.unit)}–{format_value(high, finding.unit)}"))
        blocks.extend(fields(pairs))
        if state_id is not None:
            value = str(state_id)
            blocks.extend(
                actions(
                    [
                        button("Acknowledge", ACTION_ALERT_ACKNOWLEDGE, value, style="primary"),
                        button("Snooze 24 h", ACTION_ALERT_SNOOZE, value),
                    ],
                    block_id=f"alert-{value}",
                )
            )
    notes = []
    if signers:
        notes.append(f"Signers: {_signers(signers)}")
    if since is not None:
        notes.append(f"Breach began {since:%Y-%m-%d %H:%M} UTC")
    if notes:
        blocks.append(context(" · ".join(notes)))
    text = title + ": " + "; ".join(f.reason for f, _ in findings)
    return check_message({"text": text[:3000], "blocks": blocks})


def build_reminder(*, finding: Finding, since: datetime | None, now: datetime, worsened: bool = False) -> dict:
    """A reply in the alert's thread: the breach is still there (or got worse while snoozed)."""
    hours = (now - since).total_seconds() / 3600 if since is not None else None
    lasting = f" for {hours:.0f} h" if hours is not None else ""
    lead = "Worse since it was snoozed" if worsened else f"Still breached{lasting}"
    text = f"{lead}: {finding.reason}"
    return check_message({"text": text, "blocks": [section(f":hourglass: {escape(text)}")]})


def build_resolution(*, finding: Finding, since: datetime | None, now: datetime) -> dict:
    """A reply in the alert's thread: back within bounds, and how long it lasted."""
    hours = (now - since).total_seconds() / 3600 if since is not None else None
    lasted = f" after {hours:.0f} h" if hours is not None else ""
    text = f"Resolved{lasted}: {finding.reason}"
    return check_message({"text": text, "blocks": [section(f":white_check_mark: {escape(text)}")]})

"""Guardrail alert, reminder and resolution messages. Pure builders: data in, payload out.

An alert message is posted once and then edited in place as its breaches are acknowledged,
snoozed, reminded about or recovered: :func:`build_alert_update` restates the posted payload
with one :class:`AlertStanding` per alert state, so every edit starts from the same original and
two edits can never stack up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.blocks.common import actions, button, clip, context, escape, fields, header, mention, section
from bot.blocks.ids import ACTION_ALERT_ACKNOWLEDGE, ACTION_ALERT_SNOOZE
from bot.blocks.limits import check_message
from metrics.evaluation import Finding, format_value

__all__ = [
    "ACTION_ALERT_ACKNOWLEDGE",
    "ACTION_ALERT_SNOOZE",
    "AlertStanding",
    "alert_state_ids",
    "build_alert",
    "build_alert_update",
    "build_reminder",
    "build_resolution",
]

_BUTTONS_BLOCK = "alert-"
_STATUS_BLOCK = "alert-status-"
_BUTTONS_ID = re.compile(r"^alert-(\d+)$")

_EMOJI = {"critical": ":rotating_light:", "warning": ":warning:", "info": ":information_source:"}


def _limits(finding: Finding) -> str:
    parts = []
    if finding.high is not None:
        parts.append(f"≤ {format_value(finding.high, finding.unit)}")
    if finding.low is not None:
        parts.append(f"≥ {format_value(finding.low, finding.unit)}")
    return " and ".join(parts) or "—"


def _signers(signers: Mapping[str, str]) -> str:
    return " ".join(mention(user) for user in dict.fromkeys(signers.values()))


@dataclass(frozen=True)
class AlertStanding:
    """Where one breach of an alert message stands now, as the message should show it.

    ``over`` is set once the breach has ended (recovered, or replaced by a later breach);
    ``recovered_value`` is the value it came back at, already formatted in its unit.
    """

    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    snoozed_by: str | None = None
    snoozed_until: datetime | None = None
    breached_hours: float | None = None
    over: bool = False
    recovered_value: str | None = None
    recovered_at: datetime | None = None

    def lines(self) -> list[str]:
        if self.over:
            if self.recovered_at is not None:
                value = f" at {escape(self.recovered_value)}" if self.recovered_value else ""
                return [f":white_check_mark: Recovered{value} on {self.recovered_at:%Y-%m-%d}"]
            return [":white_check_mark: Back within bounds"]
        lines = []
        if self.breached_hours is not None:
            lines.append(f":hourglass: Still breached for {self.breached_hours:.0f} h")
        if self.acknowledged_by is not None and self.acknowledged_at is not None:
            lines.append(f":eyes: Acknowledged by {mention(self.acknowledged_by)} at {self.acknowledged_at:%Y-%m-%d %H:%M} UTC")
        if self.snoozed_by is not None and self.snoozed_until is not None:
            lines.append(f":zzz: Snoozed until {self.snoozed_until:%Y-%m-%d %H:%M} UTC by {mention(self.snoozed_by)}")
        return lines

    def buttons(self, value: str) -> list[dict]:
        # Acknowledged stops reminders for good, so snoozing it too would change nothing.
        if self.over or self.acknowledged_at is not None:
            return []
        shown = [button("Acknowledge", ACTION_ALERT_ACKNOWLEDGE, value, style="primary")]
        if self.snoozed_until is None:
            shown.append(button("Snooze 24 h", ACTION_ALERT_SNOOZE, value))
        return shown


def _controls(state_id: int, standing: AlertStanding | None) -> list[dict]:
    """One breach's status line (once it has one) and the buttons that still make sense for it."""
    standing = standing or AlertStanding()
    value = str(state_id)
    blocks: list[dict] = []
    lines = standing.lines()
    if lines:
        blocks.append({**context(" · ".join(lines)), "block_id": f"{_STATUS_BLOCK}{value}"})
    shown = standing.buttons(value)
    if shown:
        blocks.extend(actions(shown, block_id=f"{_BUTTONS_BLOCK}{value}"))
    return blocks


def alert_state_ids(payload: Mapping) -> list[int]:
    """The alert state ids an alert message carries, in the order its breaches are shown."""
    found = []
    for block in payload.get("blocks") or []:
        match = _BUTTONS_ID.match(str(block.get("block_id") or ""))
        if match and block.get("type") == "actions":
            found.append(int(match.group(1)))
    return found


def build_alert_update(original: Mapping, standings: Mapping[int, AlertStanding]) -> dict:
    """The posted alert ``original`` restated with each breach's standing, for ``chat.update``.

    Each breach's buttons are replaced by its status line and the buttons it still needs; the
    rest of the message (numbers, bounds, signers) is kept as posted.
    """
    blocks: list[dict] = []
    notes: list[str] = []
    for block in original.get("blocks") or []:
        block_id = str(block.get("block_id") or "")
        if block_id.startswith(_STATUS_BLOCK):
            continue
        match = _BUTTONS_ID.match(block_id)
        if match and block.get("type") == "actions":
            state_id = int(match.group(1))
            standing = standings.get(state_id)
            blocks.extend(_controls(state_id, standing))
            if standing is not None:
                notes.extend(standing.lines())
            continue
        blocks.append(block)
    # The posted text was escaped when it was built and the notes are mrkdwn already: no escape().
    text = str(original.get("text") or "")
    if notes:
        # The notification text has no emoji shortcodes to render; keep only the words.
        plain = [re.sub(r"^:[a-z_]+: ", "", note) for note in dict.fromkeys(notes)]
        text = f"{text} ({'; '.join(plain)})"
    return check_message({"text": clip(text, 3000), "blocks": blocks})


def build_alert(
    *,
    contract_title: str,
    findings: Sequence[tuple[Finding, int | None]],
    signers: Mapping[str, str],
    since: datetime | None,
) -> dict:
    """The first message of a breach (or of several, grouped): what, by how much, who, buttons.

    ``findings`` pairs each breached finding with its alert state id, which the Acknowledge and
    Snooze buttons carry; the buttons' block is named after the id so that later edits
    (:func:`build_alert_update`) find each breach's place.
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
            blocks.extend(_controls(state_id, None))
    notes = []
    if signers:
        notes.append(f"Signers: {_signers(signers)}")
    if since is not None:
        notes.append(f"Breach began {since:%Y-%m-%d %H:%M} UTC")
    if notes:
        blocks.append(context(" · ".join(notes)))
    text = escape(title + ": " + "; ".join(f.reason for f, _ in findings))
    return check_message({"text": clip(text, 3000), "blocks": blocks})


def build_reminder(*, finding: Finding, since: datetime | None, now: datetime, worsened: bool = False) -> dict:
    """A reply in the alert's thread: the breach is still there (or got worse while snoozed)."""
    hours = (now - since).total_seconds() / 3600 if since is not None else None
    lasting = f" for {hours:.0f} h" if hours is not None else ""
    lead = "Worse since it was snoozed" if worsened else f"Still breached{lasting}"
    text = escape(f"{lead}: {finding.reason}")
    return check_message({"text": text, "blocks": [section(f":hourglass: {text}")]})


def build_resolution(*, finding: Finding, since: datetime | None, now: datetime) -> dict:
    """A reply in the alert's thread: back within bounds, and how long it lasted."""
    hours = (now - since).total_seconds() / 3600 if since is not None else None
    lasted = f" after {hours:.0f} h" if hours is not None else ""
    text = escape(f"Resolved{lasted}: {finding.reason}")
    return check_message({"text": text, "blocks": [section(f":white_check_mark: {text}")]})

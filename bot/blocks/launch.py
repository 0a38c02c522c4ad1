"""Block Kit for launch decisions: the scorecard message, the reason modals, the history.

Pure builders, no client. The ids below belong to launch decisions alone and are defined here
once, for the builders and the listeners both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.blocks.common import actions, button, clip, context, divider, escape, header, mention, section
from bot.blocks.limits import MAX_MESSAGE_BLOCKS, check_message, check_view
from metrics.scorecard import MetricResult, Scorecard, format_value

if TYPE_CHECKING:
    from bot.launches import LaunchView

COMMAND_LAUNCH = "/launch"
ACTION_LAUNCH_APPROVE = "launch_approve"
ACTION_LAUNCH_REJECT = "launch_reject"
ACTION_LAUNCH_OVERRIDE = "launch_override"
VIEW_LAUNCH_REJECT_REASON = "launch_reject_reason"
VIEW_LAUNCH_OVERRIDE_REASON = "launch_override_reason"
BLOCK_LAUNCH_REASON = "launch_reason"
ACTION_LAUNCH_REASON = "launch_reason_input"
BLOCK_LAUNCH_ACTIONS = "launch_actions"

USAGE = "`/launch <contract> [<experiment>]` — the scorecard for a launch, for the signers to decide; `/launch history <contract>` — past decisions and votes."
RECOMMENDATION_LABELS = {"ship": ":white_check_mark: Ship", "hold": ":double_vertical_bar: Hold", "block": ":no_entry: Block"}
STATE_LABELS = {"pending": "Waiting for the signers", "approved": ":white_check_mark: Approved", "rejected": ":x: Rejected",
                "expired": ":hourglass: Expired"}
VERDICT_LABELS = {"win": ":large_green_circle: win", "flat": ":white_circle: flat", "loss": ":red_circle: loss",
                  "holds": ":large_green_circle: holds", "violated": ":no_entry: violated", "info": ":information_source: info",
                  "missing": ":grey_question: no data"}
VOTE_LABELS = {"approve": ":white_check_mark: approved", "reject": ":x: rejected", "override": ":warning: overrode the block"}
ROLE_NAMES = {"pm": "PM", "eng": "Eng", "ds": "DS"}
# Leaves room for the header, summary, flags, signers, votes and buttons within 50 blocks.
MAX_METRIC_BLOCKS = 30


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "—"


def _signers(view: LaunchView) -> str:
    return ", ".join(f"{mention(user)} ({ROLE_NAMES.get(role, role)})" for role, user in view.signers.items()) or "none named"


def _p(value: float | None) -> str:
    """A p-value for mrkdwn: "&lt; 0.001" shows as "< 0.001" (a bare "<" may start a Slack link)."""
    if value is None:
        return "—"
    return escape("< 0.001") if value < 0.001 else f"{value:.3f}"


def _value(value: float | None, r: MetricResult, *, signed: bool = False) -> str:
    # The unit comes from the contract, so a formatted value is escaped like any other text.
    return escape(format_value(value, r, signed=signed))


def _metric_line(r: MetricResult, card: Scorecard) -> str:
    role = r.role.replace("_", " ")
    head = f"*{escape(r.title)}* · {role}, {r.layer} — {VERDICT_LABELS.get(r.verdict, r.verdict)}"
    if r.verdict == "missing":
        return f"{head}\n{escape(r.note or 'no data')}"
    lines = [head]
    numbers = (f"{escape(card.control)} {_value(r.control_value, r)} → {escape(card.treatment)} "
               f"{_value(r.treatment_value, r)}  ({_value(r.absolute_lift, r, signed=True)}")
    if r.abs_ci is not None:
        numbers += f", 95% CI {_value(r.abs_ci[0], r, signed=True)}…{_value(r.abs_ci[1], r, signed=True)}"
    numbers += ")"
    if r.relative_lift is not None and r.rel_ci is not None and None not in r.rel_ci:
        numbers += f", relative {100 * r.relative_lift:+.1f}% (CI {100 * r.rel_ci[0]:+.1f}%…{100 * r.rel_ci[1]:+.1f}%)"
    lines.append(numbers)
    stats = f"p = {_p(r.p_value)}"
    if r.always_valid_p is not None:
        stats += f" · always-valid p = {_p(r.always_valid_p)}"
    stats += f" · n = {r.control_n:,} / {r.treatment_n:,}"
    if r.bound:
        stats += f" · bound {escape(r.bound)}"
    lines.append(stats)
    if r.violation:
        lines.append(f"*Violated:* {escape(r.violation)}")
    return "\n".join(lines)


def _vote_line(vote) -> str:
    line = f"{mention(vote.user_id)} ({ROLE_NAMES.get(vote.role, vote.role)}) {VOTE_LABELS.get(vote.vote, vote.vote)} · {_when(vote.created_at)}"
    if vote.reason:
        # Clipped after escaping: every signer's reason shares one section of 3000 characters.
        line += f"\n> {clip(escape(vote.reason), 500)}"
    return line


def build_launch_message(view: LaunchView) -> dict:
    """The scorecard message; the buttons are there only while the decision is pending."""
    card = view.scorecard
    recommendation = RECOMMENDATION_LABELS.get(card.recommendation, card.recommendation)
    blocks: list[dict[str, Any]] = [
        header(f"Launch decision · {view.contract_title} · {view.experiment or card.experiment}"),
        section(f"*{recommendation}* · score {card.score:+g}\n{escape(card.summary)}"),
    ]
    if card.flags:
        blocks.append(section("\n".join(f":warning: {escape(flag)}" for flag in card.flags)))
    blocks.append(divider())
    for result in card.metrics[:MAX_METRIC_BLOCKS]:
        blocks.append(section(_metric_line(result, card)))
    if len(card.metrics) > MAX_METRIC_BLOCKS:
        blocks.append(context(f"…and {len(card.metrics) - MAX_METRIC_BLOCKS} more metrics (see `/launch history {escape(view.contract)}`)."))
    if card.context:
        latest = " · ".join(f"{escape(c['title'])} {escape(format_value(c['value'], _Unit(c['unit'])))}" for c in card.context)
        blocks.append(context(f"Latest values outside the experiment (not compared): {latest}"))
    method = "always-valid (sequential) intervals" if card.sequential else "fixed-horizon intervals"
    srm = f"split check p = {_p(card.srm_p_value)}" if card.srm_p_value is not None else "split not checked"
    blocks.append(context(f"Contract v{view.contract_version} · α = {card.alpha:g}, verdicts on {method} · {srm} · "
                          f"requested by {mention(view.requested_by)} on {_when(view.requested_at)}"))
    blocks.append(divider())
    need = ("every signer must *override* the block with a written reason" if view.blocked
            else "every signer must approve; one rejection rejects")
    blocks.append(section(f"*Signers:* {_signers(view)} — {need}."))
    if view.votes:
        blocks.append(section("\n".join(_vote_line(v) for v in view.votes)))
    if view.pending:
        blocks.append(context(f"{STATE_LABELS['pending']} · expires {_when(view.expires_at)}"))
        elements = []
        if not view.blocked:
            elements.append(button("Approve", ACTION_LAUNCH_APPROVE, view.id, style="primary"))
        elements.append(button("Reject", ACTION_LAUNCH_REJECT, view.id, style="danger"))
        if view.blocked:
            elements.append(button("Override…", ACTION_LAUNCH_OVERRIDE, view.id))
        blocks.extend(actions(elements, block_id=BLOCK_LAUNCH_ACTIONS))
    else:
        blocks.append(section(f"*{STATE_LABELS.get(view.state, view.state)}* on {_when(view.decided_at)}"))
    blocks = blocks[:MAX_MESSAGE_BLOCKS]
    # The signers are named in the notification text so that Slack pings them; nothing else may ping.
    mentions = " ".join(mention(user) for user in view.signers.values())
    state = "" if view.pending else f" [{view.state}]"
    words = (f"Launch decision{state} for {view.contract_title} ({view.experiment or card.experiment}): "
             f"{card.recommendation.capitalize()}. {card.summary}")
    text = f"{escape(words)} {mentions}".strip()
    return check_message({"text": text, "blocks": blocks})


class _Unit:
    """Just enough of a metric for :func:`format_value` on a context value."""

    def __init__(self, unit: str):
        self.unit = unit
        self.type = None


def build_reason_modal(kind: str, decision_id: str, *, contract_title: str, min_chars: int = 0) -> dict:
    """The modal asking why: ``kind`` is ``"reject"`` or ``"override"``.

    ``private_metadata`` is only the opaque decision id; who submits comes from the payload.
    """
    override = kind == "override"
    prompt = (f"A guardrail blocks this launch. Explain why it should ship anyway (at least {min_chars} characters); "
              "every signer must override for it to be approved." if override
              else "Say why, so the team knows what would change your mind.")
    view = {
        "type": "modal",
        "callback_id": VIEW_LAUNCH_OVERRIDE_REASON if override else VIEW_LAUNCH_REJECT_REASON,
        "private_metadata": decision_id,
        "title": {"type": "plain_text", "text": "Override the block" if override else "Reject the launch"},
        "submit": {"type": "plain_text", "text": "Override" if override else "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            section(f"*{escape(contract_title)}*\n{prompt}"),
            {
                "type": "input",
                "block_id": BLOCK_LAUNCH_REASON,
                "label": {"type": "plain_text", "text": "Reason"},
                "element": {"type": "plain_text_input", "action_id": ACTION_LAUNCH_REASON, "multiline": True},
            },
        ],
    }
    return check_view(view)


def build_reason_errors(message: str) -> dict:
    """What ``ack`` answers to keep the modal open with ``message`` under the reason."""
    return {"response_action": "errors", "errors": {BLOCK_LAUNCH_REASON: clip(message, 300)}}


def build_launch_history(contract: str, launches: list[LaunchView]) -> dict:
    """Past decisions of a contract: recommendation, outcome and every vote."""
    if not launches:
        text = escape(f"No launch decisions for {contract} yet. Request one with `/launch {contract}`.")
        return check_message({"text": text, "blocks": [section(text)]})
    blocks: list[dict[str, Any]] = [header(f"Launch decisions · {contract}")]
    # Two blocks per decision, newest first, within Slack's 50 blocks.
    shown = launches[: (MAX_MESSAGE_BLOCKS - 2) // 2]
    for view in shown:
        card = view.scorecard
        head = (f"*{escape(view.experiment or card.experiment)}* · requested {_when(view.requested_at)} by {mention(view.requested_by)} · "
                f"{RECOMMENDATION_LABELS.get(card.recommendation, card.recommendation)} → "
                f"*{STATE_LABELS.get(view.state, view.state)}*" + (f" on {_when(view.decided_at)}" if view.decided_at else ""))
        votes = "\n".join(_vote_line(v) for v in view.votes) or "No votes."
        blocks.append(section(f"{head}\n{escape(card.summary)}\n{votes}"))
        blocks.append(divider())
    if len(launches) > len(shown):
        blocks.append(context(f"{len(launches) - len(shown)} older decisions not shown; `northstar launches --contract {escape(contract)}` lists all."))
    text = escape(f"{len(launches)} launch decision(s) for {contract}.")
    return check_message({"text": text, "blocks": blocks})


def build_launch_usage(problem: str | None = None) -> dict:
    # The problem may quote what was typed, which can be longer than one section holds.
    shown = clip(escape(problem), 500) if problem else ""
    blocks = [section(f":thinking_face: {shown}")] if shown else []
    blocks.append(section(USAGE))
    blocks.append(context("Examples: `/launch fraud-screening` · `/launch fraud-screening model-v2` · `/launch history fraud-screening`"))
    text = f"{shown} — usage: {USAGE}" if shown else f"Usage: {USAGE}"
    return check_message({"text": text, "blocks": blocks})

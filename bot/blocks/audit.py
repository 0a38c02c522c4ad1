"""The weekly audit message, and a plain-text rendering of any Block Kit payload for the terminal.

Pure builders: an :class:`~metrics.audit.Audit` in, payloads out. The first payload is the channel
message a PM reads (headline, decision, north star, the bounds in trouble, the review question);
when the whole audit would pass Slack's 50 blocks the details go to thread replies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.blocks.common import actions, button, clip, context, divider, escape, fields, header, section
from bot.blocks.ids import ACTION_REVIEW_REVISIT, ACTION_REVIEW_STILL_RIGHT, BLOCK_REVIEW
from bot.blocks.limits import MAX_MESSAGE_BLOCKS, MAX_SECTION_TEXT, check_message, split_text
from metrics.audit import REVIEW_QUESTION, Audit, BoundLine, HealthLine
from metrics.evaluation import format_value

__all__ = ["ACTION_REVIEW_REVISIT", "ACTION_REVIEW_STILL_RIGHT", "BLOCK_REVIEW", "build_audit_message", "render_text"]

_STATUS = {
    "ok": ":white_check_mark:",
    "near": ":large_yellow_circle:",
    "at_risk": ":warning:",
    "violated": ":red_circle:",
    "insufficient_data": ":grey_question:",
}
# Blocks the main message keeps free for the "more in the thread" note.
_RESERVED = 2


def _sections(text: str) -> list[dict]:
    return [section(piece) for piece in split_text(text, MAX_SECTION_TEXT)]


def _bound_text(line: BoundLine) -> str:
    text = f"{_STATUS.get(line.status, '')} *{escape(line.title)}* {escape(format_value(line.value, line.unit))} (bound {escape(line.bound_text)}): {line.status.replace('_', ' ')}"
    if line.since is not None:
        text += f" since the week ending {line.since:%Y-%m-%d}"
    if line.cost_text:
        text += f"\n{escape(line.cost_text)}"
    elif line.status != "ok":
        text += f"\n{escape(line.reason)}"
    return text


def _health_text(line: HealthLine) -> str:
    return f"{_STATUS.get(line.status, '')} {escape(line.text)}"


def _north_star_blocks(audit: Audit) -> list[dict]:
    north = audit.north_star
    if north is None:
        return _sections("*North star*: the contract names none.")
    change = "—" if north.change is None else f"{north.change:+.1%}"
    launch = "—" if north.change_vs_launch is None else f"{north.change_vs_launch:+.1%}"
    sample = "—" if north.sample_size is None else f"{north.sample_size:,.0f}"
    blocks = _sections(f"*North star: {escape(north.title)}* {escape(format_value(north.value, north.unit))}, {escape(north.trend_word)}")
    blocks += fields([
        ("This week", format_value(north.value, north.unit)),
        ("vs last week", f"{change} (was {format_value(north.last_week, north.unit)})"),
        ("vs launch baseline", f"{launch} (baseline {format_value(north.launch_baseline, north.unit)})"),
        ("Sample size", sample),
        ("Noise", north.noise_text),
    ])
    return blocks


def _hygiene_blocks(audit: Audit) -> list[dict]:
    h = audit.hygiene
    lines = [f"{h.core_metrics} core metrics" + (" (more than five is dashboard bloat)" if h.core_metrics > 5 else "")]
    if h.unsigned_versions:
        lines.append("Unsigned versions: " + ", ".join(f"v{v}" for v in h.unsigned_versions))
    lines += [f"Validation touchpoint due: {escape(t)}" for t in h.touchpoints_due]
    lines += [f"Open lint finding — {escape(t)}" for t in h.lint]
    lines += [f":x: {escape(p)}" for p in h.problems]
    return _sections("*Contract hygiene*\n" + "\n".join(f"• {line}" for line in lines))


def _review_blocks(audit: Audit) -> list[dict]:
    weeks = audit.hygiene.weeks_since_launch
    blocks = _sections(f"*Metric review* ({weeks} weeks since launch): {REVIEW_QUESTION}")
    blocks += actions(
        [
            button("Still right", ACTION_REVIEW_STILL_RIGHT, audit.contract, style="primary"),
            button("Revisit", ACTION_REVIEW_REVISIT, audit.contract),
        ],
        block_id=BLOCK_REVIEW,
    )
    return blocks


def _fallback(audit: Audit) -> str:
    text = f"Weekly audit, {audit.title}: {audit.headline}"
    if audit.decision:
        text += f". {audit.decision}"
    return clip(escape(text), 3000)


def build_audit_message(audit: Audit) -> list[dict]:
    """The audit as payloads: the channel message first, then thread replies when it is long.

    Every payload passes :func:`bot.blocks.limits.check_message` and carries fallback text.
    """
    top: list[dict] = [header(f"Weekly audit: {audit.title} — week ending {audit.week_end:%Y-%m-%d}")]
    if audit.paused_note:
        top.append(context(f":double_vertical_bar: {escape(audit.paused_note)}"))
    top += _sections(f"*{escape(audit.headline)}*")
    if audit.decision:
        top += _sections(f":point_right: *{escape(audit.decision)}*")
    top += _north_star_blocks(audit)
    review = _review_blocks(audit) if audit.hygiene.review_due else []

    trouble = [b for b in audit.bounds if b.status != "ok"]
    calm = [b for b in audit.bounds if b.status == "ok"]
    detail: list[dict] = []
    if audit.bounds:
        detail += [divider(), *_sections("*Guardrails and efficiency bars*")]
        detail += [block for line in trouble + calm for block in _sections(_bound_text(line))]
    if audit.health:
        detail += [divider(), *_sections("*Model health*")]
        detail += [block for line in audit.health for block in _sections(_health_text(line))]
    detail += [divider(), *_hygiene_blocks(audit)]

    fallback = _fallback(audit)
    if len(top) + len(detail) + len(review) <= MAX_MESSAGE_BLOCKS:
        return [check_message({"text": fallback, "blocks": top + detail + review})]

    # Too long for one message: the channel sees the summary, the bounds in trouble that fit and
    # the review question; everything else goes to the thread, in order.
    room = MAX_MESSAGE_BLOCKS - len(top) - len(review) - _RESERVED
    shown = []
    for line in trouble:
        blocks = _sections(_bound_text(line))
        if len(shown) + len(blocks) > room:
            break
        shown += blocks
    main = top + shown + review + [context(f"Full audit ({len(audit.bounds)} bounds, {len(audit.health)} health checks) in the thread.")]
    payloads = [check_message({"text": fallback, "blocks": main})]
    per_reply = MAX_MESSAGE_BLOCKS
    chunks = [detail[i : i + per_reply] for i in range(0, len(detail), per_reply)]
    for number, chunk in enumerate(chunks, start=1):
        # A reply must not start with a lone divider: it reads as an empty first line.
        while chunk and chunk[0]["type"] == "divider":
            chunk = chunk[1:]
        if chunk:
            text = escape(f"Weekly audit, {audit.title}: details, part {number} of {len(chunks)}")
            payloads.append(check_message({"text": text, "blocks": chunk}))
    return payloads


# --------------------------------------------------------------------------------------------
# Terminal rendering
# --------------------------------------------------------------------------------------------


def _plain(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text", ""))
    return "" if obj is None else str(obj)


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def render_text(payload: dict | Sequence[dict]) -> str:
    """Block Kit as plain text: headers underlined, sections and fields, context, ``[Buttons]``.

    Used by the demo and the CLI to show what would be posted without a Slack workspace. A list
    of payloads (a message and its thread) is rendered one after another.
    """
    if not isinstance(payload, dict):
        return "\n\n".join(("" if i == 0 else "  ↳ in thread\n") + render_text(p) for i, p in enumerate(payload))
    blocks = payload.get("blocks")
    if not blocks:
        return _unescape(str(payload.get("text", "")))
    out: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            title = _plain(block.get("text"))
            out += [title, "=" * len(title)]
        elif kind == "section":
            if block.get("text"):
                out.append(_unescape(_plain(block["text"])))
            for item in block.get("fields") or []:
                label, _, value = _plain(item).partition("\n")
                out.append(f"  {_unescape(label)}: {_unescape(value)}")
            accessory = block.get("accessory")
            if accessory and accessory.get("type") == "button":
                out.append(f"[{_plain(accessory.get('text'))}]")
        elif kind == "context":
            out.append("  " + " · ".join(_unescape(_plain(e)) for e in block.get("elements") or []))
        elif kind == "actions":
            out.append(" ".join(f"[{_plain(e.get('text'))}]" for e in block.get("elements") or []))
        elif kind == "divider":
            out.append("-" * 40)
        elif kind == "image":
            out.append(f"[image: {block.get('alt_text', '')}]")
    return "\n".join(out)

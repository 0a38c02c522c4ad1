"""Small Block Kit pieces shared by the surface builders. Pure functions, no client."""

from __future__ import annotations

import re
from typing import Any

from bot.blocks.limits import MAX_BUTTON_TEXT, MAX_BUTTON_VALUE, MAX_FIELD_TEXT, MAX_HEADER_TEXT, MAX_SECTION_TEXT


# The start of an entity escape() wrote, left dangling where a clip cut the text.
_CUT_ENTITY = re.compile(r"&(?:a|am|amp|l|lt|g|gt)?$")
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")


def clip(text: str, limit: int) -> str:
    """Shorten ``text`` to ``limit`` characters with an ellipsis, never cutting silently.

    Clip after escaping, so the limit holds for what is sent; a cut never leaves half an
    ``&amp;``/``&lt;``/``&gt;`` behind.
    """
    text = str(text)
    return text if len(text) <= limit else _CUT_ENTITY.sub("", text[: limit - 1]) + "…"


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters.

    Slack parses ``<!channel>``, ``<@U…>`` and ``<url|label>`` in every mrkdwn text and in a
    message's top-level ``text``: whatever comes from a contract, a metric sentence, a user or
    stored data goes through here once, where it enters either; the builder's own markup
    (``*bold*``, :func:`mention`) goes around it. Plain_text objects are shown as is and need none.
    """
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(user_id: str) -> str:
    """``<@U…>`` for a Slack user id; anything else (a CLI author's login) as escaped text."""
    user_id = str(user_id)
    return f"<@{user_id}>" if _USER_ID.fullmatch(user_id) else escape(user_id)


def header(text: str) -> dict:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, MAX_HEADER_TEXT), "emoji": True}}


def section(text: str, *, accessory: dict | None = None) -> dict:
    """A mrkdwn section. Text longer than Slack allows is left for split_message to divide."""
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if accessory is not None:
        block["text"]["text"] = clip(text, MAX_SECTION_TEXT)
        block["accessory"] = accessory
    return block


def fields(pairs: list[tuple[str, str]]) -> list[dict]:
    """Sections of at most ten ``*label*\\nvalue`` fields each; labels and values are plain text, escaped here."""
    items = [{"type": "mrkdwn", "text": clip(f"*{escape(label)}*\n{escape(value)}", MAX_FIELD_TEXT)} for label, value in pairs]
    return [{"type": "section", "fields": items[i : i + 10]} for i in range(0, len(items), 10)]


def context(*texts: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(t, MAX_SECTION_TEXT)} for t in texts[:10]]}


def divider() -> dict:
    return {"type": "divider"}


def button(text: str, action_id: str, value: str, *, style: str | None = None) -> dict:
    element: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": clip(text, MAX_BUTTON_TEXT), "emoji": True},
        "action_id": action_id,
        "value": clip(value, MAX_BUTTON_VALUE),
    }
    if style:
        element["style"] = style
    return element


def actions(elements: list[dict], *, block_id: str | None = None) -> list[dict]:
    """Actions blocks of at most 25 elements each (Slack's limit per block)."""
    blocks = []
    for start in range(0, len(elements), 25):
        block: dict[str, Any] = {"type": "actions", "elements": elements[start : start + 25]}
        if block_id:
            block["block_id"] = f"{block_id}-{start // 25}" if start else block_id
        blocks.append(block)
    return blocks


def code(text: str) -> str:
    return f"```\n{text}\n```"


def percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f}%"


def money(value: float | None, currency: str = "USD") -> str:
    """Format money the way a finance reader expects: ``$1,350`` or ``1,350 EUR``."""
    if value is None:
        return "—"
    symbols = {"USD": "$", "GBP": "£", "EUR": "€"}
    amount = f"{value:,.0f}"
    symbol = symbols.get(currency.upper())
    sign = "-" if value < 0 else ""
    if symbol:
        return f"{sign}{symbol}{amount.lstrip('-')}"
    return f"{amount} {currency}"


def number(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"

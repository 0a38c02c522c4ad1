"""Slack's Block Kit limits, enforced on every payload before it leaves the app.

Slack answers ``invalid_blocks`` (or silently truncates) past these limits, and slack-sdk only
checks its own block classes, not raw dicts or block counts. :func:`check_message` raises
:class:`BlockLimitError` naming every breach, so a builder bug fails loudly in tests instead of
as a blank reply in production. :func:`split_message` turns content that is merely *long* into
several messages rather than failing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_URL = 3000
MAX_ID = 255
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3000
MAX_MESSAGE_TEXT = 40_000
MAX_INPUT_LABEL = 2000


class BlockLimitError(ValueError):
    """A payload breaks one of Slack's Block Kit limits; the message lists every breach."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def _text_of(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text", ""))
    return "" if obj is None else str(obj)


def _check_len(problems: list[str], where: str, value: Any, limit: int) -> None:
    text = _text_of(value) if isinstance(value, dict) else ("" if value is None else str(value))
    if len(text) > limit:
        problems.append(f"{where} is {len(text)} characters (limit {limit})")


def _check_ids(problems: list[str], where: str, obj: dict) -> None:
    for key in ("action_id", "block_id", "callback_id"):
        if key in obj:
            _check_len(problems, f"{where}.{key}", obj[key], MAX_ID)


def _check_confirm(problems: list[str], where: str, confirm: dict | None) -> None:
    if not confirm:
        return
    _check_len(problems, f"{where}.confirm.title", confirm.get("title"), MAX_CONFIRM_TITLE)
    _check_len(problems, f"{where}.confirm.text", confirm.get("text"), MAX_CONFIRM_TEXT)


def _check_element(problems: list[str], where: str, element: dict) -> None:
    _check_ids(problems, where, element)
    kind = element.get("type")
    if kind == "button":
        _check_len(problems, f"{where}.text", element.get("text"), MAX_BUTTON_TEXT)
        _check_len(problems, f"{where}.value", element.get("value"), MAX_BUTTON_VALUE)
        _check_len(problems, f"{where}.url", element.get("url"), MAX_URL)
    for key in ("options", "initial_options"):
        for j, option in enumerate(element.get(key) or ()):
            _check_len(problems, f"{where}.{key}[{j}].text", option.get("text"), MAX_OPTION_TEXT)
            _check_len(problems, f"{where}.{key}[{j}].value", option.get("value"), MAX_OPTION_VALUE)
    _check_confirm(problems, where, element.get("confirm"))


def _check_block(problems: list[str], where: str, block: dict) -> None:
    _check_ids(problems, where, block)
    kind = block.get("type")
    if kind == "section":
        if "text" not in block and "fields" not in block:
            problems.append(f"{where}: a section needs text or fields")
        _check_len(problems, f"{where}.text", block.get("text"), MAX_SECTION_TEXT)
        fields = block.get("fields") or []
        if len(fields) > MAX_FIELDS:
            problems.append(f"{where}.fields has {len(fields)} fields (limit {MAX_FIELDS})")
        for j, field in enumerate(fields):
            _check_len(problems, f"{where}.fields[{j}]", field, MAX_FIELD_TEXT)
        if block.get("accessory"):
            _check_element(problems, f"{where}.accessory", block["accessory"])
    elif kind == "header":
        _check_len(problems, f"{where}.text", block.get("text"), MAX_HEADER_TEXT)
    elif kind == "actions":
        elements = block.get("elements") or []
        if len(elements) > MAX_ACTIONS_ELEMENTS:
            problems.append(f"{where}.elements has {len(elements)} elements (limit {MAX_ACTIONS_ELEMENTS})")
        action_ids = [e.get("action_id") for e in elements if e.get("action_id")]
        if len(action_ids) != len(set(action_ids)):
            problems.append(f"{where}: two elements share an action_id")
        for j, element in enumerate(elements):
            _check_element(problems, f"{where}.elements[{j}]", element)
    elif kind == "context":
        elements = block.get("elements") or []
        if len(elements) > MAX_CONTEXT_ELEMENTS:
            problems.append(f"{where}.elements has {len(elements)} elements (limit {MAX_CONTEXT_ELEMENTS})")
        for j, element in enumerate(elements):
            _check_len(problems, f"{where}.elements[{j}]", element, MAX_SECTION_TEXT)
    elif kind == "input":
        _check_len(problems, f"{where}.label", block.get("label"), MAX_INPUT_LABEL)
        if block.get("element"):
            _check_element(problems, f"{where}.element", block["element"])


def _check_blocks(problems: list[str], blocks: Sequence[dict], limit: int) -> None:
    if len(blocks) > limit:
        problems.append(f"{len(blocks)} blocks (limit {limit}); split the content across messages")
    block_ids = [b.get("block_id") for b in blocks if b.get("block_id")]
    if len(block_ids) != len(set(block_ids)):
        problems.append("two blocks share a block_id")
    for i, block in enumerate(blocks):
        _check_block(problems, f"blocks[{i}]<{block.get('type')}>", block)


def check_view(view: dict) -> dict:
    """Check a modal view; return it unchanged or raise :class:`BlockLimitError`."""
    problems: list[str] = []
    _check_ids(problems, "view", view)
    for key in ("title", "submit", "close"):
        _check_len(problems, f"view.{key}", view.get(key), MAX_VIEW_TITLE)
    _check_len(problems, "view.private_metadata", view.get("private_metadata"), MAX_PRIVATE_METADATA)
    _check_blocks(problems, view.get("blocks") or [], MAX_VIEW_BLOCKS)
    if problems:
        raise BlockLimitError(problems)
    return view


def check_message(payload: dict) -> dict:
    """Check a message payload (``text`` + ``blocks``) or a view; return it or raise.

    A message must carry a fallback ``text``: it is what notifications, screen readers and
    clients without Block Kit show.
    """
    if payload.get("type") in ("modal", "home"):
        return check_view(payload)
    problems: list[str] = []
    text = payload.get("text")
    if not text or not str(text).strip():
        problems.append("no fallback text: every message needs text alongside its blocks")
    else:
        _check_len(problems, "text", text, MAX_MESSAGE_TEXT)
    _check_blocks(problems, payload.get("blocks") or [], MAX_MESSAGE_BLOCKS)
    if problems:
        raise BlockLimitError(problems)
    return payload


def split_text(text: str, limit: int = MAX_SECTION_TEXT) -> list[str]:
    """Split text into pieces of at most ``limit`` characters, at line breaks where possible.

    A code block (```` ``` ````) cut in two is closed and reopened so that each piece renders.
    """
    fence = "```"
    in_code = text.startswith(fence)
    budget = limit - (2 * len(fence) + 2 if in_code else 0)
    if len(text) <= limit:
        return [text]
    body = text[len(fence):-len(fence)] if in_code and text.endswith(fence) and len(text) > 6 else text
    pieces: list[str] = []
    current = ""
    for line in body.splitlines(keepends=True):
        while len(line) > budget:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:budget])
            line = line[budget:]
        if len(current) + len(line) > budget:
            pieces.append(current)
            current = ""
        current += line
    if current:
        pieces.append(current)
    if in_code:
        return [f"{fence}\n{p.strip(chr(10))}\n{fence}" for p in pieces if p.strip()]
    return [p.rstrip("\n") for p in pieces if p.strip()]


def split_message(text: str, blocks: Iterable[dict], *, max_blocks: int = MAX_MESSAGE_BLOCKS) -> list[dict]:
    """Cut a long reply into payloads of at most ``max_blocks`` blocks, each checked.

    Oversized section text is first split into several sections. Later payloads get a
    "(continued)" fallback text; the caller posts them as thread replies or follow-ups.
    """
    expanded: list[dict] = []
    for block in blocks:
        text_obj = block.get("text") if block.get("type") == "section" else None
        if isinstance(text_obj, dict) and len(text_obj.get("text", "")) > MAX_SECTION_TEXT and not block.get("accessory"):
            for piece in split_text(text_obj["text"]):
                expanded.append({"type": "section", "text": {**text_obj, "text": piece}})
        else:
            expanded.append(block)
    if len(text) > MAX_MESSAGE_TEXT:
        text = text[: MAX_MESSAGE_TEXT - 1] + "…"
    chunks = [expanded[i : i + max_blocks] for i in range(0, len(expanded), max_blocks)] or [[]]
    payloads = []
    for number, chunk in enumerate(chunks):
        fallback = text if number == 0 else f"{text[:200]} (continued, part {number + 1} of {len(chunks)})"
        payload = {"text": fallback}
        if chunk:
            payload["blocks"] = chunk
        payloads.append(check_message(payload))
    return payloads

"""Short replies shared by every command: usage, help, errors, "which contract?"."""

from __future__ import annotations

from collections.abc import Sequence

from bot.blocks import ids
from bot.blocks.common import actions, button, context, escape, section

USAGE = {
    ids.COMMAND_EXPLAIN: (
        "`/explain <term> [in <contract>]` — what a metric means in your business terms, with current numbers.",
        ["/explain precision", "/explain false positive rate in fraud-screening", "/explain fraud_recall"],
    ),
    ids.COMMAND_TRADEOFF: (
        "`/tradeoff [<contract>] [<metric>] [threshold <x>]` — thresholds priced in money per week; "
        "`/tradeoff [<contract>] <metric> vs <metric>` — how two metrics rank and moved together.",
        ["/tradeoff", "/tradeoff fraud-screening threshold 0.6", "/tradeoff fraud_recall vs fraud_loss_per_1k"],
    ),
    ids.COMMAND_CONTRACT: (
        "`/contract list | show <name> | lint <name> | history <name> | diff <name> <a> <b> | sign <name> | new | edit <name>` · "
        "`/contract pause <name> [2d|12h|1w]` (signers; default 7 days) · `/contract resume <name>`",
        ["/contract list", "/contract show fraud-screening", "/contract diff fraud-screening 1 2", "/contract pause fraud-screening 2d"],
    ),
    ids.COMMAND_METRIC: (
        "`/metric <contract> <metric> [history|refresh]` — latest value, window, sample size, status and trend.",
        ["/metric fraud-screening fraud_recall", "/metric fraud-screening fraud_recall history"],
    ),
    ids.COMMAND_AUDIT: (
        "`/audit [<contract>]` — compose this week's audit now and post it to the contract's channel.",
        ["/audit fraud-screening", "/audit"],
    ),
}
SHARE_HINT = "Add `share` to post the answer to the channel instead of only to you."


def build_usage(command: str, *, problem: str | None = None) -> dict:
    """Ephemeral usage for a command, optionally saying what was not understood."""
    synopsis, examples = USAGE[command]
    blocks = []
    if problem:
        blocks.append(section(f":thinking_face: {escape(problem)}"))
    blocks.append(section(synopsis))
    blocks.append(context("Examples: " + " · ".join(f"`{e}`" for e in examples), SHARE_HINT))
    text = f"{escape(problem)} — usage: {synopsis}" if problem else f"Usage: {synopsis}"
    return {"text": text, "blocks": blocks}


def build_notice(text: str) -> dict:
    """A one-line reply (refusals, confirmations) in plain words, escaped here."""
    text = escape(text)
    return {"text": text, "blocks": [section(text)]}


def build_mrkdwn_notice(text: str) -> dict:
    """A one-line reply the app composed itself, so its mentions (``<@U…>``) render as mentions.

    Anything a user typed must be escaped before it goes in.
    """
    return {"text": text, "blocks": [section(text)]}


def build_error(reference: str) -> dict:
    text = f"Something went wrong (ref {reference}). It has been logged; please try again or quote the reference."
    return {"text": text, "blocks": [section(f":warning: {text}")]}


def build_reinstall() -> dict:
    text = (
        "Northstar doesn't know this workspace yet. Please reinstall the app (or ask an admin to), "
        "then add a contract with `/contract new`."
    )
    return {"text": text, "blocks": [section(text)]}


def build_choose_contract(names: Sequence[str], tokens: Sequence[str], *, prompt: str) -> dict:
    """Several contracts watch this channel: one button per contract.

    ``tokens`` are opaque keys of the pending request kept server-side; a button carries
    nothing the app trusts as data.
    """
    buttons = [
        button(name, ids.indexed(ids.ACTION_CHOOSE_CONTRACT_PREFIX, i), token) for i, (name, token) in enumerate(zip(names, tokens))
    ]
    text = f"{prompt} Several contracts use this channel: which one?"
    return {"text": escape(text), "blocks": [section(escape(text)), *actions(buttons)]}

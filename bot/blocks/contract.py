"""/contract: list, show, lint, history, diff, sign, and the YAML editor modal."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from metrics.contract import Contract
from metrics.lint import LintReport

from bot.blocks import ids
from bot.blocks.common import clip, code, context, divider, escape, fields, header, mention, section
from bot.blocks.limits import MAX_PRIVATE_METADATA, split_text

YAML_INPUT_MAX = 3000  # Slack caps a plain_text_input at 3000 characters
YAML_PART_SIZE = 2800  # below the cap, so a part can be edited without hitting it
MAX_YAML_PARTS = 20


@dataclass(frozen=True)
class ContractRow:
    name: str
    title: str
    channel: str
    version: int
    metrics: int


def build_contract_list(rows: Sequence[ContractRow]) -> dict:
    if not rows:
        text = "No contracts in this workspace yet. Start one with `/contract new`."
        return {"text": text, "blocks": [section(text)]}
    lines = [
        f"• *{escape(r.name)}* — {escape(r.title)} · {escape(r.channel)} · v{r.version} · {r.metrics} metrics" for r in rows
    ]
    blocks = [header(f"Contracts ({len(rows)})"), section("\n".join(lines))]
    return {"text": escape(f"{len(rows)} contracts: " + ", ".join(r.name for r in rows)), "blocks": blocks}


def _bound_text(contract: Contract, metric) -> str:
    if metric.bound is None:
        return "—"
    return metric.bound.describe(contract.baseline_value(metric))


def build_contract_show(contract: Contract, *, version: int, signed: Sequence[tuple[str, str]]) -> dict:
    b = contract.business
    blocks: list[dict] = [
        header(f"{contract.display_name} (v{version})"),
        section(f"*Decision:* {escape(contract.decision)}"),
        *fields(
            [
                ("Channel", contract.channel),
                ("Autonomy", contract.autonomy.value),
                ("A positive is", f"a {b.positive}"),
                ("Acting on it", f"{b.action} ({b.acted})"),
                ("Volume", f"{b.weekly_volume:,.0f} {b.units} a week"),
                ("Mistakes cost", f"FP {b.cost_false_positive:,.2f} {b.currency} ({b.false_positive_cost_means}); FN {b.cost_false_negative:,.2f} {b.currency} ({b.false_negative_cost_means})"),
            ]
        ),
        divider(),
    ]
    for metric in contract.metrics:
        blocks.append(
            section(
                f"*{escape(metric.title)}* `{metric.name}` — {metric.role.value.replace('_', ' ')}, {metric.layer.value} layer, "
                f"{metric.direction.value}s is better · bound {escape(_bound_text(contract, metric))}"
            )
        )
    signers = ", ".join(f"{role}: {mention(user)}" for role, user in contract.signers.items()) or "none named"
    signed_text = ", ".join(f"{role} {mention(user)}" for role, user in signed) or "nobody yet"
    blocks.append(context(f"Signers: {signers}", f"Signed this version: {signed_text}"))
    return {"text": escape(f"{contract.display_name} (v{version}): {contract.decision}"), "blocks": blocks}


def build_lint_report(name: str, report: LintReport) -> dict:
    if not report.findings:
        text = escape(f"{name}: no findings. The contract is ready to sign.")
        return {"text": text, "blocks": [section(f":white_check_mark: {text}")]}
    icons = {"error": ":x:", "warning": ":warning:", "info": ":information_source:"}
    blocks = [header(f"Lint: {name}")]
    for finding in report.findings:
        blocks.append(
            section(f"{icons.get(finding.severity.value, '')} *{escape(finding.subject)}* [{finding.rule}]\n{escape(finding.message)}")
        )
    summary = escape(f"{name}: {len(report.errors)} errors, {len(report.warnings)} warnings")
    blocks.append(context(summary))
    return {"text": summary, "blocks": blocks}


@dataclass(frozen=True)
class HistoryRow:
    version: int
    author: str
    created: str
    signed: str  # mrkdwn: the signers' mentions


def build_contract_history(name: str, rows: Sequence[HistoryRow]) -> dict:
    if not rows:
        text = escape(f"{name} has no versions.")
        return {"text": text, "blocks": [section(text)]}
    lines = [f"• *v{r.version}* — {escape(r.created)} by {mention(r.author)} · signed: {r.signed}" for r in reversed(rows)]
    return {
        "text": escape(f"{name}: {len(rows)} versions"),
        "blocks": [header(f"History: {name}"), section("\n".join(lines))],
    }


def build_contract_diff(name: str, a: int, b: int, diff_lines: Sequence[str]) -> dict:
    if not diff_lines:
        text = escape(f"{name}: v{a} and v{b} have the same content.")
        return {"text": text, "blocks": [section(text)]}
    # A code block is mrkdwn like the rest: Slack's escaping applies inside it (&lt; shows as <).
    body = escape("\n".join(diff_lines).replace("```", "'''"))
    return {
        "text": escape(f"{name}: changes from v{a} to v{b}"),
        "blocks": [header(f"{name}: v{a} → v{b}"), section(code(body))],
    }


def build_contract_editor(*, name: str | None, yaml_text: str, metadata: dict) -> dict:
    """The modal with one multiline YAML input; errors come back inline on submit."""
    title = "Edit contract" if name else "New contract"
    private = json.dumps(metadata)
    if len(private) > MAX_PRIVATE_METADATA:
        raise ValueError("editor metadata too long")
    parts = split_text(yaml_text, YAML_PART_SIZE) if yaml_text.strip() else []
    if len(parts) > MAX_YAML_PARTS - 1:
        raise ValueError(f"contract YAML is longer than the editor holds ({MAX_YAML_PARTS - 1} × {YAML_PART_SIZE} characters)")
    parts.append("")  # room to grow
    inputs = []
    for index, part in enumerate(parts):
        element = {
            "type": "plain_text_input",
            "action_id": ids.ACTION_CONTRACT_YAML,
            "multiline": True,
            "max_length": YAML_INPUT_MAX,
        }
        if part:
            element["initial_value"] = part
        if index == 0:
            element["placeholder"] = {"type": "plain_text", "text": "name: my-feature"}
        inputs.append(
            {
                "type": "input",
                "block_id": ids.BLOCK_CONTRACT_YAML if index == 0 else f"{ids.BLOCK_CONTRACT_YAML}:{index}",
                "optional": index > 0,
                "label": {"type": "plain_text", "text": "Contract YAML" if index == 0 else f"Contract YAML, continued ({index + 1})"},
                "element": element,
            }
        )
    return {
        "type": "modal",
        "callback_id": ids.VIEW_CONTRACT_EDITOR,
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": private,
        "blocks": [
            section(
                "Paste or edit the contract YAML. It is validated and linted when you save; nothing is stored until it is valid. "
                "Long contracts continue in the next boxes, read top to bottom."
            ),
            *inputs,
        ],
    }


def yaml_from_state(values: dict) -> str:
    """Join the numbered YAML inputs of a submitted editor back into one document."""
    parts = []
    for block_id, actions in values.items():
        match = ids.BLOCK_CONTRACT_YAML_PART.match(block_id)
        if match:
            index = int(match.group(2) or 0)
            parts.append((index, (actions.get(ids.ACTION_CONTRACT_YAML) or {}).get("value") or ""))
    return "\n".join(text.rstrip("\n") for _, text in sorted(parts) if text.strip())


def build_editor_errors(messages: Sequence[str]) -> dict:
    """``response_action: errors`` for the YAML input (Slack shows it under the field)."""
    text = "\n".join(messages)
    return {"response_action": "errors", "errors": {ids.BLOCK_CONTRACT_YAML: clip(text, 2000)}}

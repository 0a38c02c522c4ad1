"""/contract list | show | lint | history | diff | sign | pause | resume | new | edit."""

from __future__ import annotations

import difflib
import json
import logging
import re
from datetime import timedelta

from slack_bolt import Ack, App
from slack_sdk import WebClient

from metrics.contract import SIGNER_ROLES, SLUG, Contract
from metrics.lint import lint_contract
from storage.warehouse.guard import check_read_only_sql

from bot.blocks import ids
from bot.blocks.common import escape, mention
from bot.blocks.contract import (
    ContractRow,
    HistoryRow,
    build_contract_diff,
    build_contract_editor,
    build_contract_history,
    build_contract_list,
    build_contract_show,
    build_lint_report,
)
from bot.blocks.limits import check_message
from bot.blocks.messages import build_mrkdwn_notice, build_notice, build_usage
from bot.listeners.common import Invocation, UserFacingError, authorized_team, reply, reply_reinstall, workspace_known
from bot.listeners.deps import Deps

logger = logging.getLogger(__name__)

NEW_CONTRACT_TEMPLATE = """\
name: my-feature
title: My AI feature
channel: "#my-channel"
decision: What changes for the user when the model improves.
autonomy: assistant
signers: {pm: U00000000, eng: U00000000, ds: U00000000}
business:
  positive: relevant item
  negative: irrelevant item
  action: show
  unit: item
  weekly_volume: 10000
  cost_false_positive: 1
  cost_false_negative: 5
metrics:
  - name: task_success
    layer: product
    role: north_star
    direction: increase
    sql: SELECT AVG(success) AS value, COUNT(*) AS n FROM tasks WHERE ts >= :window_start AND ts < :window_end
"""


def sql_checker(sql: str):
    return check_read_only_sql(sql).problems


def _need_name(invocation: Invocation, verb: str) -> str:
    if len(invocation.words) < 2:
        raise UserFacingError(f"`/contract {verb}` needs a contract name.")
    return invocation.words[1].lstrip("#")


def _contract(deps: Deps, team_id: str, name: str) -> Contract:
    contract = deps.store.contract(team_id, name)
    if contract is None:
        raise UserFacingError(f"No contract called “{name}” in this workspace. Try `/contract list`.")
    return contract


def do_list(deps: Deps, invocation: Invocation) -> dict:
    rows = []
    for contract in deps.store.contracts(invocation.team_id):
        latest = deps.store.version(invocation.team_id, contract.name)
        rows.append(
            ContractRow(
                name=contract.name,
                title=contract.display_name,
                channel=contract.channel,
                version=latest.version if latest else 0,
                metrics=len(contract.metrics),
            )
        )
    return build_contract_list(rows)


def do_show(deps: Deps, invocation: Invocation) -> dict:
    name = _need_name(invocation, "show")
    version = deps.store.version(invocation.team_id, name)
    if version is None:
        raise UserFacingError(f"No contract called “{name}” in this workspace. Try `/contract list`.")
    signed = [(s.role, s.user_id) for s in deps.store.signatures(invocation.team_id, name, version.version)]
    return build_contract_show(version.contract, version=version.version, signed=signed)


def do_lint(deps: Deps, invocation: Invocation) -> dict:
    name = _need_name(invocation, "lint")
    contract = _contract(deps, invocation.team_id, name)
    return build_lint_report(name, lint_contract(contract, sql_checker=sql_checker))


def do_history(deps: Deps, invocation: Invocation) -> dict:
    name = _need_name(invocation, "history")
    versions = deps.store.versions(invocation.team_id, name)
    if not versions:
        raise UserFacingError(f"No contract called “{name}” in this workspace. Try `/contract list`.")
    rows = []
    for v in versions:
        signatures = deps.store.signatures(invocation.team_id, name, v.version)
        signed = ", ".join(f"{s.role} {mention(s.user_id)}" for s in signatures) or "nobody"
        rows.append(HistoryRow(version=v.version, author=v.author, created=f"{v.created_at:%Y-%m-%d %H:%M}", signed=signed))
    return build_contract_history(name, rows)


def _version_number(word: str) -> int:
    try:
        return int(word.lower().lstrip("v"))
    except ValueError:
        raise UserFacingError(f"“{word}” is not a version number (e.g. 1 or v2).") from None


def do_diff(deps: Deps, invocation: Invocation) -> dict:
    if len(invocation.words) < 4:
        raise UserFacingError("`/contract diff` needs a contract name and two versions, e.g. `/contract diff fraud-screening 1 2`.")
    name = invocation.words[1].lstrip("#")
    a, b = _version_number(invocation.words[2]), _version_number(invocation.words[3])
    old = deps.store.version(invocation.team_id, name, a)
    new = deps.store.version(invocation.team_id, name, b)
    if old is None or new is None:
        missing = a if old is None else b
        raise UserFacingError(f"“{name}” has no version {missing} in this workspace. Try `/contract history {name}`.")
    lines = list(
        difflib.unified_diff(old.source_yaml.splitlines(), new.source_yaml.splitlines(), f"v{a}", f"v{b}", lineterm="", n=2)
    )
    return build_contract_diff(name, a, b, lines)


def do_sign(deps: Deps, invocation: Invocation) -> dict:
    name = _need_name(invocation, "sign")
    latest = deps.store.version(invocation.team_id, name)
    if latest is None:
        raise UserFacingError(f"No contract called “{name}” in this workspace. Try `/contract list`.")
    # Identity is the payload's user id checked against the stored contract's signers.
    roles = [role for role in SIGNER_ROLES if latest.contract.signers.get(role) == invocation.user_id]
    if not roles:
        who = ", ".join(f"{role} {mention(user)}" for role, user in latest.contract.signers.items()) or "nobody (the contract names no signers)"
        return build_mrkdwn_notice(f"Only the contract's listed signers can sign {escape(latest.contract.name)}: {who}.")
    recorded = [
        role for role in roles if deps.store.sign(invocation.team_id, name, version=latest.version, role=role, user_id=invocation.user_id)
    ]
    if not recorded:
        return build_notice(f"You have already signed {name} v{latest.version} as {', '.join(roles)}.")
    signed = {s.role for s in deps.store.signatures(invocation.team_id, name, latest.version)}
    waiting = [role for role in latest.contract.signers if role not in signed]
    rest = f" Still waiting for: {', '.join(waiting)}." if waiting else " Every listed signer has signed this version."
    return build_notice(f"Signed {name} v{latest.version} as {', '.join(recorded)}.{rest}")


DEFAULT_PAUSE = timedelta(days=7)
MAX_PAUSE = timedelta(weeks=26)
_DURATION = re.compile(r"^(\d{1,4})([hdw])$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_duration(word: str) -> timedelta:
    """``12h``, ``2d``, ``1w``: how long a pause lasts."""
    match = _DURATION.match(word.lower())
    if match is None or int(match.group(1)) == 0:
        raise UserFacingError(f"“{word}” is not a duration: try `12h`, `2d` or `1w`.")
    duration = int(match.group(1)) * _UNITS[match.group(2)]
    if duration > MAX_PAUSE:
        raise UserFacingError("A pause lasts at most 26 weeks; archive the contract if it is done.")
    return duration


def _signer_or_refusal(contract: Contract, user_id: str, verb: str) -> dict | None:
    # Identity is the payload's user id checked against the stored contract's signers.
    if user_id in contract.signers.values():
        return None
    who = ", ".join(f"{role} {mention(user)}" for role, user in contract.signers.items()) or "nobody (the contract names no signers)"
    return build_mrkdwn_notice(f"Only the contract's listed signers can {verb} {escape(contract.name)}: {who}.")


def do_pause(deps: Deps, invocation: Invocation) -> dict:
    name = _need_name(invocation, "pause")
    extra = invocation.words[2:]
    if len(extra) > 1:
        raise UserFacingError(f"I didn't understand “{' '.join(extra)}”.")
    if extra and extra[0].lower() == "resume":
        return do_resume(deps, invocation)
    duration = parse_duration(extra[0]) if extra else DEFAULT_PAUSE
    contract = _contract(deps, invocation.team_id, name)
    refusal = _signer_or_refusal(contract, invocation.user_id, "pause")
    if refusal is not None:
        return refusal
    until = deps.clock() + duration
    deps.store.set_paused(invocation.team_id, contract.name, until)
    return build_notice(
        f"Paused {contract.name} until {until:%Y-%m-%d %H:%M} UTC: breaches are still tracked, but no alerts or reminders "
        f"go to {contract.channel} until then. `/contract resume {contract.name}` ends it early."
    )


def do_resume(deps: Deps, invocation: Invocation) -> dict:
    name = _need_name(invocation, "resume")
    contract = _contract(deps, invocation.team_id, name)
    refusal = _signer_or_refusal(contract, invocation.user_id, "resume")
    if refusal is not None:
        return refusal
    deps.store.set_paused(invocation.team_id, contract.name, None)
    return build_notice(f"Resumed {contract.name}: alerts go to {contract.channel} again from the next pull.")


def open_editor(deps: Deps, client: WebClient, invocation: Invocation, trigger_id: str) -> None:
    """Open the modal at once (the trigger expires in 3 s), then fill it in for an edit."""
    name = invocation.words[1].lstrip("#") if invocation.words[0].lower() == "edit" and len(invocation.words) > 1 else None
    if invocation.words[0].lower() == "edit" and name is None:
        raise UserFacingError("`/contract edit` needs a contract name.")
    if name is not None and not re.fullmatch(SLUG, name):
        # No contract can have it, and it would travel in the modal's metadata as typed.
        raise UserFacingError(f"“{name[:80]}” is not a contract name: lowercase letters, digits, - and _, starting with a letter.")
    metadata = {"name": name, "channel": invocation.channel_id}
    initial = NEW_CONTRACT_TEMPLATE if name is None else "# loading…"
    opened = client.views_open(trigger_id=trigger_id, view=check_message(build_contract_editor(name=name, yaml_text=initial, metadata=metadata)))
    if name is None:
        return
    latest = deps.store.version(invocation.team_id, name)
    view = opened["view"]
    if latest is None:
        text = f"# No contract called {name} in this workspace yet: paste its YAML here to create it.\n"
    else:
        text = latest.source_yaml
    client.views_update(
        view_id=view["id"],
        hash=view.get("hash"),
        view=check_message(build_contract_editor(name=name, yaml_text=text, metadata=metadata)),
    )


SUBCOMMANDS = {
    "list": do_list,
    "show": do_show,
    "lint": do_lint,
    "history": do_history,
    "diff": do_diff,
    "sign": do_sign,
    "pause": do_pause,
    "resume": do_resume,
}


def handle_contract(ack: Ack, body: dict, client: WebClient, context, deps: Deps) -> None:
    ack()
    invocation = Invocation.from_command(body)
    verb = invocation.words[0].lower() if invocation.words else "help"
    if verb == "help":
        reply(client, invocation, build_usage(ids.COMMAND_CONTRACT), share=False)
        return
    if verb not in SUBCOMMANDS and verb not in ("new", "edit"):
        reply(client, invocation, build_usage(ids.COMMAND_CONTRACT, problem=f"I don't know `/contract {verb}`."), share=False)
        return
    if verb not in ("new",) and not workspace_known(deps, invocation.team_id, authorized_team(context)):
        reply_reinstall(client, invocation)
        return
    try:
        if verb in ("new", "edit"):
            open_editor(deps, client, invocation, body["trigger_id"])
            return
        payload = SUBCOMMANDS[verb](deps, invocation)
    except UserFacingError as exc:
        reply(client, invocation, build_usage(ids.COMMAND_CONTRACT, problem=str(exc)), share=False)
        return
    # Signing and pausing answer only the person who asked; everything else may be shared.
    reply(client, invocation, payload, share=invocation.share and verb not in ("sign", "pause", "resume"))


def register(app: App, deps: Deps) -> None:
    app.command(ids.COMMAND_CONTRACT)(lambda ack, body, client, context: handle_contract(ack, body, client, context, deps))


def editor_metadata(view: dict) -> dict:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}

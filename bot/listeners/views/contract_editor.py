"""Saving the contract editor: invalid YAML or lint errors stay in the modal, nothing stored."""

from __future__ import annotations

import logging

from slack_bolt import Ack, App
from slack_sdk import WebClient

from metrics.contract import parse_contract
from metrics.errors import ContractError
from metrics.lint import lint_contract

from bot.blocks import ids
from bot.blocks.contract import build_editor_errors, yaml_from_state
from bot.blocks.limits import check_message
from bot.blocks.messages import build_notice
from bot.listeners.commands.contract import editor_metadata, sql_checker
from bot.listeners.deps import Deps

logger = logging.getLogger(__name__)


def validate(yaml_text: str, *, editing: str | None) -> tuple[object | None, list[str]]:
    """The parsed contract and no problems, or None and every problem the author must fix."""
    try:
        contract = parse_contract(yaml_text, source="contract")
    except ContractError as exc:
        return None, str(exc).splitlines()
    problems = [str(f) for f in lint_contract(contract, sql_checker=sql_checker).errors]
    if editing and contract.name != editing:
        problems.append(f"name is {contract.name!r} but you are editing {editing!r}: renaming is not supported here")
    return (contract, []) if not problems else (None, problems)


def handle_contract_editor_submission(ack: Ack, body: dict, view: dict, client: WebClient, deps: Deps) -> None:
    yaml_text = yaml_from_state(view["state"]["values"])
    metadata = editor_metadata(view)
    # The workspace and the author come from the payload, never from private_metadata.
    team_id = (body.get("team") or {}).get("id") or view.get("team_id")
    user_id = body["user"]["id"]
    contract, problems = validate(yaml_text, editing=metadata.get("name"))
    if contract is None:
        ack(**build_editor_errors(problems))
        return
    saved = deps.store.save_contract(team_id, contract, source_yaml=yaml_text, author=user_id)
    ack()
    if saved.created:
        text = f"Saved {contract.name} v{saved.version}. Signers: run `/contract sign {contract.name}`."
    else:
        text = f"{contract.name} is unchanged (still v{saved.version}); nothing new was stored."
    # A DM to the author: the channel the modal came from is only a hint and may be gone.
    client.chat_postMessage(channel=user_id, **check_message(build_notice(text)))


def register(app: App, deps: Deps) -> None:
    app.view(ids.VIEW_CONTRACT_EDITOR)(
        lambda ack, body, view, client: handle_contract_editor_submission(ack, body, view, client, deps)
    )

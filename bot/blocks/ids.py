"""Every action_id, callback_id and block_id the app sends or listens for, defined once.

A listener and the builder that renders its button import the same name, so the two can never
drift apart. Ids that carry a suffix (one button per suggestion) use a prefix and a regex.
"""

from __future__ import annotations

import re

# --- slash commands -------------------------------------------------------------------------
COMMAND_EXPLAIN = "/explain"
COMMAND_TRADEOFF = "/tradeoff"
COMMAND_CONTRACT = "/contract"
COMMAND_METRIC = "/metric"
COMMAND_AUDIT = "/audit"

# --- buttons --------------------------------------------------------------------------------
# "Which contract did you mean?" — one button per contract; the value is an opaque token.
ACTION_CHOOSE_CONTRACT_PREFIX = "choose_contract"
ACTION_CHOOSE_CONTRACT = re.compile(rf"^{ACTION_CHOOSE_CONTRACT_PREFIX}(:\d+)?$")
# "Did you mean …?" under an unknown /explain term.
ACTION_EXPLAIN_SUGGESTION_PREFIX = "explain_suggestion"
ACTION_EXPLAIN_SUGGESTION = re.compile(rf"^{ACTION_EXPLAIN_SUGGESTION_PREFIX}(:\d+)?$")

# Guardrail alerts: the value is the alert state's id, looked up again in the clicker's workspace.
ACTION_ALERT_ACKNOWLEDGE = "alert_acknowledge"
ACTION_ALERT_SNOOZE = "alert_snooze"
# The weekly audit's review question: the value is the contract's name, looked up the same way.
ACTION_REVIEW_STILL_RIGHT = "review_still_right"
ACTION_REVIEW_REVISIT = "review_revisit"
BLOCK_REVIEW = "audit_review"

# --- modals ---------------------------------------------------------------------------------
VIEW_CONTRACT_EDITOR = "contract_editor"
# A plain_text_input holds at most 3000 characters, so long YAML spans several numbered inputs.
BLOCK_CONTRACT_YAML = "contract_yaml"
BLOCK_CONTRACT_YAML_PART = re.compile(rf"^{BLOCK_CONTRACT_YAML}(:(\d+))?$")
ACTION_CONTRACT_YAML = "contract_yaml_input"


def indexed(prefix: str, index: int) -> str:
    """An action_id unique within its message: Slack rejects two equal action_ids in one block."""
    return f"{prefix}:{index}"

"""manifest.yml validates against Slack's published schema and matches what the code handles."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from bot.blocks import ids
from bot.blocks.launch import COMMAND_LAUNCH
from bot.oauth import BOT_SCOPES

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / ".." / "shared" / "slack" / "manifest.schema.1.0.0.json"


@pytest.fixture
def manifest() -> dict:
    return YAML(typ="safe").load(io.StringIO((ROOT / "manifest.yml").read_text()))


def test_manifest_validates_against_slacks_schema(manifest):
    if not SCHEMA.exists():
        pytest.skip(f"Slack's manifest schema is not at {SCHEMA}")
    jsonschema.validate(manifest, json.loads(SCHEMA.read_text()))


def test_every_command_has_a_description_and_usage_hint(manifest):
    commands = {c["command"]: c for c in manifest["features"]["slash_commands"]}
    assert set(commands) == {ids.COMMAND_EXPLAIN, ids.COMMAND_TRADEOFF, ids.COMMAND_CONTRACT, ids.COMMAND_METRIC, COMMAND_LAUNCH, ids.COMMAND_AUDIT}
    for command in commands.values():
        assert command["description"] and command["usage_hint"]


def test_scopes_are_least_privilege_and_match_the_oauth_install(manifest):
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert scopes == BOT_SCOPES
    assert not {"channels:read", "users:read", "chat:write.public"} & set(scopes)
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["features"]["bot_user"]["display_name"]
    assert len(manifest["display_information"]["name"]) <= 35

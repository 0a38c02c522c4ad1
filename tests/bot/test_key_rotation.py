"""Several keys in NORTHSTAR_ENCRYPTION_KEY: the first encrypts, every one decrypts.

The installation tables are read with plain SQL to see what is really stored.
"""

from __future__ import annotations

import time
import traceback

import pytest
from cryptography.fernet import Fernet, InvalidToken
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import Engine, text

from bot.oauth import make_fernet, make_installation_store, parse_encryption_keys
from bot.settings import ConfigError, Settings

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()

FULL_TEAM = "T0FULLINS"
BOT_ONLY_TEAM = "T0BOTONLY"
TOKENS = {
    "bot_token": "xoxb-1-2-rotationBotCanary",
    "bot_refresh_token": "xoxe-1-rotationBotRefreshCanary",
    "user_token": "xoxp-1-2-rotationUserCanary",
    "user_refresh_token": "xoxe-1-rotationUserRefreshCanary",
}
BOT_ONLY_TOKEN = "xoxb-3-4-rotationBotOnlyCanary"
TOKEN_COLUMNS = {
    "slack_installations": ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token"),
    "slack_bots": ("bot_token", "bot_refresh_token"),
}


def settings_with(key: str) -> Settings:
    return Settings(slack_client_id="111.222", slack_client_secret="client-secret-value", encryption_key=key)


def install(engine: Engine, key: str, team_id: str, **tokens: str) -> None:
    make_installation_store(settings_with(key), engine).save(Installation(
        app_id="A0NORTHSTAR", team_id=team_id, bot_id="B0" + team_id, bot_user_id="U0BOT", bot_scopes=["commands"],
        user_id="U0INSTALLER", installed_at=time.time(), **tokens,
    ))


def read_back(engine: Engine, key: str) -> dict[str, dict[str, str | None]]:
    store = make_installation_store(settings_with(key), engine)
    read = {}
    for team in (FULL_TEAM, BOT_ONLY_TEAM):
        installation = store.find_installation(enterprise_id=None, team_id=team)
        bot = store.find_bot(enterprise_id=None, team_id=team)
        read[team] = {
            **{name: getattr(installation, name) for name in TOKEN_COLUMNS["slack_installations"]},
            **{f"bots.{name}": getattr(bot, name) for name in TOKEN_COLUMNS["slack_bots"]},
        }
    return read


EXPECTED_READ = {
    FULL_TEAM: {**TOKENS, "bots.bot_token": TOKENS["bot_token"], "bots.bot_refresh_token": TOKENS["bot_refresh_token"]},
    BOT_ONLY_TEAM: {"bot_token": BOT_ONLY_TOKEN, "bot_refresh_token": None, "user_token": None, "user_refresh_token": None,
                    "bots.bot_token": BOT_ONLY_TOKEN, "bots.bot_refresh_token": None},
}


def assert_no_secret_in(output: str, *secrets: str) -> None:
    # Any 12 consecutive characters of a key or token would be a leak, not only the whole value.
    for secret in secrets:
        for start in range(len(secret) - 11):
            assert secret[start:start + 12] not in output, f"part of a secret in: {output}"


# --- several keys --------------------------------------------------------------------------------


def test_every_listed_key_decrypts_and_only_the_first_encrypts(engine):
    install(engine, OLD_KEY, BOT_ONLY_TEAM, bot_token=BOT_ONLY_TOKEN)
    both = f" {NEW_KEY} ,\t{OLD_KEY}  "  # whitespace around keys is ignored
    install(engine, both, FULL_TEAM, **TOKENS)

    assert read_back(engine, both) == EXPECTED_READ
    with engine.connect() as connection:
        written_after = connection.execute(
            text("SELECT bot_token FROM slack_bots WHERE team_id = :team"), {"team": FULL_TEAM}
        ).scalar_one()
    assert Fernet(NEW_KEY.encode()).decrypt(written_after.encode()).decode() == TOKENS["bot_token"]
    with pytest.raises(InvalidToken):
        Fernet(OLD_KEY.encode()).decrypt(written_after.encode())


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (f"{NEW_KEY},{OLD_KEY[:-4]}", "the 2nd of the 2 comma-separated keys in NORTHSTAR_ENCRYPTION_KEY is not a Fernet key"),
        (f"not-a-key,{NEW_KEY},{OLD_KEY}", "the 1st of the 3 comma-separated keys in NORTHSTAR_ENCRYPTION_KEY is not a Fernet key"),
        (f"{NEW_KEY},{OLD_KEY},", "the 3rd of the 3 comma-separated keys in NORTHSTAR_ENCRYPTION_KEY is empty"),
        (f"{NEW_KEY},  ,{OLD_KEY}", "the 2nd of the 3 comma-separated keys in NORTHSTAR_ENCRYPTION_KEY is empty"),
        (f",{NEW_KEY}", "the 1st of the 2 comma-separated keys in NORTHSTAR_ENCRYPTION_KEY is empty"),
        (OLD_KEY[:-4], "NORTHSTAR_ENCRYPTION_KEY is not a Fernet key"),
        (" , ", "NORTHSTAR_ENCRYPTION_KEY is empty"),
    ],
)
def test_a_bad_key_is_named_by_its_position_without_showing_any_key(value, message):
    with pytest.raises(ConfigError) as failed:
        make_fernet(settings_with(value))
    assert message in str(failed.value)
    assert_no_secret_in("".join(traceback.format_exception(failed.value)), NEW_KEY, OLD_KEY)


@pytest.mark.parametrize(("position", "ordinal"), [(4, "4th"), (11, "11th"), (12, "12th"), (13, "13th"), (21, "21st"), (22, "22nd"), (23, "23rd")])
def test_positions_read_as_ordinals(position, ordinal):
    keys = [Fernet.generate_key().decode() for _ in range(23)]
    keys[position - 1] = "x" * 44
    with pytest.raises(ConfigError, match=f"the {ordinal} of the 23 "):
        parse_encryption_keys(",".join(keys))

"""Several keys in NORTHSTAR_ENCRYPTION_KEY, and `northstar tokens rotate` moving every stored token
to the first one, so that an old key can be dropped without losing a workspace's tokens.

The installation tables are read with plain SQL to see what is really stored.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet, InvalidToken
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from bot import cli as cli_module
from bot.cli import app
from bot.oauth import make_fernet, make_installation_store, parse_encryption_keys, rotate_stored_tokens
from bot.settings import ConfigError, Settings

runner = CliRunner()

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
STRANGER_KEY = Fernet.generate_key().decode()  # a key no setting lists

FULL_TEAM = "T0FULLINS"
BOT_ONLY_TEAM = "T0BOTONLY"
STRANGER_TEAM = "T0STRANGE"
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
# slack_installations: 4 + 1 (bot only, NULL elsewhere); slack_bots: 2 + 1.
TOKENS_STORED = 8


def settings_with(key: str) -> Settings:
    return Settings(slack_client_id="111.222", slack_client_secret="client-secret-value", encryption_key=key)


def install(engine: Engine, key: str, team_id: str, **tokens: str) -> None:
    make_installation_store(settings_with(key), engine).save(Installation(
        app_id="A0NORTHSTAR", team_id=team_id, bot_id="B0" + team_id, bot_user_id="U0BOT", bot_scopes=["commands"],
        user_id="U0INSTALLER", installed_at=time.time(), **tokens,
    ))


def install_both_teams(engine: Engine, key: str) -> None:
    install(engine, key, FULL_TEAM, **TOKENS)
    install(engine, key, BOT_ONLY_TEAM, bot_token=BOT_ONLY_TOKEN)


def stored_tokens(engine: Engine) -> dict[tuple[str, int, str], str | None]:
    """Every token column of every row, as stored: {(table, row id, column): value}."""
    found = {}
    with engine.connect() as connection:
        for table, columns in TOKEN_COLUMNS.items():
            for row in connection.execute(text(f"SELECT id, {', '.join(columns)} FROM {table}")).mappings():
                for column in columns:
                    found[(table, row["id"], column)] = row[column]
    return found


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


EVERY_SECRET = (OLD_KEY, NEW_KEY, STRANGER_KEY, *TOKENS.values(), BOT_ONLY_TOKEN)


@pytest.fixture
def cli_database(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """``engine``'s database as the CLI's DATABASE_URL (on PostgreSQL, the test's own schema)."""
    url = engine.url
    if url.get_backend_name() == "postgresql":
        with engine.connect() as connection:
            schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        url = url.update_query_dict({"options": f"-c search_path={schema}"})
    monkeypatch.setenv("DATABASE_URL", url.render_as_string(hide_password=False))
    # The command leaves its engine to the end of the process; here that is the end of the test,
    # and a pooled connection closed only by the garbage collector fails the test.
    opened: list[Engine] = []
    build_engine = cli_module._engine

    def tracked_engine(*args, **kwargs) -> Engine:
        opened.append(build_engine(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(cli_module, "_engine", tracked_engine)
    yield engine
    for built in opened:
        built.dispose()


def rotate_cli(monkeypatch: pytest.MonkeyPatch, keys: str):
    monkeypatch.setenv("NORTHSTAR_ENCRYPTION_KEY", keys)
    return runner.invoke(app, ["tokens", "rotate"])


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


# --- northstar tokens rotate ---------------------------------------------------------------------


def test_rotate_moves_every_token_to_the_first_key_so_the_old_one_can_be_dropped(cli_database, monkeypatch):
    engine = cli_database
    install_both_teams(engine, OLD_KEY)
    before = stored_tokens(engine)

    result = rotate_cli(monkeypatch, f"{NEW_KEY}, {OLD_KEY}")

    assert result.exit_code == 0, result.output
    assert f"Re-encrypted {TOKENS_STORED} token(s)" in result.output and "0 already used it" in result.output
    assert "can be removed" in result.output
    assert_no_secret_in(result.output, *EVERY_SECRET)
    after = stored_tokens(engine)
    assert after.keys() == before.keys()
    new, old = Fernet(NEW_KEY.encode()), Fernet(OLD_KEY.encode())
    for where, value in after.items():
        if before[where] is None:
            assert value is None, where
            continue
        assert value != before[where], where
        assert new.decrypt(value.encode()) == old.decrypt(before[where].encode()), where
        with pytest.raises(InvalidToken):
            old.decrypt(value.encode())
    assert read_back(engine, NEW_KEY) == EXPECTED_READ


def test_rotate_again_changes_nothing(cli_database, monkeypatch):
    engine = cli_database
    install_both_teams(engine, OLD_KEY)
    assert rotate_cli(monkeypatch, f"{NEW_KEY},{OLD_KEY}").exit_code == 0
    rotated = stored_tokens(engine)

    again = rotate_cli(monkeypatch, f"{NEW_KEY},{OLD_KEY}")

    assert again.exit_code == 0, again.output
    assert "Re-encrypted 0 token(s)" in again.output and f"{TOKENS_STORED} already used it" in again.output
    assert stored_tokens(engine) == rotated
    # With the old key gone too: every token already under the only key, and it still checks them all.
    alone = rotate_cli(monkeypatch, NEW_KEY)
    assert alone.exit_code == 0 and f"{TOKENS_STORED} already used it" in alone.output
    assert stored_tokens(engine) == rotated


def test_a_token_under_an_unknown_key_makes_rotate_change_nothing_and_names_its_team(cli_database, monkeypatch):
    engine = cli_database
    install_both_teams(engine, OLD_KEY)
    install(engine, STRANGER_KEY, STRANGER_TEAM, bot_token="xoxb-5-6-rotationStrangerCanary")
    before = stored_tokens(engine)

    result = rotate_cli(monkeypatch, f"{NEW_KEY},{OLD_KEY}")

    assert result.exit_code == 1
    output = " ".join(result.output.split())  # the console wraps long lines
    assert "nothing re-encrypted: 2 stored token(s) decrypt with none of the keys in NORTHSTAR_ENCRYPTION_KEY" in output
    assert f"(team {STRANGER_TEAM}): bot_token" in output
    assert "slack_installations row" in output and "slack_bots row" in output
    assert FULL_TEAM not in output and BOT_ONLY_TEAM not in output
    assert_no_secret_in(result.output, *EVERY_SECRET, "xoxb-5-6-rotationStrangerCanary")
    assert stored_tokens(engine) == before  # the readable teams' tokens were not rotated either
    assert read_back(engine, OLD_KEY) == EXPECTED_READ


def test_rotate_refuses_a_bad_key_naming_its_position_only(cli_database, monkeypatch):
    install_both_teams(cli_database, OLD_KEY)
    before = stored_tokens(cli_database)
    bad = OLD_KEY[:-4]

    result = rotate_cli(monkeypatch, f"{NEW_KEY},{bad}")

    assert result.exit_code == 1
    assert "the 2nd of the 2 comma-separated keys in NORTHSTAR_ENCRYPTION_KEY is not a Fernet key" in " ".join(result.output.split())
    assert_no_secret_in(result.output, *EVERY_SECRET)
    assert stored_tokens(cli_database) == before


def test_rotate_without_a_key_says_which_variable_to_set(cli_database, monkeypatch):
    result = runner.invoke(app, ["tokens", "rotate"])
    assert result.exit_code == 1
    assert "NORTHSTAR_ENCRYPTION_KEY" in result.output


def test_rotate_on_a_database_without_installations(cli_database, monkeypatch):
    # slack-sdk creates its tables only when the OAuth app first starts.
    result = rotate_cli(monkeypatch, NEW_KEY)
    assert result.exit_code == 0, result.output
    assert "No stored tokens" in result.output


def test_rotate_covers_every_installation_of_a_team_not_only_the_latest(engine):
    install(engine, OLD_KEY, FULL_TEAM, bot_token="xoxb-1-2-firstInstall")
    time.sleep(0.01)  # slack-sdk keeps one row per install, told apart by installed_at
    install(engine, OLD_KEY, FULL_TEAM, bot_token="xoxb-1-2-secondInstall")

    rotation = rotate_stored_tokens(engine, parse_encryption_keys(f"{NEW_KEY},{OLD_KEY}"))

    assert (rotation.reencrypted, rotation.already_current) == (4, 0)
    new = Fernet(NEW_KEY.encode())
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT bot_token FROM slack_installations ORDER BY id")).scalars().all()
    assert [new.decrypt(value.encode()).decode() for value in stored] == ["xoxb-1-2-firstInstall", "xoxb-1-2-secondInstall"]

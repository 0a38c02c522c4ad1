"""Multi-workspace install: Bolt's OAuth flow on Northstar's database, tokens encrypted at rest.

slack-sdk's SQLAlchemy installation store keeps tokens in plain text. :class:`EncryptedInstallationStore`
wraps it: tokens are Fernet-encrypted (``NORTHSTAR_ENCRYPTION_KEY``) before they are written and
decrypted when read, so a database dump holds no usable token.

The variable may hold several keys, comma-separated: the first encrypts, every one decrypts. To
retire a key, put a new one first, restart, run ``northstar tokens rotate``
(:func:`rotate_stored_tokens`) so that every stored token is under the new key, then drop the old
one from the variable.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Optional

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import Engine, inspect

from bot.settings import ConfigError, Settings
from bot.slack_client import require
from metrics.errors import NorthstarError

logger = logging.getLogger(__name__)

# channels:history and groups:history let the outbox worker find a message it may already have
# posted (by the key in its metadata) after a crash, instead of posting it twice.
BOT_SCOPES = ["commands", "chat:write", "files:write", "im:write", "channels:history", "groups:history"]
STATE_EXPIRATION_SECONDS = 600
INSTALLATION_TOKEN_FIELDS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")
BOT_TOKEN_FIELDS = ("bot_token", "bot_refresh_token")
ENCRYPTION_KEY_VARIABLE = "NORTHSTAR_ENCRYPTION_KEY"


class TokenDecryptionError(RuntimeError):
    """A stored token decrypts with none of the configured keys (a wrong key, or an old one dropped too soon)."""


class EncryptedInstallationStore(InstallationStore):
    """Encrypts tokens on the way into ``inner`` and decrypts them on the way out."""

    def __init__(self, inner: InstallationStore, fernet: MultiFernet):
        self.inner = inner
        self._fernet = fernet

    @property
    def logger(self) -> logging.Logger:
        return self.inner.logger

    def _seal(self, obj, fields):
        sealed = copy.copy(obj)
        for name in fields:
            value = getattr(sealed, name, None)
            if value:
                setattr(sealed, name, self._fernet.encrypt(value.encode()).decode())
        return sealed

    def _open(self, obj, fields):
        if obj is None:
            return None
        opened = copy.copy(obj)
        for name in fields:
            value = getattr(opened, name, None)
            if value:
                try:
                    setattr(opened, name, self._fernet.decrypt(value.encode()).decode())
                except InvalidToken:
                    raise TokenDecryptionError(
                        f"stored {name} for team {getattr(obj, 'team_id', '?')} does not decrypt: check NORTHSTAR_ENCRYPTION_KEY"
                    ) from None
        return opened

    def save(self, installation: Installation):
        self.inner.save(self._seal(installation, INSTALLATION_TOKEN_FIELDS))

    def save_bot(self, bot: Bot):
        self.inner.save_bot(self._seal(bot, BOT_TOKEN_FIELDS))

    def find_bot(self, *, enterprise_id: Optional[str], team_id: Optional[str], is_enterprise_install: Optional[bool] = False) -> Optional[Bot]:
        found = self.inner.find_bot(enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install)
        return self._open(found, BOT_TOKEN_FIELDS)

    def find_installation(
        self,
        *,
        enterprise_id: Optional[str],
        team_id: Optional[str],
        user_id: Optional[str] = None,
        is_enterprise_install: Optional[bool] = False,
    ) -> Optional[Installation]:
        found = self.inner.find_installation(
            enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, is_enterprise_install=is_enterprise_install
        )
        return self._open(found, INSTALLATION_TOKEN_FIELDS)

    def delete_bot(self, *, enterprise_id: Optional[str], team_id: Optional[str]) -> None:
        self.inner.delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    def delete_installation(self, *, enterprise_id: Optional[str], team_id: Optional[str], user_id: Optional[str] = None) -> None:
        self.inner.delete_installation(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id)

    def delete_all(self, *, enterprise_id: Optional[str], team_id: Optional[str]):
        self.inner.delete_all(enterprise_id=enterprise_id, team_id=team_id)


def _ordinal(position: int) -> str:
    if 10 <= position % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(position % 10, "th")
    return f"{position}{suffix}"


def parse_encryption_keys(value: str) -> list[Fernet]:
    """The Fernet keys of a comma-separated ``NORTHSTAR_ENCRYPTION_KEY``, the encrypting one first.

    Errors name a key by its position only: the value is a secret, and so is any part of it.
    """
    entries = [entry.strip() for entry in value.split(",")]
    if not any(entries):
        raise ConfigError(f"{ENCRYPTION_KEY_VARIABLE} is empty: set it to a Fernet key, or several separated by commas")
    keys = []
    for position, entry in enumerate(entries, start=1):
        where = (
            ENCRYPTION_KEY_VARIABLE if len(entries) == 1
            else f"the {_ordinal(position)} of the {len(entries)} comma-separated keys in {ENCRYPTION_KEY_VARIABLE}"
        )
        if not entry:
            raise ConfigError(f"{where} is empty: remove the stray comma (keys are separated by single commas, with none at either end)")
        try:
            keys.append(Fernet(entry.encode()))
        except ValueError:
            # Not chained: the cause adds nothing, and a traceback printer showing locals would show the key.
            raise ConfigError(f"{where} is not a Fernet key (32 url-safe base64-encoded bytes)") from None
    return keys


def make_fernet(settings: Settings) -> MultiFernet:
    """Encrypts with the first key of ``NORTHSTAR_ENCRYPTION_KEY``, decrypts with any of them."""
    if settings.encryption_key is None:
        raise ConfigError(f"multi-workspace install needs {ENCRYPTION_KEY_VARIABLE} (a Fernet key) to encrypt bot tokens")
    return MultiFernet(parse_encryption_keys(settings.encryption_key.get_secret_value()))


@dataclass(frozen=True)
class UnreadableTokenRow:
    """A row of slack-sdk's installation tables holding tokens that none of the keys decrypts."""

    table: str
    row_id: int
    team_id: str | None
    enterprise_id: str | None
    columns: tuple[str, ...]

    def describe(self) -> str:
        owner = f"team {self.team_id or '(none)'}" + (f", enterprise {self.enterprise_id}" if self.enterprise_id else "")
        return f"{self.table} row {self.row_id} ({owner}): {', '.join(self.columns)}"


class UnreadableTokensError(NorthstarError):
    """Some stored tokens decrypt with none of the configured keys, so the rotation changed nothing."""

    def __init__(self, rows: list[UnreadableTokenRow]):
        self.rows = rows
        tokens = sum(len(row.columns) for row in rows)
        super().__init__(
            f"nothing re-encrypted: {tokens} stored token(s) decrypt with none of the keys in {ENCRYPTION_KEY_VARIABLE}: "
            + "; ".join(row.describe() for row in rows)
            + f". Add the key they were written with to {ENCRYPTION_KEY_VARIABLE} (after the first) and run again, "
            "or have those workspaces reinstall the app."
        )


@dataclass(frozen=True)
class TokenRotation:
    """What :func:`rotate_stored_tokens` did."""

    reencrypted: int
    already_current: int


def rotate_stored_tokens(engine: Engine, keys: list[Fernet]) -> TokenRotation:
    """Re-encrypt every stored token with ``keys[0]``, in one transaction; nothing if any is unreadable.

    Tokens already under the first key are left as they are, so running it again changes nothing.
    Every row of both tables is covered, whatever its client id or age: any of them may be read.
    """
    primary, every_key = keys[0], MultiFernet(keys)
    tables = SQLAlchemyInstallationStore(client_id="", engine=engine)
    fields_of = {tables.installations: INSTALLATION_TOKEN_FIELDS, tables.bots: BOT_TOKEN_FIELDS}
    updates = []
    unreadable: list[UnreadableTokenRow] = []
    reencrypted = already_current = 0
    with engine.begin() as connection:
        present = set(inspect(connection).get_table_names())
        for table, fields in fields_of.items():
            if table.name not in present:
                continue  # OAuth never used on this database: slack-sdk creates its tables on first use.
            columns = [table.c.id, table.c.team_id, table.c.enterprise_id, *(table.c[name] for name in fields)]
            # Locked until commit: a token refreshed meanwhile by a running replica would otherwise be
            # overwritten by its stale predecessor. (SQLite's BEGIN IMMEDIATE already holds the write lock.)
            rows = connection.execute(table.select().with_only_columns(*columns).order_by(table.c.id).with_for_update())
            for row in rows.mappings():
                changes, failed = {}, []
                for name in fields:
                    stored = row[name]
                    if not stored:
                        continue
                    try:
                        primary.decrypt(stored.encode())
                        already_current += 1
                        continue
                    except InvalidToken:
                        pass
                    try:
                        changes[name] = every_key.rotate(stored.encode()).decode()
                    except InvalidToken:
                        failed.append(name)
                if failed:
                    unreadable.append(UnreadableTokenRow(table.name, row["id"], row["team_id"], row["enterprise_id"], tuple(failed)))
                elif changes:
                    updates.append((table, row["id"], changes))
                    reencrypted += len(changes)
        if unreadable:
            # Raised inside the transaction, which rolls back (nothing has been written yet anyway).
            raise UnreadableTokensError(unreadable)
        for table, row_id, changes in updates:
            connection.execute(table.update().where(table.c.id == row_id).values(**changes))
    return TokenRotation(reencrypted=reencrypted, already_current=already_current)


def make_installation_store(settings: Settings, engine: Engine) -> EncryptedInstallationStore:
    inner = SQLAlchemyInstallationStore(client_id=settings.slack_client_id or "", engine=engine)
    # Idempotent (CREATE … IF NOT EXISTS); these are slack-sdk's own tables beside Northstar's.
    inner.create_tables()
    return EncryptedInstallationStore(inner, make_fernet(settings))


def make_oauth_settings(settings: Settings, engine: Engine) -> OAuthSettings:
    require(settings, "slack_client_id", "slack_client_secret", "encryption_key")
    state_store = SQLAlchemyOAuthStateStore(expiration_seconds=STATE_EXPIRATION_SECONDS, engine=engine)
    state_store.metadata.create_all(engine)
    return OAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        scopes=BOT_SCOPES,
        installation_store=make_installation_store(settings, engine),
        installation_store_bot_only=True,
        state_store=state_store,
    )

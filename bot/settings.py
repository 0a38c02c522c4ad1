"""All configuration, read from environment variables in one place.

Nothing here runs at import time: call :func:`load_settings` (or build ``Settings(...)``) where
the process starts and pass the result down. Secrets are ``SecretStr`` so they never print.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from metrics.errors import NorthstarError

DEFAULT_DATABASE_URL = "sqlite:///./.northstar/northstar.db"
_WAREHOUSE_VAR = re.compile(r"^NORTHSTAR_WAREHOUSE_([A-Za-z0-9_]+)_URL$")
_WAREHOUSE_TEAMS_VAR = re.compile(r"^NORTHSTAR_WAREHOUSE_([A-Za-z0-9_]+)_TEAMS$")
_PLACEHOLDERS = {"changeme", "change-me", "xoxb-your-token", "xapp-your-token", "your-signing-secret", "secret", "todo"}


class ConfigError(NorthstarError):
    """The configuration is missing something the chosen mode needs, or holds a placeholder."""


def warehouse_urls_from_env(environ: Mapping[str, str]) -> dict[str, SecretStr]:
    """Collect ``NORTHSTAR_WAREHOUSE_<NAME>_URL`` variables as ``{name: url}`` (names lower-cased)."""
    found: dict[str, SecretStr] = {}
    for key, value in environ.items():
        match = _WAREHOUSE_VAR.match(key)
        if match and value:
            found[match.group(1).lower()] = SecretStr(value)
    return found


def warehouse_teams_from_env(environ: Mapping[str, str]) -> dict[str, frozenset[str]]:
    """Collect ``NORTHSTAR_WAREHOUSE_<NAME>_TEAMS`` (comma-separated workspace ids) as ``{name: ids}``."""
    found: dict[str, frozenset[str]] = {}
    for key, value in environ.items():
        match = _WAREHOUSE_TEAMS_VAR.match(key)
        if match:
            found[match.group(1).lower()] = frozenset(t.strip() for t in value.split(",") if t.strip())
    return found


class Settings(BaseSettings):
    """Northstar's settings. Every field names the environment variable it reads."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    database_url: str = Field(default=DEFAULT_DATABASE_URL, validation_alias=AliasChoices("DATABASE_URL", "database_url"))
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "slack_bot_token"))
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "slack_signing_secret")
    )
    slack_app_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "slack_app_token"))
    slack_api_url: str | None = Field(default=None, validation_alias=AliasChoices("SLACK_API_URL", "slack_api_url"))
    slack_client_id: str | None = Field(default=None, validation_alias=AliasChoices("SLACK_CLIENT_ID", "slack_client_id"))
    slack_client_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_CLIENT_SECRET", "slack_client_secret")
    )
    encryption_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("NORTHSTAR_ENCRYPTION_KEY", "encryption_key")
    )
    default_workspace: str = Field(
        default="T00000000", validation_alias=AliasChoices("NORTHSTAR_DEFAULT_WORKSPACE", "default_workspace")
    )
    warehouses: dict[str, SecretStr] = Field(default_factory=lambda: warehouse_urls_from_env(os.environ))
    warehouse_teams: dict[str, frozenset[str]] = Field(default_factory=lambda: warehouse_teams_from_env(os.environ))
    statement_timeout_s: float = Field(
        default=30.0, gt=0, validation_alias=AliasChoices("NORTHSTAR_STATEMENT_TIMEOUT_S", "statement_timeout_s")
    )
    row_cap: int = Field(default=100_000, gt=0, validation_alias=AliasChoices("NORTHSTAR_ROW_CAP", "row_cap"))
    # Threads per process running listeners. Commands and clicks are acknowledged before their
    # listener runs, so these only compute answers, and most of their time goes to waiting on
    # Slack's Web API (100 ms a call is common): enough of them must be able to wait at once.
    listener_threads: int = Field(
        default=32, ge=1, le=512, validation_alias=AliasChoices("NORTHSTAR_LISTENER_THREADS", "listener_threads")
    )
    # Of those, how many may compute at once (the others wait on Slack, or for a slot). Each one
    # computing contends for the GIL with the event loop that acknowledges Slack's requests.
    listener_compute_slots: int = Field(
        default=4, ge=1, le=512, validation_alias=AliasChoices("NORTHSTAR_LISTENER_COMPUTE_SLOTS", "listener_compute_slots")
    )
    # Worker processes of `run --http`: the GIL keeps one process on one core, whatever its threads.
    http_workers: int = Field(default=1, ge=1, le=64, validation_alias=AliasChoices("NORTHSTAR_HTTP_WORKERS", "http_workers"))
    log_level: str = Field(default="INFO", validation_alias=AliasChoices("NORTHSTAR_LOG_LEVEL", "log_level"))

    @field_validator("slack_bot_token", "slack_signing_secret", "slack_app_token", "slack_client_secret", "encryption_key")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None, info) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip().lower() in _PLACEHOLDERS:
            raise ValueError(f"{info.field_name} holds a placeholder value; set the real secret")
        return value

    @property
    def sqlite_path(self) -> Path | None:
        """The file behind a SQLite URL, so its folder can be created."""
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix) and ":memory:" not in self.database_url:
            return Path(self.database_url[len(prefix):])
        return None

    def warehouse_url(self, name: str) -> str | None:
        secret = self.warehouses.get(name.lower())
        return secret.get_secret_value() if secret is not None else None

    @property
    def serves_many_workspaces(self) -> bool:
        """Installed through OAuth, so any workspace may install the app and write contracts."""
        return bool(self.slack_client_id and self.slack_client_secret)

    def warehouse_refusal(self, name: str, team_id: str) -> str | None:
        """Why workspace ``team_id`` may not query warehouse ``name``, or None when it may.

        A contract names its warehouse, and anyone in a workspace can write a contract. When the
        app serves many workspaces, a warehouse is open only to those its ``_TEAMS`` variable lists.
        """
        variable = f"NORTHSTAR_WAREHOUSE_{name.upper()}_TEAMS"
        teams = self.warehouse_teams.get(name.lower())
        if teams is not None:
            return None if team_id in teams else f"not open to workspace {team_id}; {variable} lists the workspaces that may use it"
        if self.serves_many_workspaces:
            return f"not open to any workspace yet; set {variable} to the workspace ids that may use it"
        return None

    def require(self, *fields: str) -> None:
        """Fail fast, naming every missing variable a mode needs."""
        missing = []
        for name in fields:
            if getattr(self, name) in (None, ""):
                alias = type(self).model_fields[name].validation_alias
                env = alias.choices[0] if isinstance(alias, AliasChoices) else name.upper()
                missing.append(str(env))
        if missing:
            raise ConfigError(f"missing configuration: set {', '.join(missing)}")


def load_settings(**overrides) -> Settings:
    """Read settings from the environment (``overrides`` win), translating errors to ConfigError."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid configuration: {details}") from None

"""The Web API client every Slack call goes through, with retries Slack's limits call for."""

from __future__ import annotations

import logging
import re

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.settings import ConfigError, Settings

DEFAULT_API_URL = "https://slack.com/api/"

# slack-sdk logs every request's parameters and every answer's body at DEBUG, on this logger:
# oauth.v2.access answers with the new workspace's tokens, a token refresh sends one.
SDK_WEB_LOGGER = "slack_sdk.web.base_client"
# xoxb- bot, xoxp- user, xoxe- / xoxe.xoxp- refresh, xapp- app-level, and Slack's other xox?- kinds.
_SLACK_TOKEN = re.compile(r"\b(xox[a-z]|xapp)[.-][A-Za-z0-9.-]+")


class RedactSlackTokens(logging.Filter):
    """Replace Slack tokens in a record's message with ``xoxb-***`` (the kind stays readable)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the handler's to report, not this filter's
            return True
        redacted = _SLACK_TOKEN.sub(r"\1-***", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def redact_tokens_in_sdk_logs() -> None:
    """Keep tokens out of slack-sdk's DEBUG records, whatever the logging configuration. Idempotent."""
    sdk = logging.getLogger(SDK_WEB_LOGGER)
    if not any(isinstance(f, RedactSlackTokens) for f in sdk.filters):
        sdk.addFilter(RedactSlackTokens())


def retry_handlers(*, max_retry_count: int = 2) -> list:
    """429s wait for Retry-After; 5xx and dropped connections back off and retry."""
    return [
        ConnectionErrorRetryHandler(max_retry_count=max_retry_count),
        RateLimitErrorRetryHandler(max_retry_count=max_retry_count),
        ServerErrorRetryHandler(max_retry_count=max_retry_count),
    ]


def api_base_url(settings: Settings) -> str:
    url = settings.slack_api_url or DEFAULT_API_URL
    # slack-sdk joins base_url and the method name by plain concatenation.
    return url if url.endswith("/") else url + "/"


def make_client(settings: Settings, *, token: str | None = None, timeout: int = 30) -> WebClient:
    """A WebClient for ``settings`` (``SLACK_API_URL`` points it at a stand-in for tests and the demo)."""
    if token is None and settings.slack_bot_token is not None:
        token = settings.slack_bot_token.get_secret_value()
    return WebClient(token=token, base_url=api_base_url(settings), timeout=timeout, retry_handlers=retry_handlers())


def require(settings: Settings, *fields: str) -> None:
    """Fail fast naming the environment variable of every missing setting a mode needs."""
    missing = []
    for name in fields:
        if getattr(settings, name) in (None, ""):
            alias = type(settings).model_fields[name].validation_alias
            choices = getattr(alias, "choices", None)
            missing.append(str(choices[0]) if choices else name.upper())
    if missing:
        raise ConfigError(f"missing configuration: set {', '.join(missing)}")

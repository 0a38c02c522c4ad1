"""Build the Bolt app: settings and I/O in, a wired App out. Nothing runs at import time."""

from __future__ import annotations

import logging
import secrets
import string
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime

from slack_bolt import App
from slack_bolt.error import BoltError
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine

from bot.blocks.limits import check_message
from bot.blocks.messages import build_error, build_notice
from bot.listeners import register_listeners
from bot.listeners.deps import Deps, PullRequester, utc_now
from bot.listeners.store import Store
from bot.oauth import make_oauth_settings
from bot.settings import ConfigError, Settings
from bot.slack_client import PooledClientMiddleware, make_client, redact_tokens_in_sdk_logs, require
from storage.db import database_unreachable

logger = logging.getLogger(__name__)

DATABASE_UNREACHABLE = "Northstar can't reach its database right now, so it could not do that. Please try again in a few minutes."
# What Bolt answers when it finds no token for the workspace. Under OAuth the tokens are in the
# database and Bolt reads a failed lookup as "not installed", so a restart looks the same as an
# uninstalled workspace: the message must not send people to reinstall when waiting is the fix.
AUTHORIZE_FAILED = (
    "Northstar can't find its installation for this workspace. If it was working here, its database may be "
    "restarting: please try again in a few minutes. Otherwise, reinstall the app (or ask an admin to)."
)

# Bolt logs the whole body of a request whose signature fails, at INFO, on this logger.
REQUEST_VERIFICATION_LOGGER = "slack_bolt.RequestVerification"
BOLT_APP_LOGGER = "slack_bolt.App"
_REF_ALPHABET = string.ascii_uppercase + string.digits


class DropSignatureFailureBodies(logging.Filter):
    """Drop Bolt's "Invalid request signature" records: they carry the request body."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Invalid request signature" not in str(record.msg)


def quiet_signature_failures() -> None:
    """Keep failed-signature bodies (which may hold user text) out of the logs at any level."""
    verification = logging.getLogger(REQUEST_VERIFICATION_LOGGER)
    verification.setLevel(logging.WARNING)
    if not any(isinstance(f, DropSignatureFailureBodies) for f in verification.filters):
        verification.addFilter(DropSignatureFailureBodies())


class DropClientOverTokenWarning(logging.Filter):
    """Drop Bolt's "`token` will be unused" warning: Bolt reads SLACK_BOT_TOKEN from the
    environment itself, and the client it is given already carries that same token, so the
    warning appeared on every start without anything being wrong."""

    def filter(self, record: logging.LogRecord) -> bool:
        return str(record.msg) != warning_client_prioritized_and_token_skipped()


def error_reference() -> str:
    return "".join(secrets.choice(_REF_ALPHABET) for _ in range(6))


def uses_oauth(settings: Settings) -> bool:
    return bool(settings.slack_client_id and settings.slack_client_secret)


def _where(body: dict) -> tuple[str | None, str | None]:
    """The channel and user an error reply should go to, for any payload type."""
    def nested(key: str) -> str | None:
        # The body may be what made the listener fail: a field of an unexpected type must not
        # make this handler fail too.
        value = body.get(key)
        found = value.get("id") if isinstance(value, dict) else None
        return found if isinstance(found, str) else None

    channel = body.get("channel_id") or nested("channel")
    user = body.get("user_id") or nested("user")
    return (channel if isinstance(channel, str) else None), (user if isinstance(user, str) else None)


def handle_errors(error: Exception, body: dict, client: WebClient | None) -> None:
    """Unexpected errors: a reference the user can quote, the traceback only in the log.

    An unreachable database (a restart, a failover) is no bug: one log line, and the user is told
    to try again shortly instead of being handed a reference to quote.
    """
    reference = error_reference()
    unreachable = database_unreachable(error)
    if unreachable:
        cause = str(getattr(error, "orig", None) or error).strip().splitlines()
        logger.error("the database is unreachable (ref %s): %s", reference, cause[0] if cause else type(error).__name__)
    else:
        logger.exception("unhandled error (ref %s)", reference, exc_info=error)
    channel, user = _where(body or {})
    if not user or client is None:
        return
    payload = check_message(build_notice(DATABASE_UNREACHABLE) if unreachable else build_error(reference))
    try:
        if channel:
            client.chat_postEphemeral(channel=channel, user=user, **payload)
        else:
            client.chat_postMessage(channel=user, **payload)
    except (SlackApiError, OSError):
        # OSError: Slack unreachable (slack-sdk raises urllib's URLError once its retries are spent).
        # The error was logged above; this handler must not fail in turn.
        logger.exception("could not tell the user about error ref %s", reference)


def _refused_token_error(exc: BoltError) -> ConfigError | None:
    """A ConfigError when Slack itself refused the bot token at start; None for anything that may pass.

    Bolt checks the token with auth.test when the app is built and raises a BoltError from the
    SlackApiError. Slack answering ``ok: false`` (invalid_auth, token_revoked, …) will answer the
    same on every restart, so it is a configuration error that stops the start (and the
    supervisor of ``--workers``) with a clear message; a 429 or 5xx may pass.
    """
    cause = exc.__context__
    if not isinstance(cause, SlackApiError) or cause.response is None or cause.response.status_code != 200:
        return None
    error = cause.response.get("error") or "refused"
    return ConfigError(
        f"Slack refused SLACK_BOT_TOKEN at start ({error}): set it to the Bot User OAuth Token (xoxb-…) "
        "shown under OAuth & Permissions for this app, in a workspace where the app is installed"
    )


def build_app(
    settings: Settings,
    *,
    engine: Engine,
    client: WebClient | None = None,
    clock: Callable[[], datetime] | None = None,
    pull_requester: PullRequester | None = None,
    socket_mode: bool = False,
    listener_executor: Executor | None = None,
) -> App:
    """The Northstar Bolt app.

    Single workspace when ``SLACK_BOT_TOKEN`` is set and no OAuth client is configured;
    multi-workspace OAuth (installations on ``engine``, tokens encrypted) when
    ``SLACK_CLIENT_ID`` / ``SLACK_CLIENT_SECRET`` are set. ``client`` replaces the Web API client
    (tests point it at a stand-in); ``pull_requester`` queues ``/metric … refresh`` pulls.
    """
    oauth = uses_oauth(settings)
    if not socket_mode:
        require(settings, "slack_signing_secret")
    if not oauth:
        require(settings, "slack_bot_token")
    if client is None:
        client = make_client(settings)
    signing_secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    options: dict = {
        "signing_secret": signing_secret,
        "client": client,
        # Ack at once and run the listener on Bolt's thread pool: modal submissions must be
        # acknowledged as soon as their listener calls ack(), not once it has also told Slack.
        "process_before_response": False,
        "request_verification_enabled": signing_secret is not None,
        "raise_error_for_unhandled_request": False,
        "user_facing_authorize_error_message": AUTHORIZE_FAILED,
    }
    if listener_executor is not None:
        # The caller owns the pool, so it can wait for every listener to finish (the demo does).
        options["listener_executor"] = listener_executor
    if oauth:
        options["oauth_settings"] = make_oauth_settings(settings, engine)
    elif client.token is None:
        # Bolt takes the token from the client it is given.
        client.token = settings.slack_bot_token.get_secret_value()
    bolt_logger = logging.getLogger(BOLT_APP_LOGGER)
    if not any(isinstance(f, DropClientOverTokenWarning) for f in bolt_logger.filters):
        bolt_logger.addFilter(DropClientOverTokenWarning())
    try:
        app = App(**options)
    except BoltError as exc:
        refused = _refused_token_error(exc)
        if refused is None:
            raise
        raise refused from None
    # Bolt hands listeners a new urllib WebClient per request: one connection (and TLS session) per call.
    app.use(PooledClientMiddleware())
    quiet_signature_failures()
    redact_tokens_in_sdk_logs()
    deps = Deps(
        store=Store(engine),
        default_workspace=settings.default_workspace,
        clock=clock or utc_now,
        pull_requester=pull_requester,
        oauth=oauth,
    )
    app.error(handle_errors)
    register_listeners(app, deps)
    return app

"""Errors raised by the bot's own database layer.

Driver errors that a caller can act on are translated here, once; a repository function returns
``None`` for "not there" and the caller turns that into a user-facing message::

    NorthstarError
    └── StorageError                        the bot's database could not do what was asked
        ├── UnsupportedDatabaseError        DATABASE_URL names a database we do not run on
        ├── DatabaseUnavailableError        the database could not be reached
        ├── SchemaOutOfDateError            the schema is not at the revision this code needs
        ├── RecordNotFoundError (LookupError)  a row the call depends on is not in this workspace
        ├── InvalidValueError (ValueError)  a value outside a column's vocabulary
        ├── ImmutableRecordError            an attempt to change a row kept for the record
        └── IdempotencyKeyConflictError     an outbox key already used by another workspace
"""

from __future__ import annotations

from metrics.errors import NorthstarError


class StorageError(NorthstarError):
    """The bot's database could not do what was asked."""


class UnsupportedDatabaseError(StorageError):
    """The database URL names a database Northstar does not run on (SQLite and PostgreSQL)."""


class DatabaseUnavailableError(StorageError):
    """The database could not be reached."""


class SchemaOutOfDateError(StorageError):
    """The database schema is not at the revision this code needs."""


class RecordNotFoundError(StorageError, LookupError):
    """A row the call depends on does not exist in this workspace."""


class InvalidValueError(StorageError, ValueError):
    """A value outside a column's vocabulary (a role, a state, a kind)."""


class ImmutableRecordError(StorageError):
    """A row kept for the record (a contract version) was about to be changed."""


class IdempotencyKeyConflictError(StorageError):
    """An outbox idempotency key is already used by a message of another workspace."""

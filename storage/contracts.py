"""Contracts, their immutable versions, signatures and review answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from metrics.contract import Contract as ContractSpec
from metrics.contract import contract_fingerprint
from storage.db import Reader, insert_unless_duplicate, utcnow
from storage.errors import RecordNotFoundError
from storage.models import (
    Contract,
    ContractSignature,
    ContractVersion,
    ReviewAnswer,
    ReviewVerdict,
    SignerRole,
    check_member,
)


@dataclass(frozen=True)
class SyncResult:
    """What :func:`sync_contract` found or wrote; ``created`` is True when a version was added."""

    contract_row: Contract
    version_row: ContractVersion
    created: bool


def sync_contract(
    *,
    session: Session,
    team_id: str,
    contract: ContractSpec,
    source_yaml: str,
    author: str,
    source_path: str | None = None,
    enterprise_id: str | None = None,
    now: datetime | None = None,
) -> SyncResult:
    """Record ``contract`` as the latest version of its name, unless its content is unchanged.

    Content is compared by :func:`metrics.contract.contract_fingerprint`, so comments and
    formatting do not make versions; an unchanged re-sync writes nothing at all.
    """
    now = now or utcnow()
    fingerprint = contract_fingerprint(contract)
    row = _lock_contract(session=session, team_id=team_id, name=contract.name)
    if row is None:
        candidate = Contract(team_id=team_id, enterprise_id=enterprise_id, name=contract.name, created_at=now)
        # Two first syncs of one name can race; the loser reads the winner's row.
        insert_unless_duplicate(session, candidate)
        row = _lock_contract(session=session, team_id=team_id, name=contract.name)
        assert row is not None
    latest = _version(session=session, contract_id=row.id, version=row.latest_version) if row.latest_version else None
    if latest is not None and latest.content_hash == fingerprint:
        return SyncResult(contract_row=row, version_row=latest, created=False)
    version = ContractVersion(
        contract_id=row.id,
        team_id=team_id,
        version=row.latest_version + 1,
        source_yaml=source_yaml,
        parsed=contract.model_dump(mode="json"),
        content_hash=fingerprint,
        author=author,
        source_path=source_path,
        created_at=now,
    )
    session.add(version)
    row.latest_version = version.version
    session.add(row)
    session.flush()
    return SyncResult(contract_row=row, version_row=version, created=True)


def _lock_contract(*, session: Session, team_id: str, name: str) -> Contract | None:
    # FOR UPDATE serialises concurrent syncs of one contract on PostgreSQL (SQLite already runs
    # one writer at a time), so two of them cannot both add version N+1.
    statement = select(Contract).where(Contract.team_id == team_id, Contract.name == name).with_for_update()
    return session.exec(statement).first()


def _version(*, session: Session, contract_id: int | None, version: int) -> ContractVersion | None:
    statement = select(ContractVersion).where(ContractVersion.contract_id == contract_id, ContractVersion.version == version)
    return session.exec(statement).first()


def get_contract(*, session: Session, team_id: str, name: str) -> Contract | None:
    """The workspace's contract of that name, archived or not."""
    return session.exec(select(Contract).where(Contract.team_id == team_id, Contract.name == name)).first()


def get_contract_by_id(*, session: Session, team_id: str, contract_id: int) -> Contract | None:
    """The contract with that id, if it belongs to the workspace."""
    return session.exec(select(Contract).where(Contract.team_id == team_id, Contract.id == contract_id)).first()


def list_contracts(*, session: Session, team_id: str, include_archived: bool = False) -> Sequence[Contract]:
    """The workspace's contracts by name."""
    statement = select(Contract).where(Contract.team_id == team_id)
    if not include_archived:
        statement = statement.where(col(Contract.archived_at).is_(None))
    return session.exec(statement.order_by(Contract.name)).all()


def get_version(*, session: Reader, team_id: str, name: str, version: int | None = None) -> sa.Row | None:
    """One version of a contract by name: the latest when ``version`` is None.

    A read-only row with :class:`ContractVersion`'s columns: versions are never changed.
    """
    if version is None:
        return session.execute(_LATEST_VERSION_ROW, {"team_id": team_id, "name": name}).first()
    return session.execute(_NUMBERED_VERSION_ROW, {"team_id": team_id, "name": name, "version": version}).first()


def get_version_by_id(*, session: Session, team_id: str, version_id: int) -> ContractVersion | None:
    """The version with that id, if it belongs to the workspace."""
    statement = select(ContractVersion).where(ContractVersion.team_id == team_id, ContractVersion.id == version_id)
    return session.exec(statement).first()


def list_versions(*, session: Session, team_id: str, name: str) -> Sequence[ContractVersion]:
    """Every version of a contract, oldest first."""
    statement = (
        select(ContractVersion)
        .join(Contract, col(ContractVersion.contract_id) == col(Contract.id))
        .where(Contract.team_id == team_id, Contract.name == name, ContractVersion.team_id == team_id)
        .order_by(col(ContractVersion.version))
    )
    return session.exec(statement).all()


#: Parsed contracts by (team, version id, content hash). A stored version never changes, so it is
#: validated once per process instead of on every command that reads it (every command reads
#: each contract of its workspace to find the channel's).
_PARSED: dict[tuple[str, int, str], ContractSpec] = {}
_PARSED_LIMIT = 4096


def parse_version(version: ContractVersion) -> ContractSpec:
    """The contract model stored in a version, validated again (the model may have grown defaults).

    The (frozen) model is kept for the life of the process: versions are immutable.
    """
    if version.id is None:
        return ContractSpec.model_validate(version.parsed)
    key = (version.team_id, version.id, version.content_hash)
    spec = _PARSED.get(key)
    if spec is None:
        if len(_PARSED) >= _PARSED_LIMIT:
            _PARSED.clear()
        spec = _PARSED[key] = ContractSpec.model_validate(version.parsed)
    return spec


_CONTRACTS = Contract.__table__
_VERSIONS = ContractVersion.__table__
_SIGNATURES = ContractSignature.__table__


def _latest_versions() -> sa.Select:
    """Which version is latest, per contract of a workspace: its id and hash, not its (large) YAML and JSON."""
    return (
        sa.select(_VERSIONS.c.id, _VERSIONS.c.content_hash, _CONTRACTS.c.name)
        .select_from(
            _VERSIONS.join(
                _CONTRACTS, (_VERSIONS.c.contract_id == _CONTRACTS.c.id) & (_VERSIONS.c.version == _CONTRACTS.c.latest_version)
            )
        )
        .where(_CONTRACTS.c.team_id == sa.bindparam("team_id"), _VERSIONS.c.team_id == sa.bindparam("team_id"))
    )


# Built once: every command runs one of these, and building a statement costs as much as running it.
_LATEST_OF_NAME = _latest_versions().where(_CONTRACTS.c.name == sa.bindparam("name"))
_LATEST_OF_WORKSPACE = _latest_versions().where(_CONTRACTS.c.archived_at.is_(None)).order_by(_CONTRACTS.c.name)
_VERSIONS_BY_ID = sa.select(_VERSIONS).where(
    _VERSIONS.c.team_id == sa.bindparam("team_id"), _VERSIONS.c.id.in_(sa.bindparam("ids", expanding=True))
)


def rows_of_named_contract(table: sa.Table) -> sa.Select:
    """``table``'s rows (it has ``contract_id`` and ``team_id``) for the workspace's contract of a
    name, bound as ``team_id`` and ``name``: one statement where looking the contract's id up first takes two."""
    return (
        sa.select(table)
        .join(_CONTRACTS, table.c.contract_id == _CONTRACTS.c.id)
        .where(
            _CONTRACTS.c.team_id == sa.bindparam("team_id"),
            _CONTRACTS.c.name == sa.bindparam("name"),
            table.c.team_id == sa.bindparam("team_id"),
        )
    )


_VERSION_OF_NAME = rows_of_named_contract(_VERSIONS)
_LATEST_VERSION_ROW = _VERSION_OF_NAME.where(_VERSIONS.c.version == _CONTRACTS.c.latest_version)
_NUMBERED_VERSION_ROW = _VERSION_OF_NAME.where(_VERSIONS.c.version == sa.bindparam("version"))
_SIGNATURES_OF_VERSION = (
    sa.select(_SIGNATURES)
    .where(_SIGNATURES.c.team_id == sa.bindparam("team_id"), _SIGNATURES.c.contract_version_id == sa.bindparam("version_id"))
    .order_by(_SIGNATURES.c.signed_at, _SIGNATURES.c.id)
)


def _parsed_versions(session: Reader, team_id: str, latest: Sequence[Any]) -> list[ContractSpec]:
    """The parsed models of ``latest`` (id, hash, name) rows; only versions not parsed yet are read."""
    found = {version_id: _PARSED.get((team_id, version_id, digest)) for version_id, digest, _ in latest}
    missing = [version_id for version_id, spec in found.items() if spec is None]
    if missing:
        for row in session.execute(_VERSIONS_BY_ID, {"team_id": team_id, "ids": missing}):
            found[row.id] = parse_version(row)
    return [spec for version_id, _, _ in latest if (spec := found.get(version_id)) is not None]


_VERSION_KEY_BY_ID = sa.select(_VERSIONS.c.id, _VERSIONS.c.content_hash, _VERSIONS.c.version).where(
    _VERSIONS.c.team_id == sa.bindparam("team_id"), _VERSIONS.c.id == sa.bindparam("version_id")
)


def parsed_version_by_id(*, session: Reader, team_id: str, version_id: int) -> tuple[int, ContractSpec] | None:
    """The number and parsed model of the version with that id, if it belongs to the workspace.

    Its stored YAML and JSON are read only the first time this process meets the version.
    """
    key = session.execute(_VERSION_KEY_BY_ID, {"team_id": team_id, "version_id": version_id}).first()
    if key is None:
        return None
    found = _parsed_versions(session, team_id, [(key.id, key.content_hash, None)])
    return (key.version, found[0]) if found else None


def latest_parsed_contract(*, session: Reader, team_id: str, name: str) -> ContractSpec | None:
    """The latest version of a contract as a :class:`metrics.contract.Contract`."""
    latest = session.execute(_LATEST_OF_NAME, {"team_id": team_id, "name": name}).all()
    found = _parsed_versions(session, team_id, latest)
    return found[0] if found else None


def latest_parsed_contracts(*, session: Reader, team_id: str) -> list[ContractSpec]:
    """The latest version of every contract of the workspace that is not archived, by name.

    One query whichever the number of contracts (plus one for versions this process has not
    parsed yet), where reading each with :func:`latest_parsed_contract` would take one per contract.
    """
    return _parsed_versions(session, team_id, session.execute(_LATEST_OF_WORKSPACE, {"team_id": team_id}).all())


def set_paused(*, session: Session, team_id: str, name: str, until: datetime | None) -> Contract | None:
    """Pause a contract's pulls and alerts until ``until`` (None resumes); None if no such contract."""
    row = get_contract(session=session, team_id=team_id, name=name)
    if row is None:
        return None
    row.paused_until = until
    session.add(row)
    session.flush()
    return row


def set_archived(*, session: Session, team_id: str, name: str, archived_at: datetime | None) -> Contract | None:
    """Archive a contract (None restores it); its versions and history stay. None if no such contract."""
    row = get_contract(session=session, team_id=team_id, name=name)
    if row is None:
        return None
    row.archived_at = archived_at
    session.add(row)
    session.flush()
    return row


# --- signatures -----------------------------------------------------------------------------


def sign_version(
    *,
    session: Session,
    team_id: str,
    name: str,
    version: int,
    role: str,
    user_id: str,
    signed_at: datetime | None = None,
) -> ContractSignature | None:
    """Record ``user_id`` signing ``version`` as ``role``; None when that role has already signed.

    Raises :class:`RecordNotFoundError` when the workspace has no such contract version.
    """
    check_member(SignerRole, role, what="signer role")
    version_row = get_version(session=session, team_id=team_id, name=name, version=version)
    if version_row is None:
        raise RecordNotFoundError(f"contract {name!r} has no version {version}")
    signature = ContractSignature(
        team_id=team_id, contract_version_id=version_row.id, role=role, user_id=user_id, signed_at=signed_at or utcnow()
    )
    return signature if insert_unless_duplicate(session, signature) else None


def list_signatures(*, session: Reader, team_id: str, name: str, version: int | None = None) -> Sequence[sa.Row]:
    """Signatures of one version (the latest when None), in the order they were given, as read-only rows."""
    version_row = get_version(session=session, team_id=team_id, name=name, version=version)
    if version_row is None:
        return []
    return session.execute(_SIGNATURES_OF_VERSION, {"team_id": team_id, "version_id": version_row.id}).all()


# --- periodic review ------------------------------------------------------------------------


def record_review_answer(
    *,
    session: Session,
    team_id: str,
    contract_id: int,
    user_id: str,
    answer: str,
    period: str,
    created_at: datetime | None = None,
) -> ReviewAnswer:
    """Keep one answer to "if we built this today, would we measure the same thing?"."""
    check_member(ReviewVerdict, answer, what="review answer")
    if get_contract_by_id(session=session, team_id=team_id, contract_id=contract_id) is None:
        raise RecordNotFoundError(f"no contract with id {contract_id} in this workspace")
    row = ReviewAnswer(
        team_id=team_id, contract_id=contract_id, user_id=user_id, answer=answer, period=period, created_at=created_at or utcnow()
    )
    session.add(row)
    session.flush()
    return row


def list_review_answers(
    *, session: Session, team_id: str, contract_id: int, period: str | None = None
) -> Sequence[ReviewAnswer]:
    """Review answers for a contract, oldest first; one period's when ``period`` is given."""
    statement = select(ReviewAnswer).where(ReviewAnswer.team_id == team_id, ReviewAnswer.contract_id == contract_id)
    if period is not None:
        statement = statement.where(ReviewAnswer.period == period)
    return session.exec(statement.order_by(col(ReviewAnswer.created_at), col(ReviewAnswer.id))).all()

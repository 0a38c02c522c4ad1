from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, event, func
from sqlmodel import Session, select

from metrics.contract import Contract as ContractSpec
from metrics.contract import contract_fingerprint
from storage import repository as repo
from storage.errors import InvalidValueError, RecordNotFoundError
from storage.models import Contract, ContractSignature, ContractVersion
from tests.storage import T0, DAY, contract_of, contract_yaml


def sync(session: Session, yaml: str, *, team_id: str = "T1", author: str = "U1") -> repo.SyncResult:
    return repo.sync_contract(
        session=session, team_id=team_id, contract=contract_of(yaml), source_yaml=yaml, author=author, source_path="contracts/c.yml"
    )


def counts(session: Session) -> tuple[int, int]:
    contracts = session.exec(select(func.count()).select_from(Contract)).one()
    versions = session.exec(select(func.count()).select_from(ContractVersion)).one()
    return contracts, versions


@contextmanager
def recorded_writes(engine: Engine) -> Iterator[list[str]]:
    """Every INSERT/UPDATE/DELETE sent to the database inside the block."""
    writes: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            writes.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield writes
    finally:
        event.remove(engine, "before_cursor_execute", record)


@contextmanager
def recorded_statements(engine: Engine) -> Iterator[list[str]]:
    """Every statement sent to the database inside the block."""
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_first_sync_creates_the_contract_and_version_one(session: Session) -> None:
    yaml = contract_yaml()
    result = sync(session, yaml)
    assert result.created
    assert result.contract_row.name == "checkout-assist" and result.contract_row.latest_version == 1
    version = result.version_row
    assert (version.version, version.author, version.source_path, version.source_yaml) == (1, "U1", "contracts/c.yml", yaml)
    assert version.content_hash == contract_fingerprint(contract_of(yaml))
    assert counts(session) == (1, 1)


def test_resync_of_identical_content_writes_nothing(engine: Engine) -> None:
    with Session(engine) as session:
        first_id = sync(session, contract_yaml()).version_row.id
        session.commit()
    with Session(engine) as session, recorded_writes(engine) as writes:
        again = sync(session, contract_yaml(), author="U2")
        session.commit()
        assert not again.created
        assert again.version_row.id == first_id and again.version_row.author == "U1"
        assert counts(session) == (1, 1)
    assert writes == []


def test_changing_one_field_adds_exactly_one_version(session: Session) -> None:
    sync(session, contract_yaml())
    result = sync(session, contract_yaml(decision="Suggest the next step at checkout and at cart."), author="U2")
    assert result.created and result.version_row.version == 2 and result.version_row.author == "U2"
    assert result.contract_row.latest_version == 2
    assert counts(session) == (1, 2)
    assert [v.version for v in repo.list_versions(session=session, team_id="T1", name="checkout-assist")] == [1, 2]
    first = repo.get_version(session=session, team_id="T1", name="checkout-assist", version=1)
    assert first is not None and "and at cart" not in first.source_yaml


def test_comment_only_change_adds_no_version(session: Session) -> None:
    sync(session, contract_yaml())
    result = sync(session, contract_yaml(comment="reworded comment"))
    assert not result.created and result.version_row.version == 1
    assert counts(session) == (1, 1)


def test_going_back_to_earlier_content_is_a_new_version(session: Session) -> None:
    sync(session, contract_yaml())
    sync(session, contract_yaml(decision="Something else."))
    result = sync(session, contract_yaml())
    assert result.created and result.version_row.version == 3


def test_latest_parsed_contract_is_the_model_of_the_latest_version(session: Session) -> None:
    sync(session, contract_yaml())
    sync(session, contract_yaml(decision="Second wording."))
    parsed = repo.latest_parsed_contract(session=session, team_id="T1", name="checkout-assist")
    assert isinstance(parsed, ContractSpec)
    assert parsed == contract_of(contract_yaml(decision="Second wording."))
    assert repo.latest_parsed_contract(session=session, team_id="T1", name="nope") is None


def test_latest_parsed_contracts_reads_every_active_contract_in_one_query(engine: Engine) -> None:
    with Session(engine) as session:
        for name in ("e-contract", "a-contract", "c-contract", "b-contract", "d-contract"):
            sync(session, contract_yaml(name=name))
        sync(session, contract_yaml(name="c-contract", decision="Second wording."))
        sync(session, contract_yaml(name="a-contract"), team_id="T2")  # another workspace's
        repo.set_archived(session=session, team_id="T1", name="d-contract", archived_at=T0)
        session.commit()
    expected = [contract_of(contract_yaml(name=n)) for n in ("a-contract", "b-contract")]
    expected += [contract_of(contract_yaml(name="c-contract", decision="Second wording.")), contract_of(contract_yaml(name="e-contract"))]
    for _ in range(2):  # parsed or not parsed before, the same answer
        with Session(engine) as session:
            with recorded_statements(engine) as statements:
                found = repo.latest_parsed_contracts(session=session, team_id="T1")
            assert found == expected
            assert found == [repo.latest_parsed_contract(session=session, team_id="T1", name=c.name) for c in expected]
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1, "versions parsed once are not read again, and never one query per contract"
    with Session(engine) as session:
        sync(session, contract_yaml(name="b-contract", decision="Changed."))
        session.commit()
        assert repo.latest_parsed_contracts(session=session, team_id="T1")[1] == contract_of(contract_yaml(name="b-contract", decision="Changed."))
        assert repo.latest_parsed_contracts(session=session, team_id="T3") == []


def test_get_version_defaults_to_latest(session: Session) -> None:
    sync(session, contract_yaml())
    sync(session, contract_yaml(decision="Second wording."))
    latest = repo.get_version(session=session, team_id="T1", name="checkout-assist")
    assert latest is not None and latest.version == 2
    assert repo.get_version(session=session, team_id="T1", name="checkout-assist", version=3) is None


def test_list_contracts_hides_archived_unless_asked(session: Session) -> None:
    sync(session, contract_yaml(name="b-contract"))
    sync(session, contract_yaml(name="a-contract"))
    repo.set_archived(session=session, team_id="T1", name="b-contract", archived_at=T0)
    assert [c.name for c in repo.list_contracts(session=session, team_id="T1")] == ["a-contract"]
    assert [c.name for c in repo.list_contracts(session=session, team_id="T1", include_archived=True)] == ["a-contract", "b-contract"]


def test_set_paused_and_resume(session: Session) -> None:
    sync(session, contract_yaml())
    paused = repo.set_paused(session=session, team_id="T1", name="checkout-assist", until=T0 + DAY)
    assert paused is not None and paused.paused_until == T0 + DAY
    resumed = repo.set_paused(session=session, team_id="T1", name="checkout-assist", until=None)
    assert resumed is not None and resumed.paused_until is None
    assert repo.set_paused(session=session, team_id="T1", name="missing", until=T0) is None


def test_one_signature_per_role_and_version(session: Session) -> None:
    sync(session, contract_yaml())
    pm = repo.sign_version(session=session, team_id="T1", name="checkout-assist", version=1, role="pm", user_id="UPM", signed_at=T0)
    assert pm is not None and pm.user_id == "UPM"
    again = repo.sign_version(session=session, team_id="T1", name="checkout-assist", version=1, role="pm", user_id="UOTHER")
    assert again is None
    eng = repo.sign_version(session=session, team_id="T1", name="checkout-assist", version=1, role="eng", user_id="UENG")
    assert eng is not None
    signatures = repo.list_signatures(session=session, team_id="T1", name="checkout-assist", version=1)
    assert [(s.role, s.user_id) for s in signatures] == [("pm", "UPM"), ("eng", "UENG")]
    # The session is still usable after the refused duplicate.
    assert session.exec(select(func.count()).select_from(ContractSignature)).one() == 2


def test_a_new_version_needs_new_signatures(session: Session) -> None:
    sync(session, contract_yaml())
    repo.sign_version(session=session, team_id="T1", name="checkout-assist", version=1, role="pm", user_id="UPM")
    sync(session, contract_yaml(decision="Changed."))
    assert repo.list_signatures(session=session, team_id="T1", name="checkout-assist") == []
    signed = repo.sign_version(session=session, team_id="T1", name="checkout-assist", version=2, role="pm", user_id="UPM")
    assert signed is not None


def test_signing_refuses_unknown_roles_and_versions(session: Session) -> None:
    sync(session, contract_yaml())
    with pytest.raises(InvalidValueError, match="'ceo'"):
        repo.sign_version(session=session, team_id="T1", name="checkout-assist", version=1, role="ceo", user_id="U1")
    with pytest.raises(RecordNotFoundError):
        repo.sign_version(session=session, team_id="T1", name="checkout-assist", version=7, role="pm", user_id="U1")


def test_review_answers_by_period(session: Session) -> None:
    contract = sync(session, contract_yaml()).contract_row
    assert contract.id is not None
    for period, answer in (("2026-W36", "still_right"), ("2026-W44", "revisit")):
        repo.record_review_answer(session=session, team_id="T1", contract_id=contract.id, user_id="U1", answer=answer, period=period)
    answers = repo.list_review_answers(session=session, team_id="T1", contract_id=contract.id, period="2026-W44")
    assert [a.answer for a in answers] == ["revisit"]
    with pytest.raises(InvalidValueError):
        repo.record_review_answer(session=session, team_id="T1", contract_id=contract.id, user_id="U1", answer="maybe", period="p")

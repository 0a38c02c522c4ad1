from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from storage import repository as repo
from storage.errors import InvalidValueError
from tests.storage import DAY, T0, contract_of, contract_yaml


@pytest.fixture
def contract_id(session: Session) -> int:
    yaml = contract_yaml()
    synced = repo.sync_contract(session=session, team_id="T1", contract=contract_of(yaml), source_yaml=yaml, author="U1")
    session.commit()
    assert synced.contract_row.id is not None
    return synced.contract_row.id


def test_create_then_compare_and_set(session: Session, contract_id: int) -> None:
    key = {"session": session, "team_id": "T1", "contract_id": contract_id, "metric": "conversion"}
    assert repo.get_alert_state(**key) is None
    assert repo.upsert_alert_state(**key, expected_revision=0, state="violated", since=T0, last_value=0.9, outbox_key="k1")
    assert not repo.upsert_alert_state(**key, expected_revision=0, state="ok")  # already created
    state = repo.get_alert_state(**key)
    assert state is not None and (state.state, state.revision, state.since, state.outbox_key) == ("violated", 1, T0, "k1")

    assert repo.upsert_alert_state(**key, expected_revision=1, reminders=1, last_reminded_at=T0 + DAY, message_ts="171.1")
    assert not repo.upsert_alert_state(**key, expected_revision=1, state="recovered")
    state = repo.get_alert_state(**key)
    assert state is not None
    assert (state.state, state.revision, state.reminders, state.last_reminded_at, state.message_ts) == ("violated", 2, 1, T0 + DAY, "171.1")


def test_the_second_of_two_writers_from_one_revision_loses(engine: Engine, contract_id: int) -> None:
    key = {"team_id": "T1", "contract_id": contract_id, "metric": "conversion"}
    with Session(engine) as session:
        repo.upsert_alert_state(session=session, **key, expected_revision=0, state="violated")
        session.commit()
    with Session(engine) as first:
        seen = repo.get_alert_state(session=first, **key)
        assert seen is not None
        revision = seen.revision
        first.commit()
    with Session(engine) as second:
        assert repo.upsert_alert_state(session=second, **key, expected_revision=revision, state="recovered")
        second.commit()
    with Session(engine) as first:
        assert not repo.upsert_alert_state(session=first, **key, expected_revision=revision, acknowledged_by="U2")
        first.commit()
        state = repo.get_alert_state(session=first, **key)
        assert state is not None and state.state == "recovered" and state.acknowledged_by is None


def test_unknown_fields_and_states_are_refused(session: Session, contract_id: int) -> None:
    key = {"session": session, "team_id": "T1", "contract_id": contract_id, "metric": "conversion"}
    with pytest.raises(InvalidValueError, match="revision"):
        repo.upsert_alert_state(**key, expected_revision=0, revision=5)
    with pytest.raises(InvalidValueError, match="'reminded'"):
        repo.upsert_alert_state(**key, expected_revision=0, state="reminded")


def test_list_alert_states_by_state(session: Session, contract_id: int) -> None:
    for metric, state in (("a", "violated"), ("b", "ok"), ("c", "violated")):
        repo.upsert_alert_state(session=session, team_id="T1", contract_id=contract_id, metric=metric, expected_revision=0, state=state)
    violated = repo.list_alert_states(session=session, team_id="T1", state="violated")
    assert [s.metric for s in violated] == ["a", "c"]

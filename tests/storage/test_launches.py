from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from storage import repository as repo
from storage.errors import InvalidValueError
from storage.models import LaunchVote
from tests.storage import DAY, T0, contract_of, contract_yaml, result_of, run_in_thread, wait_until_blocked


@pytest.fixture
def decision_id(session: Session) -> str:
    yaml = contract_yaml()
    synced = repo.sync_contract(session=session, team_id="T1", contract=contract_of(yaml), source_yaml=yaml, author="U1")
    assert synced.contract_row.id is not None and synced.version_row.id is not None
    decision = repo.create_decision(
        session=session, team_id="T1", contract_id=synced.contract_row.id, contract_version_id=synced.version_row.id,
        experiment="model-v2", requested_by="UREQ", channel="C1", scorecard={"lift": {"value": 0.04, "ci": [0.01, 0.07]}},
        recommendation="ship", expires_at=T0 + 7 * DAY, requested_at=T0, outbox_key="launch:1",
    )
    session.commit()
    return decision.id


def vote_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(LaunchVote)).one()


def test_decision_ids_are_opaque_and_the_scorecard_is_kept(session: Session, decision_id: str) -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", decision_id)
    decision = repo.get_decision(session=session, team_id="T1", decision_id=decision_id)
    assert decision is not None
    assert (decision.state, decision.recommendation, decision.experiment) == ("pending", "ship", "model-v2")
    assert decision.scorecard == {"lift": {"value": 0.04, "ci": [0.01, 0.07]}}
    assert repo.get_decision(session=session, team_id="T1", decision_id="0" * 32) is None


def test_one_vote_per_role(session: Session, decision_id: str) -> None:
    first = repo.record_vote(session=session, team_id="T1", decision_id=decision_id, user_id="UPM", role="pm", vote="approve")
    assert first is not None
    second = repo.record_vote(session=session, team_id="T1", decision_id=decision_id, user_id="UPM2", role="pm", vote="reject")
    assert second is None
    override = repo.record_vote(
        session=session, team_id="T1", decision_id=decision_id, user_id="UDS", role="ds", vote="override", reason="latency win"
    )
    assert override is not None
    votes = repo.list_votes(session=session, team_id="T1", decision_id=decision_id)
    assert [(v.role, v.vote, v.reason) for v in votes] == [("pm", "approve", None), ("ds", "override", "latency win")]
    with pytest.raises(InvalidValueError):
        repo.record_vote(session=session, team_id="T1", decision_id=decision_id, user_id="U", role="eng", vote="maybe")


def test_a_vote_racing_an_uncommitted_vote_for_the_same_role_is_refused(engine: Engine, decision_id: str) -> None:
    with Session(engine) as first:
        assert repo.record_vote(session=first, team_id="T1", decision_id=decision_id, user_id="UA", role="pm", vote="approve")

        def second_vote() -> object:
            with Session(engine) as second:
                vote = repo.record_vote(session=second, team_id="T1", decision_id=decision_id, user_id="UB", role="pm", vote="reject")
                second.commit()
                return vote

        # The second transaction starts while the first still holds its uncommitted vote.
        thread, outcome = run_in_thread(second_vote)
        wait_until_blocked(engine)
        first.commit()
    assert result_of(thread, outcome) is None
    with Session(engine) as session:
        votes = repo.list_votes(session=session, team_id="T1", decision_id=decision_id)
        assert [(v.user_id, v.vote) for v in votes] == [("UA", "approve")]


def test_concurrent_clicks_record_exactly_one_vote(engine: Engine, decision_id: str) -> None:
    clickers = 5
    barrier = threading.Barrier(clickers)

    def click(user: str) -> object:
        with Session(engine) as session:
            barrier.wait()
            vote = repo.record_vote(session=session, team_id="T1", decision_id=decision_id, user_id=user, role="eng", vote="approve")
            session.commit()
            return vote

    started = [run_in_thread(lambda user=f"U{i}": click(user)) for i in range(clickers)]
    results = [result_of(thread, outcome) for thread, outcome in started]
    assert sum(result is not None for result in results) == 1
    assert vote_count(engine) == 1


def test_a_decision_closes_once(session: Session, decision_id: str) -> None:
    assert repo.set_decision_state(session=session, team_id="T1", decision_id=decision_id, state="approved", decided_at=T0 + DAY)
    assert not repo.set_decision_state(session=session, team_id="T1", decision_id=decision_id, state="expired")
    decision = repo.get_decision(session=session, team_id="T1", decision_id=decision_id)
    assert decision is not None and (decision.state, decision.decided_at, decision.revision) == ("approved", T0 + DAY, 2)
    with pytest.raises(InvalidValueError):
        repo.set_decision_state(session=session, team_id="T1", decision_id=decision_id, state="pending")


def test_list_decisions_filters(session: Session, decision_id: str) -> None:
    assert [d.id for d in repo.list_decisions(session=session, team_id="T1", state="pending", expires_before=T0 + 8 * DAY)] == [decision_id]
    assert list(repo.list_decisions(session=session, team_id="T1", expires_before=T0 + DAY)) == []
    repo.set_decision_message(session=session, team_id="T1", decision_id=decision_id, message_ts="1700000000.0001")
    repo.set_decision_state(session=session, team_id="T1", decision_id=decision_id, state="rejected")
    assert list(repo.list_decisions(session=session, team_id="T1", state="pending")) == []
    (decision,) = repo.list_decisions(session=session, team_id="T1")
    assert decision.message_ts == "1700000000.0001" and decision.outbox_key == "launch:1"

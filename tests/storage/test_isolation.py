"""Workspace A can never read or change workspace B's rows, even under the same contract name."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlmodel import Session

from storage import repository as repo
from storage.errors import RecordNotFoundError
from tests.storage import DAY, T0, contract_of, contract_yaml

NAME = "checkout-assist"


@dataclass
class Workspace:
    team_id: str
    contract_id: int
    version_id: int
    decision_id: str


def populate(session: Session, team_id: str, decision: str) -> Workspace:
    yaml = contract_yaml(name=NAME, decision=decision)
    synced = repo.sync_contract(session=session, team_id=team_id, contract=contract_of(yaml), source_yaml=yaml, author=f"U{team_id}")
    contract_id, version_id = synced.contract_row.id, synced.version_row.id
    assert contract_id is not None and version_id is not None
    repo.sign_version(session=session, team_id=team_id, name=NAME, version=1, role="pm", user_id=f"UPM{team_id}")
    repo.add_snapshot(
        session=session, team_id=team_id, contract_id=contract_id, contract_version_id=version_id,
        metric="conversion", window_start=T0, window_end=T0 + DAY, value=0.5, pulled_at=T0 + DAY,
    )
    repo.upsert_alert_state(session=session, team_id=team_id, contract_id=contract_id, metric="conversion", expected_revision=0, state="violated")
    decision_row = repo.create_decision(
        session=session, team_id=team_id, contract_id=contract_id, contract_version_id=version_id, requested_by="U1",
        channel="C1", scorecard={"team": team_id}, recommendation="ship", expires_at=T0 + 7 * DAY,
    )
    repo.record_vote(session=session, team_id=team_id, decision_id=decision_row.id, user_id="U1", role="pm", vote="approve")
    repo.record_review_answer(session=session, team_id=team_id, contract_id=contract_id, user_id="U1", answer="revisit", period="p1")
    repo.enqueue_message(session=session, team_id=team_id, idempotency_key=f"{team_id}:audit", kind="post", channel="C1", payload={})
    return Workspace(team_id, contract_id, version_id, decision_row.id)


@pytest.fixture
def workspaces(session: Session) -> tuple[Workspace, Workspace]:
    a = populate(session, "TA", "Decision of workspace A.")
    b = populate(session, "TB", "Decision of workspace B.")
    session.commit()
    return a, b


def test_reads_by_name_return_only_the_callers_contract(session: Session, workspaces: tuple[Workspace, Workspace]) -> None:
    a, b = workspaces
    for mine in (a, b):
        contract = repo.get_contract(session=session, team_id=mine.team_id, name=NAME)
        assert contract is not None and contract.id == mine.contract_id
        version = repo.get_version(session=session, team_id=mine.team_id, name=NAME)
        assert version is not None and version.id == mine.version_id
        assert [v.id for v in repo.list_versions(session=session, team_id=mine.team_id, name=NAME)] == [mine.version_id]
        assert [c.id for c in repo.list_contracts(session=session, team_id=mine.team_id)] == [mine.contract_id]
        parsed = repo.latest_parsed_contract(session=session, team_id=mine.team_id, name=NAME)
        assert parsed is not None and parsed.decision == f"Decision of workspace {mine.team_id[-1]}."
        signatures = repo.list_signatures(session=session, team_id=mine.team_id, name=NAME)
        assert [s.user_id for s in signatures] == [f"UPM{mine.team_id}"]


@pytest.mark.parametrize("direction", ["a_reads_b", "b_reads_a"])
def test_reads_by_id_of_another_workspace_find_nothing(
    session: Session, workspaces: tuple[Workspace, Workspace], direction: str
) -> None:
    reader, owner = workspaces if direction == "a_reads_b" else workspaces[::-1]
    team, cid = reader.team_id, owner.contract_id
    assert repo.get_contract_by_id(session=session, team_id=team, contract_id=cid) is None
    assert repo.get_version_by_id(session=session, team_id=team, version_id=owner.version_id) is None
    assert repo.latest_snapshot(session=session, team_id=team, contract_id=cid, metric="conversion") is None
    assert repo.snapshots_between(session=session, team_id=team, contract_id=cid, start=T0, end=T0 + DAY) == []
    assert list(repo.recent_snapshots(session=session, team_id=team, contract_id=cid, limit=10)) == []
    assert repo.get_alert_state(session=session, team_id=team, contract_id=cid, metric="conversion") is None
    assert list(repo.list_alert_states(session=session, team_id=team, contract_id=cid)) == []
    assert repo.get_decision(session=session, team_id=team, decision_id=owner.decision_id) is None
    assert list(repo.list_decisions(session=session, team_id=team, contract_id=cid)) == []
    assert list(repo.list_votes(session=session, team_id=team, decision_id=owner.decision_id)) == []
    assert list(repo.list_review_answers(session=session, team_id=team, contract_id=cid)) == []
    assert [m.team_id for m in repo.list_outbox(session=session, team_id=team)] == [team]


def test_writes_aimed_at_another_workspace_are_refused(session: Session, workspaces: tuple[Workspace, Workspace]) -> None:
    a, b = workspaces
    with pytest.raises(RecordNotFoundError):
        repo.add_snapshot(
            session=session, team_id=a.team_id, contract_id=b.contract_id, contract_version_id=b.version_id,
            metric="conversion", window_start=T0, window_end=T0 + DAY,
        )
    with pytest.raises(RecordNotFoundError):
        repo.record_vote(session=session, team_id=a.team_id, decision_id=b.decision_id, user_id="U9", role="eng", vote="approve")
    assert not repo.set_decision_state(session=session, team_id=a.team_id, decision_id=b.decision_id, state="approved")
    assert not repo.upsert_alert_state(
        session=session, team_id=a.team_id, contract_id=b.contract_id, metric="conversion", expected_revision=1, state="ok"
    )
    assert repo.set_paused(session=session, team_id=a.team_id, name="not-there", until=T0) is None
    repo.set_paused(session=session, team_id=a.team_id, name=NAME, until=T0 + DAY)
    b_contract = repo.get_contract(session=session, team_id=b.team_id, name=NAME)
    decision = repo.get_decision(session=session, team_id=b.team_id, decision_id=b.decision_id)
    alert = repo.get_alert_state(session=session, team_id=b.team_id, contract_id=b.contract_id, metric="conversion")
    assert b_contract is not None and b_contract.paused_until is None
    assert decision is not None and decision.state == "pending"
    assert alert is not None and alert.state == "violated" and alert.revision == 1


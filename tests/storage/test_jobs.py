from __future__ import annotations

import threading
import time

from sqlalchemy import Engine
from sqlmodel import Session

from storage import repository as repo
from tests.storage import DAY, T0, result_of, run_in_thread


def test_three_concurrent_claimers_one_winner(engine: Engine) -> None:
    claimers = 3
    barrier = threading.Barrier(claimers)

    def claim(worker: str) -> object:
        with Session(engine) as session:
            barrier.wait()
            won = repo.claim_job(session=session, job_key="pull:T1:checkout", period="2026-09-07", claimed_by=worker)
            time.sleep(0.05)  # hold the claim uncommitted so the others really collide with it
            session.commit()
            return won

    started = [run_in_thread(lambda worker=f"replica-{i}": claim(worker)) for i in range(claimers)]
    results = [result_of(thread, outcome) for thread, outcome in started]
    assert results.count(True) == 1 and results.count(False) == claimers - 1
    winner = f"replica-{results.index(True)}"
    with Session(engine) as session:
        claim_row = repo.get_job_claim(session=session, job_key="pull:T1:checkout", period="2026-09-07")
        assert claim_row is not None and claim_row.claimed_by == winner and claim_row.status == "running"


def test_each_period_is_claimed_separately(session: Session) -> None:
    assert repo.claim_job(session=session, job_key="audit:T1", period="2026-W36", claimed_by="a")
    assert not repo.claim_job(session=session, job_key="audit:T1", period="2026-W36", claimed_by="b")
    assert repo.claim_job(session=session, job_key="audit:T1", period="2026-W37", claimed_by="b")
    assert repo.claim_job(session=session, job_key="audit:T2", period="2026-W36", claimed_by="b")


def test_only_the_claimer_finishes_a_run(session: Session) -> None:
    repo.claim_job(session=session, job_key="j", period="p", claimed_by="a", claimed_at=T0)
    assert not repo.finish_job(session=session, job_key="j", period="p", claimed_by="b")
    assert repo.finish_job(session=session, job_key="j", period="p", claimed_by="a", finished_at=T0 + DAY)
    assert not repo.finish_job(session=session, job_key="j", period="p", claimed_by="a")  # already done
    claim = repo.get_job_claim(session=session, job_key="j", period="p")
    assert claim is not None and (claim.status, claim.finished_at, claim.error) == ("done", T0 + DAY, None)


def test_failed_and_stale_runs_can_be_reclaimed_once(session: Session) -> None:
    repo.claim_job(session=session, job_key="failed", period="p", claimed_by="a", claimed_at=T0)
    repo.finish_job(session=session, job_key="failed", period="p", claimed_by="a", error="warehouse down")
    claim = repo.get_job_claim(session=session, job_key="failed", period="p")
    assert claim is not None and (claim.status, claim.error) == ("failed", "warehouse down")
    assert repo.reclaim_job(session=session, job_key="failed", period="p", claimed_by="b", stale_before=T0)
    assert not repo.reclaim_job(session=session, job_key="failed", period="p", claimed_by="c", stale_before=T0)

    repo.claim_job(session=session, job_key="stale", period="p", claimed_by="a", claimed_at=T0)
    assert not repo.reclaim_job(session=session, job_key="stale", period="p", claimed_by="b", stale_before=T0)
    assert repo.reclaim_job(session=session, job_key="stale", period="p", claimed_by="b", stale_before=T0 + DAY, now=T0 + DAY)
    assert not repo.finish_job(session=session, job_key="stale", period="p", claimed_by="a")  # the dead run's late finish
    claim = repo.get_job_claim(session=session, job_key="stale", period="p")
    assert claim is not None and (claim.claimed_by, claim.claimed_at, claim.status) == ("b", T0 + DAY, "running")

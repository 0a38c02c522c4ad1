"""Claims on scheduled runs, so that several replicas never run one job for one period twice.

Commit right after a successful claim: the claim row is what the other replicas see, and an
uncommitted one would make them wait for the whole run instead of moving on.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, or_, select, update

from storage.db import insert_unless_duplicate, utcnow
from storage.models import JobClaim, JobStatus


def claim_job(*, session: Session, job_key: str, period: str, claimed_by: str, claimed_at: datetime | None = None) -> bool:
    """Claim ``job_key`` for ``period``; True for exactly one claimer across processes."""
    claim = JobClaim(job_key=job_key, period=period, claimed_by=claimed_by, claimed_at=claimed_at or utcnow())
    return insert_unless_duplicate(session, claim)


def reclaim_job(
    *, session: Session, job_key: str, period: str, claimed_by: str, stale_before: datetime, now: datetime | None = None
) -> bool:
    """Take over a failed run, or a running one claimed before ``stale_before`` (its process died).

    A conditional UPDATE, so of several replicas reclaiming at once only one succeeds.
    """
    statement = (
        update(JobClaim)
        .where(
            col(JobClaim.job_key) == job_key,
            col(JobClaim.period) == period,
            or_(
                col(JobClaim.status) == JobStatus.FAILED,
                (col(JobClaim.status) == JobStatus.RUNNING) & (col(JobClaim.claimed_at) < stale_before),
            ),
        )
        .values(claimed_by=claimed_by, claimed_at=now or utcnow(), status=JobStatus.RUNNING, finished_at=None, error=None)
    )
    return session.exec(statement).rowcount == 1


def finish_job(
    *,
    session: Session,
    job_key: str,
    period: str,
    claimed_by: str,
    error: str | None = None,
    finished_at: datetime | None = None,
) -> bool:
    """Mark a run done (or failed, with ``error``); False if the claim is no longer ``claimed_by``'s."""
    statement = (
        update(JobClaim)
        .where(
            col(JobClaim.job_key) == job_key,
            col(JobClaim.period) == period,
            col(JobClaim.claimed_by) == claimed_by,
            col(JobClaim.status) == JobStatus.RUNNING,
        )
        .values(
            status=JobStatus.FAILED if error is not None else JobStatus.DONE,
            error=error,
            finished_at=finished_at or utcnow(),
        )
    )
    return session.exec(statement).rowcount == 1


def get_job_claim(*, session: Session, job_key: str, period: str) -> JobClaim | None:
    """The claim on one job's period, if any."""
    return session.exec(select(JobClaim).where(JobClaim.job_key == job_key, JobClaim.period == period)).first()

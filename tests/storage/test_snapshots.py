from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from storage import repository as repo
from storage.errors import InvalidValueError, RecordNotFoundError
from storage.models import MetricSnapshot
from tests.storage import DAY, T0, contract_of, contract_yaml


@pytest.fixture
def ids(session: Session) -> tuple[int, int]:
    yaml = contract_yaml()
    synced = repo.sync_contract(session=session, team_id="T1", contract=contract_of(yaml), source_yaml=yaml, author="U1")
    assert synced.contract_row.id is not None and synced.version_row.id is not None
    return synced.contract_row.id, synced.version_row.id


def add(session: Session, ids: tuple[int, int], day: int, **fields: object) -> MetricSnapshot:
    contract_id, version_id = ids
    fields.setdefault("pulled_at", T0 + (day + 1) * DAY)
    return repo.add_snapshot(
        session=session, team_id="T1", contract_id=contract_id, contract_version_id=version_id,
        metric=str(fields.pop("metric", "conversion")), window_start=T0 + day * DAY, window_end=T0 + (day + 1) * DAY,
        **fields,  # type: ignore[arg-type]
    )


def test_a_failed_pull_does_not_replace_the_latest_good_snapshot(session: Session, ids: tuple[int, int]) -> None:
    good = add(session, ids, 0, value=0.31, sample_size=1200)
    failed = add(session, ids, 1, status="failed", error="warehouse timed out", attempt=3)
    latest = repo.latest_snapshot(session=session, team_id="T1", contract_id=ids[0], metric="conversion")
    assert latest is not None and latest.id == good.id and latest.value == 0.31
    anything = repo.latest_snapshot(session=session, team_id="T1", contract_id=ids[0], metric="conversion", status=None)
    assert anything is not None and anything.id == failed.id and anything.error == "warehouse timed out"
    assert session.exec(select(func.count()).select_from(MetricSnapshot)).one() == 2


def test_a_failed_re_pull_of_the_same_window_leaves_the_good_one_visible(session: Session, ids: tuple[int, int]) -> None:
    good = add(session, ids, 0, value=0.31)
    add(session, ids, 0, status="failed", error="boom", pulled_at=T0 + 5 * DAY)
    latest = repo.latest_snapshot(session=session, team_id="T1", contract_id=ids[0], metric="conversion")
    assert latest is not None and latest.id == good.id
    between = repo.snapshots_between(session=session, team_id="T1", contract_id=ids[0], start=T0, end=T0 + DAY)
    assert [s.id for s in between] == [good.id]


def test_re_pulled_windows_appear_once_as_their_latest_pull(session: Session, ids: tuple[int, int]) -> None:
    add(session, ids, 0, value=0.30)
    newer = add(session, ids, 0, value=0.32, pulled_at=T0 + 3 * DAY)
    second_day = add(session, ids, 1, value=0.40)
    add(session, ids, 2, value=0.50)  # ends after the range
    add(session, ids, 1, value=9.0, metric="latency")
    series = repo.snapshots_between(
        session=session, team_id="T1", contract_id=ids[0], metric="conversion", start=T0, end=T0 + 2 * DAY
    )
    assert [(s.id, s.value) for s in series] == [(newer.id, 0.32), (second_day.id, 0.40)]
    every_metric = repo.snapshots_between(session=session, team_id="T1", contract_id=ids[0], start=T0, end=T0 + 2 * DAY)
    assert sorted(s.metric for s in every_metric) == ["conversion", "conversion", "latency"]


def test_recent_snapshots_are_newest_first_and_include_failures(session: Session, ids: tuple[int, int]) -> None:
    for day in range(5):
        add(session, ids, day, value=float(day))
    failed = add(session, ids, 5, status="failed", error="x")
    recent = repo.recent_snapshots(session=session, team_id="T1", contract_id=ids[0], limit=3)
    assert [s.id for s in recent][0] == failed.id
    assert [s.value for s in recent[1:]] == [4.0, 3.0]
    only_ok = repo.recent_snapshots(session=session, team_id="T1", contract_id=ids[0], limit=2, status="ok")
    assert [s.value for s in only_ok] == [4.0, 3.0]


def test_sufficient_statistics_round_trip_as_json(engine, ids: tuple[int, int], session: Session) -> None:  # type: ignore[no-untyped-def]
    stats = {"histogram": {"positive": [1, 2, 3], "negative": [4, 5, 6]}, "edges": [0.0, 0.5, 1.0], "segments": {"EU": {"n": 10}}}
    row = add(session, ids, 0, value=0.5, stats=stats)
    session.commit()
    with Session(engine) as fresh:
        stored = fresh.get(MetricSnapshot, row.id)
        assert stored is not None and stored.stats == stats
        assert stored.window_start == T0 and stored.window_start.tzinfo is not None


def test_snapshot_must_name_a_version_of_its_contract(session: Session, ids: tuple[int, int]) -> None:
    yaml = contract_yaml(name="other")
    other = repo.sync_contract(session=session, team_id="T1", contract=contract_of(yaml), source_yaml=yaml, author="U1")
    with pytest.raises(RecordNotFoundError):
        add(session, (ids[0], other.version_row.id), 0)  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError):
        add(session, ids, 0, status="partial")

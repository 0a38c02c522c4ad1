"""Bodies no client of Slack's would send: cut short, of the wrong shape, signed or not.

Nothing here reaches the database in a way that differs between backends, so these run on
SQLite only (a local ``engine`` fixture) to keep the suite fast.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import Engine

from storage.db import make_engine, upgrade_database
from tests.reliability.test_hostile_input import assert_survived


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'northstar.db'}")
    upgrade_database(engine)
    yield engine
    engine.dispose()


BROKEN_BODIES = [
    "payload=" + '{"type": "block_actions", "team": {"id": "T0FRAUD01"}, "actions": [{"action_id"',  # cut short
    "payload=",
    "payload=null",
    "payload=%5B1%2C2%5D",  # a JSON list
    "payload=%22just+a+string%22",
    urlencode({"payload": json.dumps({"type": "block_actions"})}),
    urlencode({"payload": json.dumps({"type": "block_actions", "actions": "not a list"})}),
    urlencode({"payload": json.dumps({"type": "block_actions", "actions": [None]})}),
    urlencode({"payload": json.dumps({"type": "view_submission", "view": None})}),
    urlencode({"payload": json.dumps({"type": "view_submission", "view": {"callback_id": "launch_reject_reason",
                                                                           "private_metadata": 12, "state": "x"}})}),
    urlencode({"payload": json.dumps({"type": "shortcut", "callback_id": 5})}),
    "command=%2Fexplain",  # a command with no team, user or channel
    "command=%2Fnope&text=x&team_id=T0FRAUD01&user_id=U1&channel_id=C1",
    "\x00\xff garbage",
    # Bolt reads these before checking the signature; they must not crash it either.
    urlencode({"payload": json.dumps({"type": "block_actions", "channel": 0, "user": "x", "team": [1]})}),
    urlencode({"payload": json.dumps({"type": "block_actions", "channel": "C1", "actions": [{"action_id": 1}]})}),
]


# A command with no user or channel: the reply has nowhere to go, so the global handler logs it
# (the designed outcome) and nobody can be told.
LOGGED_WITHOUT_A_USER = {"command=%2Fexplain"}


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
@pytest.mark.parametrize("body", BROKEN_BODIES)
def test_broken_bodies_never_answer_5xx(body, signed, http, executor, standin, caplog):
    before = len(standin.calls)
    with caplog.at_level(logging.ERROR):
        response = http.post(body, content_type="application/x-www-form-urlencoded", signature=None if signed else "v0=" + "0" * 64)
        if signed and body in LOGGED_WITHOUT_A_USER:
            assert response.status_code < 500 and executor.drain() == []
            assert [r.getMessage()[:20] for r in caplog.records] == ["unhandled error (ref"]
            return
        assert_survived(response, executor, standin, before, caplog.records, body)
    if not signed:
        assert response.status_code in (400, 401)
        assert [c.method for c in standin.calls[before:]] == []

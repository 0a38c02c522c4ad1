"""`northstar run --http --workers N` as real processes: one port served by N worker processes,
each with its own app and logging, supervised, refused where it cannot work, stopped as one."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import text

from bot.standin import SlackStandIn
from storage.db import make_engine, upgrade_database
from tests.bot.conftest import FRAUD_CHANNEL_ID, TEAM, seed_contract
from tests.bot.test_run_http import _command, _env, _free_port, _northstar, _signed
from tests.conftest import POSTGRES_URL, skip_without_postgres

# Each worker is a fresh interpreter that imports the whole app (about 5 s of CPU): on a busy
# machine two of them take far longer than one process does.
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
WORKERS = 2
BACKGROUND_LINE = re.compile(r" INFO bot\.workers \[(\d+) [^\]]*\] scheduler and outbox worker started")
REFUSAL_LINE = re.compile(r" WARNING bot\.http \[(\d+) [^\]]*\] refused an interactivity payload: actions is not a list")


def _migrate_and_seed(url: str) -> None:
    engine = make_engine(url)
    upgrade_database(engine)
    seed_contract(engine, TEAM)
    engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite file with the fraud contract: WAL lets several processes share it."""
    url = f"sqlite:///{tmp_path / 'northstar.db'}"
    _migrate_and_seed(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated bot database with the fraud contract, as a URL another process can open."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_url")
        return
    if not POSTGRES_URL:
        skip_without_postgres()
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    try:
        _migrate_and_seed(url)
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie waiting to be reaped is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _parent_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^PPid:\s+(\d+)$", status, re.MULTILINE).group(1))


def _health_pid(base: str) -> int | None:
    # A fresh connection each time: a kept-alive one stays with the worker that accepted it.
    try:
        response = httpx.get(f"{base}/healthz", timeout=5.0)
    except httpx.TransportError:
        return None
    return response.json()["pid"] if response.status_code == 200 else None


def _wait_for_pids(server: subprocess.Popen, base: str, log: Path, count: int, *, excluding: set[int] = frozenset()) -> set[int]:
    """Ask /healthz on new connections, a few at once, until ``count`` processes besides ``excluding`` answered."""
    seen: set[int] = set()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    with ThreadPoolExecutor(max_workers=4) as pool:
        while len(seen - excluding) < count:
            assert server.poll() is None, f"server exited with {server.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"{count} workers did not answer within {STARTUP_TIMEOUT_S} s (saw {seen}):\n{log.read_text()}"
            seen |= {pid for pid in pool.map(lambda _: _health_pid(base), range(8)) if pid is not None}
            time.sleep(0.05)
    return seen - excluding


def _start(command: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)


def _run_workers(port: int, *, scheduler: bool = False) -> list[str]:
    command = _northstar("run", "--http", "--host", "127.0.0.1", "--port", str(port), "--workers", str(WORKERS))
    return command if scheduler else [*command, "--no-scheduler"]


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.kill()
        server.wait(timeout=5)


def test_two_workers_answer_signed_requests_are_replaced_when_they_die_and_stop_with_the_parent(
    database_url: str, slack_standin: SlackStandIn, tmp_path: Path
):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    env = {**_env(database_url, slack_standin.api_url), "NORTHSTAR_LOG_LEVEL": "INFO"}
    server = _start(_run_workers(port, scheduler=True), env, tmp_path, log)
    workers: set[int] = set()
    try:
        workers = _wait_for_pids(server, base, log, WORKERS)
        assert server.pid not in workers  # the parent only supervises
        assert {_parent_of(pid) for pid in workers} == {server.pid}

        # Signed requests, each on its own connection, a few at once, so both workers take some.
        def explain(user: str) -> int:
            body = _command("/explain", "precision", user)
            return httpx.post(f"{base}/slack/events", content=body.encode(), headers=_signed(body), timeout=5.0).status_code

        users = [f"U0ANALY{n:02d}" for n in range(12)]
        with ThreadPoolExecutor(max_workers=4) as pool:
            assert list(pool.map(explain, users)) == [200] * len(users)
        replies = slack_standin.wait_for("chat.postEphemeral", count=len(users), timeout=30)
        assert sorted(r.params["user"] for r in replies) == users
        assert all(r.params["channel"] == FRAUD_CHANNEL_ID and "fraud-screening" in str(r.params.get("blocks")) for r in replies)

        # Each worker's own warnings reach the output, with its pid: both configured logging.
        malformed = urlencode({"payload": '{"type": "block_actions", "actions": "not a list"}'})

        def refuse(_: int) -> int:
            return httpx.post(f"{base}/slack/events", content=malformed.encode(), headers=_signed(malformed), timeout=5.0).status_code

        refused_by: set[int] = set()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while refused_by != workers:
            assert time.monotonic() < deadline, f"refusals logged by {refused_by}, not by every worker {workers}:\n{log.read_text()}"
            with ThreadPoolExecutor(max_workers=4) as pool:
                assert list(pool.map(refuse, range(8))) == [400] * 8
            time.sleep(0.2)  # let the lines reach the file
            refused_by = {int(pid) for pid in REFUSAL_LINE.findall(log.read_text())}

        # uvicorn's supervisor replaces a worker that dies.
        dead = min(workers)
        os.kill(dead, signal.SIGKILL)
        workers |= _wait_for_pids(server, base, log, 1, excluding=workers)
        assert not _alive(dead)
        assert len([pid for pid in workers if _alive(pid)]) == WORKERS

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=STOP_TIMEOUT_S) == 0, log.read_text()
        assert [pid for pid in workers if _alive(pid)] == [], f"workers outlived the parent:\n{log.read_text()}"
        # One scheduler and one outbox worker for the deployment, in the parent: none in any worker.
        assert [int(pid) for pid in BACKGROUND_LINE.findall(log.read_text())] == [server.pid], log.read_text()
    finally:
        _stop(server)
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _listening_sockets(pid: int, port: int) -> set[int]:
    """Inodes of the sockets listening on ``port`` that process ``pid`` holds open (Linux ``/proc``)."""
    listening = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # 0A: LISTEN
                listening.add(int(fields[9]))
    held = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            held.add(int(target[len("socket:["):-1]))
    return listening & held


def test_each_worker_listens_on_its_own_socket_so_connections_are_spread_over_all(
    sqlite_url: str, slack_standin: SlackStandIn, tmp_path: Path
):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    server = _start(_run_workers(port), _env(sqlite_url, slack_standin.api_url), tmp_path, log)
    try:
        workers = _wait_for_pids(server, base, log, WORKERS)
        held = {pid: _listening_sockets(pid, port) for pid in workers}
        assert all(len(sockets) == 1 for sockets in held.values()) and len(set().union(*held.values())) == WORKERS, held
        # The parent keeps none open: a dead worker's socket must close with it, not go on taking
        # connections that nobody accepts.
        assert _listening_sockets(server.pid, port) == set()

        # Forty connections opened at once, as a burst from Slack: a socket each spreads them
        # evenly (a worker with fewer than 8 happens about once in 24,000 runs by chance).
        with ThreadPoolExecutor(max_workers=40) as pool:
            answered_by = Counter(pool.map(lambda _: _health_pid(base), range(40)))
        assert None not in answered_by and set(answered_by) == workers, answered_by
        assert min(answered_by.values()) >= 8, answered_by

        # A worker killed: its replacement gets a socket of its own, and no connection is lost
        # to a socket left behind.
        os.kill(min(workers), signal.SIGKILL)
        workers = (workers - {min(workers)}) | _wait_for_pids(server, base, log, 1, excluding=workers)
        with ThreadPoolExecutor(max_workers=20) as pool:
            after = Counter(pool.map(lambda _: _health_pid(base), range(20)))
        assert None not in after and set(after) <= workers, after
        assert _listening_sockets(server.pid, port) == set()
    finally:
        _stop(server)


def test_an_in_memory_database_is_refused_with_several_workers(slack_standin: SlackStandIn, tmp_path: Path):
    env = _env("sqlite://", slack_standin.api_url)
    result = subprocess.run(_run_workers(_free_port()), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=STARTUP_TIMEOUT_S)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "in-memory SQLite" in output and "SQLite file or PostgreSQL" in output
    assert "northstar db upgrade" not in output  # not the schema check's advice, which would not help
    assert slack_standin.calls == []


def test_the_workers_setting_applies_when_no_option_is_given(slack_standin: SlackStandIn, tmp_path: Path):
    env = {**_env("sqlite://", slack_standin.api_url), "NORTHSTAR_HTTP_WORKERS": "3"}
    command = _northstar("run", "--http", "--no-scheduler", "--port", str(_free_port()))
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=STARTUP_TIMEOUT_S)
    assert result.returncode == 1
    assert "--workers 3 needs a database every worker process can open" in result.stdout + result.stderr


def test_socket_mode_refuses_several_workers(tmp_path: Path):
    env = _env(f"sqlite:///{tmp_path / 'northstar.db'}", "http://127.0.0.1:9/api/")
    result = subprocess.run(_northstar("run", "--socket", "--workers", "2"), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=STARTUP_TIMEOUT_S)
    assert result.returncode == 1
    assert "--workers is for --http" in result.stdout + result.stderr


def test_a_worker_that_cannot_start_stops_the_server_and_says_why(sqlite_url: str, slack_standin: SlackStandIn, tmp_path: Path):
    # Without the scheduler the parent never opens the installation store, so only the workers
    # meet the missing encryption key; the server must stop, not restart them for ever.
    env = {**_env(sqlite_url, slack_standin.api_url), "SLACK_CLIENT_ID": "111.222", "SLACK_CLIENT_SECRET": "client-secret-value"}
    log = tmp_path / "server.log"
    server = _start(_run_workers(_free_port()), env, tmp_path, log)
    try:
        assert server.wait(timeout=STARTUP_TIMEOUT_S) == 1, log.read_text()
        output = log.read_text()
        assert "could not start: missing configuration: set NORTHSTAR_ENCRYPTION_KEY" in output
        assert "error: worker process" in output and "so the server stopped" in output
        assert "Traceback" not in output
    finally:
        _stop(server)


@pytest.mark.parametrize("workers", [1, WORKERS])
def test_a_bot_token_slack_refuses_stops_the_server_instead_of_restarting_it(
    workers: int, sqlite_url: str, slack_standin: SlackStandIn, tmp_path: Path
):
    # Slack will refuse the token on every restart, so the workers are not restarted for ever.
    slack_standin.fail("auth.test", error="invalid_auth", times=None)
    command = _northstar("run", "--http", "--no-scheduler", "--host", "127.0.0.1", "--port", str(_free_port()), "--workers", str(workers))
    log = tmp_path / "server.log"
    server = _start(command, _env(sqlite_url, slack_standin.api_url), tmp_path, log)
    try:
        assert server.wait(timeout=STARTUP_TIMEOUT_S) == 1, log.read_text()
        output = log.read_text()
        assert "Slack refused SLACK_BOT_TOKEN at start (invalid_auth)" in output
        assert "Traceback" not in output
        assert len(slack_standin.calls_to("auth.test")) <= workers, "a refused worker was started again"
    finally:
        _stop(server)


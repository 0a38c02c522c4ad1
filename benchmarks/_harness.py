"""What the HTTP benchmarks share: a fresh PostgreSQL schema, seeded contracts, the server process.

``bench_http.py`` and ``bench_load.py`` both run ``northstar run --http`` as a separate process
against a schema of their own and a Slack Web API stand-in, and send it signed requests.
"""

from __future__ import annotations

import functools
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
import numpy as np
from sqlalchemy import text

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bot.standin import DEFAULT_TEAM, SlackStandIn  # noqa: E402
from metrics.classification import ScoreHistogram  # noqa: E402
from metrics.contract import parse_contract  # noqa: E402
from storage import contracts as contract_repo  # noqa: E402
from storage import snapshots as snapshot_repo  # noqa: E402
from storage.db import make_engine, session_scope  # noqa: E402

DEFAULT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
FRAUD_YAML = (REPO / "examples" / "contracts" / "fraud-screening.yml").read_text()
CHANNEL_ID, CHANNEL_NAME = "C0FRAUDML", "fraud-ml"
WEEKS = 12


# --- database -------------------------------------------------------------------------------


def schema_url(database: str, schema: str) -> str:
    """The database URL with ``search_path`` set, so the server's engine lands in ``schema``."""
    separator = "&" if "?" in database else "?"
    return f"{database}{separator}options={quote(f'-csearch_path={schema}')}"


@contextmanager
def fresh_schema(database: str, prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL schema for the block; dropped with everything in it afterwards."""
    schema = f"{prefix}_{os.getpid()}_{os.urandom(3).hex()}"
    admin = make_engine(database)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def fraud_scores(seed: int, n: int, prevalence: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores that look like a fraud model: fraud scores high, legitimate low."""
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < prevalence
    scores = np.where(labels, rng.beta(6, 2, n), rng.beta(1.6, 6, n))
    return labels.astype(int), np.clip(scores, 0, 1)


@functools.cache
def weekly_histograms(weeks: int = WEEKS) -> list[dict[str, tuple[ScoreHistogram, float]]]:
    """Per week, oldest first: each classification metric's score histogram and its value at 0.7."""
    sizes = {"fraud_recall": 20_000, "premium_false_positive_rate": 5_000}
    found = []
    for week in range(weeks):
        metrics = {}
        for offset, (metric, n) in enumerate(sizes.items()):
            labels, scores = fraud_scores(seed=100 * week + offset, n=n)
            histogram = ScoreHistogram.from_arrays(labels, scores, bins=100)
            c = histogram.confusion_at(0.7)
            metrics[metric] = (histogram, c.recall if metric == "fraud_recall" else c.false_positive_rate)
        found.append(metrics)
    return found


def seed_contract(engine, team: str, yaml_text: str = FRAUD_YAML, *, history=None, author: str = "U0AUTHOR1") -> tuple[int, int]:
    """Store a contract and, when ``history`` (from :func:`weekly_histograms`) is given, a snapshot
    per metric and week ending at the latest midnight UTC. Returns (contract id, version id)."""
    contract = parse_contract(yaml_text)
    with session_scope(engine) as session:
        result = contract_repo.sync_contract(session=session, team_id=team, contract=contract, source_yaml=yaml_text, author=author)
        contract_id, version_id = result.contract_row.id, result.version_row.id
    if history:
        end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        with session_scope(engine) as session:
            for week, metrics in enumerate(history):
                window_end = end - timedelta(days=7 * (len(history) - 1 - week))
                for metric, (histogram, value) in metrics.items():
                    snapshot_repo.add_snapshot(
                        session=session, team_id=team, contract_id=contract_id, contract_version_id=version_id, metric=metric,
                        window_start=window_end - timedelta(days=7), window_end=window_end, value=value,
                        sample_size=histogram.n, stats={"histogram": histogram.to_dict()},
                    )
    return contract_id, version_id


def seed(engine, team: str) -> None:
    """The fraud contract and ``WEEKS`` weekly snapshots of each classification metric."""
    seed_contract(engine, team, history=weekly_histograms())


class SlowSlack(SlackStandIn):
    """The stand-in with a fixed delay before each answer, as Slack's real API has (~50-300 ms)."""

    def __init__(self, *, delay_s: float, **kwargs):
        super().__init__(**kwargs)
        self.delay_s = delay_s

    def _handle(self, request) -> None:
        if self.delay_s:
            time.sleep(self.delay_s)
        super()._handle(request)


# --- server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(database_url: str, api_url: str, port: int, log, *, signing_secret: str, bot_token: str,
                 scheduler: bool = False, workers: int = 1, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """``northstar run --http`` on 127.0.0.1:``port`` with ``workers`` HTTP processes; with
    ``scheduler`` also its scheduler and outbox worker."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": bot_token,
        "SLACK_SIGNING_SECRET": signing_secret,
        "SLACK_API_URL": api_url,
        "NORTHSTAR_DEFAULT_WORKSPACE": DEFAULT_TEAM,
        "NORTHSTAR_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        **(extra_env or {}),
    }
    command = [sys.executable, "-m", "bot.cli", "run", "--http", "--host", "127.0.0.1", "--port", str(port)]
    if not scheduler:
        command.append("--no-scheduler")
    if workers != 1:
        command += ["--workers", str(workers)]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_healthy(server: subprocess.Popen, base: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with code {server.returncode} before it was healthy")
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"/healthz did not answer 200 within {timeout:.0f} s")


def stop_server(server: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL to the server and its workers if it has not stopped within 10 s.

    A worker left running would go on querying a schema the caller is about to drop.
    """
    if server.poll() is None:
        family = process_tree(server.pid)
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            for pid in family:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            server.wait(timeout=5)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_tree(pid: int) -> list[int]:
    """``pid`` and its living descendants (a multi-worker server's workers), Linux ``/proc`` only."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending += children.get(current, [])
    return tree


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process and its living descendants (Linux ``/proc``; None elsewhere)."""
    if _stat_fields(pid) is None:
        return None
    total = 0
    for member in process_tree(pid):
        if (fields := _stat_fields(member)) is not None:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def cpu_by_process(pid: int) -> dict[int, float]:
    """CPU seconds of ``pid`` and of each living descendant, by pid (Linux ``/proc``)."""
    found = {}
    for member in process_tree(pid):
        if (fields := _stat_fields(member)) is not None:
            found[member] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


def rss_bytes(pid: int) -> int | None:
    """Resident memory of a process and its living descendants (Linux ``/proc``; None elsewhere or once it has exited)."""
    total, found = 0, False
    for member in process_tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    found = found or member == pid
        except OSError:
            continue
    return total if found else None


def machine() -> str:
    load = ""
    if hasattr(os, "getloadavg"):
        load = ", load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}{load}")


# --- requests -------------------------------------------------------------------------------


def command_body(command: str, text_: str, user: str, *, channel_id: str = CHANNEL_ID, channel_name: str = CHANNEL_NAME) -> str:
    return urlencode({
        "token": "legacy-unused",
        "team_id": DEFAULT_TEAM,
        "team_domain": "northstar",
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user,
        "user_name": "analyst",
        "command": command,
        "text": text_,
        "api_app_id": "A0NORTHSTAR",
        "response_url": "https://hooks.slack.invalid/commands/1",
        "trigger_id": f"{user}.1.bench",
    })


def percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    p50, p95, p99 = np.percentile(np.array(values) * 1000, [50, 95, 99])
    return f"p50 {p50:7.1f}  p95 {p95:7.1f}  p99 {p99:7.1f}  max {max(values) * 1000:7.1f} ms"

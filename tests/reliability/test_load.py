"""Load, in short: ``benchmarks/bench_load.py --short`` against `northstar run --http` and PostgreSQL.

Signed commands and button clicks at 50/s for 5 s from a separate process: every request is
acknowledged, every reply arrives and is the expected one, and the server's memory is sampled.
Two replicas with schedulers on one schema: every scheduled audit is posted exactly once. The
latency targets are the full benchmark's business (``python benchmarks/bench_load.py``), not a
test's. The two phases run as two processes at once, so the test takes as long as the longer one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "bench_load.py"
TIMEOUT_S = 240
# The developer's own tokens and settings stay out of the servers the script starts.
_PRIVATE = re.compile(r"^(NORTHSTAR_|SLACK_)|^DATABASE_URL$")


class Phase:
    """One run of the script in the background, with its figures in a JSON file."""

    def __init__(self, tmp: Path, name: str, *flags: str):
        self.summary_path = tmp / f"{name}.json"
        self.output_path = tmp / f"{name}.txt"
        env = {key: value for key, value in os.environ.items() if not _PRIVATE.match(key)}
        command = [sys.executable, str(SCRIPT), "--short", "--database", POSTGRES_URL or "", "--json", str(self.summary_path), *flags]
        self._output = self.output_path.open("w")
        self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=self._output, stderr=subprocess.STDOUT)

    def finish(self) -> tuple[int, str, dict]:
        try:
            code = self.process.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            pytest.fail(f"bench_load.py did not finish within {TIMEOUT_S} s:\n{self.output_path.read_text()[-4000:]}")
        finally:
            self._output.close()
        output = self.output_path.read_text()
        summary = json.loads(self.summary_path.read_text()) if self.summary_path.exists() else {}
        return code, output, summary


@pytest.fixture(scope="module")
def phases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Phase]]:
    tmp = tmp_path_factory.mktemp("load")
    started = {"load": Phase(tmp, "load", "--no-replicas"), "replicas": Phase(tmp, "replicas", "--no-load")}
    yield started
    for phase in started.values():
        if phase.process.poll() is None:
            phase.process.kill()
            phase.process.wait(timeout=10)


def test_every_request_is_acknowledged_and_answered_as_expected(phases):
    code, output, summary = phases["load"].finish()
    load = summary.get("load")
    assert load is not None, f"no figures written:\n{output[-4000:]}"
    assert load["planned"] == 250 and load["sent"] == load["planned"], output[-4000:]
    assert load["acked"] == load["sent"], f"{load['sent'] - load['acked']} requests not acknowledged:\n{output[-4000:]}"
    assert load["errors"] == 0, output[-4000:]
    assert (load["failed"], load["late_acks"], load["missing_replies"], load["unexpected_replies"]) == (0, 0, 0, 0), output[-4000:]
    assert (load["refused_calls"], load["signer_refusals"]) == (0, 0), output[-4000:]
    # Every kind of the mix took part and was answered.
    assert set(load["per_kind"]) == {"explain", "metric", "contract_show", "tradeoff", "acknowledge", "approve_refused", "approve",
                                     "choose_contract"}
    assert all(kind["replied"] == kind["acked"] > 0 for kind in load["per_kind"].values()), load["per_kind"]
    memory = load["memory"]
    assert memory["samples"] >= 3 and 0 < memory["start_mb"] <= memory["peak_mb"], memory
    assert "server RSS, " in output and "p99 target 100 ms:" in output
    assert code == 0, output[-4000:]


def test_two_replicas_post_every_scheduled_audit_exactly_once(phases):
    code, output, summary = phases["replicas"].finish()
    replicas = summary.get("replicas")
    assert replicas is not None, f"no figures written:\n{output[-4000:]}"
    assert replicas["replicas_alive"] == [True, True], output[-4000:]
    assert replicas["expected"] == 4 and replicas["posted"] == 4, output[-4000:]
    assert (replicas["missing"], replicas["duplicates"], replicas["unexpected"]) == ([], {}, []), output[-4000:]
    assert set(replicas["uploads"].values()) == {1}, replicas["uploads"]
    assert replicas["exactly_once"] and "every scheduled audit posted exactly once" in output
    assert code == 0, output[-4000:]

"""A throwaway PostgreSQL server the fault tests may stop and start at will.

The shared server other test runs use must never go down, so a test that needs "the database
restarts" gets a cluster of its own: ``initdb`` into a temporary directory, ``pg_ctl`` on a
free loopback port (and a Unix socket in that directory, never the system's)::

    cluster = PrivateCluster.create()        # initdb + start, about a second
    engine = make_engine(cluster.url(cluster.create_database("faults")))
    cluster.stop()                           # pg_ctl stop -m fast: every connection is cut
    cluster.start()
    cluster.destroy()

PostgreSQL refuses to run as root, so under root every command runs as the ``postgres`` OS
user, who then owns the directory.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg

DEFAULT_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/14/bin")
OS_USER_WHEN_ROOT = "postgres"


class ClusterUnavailable(RuntimeError):
    """The binaries or the OS user a private cluster needs are missing; the message says which."""


def find_bin_dir() -> Path:
    """Where initdb and pg_ctl live: NORTHSTAR_TEST_PG_BIN, the Debian layout, or PATH."""
    candidates = [os.environ.get("NORTHSTAR_TEST_PG_BIN", ""), *DEFAULT_BIN_DIRS]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    raise ClusterUnavailable(
        "initdb and pg_ctl were not found (looked in NORTHSTAR_TEST_PG_BIN, "
        + ", ".join(DEFAULT_BIN_DIRS) + " and PATH); install the PostgreSQL server package"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PrivateCluster:
    bin_dir: Path
    root: Path
    port: int
    os_user: str | None  # run the server as this user (None: as ourselves)

    @classmethod
    def create(cls) -> PrivateCluster:
        bin_dir = find_bin_dir()
        os_user = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(OS_USER_WHEN_ROOT)
            except KeyError:
                raise ClusterUnavailable(f"running as root, and there is no {OS_USER_WHEN_ROOT!r} OS user to run PostgreSQL as") from None
            os_user = OS_USER_WHEN_ROOT
        # Not under pytest's tmp_path: its parents are private to root, and the server runs as postgres.
        root = Path(tempfile.mkdtemp(prefix="northstar-pg-"))
        if os_user is not None:
            shutil.chown(root, user=os_user)
        cluster = cls(bin_dir=bin_dir, root=root, port=free_port(), os_user=os_user)
        try:
            cluster._run("initdb", "-D", str(cluster.data_dir), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
            cluster.start()
        except BaseException:
            cluster.destroy()
            raise
        return cluster

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin_dir / program), *args]
        if self.os_user is not None:
            command = ["runuser", "-u", self.os_user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            log = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            raise RuntimeError(f"{program} {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}\n{log}")

    def start(self) -> None:
        # fsync off: the data is thrown away, and a stop -m fast still shuts down cleanly.
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data_dir), "-o", options, "-l", str(self.log_file), "-w", "-t", "30", "start")

    def stop(self) -> None:
        """Shut down the way an operator's restart does: active transactions are cut off."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30", "stop")

    @property
    def running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()

    def ensure_running(self) -> None:
        if not self.running:
            self.start()

    def create_database(self, prefix: str = "faults") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return name

    def destroy(self) -> None:
        if self.running:
            try:
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
            except RuntimeError:
                pass  # the directory goes anyway; a server left behind dies with its files
        shutil.rmtree(self.root, ignore_errors=True)

"""Run the app: HTTP behind uvicorn (many replicas, each with one or more worker processes) or
Socket Mode (no public URL)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

import uvicorn
from sqlalchemy import Engine
from starlette.applications import Starlette
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from bot.compute_slots import ComputeSlots
from bot.http import build_asgi
from bot.settings import ConfigError, Settings, load_settings
from bot.slack_client import require
from metrics.errors import NorthstarError
from storage.db import check_schema_current, make_engine, normalize_url
from storage.errors import DatabaseUnavailableError

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.listeners.deps import PullRequester

logger = logging.getLogger(__name__)

# The process id tells apart the lines of the worker processes of `run --http --workers N`.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d %(threadName)s] %(message)s"


class WorkerStartupError(NorthstarError):
    """A worker process of ``run --http`` failed before it served, so the server stopped."""


def configure_logging(level: str) -> None:
    """Send every logger's records at ``level`` and above to stderr, one line each.

    Without a root handler only uvicorn's own loggers would print, and the bot's warnings (error
    references, refused requests, failed deliveries) would reach nobody.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ConfigError(f"NORTHSTAR_LOG_LEVEL is {level!r}; use DEBUG, INFO, WARNING or ERROR")
    logging.basicConfig(level=numeric, format=LOG_FORMAT, force=True)


def _engine(settings: Settings, engine: Engine | None) -> Engine:
    engine = engine or make_engine(settings.database_url)
    # Refuse to serve on a schema this code does not match; the error names the fix.
    check_schema_current(engine)
    return engine


class ListenerPool(ThreadPoolExecutor):
    """Bolt's listener threads, counting the listeners handed over that have not started yet.

    The HTTP layer declines commands and clicks with a busy answer once many are waiting, so
    that a process that cannot keep up says so instead of queueing answers without bound.
    With ``slots``, a listener computes only while it holds one (see :mod:`bot.compute_slots`).
    """

    def __init__(self, max_workers: int, *, slots: ComputeSlots | None = None):
        super().__init__(max_workers=max_workers, thread_name_prefix="northstar-listener")
        self.slots = slots
        self._count_lock = threading.Lock()
        self._waiting = 0

    def submit(self, fn, /, *args, **kwargs):
        """Run ``fn`` (Bolt's listeners) holding a compute slot."""
        return self._submit(fn, args, kwargs, slotted=True)

    def submit_without_slot(self, fn, /, *args, **kwargs):
        """Run ``fn`` without a compute slot: for work that mostly waits, such as Bolt's dispatch
        (its authorization may call Slack), which then hands the listener over with :meth:`submit`."""
        return self._submit(fn, args, kwargs, slotted=False)

    def _submit(self, fn, args, kwargs, *, slotted: bool):
        def started(*inner_args, **inner_kwargs):
            with self._count_lock:
                self._waiting -= 1
            if self.slots is None or not slotted:
                return fn(*inner_args, **inner_kwargs)
            with self.slots.held():
                return fn(*inner_args, **inner_kwargs)

        with self._count_lock:
            self._waiting += 1
        try:
            return super().submit(started, *args, **kwargs)
        except BaseException:  # shut down: the listener will never start
            with self._count_lock:
                self._waiting -= 1
            raise

    def waiting(self) -> int:
        return self._waiting


def _listener_pool(settings: Settings, *, compute_slots: bool) -> ListenerPool:
    # Bolt's default is 5 threads: too few for answers that wait on Slack's Web API and the
    # database, and modal submissions are still acknowledged from inside their listener.
    # Compute slots serve an event loop that acknowledges; in Socket Mode the listeners'
    # own ack() calls are the acknowledgements, and must not wait for a slot.
    slots = ComputeSlots(settings.listener_compute_slots) if compute_slots else None
    return ListenerPool(max_workers=settings.listener_threads, slots=slots)


def build_http_app(settings: Settings, *, engine: Engine, pull_requester: PullRequester | None = None) -> Starlette:
    """The ASGI app one HTTP process serves: the Bolt app on its own listener pool, behind Starlette."""
    # Imported here, as in run_socket: the listeners load most of the code base, which the
    # supervising parent of `--workers N` never runs.
    from bot.app import build_app

    require(settings, "slack_signing_secret")
    listeners = _listener_pool(settings, compute_slots=True)
    app = build_app(settings, engine=engine, pull_requester=pull_requester, listener_executor=listeners)
    return build_asgi(app, engine=engine, signing_secret=settings.slack_signing_secret.get_secret_value(),
                      listener_pool=listeners)


def serve_worker() -> Starlette:
    """uvicorn's app factory in each worker process of ``run --http --workers N``.

    uvicorn spawns workers as fresh interpreters, so each reads the settings from the environment
    and builds its own engine and app. A configuration or schema error would recur on every
    restart: it exits with uvicorn's startup-failure code, which stops the supervisor instead of
    a restart loop. Anything else (Slack unreachable for Bolt's ``auth.test``) may pass, so the
    supervisor tries the worker again.
    """
    try:
        settings = load_settings()
        configure_logging(settings.log_level)
        engine = make_engine(settings.database_url)
        try:
            check_schema_current(engine)
        except DatabaseUnavailableError as exc:
            # The parent checked the schema before it started any worker: this one is a restart
            # during an outage, and serves as a running worker does (503 on /healthz meanwhile).
            logger.warning("worker %d started while the database is unreachable: %s", os.getpid(), exc)
        return build_http_app(settings, engine=engine)
    except NorthstarError as exc:
        logger.error("worker %d could not start: %s", os.getpid(), exc)
        sys.exit(STARTUP_FAILURE)


def in_memory_database(database_url: str) -> bool:
    """Whether ``database_url`` is an in-memory SQLite database, which no other process can open."""
    url = normalize_url(database_url)
    database = url.database or ""
    return url.get_backend_name() == "sqlite" and (
        database in ("", ":memory:") or database.startswith("file::memory:") or url.query.get("mode") == "memory"
    )


def check_http_workers(settings: Settings, workers: int) -> None:
    """Refuse a number of worker processes the configuration cannot serve with."""
    if workers < 1:
        raise ConfigError(f"--workers is {workers}; use 1 or more")
    if workers > 1 and in_memory_database(settings.database_url):
        raise ConfigError(
            f"--workers {workers} needs a database every worker process can open, but DATABASE_URL is an in-memory "
            "SQLite database (each process would get its own, empty one); use a SQLite file or PostgreSQL, or one worker"
        )


def _exit_after_shutdown(signum: int, frame: FrameType | None) -> NoReturn:
    raise SystemExit(0)


class SocketPerWorker(Multiprocess):
    """uvicorn's supervisor, giving each worker a listening socket of its own on the port (SO_REUSEPORT).

    Workers sharing one socket take each connection by whichever accepts first, and a
    kept-alive connection stays with its worker: a burst of connections splits unevenly and
    stays so (at 200 requests/s on two workers, 68% of the CPU in one and 32% in the other, the
    busier one's answers seconds late). With a socket each, the kernel spreads new connections
    over the workers evenly. Each socket is closed here once its worker has it, so that a dead
    worker's socket closes with it and its share goes to the others, and then its replacement.
    """

    def __init__(self, config: uvicorn.Config):
        self._handed_out: list[socket.socket] = []
        self.bind_error: OSError | None = None
        super().__init__(config, sockets=[])

    @staticmethod
    def available(config: uvicorn.Config) -> bool:
        # Only Linux spreads connections over the sockets; a port of 0 would give each its own port.
        return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT") and config.uds is None and config.fd is None and bool(config.port)

    @staticmethod
    def bind(config: uvicorn.Config) -> socket.socket:
        sock = socket.socket(socket.AF_INET6 if ":" in config.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind((config.host, config.port))
        except OSError:
            sock.close()
            raise
        return sock

    @classmethod
    def check_port(cls, config: uvicorn.Config) -> None:
        """Fail here, before any worker starts, when the port cannot be had."""
        try:
            cls.bind(config).close()
        except OSError as exc:
            raise WorkerStartupError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from exc
        logger.info("Uvicorn running on http://%s:%d with a socket per worker (Press CTRL+C to quit)", config.host, config.port)

    @property
    def sockets(self) -> list[socket.socket]:
        # Read once for each worker uvicorn starts: each gets a new socket.
        sock = self.bind(self.config)
        self._handed_out.append(sock)
        return [sock]

    @sockets.setter
    def sockets(self, _shared: list[socket.socket]) -> None:
        pass  # Multiprocess.__init__ stores the shared sockets; there are none

    @contextmanager
    def _starting_workers(self) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            # No socket for a worker (the port taken meanwhile, out of descriptors): stop every
            # worker as after a signal, rather than leave them running under a dead supervisor.
            logger.error("cannot listen on %s:%d for a worker: %s", self.config.host, self.config.port, exc)
            self.bind_error = exc
            self.should_exit.set()
        finally:
            # Each worker has its own descriptor of its socket by now (passed when it was started).
            handed_out, self._handed_out = self._handed_out, []
            for sock in handed_out:
                sock.close()

    def init_processes(self) -> None:
        with self._starting_workers():
            super().init_processes()

    def restart_all(self) -> None:
        with self._starting_workers():
            super().restart_all()

    def keep_subprocess_alive(self) -> None:
        with self._starting_workers():
            super().keep_subprocess_alive()


def run_http(
    settings: Settings,
    host: str = "0.0.0.0",
    port: int = 3000,
    *,
    engine: Engine | None = None,
    pull_requester: PullRequester | None = None,
    workers: int = 1,
) -> None:
    """Serve ``/slack/events``, ``/healthz`` and ``/metrics`` with uvicorn until interrupted.

    With ``workers`` > 1 this process binds the port and supervises that many worker processes
    (uvicorn's supervisor: a worker that dies is replaced); each builds its own app with
    :func:`serve_worker`, and this process builds none. Whatever the caller runs around this call
    (the scheduler, the outbox worker) stays in this process only.
    """
    check_http_workers(settings, workers)
    require(settings, "slack_signing_secret")
    engine = _engine(settings, engine)
    options = {"host": host, "port": port, "log_level": settings.log_level.lower(), "access_log": False}
    if workers == 1:
        # uvicorn re-raises the SIGTERM it shut down on, and the default action would end the
        # process there, before the caller stops what runs around this call (the scheduler, the
        # outbox worker). Unwinding instead lets them finish as after Ctrl-C.
        previous = signal.signal(signal.SIGTERM, _exit_after_shutdown)
        try:
            uvicorn.run(build_http_app(settings, engine=engine, pull_requester=pull_requester), **options)
        finally:
            signal.signal(signal.SIGTERM, previous)
        return
    if pull_requester is not None:
        raise ValueError("a pull requester cannot be handed to worker processes; serve with workers=1")
    # uvicorn.run(..., workers=N) in three steps, so that a worker failing to start is seen here:
    # the supervisor stops on it but returns as after a signal.
    config = uvicorn.Config(f"{__name__}:{serve_worker.__name__}", factory=True, workers=workers, **options)
    if SocketPerWorker.available(config):
        SocketPerWorker.check_port(config)
        supervisor: Multiprocess = SocketPerWorker(config)
    else:
        supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    supervisor.run()
    if isinstance(supervisor, SocketPerWorker) and supervisor.bind_error is not None:
        raise WorkerStartupError(f"a worker could not listen on {host}:{port}: {supervisor.bind_error}")
    failed = [process.pid for process in supervisor.processes if process.exitcode == STARTUP_FAILURE]
    if failed:
        raise WorkerStartupError(f"worker process {failed[0]} could not start (its error is logged above), so the server stopped")


def run_socket(
    settings: Settings,
    *,
    engine: Engine | None = None,
    pull_requester: PullRequester | None = None,
    on_ready: Callable[[SocketModeHandler], None] | None = None,
) -> None:
    """Connect over Socket Mode (``SLACK_APP_TOKEN``, ``xapp-…`` with ``connections:write``) and block."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.app import build_app

    require(settings, "slack_app_token", "slack_bot_token")
    engine = _engine(settings, engine)
    app = build_app(settings, engine=engine, pull_requester=pull_requester, socket_mode=True, listener_executor=_listener_pool(settings, compute_slots=False))
    handler = SocketModeHandler(app, settings.slack_app_token.get_secret_value())
    if on_ready is not None:
        on_ready(handler)
    handler.start()

"""The `northstar` command line: contracts, database, stored Slack tokens, and the running bot.

The CLI is an edge: it reads settings, builds the engine, and passes both down. Exit code 1
means the input was wrong (and nothing was written); messages say what and where.
"""

from __future__ import annotations

import difflib
import getpass
import json
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from bot.contract_files import LoadedContract, load_contract_files
from bot.settings import ConfigError, Settings, load_settings
from metrics.errors import NorthstarError
from metrics.lint import Severity

app = typer.Typer(help="Northstar: metric contracts for AI features, audited in Slack.", no_args_is_help=True, add_completion=False)
contracts_app = typer.Typer(help="Write, lint, version and store metric contracts.", no_args_is_help=True)
db_app = typer.Typer(help="The bot's own database.", no_args_is_help=True)
tokens_app = typer.Typer(help="Slack tokens stored by OAuth installs, encrypted with NORTHSTAR_ENCRYPTION_KEY.", no_args_is_help=True)
app.add_typer(contracts_app, name="contracts")
app.add_typer(db_app, name="db")
app.add_typer(tokens_app, name="tokens")

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

_SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}

WorkspaceOption = Annotated[
    str | None, typer.Option("--workspace", "-w", help="Slack team id the contracts belong to (default: NORTHSTAR_DEFAULT_WORKSPACE)")
]


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(code=1)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise _fail(str(exc)) from None


def _engine(settings: Settings, *, migrate: bool = False):
    from storage.db import check_schema_current, make_engine, upgrade_database

    if settings.sqlite_path is not None:
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    try:
        if migrate:
            upgrade_database(engine)
        else:
            check_schema_current(engine)
    except NorthstarError as exc:
        raise _fail(str(exc)) from None
    return engine


def _print_report(item: LoadedContract) -> None:
    if item.error is not None:
        console.print(f"[bold red]✗[/] {escape(str(item.path))}")
        for line in item.error.splitlines():
            console.print(f"    [red]{escape(line)}[/]")
        return
    assert item.contract is not None and item.report is not None
    findings = item.report.findings
    mark = "[green]✓[/]" if item.report.ok else "[bold red]✗[/]"
    summary = "clean" if not findings else f"{len(item.report.errors)} error(s), {len(item.report.warnings)} warning(s)"
    console.print(f"{mark} {escape(str(item.path))} [dim]({escape(item.contract.name)}: {summary})[/]")
    for finding in findings:
        style = _SEVERITY_STYLE[finding.severity]
        console.print(
            f"    [{style}]{finding.severity.value}[/] {escape(f'[{finding.rule}]')} "
            f"[bold]{escape(finding.subject)}[/]: {escape(finding.message)}"
        )


@contracts_app.command("lint")
def contracts_lint(paths: Annotated[list[Path], typer.Argument(help="Contract files or folders")]) -> None:
    """Validate and lint contracts; exit 1 when any has an error."""
    loaded = load_contract_files(paths)
    if not loaded:
        raise _fail(f"no contract files (*.yml, *.yaml) under {', '.join(map(str, paths))}")
    for item in loaded:
        _print_report(item)
    if not all(item.ok for item in loaded):
        raise typer.Exit(code=1)


@contracts_app.command("sync")
def contracts_sync(
    directory: Annotated[Path, typer.Argument(help="Folder of contract YAML files (e.g. a git checkout)")],
    workspace: WorkspaceOption = None,
    author: Annotated[str | None, typer.Option(help="Who made this change (default: the current user)")] = None,
) -> None:
    """Store a new version of every changed contract, in one transaction (nothing on any error)."""
    from sqlmodel import Session

    from storage.contracts import sync_contract

    if not directory.exists():
        raise _fail(f"{directory} does not exist")
    loaded = load_contract_files([directory])
    if not loaded:
        raise _fail(f"no contract files (*.yml, *.yaml) in {directory}")
    for item in loaded:
        _print_report(item)
    if not all(item.ok for item in loaded):
        raise _fail("nothing stored: fix the errors above and sync again")
    settings = _settings()
    team_id = workspace or settings.default_workspace
    engine = _engine(settings)
    who = author or getpass.getuser()
    table = Table("contract", "version", "change", title=f"Workspace {team_id}")
    with Session(engine) as session:
        results = [
            sync_contract(
                session=session,
                team_id=team_id,
                contract=item.contract,
                source_yaml=item.text,
                author=who,
                source_path=str(item.path),
            )
            for item in loaded
        ]
        session.commit()
        for result in results:
            table.add_row(result.contract_row.name, str(result.version_row.version), "new version" if result.created else "unchanged")
    console.print(table)


@contracts_app.command("list")
def contracts_list(workspace: WorkspaceOption = None) -> None:
    """List stored contracts with their latest version."""
    from sqlmodel import Session

    from storage.contracts import list_contracts

    settings = _settings()
    engine = _engine(settings)
    team_id = workspace or settings.default_workspace
    with Session(engine) as session:
        rows = list_contracts(session=session, team_id=team_id)
        if not rows:
            console.print(f"No contracts in workspace {team_id}. Store some with `northstar contracts sync DIR`.")
            return
        table = Table("contract", "latest version", "created", "paused until", title=f"Workspace {team_id}")
        for row in rows:
            table.add_row(row.name, str(row.latest_version), f"{row.created_at:%Y-%m-%d %H:%M}", f"{row.paused_until:%Y-%m-%d %H:%M}" if row.paused_until else "")
        console.print(table)


@contracts_app.command("show")
def contracts_show(
    name: str,
    version: Annotated[int | None, typer.Option("--version", "-v", help="Version number (default: latest)")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Print one version of a contract: its YAML as stored, who wrote it and who signed it."""
    from sqlmodel import Session

    from storage.contracts import get_version, list_signatures

    settings = _settings()
    engine = _engine(settings)
    team_id = workspace or settings.default_workspace
    with Session(engine) as session:
        row = get_version(session=session, team_id=team_id, name=name, version=version)
        if row is None:
            which = f"version {version} of " if version else ""
            raise _fail(f"no {which}contract {name!r} in workspace {team_id} (see `northstar contracts list`)")
        signatures = list_signatures(session=session, team_id=team_id, name=name, version=row.version)
        console.print(f"[bold]{name}[/] version {row.version} by {row.author} at {row.created_at:%Y-%m-%d %H:%M} UTC")
        if signatures:
            console.print("signed by " + ", ".join(f"{s.role}: {s.user_id}" for s in signatures))
        else:
            console.print("[yellow]not signed yet[/]")
        typer.echo(row.source_yaml)


@contracts_app.command("diff")
def contracts_diff(name: str, a: int, b: int, workspace: WorkspaceOption = None) -> None:
    """Show what changed between two versions of a contract."""
    from sqlmodel import Session

    from storage.contracts import get_version

    settings = _settings()
    engine = _engine(settings)
    team_id = workspace or settings.default_workspace
    with Session(engine) as session:
        rows = {}
        for number in (a, b):
            row = get_version(session=session, team_id=team_id, name=name, version=number)
            if row is None:
                raise _fail(f"contract {name!r} has no version {number} in workspace {team_id}")
            rows[number] = row
    diff = difflib.unified_diff(
        rows[a].source_yaml.splitlines(),
        rows[b].source_yaml.splitlines(),
        fromfile=f"{name} v{a}",
        tofile=f"{name} v{b}",
        lineterm="",
    )
    text = "\n".join(diff)
    if not text:
        parsed_equal = json.dumps(rows[a].parsed, sort_keys=True) == json.dumps(rows[b].parsed, sort_keys=True)
        console.print("no differences" + ("" if parsed_equal else " in the YAML text"))
        return
    for line in text.splitlines():
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else "cyan" if line.startswith("@@") else None
        console.print(line, style=style, markup=False)


@app.command("pull")
def pull(
    contracts: Annotated[list[str] | None, typer.Argument(help="Contract names (default: every active contract)")] = None,
    at: Annotated[datetime | None, typer.Option(help="Pull as if it were this time (UTC unless an offset is given)")] = None,
    backfill: Annotated[int | None, typer.Option(min=1, help="Pull the last N complete days, oldest first")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Pull contract metrics from their warehouses into snapshots, evaluate them and queue alerts."""
    from bot.jobs.pull import run_pull_command

    settings = _settings()
    engine = _engine(settings)
    team_id = workspace or settings.default_workspace
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console, transient=True) as progress:
        total = (backfill or 1) * max(1, len(contracts or []) or _count_contracts(engine, team_id))
        task = progress.add_task("pulling", total=total)

        def advance(line: str) -> None:
            progress.console.print(line, markup=False)
            progress.advance(task)

        lines = run_pull_command(
            engine=engine, settings=settings, team_id=team_id, names=contracts or (), at=at, backfill_days=backfill, progress=advance
        )
    if not lines:
        console.print(f"No contracts to pull in workspace {team_id}.")
    elif any("failed" in line for line in lines):
        raise typer.Exit(code=1)


def _count_contracts(engine, team_id: str) -> int:
    from sqlmodel import Session

    from storage.contracts import list_contracts

    with Session(engine) as session:
        return len(list_contracts(session=session, team_id=team_id))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the bot's database to the schema this code needs."""
    from storage.db import current_revision

    settings = _settings()
    engine = _engine(settings, migrate=True)
    console.print(f"database at revision {current_revision(engine)}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's schema revision."""
    from storage.db import current_revision, make_engine

    settings = _settings()
    console.print(current_revision(make_engine(settings.database_url)) or "no schema (run `northstar db upgrade`)")


@tokens_app.command("rotate")
def tokens_rotate() -> None:
    """Re-encrypt every stored token with the first key of NORTHSTAR_ENCRYPTION_KEY, all or nothing.

    Run it after putting a new key first in the variable (old keys after it, so they still
    decrypt); once it succeeds, the old keys can be removed. Running it again changes nothing.
    """
    from bot.oauth import ENCRYPTION_KEY_VARIABLE, parse_encryption_keys, rotate_stored_tokens

    settings = _settings()
    try:
        settings.require("encryption_key")
        keys = parse_encryption_keys(settings.encryption_key.get_secret_value())
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    engine = _engine(settings)
    try:
        rotation = rotate_stored_tokens(engine, keys)
    except NorthstarError as exc:
        raise _fail(str(exc)) from None
    if rotation.reencrypted + rotation.already_current == 0:
        console.print("No stored tokens: nothing to re-encrypt.")
        return
    console.print(
        f"Re-encrypted {rotation.reencrypted} token(s) with the first key of {ENCRYPTION_KEY_VARIABLE}; "
        f"{rotation.already_current} already used it."
    )
    if len(keys) > 1:
        console.print(
            f"Every stored token now decrypts with the first key: the others can be removed from {ENCRYPTION_KEY_VARIABLE} "
            "(once every running replica has this key first, so that none still writes under an old one)."
        )


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option(help="Folder to write the demo into (replaced)")] = Path("northstar-demo"),
    seed: Annotated[int, typer.Option(help="Seed of the generated warehouse")] = 7,
    quiet: Annotated[bool, typer.Option(help="Do not print the transcript")] = False,
) -> None:
    """Run the whole product on this machine against a generated warehouse and a Slack stand-in."""
    from bot.demo import run_demo

    result = run_demo(out_dir=out, console=console, seed=seed, show=not quiet)
    messages = sum(len(c.messages) for c in result.transcript.channels)
    launches = ", ".join(f"{name}: {state}" for name, state in result.launch_states.items())
    console.print(
        f"\n[bold]Done in {result.seconds:.1f} s[/]: {result.pulls} pulls, {messages} messages in "
        f"{len(result.transcript.channels)} channels; launches: {escape(launches)}"
    )
    console.print(f"Open [bold]{escape(str(result.index_html))}[/] to see the messages as Slack lays them out; charts are in {escape(str(result.charts_dir))}/")


@app.command("run")
def run(
    http: Annotated[bool, typer.Option("--http", help="Serve Slack's HTTP requests (ASGI, uvicorn)")] = False,
    socket: Annotated[bool, typer.Option("--socket", help="Connect with Socket Mode (needs SLACK_APP_TOKEN)")] = False,
    host: Annotated[str, typer.Option(help="Interface for --http")] = "0.0.0.0",
    port: Annotated[int, typer.Option(help="Port for --http")] = 3000,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Processes serving --http, one core each (default: NORTHSTAR_HTTP_WORKERS, or 1)"),
    ] = None,
    scheduler: Annotated[bool, typer.Option(help="Also run the scheduler and the outbox worker in this process")] = True,
) -> None:
    """Run the bot: HTTP for production (several replicas), Socket Mode for a small team."""
    from bot.runner import check_http_workers, configure_logging, run_http, run_socket

    if http == socket:
        raise _fail("choose exactly one of --http or --socket")
    if socket and workers is not None and workers > 1:
        raise _fail("--workers is for --http; with --socket, start more processes instead (Slack spreads events over their connections)")
    settings = _settings()
    processes = workers or settings.http_workers
    try:
        configure_logging(settings.log_level)
        if http:
            # Before the schema check, which an in-memory database would fail with a misleading fix.
            check_http_workers(settings, processes)
    except NorthstarError as exc:
        raise _fail(str(exc)) from None
    engine = _engine(settings)
    background: AbstractContextManager[None] = nullcontext()
    if scheduler:
        # Imported only when needed: it loads the whole app, which a parent that only supervises
        # `--workers N` (the workers build their own) would otherwise hold in memory for nothing.
        from bot.workers import background_workers

        background = background_workers(settings=settings, engine=engine)
    try:
        # With several HTTP workers the scheduler and the outbox worker still run here, once.
        with background:
            if http:
                run_http(settings, host=host, port=port, engine=engine, workers=processes)
            else:
                run_socket(settings, engine=engine)
    except NorthstarError as exc:
        raise _fail(str(exc)) from None


@app.command("outbox")
def outbox(
    failed: Annotated[bool, typer.Option("--failed", help="Only messages that failed for good")] = False,
    limit: Annotated[int, typer.Option(help="At most this many rows")] = 50,
    workspace: WorkspaceOption = None,
) -> None:
    """Show queued, delivered and failed messages."""
    from bot.outbox_worker import outbox_status

    settings = _settings()
    engine = _engine(settings)
    rows = outbox_status(engine, failed_only=failed, team_id=workspace, limit=limit)
    if not rows:
        console.print("No failed messages." if failed else "The outbox is empty.")
        return
    table = Table("key", "kind", "channel", "status", "attempts", "error / ts")
    for row in rows:
        table.add_row(escape(row.key), row.kind, escape(row.channel), row.status, str(row.attempts), escape(row.last_error or row.delivered_ts or ""))
    console.print(table)


@app.command("audit")
def audit(
    contract: str,
    post: Annotated[bool, typer.Option("--post", help="Queue it for the contract's channel instead of printing")] = False,
    week_end: Annotated[datetime | None, typer.Option(help="Last day of the week to audit (default: today)")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Print this week's audit of a contract as text, or queue it for Slack."""
    from bot.blocks.audit import render_text
    from bot.jobs.audit import compose_audit, post_audit
    from storage.db import utcnow

    settings = _settings()
    engine = _engine(settings)
    team_id = workspace or settings.default_workspace
    now = utcnow()
    end = (week_end or now).date()
    if post:
        rows = post_audit(engine=engine, team_id=team_id, contract_name=contract, week_end=end, now=now)
        console.print(f"queued {len(rows)} message(s)" if rows else "this week's audit was already queued")
        return
    message = compose_audit(engine=engine, team_id=team_id, contract_name=contract, week_end=end, now=now, with_chart=False)
    typer.echo(render_text(message.payloads))


@app.command("launches")
def launches(
    contract: Annotated[str | None, typer.Option("--contract", help="Only this contract's decisions")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """The record of launch decisions: recommendation, votes and final state."""
    from bot.launches import list_launches

    settings = _settings()
    engine = _engine(settings)
    views = list_launches(engine, workspace or settings.default_workspace, contract)
    if not views:
        console.print("No launch decisions yet.")
        return
    table = Table("requested", "contract", "experiment", "recommendation", "state", "votes")
    for view in views:
        votes = "; ".join(f"{v.role} {v.user_id}: {v.vote}" + (f" ({v.reason})" if v.reason else "") for v in view.votes)
        table.add_row(f"{view.requested_at:%Y-%m-%d %H:%M}", escape(view.contract), escape(view.experiment or ""), view.recommendation, view.state, escape(votes))
    console.print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()

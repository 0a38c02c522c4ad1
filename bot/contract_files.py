"""Read contract YAML files from disk and lint them: the input side of `contracts lint/sync`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from metrics.contract import Contract, parse_contract
from metrics.errors import ContractError
from metrics.lint import LintReport, lint_contract
from storage.warehouse.guard import check_read_only_sql

CONTRACT_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True)
class LoadedContract:
    """One file: its text and either the parsed contract with its lint report, or the error."""

    path: Path
    text: str
    contract: Contract | None = None
    report: LintReport | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.report is not None and self.report.ok


def find_contract_files(paths: Iterable[Path]) -> list[Path]:
    """Expand folders into the contract files they hold (sorted, so output is stable)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in CONTRACT_SUFFIXES and p.is_file()))
        else:
            found.append(path)
    return found


def sql_problems(sql: str, *, dialect: str | None = None) -> tuple[str, ...]:
    return check_read_only_sql(sql, dialect=dialect).problems


def load_contract_file(path: Path, *, dialect: str | None = None) -> LoadedContract:
    """Read, parse and lint one file; never raises for bad content."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return LoadedContract(path=path, text="", error=f"{path}: cannot read: {exc}")
    try:
        contract = parse_contract(text, source=str(path))
    except ContractError as exc:
        return LoadedContract(path=path, text=text, error=str(exc))
    report = lint_contract(contract, sql_checker=lambda sql: sql_problems(sql, dialect=dialect))
    return LoadedContract(path=path, text=text, contract=contract, report=report)


def load_contract_files(paths: Iterable[Path], *, dialect: str | None = None) -> list[LoadedContract]:
    loaded = [load_contract_file(path, dialect=dialect) for path in find_contract_files(paths)]
    names: dict[str, Path] = {}
    result = []
    for item in loaded:
        if item.contract is not None:
            first = names.setdefault(item.contract.name, item.path)
            if first != item.path:
                item = LoadedContract(
                    path=item.path,
                    text=item.text,
                    error=f"{item.path}: contract name {item.contract.name!r} is already used by {first}",
                )
        result.append(item)
    return result

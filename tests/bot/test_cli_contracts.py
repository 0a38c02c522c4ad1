"""`northstar contracts …` and `northstar db …` end to end, on a real SQLite file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from bot.cli import app
from storage.db import make_engine
from storage.models import Contract, ContractVersion

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "contracts"
runner = CliRunner()


@pytest.fixture
def db_url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("NORTHSTAR_DEFAULT_WORKSPACE", "T0LOCAL")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    return url


@pytest.fixture
def contracts_dir(tmp_path):
    target = tmp_path / "contracts"
    shutil.copytree(EXAMPLES, target)
    return target


def counts(url):
    engine = make_engine(url)
    with Session(engine) as session:
        result = (
            session.exec(select(func.count()).select_from(Contract)).one(),
            session.exec(select(func.count()).select_from(ContractVersion)).one(),
        )
    engine.dispose()
    return result


def test_lint_examples_passes_and_shows_the_deliberate_warning():
    result = runner.invoke(app, ["contracts", "lint", str(EXAMPLES)])
    assert result.exit_code == 0, result.output
    assert "accuracy-on-rare-positives" in result.output
    assert result.output.count("✓") == len(list(EXAMPLES.glob("*.yml")))


def test_lint_bad_yaml_exits_1_naming_file_and_line(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\nchannel: [unclosed\n")
    result = runner.invoke(app, ["contracts", "lint", str(bad)])
    assert result.exit_code == 1
    assert "bad.yml:" in result.output and "invalid YAML" in result.output


def test_commands_refuse_an_unmigrated_database(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    result = runner.invoke(app, ["contracts", "list"])
    assert result.exit_code == 1
    assert "northstar db upgrade" in result.output


def test_sync_is_idempotent_and_versions_changes(db_url, contracts_dir):
    first = runner.invoke(app, ["contracts", "sync", str(contracts_dir)])
    assert first.exit_code == 0, first.output
    assert counts(db_url) == (4, 4)

    again = runner.invoke(app, ["contracts", "sync", str(contracts_dir)])
    assert again.exit_code == 0 and "new version" not in again.output
    assert counts(db_url) == (4, 4)

    fraud = contracts_dir / "fraud-screening.yml"
    fraud.write_text(fraud.read_text().replace("weekly_volume: 150000", "weekly_volume: 160000"))
    changed = runner.invoke(app, ["contracts", "sync", str(contracts_dir)])
    assert changed.exit_code == 0
    assert counts(db_url) == (4, 5)

    diff = runner.invoke(app, ["contracts", "diff", "fraud-screening", "1", "2"])
    assert "-  weekly_volume: 150000" in diff.output and "+  weekly_volume: 160000" in diff.output

    shown = runner.invoke(app, ["contracts", "show", "fraud-screening", "--version", "1"])
    assert "weekly_volume: 150000" in shown.output and "version 1" in shown.output


def test_sync_with_one_bad_file_writes_nothing(db_url, contracts_dir):
    broken = contracts_dir / "support-deflection.yml"
    broken.write_text(broken.read_text().replace("layer: business", "layer: busines", 1))
    result = runner.invoke(app, ["contracts", "sync", str(contracts_dir)])
    assert result.exit_code == 1
    assert "support-deflection.yml:" in result.output and "layer" in result.output
    assert "nothing stored" in result.output
    assert counts(db_url) == (0, 0)


def test_sync_refuses_lint_errors(db_url, contracts_dir):
    recs = contracts_dir / "recommendations.yml"
    recs.write_text(recs.read_text().replace("role: guardrail", "role: secondary"))
    result = runner.invoke(app, ["contracts", "sync", str(contracts_dir)])
    assert result.exit_code == 1 and "no-guardrail" in result.output
    assert counts(db_url) == (0, 0)


def test_workspaces_do_not_see_each_other(db_url, contracts_dir):
    assert runner.invoke(app, ["contracts", "sync", str(contracts_dir), "--workspace", "T0A"]).exit_code == 0
    listed_b = runner.invoke(app, ["contracts", "list", "--workspace", "T0B"])
    assert "No contracts in workspace T0B" in listed_b.output
    shown_b = runner.invoke(app, ["contracts", "show", "fraud-screening", "--workspace", "T0B"])
    assert shown_b.exit_code == 1 and "no contract 'fraud-screening' in workspace T0B" in shown_b.output


def test_show_unknown_contract_says_where_to_look(db_url):
    result = runner.invoke(app, ["contracts", "show", "nope"])
    assert result.exit_code == 1 and "northstar contracts list" in result.output

"""Pull a contract's experiments: per-arm sufficient statistics for launch scorecards.

Each experiment metric is stored as a snapshot under ``"<experiment>:<metric>"`` (see
:func:`bot.launches.experiment_snapshot_key`), so the scorecard reads the arms later without the
warehouse. A failed read is stored as a failed snapshot; it never hides an older good one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from bot.jobs.pull import WarehouseFactory, as_warehouse_factory
from bot.launches import experiment_snapshot_key
from bot.settings import Settings
from storage.contracts import get_contract, get_version, parse_version
from storage.db import session_scope
from storage.snapshots import add_snapshot
from storage.warehouse.errors import WarehouseError
from storage.warehouse.pushdown import pull_statistics


@dataclass
class ExperimentPull:
    """What one experiment pull stored."""

    contract: str
    experiment: str
    pulled: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        text = f"{self.contract} experiment {self.experiment}: {len(self.pulled)} metric(s) pulled"
        if self.failed:
            text += "; failed: " + ", ".join(f"{m} ({reason})" for m, reason in self.failed.items())
        return text


def pull_experiments(
    *,
    engine: Engine,
    settings_or_warehouse_factory: Settings | WarehouseFactory,
    team_id: str,
    contract_name: str,
    window_start: datetime,
    window_end: datetime,
    now: datetime,
    names: tuple[str, ...] = (),
) -> list[ExperimentPull]:
    """Pull every experiment of a contract (or those named) for one window."""
    with session_scope(engine) as session:
        row = get_contract(session=session, team_id=team_id, name=contract_name)
        version = get_version(session=session, team_id=team_id, name=contract_name) if row else None
        if row is None or version is None:
            return []
        contract_id, version_id, spec = row.id, version.id, parse_version(version)
    experiments = [e for e in spec.experiments if not names or e.name in names]
    if not experiments:
        return []
    warehouse = as_warehouse_factory(settings_or_warehouse_factory, team_id=team_id)(spec.warehouse)
    results = []
    try:
        for experiment in experiments:
            result = ExperimentPull(contract=spec.name, experiment=experiment.name)
            for metric_name, experiment_metric in experiment.metrics.items():
                metric = spec.metric(metric_name)
                key = experiment_snapshot_key(experiment.name, metric_name)
                try:
                    pulled = pull_statistics(
                        warehouse, metric, window_start=window_start, window_end=window_end,
                        experiment_metric=experiment_metric, experiment=experiment,
                    )
                except WarehouseError as exc:
                    values = {"status": "failed", "error": exc.reason}
                    result.failed[metric_name] = exc.reason
                else:
                    values = {"value": pulled.value, "sample_size": pulled.sample_size, "stats": pulled.stats}
                    result.pulled.append(metric_name)
                with session_scope(engine) as session:
                    add_snapshot(
                        session=session, team_id=team_id, contract_id=contract_id, contract_version_id=version_id,
                        metric=key, window_start=window_start, window_end=window_end, pulled_at=now, **values,
                    )
            results.append(result)
    finally:
        warehouse.dispose()
    return results

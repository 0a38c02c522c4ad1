"""Push-down histogram vs pulling raw rows into pandas, on DuckDB and PostgreSQL.

    python benchmarks/bench_pushdown.py [--rows 10000000] [--engines duckdb,postgres]

Generates a prediction table (score, label with ~2% positives, segment) in a temporary DuckDB
file and a temporary PostgreSQL schema, then for ``rows / 10`` and ``rows`` rows times

(a) ``pull_statistics`` of a segmented 100-bin classification metric (the warehouse aggregates),
(b) fetching the same rows raw (``pd.read_sql`` through SQLAlchemy on PostgreSQL; DuckDB's own
    ``fetch_df``, its fastest raw path) and binning them with ``ScoreHistogram.from_arrays``,

checks both give the same histogram and recall at 0.7, and prints times, the speed-up and each
path's peak memory. Every measurement runs in a fresh child process, so its peak RSS belongs to
that path alone. Everything it creates is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WINDOW = {"window_start": datetime(2026, 9, 1), "window_end": datetime(2026, 9, 8)}
SQL = "SELECT score, label, segment FROM predictions WHERE ts >= :window_start AND ts < :window_end"
THRESHOLD = 0.7
BINS = 100
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


# --------------------------------------------------------------------------- children


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _child(path: str, engine: str, url: str, trace: bool) -> dict:
    import tracemalloc

    import numpy as np
    import pandas as pd
    import sqlalchemy as sa

    from metrics.classification import ScoreHistogram
    from metrics.contract import Metric
    from storage.warehouse.pushdown import histogram_edges, pull_statistics
    from storage.warehouse.runner import connect_warehouse

    baseline = _rss_mb()
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    if path == "pushdown":
        metric = Metric(
            name="fraud_recall", layer="model", role="secondary", direction="increase", kind="classification",
            sql=SQL, classification={"statistic": "recall", "threshold": THRESHOLD, "bins": BINS, "segment_column": "segment"},
        )
        warehouse = connect_warehouse("bench", url, statement_timeout_s=600)
        pulled = pull_statistics(warehouse, metric, **WINDOW)
        warehouse.dispose()
        histogram, recall = pulled.stats, pulled.value
    else:
        if engine == "duckdb":
            import duckdb

            with duckdb.connect(sa.engine.make_url(url).database, read_only=True) as con:
                frame = con.execute(SQL.replace(":window_start", "$window_start").replace(":window_end", "$window_end"), WINDOW).fetch_df()
        else:
            engine_ = sa.create_engine(url)
            with engine_.connect() as connection:
                frame = pd.read_sql(sa.text(SQL), connection, params=WINDOW)
            engine_.dispose()
        built = ScoreHistogram.from_arrays(
            frame["label"].to_numpy(np.int8),
            np.clip(frame["score"].to_numpy(np.float64), 0.0, 1.0),
            edges=histogram_edges(BINS),
            segments=frame["segment"].to_numpy(),
        )
        histogram, recall = built.to_dict(), built.total().confusion_at(THRESHOLD).recall
    seconds = time.perf_counter() - started
    traced = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "seconds": seconds,
        "rss_growth_mb": peak_rss - baseline,
        "tracemalloc_peak_mb": traced,
        "histogram": {k: histogram[k] for k in ("edges", "segments", "pos", "neg")},
        "recall": recall,
    }


def _run_child(path: str, engine: str, url: str, trace: bool) -> dict:
    command = [sys.executable, __file__, "--child", path, "--child-engine", engine, "--child-url", url]
    if trace:
        command.append("--trace")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{path} on {engine} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- data


def _make_duckdb(directory: Path, rows: int) -> str:
    import duckdb

    path = directory / f"bench_{rows}.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("SELECT setseed(0.42)")
        con.execute(
            f"""
            CREATE TABLE predictions AS
            SELECT ROUND(random(), 3) AS score,
                   CAST(random() < 0.02 AS INTEGER) AS label,
                   ['emea', 'amer', 'apac'][1 + CAST(range % 3 AS INTEGER)] AS segment,
                   TIMESTAMP '2026-09-01' + INTERVAL (range % 604800) SECOND AS ts
            FROM range({rows})
            """
        )
    return f"duckdb:///{path}"


def _make_postgres(admin, schema: str, rows: int) -> None:
    with admin.begin() as c:
        c.exec_driver_sql(f"DROP TABLE IF EXISTS {schema}.predictions")
        c.exec_driver_sql("SELECT setseed(0.42)")
        c.exec_driver_sql(
            f"""
            CREATE TABLE {schema}.predictions AS
            SELECT ROUND(random()::numeric, 3)::double precision AS score,
                   (random() < 0.02)::integer AS label,
                   (ARRAY['emea', 'amer', 'apac'])[1 + mod(g, 3)] AS segment,
                   TIMESTAMP '2026-09-01' + mod(g, 604800) * INTERVAL '1 second' AS ts
            FROM generate_series(1, {rows}) AS g
            """
        )
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql(f"VACUUM ANALYZE {schema}.predictions")


# --------------------------------------------------------------------------- main


def _compare(engine: str, rows: int, url: str, trace: bool) -> dict:
    push = _run_child("pushdown", engine, url, trace)
    raw = _run_child("raw", engine, url, trace)
    if push["histogram"] != raw["histogram"] or push["recall"] != raw["recall"]:
        raise SystemExit(f"{engine} at {rows:,} rows: push-down and raw results differ")
    result = {
        "engine": engine,
        "rows": rows,
        "pushdown_s": push["seconds"],
        "raw_s": raw["seconds"],
        "speedup": raw["seconds"] / push["seconds"],
        "pushdown_rss_mb": push["rss_growth_mb"],
        "raw_rss_mb": raw["rss_growth_mb"],
        "pushdown_traced_mb": push["tracemalloc_peak_mb"],
        "raw_traced_mb": raw["tracemalloc_peak_mb"],
        "recall": push["recall"],
    }
    traced = ""
    if trace:
        traced = f"  traced {result['pushdown_traced_mb']:7.1f} / {result['raw_traced_mb']:7.1f} MB"
    print(
        f"{engine:8s} {rows:>11,} rows  push-down {result['pushdown_s']:7.2f} s  raw {result['raw_s']:7.2f} s  "
        f"speed-up {result['speedup']:5.1f}x  peak RSS growth {result['pushdown_rss_mb']:7.1f} / {result['raw_rss_mb']:7.1f} MB"
        f"{traced}  (results equal, recall@0.7 = {result['recall']:.4f})",
        flush=True,
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="largest row count; rows/10 is also run")
    parser.add_argument("--engines", default="duckdb,postgres")
    parser.add_argument("--postgres-url", default=os.environ.get("NORTHSTAR_TEST_POSTGRES_URL", DEFAULT_POSTGRES))
    parser.add_argument("--trace", action="store_true", help="also record tracemalloc peaks (slows the raw path)")
    parser.add_argument("--child", choices=["pushdown", "raw"], help=argparse.SUPPRESS)
    parser.add_argument("--child-engine", help=argparse.SUPPRESS)
    parser.add_argument("--child-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(_child(args.child, args.child_engine, args.child_url, args.trace)))
        return 0

    import sqlalchemy as sa

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    sizes = sorted({max(1, args.rows // 10), args.rows})
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"query: {SQL}")
    print(f"metric: recall at {THRESHOLD}, {BINS} bins, segmented; memory columns are push-down / raw")
    results = []
    if "duckdb" in engines:
        import duckdb

        print(f"duckdb {duckdb.__version__}")
        directory = Path(tempfile.mkdtemp(prefix="northstar-bench-"))
        try:
            for rows in sizes:
                results.append(_compare("duckdb", rows, _make_duckdb(directory, rows), args.trace))
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    if "postgres" in engines:
        admin = sa.create_engine(args.postgres_url)
        schema = f"northstar_bench_{uuid.uuid4().hex[:8]}"
        with admin.begin() as c:
            c.exec_driver_sql(f"CREATE SCHEMA {schema}")
            print("postgres", c.exec_driver_sql("SHOW server_version").scalar())
        separator = "&" if "?" in args.postgres_url else "?"
        url = f"{args.postgres_url}{separator}options=-csearch_path%3D{schema}"
        try:
            for rows in sizes:
                _make_postgres(admin, schema, rows)
                results.append(_compare("postgres", rows, url, args.trace))
        finally:
            with admin.begin() as c:
                c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
            admin.dispose()
    targets = {"duckdb": 5.0, "postgres": 8.0}
    for result in results:
        if result["rows"] == max(sizes):
            verdict = "meets" if result["speedup"] >= targets[result["engine"]] else "MISSES"
            print(f"{result['engine']}: {result['speedup']:.1f}x at {result['rows']:,} rows {verdict} the {targets[result['engine']]:g}x target")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""SQL over a results folder with DuckDB (optional extra ``duckdb``: ``pip install -e '.[duckdb]'``).

For experiments with thousands of runs, pandas reading every part is slow and memory-hungry;
DuckDB scans the batch files in parallel and reads only the columns and runs a query
needs::

    from analysis import query

    query("results/headline", '''
        SELECT policy, shock, month, median(overdue_balance_rate) AS overdue
        FROM model JOIN runs USING (run_id)
        WHERE NOT is_burn_in
        GROUP BY ALL ORDER BY ALL
    ''')

Views: ``model``, ``platforms``, ``vintages`` (every run's parts, with ``run_id``), ``runs``,
``outcomes`` and ``summary`` (for a single-run folder: ``model``, ``platforms``, ``vintages``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .tables import PART_TABLES, AnalysisError


def _sql_string(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def connect(results_dir: str | Path):
    """An in-memory DuckDB connection with the folder's tables as views.

    Raises:
        AnalysisError: DuckDB is not installed, or the folder has no tables.
    """
    try:
        import duckdb
    except ImportError:
        raise AnalysisError("DuckDB is not installed; install the extra: pip install -e '.[duckdb]'") from None
    folder = Path(results_dir)
    if not (folder / "manifest.json").is_file():
        raise AnalysisError(f"{folder}: no manifest.json; not a results folder")
    con = duckdb.connect(":memory:")
    views = 0
    for table in PART_TABLES:
        parts = folder / table
        single = folder / f"{table}.parquet"
        if parts.is_dir() and any(parts.glob("part-*.parquet")):  # batch files, run_id a column
            source = f"read_parquet({_sql_string(parts / 'part-*.parquet')})"
        elif parts.is_dir() and any(parts.glob("run_id=*/*.parquet")):  # one folder a run (before batch files)
            source = f"read_parquet({_sql_string(parts / '*' / '*.parquet')}, hive_partitioning = true)"
        elif single.is_file():
            source = f"read_parquet({_sql_string(single)})"
        else:
            continue
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM {source}")
        views += 1
    for name in ("runs", "outcomes"):
        if (folder / f"{name}.parquet").is_file():
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({_sql_string(folder / f'{name}.parquet')})")
            views += 1
    if (folder / "summary.csv").is_file():
        con.execute(f"CREATE VIEW summary AS SELECT * FROM read_csv_auto({_sql_string(folder / 'summary.csv')})")
    if not views:
        raise AnalysisError(f"{folder}: no tables to query")
    return con


def query(results_dir: str | Path, sql: str) -> pd.DataFrame:
    """Run ``sql`` against a results folder's views and return the result as a DataFrame."""
    con = connect(results_dir)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


__all__ = ["connect", "query"]

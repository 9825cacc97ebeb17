"""Read a results folder into tidy pandas tables: :func:`load`.

Works on the three kinds of folder (see ``results/README.md``): a single run (``run.py run``), a
comparison and a sweep (``run.py compare`` / ``sweep`` / ``sensitivity``). Every per-run table
comes back in long ("tidy") form, one row per run and month (and platform, or vintage and month on
book), with the run's identifiers in front: ``run_id``, ``cell``, the cell's labels (``policy``
and ``shock`` in comparisons, one column per swept key in sweeps) and ``replication``. Rows are in
plan order, then by month, so every table is the same whatever order the runs finished in.

Only pandas, pyarrow and json are used: no import of the model, so a notebook can read results
made by another version of lendsim.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

MANIFEST = "manifest.json"
PART_TABLES = ("model", "platforms", "vintages")

# Folders record each outcome's key and kind in the manifest (plan.outcome_info); these mirror
# experiments.outcomes (which analysis must not import) for folders written before it did.
# tests/test_analysis.py checks that the two agree for every registered outcome.
_RATE_OUTCOMES = frozenset(
    {
        "peak_overdue_balance_rate",
        "mean_overdue_balance_rate",
        "overdue_balance_rate_at",
        "peak_m3plus_balance_rate",
        "cum_default_rate",
        "loss_rate",
        "recovery_ratio",
        "collection_yield",
        "overdue_to_default",
        "vintage_default_rate",
    }
)


class AnalysisError(Exception):
    """A results folder that cannot be analysed, said in one line (e.g. no manifest.json)."""


def outcome_key(spec: dict[str, Any]) -> str:
    """The column name of an outcome in outcomes.parquet, from its record in the manifest."""
    if spec.get("label"):
        return spec["label"]
    key = spec["name"]
    for param, fmt in (
        ("month", "_m{}"),
        ("column", "_{}"),
        ("months_on_book", "_mob{}"),
        ("from", "_from{}"),
        ("to", "_to{}"),
    ):
        if spec.get(param) is not None:
            key += fmt.format(spec[param])
    return key


def outcome_is_rate(spec: dict[str, Any]) -> bool:
    """Whether an outcome's values are shares (shown as percentages)."""
    if spec.get("column") is not None:
        return spec["column"].endswith(("_rate", "_share"))
    return spec["name"] in _RATE_OUTCOMES


def column_is_rate(column: str) -> bool:
    """Whether a model column is a share (shown as a percentage)."""
    return column.endswith(("_rate", "_share"))


@dataclass
class Results:
    """A results folder as tidy tables.

    Attributes:
        path: The folder.
        manifest: ``manifest.json`` as a dict (spec, plan with every cell's config, provenance).
        kind: ``run``, ``comparison``, ``sweep`` or ``validation``.
        label_columns: The cell label columns (``policy``, ``shock``; or the swept keys).
        reference: The reference policy of a comparison, else None.
        runs: One row a run: id, cell, labels, replication, seed, status, error, wall time.
        outcomes: One row a successful run, one column an outcome (empty for a single run).
        summary: ``summary.csv``: per cell and outcome the mean, 95% interval and paired difference.
    """

    path: Path
    manifest: dict[str, Any]
    kind: str
    label_columns: tuple[str, ...]
    reference: str | None
    runs: pd.DataFrame
    outcomes: pd.DataFrame
    summary: pd.DataFrame
    _cache: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ per-run tables (lazy)

    @property
    def model(self) -> pd.DataFrame:
        """Monthly model outputs of every run: identifiers, ``month``, then the model columns."""
        return self._parts("model")

    @property
    def platforms(self) -> pd.DataFrame:
        """Monthly per-platform outputs of every run."""
        return self._parts("platforms")

    @property
    def vintages(self) -> pd.DataFrame:
        """Cumulative defaults by vintage (origination month) and months on book, every run."""
        return self._parts("vintages")

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table by name (reads all parts: may be large)."""
        return {
            "runs": self.runs,
            "outcomes": self.outcomes,
            "summary": self.summary,
            **{name: self._parts(name) for name in PART_TABLES},
        }

    # ------------------------------------------------------------------ plan information

    @cached_property
    def cells(self) -> pd.DataFrame:
        """One row a cell in plan order: ``cell`` and its labels."""
        cells = (self.manifest.get("plan") or {}).get("cells")
        if not cells:
            return pd.DataFrame({"cell": [self._single_cell]})
        return pd.DataFrame([{"cell": c["id"], **c["labels"]} for c in cells])

    @cached_property
    def outcome_specs(self) -> list[dict[str, Any]]:
        """The outcomes of the plan as recorded (name, month, column, label) plus ``key`` and ``is_rate``."""
        plan = self.manifest.get("plan") or {}
        specs = plan.get("outcomes") or []
        info = plan.get("outcome_info") or [{"key": outcome_key(s), "is_rate": outcome_is_rate(s)} for s in specs]
        return [{**s, **i} for s, i in zip(specs, info)]

    @property
    def replications(self) -> int:
        return int((self.manifest.get("plan") or {}).get("replications", 1))

    @property
    def description(self) -> str:
        plan = self.manifest.get("plan") or {}
        return (plan.get("description") or (self.manifest.get("config") or {}).get("description") or "").strip()

    @property
    def spec(self) -> dict[str, Any] | None:
        """The validated spec recorded in the manifest (None for a single run)."""
        return self.manifest.get("spec")

    @property
    def is_sensitivity(self) -> bool:
        """Whether the folder was made by ``run.py sensitivity`` (a sweep whose spec has a method)."""
        spec = self.spec or {}
        return self.kind == "sweep" and spec.get("method") in ("sobol", "morris")

    def cell_config(self, cell: str) -> dict[str, Any]:
        """The full configuration a cell ran, as recorded in the manifest."""
        if self.kind == "run":
            return self.manifest.get("config") or {}
        for c in self.manifest["plan"]["cells"]:
            if c["id"] == cell:
                return c["config"]
        raise AnalysisError(f"{self.path}: no cell {cell!r} in the manifest")

    # ------------------------------------------------------------------ internals

    @property
    def _single_cell(self) -> str:
        return str((self.manifest.get("config") or {}).get("name") or "run")

    def _parts(self, table: str) -> pd.DataFrame:
        if table not in self._cache:
            self._cache[table] = self._read_parts(table)
        return self._cache[table]

    def _read_parts(self, table: str) -> pd.DataFrame:
        ident = ["run_id", "cell", *self.label_columns, "replication"]
        if self.kind == "run":
            frame = pd.read_parquet(self.path / f"{table}.parquet")
            front = pd.DataFrame({"run_id": "run", "cell": self._single_cell, "replication": 0}, index=frame.index)
            return pd.concat([front, frame], axis=1)
        folder = self.path / table
        meta = self.runs.loc[self.runs["status"] == "ok", ident]
        if not folder.is_dir() or meta.empty:
            return meta.iloc[0:0].copy()
        try:
            frame = _read_table_folder(folder).to_pandas()
        except (OSError, ValueError, pa.ArrowException) as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
            raise AnalysisError(
                f"{folder}: cannot read the {table} parts ({first}); run.py reproduce checks them"
            ) from None
        frame["run_id"] = frame["run_id"].astype(str)
        order = {run_id: i for i, run_id in enumerate(meta["run_id"])}
        frame = frame[frame["run_id"].isin(order)]
        sort = ["_order", *[c for c in ("month", "platform", "vintage", "months_on_book") if c in frame.columns]]
        frame = frame.assign(_order=frame["run_id"].map(order)).sort_values(sort, kind="stable")
        frame = frame.drop(columns="_order").reset_index(drop=True)
        merged = meta.merge(frame, on="run_id", how="right", validate="one_to_many")
        return merged[ident + [c for c in frame.columns if c != "run_id"]]


def _read_table_folder(folder: Path) -> pa.Table:
    """Every part of a table folder with its ``run_id`` column.

    Batch files (``part-<b>.parquet``) carry ``run_id`` as a column; folders written before them hold
    one ``run_id=<id>/part-0.parquet`` a run, the id in the folder name (hive layout).
    """
    if any(folder.glob("run_id=*")):
        partitioning = ds.partitioning(pa.schema([("run_id", pa.string())]), flavor="hive")
        return ds.dataset(folder, format="parquet", partitioning=partitioning).to_table()
    files = sorted(str(p) for p in folder.glob("part-*.parquet"))
    return ds.dataset(files, format="parquet").to_table()


def write_text_atomic(path: Path, text: str) -> None:
    """Write text so a reader never sees half a file: a hidden temp file, then a rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load(results_dir: str | Path) -> Results:
    """Read a results folder.

    Args:
        results_dir: A folder written by ``run.py run``, ``compare``, ``sweep``, ``sensitivity`` or ``validate``.

    Returns:
        The folder's tables; the per-run tables (``model``, ``platforms``, ``vintages``) are read
        on first use.

    Raises:
        AnalysisError: not a results folder, an unreadable manifest, or an unfinished experiment.
    """
    path = Path(results_dir)
    if not path.is_dir():
        raise AnalysisError(f"{path}: not a folder")
    try:
        with open(path / MANIFEST, encoding="utf-8") as fh:
            manifest = json.load(fh)
    except FileNotFoundError:
        raise AnalysisError(f"{path}: no {MANIFEST}; not a results folder") from None
    except ValueError as err:
        raise AnalysisError(f"{path / MANIFEST}: not valid JSON ({err})") from None
    if not isinstance(manifest, dict):
        raise AnalysisError(f"{path / MANIFEST}: not a mapping of keys; not a manifest lendsim wrote")
    kind = manifest.get("kind")
    if kind not in ("run", "comparison", "sweep", "validation"):
        raise AnalysisError(f"{path / MANIFEST}: unknown kind {kind!r}; expected run, comparison, sweep or validation")
    if manifest.get("complete") is False:
        raise AnalysisError(f"{path}: the experiment did not finish; finish it with --resume first")

    if kind == "run":
        empty = pd.DataFrame()
        runs = pd.DataFrame(
            [
                {
                    "run_id": "run",
                    "cell": str((manifest.get("config") or {}).get("name") or "run"),
                    "replication": 0,
                    "status": "ok",
                }
            ]
        )
        return Results(path, manifest, kind, (), None, runs, empty, empty)

    plan = manifest.get("plan")
    # Figures and tables read the plan's cells and labels: a manifest edited without them is refused
    # here, in one line, rather than deep inside a figure.
    if (
        not isinstance(plan, dict)
        or not isinstance(plan.get("cells"), list)
        or not all(isinstance(c, dict) and "id" in c and isinstance(c.get("labels"), dict) for c in plan["cells"])
        or not isinstance(plan.get("label_columns"), list)
    ):
        raise AnalysisError(
            f"{path / MANIFEST}: no plan of cells and labels recorded; not a {kind} folder lendsim wrote"
        )
    labels = tuple(plan["label_columns"])
    try:
        runs = pd.read_parquet(path / "runs.parquet")
        outcomes = pd.read_parquet(path / "outcomes.parquet")
        summary = pd.read_csv(path / "summary.csv")
    except FileNotFoundError as err:
        raise AnalysisError(f"{path}: {Path(err.filename).name} is missing; not a complete results folder") from None
    except (OSError, ValueError, pa.ArrowException, pd.errors.ParserError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise AnalysisError(f"{path}: a table cannot be read ({first}); run.py reproduce checks the files") from None
    missing = sorted({"run_id", "cell", "status", *labels} - set(runs.columns))
    if missing:
        raise AnalysisError(f"{path / 'runs.parquet'}: no {', '.join(missing)} column; not the runs table of this plan")
    return Results(path, manifest, kind, labels, plan.get("reference"), runs, outcomes, summary)


__all__ = ["AnalysisError", "Results", "column_is_rate", "load", "outcome_is_rate", "outcome_key", "write_text_atomic"]

"""Run an experiment plan into a results folder: resumable, fault-tolerant, bit-reproducible.

Layout of a finished folder (see results/README.md)::

    manifest.json          plan (cells, configs, seeds), spec, versions, git commit, sha256 of outputs
    runs.parquet           one row a run: id, cell, replication, seed, status, error, wall time
    outcomes.parquet       one row a successful run, one column an outcome
    summary.csv            per cell and outcome: mean, 95% interval, paired difference to the reference
    summary.md             the same as tables
    model/run_id=<id>/part-0.parquet       monthly model outputs of each run (hive layout)
    platforms/run_id=<id>/part-0.parquet   monthly per-platform outputs
    vintages/run_id=<id>/part-0.parquet    cumulative default by vintage
    runs/<id>.json         each run's status record (what --resume reads)

While it runs, the folder lives in a hidden sibling ``.<name>.partial``, renamed into place when
every run has been attempted and the summary written, so a folder at the target path is always
complete. Each part file is written to a temp name and renamed, and a run's record is written
after its parts, so a run killed at any point leaves either a complete run or one that
``--resume`` simply runs again. Outputs depend only on the plan, never on worker count, backend
or completion order: every run's seed is fixed by the plan, parts are written with fixed Parquet
settings, and tables are assembled in plan order.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np
import pandas as pd

import sim
from sim.config import ScenarioConfig
from sim.store import (
    MANIFEST_NAME,
    ResultsExistError,
    check_destination,
    provenance,
    publish_folder,
    sha256_file,
    write_json_atomic,
    write_parquet_atomic,
    write_text_atomic,
)

from .executors import Backend, execute
from .plan import Plan, Run

TABLES = ("model", "platforms", "vintages")
RECORDS = "runs"


class ExperimentError(Exception):
    """A problem the user can fix from the message (one line), e.g. a mismatched --resume."""


@dataclass(frozen=True)
class RunTask:
    """What a worker needs for one run: the run, its config and the working folder."""

    run: Run
    config: ScenarioConfig
    folder: str


class RunFailed(Exception):
    """A run raised; carries a one-line description and the time it ran before failing."""

    def __init__(self, message: str, wall_time_s: float) -> None:
        super().__init__(message, wall_time_s)
        self.message = message
        self.wall_time_s = wall_time_s

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class ExperimentResult:
    """What :func:`run_experiment` did."""

    out: Path
    ran: int
    skipped: int
    failed: tuple[tuple[str, str], ...]
    summary_md: str


# --------------------------------------------------------------------------- one run (on a worker)


def simulate(
    config: ScenarioConfig, seed: int | np.random.SeedSequence, progress: bool = False
) -> dict[str, pd.DataFrame]:
    """Run one model and return its output tables (``model``, ``platforms``, ``vintages``)."""
    from sim.model import LendingMarket

    model = LendingMarket(config, seed=seed)
    model.run(progress=progress)
    return {"model": model.model_frame(), "platforms": model.platform_frame(), "vintages": model.vintage_frame()}


def part_path(folder: Path | str, table: str, run_id: str) -> Path:
    """Where a run's table is stored in a results folder."""
    return Path(folder) / table / f"run_id={run_id}" / "part-0.parquet"


def execute_run(task: RunTask) -> dict[str, Any]:
    """Simulate one run and write its parts; runs on a worker.

    Returns:
        ``{"wall_time_s": ...}``.

    Raises:
        RunFailed: whatever went wrong, as one line with where it happened.
    """
    start = perf_counter()
    try:
        frames = simulate(task.config, task.run.seed())
        for table in TABLES:
            write_parquet_atomic(frames[table], part_path(task.folder, table, task.run.run_id))
    except Exception as exc:  # noqa: BLE001 - turned into a picklable one-line report
        raise RunFailed(describe_error(exc), perf_counter() - start) from None
    return {"wall_time_s": perf_counter() - start}


def describe_error(exc: BaseException) -> str:
    """``Type: message (at sim/file.py:line in function)`` on one line, for the runs table.

    The place is the innermost frame in the model's own code (``sim/``) when there is one: what
    a modeller needs, rather than the numpy internals where the error surfaced.
    """
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if Path(f.filename).resolve().parent == _SIM_DIR]
    if ours or frames:
        where = (ours or frames)[-1]
        name = f"sim/{Path(where.filename).name}" if ours else Path(where.filename).name
        text += f" (at {name}:{where.lineno} in {where.name})"
    return text[:1000]


_SIM_DIR = Path(sim.__file__).resolve().parent


# --------------------------------------------------------------------------- the experiment


def partial_folder(out: Path) -> Path:
    """The hidden working folder of an experiment whose results go to ``out``."""
    return out.parent / f".{out.name}.partial"


def run_experiment(
    plan: Plan,
    out: Path | str,
    *,
    spec: dict[str, Any] | None = None,
    spec_file: str | None = None,
    workers: int = 1,
    backend: Backend = "local",
    scheduler: str | None = None,
    retries: int = 2,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
) -> ExperimentResult:
    """Run every run of ``plan`` not yet done and write the results folder ``out``.

    Args:
        plan: The experiment.
        out: Results folder.
        spec: The validated spec as JSON, recorded in the manifest.
        spec_file: Path of the spec, recorded in the manifest.
        workers: Parallel workers (1 runs in this process).
        backend: ``local`` or ``dask``.
        scheduler: Address of a running dask scheduler.
        retries: Extra attempts after a lost worker (on dask: after any error).
        resume: Continue an interrupted (or partly failed) experiment in ``out``: finished runs
            are kept, failed and missing ones are run.
        force: Start over, replacing ``out`` and any unfinished work.
        progress: Show a progress bar on stderr.

    Returns:
        What ran, what failed, and the summary as Markdown.

    Raises:
        ResultsExistError: if ``out`` (or unfinished work for it) exists and neither ``resume``
            nor ``force`` is given.
        ExperimentError: if ``resume`` finds results of a different plan.
    """
    out = Path(out)
    work, replace = _prepare(plan, out, spec, spec_file, resume, force)
    done = _finished_runs(plan, work)
    todo = [
        RunTask(run, plan.cell(run.cell).config, str(work.resolve())) for run in plan.runs if run.run_id not in done
    ]
    _clean_temporary_files(work)

    from tqdm import tqdm

    bar = tqdm(total=len(todo), disable=not progress, file=sys.stderr, unit="run", desc=out.name, dynamic_ncols=True)
    failures = 0
    try:
        for task, result, error in execute(
            todo,
            execute_run,
            key=lambda t: t.run.run_id,
            workers=workers,
            backend=backend,
            scheduler=scheduler,
            retries=retries,
        ):
            _write_record(work, task.run, result, error)
            failures += error is not None
            bar.update(1)
            if failures:
                bar.set_postfix(failed=failures)
    finally:
        bar.close()

    failed, summary_md = _finalise(plan, work)
    publish_folder(work, out, force=replace)
    return ExperimentResult(out, len(todo), len(plan.runs) - len(todo), tuple(failed), summary_md)


def _prepare(
    plan: Plan, out: Path, spec: dict | None, spec_file: str | None, resume: bool, force: bool
) -> tuple[Path, bool]:
    """The working folder, created or reopened; and whether the result may replace ``out``."""
    work = partial_folder(out)
    if resume and not force and (work.exists() or out.exists()):
        source = work if work.exists() else out
        _check_same_plan(plan, source)
        manifest = _read_json(source / MANIFEST_NAME)
        _check_same_versions(manifest, source)
        if source == out:
            os.rename(out, work)  # reopen a finished folder to retry its failed runs
        manifest["plan"] = plan.to_record()  # outcomes and reference may change on resume
        manifest["complete"] = False
        for key in ("runs", "files"):
            manifest.pop(key, None)
        # Which code each session ran, so a resume after a commit is on the record.
        manifest["resumed"] = [
            *manifest.get("resumed", []),
            {"at": datetime.now(UTC).isoformat(timespec="seconds"), "git": provenance()["git"]},
        ]
        write_json_atomic(work / MANIFEST_NAME, manifest)
        return work, bool(manifest.get("replace_existing"))
    if out.exists() and not out.is_dir():
        check_destination(out, force)  # its own message: not a folder
    if out.exists() and not force:
        raise ResultsExistError(
            f"results folder {out} already exists; use --resume to rerun its failed runs or --force to replace it"
        )
    if work.exists():
        if not force:
            raise ResultsExistError(
                f"unfinished results for {out} are in {work}; use --resume to continue them or --force to start over"
            )
        shutil.rmtree(work)
    work.mkdir(parents=True)
    manifest = {
        "kind": plan.kind,
        "complete": False,
        "spec_file": spec_file,
        "spec": spec,
        "plan": plan.to_record(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "replace_existing": force,
        **provenance(),
    }
    write_json_atomic(work / MANIFEST_NAME, manifest)
    return work, force


def _check_same_versions(manifest: dict, folder: Path) -> None:
    """Refuse to mix runs made with other package versions into one results folder."""
    now = provenance()
    recorded = {"python": manifest.get("python"), **(manifest.get("packages") or {})}
    current = {"python": now["python"], **now["packages"]}
    changed = [
        f"{name} {recorded[name]} -> {current.get(name)}" for name in recorded if recorded[name] != current.get(name)
    ]
    if changed:
        raise ExperimentError(
            f"{folder} was made with other versions ({', '.join(changed)}); its runs would not match "
            "new ones: resume with the recorded versions, or use --force to start over"
        )


def _check_same_plan(plan: Plan, folder: Path) -> None:
    try:
        recorded = _read_json(folder / MANIFEST_NAME)["plan"]
    except (OSError, ValueError, KeyError):
        raise ExperimentError(
            f"{folder} has no readable manifest.json; cannot resume it (use --force to start over)"
        ) from None
    current = json.loads(json.dumps(plan.run_record()))
    mine = {k: recorded.get(k) for k in current}
    if mine != current:
        what = next(k for k in current if mine[k] != current[k])
        raise ExperimentError(
            f"{folder} holds results of a different experiment ({what} differ); "
            "resume needs the same spec, or use --force to start over"
        )


def _finished_runs(plan: Plan, work: Path) -> set[str]:
    done = set()
    for run in plan.runs:
        record = _read_record(work, run.run_id)
        if record and record["status"] == "ok" and all(part_path(work, t, run.run_id).is_file() for t in TABLES):
            done.add(run.run_id)
    return done


def _clean_temporary_files(work: Path) -> None:
    """Remove temp files a killed run left behind (hidden names; nothing else writes here now)."""
    for path in work.rglob(".*"):
        if path.is_file():
            path.unlink(missing_ok=True)


def _record_path(work: Path, run_id: str) -> Path:
    return work / RECORDS / f"{run_id}.json"


def _read_record(work: Path, run_id: str) -> dict | None:
    try:
        return _read_json(_record_path(work, run_id))
    except (OSError, ValueError):
        return None


def _write_record(work: Path, run: Run, result: dict | None, error: BaseException | None) -> None:
    if error is None:
        status, message, wall = "ok", None, result["wall_time_s"]
    else:
        status = "failed"
        message = str(error) if isinstance(error, RunFailed) else describe_error(error)
        wall = getattr(error, "wall_time_s", None)
    record = {
        "run_id": run.run_id,
        "cell": run.cell,
        "replication": run.replication,
        "seed_entropy": run.seed_entropy,
        "seed_spawn_key": run.seed_spawn_key,
        "status": status,
        "error": message,
        "wall_time_s": wall,
    }
    (work / RECORDS).mkdir(exist_ok=True)
    write_json_atomic(_record_path(work, run.run_id), record)


def _read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


# --------------------------------------------------------------------------- finishing


def _finalise(plan: Plan, work: Path) -> tuple[list[tuple[str, str]], str]:
    """Write runs, outcomes and summaries in plan order, hash every output, complete the manifest."""
    # Here rather than at the top: workers import this module and never need scipy.
    from .summary import summarise, summary_markdown

    records = []
    for run in plan.runs:
        record = _read_record(work, run.run_id) or {
            "run_id": run.run_id,
            "cell": run.cell,
            "replication": run.replication,
            "seed_entropy": run.seed_entropy,
            "seed_spawn_key": run.seed_spawn_key,
            "status": "failed",
            "error": "no record (interrupted)",
            "wall_time_s": None,
        }
        records.append(record)
    ok = [r["run_id"] for r in records if r["status"] == "ok"]
    failed = [(r["run_id"], r["error"]) for r in records if r["status"] != "ok"]
    _remove_orphan_parts(work, set(ok))

    labels = {c.id: c.labels for c in plan.cells}
    runs = pd.DataFrame(
        [
            {
                "run_id": r["run_id"],
                "cell": r["cell"],
                **labels[r["cell"]],
                **{
                    k: r[k] for k in ("replication", "seed_entropy", "seed_spawn_key", "status", "error", "wall_time_s")
                },
            }
            for r in records
        ]
    )
    runs["wall_time_s"] = runs["wall_time_s"].astype(np.float64)
    runs["error"] = runs["error"].astype("str")  # a text column even when nothing failed
    write_parquet_atomic(_plain_columns(runs), work / "runs.parquet")

    rows = []
    by_id = {r.run_id: r for r in plan.runs}
    need_vintages = any(o.needs_vintages for o in plan.outcomes)
    for run_id in ok:
        run = by_id[run_id]
        model = pd.read_parquet(part_path(work, "model", run_id))
        vintages = pd.read_parquet(part_path(work, "vintages", run_id)) if need_vintages else None
        rows.append(
            {
                "run_id": run_id,
                "cell": run.cell,
                **labels[run.cell],
                "replication": run.replication,
                **{o.key: o.compute(model, vintages) for o in plan.outcomes},
            }
        )
    columns = ["run_id", "cell", *plan.label_columns, "replication", *(o.key for o in plan.outcomes)]
    outcomes = pd.DataFrame(rows, columns=columns)
    for o in plan.outcomes:
        outcomes[o.key] = outcomes[o.key].astype(np.float64)
    outcomes["replication"] = outcomes["replication"].astype(np.int64)
    write_parquet_atomic(_plain_columns(outcomes), work / "outcomes.parquet")

    summary = summarise(plan, outcomes)
    summary_md = summary_markdown(plan, summary, failed=len(failed), outcomes=outcomes)
    texts = {"summary.csv": summary.to_csv(index=False, lineterminator="\n"), "summary.md": summary_md}
    if plan.kind == "sweep" and len(outcomes):
        from .summary import sweep_files

        texts.update(sweep_files(plan, outcomes))
    if plan.kind == "validation":
        from .validation import validation_files

        texts.update(validation_files(plan, outcomes, lambda run_id: pd.read_parquet(part_path(work, "model", run_id))))
    for name, text in texts.items():
        write_text_atomic(work / name, text)

    files = {}
    for run_id in ok:
        for table in TABLES:
            path = part_path(work, table, run_id)
            files[path.relative_to(work).as_posix()] = sha256_file(path)
    for name in ("outcomes.parquet", *texts):
        files[name] = sha256_file(work / name)

    manifest = _read_json(work / MANIFEST_NAME)
    manifest.update(
        complete=True, runs={"total": len(records), "ok": len(ok), "failed": [f[0] for f in failed]}, files=files
    )
    write_json_atomic(work / MANIFEST_NAME, manifest)
    return failed, summary_md


def _remove_orphan_parts(work: Path, ok: set[str]) -> None:
    """Drop parts of runs that did not finish (a run that failed while writing)."""
    for table in TABLES:
        folder = work / table
        if not folder.is_dir():
            continue
        for child in folder.iterdir():
            if child.name.removeprefix("run_id=") not in ok:
                shutil.rmtree(child) if child.is_dir() else child.unlink()


def _plain_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Label columns mixing types (e.g. ``[none, 0.5]`` in a sweep) are stored as text."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object:
            kinds = {type(v) for v in frame[column] if v is not None}
            if len(kinds) > 1:
                frame[column] = frame[column].map(lambda v: None if v is None else str(v))
    return frame


__all__ = [
    "ExperimentError",
    "ExperimentResult",
    "RunFailed",
    "RunTask",
    "execute_run",
    "part_path",
    "partial_folder",
    "run_experiment",
    "simulate",
]

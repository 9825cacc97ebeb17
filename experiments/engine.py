"""Run an experiment plan into a results folder: resumable, fault-tolerant, bit-reproducible.

Layout of a finished folder (see results/README.md)::

    manifest.json          plan (cells, configs, seeds), spec, versions, git commit, sha256 of outputs
    runs.parquet           one row a run: id, cell, replication, seed, status, error, wall time
    outcomes.parquet       one row a successful run, one column an outcome
    summary.csv            per cell and outcome: mean, 95% interval, paired difference to the reference
    summary.md             the same as tables
    model/part-<b>.parquet       monthly model outputs of the runs of batch b, with a run_id column
    platforms/part-<b>.parquet   monthly per-platform outputs
    vintages/part-<b>.parquet    cumulative default by vintage

Runs are grouped in **batches** of consecutive runs in plan order (at most 64 batches, of at most 1,024
runs each: :func:`batch_size`), and each batch is one Parquet file a table, so a sweep of 20,000 runs is
a few hundred files rather than one folder and file per run and table (140,000 for such a sweep, which
shared HPC file systems punish).

While it runs, the folder lives in a hidden sibling ``.<name>.partial``, renamed into place when
every run has been attempted and the summary written, so a folder at the target path is always
complete. A worker hands each finished run's tables and outcomes back to this process, which writes
a batch's files (atomically) once its last run has finished. Runs finished in batches not yet
complete are spilled every :data:`SPILL_S` seconds, and on Ctrl-C or an error, into one chunk file a
table in ``staging/`` (a few files however many runs), and each run's record (status, error, wall
time, outcomes) is appended to ``journal.jsonl`` once its tables are on disk. A kill therefore loses
at most the last few seconds of finished runs: every recorded run has its tables in its batch or a
chunk, and ``--resume`` runs the others again. Outputs depend only on the plan, never on worker
count, backend or completion order: every run's seed is fixed by the plan, batches are fixed by the
plan, tables are assembled in plan order and written with fixed Parquet settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import traceback
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import sim
from sim.config import ScenarioConfig
from sim.store import (
    MANIFEST_NAME,
    FolderLock,
    ResultsExistError,
    check_destination,
    check_writable,
    provenance,
    publish_folder,
    sha256_file,
    write_json_atomic,
    write_parquet_atomic,
    write_text_atomic,
)

from .executors import Backend, execute
from .outcomes import OutcomeSpec
from .plan import Plan, Run

TABLES = ("model", "platforms", "vintages")
JOURNAL = "journal.jsonl"
STAGING = "staging"
MAX_BATCHES = 64
MAX_BATCH_RUNS = 1024
# Finished runs of unfinished batches are written to a chunk at most this often: a kill loses at most
# this much finished work, and a sweep of tiny runs pays one Parquet write per chunk, not per run.
SPILL_S = 15.0
# Parquet key-value metadata of a batch file: the ids of its runs, in plan order (a run can have no
# rows in a table, e.g. no vintages yet, so the rows alone do not say which runs a batch holds).
RUNS_KEY = b"lendsim.runs"


class ExperimentError(Exception):
    """A problem the user can fix from the message (one line), e.g. a mismatched --resume."""


@dataclass(frozen=True)
class RunTask:
    """What a worker needs for one run: the run, its config, the working folder and the outcomes to compute."""

    run: Run
    config: ScenarioConfig
    folder: str
    outcomes: tuple[OutcomeSpec, ...] = ()


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


def batch_size(n_runs: int) -> int:
    """Runs per batch file: at most :data:`MAX_BATCHES` batches, of at most :data:`MAX_BATCH_RUNS` runs.

    A function of the plan's size alone, so every way of running a plan writes the same files.
    """
    return min(MAX_BATCH_RUNS, max(1, -(-n_runs // MAX_BATCHES)))


def batch_path(folder: Path | str, table: str, batch: int) -> Path:
    """Where batch ``batch`` of a table is stored in a results folder."""
    return Path(folder) / table / f"part-{batch:05d}.parquet"


def chunk_path(folder: Path | str, table: str, chunk: int) -> Path:
    """Where finished runs of unfinished batches are kept until their batches are written."""
    return Path(folder) / STAGING / f"chunk-{chunk:05d}.{table}.parquet"


def outcomes_id(outcomes: tuple[OutcomeSpec, ...] | list[OutcomeSpec]) -> str:
    """A short fingerprint of outcome definitions: recorded values are reused only for the same ones."""
    text = json.dumps([o.record() for o in outcomes], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def compute_outcomes(outcomes: tuple[OutcomeSpec, ...], model: pd.DataFrame, vintages: pd.DataFrame | None) -> dict:
    return {o.key: float(o.compute(model, vintages)) for o in outcomes}


def execute_run(task: RunTask) -> dict[str, Any]:
    """Simulate one run and compute its outcomes; runs on a worker.

    Returns:
        ``{"wall_time_s", "outcomes", "frames"}``: the engine writes the frames into their batch.

    Raises:
        RunFailed: whatever went wrong, as one line with where it happened.
    """
    start = perf_counter()
    try:
        frames = simulate(task.config, task.run.seed())
        values = compute_outcomes(task.outcomes, frames["model"], frames["vintages"])
    except Exception as exc:  # noqa: BLE001 - turned into a picklable one-line report
        raise RunFailed(describe_error(exc), perf_counter() - start) from None
    return {"wall_time_s": perf_counter() - start, "outcomes": values, "frames": frames}


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
    command: str | None = None,
    memory_check: bool = True,
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
        command: What holds the folder's lock, as another command refused meanwhile is told.
        memory_check: Refuse a plan whose largest run, times the runs held at once on this machine,
            would not fit in its memory (:mod:`experiments.resources`); not for a remote scheduler.

    Returns:
        What ran, what failed, and the summary as Markdown.

    Raises:
        ResultsExistError: if ``out`` (or unfinished work for it) exists and neither ``resume``
            nor ``force`` is given.
        ExperimentError: if ``resume`` finds results of a different plan.
        sim.store.FolderLocked: if another command is working on ``out``.
        sim.store.OutputPathError: if ``out`` cannot be written.
        experiments.resources.MemoryTooSmall: if the runs would not fit in memory.
    """
    out = Path(out)
    if memory_check and not scheduler:
        from .resources import check_memory

        held = 1 if backend == "local" and workers <= 1 else min(workers, len(plan.runs))
        check_memory(
            (c.config for c in plan.cells), held, f"{spec_file}: borrowers.count" if spec_file else "borrowers.count"
        )
    check_writable(out)
    with FolderLock(out, command or f"run_experiment({out})"):
        work, replace, reuse_outcomes, recorded = _prepare(plan, out, spec, spec_file, resume, force)
        book = _Book(plan, work, reuse_outcomes, recorded)
        todo = [
            RunTask(run, plan.cell(run.cell).config, str(work.resolve()), plan.outcomes)
            for run in plan.runs
            if run.run_id not in book.done
        ]
        book.start(todo)

        from tqdm import tqdm

        bar = tqdm(
            total=len(todo), disable=not progress, file=sys.stderr, unit="run", desc=out.name, dynamic_ncols=True
        )
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
                book.finished(task.run, result, error)
                failures += error is not None
                bar.update(1)
                if failures:
                    bar.set_postfix(failed=failures)
        finally:
            bar.close()
            book.close()

        failed, summary_md = _finalise(plan, work, book)
        publish_folder(work, out, force=replace)
    return ExperimentResult(out, len(todo), len(plan.runs) - len(todo), tuple(failed), summary_md)


def _prepare(
    plan: Plan, out: Path, spec: dict | None, spec_file: str | None, resume: bool, force: bool
) -> tuple[Path, bool, bool, dict[str, str]]:
    """The working folder, created or reopened; whether the result may replace ``out``; whether
    recorded outcome values may be reused (same outcome definitions); and the outputs' recorded hashes."""
    work = partial_folder(out)
    if resume and not force and (work.exists() or out.exists()):
        source = work if work.exists() else out
        _check_same_plan(plan, source)
        manifest = _read_json(source / MANIFEST_NAME)
        _check_same_versions(manifest, source)
        _check_layout(source)
        same_outcomes = (manifest.get("plan") or {}).get("outcomes") == plan.to_record()["outcomes"]
        recorded = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
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
        return work, bool(manifest.get("replace_existing")), same_outcomes, recorded
    if out.exists() and not out.is_dir():
        check_destination(out, force)  # its own message: not a folder
    if out.exists() and not force:
        raise ResultsExistError(
            f"results folder {out} already exists; use --resume to rerun its failed runs or --force to replace it"
        )
    if out.exists():
        check_destination(out, force)  # before any work: --force replaces only a folder lendsim wrote
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
    return work, force, True, {}


def _check_layout(folder: Path) -> None:
    """Refuse to resume a folder written with one folder per run (lendsim before batch files)."""
    for table in TABLES:
        if any((folder / table).glob("run_id=*")):
            raise ExperimentError(
                f"{folder} stores one folder per run (an earlier lendsim); it cannot be resumed with batch "
                "files: finish it with that version, or use --force to start over"
            )


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
        manifest = _read_json(folder / MANIFEST_NAME)
        if not isinstance(manifest, dict):
            raise ValueError("not a mapping")
    except (OSError, ValueError):
        raise ExperimentError(
            f"{folder} has no readable manifest.json; cannot resume it (use --force to start over)"
        ) from None
    recorded = manifest.get("plan")
    if not isinstance(recorded, dict):
        # A readable manifest without a plan (a single run's folder, or one edited by hand): saying it
        # had no readable manifest sent the user to a file that is there and reads fine.
        kind = manifest.get("kind")
        what = "the results of a single run" if kind == "run" else "no plan of runs in its manifest.json"
        raise ExperimentError(
            f"{folder} holds {what}, not a {plan.kind}; cannot resume it "
            "(choose another --out, or --force to replace it)"
        )
    current = json.loads(json.dumps(plan.run_record()))
    mine = {k: recorded.get(k) for k in current}
    if mine != current:
        what = next(k for k in current if mine[k] != current[k])
        raise ExperimentError(
            f"{folder} holds results of a different experiment ({what} differ); "
            "resume needs the same spec, or use --force to start over"
        )


def _read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


# --------------------------------------------------------------------------- records and batches


@dataclass
class _Book:
    """What is known of every run of a working folder: records, where each run's tables are, batches.

    Records come from ``runs.parquet`` and ``outcomes.parquet`` of a finished folder reopened by
    ``--resume``, then from ``journal.jsonl`` (the last line of a run wins; a line cut short by a
    kill is ignored). A run is done when its record is ``ok`` and its tables are in its batch file or
    in a chunk.
    """

    plan: Plan
    work: Path
    reuse_outcomes: bool
    recorded: dict[str, str] = field(default_factory=dict)
    records: dict[str, dict] = field(default_factory=dict)
    stored: dict[int, list[str]] = field(default_factory=dict)
    frames: dict[str, dict[str, pd.DataFrame]] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)
    pending: Counter = field(default_factory=Counter)
    # runs finished this session whose tables are only in memory, with their records (not yet journalled)
    unsaved: dict[str, dict] = field(default_factory=dict)
    chunks: dict[int, set[str]] = field(default_factory=dict)
    chunk_of: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.size = batch_size(len(self.plan.runs))
        self.runs = {r.run_id: r for r in self.plan.runs}
        self.batch_of = {r.run_id: i // self.size for i, r in enumerate(self.plan.runs)}
        self.outcomes_id = outcomes_id(self.plan.outcomes)
        self._read_finished_tables()
        self._read_journal()
        for batch in range(self.batches):
            self.stored[batch] = self._stored_runs(batch)
        self._read_chunks()
        in_batches = {run_id for ids in self.stored.values() for run_id in ids}
        for run_id, record in self.records.items():
            if record["status"] == "ok" and (run_id in in_batches or run_id in self.chunk_of):
                self.done.add(run_id)
        self._journal = None
        self._last_spill = perf_counter()

    @property
    def batches(self) -> int:
        return -(-len(self.plan.runs) // self.size)

    def batch_runs(self, batch: int) -> list[str]:
        return [r.run_id for r in self.plan.runs[batch * self.size : (batch + 1) * self.size]]

    # ------------------------------------------------------------------ reading what is there

    def _read_finished_tables(self) -> None:
        try:
            runs = pd.read_parquet(self.work / "runs.parquet")
        except (OSError, ValueError, pa.ArrowException):
            return  # an unfinished folder, or a missing or damaged log: its runs count as not done
        values: dict[str, dict] = {}
        if self.reuse_outcomes:
            try:
                table = pd.read_parquet(self.work / "outcomes.parquet")
                keys = [o.key for o in self.plan.outcomes]
                if set(keys) <= set(table.columns):
                    values = {row["run_id"]: {k: float(row[k]) for k in keys} for row in table.to_dict("records")}
            except (OSError, ValueError, KeyError, pa.ArrowException):
                values = {}
        for row in runs.to_dict("records"):
            run_id = row.get("run_id")
            if run_id not in self.runs or row.get("status") not in ("ok", "failed"):
                continue
            wall = row.get("wall_time_s")
            self.records[run_id] = {
                "run_id": run_id,
                "status": row["status"],
                "error": None if row["status"] == "ok" else row.get("error"),
                "wall_time_s": None if wall is None or pd.isna(wall) else float(wall),
                "outcomes": values.get(run_id),
                "outcomes_id": self.outcomes_id if run_id in values else None,
            }

    def _read_journal(self) -> None:
        try:
            with open(self.work / JOURNAL, encoding="utf-8", errors="replace") as fh:
                lines = fh.readlines()
        except OSError:
            return
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # the line a kill cut short
            if (
                isinstance(record, dict)
                and record.get("run_id") in self.runs
                and record.get("status") in ("ok", "failed")
            ):
                self.records[record["run_id"]] = record

    def _runs_in(self, paths: list[Path], expected: list[str | None]) -> list[str]:
        """The run ids the files of one batch or chunk hold (metadata), [] if one is missing or damaged.

        A file is checked against the hash its finished folder recorded, or else read in full: a
        damaged file (edited by hand, a disk error) is written again, its runs run again.
        """
        held = None
        for path, digest in zip(paths, expected):
            try:
                if digest is not None:
                    if sha256_file(path) != digest:
                        return []
                    meta = pq.read_schema(path).metadata or {}
                else:
                    meta = pq.read_table(path).schema.metadata or {}
                ids = json.loads(meta[RUNS_KEY])
            except (OSError, ValueError, KeyError, pa.ArrowException):
                return []
            if held is not None and ids != held:
                return []
            held = ids
        return [run_id for run_id in held or [] if run_id in self.runs]

    def _stored_runs(self, batch: int) -> list[str]:
        paths = [batch_path(self.work, table, batch) for table in TABLES]
        ids = self._runs_in(paths, [self.recorded.get(p.relative_to(self.work).as_posix()) for p in paths])
        return [run_id for run_id in ids if self.batch_of[run_id] == batch]

    def _read_chunks(self) -> None:
        for path in sorted((self.work / STAGING).glob("chunk-*.model.parquet")):
            chunk = int(path.name.split(".")[0].removeprefix("chunk-"))
            ids = self._runs_in([chunk_path(self.work, t, chunk) for t in TABLES], [None] * len(TABLES))
            if ids:
                self.chunks[chunk] = set(ids)
                for run_id in ids:
                    self.chunk_of[run_id] = chunk

    # ------------------------------------------------------------------ while running

    def start(self, todo: list[RunTask]) -> None:
        """Clear what a killed session left, open the journal."""
        _clean_temporary_files(self.work)
        staging = self.work / STAGING
        if staging.is_dir():  # chunk files of no use (damaged, or every run of them since batched)
            keep = {chunk_path(self.work, t, c).name for c in self.chunks for t in TABLES}
            for path in staging.iterdir():
                if path.name not in keep:
                    path.unlink(missing_ok=True)
        self.pending = Counter(self.batch_of[t.run.run_id] for t in todo)
        self._journal = open(self.work / JOURNAL, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def _journal_records(self, records: list[dict]) -> None:
        if records:
            self._journal.write("".join(json.dumps(r) + "\n" for r in records))
            self._journal.flush()

    def finished(self, run: Run, result: dict | None, error: BaseException | None) -> None:
        """Record a finished run; write its batch when it was the batch's last; spill now and then."""
        if error is None:
            record = {
                "run_id": run.run_id,
                "status": "ok",
                "error": None,
                "wall_time_s": result["wall_time_s"],
                "outcomes": result["outcomes"],
                "outcomes_id": self.outcomes_id,
            }
            self.frames[run.run_id] = result["frames"]
            self.unsaved[run.run_id] = record  # journalled once its tables are on disk
        else:
            message = str(error) if isinstance(error, RunFailed) else describe_error(error)
            record = {
                "run_id": run.run_id,
                "status": "failed",
                "error": message,
                "wall_time_s": getattr(error, "wall_time_s", None),
                "outcomes": None,
                "outcomes_id": None,
            }
            self._journal_records([record])
        self.records[run.run_id] = record
        batch = self.batch_of[run.run_id]
        self.pending[batch] -= 1
        if self.pending[batch] == 0:
            self.write_batch(batch)
        if self.unsaved and perf_counter() - self._last_spill > SPILL_S:
            self.spill()

    def spill(self) -> None:
        """Write the finished runs held only in memory to one chunk (a file a table), then journal them."""
        ids = [r.run_id for r in self.plan.runs if r.run_id in self.unsaved]  # plan order: same bytes every time
        self._last_spill = perf_counter()
        if not ids:
            return
        chunk = max(self.chunks, default=-1) + 1
        for table in TABLES:
            _write_runs(chunk_path(self.work, table, chunk), ids, [self.frames[i][table] for i in ids], durable=False)
        self.chunks[chunk] = set(ids)
        for run_id in ids:
            self.chunk_of[run_id] = chunk
        self._journal_records([self.unsaved.pop(run_id) for run_id in ids])

    def close(self) -> None:
        """Save what finished (Ctrl-C, an error) and close the journal."""
        if self._journal is not None:
            try:
                self.spill()
            finally:
                self._journal.close()
                self._journal = None

    def ok(self, run_id: str) -> bool:
        record = self.records.get(run_id)
        return record is not None and record["status"] == "ok"

    def write_batch(self, batch: int) -> None:
        """Write a batch's files from its successful runs (in plan order); journal them; drop used chunks."""
        members = [run_id for run_id in self.batch_runs(batch) if self.ok(run_id)]
        if members == self.stored.get(batch) and not any(m in self.frames or m in self.chunk_of for m in members):
            return
        for table in TABLES:
            path = batch_path(self.work, table, batch)
            if not members:
                path.unlink(missing_ok=True)
                continue
            cache: dict[Path, pd.DataFrame] = {}
            _write_runs(path, members, [self._table_of(m, table, batch, cache) for m in members])
        self.stored[batch] = members
        self._journal_records([self.unsaved.pop(m) for m in members if m in self.unsaved])
        for run_id in members:
            self.frames.pop(run_id, None)
            chunk = self.chunk_of.pop(run_id, None)
            if chunk is not None:
                self.chunks[chunk].discard(run_id)
                if not self.chunks[chunk]:
                    del self.chunks[chunk]
                    for table in TABLES:
                        chunk_path(self.work, table, chunk).unlink(missing_ok=True)

    def _table_of(self, run_id: str, table: str, batch: int, cache: dict[Path, pd.DataFrame]) -> pd.DataFrame:
        if run_id in self.frames:
            return self.frames[run_id][table]
        chunk = self.chunk_of.get(run_id)
        path = chunk_path(self.work, table, chunk) if chunk is not None else batch_path(self.work, table, batch)
        if path not in cache:
            try:
                cache[path] = pd.read_parquet(path)
            except (OSError, ValueError, pa.ArrowException) as err:
                raise ExperimentError(
                    f"{path} cannot be read ({_first_line(err)}); delete it and --resume again to rerun its runs"
                ) from None
        rows = cache[path]
        return rows.loc[rows["run_id"] == run_id].drop(columns="run_id")

    def read_batch(self, batch: int, table: str) -> pd.DataFrame:
        path = batch_path(self.work, table, batch)
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError, pa.ArrowException) as err:
            raise ExperimentError(
                f"{path} cannot be read ({_first_line(err)}); delete it and --resume again to rerun its runs"
            ) from None


def _write_runs(path: Path, ids: list[str], frames: list[pd.DataFrame], durable: bool = True) -> None:
    """One file of several runs' rows, a ``run_id`` column first, the ids in order in its metadata."""
    lengths = [len(f) for f in frames]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    frame.insert(0, "run_id", np.repeat(np.array(ids, dtype=object), lengths))
    write_parquet_atomic(frame, path, durable=durable, metadata={RUNS_KEY: json.dumps(ids).encode()})


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:200]


def _clean_temporary_files(work: Path) -> None:
    """Remove temp files a killed run left behind (hidden names; nothing else writes here now)."""
    for path in work.rglob(".*"):
        if path.is_file():
            path.unlink(missing_ok=True)


class _RunTables:
    """One run's table at a time from a finished working folder, reading each batch file once."""

    def __init__(self, book: _Book, table: str) -> None:
        self.book, self.table = book, table
        self._batch: int | None = None
        self._groups: dict[str, pd.DataFrame] = {}

    def __call__(self, run_id: str) -> pd.DataFrame:
        batch = self.book.batch_of[run_id]
        if batch != self._batch:
            frame = self.book.read_batch(batch, self.table)
            self._groups = {
                k: g.drop(columns="run_id").reset_index(drop=True) for k, g in frame.groupby("run_id", sort=False)
            }
            self._batch = batch
        return self._groups.get(run_id, pd.DataFrame())


# --------------------------------------------------------------------------- finishing


def _finalise(plan: Plan, work: Path, book: _Book) -> tuple[list[tuple[str, str]], str]:
    """Write batches, runs, outcomes and summaries in plan order, hash every output, complete the manifest."""
    # Here rather than at the top: workers import this module and never need scipy.
    from .summary import summarise, summary_markdown

    for batch in range(book.batches):  # batches a killed session left half written, or a resume changed
        book.write_batch(batch)

    labels = {c.id: c.labels for c in plan.cells}
    records = []
    for run in plan.runs:
        record = book.records.get(run.run_id) or {
            "status": "failed",
            "error": "no record (interrupted)",
            "wall_time_s": None,
        }
        records.append((run, record))
    ok = [run for run, r in records if r["status"] == "ok"]
    failed = [(run.run_id, r["error"]) for run, r in records if r["status"] != "ok"]

    runs = pd.DataFrame(
        [
            {
                "run_id": run.run_id,
                "cell": run.cell,
                **labels[run.cell],
                "replication": run.replication,
                "seed_entropy": run.seed_entropy,
                "seed_spawn_key": run.seed_spawn_key,
                "status": r["status"],
                "error": r["error"],
                "wall_time_s": r["wall_time_s"],
            }
            for run, r in records
        ]
    )
    runs["wall_time_s"] = runs["wall_time_s"].astype(np.float64)
    runs["error"] = runs["error"].astype("str")  # a text column even when nothing failed
    write_parquet_atomic(_plain_columns(runs), work / "runs.parquet")

    models, vintages = _RunTables(book, "model"), _RunTables(book, "vintages")
    need_vintages = any(o.needs_vintages for o in plan.outcomes)
    rows = []
    for run in ok:
        record = book.records[run.run_id]
        values = record.get("outcomes") if record.get("outcomes_id") == book.outcomes_id else None
        if values is None:  # outcomes defined anew on --resume: computed from the stored tables
            values = compute_outcomes(
                plan.outcomes, models(run.run_id), vintages(run.run_id) if need_vintages else None
            )
        rows.append(
            {
                "run_id": run.run_id,
                "cell": run.cell,
                **labels[run.cell],
                "replication": run.replication,
                **{o.key: values[o.key] for o in plan.outcomes},
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

        texts.update(validation_files(plan, outcomes, _RunTables(book, "model")))
    for name, text in texts.items():
        write_text_atomic(work / name, text)

    files = {}
    for batch in range(book.batches):
        if book.stored.get(batch):
            for table in TABLES:
                path = batch_path(work, table, batch)
                files[path.relative_to(work).as_posix()] = sha256_file(path)
    for name in ("outcomes.parquet", *texts):
        files[name] = sha256_file(work / name)

    # runs.parquet and outcomes.parquet now hold every record: the journal and staging go.
    shutil.rmtree(work / STAGING, ignore_errors=True)
    (work / JOURNAL).unlink(missing_ok=True)
    manifest = _read_json(work / MANIFEST_NAME)
    manifest.update(
        complete=True,
        runs={"total": len(records), "ok": len(ok), "failed": [f[0] for f in failed]},
        batch_runs=book.size,
        files=files,
    )
    write_json_atomic(work / MANIFEST_NAME, manifest)
    return failed, summary_md


def read_run_table(folder: Path | str, table: str, run_id: str) -> pd.DataFrame:
    """One run's table from a finished results folder (batch files, or one folder per run before them)."""
    folder = Path(folder)
    old = folder / table / f"run_id={run_id}" / "part-0.parquet"
    if old.is_file():
        return pd.read_parquet(old)
    for path in sorted((folder / table).glob("part-*.parquet")):
        meta = pq.read_schema(path).metadata or {}
        if run_id in json.loads(meta.get(RUNS_KEY, b"[]")):
            rows = pd.read_parquet(path, filters=[("run_id", "==", run_id)])
            return rows.drop(columns="run_id").reset_index(drop=True)
    raise KeyError(f"{folder}: no {table} table for run {run_id}")


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
    "batch_path",
    "batch_size",
    "execute_run",
    "partial_folder",
    "read_run_table",
    "run_experiment",
    "simulate",
    "chunk_path",
]

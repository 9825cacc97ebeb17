"""``python -m benchmarks.big_sweep``: a sweep of many small runs, end to end, as ``run.py sweep`` runs it.

Measures what a large sweep costs besides the simulations: runs a second, the files and folders the
results take (at the end, and the most seen while it ran), the peak resident memory of the command
and of its workers, the time to finish the folder (records, outcomes, summary, hashes: what follows
the last run), and the time of ``analysis.load`` and of ``run.py report`` on the result. Each run is
tiny (50 borrowers, 2 platforms, 4 months, no burn-in), so the machinery rather than the model is
measured. Prints one JSON object; ``--json FILE`` also writes it.

    python -m benchmarks.big_sweep                      # 20,000 runs = 10,000 points x 2, -j 2
    python -m benchmarks.big_sweep --runs 400 -j 1      # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from .large_run import RU_MAXRSS_UNIT

SMALL = {"borrowers.count": 50, "platforms.count": 2, "months": 4, "burn_in": 0}
# One file a table and run, plus its folder, plus its record: what each run added before batch files.
FILES_PER_RUN_BEFORE = 7


def sweep_plan(runs: int, replications: int = 2):
    """A grid over the penalty cap with ``runs / replications`` points of the baseline at :data:`SMALL`."""
    from experiments.outcomes import OutcomeSpec
    from experiments.plan import Cell, Plan
    from sim.config import ScenarioConfig

    points = max(1, runs // replications)
    base = ScenarioConfig().with_overrides(SMALL)
    cells = []
    width = len(str(points - 1))
    for i in range(points):
        cap = round(0.05 + 0.95 * i / max(points - 1, 1), 6)
        config = base.with_overrides({"regulator.penalty_cap_annual": cap})
        cells.append(Cell(f"p{i:0{width}d}", {"regulator.penalty_cap_annual": cap}, config))
    outcomes = tuple(
        OutcomeSpec.model_validate({"name": name}) for name in ("peak_overdue_rate", "cum_default_rate", "losses")
    )
    return Plan(
        kind="sweep",
        cells=tuple(cells),
        replications=replications,
        master_seed=19,
        outcomes=outcomes,
        label_columns=("regulator.penalty_cap_annual",),
        description="big sweep benchmark",
    )


def count_entries(folder: Path) -> int:
    """Files and folders under ``folder`` (what a file system's inode quota counts)."""
    return sum(len(dirs) + len(files) for _, dirs, files in os.walk(folder))


class _Watch(threading.Thread):
    """Samples the number of entries of the working folder while the sweep runs."""

    def __init__(self, folders: list[Path], every: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.folders, self.every, self.most = folders, every, 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.every):
            for folder in self.folders:
                if folder.is_dir():
                    self.most = max(self.most, count_entries(folder))


def measure(runs: int, workers: int, folder: Path) -> dict:
    from experiments import engine
    from experiments.engine import partial_folder, run_experiment

    plan = sweep_plan(runs)
    out = folder / "big-sweep"
    finish = {}
    real = engine._finalise

    def timed_finalise(*args, **kwargs):
        start = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            finish["s"] = time.perf_counter() - start

    engine._finalise = timed_finalise
    watch = _Watch([partial_folder(out), out])
    watch.start()
    start = time.perf_counter()
    try:
        result = run_experiment(plan, out, workers=workers, progress=False)
    finally:
        wall = time.perf_counter() - start
        watch.stop.set()
        watch.join()
        engine._finalise = real
    usage = resource.getrusage(resource.RUSAGE_SELF)
    command_cpu = usage.ru_utime + usage.ru_stime
    self_rss = usage.ru_maxrss * RU_MAXRSS_UNIT
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * RU_MAXRSS_UNIT

    import analysis

    start = time.perf_counter()
    loaded = analysis.load(out)
    monthly = loaded.model
    load_s = time.perf_counter() - start

    import subprocess

    start = time.perf_counter()
    report = subprocess.run(
        [sys.executable, "run.py", "report", str(out)],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    report_s = time.perf_counter() - start
    final_entries = count_entries(out)
    start = time.perf_counter()
    again = run_experiment(plan, out, resume=True, progress=False)  # a finished sweep: nothing to run
    resume_s = time.perf_counter() - start
    return {
        "runs": len(plan.runs),
        "failed": len(result.failed),
        "workers": workers,
        "run_size": SMALL,
        "wall_s": round(wall, 1),
        "runs_per_s": round(len(plan.runs) / wall, 1),
        "files_at_end": final_entries,
        "files_most_while_running": max(watch.most, final_entries),
        "files_per_run_before": FILES_PER_RUN_BEFORE,
        "files_before": FILES_PER_RUN_BEFORE * len(plan.runs),
        "batch_runs": engine.batch_size(len(plan.runs)),
        "command_cpu_ms_per_run": round(1000 * command_cpu / len(plan.runs), 2),
        "peak_rss_command_mb": round(self_rss / 2**20),
        "peak_rss_worker_mb": round(child_rss / 2**20),
        "finish_s": round(finish.get("s", float("nan")), 2),
        "load_model_s": round(load_s, 2),
        "model_rows": len(monthly),
        "report_s": round(report_s, 1),
        "report_ok": report.returncode == 0,
        "report_error": report.stderr.strip().splitlines()[-1:] if report.returncode else [],
        "resume_finished_s": round(resume_s, 1),
        "resume_reran": again.ran,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.big_sweep", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("-j", "--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="write the sweep here (a new folder) and keep it")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the numbers to FILE")
    args = parser.parse_args(argv)
    scratch = None
    if args.keep is None:
        scratch = Path(tempfile.mkdtemp(prefix="lendsim-big-sweep-"))
        folder = scratch
    else:
        folder = args.keep
        folder.mkdir(parents=True, exist_ok=False)
    try:
        numbers = measure(args.runs, args.workers, folder)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    text = json.dumps(numbers, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0 if numbers["failed"] == 0 and numbers["report_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

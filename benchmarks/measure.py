"""The measurements of the benchmark, each a function returning plain numbers.

Wall-clock time with ``time.perf_counter``; every throughput is in borrower-months per second
(borrowers x months stepped / seconds) and is reported as the median over repetitions, with the
repetitions kept so the spread is visible. Markets are burned in (``BURN_IN`` months, untimed)
before their months are timed, so the loan book is near its steady size.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import sim.model
from experiments.engine import ExperimentResult, run_experiment
from experiments.outcomes import OutcomeSpec
from experiments.plan import Cell
from experiments.plan import Plan as ExperimentPlan
from sim.config import ScenarioConfig, load_scenario
from sim.model import LendingMarket

from .reference_mesa import MarketSnapshot, ReferenceMarket, switch_off_new_lending

REPO_ROOT = Path(__file__).resolve().parent.parent
BASELINE = REPO_ROOT / "scenarios" / "baseline.yaml"
BURN_IN = 24


@dataclass
class Throughput:
    """Borrower-months per second of repeated timed blocks of months."""

    borrowers: int
    months_per_rep: int
    seconds: list[float]  # wall time of each repetition
    cpu_seconds: list[float]  # CPU time of the process in each repetition (less than wall when starved)
    note: str = ""

    @property
    def reps(self) -> list[float]:
        return [self.borrowers * self.months_per_rep / s for s in self.seconds]

    @property
    def median(self) -> float:
        return statistics.median(self.reps)

    @property
    def cpu_share(self) -> float:
        """CPU time over wall time: about 1 on an idle core, lower when other processes took the CPU."""
        return sum(self.cpu_seconds) / sum(self.seconds)

    def as_dict(self) -> dict:
        return {
            "borrower_months_per_s": self.median,
            "reps_borrower_months_per_s": self.reps,
            "cpu_share": self.cpu_share,
            **asdict(self),
        }


def scenario(borrowers: int, burn_in: int = BURN_IN, months: int = 120, path: Path = BASELINE) -> ScenarioConfig:
    """The baseline scenario at a given size."""
    return load_scenario(path).with_overrides({"borrowers.count": borrowers, "burn_in": burn_in, "months": months})


def burned_in_market(borrowers: int, seed: int = 0, burn_in: int = BURN_IN) -> LendingMarket:
    """A baseline market after ``burn_in`` months."""
    market = LendingMarket(scenario(borrowers, burn_in), seed=seed)
    for _ in range(burn_in):
        market.step()
    return market


def _time_steps(step: Callable[[], None], months: int) -> tuple[float, float]:
    """Wall and CPU seconds of ``months`` calls of ``step``."""
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(months):
        step()
    return time.perf_counter() - start, time.process_time() - start_cpu


def lendsim_throughput(market: LendingMarket, months_per_rep: int, reps: int, note: str = "") -> Throughput:
    """Throughput of ``market``'s full month (all twelve phases, data collection on); advances it."""
    wall, cpu = zip(*(_time_steps(market.step, months_per_rep) for _ in range(reps)))
    return Throughput(market.borrower_state.n, months_per_rep, list(wall), list(cpu), note)


def reference_throughput(
    snapshot: MarketSnapshot, months_per_rep: int, reps: int, seed: int = 0
) -> tuple[Throughput, list[float]]:
    """Throughput of the plain-Mesa reference, each repetition freshly built from ``snapshot``.

    Returns:
        The throughput, and the build time of each repetition (s).
    """
    seconds, cpu, builds = [], [], []
    for r in range(reps):
        start = time.perf_counter()
        model = ReferenceMarket.from_snapshot(snapshot, seed=seed + r)
        builds.append(time.perf_counter() - start)
        wall, used = _time_steps(model.step, months_per_rep)
        seconds.append(wall)
        cpu.append(used)
        del model
    return Throughput(
        snapshot.n_borrowers, months_per_rep, seconds, cpu, "fresh from the same burned-in state each rep"
    ), builds


def like_for_like_throughput(market: LendingMarket, months_per_rep: int, reps: int) -> Throughput:
    """lendsim with new lending switched off (the reference's workload plus the platform phases).

    Consecutive months, so the book shrinks a little from one repetition to the next.
    """
    switch_off_new_lending(market)
    return lendsim_throughput(market, months_per_rep, reps, "new lending switched off")


def datacollection_overhead(market: LendingMarket, months_per_block: int, blocks: int) -> dict:
    """Cost of phase 12's data collection, by switching it off in alternate blocks of months.

    "Off" replaces ``market.collect_data`` by the loan-book compaction it also does (so the book,
    and the rest of the month, are unchanged; the baseline's early warning, which reads last
    month's overdue rate, is off). "On" months are also timed inside: the calls to
    ``model_metrics`` and ``DataCollector.collect``, as a share of the month.
    """
    spent = {"collect": 0.0}
    metrics_fn = sim.model.model_metrics
    collect_fn = market.datacollector.collect

    def timed(fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent["collect"] += time.perf_counter() - start

        return wrapper

    on, off, inside = [], [], 0.0
    try:
        for _ in range(blocks):
            sim.model.model_metrics = timed(metrics_fn)
            market.datacollector.collect = timed(collect_fn)
            spent["collect"] = 0.0
            on.append(_time_steps(market.step, months_per_block)[0] / months_per_block)
            inside += spent["collect"]
            sim.model.model_metrics = metrics_fn
            del market.datacollector.collect
            market.collect_data = market.loans.compact
            off.append(_time_steps(market.step, months_per_block)[0] / months_per_block)
            del market.collect_data
    finally:
        sim.model.model_metrics = metrics_fn
        market.__dict__.pop("collect_data", None)
        market.datacollector.__dict__.pop("collect", None)
    month_on, month_off = statistics.median(on), statistics.median(off)
    return {
        "borrowers": market.borrower_state.n,
        "months_per_block": months_per_block,
        "blocks": blocks,
        "month_on_s": on,
        "month_off_s": off,
        "overhead": month_on / month_off - 1.0,
        "share_timed_inside": inside / (sum(on) * months_per_block),
    }


# --------------------------------------------------------------------------- comparison of runs

COMPARISON_SCENARIOS = ("scenarios/baseline.yaml", "scenarios/policies/penalty_cap.yaml")


def comparison_plan(runs: int, borrowers: int, burn_in: int, months: int, master_seed: int = 2024) -> ExperimentPlan:
    """A ``runs``-run comparison of ``COMPARISON_SCENARIOS``: the plan ``run.py compare`` would run,
    with common random numbers (replication r of every scenario uses the same seed)."""
    size = {"borrowers.count": borrowers, "burn_in": burn_in, "months": months}
    cells = tuple(
        Cell(
            f"{Path(s).stem}__none",
            {"policy": Path(s).stem, "shock": "none"},
            load_scenario(REPO_ROOT / s).with_overrides(size),
        )
        for s in COMPARISON_SCENARIOS
    )
    return ExperimentPlan(
        kind="comparison",
        cells=cells,
        replications=max(runs // len(cells), 1),
        master_seed=master_seed,
        outcomes=(OutcomeSpec(name="mean_overdue_balance_rate"), OutcomeSpec(name="cum_default_rate")),
        label_columns=("policy", "shock"),
        reference="baseline",
    )


def run_comparison(plan: ExperimentPlan, workers: int) -> ExperimentResult:
    """Run the plan as ``run.py compare -j workers`` does (the experiments engine and its executors,
    results folder included), in a temporary folder. Worker start-up is part of the time measured."""
    with tempfile.TemporaryDirectory(prefix="lendsim-bench-") as tmp:
        return run_experiment(plan, Path(tmp) / "comparison", workers=workers, progress=False)


def comparison_throughput(
    runs: int, borrowers: int, burn_in: int, months: int, worker_counts: tuple[int, ...], reps: int
) -> dict:
    """Runs per second of a ``runs``-run comparison for each worker count (alternating, ``reps`` times)."""
    plan = comparison_plan(runs, borrowers, burn_in, months)
    seconds: dict[int, list[float]] = {w: [] for w in worker_counts}
    cpu: dict[int, list[float]] = {w: [] for w in worker_counts}
    for _ in range(reps):
        for w in worker_counts:
            start, start_cpu = time.perf_counter(), _process_and_children_cpu()
            result = run_comparison(plan, w)
            seconds[w].append(time.perf_counter() - start)
            # with -j 1 the runs are in this process; with more, in workers reaped when the pool closed
            cpu[w].append(_process_and_children_cpu() - start_cpu)
            assert result.ran == len(plan.runs) and not result.failed
    return {
        "runs": len(plan.runs),
        "borrowers": borrowers,
        "burn_in": burn_in,
        "months": months,
        "seconds": {str(w): s for w, s in seconds.items()},
        "worker_cpu_seconds": {str(w): c for w, c in cpu.items()},
        # CPU the workers got over what `w` idle cores would give: below 1 when others took it
        "cpu_share": {str(w): sum(cpu[w]) / (w * sum(seconds[w])) for w in worker_counts},
        "runs_per_s": {str(w): len(plan.runs) / statistics.median(s) for w, s in seconds.items()},
    }


def _process_and_children_cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# --------------------------------------------------------------------------- a large run in a child


def large_run_in_child(borrowers: int, burn_in: int, months: int, setup_only: bool = False) -> dict:
    """Set up and run a market in a fresh Python process (``benchmarks.large_run``); its set-up
    time, per-month times and peak resident memory (``ru_maxrss`` of that process)."""
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.large_run",
        "--borrowers",
        str(borrowers),
        "--burn-in",
        str(burn_in),
        "--months",
        str(months),
    ] + (["--setup-only"] if setup_only else [])
    done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return json.loads(done.stdout)


# --------------------------------------------------------------------------- the machine


def machine_info() -> dict:
    """What the numbers were measured on."""
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
    }
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        models = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        info["cpu_model"] = models[0] if models else platform.processor()
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kib = next(
            int(line.split()[1]) for line in meminfo.read_text().splitlines() if line.startswith("MemTotal")
        )
        info["ram_gb"] = round(total_kib * 1024 / 1e9, 1)
    import mesa
    import pandas

    info.update(numpy=np.__version__, mesa=mesa.__version__, pandas=pandas.__version__)
    info["load_average_1_5_15"] = list(os.getloadavg())
    info["git_commit"] = _git("rev-parse", "HEAD")
    info["git_dirty"] = bool(_git("status", "--porcelain", "--untracked-files=no"))
    return info


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""

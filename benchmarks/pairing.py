"""How much common random numbers buy: ``python -m benchmarks.pairing [--replications R] [--json FILE]``.

A comparison pairs replication r of every arm (same seed); the paired difference is tighter than
the difference of two independent means by the **variance-reduction factor**

    VRF = (var(policy) + var(baseline)) / var(policy - baseline),

over replications: 1 when pairing buys nothing, large when the arms meet the same luck. This
runs the baseline and five policies (``penalty_cap``, ``penalty_compounding``, ``education``,
``collection_regulated``, ``better_scoring``) at 5,000 borrowers x 60 months with R = 16 through
the experiments engine (as ``run.py compare`` does), and reports the VRF per policy and outcome,
and the replications a paired comparison needs for a 95% interval of +-0.1 pp on cumulative
default (against the replications two independent arms would need).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from experiments.engine import run_experiment
from experiments.outcomes import OutcomeSpec
from experiments.plan import Cell, Plan
from sim.config import load_scenario

REPO_ROOT = Path(__file__).resolve().parent.parent
POLICIES = ("penalty_cap", "penalty_compounding", "education", "collection_regulated", "better_scoring")
# the policies whose median VRF is the target (penalty_compounding changes the market too much to pair closely)
TARGET_POLICIES = ("penalty_cap", "education", "better_scoring", "collection_regulated")
OUTCOMES = {
    "mean overdue": OutcomeSpec(name="mean_overdue_balance_rate"),
    "peak overdue": OutcomeSpec(name="peak_overdue_balance_rate"),
    "cumulative default": OutcomeSpec(name="cum_default_rate"),
    "losses": OutcomeSpec(name="losses"),
    "credit supply": OutcomeSpec(name="credit_supply"),
}
TARGET_OUTCOMES = ("mean overdue", "cumulative default", "losses")
HALF_WIDTH = 0.001  # +-0.1 pp on cumulative default
Z = 1.959964


def pairing_plan(replications: int = 16, borrowers: int = 5000, months: int = 60, master_seed: int = 20261201) -> Plan:
    size = {"borrowers.count": borrowers, "months": months}
    names = ("baseline", *POLICIES)
    paths = [REPO_ROOT / "scenarios" / "baseline.yaml"] + [
        REPO_ROOT / "scenarios" / "policies" / f"{p}.yaml" for p in POLICIES
    ]
    cells = tuple(
        Cell(f"{name}__none", {"policy": name, "shock": "none"}, load_scenario(path).with_overrides(size))
        for name, path in zip(names, paths)
    )
    return Plan(
        kind="comparison",
        cells=cells,
        replications=replications,
        master_seed=master_seed,
        outcomes=tuple(OUTCOMES.values()),
        label_columns=("policy", "shock"),
        reference="baseline",
    )


def variance_reduction(outcomes: pd.DataFrame) -> dict:
    """VRF per policy and outcome, and replications needed for +-0.1 pp on cumulative default."""
    by = {cell: frame.set_index("replication") for cell, frame in outcomes.groupby("policy")}
    base = by["baseline"]
    table: dict = {}
    for policy in POLICIES:
        own = by[policy]
        row = {}
        for label, spec in OUTCOMES.items():
            a, b = own[spec.key], base[spec.key]
            d = a - b
            var_d = float(d.var(ddof=1))
            row[label] = (float(a.var(ddof=1)) + float(b.var(ddof=1))) / var_d if var_d > 0 else math.inf
        key = OUTCOMES["cumulative default"].key
        d = own[key] - base[key]
        row["replications, paired"] = math.ceil((Z * float(d.std(ddof=1)) / HALF_WIDTH) ** 2)
        independent = float(own[key].var(ddof=1)) + float(base[key].var(ddof=1))
        row["replications, independent"] = math.ceil(Z**2 * independent / HALF_WIDTH**2)
        table[policy] = row
    medians = {label: statistics.median(table[p][label] for p in TARGET_POLICIES) for label in OUTCOMES}
    target = statistics.median(table[p][label] for p in TARGET_POLICIES for label in TARGET_OUTCOMES)
    return {"by_policy": table, "median_over_target_policies": medians, "target_median_vrf": target}


def measure(replications: int = 16, workers: int = 2, borrowers: int = 5000, months: int = 60) -> dict:
    plan = pairing_plan(replications, borrowers, months)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lendsim-pairing-") as tmp:
        result = run_experiment(plan, Path(tmp) / "pairing", workers=workers, progress=False)
        outcomes = pd.read_parquet(result.out / "outcomes.parquet")
    return {
        "replications": replications,
        "borrowers": borrowers,
        "months": months,
        "runs": len(plan.runs),
        "seconds": time.perf_counter() - start,
        **variance_reduction(outcomes),
    }


def format_table(out: dict) -> str:
    labels = list(OUTCOMES)
    header = ["policy", *(f"VRF {label}" for label in labels), "R for +-0.1 pp default (paired / independent)"]
    lines = [
        f"pairing: {out['runs']} runs, {out['borrowers']:,} borrowers x {out['months']} months, R = "
        f"{out['replications']}, {out['seconds']:.0f} s",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for policy, row in out["by_policy"].items():
        cells = [f"{row[label]:.1f}" for label in labels]
        cells.append(f"{row['replications, paired']} / {row['replications, independent']}")
        lines.append("| " + " | ".join([policy, *cells]) + " |")
    med = out["median_over_target_policies"]
    lines.append(
        "| median of "
        + ", ".join(TARGET_POLICIES)
        + " | "
        + " | ".join(f"{med[label]:.1f}" for label in labels)
        + " | |"
    )
    lines += [
        "",
        f"target: median VRF over {', '.join(TARGET_POLICIES)} x {', '.join(TARGET_OUTCOMES)} = "
        f"{out['target_median_vrf']:.1f} (needed >= 10)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pairing", description=__doc__.splitlines()[0])
    parser.add_argument("--replications", "-r", type=int, default=16)
    parser.add_argument("--workers", "-j", type=int, default=2)
    parser.add_argument("--json", type=Path, metavar="FILE")
    args = parser.parse_args(argv)
    out = measure(args.replications, args.workers)
    print(format_table(out))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Scenario discovery with the EMA workbench: which shocks and policies push the overdue rate above 10%?

Needs the optional extra: ``pip install -e '.[ema]'``. Run from the repository root::

    .venv/bin/python scenarios/ema/prim_overdue.py                 # 80 experiments x 2 runs, ~3 min on 2 cores
    .venv/bin/python scenarios/ema/prim_overdue.py --experiments 300 --replications 4 --workers 8

It samples recessions (uncertainties: how far unemployment rises, how much employed incomes fall,
how long it lasts) together with policies (levers: collection regime, bureau-reporting mandate,
a forbearance mandate, income relief during the shock) by Latin hypercube, runs each experiment
R times with common random numbers (the mean is the outcome), marks the experiments whose peak
M1+ overdue rate by balance exceeds the threshold, and lets PRIM find the box of inputs where
such experiments concentrate. It prints the box (the ranges that matter, its coverage and
density) and writes into ``--out``: ``experiments.csv`` (inputs and outcomes), ``prim_box.csv``
(the box limits), ``prim_tradeoff.png`` (coverage against density along PRIM's peeling
trajectory) and ``prim_box.png`` (the chosen box).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # EMA's plots go through pyplot; draw without a display

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere in the repository

UNCERTAINTIES = {
    "economy.shocks[0].unemployment_delta": (0.0, 0.12),
    "economy.shocks[0].income_factor": (0.85, 1.0),
    "economy.shocks[0].duration": (6, 36),
}
LEVERS = {
    "platforms.policy.collection.regime": ["standard", "aggressive", "regulated"],
    "regulator.bureau_mandate_share": (0.0, 1.0),
    "regulator.forbearance.enabled": [False, True],
    "economy.shocks[0].relief": (0.0, 0.5),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiments", type=int, default=80, help="Latin-hypercube experiments (default 80)")
    parser.add_argument("--replications", type=int, default=2, help="seeded runs per experiment (default 2)")
    parser.add_argument("--borrowers", type=int, default=3000, help="borrowers per run (default 3000)")
    parser.add_argument("--months", type=int, default=48, help="months after burn-in (default 48)")
    parser.add_argument("--burn-in", type=int, default=None, help="burn-in months (default: the scenario's)")
    parser.add_argument("--threshold", type=float, default=0.10, help="peak overdue rate of interest (default 0.10)")
    parser.add_argument("--seed", type=int, default=2024, help="master seed of the replications and the samples")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "ema_prim", help="output folder")
    args = parser.parse_args(argv)

    import warnings

    import numpy as np
    import pandas as pd

    warnings.filterwarnings("ignore", message="ipyparallel not installed")  # an evaluator this script does not use
    from ema_workbench import MultiprocessingEvaluator, SequentialEvaluator
    from ema_workbench.analysis import prim

    from experiments.ema import lendsim_model

    overrides = {"borrowers.count": args.borrowers, "months": args.months}
    if args.burn_in is not None:
        overrides["burn_in"] = args.burn_in
    model = lendsim_model(
        ROOT / "scenarios" / "shocks" / "recession.yaml",
        uncertainties=UNCERTAINTIES,
        levers=LEVERS,
        outcomes=["peak_overdue_balance_rate", "cum_default_rate"],
        replications=args.replications,
        master_seed=args.seed,
        overrides=overrides,
    )
    evaluator = (
        SequentialEvaluator(model) if args.workers <= 1 else MultiprocessingEvaluator(model, n_processes=args.workers)
    )
    with evaluator:
        # combine="sample": experiment i pairs uncertainty sample i with lever sample i, so PRIM
        # sees shocks and policies vary together over one Latin hypercube each.
        experiments, outcomes = evaluator.perform_experiments(
            scenarios=args.experiments,
            policies=args.experiments,
            combine="sample",
            uncertainty_sampling_kwargs={"rng": args.seed},
            lever_sampling_kwargs={"rng": args.seed + 1},
        )

    args.out.mkdir(parents=True, exist_ok=True)
    inputs = experiments[list(model.lendsim_keys)]
    table = pd.concat([inputs.rename(columns=model.lendsim_keys), pd.DataFrame(outcomes)], axis=1)
    table.to_csv(args.out / "experiments.csv", index=False)
    y = np.asarray(outcomes["peak_overdue_balance_rate"]) > args.threshold
    print(
        f"{int(y.sum())} of {len(y)} experiments peak above {args.threshold:.0%} overdue "
        f"({args.replications} seeded runs each, {args.borrowers} borrowers, {args.months} months)"
    )
    if y.sum() == 0 or y.all():
        print("PRIM needs experiments on both sides of the threshold; change --threshold or the ranges")
        return 1

    x = inputs.copy()
    for column in x.columns:  # PRIM treats object columns as categories
        if x[column].dtype == bool:
            x[column] = x[column].astype(str).astype("category")
        elif x[column].dtype == object:
            x[column] = x[column].astype("category")
        elif pd.api.types.is_integer_dtype(x[column]):
            # PRIM pastes a box's limits back as floats (a limit of 10.5 months), which pandas refuses to write
            # into an integer column
            x[column] = x[column].astype(float)
    box = prim.Prim(x, y, peel_alpha=0.1).find_box()
    trajectory = box.peeling_trajectory
    dense = trajectory[trajectory["density"] >= 0.8]
    chosen = int(dense["coverage"].idxmax()) if len(dense) else int(trajectory["density"].idxmax())
    box.select(chosen)
    stats = trajectory.loc[chosen]
    print(
        f"PRIM box {chosen}: coverage {stats['coverage']:.0%} (of the experiments above {args.threshold:.0%}, the "
        f"share inside the box), density {stats['density']:.0%} (of the experiments in the box, the share above), "
        f"mass {stats['mass']:.0%}, {int(stats['res_dim'])} restricted dimensions"
    )
    limits = box.box_lims[chosen]
    full = box.box_lims[0]
    restricted = [c for c in limits.columns if not limits[c].equals(full[c])]
    for column in restricted:
        key = model.lendsim_keys.get(column, column)
        low, high = limits[column].iloc[0], limits[column].iloc[1]
        span = f"{sorted(low)}" if isinstance(low, set) else f"{low:.3g} to {high:.3g}"
        print(f"  {key}: {span}")
    limits.to_csv(args.out / "prim_box.csv")
    fig = box.show_tradeoff()
    fig.savefig(args.out / "prim_tradeoff.png", dpi=120, metadata={"Software": None})
    drawn = box.inspect(chosen, style="graph")[0]
    drawn = drawn[0] if isinstance(drawn, (list, tuple)) else drawn
    drawn.savefig(args.out / "prim_box.png", dpi=120, metadata={"Software": None}, bbox_inches="tight")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

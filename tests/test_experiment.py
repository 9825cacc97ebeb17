"""Comparisons and sweeps: specs, seeds, designs, summaries, executors, faults, resume, reproduce.

Runs are tiny (400 borrowers, 6 + 12 months) so the file stays quick on two cores; what is
checked is the machinery, which does not depend on size. Reference results are computed once per
module, in this process (``-j 1``), and every other way of running must give the same bytes.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from experiments import engine
from experiments.design import Axis, grid, latin_hypercube, sobol
from experiments.engine import ExperimentError, partial_folder, run_experiment
from experiments.outcomes import OutcomeSpec
from experiments.plan import Plan
from experiments.reproduce import version_warnings
from experiments.spec import load_comparison, load_sweep
from experiments.summary import paired_difference, t_interval
from sim.config import ConfigError
from sim.keys import KeyPathError, resolve, set_value
from sim.store import ResultsExistError, provenance, read_manifest, sha256_file

REPO_ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = REPO_ROOT / "scenarios"
SMALL = {"borrowers.count": 400, "months": 12, "burn_in": 6}
OUTCOMES = [
    "peak_overdue_balance_rate",
    {"name": "overdue_balance_rate_at", "month": 6},
    "cum_default_rate",
    "losses",
    "credit_supply",
    "complaints",
]


def comparison_spec(**changes) -> dict:
    return {
        "description": "test comparison",
        "policies": [
            str(SCENARIOS / "baseline.yaml"),
            str(SCENARIOS / "policies" / "bureau_reporting.yaml"),
            str(SCENARIOS / "policies" / "package_2024.yaml"),
        ],
        "shocks": ["none", str(SCENARIOS / "shocks" / "recession.yaml")],
        "replications": 3,
        "master_seed": 5,
        "overrides": dict(SMALL),
        "outcomes": OUTCOMES,
        **changes,
    }


def sweep_spec(**changes) -> dict:
    return {
        "base": str(SCENARIOS / "shocks" / "v_shock.yaml"),
        "design": "grid",
        "parameters": {
            "regulator.bureau_mandate_share": {"values": [0.0, 0.5, 1.0]},
            "platforms.policy.collection.regime": {"values": ["standard", "regulated"]},
        },
        "replications": 3,
        "master_seed": 9,
        "overrides": {**SMALL, "economy.shocks[0].start": 2},
        "outcomes": ["peak_overdue_balance_rate", "cum_default_rate", "losses"],
        **changes,
    }


def write_spec(folder: Path, name: str, data: dict) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def hashes(folder: Path) -> dict[str, str]:
    return read_manifest(folder)["files"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "run.py", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=600
    )


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    """A small comparison (3 policies x 2 shocks x 3 replications) run in this process."""
    folder = tmp_path_factory.mktemp("comparison")
    spec = write_spec(folder, "compare.yaml", comparison_spec())
    loaded, plan = load_comparison(spec)
    out = folder / "reference"
    result = run_experiment(plan, out, spec=loaded.model_dump(mode="json"), spec_file=str(spec), progress=False)
    assert not result.failed
    return spec, plan, out


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A small grid sweep (6 points x 3 replications) run in this process."""
    folder = tmp_path_factory.mktemp("sweep")
    spec = write_spec(folder, "sweep.yaml", sweep_spec())
    _, plan = load_sweep(spec)
    out = folder / "reference"
    result = run_experiment(plan, out, progress=False)
    assert not result.failed
    return spec, plan, out


# --------------------------------------------------------------------------- plans and seeds


def test_replication_r_of_every_cell_uses_child_r_of_the_master_seed(comparison):
    _, plan, _ = comparison
    children = np.random.SeedSequence(5).spawn(3)
    for run in plan.runs:
        expected = children[run.replication].generate_state(4)
        assert (run.seed().generate_state(4) == expected).all()
    seeds_by_rep = {}
    for run in plan.runs:
        seeds_by_rep.setdefault(run.replication, set()).add((run.seed_entropy, run.seed_spawn_key))
    assert all(len(seeds) == 1 for seeds in seeds_by_rep.values())  # common random numbers
    assert len({next(iter(s)) for s in seeds_by_rep.values()}) == 3


def test_comparison_crosses_policies_with_shocks_and_applies_what_the_shock_changes(comparison):
    _, plan, _ = comparison
    assert [c.id for c in plan.cells] == [
        "baseline__none",
        "baseline__recession",
        "bureau_reporting__none",
        "bureau_reporting__recession",
        "package_2024__none",
        "package_2024__recession",
    ]
    calm, stressed = plan.cell("bureau_reporting__none").config, plan.cell("bureau_reporting__recession").config
    assert calm.regulator.bureau_mandate_share == stressed.regulator.bureau_mandate_share == 1.0
    assert calm.economy.shocks == []
    assert [s.unemployment_delta for s in stressed.economy.shocks] == [0.05]
    # the package's own changes survive the shock; the spec's overrides reach every cell
    package = plan.cell("package_2024__recession").config
    assert package.regulator.forbearance.enabled and package.economy.shocks
    assert all(c.config.borrowers.count == 400 and c.config.months == 12 for c in plan.cells)
    assert plan.reference == "baseline"


def test_policy_and_shock_changing_the_same_key_differently_is_refused(tmp_path):
    policy = write_spec(
        tmp_path,
        "own_shock.yaml",
        {
            "extends": str(SCENARIOS / "baseline.yaml"),
            "economy": {"shocks": [{"start": 3, "unemployment_delta": 0.02}]},
        },
    )
    same = write_spec(
        tmp_path,
        "same_rate.yaml",
        {"extends": str(SCENARIOS / "shocks" / "recession.yaml"), "regulator": {"bureau_mandate_share": 1.0}},
    )
    spec = write_spec(tmp_path, "c.yaml", comparison_spec(policies=[str(policy)]))
    with pytest.raises(ConfigError) as info:
        load_comparison(spec)
    message = str(info.value)
    assert message.startswith(f"{spec}: shocks: ") and "economy.shocks" in message and "own_shock.yaml" in message
    # agreeing on a value is no conflict
    agreeing = write_spec(
        tmp_path,
        "c2.yaml",
        comparison_spec(policies=[str(SCENARIOS / "policies" / "bureau_reporting.yaml")], shocks=[str(same)]),
    )
    _, plan = load_comparison(agreeing)
    assert plan.cells[0].config.regulator.bureau_mandate_share == 1.0 and plan.cells[0].config.economy.shocks


def test_plan_round_trips_through_its_manifest_record(comparison, sweep):
    for _, plan, out in (comparison, sweep):
        again = Plan.from_record(read_manifest(out)["plan"])
        assert again.runs == plan.runs
        assert [c.config for c in again.cells] == [c.config for c in plan.cells]
        assert again.outcomes == plan.outcomes and again.reference == plan.reference


def test_every_spec_in_the_repository_is_valid():
    specs = sorted((SCENARIOS / "comparisons").glob("*.yaml")) + sorted((SCENARIOS / "sweeps").glob("*.yaml"))
    assert {p.stem for p in specs} >= {"demo", "headline"}
    designs = set()
    for path in specs:
        spec, plan = (load_comparison if path.parent.name == "comparisons" else load_sweep)(path)
        assert len(plan.runs) == len(plan.cells) * spec.replications > 0
        designs.add(getattr(spec, "design", None))
    assert designs >= {"grid", "latin_hypercube", "sobol"}


# --------------------------------------------------------------------------- designs


def test_grid_is_the_full_factorial_in_declared_order():
    points = grid([Axis("a", values=(1, 2)), Axis("b", low=0.0, high=1.0, levels=3)])
    assert points == [
        {"a": 1, "b": 0.0},
        {"a": 1, "b": 0.5},
        {"a": 1, "b": 1.0},
        {"a": 2, "b": 0.0},
        {"a": 2, "b": 0.5},
        {"a": 2, "b": 1.0},
    ]


def test_latin_hypercube_puts_one_point_in_each_stratum_of_every_parameter():
    n = 10
    axes = [Axis("x", low=0.0, high=1.0), Axis("y", low=-5.0, high=5.0), Axis("k", low=1, high=10, is_integer=True)]
    points = latin_hypercube(axes, n, seed=3)
    assert sorted(int(p["x"] * n) for p in points) == list(range(n))
    assert sorted(int((p["y"] + 5.0) / 10.0 * n) for p in points) == list(range(n))
    assert sorted(p["k"] for p in points) == list(range(1, 11))  # 10 integers, 10 strata
    assert all(isinstance(p["k"], int) for p in points)


def test_designs_are_fixed_by_their_seed():
    axes = [Axis("x", low=0.0, high=1.0), Axis("c", values=("a", "b", "c"))]
    assert sobol(axes, 8, seed=1) == sobol(axes, 8, seed=1)
    assert sobol(axes, 8, seed=1) != sobol(axes, 8, seed=2)
    assert latin_hypercube(axes, 5, seed=1) == latin_hypercube(axes, 5, seed=1)
    assert {p["c"] for p in sobol(axes, 8, seed=1)} == {"a", "b", "c"}
    with pytest.raises(ValueError):
        sobol(axes, 6, seed=1)


def test_sweep_points_set_list_items_and_integers(tmp_path):
    spec = write_spec(
        tmp_path,
        "lhs.yaml",
        sweep_spec(
            design="latin_hypercube",
            samples=4,
            parameters={
                "economy.shocks[0].unemployment_delta": {"min": 0.0, "max": 0.1},
                "platforms.count": {"min": 2, "max": 12},
            },
        ),
    )
    _, plan = load_sweep(spec)
    assert len(plan.cells) == 4 and len(plan.runs) == 12
    for cell in plan.cells:
        assert cell.config.economy.shocks[0].unemployment_delta == cell.labels["economy.shocks[0].unemployment_delta"]
        assert cell.config.platforms.count == cell.labels["platforms.count"] and isinstance(
            cell.labels["platforms.count"], int
        )
        assert cell.config.economy.shocks[0].start == 2  # the override reached the list item too


def test_dotted_keys_resolve_to_declared_parameters():
    assert resolve("economy.shocks[0].relief").bounds == (0.0, 1.0)
    assert resolve("borrowers.count").is_integer
    for bad in ("borrowers", "borrowers.count.x", "economy.shocks.start", "borrowers.cnt", "months[0].x"):
        with pytest.raises(KeyPathError):
            resolve(bad)
    data = {"economy": {"shocks": [{"start": 1}]}}
    set_value(data, "economy.shocks[0].start", 4)
    assert data["economy"]["shocks"][0]["start"] == 4
    with pytest.raises(KeyPathError, match=r"shocks\[1\] does not exist"):
        set_value(data, "economy.shocks[1].start", 4)


# --------------------------------------------------------------------------- outcomes and summaries


def _frame() -> pd.DataFrame:
    months = np.arange(-2, 5)
    return pd.DataFrame(
        {
            "month": months,
            "is_burn_in": months <= 0,
            "overdue_balance_rate": [0.9, 0.9, 0.9, 0.1, 0.3, 0.2, 0.25],
            "cum_default_rate": [0.5, 0.5, 0.0, 0.01, 0.02, 0.03, 0.04],
            "charge_offs": [100.0, 100.0, 100.0, 10.0, 20.0, 30.0, 40.0],
            "writedowns": [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0],
            "recoveries": [50.0, 50.0, 50.0, 2.0, 3.0, 4.0, 5.0],
            "relief_cost": [0.0, 0.0, 0.0, 3.0, 0.5, 0.0, 1.0],  # write-downs plus interest waived
            "interest_charged_off": [5.0, 5.0, 5.0, 1.0, 1.0, 0.0, 2.0],
            "recovered_charges": [1.0, 1.0, 1.0, 0.5, 0.0, 0.0, 0.5],
            "origination_amount": [9.0, 9.0, 9.0, 1.0, 2.0, 3.0, 4.0],
            "complaints": [7, 7, 7, 1, 0, 2, 3],
        }
    )


@pytest.mark.parametrize(
    "outcome, expected",
    [
        ("peak_overdue_balance_rate", 0.3),
        ("mean_overdue_balance_rate", 0.2125),
        ({"name": "overdue_balance_rate_at", "month": 3}, 0.2),
        ("cum_default_rate", 0.04),
        ("losses", 100.0 + 2.0 - 14.0),
        ("credit_supply", 2.5),
        ("complaints", 6.0),
        ({"name": "final", "column": "charge_offs"}, 40.0),
        ({"name": "total", "column": "recoveries"}, 14.0),
        ("loss_rate", (100.0 + 2.0 - 14.0) / 10.0),
        # the interest waived or charged off, less charges recovered, on top of losses
        ("losses_with_interest", 100.0 + 2.0 - 14.0 + (4.5 - 2.0) + 4.0 - 1.0),
        # windows: months `from` to `to` after burn-in, both included
        ({"name": "mean_overdue_balance_rate", "from": 2}, 0.25),
        ({"name": "mean_overdue_balance_rate", "from": 2, "to": 3}, 0.25),
        ({"name": "peak_overdue_balance_rate", "to": 2}, 0.3),
        ({"name": "cum_default_rate", "to": 3}, 0.03),
        ({"name": "losses", "from": 4, "to": 4}, 41.0 - 5.0),
        ({"name": "total", "column": "complaints", "from": 3}, 5.0),
    ],
)
def test_outcomes_read_only_the_months_after_burn_in(outcome, expected):
    spec = OutcomeSpec.model_validate({"name": outcome} if isinstance(outcome, str) else outcome)
    assert spec.compute(_frame()) == pytest.approx(expected)


def test_an_outcome_window_is_written_from_and_to_in_a_spec(tmp_path):
    spec = comparison_spec(outcomes=[{"name": "mean_overdue_balance_rate", "from": 4, "to": 9}, "cum_default_rate"])
    _, plan = load_comparison(write_spec(tmp_path, "window.yaml", spec))
    assert [o.key for o in plan.outcomes] == ["mean_overdue_balance_rate_from4_to9", "cum_default_rate"]
    assert plan.to_record()["outcomes"][0] == {"name": "mean_overdue_balance_rate", "from": 4, "to": 9}
    assert Plan.from_record(plan.to_record()).outcomes == plan.outcomes
    for bad, words in (({"from": 9, "to": 4}, "the window is empty"), ({"to": 13}, "after the last month")):
        with pytest.raises(ConfigError, match=words):
            load_comparison(write_spec(tmp_path, "bad.yaml", comparison_spec(outcomes=[{"name": "losses", **bad}])))


def test_paired_difference_interval_matches_a_hand_computation():
    policy = pd.Series([1.0, 2.0, 3.0, 4.0])
    reference = pd.Series([0.5, 1.0, 2.5, 3.0])
    # d = [0.5, 1, 0.5, 1]: mean 0.75, sd 0.288675, se 0.144338, t(0.975, 3) = 3.182446
    diff = paired_difference(policy, reference)
    assert diff.n == 4 and diff.mean == pytest.approx(0.75)
    assert diff.low == pytest.approx(0.75 - 3.182446305 * 0.1443375673, abs=1e-8)
    assert diff.high == pytest.approx(1.2093466, abs=1e-6)
    # replications missing in one cell (failed runs) are left out of the pairs
    partial = paired_difference(policy.drop(index=[1]), reference)
    assert partial.n == 3 and partial.mean == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    assert math.isnan(t_interval([2.0]).low)


def test_summary_differences_are_paired_within_a_shock(comparison):
    _, plan, out = comparison
    outcomes = pd.read_parquet(out / "outcomes.parquet")
    summary = pd.read_csv(out / "summary.csv")
    t2 = 4.302652729911275  # t(0.975, 2): three replications
    for shock in ("none", "recession"):
        policy = outcomes[outcomes["cell"] == f"package_2024__{shock}"].set_index("replication")["cum_default_rate"]
        base = outcomes[outcomes["cell"] == f"baseline__{shock}"].set_index("replication")["cum_default_rate"]
        d = (policy - base).to_numpy()
        row = summary[(summary["cell"] == f"package_2024__{shock}") & (summary["outcome"] == "cum_default_rate")].iloc[
            0
        ]
        half = t2 * d.std(ddof=1) / math.sqrt(3)
        assert row["diff_n"] == 3
        assert row["diff_mean"] == pytest.approx(d.mean(), rel=1e-12)
        assert (row["diff_ci_low"], row["diff_ci_high"]) == pytest.approx((d.mean() - half, d.mean() + half), rel=1e-9)
        assert row["mean"] == pytest.approx(policy.mean(), rel=1e-12)
    reference_rows = summary[summary["policy"] == "baseline"]
    assert reference_rows["diff_mean"].isna().all()
    assert "| package_2024 | recession | 3 |" in (out / "summary.md").read_text(encoding="utf-8")


def test_a_grid_sweep_summary_pairs_every_cell_with_the_first_and_says_which_parameter_matters(sweep):
    _, plan, out = sweep
    outcomes = pd.read_parquet(out / "outcomes.parquet")
    summary = pd.read_csv(out / "summary.csv")
    first, other = plan.cells[0].id, plan.cells[4].id
    y = outcomes.pivot(index="replication", columns="cell", values="losses")
    row = summary[(summary["cell"] == other) & (summary["outcome"] == "losses")].iloc[0]
    assert row["reference"] == first and row["diff_n"] == 3
    assert row["diff_mean"] == pytest.approx((y[other] - y[first]).mean(), rel=1e-12)
    assert summary.loc[summary["cell"] == first, "diff_mean"].isna().all()

    effects = pd.read_csv(out / "effects.csv")
    regime = effects[(effects["outcome"] == "losses") & (effects["parameter"] == "platforms.policy.collection.regime")]
    assert regime["level"].tolist() == ["standard", "regulated"] and regime["cells"].tolist() == [3, 3]
    level = plan.label_columns.index("platforms.policy.collection.regime")
    by_level = {
        value: y[[c.id for c in plan.cells if list(c.labels.values())[level] == value]].mean(axis=1)
        for value in ("standard", "regulated")
    }
    assert regime["diff_mean"].iloc[1] == pytest.approx((by_level["regulated"] - by_level["standard"]).mean())
    variance = pd.read_csv(out / "variance.csv")
    losses = variance[variance["outcome"] == "losses"]
    assert losses["source"].tolist() == [
        "regulator.bureau_mandate_share",
        "platforms.policy.collection.regime",
        "regulator.bureau_mandate_share x platforms.policy.collection.regime",
        "replication",
        "rest",
    ]
    assert losses["share"].sum() == pytest.approx(1.0)
    text = (out / "summary.md").read_text(encoding="utf-8")
    assert "# Which parameter matters more" in text and "| Δ vs p000 | 95% CI of Δ |" in text
    files = hashes(out)
    assert {"effects.csv", "variance.csv"} <= set(files)
    assert files["effects.csv"] == sha256_file(out / "effects.csv")


# --------------------------------------------------------------------------- bad specs

BASE = str(SCENARIOS / "baseline.yaml")
BAD_COMPARISONS = {
    # id: (changes to the good spec, key path in the message, other words)
    "unknown_key": ({"replication": 3}, "replication", ["unknown key"]),
    "unknown_outcome": (
        {"outcomes": ["peak_overdue"]},
        "outcomes[0]",
        ["unknown outcome 'peak_overdue'", "peak_overdue_balance_rate"],
    ),
    "renamed_outcome": (
        {"outcomes": ["cum_default_rate", "peak_m3plus_rate"]},
        "outcomes[1]",
        ["'peak_m3plus_rate' is now called 'peak_m3plus_balance_rate'", "README.md"],
    ),
    "renamed_outcome_with_a_month": (
        {"outcomes": [{"name": "overdue_rate_at", "month": 3}]},
        "outcomes[0]",
        ["now called 'overdue_balance_rate_at'"],
    ),
    "outcome_needs_month": ({"outcomes": ["overdue_balance_rate_at"]}, "outcomes[0]", ["needs 'month'"]),
    "unknown_outcome_key": (  # the window is from/to; the message lists an outcome's keys, not docs/model.md's
        {"outcomes": [{"name": "credit_supply", "start": 24}]},
        "outcomes[0]",
        ["unknown key 'start' in an outcome", "from, to", "README.md, 'Outcomes'"],
    ),
    "month_after_horizon": (
        {"outcomes": [{"name": "overdue_balance_rate_at", "month": 13}]},
        "outcomes[0].month",
        ["1 to 12"],
    ),
    "unknown_column": (
        {"outcomes": [{"name": "peak", "column": "overdue"}]},
        "outcomes[0]",
        ["'overdue'", "overdue_rate"],
    ),
    "reference_not_a_policy": ({"reference": "nobody"}, "reference", ["'nobody'", "baseline"]),
    "missing_policy_file": ({"policies": ["nope.yaml"]}, "policies[0]", ["not found"]),
    "override_unknown_key": ({"overrides": {"borrowers.cont": 5}}, "overrides.borrowers.cont", ["unknown key"]),
    "override_out_of_range": (
        {"overrides": {"borrowers.count": 5}},
        "overrides.borrowers.count",
        ["5", "out of range"],
    ),
    "override_names_a_section": ({"overrides": {"borrowers": 5}}, "overrides.borrowers", ["section"]),
    "no_replications": ({"replications": 0}, "replications", ["out of range"]),
    "shock_changes_nothing": ({"shocks": [BASE]}, "shocks[0]", ["changes nothing"]),
    "sweep_given_to_compare": ({"parameters": {}}, "parameters", ["run.py sweep"]),
}
BAD_SWEEPS = {
    "unknown_parameter": (
        {"parameters": {"regulator.penalty_capp": {"values": [0.1]}}},
        "parameters.regulator.penalty_capp",
        ["unknown key"],
    ),
    "range_beyond_declared": (
        {"parameters": {"regulator.penalty_cap_annual": {"min": 0.1, "max": 12, "levels": 2}}},
        "parameters.regulator.penalty_cap_annual.max",
        ["12.0", "out of range"],
    ),
    "value_not_allowed": (
        {"parameters": {"platforms.policy.collection.regime": {"values": ["standard", "nice"]}}},
        "parameters.platforms.policy.collection.regime.values[1]",
        ["'nice'", "'regulated'"],
    ),
    "list_item_missing": (
        {"parameters": {"economy.shocks[1].start": {"values": [3]}}},
        "parameters.economy.shocks[1].start",
        ["does not exist"],
    ),
    "grid_range_without_levels": (
        {"parameters": {"regulator.penalty_cap_annual": {"min": 0.1, "max": 1.0}}},
        "parameters.regulator.penalty_cap_annual",
        ["levels"],
    ),
    "sobol_not_power_of_two": ({"design": "sobol", "samples": 10}, "samples", ["power of two"]),
    "unknown_design": ({"design": "random"}, "design", ["'random'", "'sobol'"]),
    "fractional_integer_range": (
        {"parameters": {"platforms.count": {"min": 2.5, "max": 8, "levels": 2}}},
        "parameters.platforms.count.min",
        ["whole number"],
    ),
    "swept_and_overridden": (
        {"overrides": {**SMALL, "regulator.bureau_mandate_share": 0.2}},
        "overrides.regulator.bureau_mandate_share",
        ["swept"],
    ),
}


@pytest.mark.parametrize("changes, key_path, words", BAD_COMPARISONS.values(), ids=BAD_COMPARISONS.keys())
def test_bad_comparison_spec_is_one_line_naming_file_and_key(tmp_path, changes, key_path, words):
    _assert_spec_error(load_comparison, write_spec(tmp_path, "bad.yaml", comparison_spec(**changes)), key_path, words)


@pytest.mark.parametrize("changes, key_path, words", BAD_SWEEPS.values(), ids=BAD_SWEEPS.keys())
def test_bad_sweep_spec_is_one_line_naming_file_and_key(tmp_path, changes, key_path, words):
    _assert_spec_error(load_sweep, write_spec(tmp_path, "bad.yaml", sweep_spec(**changes)), key_path, words)


def _assert_spec_error(load, path: Path, key_path: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {key_path}: "), message
    for word in words:
        assert word in message, message


def test_cli_bad_spec_is_one_line_error_with_exit_code_2(tmp_path):
    spec = write_spec(tmp_path, "bad.yaml", sweep_spec(parameters={"regulator.penalty_capp": {"values": [0.1]}}))
    done = run_cli("sweep", str(spec), "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {spec}: parameters.regulator.penalty_capp: unknown key")
    assert not (tmp_path / "out").exists() and not partial_folder(tmp_path / "out").exists()


def test_cli_refuses_an_old_outcome_name_with_the_new_one_and_exit_code_2(tmp_path):
    spec = write_spec(tmp_path, "old.yaml", comparison_spec(outcomes=["peak_overdue_rate"]))
    done = run_cli("compare", str(spec), "--dry-run")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: {spec}: outcomes[0]: outcome 'peak_overdue_rate' is now called 'peak_overdue_balance_rate' "
        "(it is by balance; README.md, 'Outcomes', lists every outcome)"
    ]


def test_dry_run_prints_the_number_of_runs_and_writes_nothing(tmp_path):
    spec = write_spec(tmp_path, "grid.yaml", sweep_spec())
    done = run_cli("sweep", str(spec), "--dry-run", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("18 runs = 6 cells x 3 replications")
    assert list(tmp_path.iterdir()) == [spec]
    _, demo = load_comparison(SCENARIOS / "comparisons" / "demo.yaml")
    assert (
        demo.describe() == f"{len(demo.runs)} runs = 6 cells (6 policies x 1 shock) x {demo.replications} replications"
    )
    assert len(demo.runs) == 6 * demo.replications


# --------------------------------------------------------------------------- results, determinism


def test_results_folder_has_manifest_runs_outcomes_summaries_and_parts(comparison):
    spec, plan, out = comparison
    names = {p.name for p in out.iterdir()}
    assert names == {
        "manifest.json",
        "runs.parquet",
        "outcomes.parquet",
        "summary.csv",
        "summary.md",
        "model",
        "platforms",
        "vintages",
    }
    manifest = read_manifest(out)
    assert manifest["kind"] == "comparison" and manifest["complete"] and manifest["spec_file"] == str(spec)
    assert manifest["runs"] == {"total": 18, "ok": 18, "failed": []}
    assert manifest["packages"]["numpy"] == np.__version__ and "git" in manifest
    # 18 runs: batches of one run (a plan of at most 64 runs), one file a batch and table
    assert manifest["batch_runs"] == engine.batch_size(18) == 1
    assert sorted(p.name for p in (out / "model").iterdir()) == [f"part-{b:05d}.parquet" for b in range(18)]
    assert len(manifest["files"]) == 18 * 3 + 3 and "manifest.json" not in manifest["files"]
    for name, digest in manifest["files"].items():
        assert sha256_file(out / name) == digest
    runs = pd.read_parquet(out / "runs.parquet")
    assert list(runs["run_id"]) == [r.run_id for r in plan.runs]
    assert set(runs.columns) >= {
        "run_id",
        "cell",
        "policy",
        "shock",
        "replication",
        "seed_entropy",
        "seed_spawn_key",
        "status",
        "error",
        "wall_time_s",
    }
    assert (runs["status"] == "ok").all() and (runs["wall_time_s"] > 0).all()
    monthly = pd.read_parquet(out / "model")  # every run's months, with their run_id column
    assert len(monthly) == 18 * 18 and monthly["run_id"].nunique() == 18
    assert len(pd.read_parquet(out / "outcomes.parquet")) == 18


def test_another_master_seed_gives_other_results(comparison, tmp_path):
    spec = write_spec(
        tmp_path,
        "other.yaml",
        comparison_spec(master_seed=6, policies=comparison_spec()["policies"][:1], shocks=["none"]),
    )
    _, plan = load_comparison(spec)
    run_experiment(plan, tmp_path / "out", progress=False)
    mine, reference = hashes(tmp_path / "out"), hashes(comparison[2])
    part = "model/part-00000.parquet"  # baseline__none__r000, the first run of the plan
    assert mine[part] != reference[part]


def test_two_local_workers_give_bit_identical_results(comparison, tmp_path):
    _, plan, out = comparison
    run_experiment(plan, tmp_path / "j2", workers=2, progress=False)
    assert hashes(tmp_path / "j2") == hashes(out)


@pytest.fixture(scope="module")
def dask_scheduler():
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


def test_dask_cluster_gives_bit_identical_results(comparison, dask_scheduler, tmp_path):
    assert dask_scheduler.startswith("tcp://127.0.0.1:")
    _, plan, out = comparison
    run_experiment(plan, tmp_path / "dask", backend="dask", scheduler=dask_scheduler, progress=False)
    assert hashes(tmp_path / "dask") == hashes(out)


# --------------------------------------------------------------------------- faults and resume


def test_failing_runs_are_recorded_the_sweep_goes_on_and_resume_completes_it(sweep, tmp_path, monkeypatch):
    _, plan, reference = sweep
    real = engine.simulate
    broken_cell = plan.cells[2].id  # in the middle of the sweep

    def simulate(config, seed):
        if config.name.endswith(broken_cell):
            raise ZeroDivisionError("simulated failure")
        return real(config, seed)

    monkeypatch.setattr(engine, "simulate", simulate)
    out = tmp_path / "sweep"
    result = run_experiment(plan, out, progress=False)
    failed = [r.run_id for r in plan.runs if r.cell == broken_cell]
    assert [run_id for run_id, _ in result.failed] == failed
    assert all("ZeroDivisionError: simulated failure" in error for _, error in result.failed)
    runs = pd.read_parquet(out / "runs.parquet").set_index("run_id")
    assert (runs.loc[failed, "status"] == "failed").all() and (runs.drop(index=failed)["status"] == "ok").all()
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary.loc[summary["cell"] == broken_cell, "n"]) == {0}
    assert set(summary.loc[summary["cell"] != broken_cell, "n"]) == {3}
    assert not any(broken_cell in name for name in hashes(out))
    assert "3 runs failed" in (out / "summary.md").read_text(encoding="utf-8")

    monkeypatch.setattr(engine, "simulate", real)  # the cause is fixed
    again = run_experiment(plan, out, resume=True, progress=False)
    assert (again.ran, again.skipped, again.failed) == (3, 15, ())
    assert hashes(out) == hashes(reference)


def test_a_run_that_raises_in_a_worker_process_is_recorded_with_its_error(comparison, tmp_path):
    _, plan, reference = comparison
    # A config the model cannot run (validation bypassed on purpose): a genuine exception in the model.
    cells = list(plan.cells)
    bad = cells[2].config
    cells[2] = dataclasses.replace(
        cells[2], config=bad.model_copy(update={"borrowers": bad.borrowers.model_copy(update={"count": -5})})
    )
    broken = dataclasses.replace(plan, cells=tuple(cells))
    result = run_experiment(broken, tmp_path / "out", workers=2, progress=False)
    assert [run_id for run_id, _ in result.failed] == [r.run_id for r in broken.runs if r.cell == cells[2].id]
    assert all(error.startswith("ValueError: negative dimensions") and "sim/" in error for _, error in result.failed)
    mine, theirs = hashes(tmp_path / "out"), hashes(reference)
    parts = [name for name in mine if name.endswith(".parquet") and "/" in name]
    assert len(parts) == 15 * 3 and all(mine[name] == theirs[name] for name in parts)


def test_cli_exits_non_zero_and_names_the_failed_runs(sweep, tmp_path, monkeypatch, capsys):
    spec, plan, _ = sweep
    real = engine.simulate
    monkeypatch.setattr(
        engine,
        "simulate",
        lambda config, seed: (
            (_ for _ in ()).throw(RuntimeError("boom")) if config.name.endswith("p001") else real(config, seed)
        ),
    )
    cli = _load_run_py()
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["run.py", "sweep", str(spec), "--out", str(out), "--no-progress"])
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "error: 3 of 18 runs failed" in err
    assert all(f"p001__r00{r}: RuntimeError: boom" in err for r in range(3))
    assert (out / "summary.md").is_file()


def _load_run_py():
    spec = importlib.util.spec_from_file_location("lendsim_run_cli", REPO_ROOT / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_killed_sweep_resumed_ends_with_the_same_results(sweep, tmp_path):
    spec, plan, reference = sweep
    out = tmp_path / "killed"
    journal = partial_folder(out) / engine.JOURNAL
    proc = subprocess.Popen(
        [sys.executable, "run.py", "sweep", str(spec), "--out", str(out), "--no-progress"],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if _journal_runs(journal) >= 2:
                break
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    finished = _journal_runs(journal)
    assert not out.exists() and 2 <= finished < len(plan.runs), "the sweep was not killed midway"

    with pytest.raises(ResultsExistError, match="--resume"):  # unfinished work is never silently dropped
        run_experiment(plan, out, progress=False)
    result = run_experiment(plan, out, resume=True, progress=False)
    assert result.skipped == finished and result.ran == len(plan.runs) - finished and not result.failed
    assert hashes(out) == hashes(reference)
    assert not partial_folder(out).exists()


def test_batches_of_several_runs_are_the_same_bytes_however_run_spilled_or_resumed(sweep, tmp_path, monkeypatch):
    plan = dataclasses.replace(sweep[1], cells=sweep[1].cells[:4])  # 12 runs
    monkeypatch.setattr(engine, "MAX_BATCHES", 3)  # 3 batches of 4 runs
    monkeypatch.setattr(engine, "SPILL_S", 0.0)  # spill after every run that leaves its batch unfinished
    one = run_experiment(plan, tmp_path / "j1", progress=False).out
    assert read_manifest(one)["batch_runs"] == 4
    assert sorted(p.name for p in (one / "model").iterdir()) == [f"part-{b:05d}.parquet" for b in range(3)]
    assert set(pd.read_parquet(one / "model" / "part-00002.parquet")["run_id"]) == {r.run_id for r in plan.runs[8:]}
    two = run_experiment(plan, tmp_path / "j2", workers=2, progress=False).out
    assert hashes(two) == hashes(one)

    real, calls = engine.simulate, []

    def interrupted(config, seed):
        calls.append(1)
        if len(calls) == 7:
            raise KeyboardInterrupt  # Ctrl-C in run 7: batch 0 written, runs 5 and 6 spilled to chunks
        return real(config, seed)

    monkeypatch.setattr(engine, "simulate", interrupted)
    out = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        run_experiment(plan, out, progress=False)
    staging = partial_folder(out) / engine.STAGING
    assert (
        len(list(staging.glob("chunk-*.model.parquet"))) == 2
        and _journal_runs(partial_folder(out) / engine.JOURNAL) == 6
    )
    monkeypatch.setattr(engine, "simulate", real)
    resumed = run_experiment(plan, out, resume=True, progress=False)
    assert (resumed.ran, resumed.skipped) == (6, 6)
    assert hashes(out) == hashes(one)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in one.iterdir())
    run = plan.runs[9].run_id
    pd.testing.assert_frame_equal(
        engine.read_run_table(out, "vintages", run),
        pd.read_parquet(one / "vintages" / "part-00002.parquet")
        .query("run_id == @run")
        .drop(columns="run_id")
        .reset_index(drop=True),
    )


def _journal_runs(journal: Path) -> int:
    """Runs recorded in a working folder's journal (whole lines only: the last may be cut short)."""
    try:
        text = journal.read_text(encoding="utf-8")
    except OSError:
        return 0
    return sum(1 for line in text.split("\n")[:-1] if line.strip())


def test_existing_results_need_resume_or_force(comparison, tmp_path):
    spec, plan, out = comparison
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    with pytest.raises(ResultsExistError, match="--resume"):
        run_experiment(plan, copy, progress=False)
    other = dataclasses.replace(plan, master_seed=99)
    with pytest.raises(ExperimentError, match="different experiment"):
        run_experiment(other, copy, resume=True, progress=False)
    nothing_to_do = run_experiment(plan, copy, resume=True, progress=False)
    assert (nothing_to_do.ran, nothing_to_do.skipped) == (0, 18) and hashes(copy) == hashes(out)
    assert read_manifest(copy)["complete"] and len(read_manifest(copy)["resumed"]) == 1
    manifest = read_manifest(copy)
    manifest["packages"]["numpy"] = "0.0.1"  # runs made with another numpy must not be mixed in
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ExperimentError, match="numpy 0.0.1"):
        run_experiment(plan, copy, resume=True, progress=False)
    assert copy.is_dir() and not partial_folder(copy).exists()


# --------------------------------------------------------------------------- reproduce


def test_reproduce_says_reproduced_and_names_a_tampered_output(comparison, tmp_path):
    _, _, out = comparison
    done = run_cli("reproduce", str(out), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("reproduced")

    tampered = tmp_path / "tampered"
    shutil.copytree(out, tampered)
    victim = "model/part-00010.parquet"  # bureau_reporting__recession__r001, run 10 of the plan
    with open(tampered / victim, "ab") as fh:
        fh.write(b"\0")
    done = run_cli("reproduce", str(tampered), "--no-progress")
    assert done.returncode == 1
    assert "not reproduced" in done.stdout and victim in done.stdout
    assert sum(line.startswith("  ") for line in done.stdout.splitlines()) == 1  # only that file


def test_reproduce_a_single_run_and_warn_about_other_versions(tmp_path):
    out = tmp_path / "run"
    done = run_cli(
        "run",
        str(SCENARIOS / "baseline.yaml"),
        "--months",
        "4",
        "--borrowers",
        "300",
        "--out",
        str(out),
        "--no-progress",
    )
    assert done.returncode == 0, done.stderr
    manifest = read_manifest(out)
    manifest["packages"]["numpy"] = "0.0.1"
    manifest["git"] = None  # whatever the state of this checkout
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert version_warnings(manifest) == [f"recorded with numpy 0.0.1, this is numpy {np.__version__}"]
    other_code = {**manifest, "packages": {}, "git": {"commit": "0" * 40, "dirty": True}}
    warnings = version_warnings(other_code)
    assert warnings[-1] == "recorded from a checkout with uncommitted changes"
    if provenance()["git"]:
        assert warnings[0].startswith("recorded at git commit 000000000000, this checkout is at ")
    done = run_cli("reproduce", str(out), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("warning: recorded with numpy 0.0.1")
    assert done.stdout.startswith("reproduced: 3 outputs")

"""The EMA workbench adapter (optional extra ``ema``); skipped when ema_workbench is not installed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.config import ConfigError

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("ema_workbench") is None,
        reason="ema_workbench not installed (extra: pip install -e '.[ema]')",
    ),
    pytest.mark.filterwarnings("ignore:ipyparallel not installed"),  # EMA's import-time notice
]

REPO_ROOT = Path(__file__).resolve().parent.parent
RECESSION = REPO_ROOT / "scenarios" / "shocks" / "recession.yaml"
TINY = {"borrowers.count": 300, "months": 10, "burn_in": 6}


def tiny_model(**changes):
    from experiments.ema import lendsim_model

    arguments = dict(
        uncertainties={"economy.shocks[0].unemployment_delta": (0.0, 0.12), "economy.shocks[0].start": (1, 6)},
        levers={"platforms.policy.collection.regime": ["standard", "regulated"]},
        outcomes=["peak_overdue_balance_rate", {"name": "total", "column": "complaints"}],
        replications=2,
        master_seed=11,
        overrides=TINY,
    )
    return lendsim_model(RECESSION, **{**arguments, **changes})


def test_adapter_runs_a_tiny_experiment_with_seeded_replications_averaged():
    from ema_workbench import perform_experiments

    model = tiny_model()
    assert model.lendsim_keys == {
        "unemployment_delta": "economy.shocks[0].unemployment_delta",
        "start": "economy.shocks[0].start",
        "regime": "platforms.policy.collection.regime",
    }
    experiments, outcomes = perform_experiments(
        model,
        scenarios=2,
        policies=2,
        uncertainty_sampling_kwargs={"rng": 1},
        lever_sampling_kwargs={"rng": 2},
        log_progress=False,
    )
    assert len(experiments) == 4 and set(outcomes) == {"peak_overdue_balance_rate", "total_complaints"}
    assert set(experiments["regime"]) == {"standard", "regulated"}
    assert experiments["start"].between(1, 6).all()

    # Replication r uses child r of SeedSequence(master_seed), and the outcome is the mean.
    children = np.random.SeedSequence(11).spawn(2)
    row = experiments.iloc[0]
    params = {key: row[name] for name, key in model.lendsim_keys.items()}
    runs = [model.function(int(c.entropy), int(c.spawn_key[-1]), **params) for c in children]
    peak = "peak_overdue_balance_rate"
    assert outcomes[peak][0] == pytest.approx(np.mean([r[peak] for r in runs]))
    assert runs[0][peak] != runs[1][peak]  # the replications differ

    # Same seeds as a sweep of the same point: one comparison-style run reproduces replication 0.
    from experiments.engine import simulate
    from sim.config import load_scenario, validate_scenario
    from sim.keys import set_value

    data = load_scenario(RECESSION).model_dump()
    for key, value in {**params, **TINY}.items():
        set_value(data, key, value.item() if isinstance(value, np.generic) else value)
    frame = simulate(validate_scenario(data), children[0])["model"]
    post = frame[~frame["is_burn_in"]]
    assert runs[0]["peak_overdue_balance_rate"] == post["overdue_balance_rate"].max()


def test_adapter_refuses_a_key_or_range_the_configuration_does_not_allow():
    with pytest.raises(ConfigError, match="unknown key"):
        tiny_model(uncertainties={"economy.shocks[0].unemployment_deltaa": (0.0, 0.1)})
    with pytest.raises(ConfigError, match=r"uncertainties.economy.shocks\[0\].unemployment_delta.high"):
        tiny_model(uncertainties={"economy.shocks[0].unemployment_delta": (0.0, 0.9)})
    with pytest.raises(ConfigError, match="given twice"):
        tiny_model(levers={"economy.shocks[0].start": (1, 3)})


def test_prim_example_finds_a_box_on_a_tiny_run(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "scenarios/ema/prim_overdue.py",
            "--experiments",
            "12",
            "--replications",
            "1",
            "--borrowers",
            "300",
            "--months",
            "30",
            "--burn-in",
            "6",
            "--threshold",
            "0.10",
            "--out",
            str(tmp_path),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    table = pd.read_csv(tmp_path / "experiments.csv")
    assert len(table) == 12 and "economy.shocks[0].unemployment_delta" in table
    above = int((table["peak_overdue_balance_rate"] > 0.10).sum())
    assert 0 < above < 12 and done.stdout.startswith(f"{above} of 12 experiments peak above 10% overdue")
    assert "PRIM box" in done.stdout and "coverage" in done.stdout
    assert (tmp_path / "prim_tradeoff.png").stat().st_size > 5_000 and (tmp_path / "prim_box.png").is_file()
    limits = pd.read_csv(tmp_path / "prim_box.csv", index_col=0)
    assert set(limits.columns) <= {
        "unemployment_delta",
        "income_factor",
        "duration",
        "regime",
        "bureau_mandate_share",
        "enabled",
        "relief",
    }

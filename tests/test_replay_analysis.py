"""analysis.replay: the lag of two paths, observed series read as they are published, and the
replay of a small comparison with its paired counterfactual."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.replay import lagged_correlation, months_from, read_observed, write_replay
from analysis.tables import AnalysisError

REPO_ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = REPO_ROOT / "scenarios"


def test_the_lag_of_a_shifted_path_is_found():
    dates = months_from("2006-01", 84)
    driver = pd.Series(np.sin(np.arange(84) / 9.0), index=dates)
    model = pd.Series(np.r_[np.zeros(5), driver.to_numpy()[:-5]], index=dates)  # five months later
    lags = lagged_correlation(model, driver, max_lag=12)
    assert int(lags.loc[lags["correlation"].idxmax(), "lag"]) == 5


def test_quarterly_fred_dates_measure_the_quarters_last_month(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("# quarterly\nDATE,VALUE\n2009-01-01,6.0\n2009-04-01,5.0\n2009-07-01,4.0\n", encoding="utf-8")
    obs = read_observed(path)
    assert list(obs.index.strftime("%Y-%m")) == ["2009-03", "2009-06", "2009-09"]
    path.write_text("DATE,VALUE\n2009-01-01,6.0\n2009-05-01,5.0\n2009-07-01,4.0\n", encoding="utf-8")
    with pytest.raises(AnalysisError, match="neither monthly nor quarterly"):
        read_observed(path)


def test_the_shipped_card_delinquency_covers_the_replayed_years_quarter_by_quarter():
    obs = read_observed(SCENARIOS / "data" / "us_card_delinquency_2006_2012.csv")
    assert list(obs.index.strftime("%Y-%m")[[0, -1]]) == ["2006-03", "2012-12"]
    assert len(obs) == 28
    # the two figures the St. Louis Fed's FRED Blog quotes for the series, as the file's header says
    assert obs["2007-12-01"] == 4.6 and obs["2009-06-01"] == 6.77


def test_a_replay_beside_its_counterfactual_is_measured_on_the_paired_difference(tmp_path):
    import yaml

    from experiments import load_comparison, run_experiment

    spec = {
        "policies": [
            {"file": str(SCENARIOS / "shocks" / "replay_us_2006_2012.yaml"), "name": "replay"},
            {"file": str(SCENARIOS / "shocks" / "replay_us_2006_2012_flat.yaml"), "name": "flat"},
        ],
        "shocks": ["none"],
        "reference": "flat",
        "replications": 2,
        "master_seed": 5,
        "overrides": {"borrowers.count": 300, "burn_in": 6},
        "outcomes": ["mean_overdue_balance_rate"],
    }
    path = tmp_path / "replay.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    _, plan = load_comparison(path)
    result = run_experiment(plan, tmp_path / "out", progress=False)
    observed = tmp_path / "obs.csv"
    observed.write_text("date,value\n2008-01-01,4.0\n2008-04-01,5.0\n2008-07-01,6.0\n2008-10-01,5.5\n2009-01-01,5\n")
    rep, files = write_replay(result.out, observed)
    assert rep.counterfactual == "flat__none" and rep.reference == "observed" and rep.replications == 2
    p = rep.paths
    assert len(p) == 84 and p["date"].iloc[0] == pd.Timestamp("2006-01-01")
    assert p["observed"].notna().sum() == 5
    # before the series moves, the replay and its counterfactual are the same market on the same seeds:
    # every replication's difference is zero (the mean alone would be zero with the pairs mixed up)
    first = p.iloc[0]
    assert first["overdue_balance_rate_p05"] == first["overdue_balance_rate_p95"] == 0.0
    assert all(f.exists() for f in files)
    with pytest.raises(AnalysisError, match="replays a series too"):
        write_replay(result.out, counterfactual="replay")


def test_replay_of_a_run_without_a_series_is_one_line_with_exit_code_2(tmp_path):
    import subprocess
    import sys

    from experiments.single import run_single
    from sim.config import load_scenario

    config = load_scenario(SCENARIOS / "baseline.yaml").with_overrides(
        {"borrowers.count": 100, "months": 3, "burn_in": 1}
    )
    out, _ = run_single(config, 1, tmp_path / "run", progress=False)
    done = subprocess.run(
        [sys.executable, "run.py", "replay", str(out)], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("error: ") and "has no economy.series" in done.stderr

"""Sensitivity analysis: SALib indices on functions with known answers, specs, and a run end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from SALib.test_functions import Ishigami

import analysis
from analysis.sensitivity import analyse_results, design_size, morris_indices, sobol_indices, unit_sample
from analysis.tables import AnalysisError
from experiments.sensitivity import load_sensitivity
from sim.config import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = REPO_ROOT / "scenarios"

# Ishigami-Homma with a = 7, b = 0.1 on [-pi, pi]^3: analytic indices (Saltelli et al. 2008, The Primer;
# SALib's Ishigami docstring). V = a^2/8 + b pi^4/5 + b^2 pi^8/18 + 1/2.
_A, _B = 7.0, 0.1
_V = _A**2 / 8 + _B * np.pi**4 / 5 + _B**2 * np.pi**8 / 18 + 0.5
_V1 = 0.5 * (1 + _B * np.pi**4 / 5) ** 2
_V2 = _A**2 / 8
_V13 = _B**2 * np.pi**8 * (1 / 18 - 1 / 50)
ISHIGAMI_S1 = np.array([_V1, _V2, 0.0]) / _V
ISHIGAMI_ST = np.array([_V1 + _V13, _V2, _V13]) / _V


def test_ishigami_reference_values_are_the_published_ones():
    np.testing.assert_allclose(ISHIGAMI_S1, [0.3139, 0.4424, 0.0], atol=5e-4)
    np.testing.assert_allclose(ISHIGAMI_ST, [0.5576, 0.4424, 0.2437], atol=5e-4)


def test_sobol_indices_of_the_ishigami_function_contain_the_analytic_values():
    names = ["x1", "x2", "x3"]
    unit = unit_sample("sobol", names, 1024, seed=3, calc_second_order=True)
    assert len(unit) == design_size("sobol", 3, 1024, calc_second_order=True) == 1024 * 8
    y = Ishigami.evaluate(-np.pi + 2 * np.pi * unit, A=_A, B=_B)
    table = sobol_indices(y, names, calc_second_order=True, seed=3)
    first = table[table["order"] == 1]
    for column, truth in (("S1", ISHIGAMI_S1), ("ST", ISHIGAMI_ST)):
        estimate, half = first[column].to_numpy(), first[f"{column}_conf"].to_numpy()
        assert np.all(np.abs(estimate - truth) <= half), (column, estimate, half, truth)
        assert np.all(half < 0.1)  # and the intervals are informative, not just wide
    s13 = table[table["parameter"] == "x1 x x3"].iloc[0]
    assert abs(s13["S2"] - _V13 / _V) <= s13["S2_conf"]
    assert ISHIGAMI_ST[2] - ISHIGAMI_S1[2] > 0.2  # x3 acts only through its interaction with x1


def test_sobol_indices_without_second_order_use_d_plus_2_points_per_sample():
    unit = unit_sample("sobol", ["a", "b"], 64, seed=1)
    assert unit.shape == (64 * 4, 2) and unit.min() >= 0 and unit.max() <= 1
    table = sobol_indices(3 * unit[:, 0] + 0.0 * unit[:, 1], ["a", "b"], seed=1)
    assert set(table["order"]) == {1} and table.loc[0, "S1"] == pytest.approx(1.0, abs=0.05)
    assert abs(table.loc[1, "ST"]) < 1e-9


def test_morris_effects_of_a_linear_function_are_its_slopes_over_the_range():
    unit = unit_sample("morris", ["a", "b", "c"], 12, seed=5, levels=4)
    assert unit.shape == (12 * 4, 3)
    y = 2.0 * unit[:, 0] + 0.0 * unit[:, 1] - 0.5 * unit[:, 2]
    table = morris_indices(unit, y, ["a", "b", "c"], seed=1).set_index("parameter")
    np.testing.assert_allclose(table["mu_star"], [2.0, 0.0, 0.5], atol=1e-9)
    np.testing.assert_allclose(table["mu"], [2.0, 0.0, -0.5], atol=1e-9)
    np.testing.assert_allclose(table["sigma"], 0.0, atol=1e-9)


# --------------------------------------------------------------------------- specs


def write_spec(folder: Path, **changes) -> Path:
    data = {
        "description": "test sensitivity",
        "base": str(SCENARIOS / "baseline.yaml"),
        "method": "morris",
        "samples": 2,
        "levels": 4,
        "parameters": {
            "regulator.bureau_mandate_share": {"min": 0.0, "max": 1.0},
            "platforms.policy.underwriting.scoring_noise_sd": {"min": 0.3, "max": 1.2},
        },
        "replications": 2,
        "master_seed": 7,
        "overrides": {"borrowers.count": 400, "months": 12, "burn_in": 6},
        "outcomes": ["peak_overdue_balance_rate", "cum_default_rate"],
        **changes,
    }
    path = folder / "sens.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "run.py", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=600
    )


def test_every_sensitivity_spec_in_the_repository_is_valid():
    specs = sorted((SCENARIOS / "sensitivity").glob("*.yaml"))
    assert {p.stem for p in specs} >= {"recession_sobol", "behaviour_morris"}
    for path in specs:
        spec, plan = load_sensitivity(path)
        assert plan.kind == "sweep" and len(plan.runs) == len(plan.cells) * spec.replications
        assert len(plan.cells) == design_size(spec.method, len(spec.parameters), spec.samples, spec.calc_second_order)
        assert len(plan.runs) <= 400  # small enough for two cores in a few minutes


def test_design_points_map_the_unit_sample_onto_the_ranges(tmp_path):
    parameters = {
        "regulator.bureau_mandate_share": {"min": 0.2, "max": 0.6},
        "regulator.penalty_cap_annual": {"min": 0.05, "max": 0.5, "log": True},
    }
    spec, plan = load_sensitivity(write_spec(tmp_path, method="sobol", samples=4, parameters=parameters))
    unit = unit_sample("sobol", list(parameters), 4, seed=7)
    assert len(plan.cells) == len(unit) == 4 * 4
    for cell, row in zip(plan.cells, unit):
        assert cell.labels["regulator.bureau_mandate_share"] == pytest.approx(0.2 + 0.4 * row[0])
        assert cell.labels["regulator.penalty_cap_annual"] == pytest.approx(np.exp(np.log(0.05) + row[1] * np.log(10)))
        assert cell.config.regulator.bureau_mandate_share == cell.labels["regulator.bureau_mandate_share"]
    _, again = load_sensitivity(write_spec(tmp_path, method="sobol", samples=4, parameters=parameters))
    assert [c.labels for c in again.cells] == [c.labels for c in plan.cells]


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"samples": 12, "method": "sobol"}, "samples: sobol needs a power of two"),
        (
            {
                "parameters": {
                    "platforms.policy.collection.regime": {"values": ["standard", "regulated"]},
                    "regulator.penalty_cap_annual": {"min": 0.1, "max": 0.2},
                }
            },
            "morris needs a 'min'-'max' range (listed values have no elementary effect per unit of range); use "
            "method: sobol",
        ),
        (
            {
                "method": "sobol",
                "parameters": {
                    "platforms.policy.collection.regime": {"values": ["standard", "nice"]},
                    "regulator.penalty_cap_annual": {"min": 0.1, "max": 0.2},
                },
            },
            "parameters.platforms.policy.collection.regime.values[1]: ",
        ),
        (
            {
                "method": "sobol",
                "parameters": {
                    "platforms.policy.collection.regime": {"min": 0, "max": 1},
                    "regulator.penalty_cap_annual": {"min": 0.1, "max": 0.2},
                },
            },
            "not a number, so it has no range; list its 'values' (categories, with method: sobol)",
        ),
        (
            {
                "parameters": {
                    "regulator.bureau_mandate_sharee": {"min": 0.0, "max": 1.0},
                    "regulator.penalty_cap_annual": {"min": 0.1, "max": 0.2},
                }
            },
            "unknown key",
        ),
        (
            {
                "parameters": {
                    "regulator.bureau_mandate_share": {"min": 0.0, "max": 2.0},
                    "regulator.penalty_cap_annual": {"min": 0.1, "max": 0.2},
                }
            },
            "parameters.regulator.bureau_mandate_share.max",
        ),
        ({"calc_second_order": True}, "second-order indices are for method sobol"),
        ({"method": "fast"}, "method"),
        ({"levels": 3}, "even number of levels"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_sensitivity_spec_is_one_line_naming_the_file_and_key(tmp_path, changes, words):
    path = write_spec(tmp_path, **changes)
    with pytest.raises(ConfigError) as err:
        load_sensitivity(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(path)) and words in message, message


def test_sobol_takes_a_categorical_parameter_each_value_on_an_equal_share_of_the_unit_interval(tmp_path):
    regimes = ["standard", "aggressive", "regulated"]
    parameters = {
        "platforms.policy.collection.regime": {"values": regimes},
        "regulator.penalty_cap_annual": {"min": 0.1, "max": 0.5},
    }
    spec, plan = load_sensitivity(write_spec(tmp_path, method="sobol", samples=8, parameters=parameters))
    unit = unit_sample("sobol", list(parameters), 8, seed=7)
    picked = [c.labels["platforms.policy.collection.regime"] for c in plan.cells]
    assert picked == [regimes[min(int(u * 3), 2)] for u in unit[:, 0]]
    assert [c.config.platforms.policy.collection.regime for c in plan.cells] == picked
    assert set(picked) == set(regimes)


def test_sobol_indices_of_a_categorical_parameter_from_a_results_folder(tmp_path):
    parameters = {
        "platforms.policy.collection.regime": {"values": ["standard", "regulated"]},
        # a narrow range: the bureau moves overdue loans (and so contacts) a lot, and with four samples a
        # wide range would leave the regime's share to the noise of the estimate
        "regulator.bureau_mandate_share": {"min": 0.0, "max": 0.25},
    }
    outcomes = [{"name": "total", "column": "collection_contacts"}]
    spec = write_spec(tmp_path, method="sobol", samples=4, parameters=parameters, outcomes=outcomes, replications=1)
    out = tmp_path / "results"
    done = run_cli("sensitivity", str(spec), "--out", str(out), "--no-progress", "-j", "2")
    assert done.returncode == 0, done.stderr
    table = analyse_results(out).set_index("parameter")
    assert list(table.index) == list(parameters) and table[["S1", "ST"]].notna().all().all()
    # regulated collection caps contacts, so the regime has a share of their variance (a categorical
    # parameter mapped badly, e.g. to one category, would have none)
    assert table.loc["platforms.policy.collection.regime", "ST"] > 0.05
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["spec"]["parameters"]["platforms.policy.collection.regime"]["values"] = ["regulated", "standard"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(AnalysisError, match="does not match the points that were run"):
        analyse_results(out)  # the categories are checked against the design too


def test_cli_dry_run_prints_the_design_size_and_a_bad_spec_exits_2(tmp_path):
    done = run_cli("sensitivity", str(SCENARIOS / "sensitivity" / "recession_sobol.yaml"), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sobol: N=16 base samples x 6 (D + 2) for D=4 parameters = 96 points; 192 runs")
    bad = run_cli("sensitivity", str(write_spec(tmp_path, samples=1)), "--out", str(tmp_path / "out"))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "samples" in bad.stderr
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- end to end


def test_cli_sensitivity_runs_the_design_averages_replications_and_writes_indices(tmp_path):
    spec = write_spec(tmp_path)
    out = tmp_path / "results"
    done = run_cli("sensitivity", str(spec), "--out", str(out), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "mu*" in done.stdout and "sensitivity.csv" in done.stdout
    written = pd.read_csv(out / "sensitivity.csv")
    assert len(written) == 2 * 2  # outcomes x parameters
    assert set(written.columns) >= {"method", "outcome", "parameter", "mu_star", "mu_star_conf", "sigma"}
    assert (out / "sensitivity.png").stat().st_size > 10_000 and (out / "sensitivity.svg").is_file()

    res = analysis.load(out)
    assert res.is_sensitivity and len(res.cells) == design_size("morris", 2, 2) == 6
    assert len(res.outcomes) == 12  # 6 points x 2 replications
    # The indices are those of the replication means, recomputed from the folder alone.
    means = res.outcomes.groupby("cell")["peak_overdue_balance_rate"].mean().reindex(res.cells["cell"]).to_numpy()
    unit = unit_sample("morris", list(res.label_columns), 2, seed=7, levels=4)
    direct = morris_indices(unit, means, list(res.label_columns), seed=7)
    again = analyse_results(out)
    got = again[again["outcome"] == "peak_overdue_balance_rate"].reset_index(drop=True)
    np.testing.assert_allclose(got["mu_star"], direct["mu_star"])
    np.testing.assert_allclose(written["mu_star"], again["mu_star"], rtol=1e-5)

    manifest = json.loads((out / "manifest.json").read_text())
    manifest["spec"]["design_seed"] = 8  # a design other than the one that was run
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(AnalysisError, match="does not match the points that were run"):
        analyse_results(out)
    manifest["spec"]["design_seed"] = None
    (out / "manifest.json").write_text(json.dumps(manifest))

    report = analysis.write_report(out)
    page = report.html.read_text(encoding="utf-8")
    assert '<figure id="fig-sensitivity">' in page and "Sensitivity indices" in page

"""run.py calibrate: the spec is checked like every spec (one line, exit code 2), and a calibration
finds its way back to parameter values that made its targets (identification)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from experiments.calibrate import calibrate, load_calibration, simulate_moments
from sim.config import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = REPO_ROOT / "scenarios"
BASELINE = SCENARIOS / "baseline.yaml"

# The two parameters the delinquency moments move most, in different proportions (approval moves
# with the margin, not with willingness): measured with run.py calibrate's local sensitivity.
TRUE = {"borrowers.essentials_risk_loading": 0.22, "borrowers.willingness_mean": 0.6}
START = {"borrowers.essentials_risk_loading": 0.32, "borrowers.willingness_mean": 1.4}
RANGES = {"borrowers.essentials_risk_loading": (0.1, 0.4), "borrowers.willingness_mean": (0.0, 2.0)}
# Recovered within 10% of each range: at this size (600 borrowers, 2 replications, 30 candidates)
# the distance is flat to within its noise over a few percent of the range.
TOLERANCE = 0.10


def spec_dict(targets: dict[str, float] | None = None, **changes) -> dict:
    targets = targets or {"m1_plus": 0.05, "m3_plus": 0.02, "approval": 0.5}
    return {
        "description": "identification test",
        "base": str(BASELINE),
        "parameters": {k: {"min": lo, "max": hi, "start": START[k]} for k, (lo, hi) in RANGES.items()},
        "moments": [
            {
                "name": "m1_plus",
                "outcome": "mean_overdue_balance_rate",
                "target": targets["m1_plus"],
                "sd": 0.005,
                "source": "the model at TRUE",
            },
            {
                "name": "m3_plus",
                "outcome": {"name": "mean", "column": "m3plus_balance_rate"},
                "target": targets["m3_plus"],
                "sd": 0.002,
                "source": "the model at TRUE",
            },
            {
                "name": "approval",
                "outcome": {"name": "mean", "column": "approval_rate"},
                "target": targets["approval"],
                "sd": 0.01,
                "source": "the model at TRUE",
            },
        ],  # fmt: skip
        "replications": 2,
        "master_seed": 11,
        "overrides": {"borrowers.count": 600, "months": 24, "burn_in": 12},
        "budget": 30,
        "batch": 6,
        "sensitivity_step": 0.1,
        **changes,
    }


def write_spec(folder: Path, data: dict) -> Path:
    path = folder / "cal.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.slow
def test_a_calibration_recovers_the_parameters_that_made_its_targets(tmp_path):
    cal = load_calibration(write_spec(tmp_path, spec_dict()))
    targets = simulate_moments(cal, TRUE, tmp_path / "truth", progress=False)
    cal = load_calibration(write_spec(tmp_path, spec_dict(targets)))
    result = calibrate(cal, tmp_path / "out", progress=False, log=lambda *_: None)
    for key, true in TRUE.items():
        lo, hi = RANGES[key]
        assert abs(result.best[key] - true) <= TOLERANCE * (hi - lo), (key, result.best[key], true)
    assert result.fit["within_2sd"].all()
    assert len(result.evaluations) == 30 and result.evaluations["distance"].notna().all()
    # the start was far: the optimiser, not the start, found it
    assert result.evaluations["distance"].iloc[0] > 10 * result.evaluations["distance"].min()
    calibrated = (tmp_path / "out" / "calibrated.yaml").read_text(encoding="utf-8")
    assert "essentials_risk_loading" in calibrated and "extends:" in calibrated
    assert "platforms" not in calibrated  # only the fitted keys
    for name in ("evaluations.csv", "fit.csv", "sensitivity.csv", "calibration.md", "figures/fit.png"):
        assert (tmp_path / "out" / name).exists(), name


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"parameters": {"borrowers.essentials_risk_loading": {"min": 0.1, "max": 1.5}}}, "parameters."),
        ({"parameters": {"borrowers.no_such_key": {"min": 0.1, "max": 0.5}}}, "borrowers.no_such_key"),
        ({"parameters": {"borrowers.essentials_risk_loading": {"min": 0.3, "max": 0.2}}}, "must be above min"),
        ({"budget": 0}, "budget"),
        ({"base": "nope.yaml"}, "base: file 'nope.yaml' not found"),
        (
            {"moments": [{"name": "m", "outcome": "no_such_outcome", "target": 0.1, "sd": 0.1, "source": "s"}]},
            "unknown outcome 'no_such_outcome'",
        ),
        (
            {"moments": [{"name": "m", "outcome": "cum_default_rate", "target": 0.1, "sd": 0, "source": "s"}]},
            "moments[0].sd: 0 is out of range",
        ),
        ({"moments": [{"name": "m", "outcome": "cum_default_rate", "target": 0.1, "sd": 0.1}]}, "source"),
        (
            {
                "moments": [
                    {"name": "m", "outcome": "cum_default_rate", "target": 0.1, "sd": 0.1, "source": "s", "fit": False}
                ]
            },
            "moments: every moment has fit: false; at least one must be fitted",
        ),
        (
            {
                "moments": [
                    {
                        "name": "m",
                        "outcome": "cum_default_rate",
                        "target": 0.1,
                        "sd": 0.1,
                        "source": "s",
                        "fit": "maybe",
                    }
                ]
            },
            "moments[0].fit: 'maybe' has the wrong type",
        ),
        # a misspelt key names the keys allowed where it stands (a spec's keys are not model.md's)
        (
            {"batch_size": 3},
            "batch_size: unknown key (check the spelling; allowed here: description, base, parameters,",
        ),
        (
            {"moments": [{"name": "m", "outcome": "cum_default_rate", "target": 0.1, "std": 0.1, "source": "s"}]},
            "moments[0].std: unknown key (check the spelling; allowed here: name, outcome, shock, per, target, sd,",
        ),
        # a rate written in percent, not as a fraction
        (
            {
                "moments": [
                    {"name": "m", "outcome": "mean_overdue_balance_rate", "target": 4.92, "sd": 1.0, "source": "s"}
                ]
            },
            "moments[0].target: 4.92 is not a rate",
        ),
        # an override of a fitted key would set every candidate to one value
        (
            {"overrides": {"borrowers.count": 600, "borrowers.willingness_mean": 0.3}},
            "overrides.borrowers.willingness_mean: borrowers.willingness_mean is fitted",
        ),
        # a month past the end names the moment, not an internal outcome list
        (
            {
                "moments": [
                    {
                        "name": "m",
                        "outcome": {"name": "overdue_balance_rate_at", "month": 30},
                        "target": 0.05,
                        "sd": 0.01,
                        "source": "s",
                    }
                ]
            },
            "moments[0].outcome.month: 30 is after the last month of setting 'none' (months: 24)",
        ),
    ],  # fmt: skip
)
def test_a_bad_calibration_spec_is_one_line(tmp_path, change, words):
    with pytest.raises(ConfigError) as err:
        load_calibration(write_spec(tmp_path, spec_dict(**change)))
    assert "\n" not in str(err.value) and str(err.value).startswith(str(tmp_path / "cal.yaml"))
    assert words in str(err.value)


def test_a_shock_may_not_change_a_fitted_key(tmp_path):
    shock = tmp_path / "shock.yaml"
    shock.write_text(f"extends: {BASELINE}\nborrowers:\n  willingness_mean: 1.0\n", encoding="utf-8")
    data = spec_dict()
    data["moments"][0]["shock"] = "shock.yaml"
    with pytest.raises(ConfigError, match="changes borrowers.willingness_mean, which is fitted"):
        load_calibration(write_spec(tmp_path, data))


def test_the_command_line_refuses_a_bad_spec_with_exit_code_2(tmp_path):
    path = write_spec(tmp_path, spec_dict(budget=-1))
    done = subprocess.run(
        [sys.executable, "run.py", "calibrate", str(path)], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1 and "budget" in done.stderr


def test_a_dry_run_counts_the_runs_and_runs_nothing(tmp_path):
    path = write_spec(tmp_path, spec_dict())
    done = subprocess.run(
        [sys.executable, "run.py", "calibrate", str(path), "--dry-run", "--out", str(tmp_path / "out")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # 30 candidates + the best and one step down and up for each of 2 parameters, 1 setting, 2 replications
    assert "x 1 setting (none) x 2 replications = 70 runs" in done.stdout and not (tmp_path / "out").exists()


def test_resume_reads_finished_rounds_back_and_reruns_only_what_is_missing(tmp_path):
    import shutil

    small = {"borrowers.count": 200, "months": 6, "burn_in": 3}
    cal = load_calibration(write_spec(tmp_path, spec_dict(budget=4, batch=2, overrides=small)))
    first = calibrate(cal, tmp_path / "out", progress=False, log=lambda *_: None)
    shutil.rmtree(tmp_path / "out" / "rounds" / "r001")  # as if stopped during the second round
    again = calibrate(cal, tmp_path / "out", progress=False, resume=True, log=lambda *_: None)
    assert (first.ran, first.reused) == (18, 0)
    assert (again.ran, again.reused) == (4, 14)  # the seeded optimiser asked for the same candidates
    assert again.best == first.best
    with pytest.raises(Exception, match="already exists; use --resume"):
        calibrate(cal, tmp_path / "out", progress=False, log=lambda *_: None)


def test_a_share_moment_is_the_ratio_run_by_run(tmp_path):
    import pandas as pd

    from experiments.calibrate import moment_table

    data = spec_dict()
    data["moments"].append(
        {
            "name": "strategic_share",
            "outcome": {"name": "total", "column": "strategic_defaults"},
            "per": {"name": "total", "column": "new_defaults"},
            "target": 0.06,
            "sd": 0.03,
            "source": "s",
        }
    )
    cal = load_calibration(write_spec(tmp_path, data))
    assert [o.key for o in cal.outcomes][-1] == "strategic_share__per"
    outcomes = pd.DataFrame(
        {
            "cell": ["c00000__s0"] * 3,
            "candidate": [0, 0, 0],
            "m1_plus": [0.05] * 3,
            "m3_plus": [0.02] * 3,
            "approval": [0.5] * 3,
            "strategic_share": [1.0, 3.0, 5.0],
            "strategic_share__per": [10.0, 10.0, 0.0],  # a run without defaults has no share
        }
    )
    row = moment_table(cal, outcomes).set_index("moment").loc["strategic_share"]
    assert row["simulated"] == pytest.approx(0.2) and row["n"] == 2  # mean of 0.1 and 0.3, not 9 / 20


def large_identification(folder: Path, workers: int = 2) -> None:
    """The documented larger case (docs/calibration.md): the same test at 5,000 borrowers over 60
    months, 4 replications, 40 candidates. ``python -m tests.test_calibrate FOLDER``."""
    big = {
        "overrides": {"borrowers.count": 5000, "months": 60},
        "replications": 4,
        "budget": 40,
        "batch": 8,
        "sensitivity_step": 0.05,
    }
    folder.mkdir(parents=True, exist_ok=False)
    cal = load_calibration(write_spec(folder, spec_dict(**big)))
    targets = simulate_moments(cal, TRUE, folder / "truth", progress=False, workers=workers)
    cal = load_calibration(write_spec(folder, spec_dict(targets, **big)))
    result = calibrate(cal, folder / "out", progress=False, workers=workers)
    for key, true in TRUE.items():
        lo, hi = RANGES[key]
        error = abs(result.best[key] - true) / (hi - lo)
        print(f"{key}: true {true}, recovered {result.best[key]:.4f} ({error:.1%} of the range)")


if __name__ == "__main__":
    large_identification(Path(sys.argv[1]))


def test_a_moment_not_fitted_is_reported_but_left_out_of_the_distance_and_the_verdict(tmp_path):
    import pandas as pd

    from experiments.calibrate import _fit, distances, misses, moment_table

    data = spec_dict()
    data["moments"][2]["fit"] = False  # approval: measured, reported, not fitted
    cal = load_calibration(write_spec(tmp_path, data))
    outcomes = pd.DataFrame(
        {
            "cell": ["c00000__s0"] * 2 + ["c00001__s0"] * 2,
            "candidate": [0, 0, 1, 1],
            "m1_plus": [0.05, 0.05, 0.06, 0.06],  # candidate 1: 2 sd off
            "m3_plus": [0.02] * 4,
            "approval": [0.9, 0.9, 0.5, 0.5],  # candidate 0: 40 sd off, but not fitted
        }
    )
    table = moment_table(cal, outcomes)
    assert distances(table).to_dict() == pytest.approx({0: 0.0, 1: 4.0})
    fit = _fit(cal, table[table["candidate"] == 0])
    row = fit.set_index("moment").loc["approval"]
    assert row["z"] == pytest.approx(40.0) and not row["within_2sd"] and not row["fitted"]
    assert misses(fit) == []  # a moment only reported does not fail the calibration
    fit_one = _fit(cal, table[table["candidate"] == 1])
    assert misses(fit_one) == []  # 2.0 sd is within
    data["moments"][2]["fit"] = True
    fitted = _fit(load_calibration(write_spec(tmp_path, data)), table[table["candidate"] == 0])
    assert misses(fitted) == ["approval"]


def test_the_shipped_market_is_the_shipped_spec_output_on_its_base():
    """scenarios/market_2021_23.yaml extends the spec's base and sets exactly the fitted keys, inside their ranges."""
    spec_path = SCENARIOS / "calibration" / "market_2021_23.yaml"
    cal = load_calibration(spec_path)
    market = yaml.safe_load((SCENARIOS / "market_2021_23.yaml").read_text(encoding="utf-8"))
    assert (SCENARIOS / market["extends"]).resolve() == cal.base_path.resolve()
    fitted = {f"{section}.{key}": value for section in ("borrowers", "economy", "platforms", "regulator")
              for key, value in market.get(section, {}).items()}  # fmt: skip
    assert set(fitted) == set(cal.keys)
    for key, p in cal.spec.parameters.items():
        assert p.min <= fitted[key] <= p.max
    # the rules are the data's, and the counterfactual undoes exactly them
    regime = yaml.safe_load((SCENARIOS / "regime_2021_23.yaml").read_text(encoding="utf-8"))["regulator"]
    pre = yaml.safe_load((SCENARIOS / "pre_reform.yaml").read_text(encoding="utf-8"))
    assert pre["extends"] == "market_2021_23.yaml" and set(pre["regulator"]) == set(regime)
    base = yaml.safe_load(BASELINE.read_text(encoding="utf-8"))["regulator"]
    assert all(pre["regulator"][k] == base[k] for k in regime)


def test_a_fitted_moment_whose_interval_is_wider_than_its_sd_is_noted():
    import pandas as pd

    from experiments.calibrate import precision_notes

    fit = pd.DataFrame(
        {
            "moment": ["tight", "wide", "wide_but_reported"],
            "sd": [0.01, 0.01, 0.01],
            "low": [0.045, 0.030, 0.030],
            "high": [0.055, 0.055, 0.055],  # half-widths 0.005 and 0.0125
            "fitted": [True, True, False],
        }
    )
    notes = precision_notes(fit)
    assert len(notes) == 1 and notes[0].startswith("wide: the 95% interval")


def test_report_on_a_calibration_folder_points_at_its_report_and_rounds(tmp_path):
    (tmp_path / "calibration.json").write_text("{}", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "run.py", "report", str(tmp_path)], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "a calibration folder" in done.stderr and "rounds/best" in done.stderr


def test_the_separation_table_gives_no_cosine_for_a_parameter_that_moves_no_moment():
    import pandas as pd

    from experiments.calibrate import separation_markdown

    def sens(rows: dict[str, list[float]]) -> pd.DataFrame:
        return pd.DataFrame(
            [{"parameter": p, "moment": f"m{j}", "per_step_sd": v} for p, vs in rows.items() for j, v in enumerate(vs)]
        )

    clear = separation_markdown(sens({"a": [0.5, 0.4], "b": [-0.5, -0.4]}))
    assert "| `a`, `b` | -1.00 |" in clear
    weak = separation_markdown(sens({"a": [0.5, 0.4], "b": [-0.06, 0.0]}))  # b: seed noise, not a direction
    assert "| `a`, `b` | none: `b` moves no moment by 0.1 sd a step |" in weak

"""The explorer's levers and model adapter, without a browser (explorer.market, explorer.serve).

The browser itself is tested in test_explorer_browser.py.
"""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from explorer.market import (
    LEVERS,
    ExplorerMarket,
    Levers,
    base_config,
    config_with_levers,
    levers_from_config,
    model_params,
)
from explorer.serve import server_command, server_env
from sim.config import ConfigError
from sim.model import LendingMarket
from tests.scenario_files import scenario_files

REPO_ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = scenario_files()
SMALL = 2000  # borrowers: enough for the directions below, quick to run


def months_after_burn_in(model: ExplorerMarket) -> pd.DataFrame:
    df = model.model_frame()
    return df[df["month"] >= 1]


def test_levers_write_their_dotted_config_keys() -> None:
    model = ExplorerMarket(
        penalty_rule="compounding",
        penalty_cap_pct=24,
        collection="regulated",
        bureau_pct=50,
        scoring_noise=0.4,
        forbearance=True,
        shock_pp=5,
        shock_start=6,
        shock_months=18,
        borrowers=SMALL,
        seed=3,
    )
    cfg = model.config
    assert cfg.platforms.policy.penalty.rule == "compounding"
    assert cfg.regulator.penalty_cap_annual == 0.24
    assert cfg.platforms.policy.collection.regime == "regulated"
    assert cfg.regulator.bureau_mandate_share == 0.5
    assert cfg.platforms.policy.underwriting.scoring_noise_sd == 0.4
    assert cfg.regulator.forbearance.enabled is True
    (shock,) = cfg.economy.shocks
    assert (shock.unemployment_delta, shock.start, shock.duration, shock.shape) == (0.05, 6, 18, "u")
    assert cfg.borrowers.count == SMALL
    assert model.seed == 3


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: str(p.relative_to(REPO_ROOT / "scenarios")))
def test_levers_seeded_from_a_scenario_file_reproduce_it(path: Path) -> None:
    config = base_config(path)
    assert config_with_levers(config, levers_from_config(config)) == config


@pytest.mark.parametrize(
    ("path", "lever", "value"),
    [
        ("shocks/recession.yaml", "shock_pp", 5.0),
        ("shocks/recession.yaml", "shock_start", 12),
        ("shocks/recession.yaml", "shock_months", 24),
        ("policies/collection_aggressive.yaml", "collection", "aggressive"),
        ("policies/bureau_reporting.yaml", "bureau_pct", 100.0),
        ("policies/better_scoring.yaml", "scoring_noise", 0.4),
        ("policies/forbearance.yaml", "forbearance", True),
        ("policies/penalty_compounding.yaml", "penalty_rule", "compounding"),
    ],
)
def test_a_scenario_file_seeds_the_controls(path: str, lever: str, value) -> None:
    params = model_params(REPO_ROOT / "scenarios" / path)
    assert params[lever]["value"] == value
    assert params["scenario_file"] == str(REPO_ROOT / "scenarios" / path)


def test_without_a_file_the_controls_show_the_baseline() -> None:
    params = model_params()
    baseline = levers_from_config(base_config(REPO_ROOT / "scenarios" / "baseline.yaml"))
    assert {k: v["value"] for k, v in params.items() if isinstance(v, dict)} == dataclasses.asdict(baseline)
    assert params["scenario_file"] is None


def test_a_slider_widens_to_show_a_files_value_outside_its_range(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text("borrowers: {count: 300}\nregulator: {penalty_cap_annual: 3.0}\n")
    params = model_params(path)
    assert (params["borrowers"]["min"], params["borrowers"]["value"]) == (300, 300)
    assert (params["penalty_cap_pct"]["max"], params["penalty_cap_pct"]["value"]) == (300.0, 300.0)


def test_shock_levers_keep_the_files_other_shock_features() -> None:
    base = base_config(REPO_ROOT / "scenarios" / "shocks" / "overdue_surge_8x.yaml")
    levers = dataclasses.replace(levers_from_config(base), shock_pp=8.0, shock_start=3)
    first, second = config_with_levers(base, levers).economy.shocks
    assert (first.unemployment_delta, first.start, first.income_factor, first.shape) == (0.08, 3, 0.92, "u")
    assert second == base.economy.shocks[1]


def test_no_shock_is_added_while_the_shock_lever_is_zero() -> None:
    assert ExplorerMarket(borrowers=SMALL).config.economy.shocks == []


def test_every_control_is_a_keyword_of_the_model_class() -> None:
    signature = inspect.signature(ExplorerMarket.__init__).parameters
    params = model_params()
    assert set(params) <= set(signature)
    assert all(signature[name].default is not inspect.Parameter.empty for name in params)
    assert [spec.name for spec in LEVERS] == [f.name for f in dataclasses.fields(Levers)]
    # a parameter named "scenario" would receive Mesa's own Scenario object on Reset
    assert "scenario" not in signature


def test_controls_pass_mesa_solaraviz_parameter_check() -> None:
    solara_viz = pytest.importorskip("mesa.visualization.solara_viz", reason="needs the [explore] extra")
    solara_viz._check_model_params(ExplorerMarket(borrowers=SMALL), model_params())


def test_burn_in_runs_at_construction_so_step_one_is_month_one() -> None:
    model = ExplorerMarket(borrowers=SMALL)
    burn_in = model.config.burn_in
    assert (model.month, model.steps) == (0, burn_in)
    assert model.model_frame()["is_burn_in"].all() and len(model.model_frame()) == burn_in
    model.step()
    assert model.month == 1 and model.model_frame()["month"].iloc[-1] == 1


def test_explorer_months_are_the_months_of_a_batch_run() -> None:
    explorer = ExplorerMarket(borrowers=SMALL, seed=11)
    batch = LendingMarket(explorer.config, seed=11)
    for _ in range(6):
        explorer.step()
    for _ in range(explorer.config.burn_in + 6):
        batch.step()
    pd.testing.assert_frame_equal(explorer.model_frame(), batch.model_frame())


@pytest.mark.parametrize(
    "name", ["policies/penalty_compounding.yaml", "shocks/recession.yaml", "policies/conduct_rules.yaml"]
)
def test_the_explorer_started_on_a_file_runs_what_run_py_run_runs_on_it(name: str, tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    path = root / "scenarios" / name
    controls = {k: v["value"] if isinstance(v, dict) else v for k, v in model_params(path, seed=3).items()}
    explorer = ExplorerMarket(**controls)
    for _ in range(4):
        explorer.step()
    out = tmp_path / "run"
    done = subprocess.run(
        [
            sys.executable,
            "run.py",
            "run",
            str(path),
            "--seed",
            "3",
            # 12 months, not 4: the files' shocks and rule changes start at month 12, and a run
            # that ends before them is refused (they would silently never happen).
            "--months",
            "12",
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        cwd=root,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    stepped = explorer.model_frame().reset_index(drop=True)
    batch = pd.read_parquet(out / "model.parquet").iloc[: len(stepped)]
    pd.testing.assert_frame_equal(stepped, batch, check_exact=True)


def test_aggressive_collection_raises_complaints_over_regulated_for_the_same_seed() -> None:
    totals = {}
    for regime in ("aggressive", "regulated"):
        model = ExplorerMarket(collection=regime, borrowers=SMALL, seed=5)
        for _ in range(12):
            model.step()
        totals[regime] = months_after_burn_in(model)["complaints"].sum()
    assert totals["aggressive"] > 3 * totals["regulated"], totals


def test_shock_lever_raises_unemployment_from_its_start_month() -> None:
    calm = ExplorerMarket(borrowers=SMALL, seed=2)
    shocked = ExplorerMarket(shock_pp=8, shock_start=3, shock_months=12, borrowers=SMALL, seed=2)
    for model in (calm, shocked):
        for _ in range(9):
            model.step()
    before = months_after_burn_in(shocked)["month"] < 3
    gap = months_after_burn_in(shocked)["unemployment_target"] - months_after_burn_in(calm)["unemployment_target"]
    assert (gap[before] == 0).all() and (gap[~before] > 0).all()


def test_a_run_stops_after_the_scenarios_months(tmp_path: Path) -> None:
    path = tmp_path / "short.yaml"
    path.write_text("months: 2\nburn_in: 1\n")
    model = ExplorerMarket(borrowers=1000, scenario_file=str(path))
    assert model.running
    model.step()
    assert model.running
    model.step()
    assert not model.running and model.month == 2


def test_scheduled_changes_in_the_file_are_listed() -> None:
    model = ExplorerMarket(
        borrowers=SMALL, scenario_file=str(REPO_ROOT / "scenarios" / "policies" / "penalty_cap.yaml")
    )
    assert model.scheduled_changes() == ["month 12: regulator sets penalty_cap_annual = 0.12"]


def test_a_bad_scenario_file_is_a_one_line_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("borrowers: {count: -5}\n")
    with pytest.raises(ConfigError) as err:
        model_params(path)
    assert "borrowers.count" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("content", [None, "borrowers: {count: -5}\n", "platforms: {polcy: {}}\n"])
def test_explore_with_a_bad_scenario_prints_one_error_line_and_exits_2(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "bad.yaml"
    if content is not None:
        path.write_text(content)
    done = subprocess.run(
        [sys.executable, "run.py", "explore", str(path), "--port", "1"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0], done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_the_server_listens_on_loopback_unless_told_otherwise() -> None:
    cmd = server_command()
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert inspect.signature(server_command).parameters["host"].default == "127.0.0.1"
    from run import explore

    assert inspect.signature(explore).parameters["host"].default.default == "127.0.0.1"


def test_the_server_makes_no_network_calls_of_its_own(tmp_path: Path) -> None:
    cmd = server_command()
    env = server_env(tmp_path / "x.yaml")
    assert "--no-check-version" in cmd and "--production" in cmd
    assert env["SOLARA_ASSETS_PROXY"] == "True" and env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] == "False"
    assert env["LENDSIM_EXPLORER_SCENARIO"] == str((tmp_path / "x.yaml").resolve())


def test_every_lever_is_documented_in_explorer_md() -> None:
    text = (REPO_ROOT / "docs" / "explorer.md").read_text(encoding="utf-8")
    for spec in LEVERS:
        assert f"| {spec.label} |" in text, spec.label
        key = spec.key.split()[0]
        assert spec.name == "seed" or f"`{key}`" in text, key
    assert "![" in text and (REPO_ROOT / "docs" / "img" / "explorer.png").is_file()

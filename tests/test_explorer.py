"""The explorer's levers and model adapter, without a browser (explorer.market, explorer.serve).

The browser itself is tested in test_explorer_browser.py.
"""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from explorer.borrowers import BorrowerHistory, pick_defaulted
from explorer.market import (
    LEVERS,
    ExplorerMarket,
    Levers,
    base_config,
    config_from_month_one,
    config_with_levers,
    levers_from_config,
    model_params,
    scenario_label,
)
from explorer.serve import ExtraMissing, check_extra, server_command, server_env
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
        levers_from_month_one=False,
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
        assert "." not in key or f"`{key}`" in text, key  # a config key is named; seed and A/B are not keys
    for image in ("explorer.png", "explorer_ab.png", "explorer_borrower.png"):
        assert f"](img/{image})" in text and (REPO_ROOT / "docs" / "img" / image).is_file(), image


def test_a_missing_extra_is_one_line_saying_make_explore_installs_it(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "solara_assets", None)  # import of it raises ImportError
    with pytest.raises(ExtraMissing) as err:
        check_extra()
    assert "make explore installs it" in str(err.value) and "\n" not in str(err.value)


# --------------------------------------------------------------------------- levers from month 1, A/B, borrowers


def burn_in_and_after(model) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = model.model_frame()
    return frame[frame["month"] <= 0].reset_index(drop=True), frame[frame["month"] > 0].reset_index(drop=True)


def test_policy_levers_from_month_one_leave_the_burn_in_as_the_file_has_it():
    calm = ExplorerMarket(borrowers=SMALL, seed=4)
    changed = ExplorerMarket(borrowers=SMALL, seed=4, penalty_cap_pct=0, collection="aggressive")
    for model in (calm, changed):
        model.run_to(4)
    (calm_burn_in, calm_after), (changed_burn_in, changed_after) = burn_in_and_after(calm), burn_in_and_after(changed)
    pd.testing.assert_frame_equal(calm_burn_in, changed_burn_in)  # the same market until month 1
    assert (changed_after["complaints"] > calm_after["complaints"]).all()  # aggressive collection from month 1
    # the policy levers are month-1 changes; the file's starting values are untouched
    cfg = changed.config
    assert cfg.regulator.penalty_cap_annual == 1.0 and cfg.platforms.policy.collection.regime == "standard"
    assert [c.model_dump() for c in cfg.regulator.schedule] == [{"month": 1, "set": {"penalty_cap_annual": 0.0}}]
    assert cfg.platforms.schedule[0].month == 1
    assert cfg.platforms.schedule[0].set["collection"]["regime"] == "aggressive"
    # unticked, the levers set the starting values: the burn-in differs
    early = ExplorerMarket(borrowers=SMALL, seed=4, penalty_cap_pct=0, collection="aggressive", levers_from_month_one=0)
    assert not burn_in_and_after(early)[0].equals(calm_burn_in)


def test_the_files_own_schedule_still_applies_after_a_month_one_lever():
    path = REPO_ROOT / "scenarios" / "policies" / "penalty_cap.yaml"  # caps penalties at 12% from month 12
    base = base_config(path)
    levers = dataclasses.replace(levers_from_config(base), penalty_cap_pct=50.0)
    schedule = [c.model_dump() for c in config_from_month_one(base, levers).regulator.schedule]
    assert schedule == [
        {"month": 1, "set": {"penalty_cap_annual": 0.5}},
        {"month": 12, "set": {"penalty_cap_annual": 0.12}},
    ]
    assert config_from_month_one(base, levers_from_config(base)) == base  # untouched levers: the file itself


def test_ab_runs_the_files_policy_beside_the_students_with_the_same_seed_and_shock():
    model = ExplorerMarket(borrowers=SMALL, seed=6, shock_pp=6, shock_start=2, collection="regulated", ab=True)
    twin = model.twin
    assert twin is not None and twin.config.platforms.policy.collection.regime == "standard"
    assert twin.config.economy.shocks == model.config.economy.shocks and twin.config.borrowers.count == SMALL
    model.run_to(5)
    assert twin.month == model.month == 5
    b, a = model.model_frame(), twin.model_frame()
    burn_in = b["month"] <= 0
    pd.testing.assert_frame_equal(b[burn_in], a[burn_in])  # common random numbers: same market until month 1
    assert b.loc[~burn_in, "collection_contacts"].sum() < a.loc[~burn_in, "collection_contacts"].sum()
    # the environment is shared: a borrower loses a job in the same month in both markets
    unemployed = b.loc[~burn_in, "unemployment_rate"].to_numpy()
    np.testing.assert_array_equal(unemployed, a.loc[~burn_in, "unemployment_rate"].to_numpy())


def test_ab_with_no_policy_change_gives_a_zero_difference_every_month():
    model = ExplorerMarket(borrowers=SMALL, seed=6, shock_pp=6, shock_start=2, ab=True)
    model.run_to(4)
    pd.testing.assert_frame_equal(model.model_frame(), model.twin.model_frame())


def test_run_to_stops_at_the_month_asked_for_and_at_the_end_of_the_run(tmp_path: Path):
    model = ExplorerMarket(borrowers=SMALL, seed=1)
    assert model.run_to(3) == 3 and model.month == 3
    assert model.run_to(2) == 0 and model.month == 3  # never backwards
    path = tmp_path / "short.yaml"
    path.write_text("months: 4\nburn_in: 2\n")
    short = ExplorerMarket(borrowers=1000, scenario_file=str(path))
    assert short.run_to(99) == 4 and short.month == 4 and not short.running


def test_the_page_names_the_file_it_was_started_on_not_the_inherited_name():
    path = REPO_ROOT / "scenarios" / "policies" / "penalty_compounding.yaml"
    assert base_config(path).name == "baseline"  # inherited through extends:
    assert scenario_label(path) == "penalty_compounding" and scenario_label(None) == "baseline"
    assert ExplorerMarket(borrowers=SMALL, scenario_file=str(path)).label == "penalty_compounding"


def test_the_borrower_history_is_each_borrowers_state_month_by_month():
    model = ExplorerMarket(borrowers=SMALL, seed=9, shock_pp=10, shock_start=1, penalty_rule="compounding", ab=True)
    model.run_to(12)
    history = model.history
    assert history.months == list(range(-model.config.burn_in + 1, 13))
    people, book = model.borrower_state, model.loans
    who = int(np.flatnonzero(people.contacts_received > 0)[0])
    mine = history.of(who)
    assert mine["income"].iloc[-1] == pytest.approx(people.income[who], rel=1e-6)
    assert mine["savings"].iloc[-1] == pytest.approx(people.savings[who], rel=1e-6)
    assert mine["employed"].iloc[-1] == bool(people.is_employed[who])
    assert mine["contacts"].sum() == people.contacts_received[who]
    live = (book.view("borrower") == who) & (book.view("state") == 0)
    assert mine["loans"].iloc[-1] == live.sum()
    owed = book.view("principal") + book.view("due_interest") + book.view("penalty")
    for k in range(model.config.platforms.count):
        at_k = live & (book.view("platform") == k)
        assert mine[f"owed_P{k}"].iloc[-1] == pytest.approx(owed[at_k].sum(), rel=1e-5)
        assert mine[f"dpd_P{k}"].iloc[-1] == (book.view("dpd")[at_k].max() if at_k.any() else 0)
    assert len(history.loans_now(who)) == live.sum()

    defaulted = history.defaulted()
    assert len(defaulted) > 0
    chosen = pick_defaulted(history, seed=9, draw=1)
    assert chosen in defaulted and chosen == pick_defaulted(history, seed=9, draw=1)
    assert history.of(chosen)["max_dpd"].max() >= 90  # they did reach 90 days past due
    assert model.twin_history.months == history.months
    with pytest.raises(IndexError):
        history.of(SMALL)
    assert pick_defaulted(BorrowerHistory(5, 2), seed=0, draw=0) is None


# --------------------------------------------------------------------------- figures and captions


def _frame(**columns) -> pd.DataFrame:
    months = list(range(-2, 5))
    data = {"month": months}
    for name in ("overdue_rate", "overdue_balance_rate", "new_defaults", "platforms_active"):
        data[name] = [0.0] * len(months)
    data.update(columns)
    return pd.DataFrame(data)


def test_captions_give_the_peak_of_a_rate_and_the_total_of_a_flow_since_month_one():
    from explorer.plots import PANELS, caption

    m3 = PANELS[1]
    frame = _frame(m3plus_rate=[0.05, 0.0, 0.01, 0.02, 0.03, 0.025, 0.015], m3plus_balance_rate=[0.0] * 7)
    # the burn-in's 5% does not count: the peak is in the run
    assert caption(m3, frame).startswith("Month 4: M3+ by count 1.5% (peak 3.0% in month 2)")
    defaults = PANELS[2]
    frame = _frame(new_defaults=[50, 50, 50, 10, 20, 30, 5])
    assert caption(defaults, frame) == "Month 4: new defaults 5 (peak 30 in month 3; 65 since month 1)"
    twin = _frame(new_defaults=[50, 50, 50, 12, 25, 30, 8])
    assert caption(defaults, frame, twin) == ("Month 4: new defaults: B 5, A 8, B - A -3 (since month 1: B - A -10)")


def test_m3plus_gets_an_axis_fitted_to_it_and_ab_draws_a_and_the_paired_difference():
    from explorer.plots import PANELS, monthly_figure

    b = _frame(m3plus_rate=[0.02] * 7, m3plus_balance_rate=[0.01, 0.01, 0.01, 0.02, 0.025, 0.02, 0.015])
    fig = monthly_figure(PANELS[1], b, [])
    (ax,) = fig.axes
    assert ax.get_ylim()[1] == pytest.approx(1.35 * 0.025)  # not the 0-12% of the M1+ plot
    a = b.assign(m3plus_balance_rate=b["m3plus_balance_rate"] - 0.005)
    top, bottom = monthly_figure(PANELS[1], b, [], twin=a).axes
    assert len(top.get_lines()) == 4  # B and A, by count and by balance
    differences = [line.get_ydata() for line in bottom.get_lines() if len(line.get_ydata()) == len(b)]
    np.testing.assert_allclose(differences[1], [0.005] * len(b))  # B - A by balance
    assert bottom.get_ylabel() == "B - A (pp)"


def test_the_borrower_figure_and_caption_tell_one_borrowers_months():
    from explorer.plots import borrower_caption, borrower_figure

    model = ExplorerMarket(borrowers=SMALL, seed=9, shock_pp=10, shock_start=1, penalty_rule="compounding")
    model.run_to(10)
    history = model.history
    # one who defaulted in the run: a burn-in default can be older than the months the plot shows
    who = pick_defaulted(history, seed=9, draw=1)
    mine = history.of(who)
    fig = borrower_figure(mine, model.config.economy.shocks, history.platforms, who=who)
    income, owed, dpd, contacts = fig.axes
    assert f"Borrower {who}" in income.get_title(loc="left")
    assert max(line.get_ydata().max() for line in dpd.get_lines() if line.get_label().startswith("P")) >= 90
    text = borrower_caption(mine, history.loans_now(who), int(history.default_month[who]), who)
    assert text.startswith(f"Borrower {who}, month 10: ") and "first defaulted" in text

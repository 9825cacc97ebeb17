"""Scenario files do what their descriptions say.

Each shock scenario, run beside the baseline on the same seed (keyed draws: the two runs differ only by
what the shock does), moves the outputs it is about. Every scenario file's outcome rates are the same at
two population sizes within sampling noise (marked slow): results are rates, whatever ``borrowers.count``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import LendingMarket, load_scenario
from tests.scenario_files import SCENARIOS, scenario_files

SEED = 7
SMALL = {"borrowers.count": 2000, "months": 36, "burn_in": 12}


@cache
def monthly(path: Path, overrides: tuple = tuple(SMALL.items()), seed: int = SEED) -> pd.DataFrame:
    """The months after burn-in of a scenario file's run, indexed by month."""
    config = load_scenario(path).with_overrides(dict(overrides))
    frame = LendingMarket(config, seed=seed).run().model_frame()
    return frame[frame["month"] >= 1].set_index("month")


def base() -> pd.DataFrame:
    return monthly(SCENARIOS / "baseline.yaml")


def window(frame: pd.DataFrame, column: str, first: int, last: int) -> float:
    return float(frame.loc[first:last, column].mean())


def check_recession(shock: pd.DataFrame) -> None:
    # unemployment +5 pp at the trough (months 16-26 of a U from 12 to 35); overdue follows with a lag
    b = base()
    assert window(shock, "unemployment_rate", 16, 26) > window(b, "unemployment_rate", 16, 26) + 0.03
    assert window(shock, "overdue_balance_rate", 18, 36) > window(b, "overdue_balance_rate", 18, 36) + 0.005
    assert window(shock, "unemployment_rate", 1, 11) == pytest.approx(window(b, "unemployment_rate", 1, 11))


def check_recession_with_relief(shock: pd.DataFrame) -> None:
    # the same job losses as the recession, but transfers replace the lost wage: less hardship, less overdue
    recession = monthly(SCENARIOS / "shocks" / "recession.yaml")
    assert window(shock, "unemployment_rate", 16, 26) == pytest.approx(window(recession, "unemployment_rate", 16, 26))
    assert window(shock, "hardship_share", 16, 26) < window(recession, "hardship_share", 16, 26)
    assert window(shock, "overdue_balance_rate", 18, 36) < window(recession, "overdue_balance_rate", 18, 36)


def check_v_shock(shock: pd.DataFrame) -> None:
    # unemployment peaks at mid-shock (month 17-18) and is back near the baseline by the end of the run
    b = base()
    gap = shock["unemployment_rate"] - b["unemployment_rate"]
    assert gap.loc[16:20].max() > 0.03 and 15 <= gap.idxmax() <= 22
    assert gap.loc[33:36].mean() < gap.max() / 3
    assert window(shock, "overdue_balance_rate", 16, 30) > window(b, "overdue_balance_rate", 16, 30)


def check_rate_hike(shock: pd.DataFrame) -> None:
    # the benchmark rises by 3 pp over months 12-23 and stays; prices follow it (cost of funds + cost-plus pricing)
    b = base()
    rise = shock["benchmark_rate"] - b["benchmark_rate"]
    assert rise.loc[1:11].abs().max() == 0.0
    assert rise.loc[12] == pytest.approx(0.03 / 12)
    np.testing.assert_allclose(rise.loc[23:36], 0.03)
    assert window(shock, "avg_apr", 24, 36) > window(b, "avg_apr", 24, 36) + 0.01
    assert window(shock, "approval_rate", 24, 36) < window(b, "approval_rate", 24, 36)


def check_platform_collapse(shock: pd.DataFrame) -> None:
    # three platforms close at month 12, their books unserviced: more overdue than the baseline afterwards
    b = base()
    assert shock.loc[11, "platforms_active"] == b.loc[11, "platforms_active"]
    assert shock.loc[12, "platforms_active"] <= b.loc[12, "platforms_active"] - 3
    assert window(shock, "overdue_balance_rate", 14, 36) > window(b, "overdue_balance_rate", 14, 36) + 0.01


def check_overdue_surge_8x(shock: pd.DataFrame) -> None:
    # a recession from month 12, five of eight platforms closed at month 18 with unserviced books; survivors
    # keep lending (the funding withdrawal is time-limited, not a run on every platform)
    b = base()
    assert window(shock, "unemployment_rate", 16, 26) > window(b, "unemployment_rate", 16, 26) + 0.03
    # (a platform may fail before: investors run on a boom's lender whose overdue rate climbs in the recession)
    before, after = shock.loc[17, "platforms_active"], shock.loc[18, "platforms_active"]
    assert before >= 6 and before - after == 5
    assert shock.loc[36, "platforms_active"] >= 1 and window(shock, "originations", 25, 36) > 0
    ratio = shock["overdue_amount"].max() / shock["overdue_amount"].iloc[0]
    assert ratio > 3.0 and ratio > 2 * b["overdue_amount"].max() / b["overdue_amount"].iloc[0]


def check_replay_us_2006_2012(shock: pd.DataFrame) -> None:
    # the US series drives the unemployment target (level mode): 4.7% in January 2006, 7.3% in December 2008
    # (month 36, where the short test run ends); borrowers' realised unemployment and overdue follow it
    flat = monthly(SCENARIOS / "shocks" / "replay_us_2006_2012_flat.yaml")
    assert shock.loc[1, "unemployment_target"] == pytest.approx(0.047)
    assert shock.loc[36, "unemployment_target"] == pytest.approx(0.073)
    assert window(shock, "unemployment_rate", 30, 36) > window(flat, "unemployment_rate", 30, 36) + 0.01
    assert window(shock, "overdue_balance_rate", 30, 36) > window(flat, "overdue_balance_rate", 30, 36)


def check_replay_us_2006_2012_flat(shock: pd.DataFrame) -> None:
    # the counterfactual holds unemployment at the series' first month
    np.testing.assert_allclose(shock["unemployment_target"], 0.047)


def check_china_2020(shock: pd.DataFrame) -> None:
    # the 2020 shock at its measured size: +1 pp and -7% at once in month 12, back linearly over 10 months
    b = base()
    gap = shock["unemployment_target"] - b["unemployment_target"]
    assert gap.loc[1:11].abs().max() == 0.0
    assert gap.loc[12] == pytest.approx(0.01) and gap.loc[17] == pytest.approx(0.005)
    assert gap.loc[22:].abs().max() == 0.0
    assert shock.loc[12, "income_level"] / b.loc[12, "income_level"] == pytest.approx(0.93)
    assert window(shock, "overdue_balance_rate", 12, 18) > window(b, "overdue_balance_rate", 12, 18) + 0.0015


CHECKS = {
    "china_2020.yaml": check_china_2020,
    "replay_us_2006_2012.yaml": check_replay_us_2006_2012,
    "replay_us_2006_2012_flat.yaml": check_replay_us_2006_2012_flat,
    "recession.yaml": check_recession,
    "recession_with_relief.yaml": check_recession_with_relief,
    "v_shock.yaml": check_v_shock,
    "rate_hike.yaml": check_rate_hike,
    "platform_collapse.yaml": check_platform_collapse,
    "overdue_surge_8x.yaml": check_overdue_surge_8x,
}
SHOCKS = sorted((SCENARIOS / "shocks").glob("*.yaml"))


def test_every_shock_scenario_has_a_check():
    assert sorted(p.name for p in SHOCKS) == sorted(CHECKS)


@pytest.mark.parametrize("path", SHOCKS, ids=lambda p: p.stem)
def test_a_shock_scenario_moves_the_outputs_it_is_about(path):
    CHECKS[path.name](monthly(path))


def test_the_lpr_cap_is_a_multiple_of_the_benchmark_and_moves_with_it():
    # 4 x LPR from month 12: 15.4% at the baseline's 3.85%, below the 18% best-grade price, so lending stops
    cap = monthly(SCENARIOS / "policies" / "apr_cap_lpr.yaml")
    assert window(cap, "originations", 1, 11) == window(base(), "originations", 1, 11) > 0
    assert cap.loc[12:, "originations"].sum() == 0
    flat = monthly(SCENARIOS / "policies" / "apr_cap_24.yaml")
    assert 0 < window(flat, "origination_amount", 13, 36) < window(base(), "origination_amount", 13, 36)


# --------------------------------------------------------------------------- size invariance

SIZES = (3000, 12000)
SMALL_SEEDS, LARGE_SEEDS = range(3), range(2)
SHORT = {"months": 24, "burn_in": 6}
RATES = ("overdue_rate", "overdue_balance_rate", "default_rate", "approval_rate", "inspection_rate", "fines_to_capital")
Z = 5.0  # about 170 comparisons of estimates with 3 degrees of freedom: a false alarm is rare at 5


def rates(path: Path, borrowers: int, seed: int) -> np.ndarray:
    """Each outcome rate over the run's months after burn-in: the mean of the monthly rates; inspections per
    active platform and month; fines over the platforms' mean capital."""
    frame = monthly(path, tuple({**SHORT, "borrowers.count": borrowers}.items()), seed)
    inspection_rate = frame["inspections"].sum() / frame["platforms_active"].sum()
    fines_to_capital = frame["fines"].sum() / frame["platform_capital"].mean()
    return np.append(frame[list(RATES[:4])].mean().to_numpy(), [inspection_rate, fines_to_capital])


@pytest.mark.slow
@pytest.mark.parametrize("path", scenario_files(), ids=lambda p: p.relative_to(SCENARIOS).as_posix())
def test_outcome_rates_do_not_depend_on_the_population_size(path):
    small = np.array([rates(path, SIZES[0], s) for s in SMALL_SEEDS])
    large = np.array([rates(path, SIZES[1], 100 + s) for s in LARGE_SEEDS])
    # one variance pooled over both sizes, not scaled down for the larger runs: much of a run's noise is common
    # to all its borrowers (eight platforms' capital and fortunes, inspections of eight platforms) and does not
    # shrink with the population, so scaling by size would understate the noise of the large runs
    dev = np.concatenate([small - small.mean(0), large - large.mean(0)])
    var = (dev**2).sum(0) / (len(small) + len(large) - 2)
    se = np.sqrt(var / len(small) + var / len(large))
    z = np.abs(small.mean(0) - large.mean(0)) / np.maximum(se, 1e-6)
    bad = {
        name: f"{s:.4f} vs {lg:.4f} ({zz:.1f} s.e.)"
        for name, s, lg, zz in zip(RATES, small.mean(0), large.mean(0), z)
        if zz > Z
    }
    assert not bad, bad

"""Enforcement outcomes are rates: the same scenario at two population sizes gives the same fines relative to
capital, the same shares of platforms revoked or failed, of platforms complying and of months inspected.

Fines are a share of each platform's revenue and compliance weighs that fine against a gain that is also a
share of revenue (sim/regulator.py), so nothing in enforcement should depend on ``borrowers.count``. With
the fines of earlier versions (50,000 CNY per breached rule, 2,000 CNY per incident) this fails: at 4,000
borrowers the fines wipe out platforms' capital, which fail before the regulator revokes them.

``python -m tests.test_enforcement`` prints the measured outcomes at both sizes.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim import LendingMarket, load_scenario
from tests.scenario_files import SCENARIOS

pytestmark = pytest.mark.slow

SIZES = (4000, 16000)
SEEDS = range(6)
MONTHS = 36
# conduct rules from month 12 on aggressive collectors, every platform weighing them against the fines
SCENARIO = SCENARIOS / "policies" / "conduct_rules.yaml"
ALL_WEIGH = [{"platforms": list(range(8)), "set": {"complies_with_conduct_rules": False}}]
OUTCOMES = ("fines_to_capital", "revoked_share", "exit_share", "compliance_share", "inspection_rate")


def enforcement_outcomes(borrowers: int, seed: int) -> dict[str, float]:
    """One run's enforcement outcomes over the months after burn-in."""
    config = load_scenario(SCENARIO).with_overrides(
        {"borrowers.count": borrowers, "months": MONTHS, "platforms.overrides": ALL_WEIGH}
    )
    model = LendingMarket(config, seed=seed).run()
    frame = model.model_frame()
    frame = frame[frame["month"] >= 1]
    active_months = frame["platforms_active"].sum()
    n = len(model.platforms)
    return {
        "fines_to_capital": frame["fines"].sum() / frame["platform_capital"].mean(),
        "revoked_share": sum(p.status == "revoked" for p in model.platforms) / n,
        "exit_share": sum(not p.is_active for p in model.platforms) / n,
        "compliance_share": 1.0 - frame["breaching_platforms"].sum() / active_months,
        "inspection_rate": frame["inspections"].sum() / active_months,
    }


def measure() -> dict[int, dict[str, np.ndarray]]:
    """Per size, each outcome over the seeds."""
    out = {}
    for borrowers in SIZES:
        runs = [enforcement_outcomes(borrowers, seed) for seed in SEEDS]
        out[borrowers] = {k: np.array([r[k] for r in runs]) for k in OUTCOMES}
    return out


def disagreement(a: np.ndarray, b: np.ndarray) -> float:
    """The difference of the two means in standard errors (independent runs: different sizes share no draws).

    The standard error has a floor of one platform in eight over the runs, since shares of eight platforms
    move in steps of 1/8 and a handful of runs can show no spread at all.
    """
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    return abs(a.mean() - b.mean()) / max(se, 0.125 / np.sqrt(a.size))


@pytest.fixture(scope="module")
def measured():
    return measure()


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_enforcement_outcomes_do_not_depend_on_the_population_size(measured, outcome):
    small, large = (measured[n][outcome] for n in SIZES)
    z = disagreement(small, large)
    assert z < 3.0, (
        f"{outcome}: {small.mean():.4f} at {SIZES[0]:,} vs {large.mean():.4f} at {SIZES[1]:,} ({z:.1f} s.e.)"
    )


def test_enforcement_happens_at_all(measured):
    # a test of invariance passes trivially if nothing is ever fined or breached
    for n in SIZES:
        assert measured[n]["fines_to_capital"].mean() > 0.01 and measured[n]["inspection_rate"].mean() > 0.05
        assert 0.0 < measured[n]["compliance_share"].mean() < 1.0


if __name__ == "__main__":
    for borrowers, outcomes in measure().items():
        print(borrowers, "  ".join(f"{k} {v.mean():.4f} (sd {v.std(ddof=1):.4f})" for k, v in outcomes.items()))

"""The economy: shock profiles over time and the resulting unemployment target, income and relief; and
borrowers' side of it: their initial state, jobs, income and unexpected expenses (phase 3)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.borrowers import BorrowerState, start_employment, update_employment
from sim.config import BorrowerConfig, EconomyConfig, Shock
from sim.draws import Draws, MonthDraws
from sim.economy import Economy, EconomyState, shock_intensity


def intensities(shape: str, start: int, duration: int, months) -> list[float]:
    shock = Shock(start=start, duration=duration, shape=shape)
    return [shock_intensity(shock, m) for m in months]


@pytest.mark.parametrize("shape", ["step", "ramp", "v", "u", "jump"])
def test_no_intensity_before_the_shock_starts(shape):
    assert intensities(shape, 10, 6, [-5, 0, 1, 9]) == [0.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("shape", ["step", "ramp", "v", "u", "jump"])
def test_intensity_is_within_zero_and_one(shape):
    values = intensities(shape, 3, 7, range(-2, 30))
    assert all(0.0 <= v <= 1.0 for v in values)
    assert max(values) > 0.5


def test_step_is_one_for_its_duration_then_zero():
    assert intensities("step", 5, 4, [4, 5, 6, 7, 8, 9, 20]) == [0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]


def test_ramp_rises_linearly_reaches_one_and_stays():
    values = intensities("ramp", 5, 4, [4, 5, 6, 7, 8, 9, 50, 500])
    assert values == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0])


def test_v_peaks_mid_shock_and_is_symmetric():
    # duration 5 from month 3: months 3..7, peak 1.0 at month 5
    values = intensities("v", 3, 5, [2, 3, 4, 5, 6, 7, 8])
    assert values == pytest.approx([0.0, 0.2, 0.6, 1.0, 0.6, 0.2, 0.0])
    assert max(values) == values[3]


def test_v_with_even_duration_peaks_in_the_two_middle_months():
    values = intensities("v", 1, 4, [1, 2, 3, 4, 5])
    assert values == pytest.approx([0.25, 0.75, 0.75, 0.25, 0.0])


def test_u_rises_fast_plateaus_and_recovers_slowly():
    # duration 10 from month 1: positions x = 0.05, 0.15, ..., 0.95
    values = intensities("u", 1, 10, range(1, 12))
    expected = [0.25, 0.75, 1.0, 1.0, 1.0, 1.0, 0.875, 0.625, 0.375, 0.125, 0.0]
    assert values == pytest.approx(expected)
    rise = values[1] - values[0]
    fall = values[6] - values[7]
    assert rise > fall  # fast in, slow out


def test_jump_is_full_at_once_and_recovers_linearly():
    # duration 4 from month 3: full in month 3, a quarter less each month, gone at month 7
    values = intensities("jump", 3, 4, [2, 3, 4, 5, 6, 7, 8])
    assert values == pytest.approx([0.0, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0])


# --------------------------------------------------------------------------- the economy


def economy_with(shocks: list[dict], **kwargs) -> Economy:
    cfg = EconomyConfig(shocks=[Shock(**s) for s in shocks], **kwargs)
    return Economy(cfg, keyed(0))


def test_unemployment_target_and_relief_inside_and_outside_a_step_shock():
    econ = economy_with(
        [
            {
                "start": 4,
                "duration": 3,
                "shape": "step",
                "unemployment_delta": 0.06,
                "relief": 0.4,
                "income_factor": 0.9,
                "rate_delta": 0.01,
            }
        ],
        unemployment_rate=0.05,
        income_growth_annual=0.0,
        benchmark_rate_annual=0.03,
    )
    states = {m: econ.advance(m) for m in range(1, 10)}
    for m in (1, 2, 3, 7, 8, 9):
        s = states[m]
        assert s.unemployment_target == pytest.approx(0.05)
        assert s.relief == 0.0
        assert s.income_level == pytest.approx(1.0)
        assert s.benchmark_rate == pytest.approx(0.03)
        assert not s.in_declared_shock
    for m in (4, 5, 6):
        s = states[m]
        assert s.unemployment_target == pytest.approx(0.11)
        assert s.relief == pytest.approx(0.4)
        assert s.income_level == pytest.approx(0.9)
        assert s.benchmark_rate == pytest.approx(0.04)
        assert s.in_declared_shock


def test_shock_effects_scale_with_intensity():
    econ = economy_with(
        [{"start": 1, "duration": 5, "shape": "v", "unemployment_delta": 0.1, "relief": 0.5}],
        unemployment_rate=0.05,
        income_growth_annual=0.0,
    )
    s = econ.advance(2)  # intensity 0.6
    assert s.unemployment_target == pytest.approx(0.05 + 0.06)
    assert s.relief == pytest.approx(0.3)


def test_overlapping_shocks_add_unemployment():
    econ = economy_with(
        [
            {"start": 1, "duration": 10, "unemployment_delta": 0.02},
            {"start": 3, "duration": 2, "unemployment_delta": 0.03},
        ],
        unemployment_rate=0.05,
    )
    assert econ.advance(2).unemployment_target == pytest.approx(0.07)
    assert econ.advance(3).unemployment_target == pytest.approx(0.10)


def test_undeclared_shock_is_not_declared():
    econ = economy_with([{"start": 1, "duration": 3, "unemployment_delta": 0.02, "declared": False}])
    assert not econ.advance(2).in_declared_shock


def test_platform_closures_happen_only_in_the_start_month():
    econ = economy_with([{"start": 3, "duration": 6, "platform_closures": 2}])
    assert [econ.advance(m).closures_now for m in range(1, 8)] == [0, 0, 2, 0, 0, 0, 0]


def test_income_grows_at_the_configured_annual_rate():
    econ = economy_with([], income_growth_annual=0.04)
    for m in range(1, 13):
        s = econ.advance(m)
    assert s.income_level == pytest.approx(1.04)


def test_unemployment_target_stays_a_rate():
    econ = economy_with([{"start": 1, "duration": 3, "unemployment_delta": 0.5}], unemployment_rate=0.5)
    assert 0.0 < econ.advance(1).unemployment_target < 1.0
    econ = economy_with([{"start": 1, "duration": 3, "unemployment_delta": -0.2}], unemployment_rate=0.05)
    assert econ.advance(1).unemployment_target > 0.0


def test_a_recession_enters_with_p_enter_leaves_with_p_exit_and_the_months_record_reports_it():
    # a uniform draw is in [0, 1): p = 1 always moves, p = 0 never does, whatever the seed. The economy's record
    # of the month (what the phases read) says whether it is in recession, and the recession's unemployment
    # and income effects apply in exactly those months.
    def regime(p_enter: float, p_exit: float) -> list[tuple[bool, float, float]]:
        rs = {"enabled": True, "p_enter": p_enter, "p_exit": p_exit, "unemployment_delta": 0.05, "income_factor": 0.9}
        econ = economy_with([], unemployment_rate=0.05, income_growth_annual=0.0, regime_switching=rs)
        return [(s.in_recession, s.unemployment_target, s.income_level) for s in map(econ.advance, range(1, 5))]

    inside, outside = (True, 0.10, pytest.approx(0.9)), (False, 0.05, pytest.approx(1.0))
    assert regime(1.0, 0.0) == [inside] * 4  # enters in month 1 and stays
    assert regime(0.0, 0.0) == [outside] * 4
    assert regime(1.0, 1.0) == [inside, outside, inside, outside]  # leaves the month after it enters


def test_regime_switching_off_draws_nothing():
    class NoDraws:  # any draw at all fails the test
        def __getattr__(self, name):
            raise AssertionError(f"drew {name} with regime switching off")

    Economy(EconomyConfig(), NoDraws()).advance(1)


# --------------------------------------------------------------------------- borrowers: jobs, income, expenses


def keyed(seed: int) -> Draws:
    """The model's keyed draws (sim.draws) for a seed."""
    return Draws(np.random.SeedSequence(seed))


def borrowers(n: int = 20_000, **changes) -> BorrowerState:
    return BorrowerState(BorrowerConfig(count=n, **changes), keyed(0))


def test_borrowers_start_with_the_configured_income_savings_literacy_and_willingness():
    # population statistics of 20,000 draws: within a few standard errors for any seed
    cfg = BorrowerConfig(count=20_000)
    bs = BorrowerState(cfg, keyed(0))
    log_wage = np.log(bs.wage)
    assert np.median(bs.wage) == pytest.approx(cfg.income_median_monthly, rel=0.03)
    assert log_wage.std() == pytest.approx(cfg.income_sigma, rel=0.03)
    # safer borrowers (higher creditworthiness) earn more, with the configured correlation of log income
    assert np.corrcoef(bs.creditworthiness, log_wage)[0, 1] == pytest.approx(cfg.income_risk_corr, abs=0.03)
    assert np.median(bs.savings / bs.wage) == pytest.approx(cfg.savings_months, rel=0.05)
    assert bs.literacy.mean() == pytest.approx(cfg.literacy_mean, abs=0.02)
    assert bs.literacy.min() >= 0.0 and bs.literacy.max() <= 1.0
    assert bs.willingness.mean() == pytest.approx(cfg.willingness_mean, abs=0.05)
    slope = np.polyfit(bs.creditworthiness, bs.willingness, 1)[0]
    assert slope == pytest.approx(cfg.willingness_risk_loading, abs=0.05)
    slope = np.polyfit(bs.creditworthiness, bs.essentials_share, 1)[0]
    assert slope == pytest.approx(-cfg.essentials_risk_loading, abs=0.02)
    assert bs.essentials_share.min() >= 0.05 and bs.essentials_share.max() <= 2.0
    np.testing.assert_allclose(bs.essentials, bs.essentials_share * bs.wage)


def test_borrowers_start_employed_with_full_family_support_and_no_record():
    bs = borrowers(100)
    assert bs.is_employed.all() and (bs.support == 1.0).all()
    np.testing.assert_array_equal(bs.income, bs.wage)
    for name in ("expense", "shortfall", "btr_cash", "max_pressure"):
        assert (getattr(bs, name) == 0.0).all(), name
    assert not bs.has_bureau_record.any() and not bs.is_in_hardship.any()
    assert (bs.last_bureau_default < -1000).all()


def test_riskier_borrowers_are_more_often_unemployed_at_the_start():
    bs = borrowers()
    econ = EconomyConfig(unemployment_rate=0.1)
    start_employment(bs, econ, keyed(1))
    assert (~bs.is_employed).mean() == pytest.approx(0.1, abs=0.01)
    risky = bs.creditworthiness < 0
    assert (~bs.is_employed[risky]).mean() > 1.5 * (~bs.is_employed[~risky]).mean()


def month_of(unemployment_target: float = 0.05, income_level: float = 1.0, price_level: float = 1.0, relief=0.0):
    return EconomyState(unemployment_target, income_level, price_level, 0.03, relief, 0.0, False, False, 0)


def test_the_employed_earn_their_wage_at_the_income_level_and_the_jobless_odd_jobs_relief_and_benefits_at_prices():
    # no income shocks: pay is the wage times the income level; out of work, jobless_income_share of the wage
    # plus relief (together at most the wage) and, for covered spells within benefit_months, the benefit -
    # all at the price level, like essential spending, which is cut 6% out of work and 12% more without a benefit
    bs = borrowers(1000)
    econ = EconomyConfig(income_transitory_sd=0.0, income_permanent_sd=0.0, benefit_coverage=0.5, benefit_months=12)
    cfg = bs_cfg(bs)
    bs.is_employed[:500] = False
    bs.spell_months[:500] = np.where(np.arange(500) % 2 == 0, 11, 12)  # now in month 12 (the last paid) or 13
    bs.has_benefit[:500] = np.arange(500) < 250  # the first half of the jobless are covered
    update_employment(bs, econ, cfg, month_of(0.3, income_level=0.9, price_level=1.1, relief=0.2), rng(1))
    assert 0 < bs.is_employed.sum() < bs.n
    still_out = ~bs.is_employed[:500]
    covered_in_time = (np.arange(500) < 250) & (np.arange(500) % 2 == 0)  # covered, in month 12 of the spell
    np.testing.assert_array_equal(bs.receives_benefit[:500][still_out], covered_in_time[still_out])
    assert bs.receives_benefit.any() and (~bs.is_employed & ~bs.receives_benefit).any()
    benefit = econ.benefit_monthly * bs.receives_benefit
    jobless_income = 1.1 * (bs.wage * (econ.jobless_income_share + 0.2) + benefit)
    np.testing.assert_allclose(bs.income, np.where(bs.is_employed, bs.wage * 0.9, jobless_income))
    cut = np.where(bs.receives_benefit, 0.06, 0.06 + 0.12)
    spending = bs.essentials * 1.1 * np.where(bs.is_employed, 1.0, 1.0 - cut)
    np.testing.assert_allclose(bs.essential_spending, spending)
    assert (cfg.essentials_cut_unemployed, cfg.essentials_cut_no_benefit) == (0.06, 0.12)
    assert (bs.expense == 0.0).all()
    update_employment(bs, econ, cfg, month_of(0.3, relief=0.95), rng(2))
    jobless = ~bs.is_employed
    benefit = econ.benefit_monthly * bs.receives_benefit
    # odd jobs and relief replace at most the wage; the benefit comes on top
    np.testing.assert_allclose(bs.income[jobless], bs.wage[jobless] + benefit[jobless])


def bs_cfg(bs: BorrowerState, **changes) -> BorrowerConfig:
    return BorrowerConfig(count=bs.n, **{"expense_shock_monthly": 0.0, **changes})


def rng(month: int = 1) -> MonthDraws:
    """One month's keyed draws: each month of a multi-month test needs its own (the same month's are the same)."""
    return keyed(3).at(month)


def test_transitory_and_permanent_income_shocks_keep_mean_income_at_the_wage():
    # both shocks are log-normal with the -sd^2/2 correction: mean-preserving in levels (no scar, so no growth)
    bs = borrowers()
    wage_before = bs.wage.copy()
    econ = EconomyConfig(unemployment_rate=0.05, income_transitory_sd=0.3, income_permanent_sd=0.2, scar_loss=0.0)
    update_employment(bs, econ, bs_cfg(bs), month_of(0.05), rng())
    employed = bs.is_employed
    ratio = (bs.income / bs.wage)[employed]
    assert ratio.mean() == pytest.approx(1.0, abs=0.01) and ratio.std() > 0.25
    permanent = (bs.wage / wage_before)[employed]
    assert permanent.mean() == pytest.approx(1.0, abs=0.01) and permanent.std() > 0.15


def test_job_flows_move_unemployment_towards_the_target_from_both_sides():
    for start, target in ((0.05, 0.15), (0.15, 0.05)):
        bs = borrowers()
        bs.is_employed[: int(start * bs.n)] = False
        econ = EconomyConfig(unemployment_rate=0.05)
        rates = []
        for month in range(1, 13):
            update_employment(bs, econ, bs_cfg(bs), month_of(target), rng(month))
            rates.append((~bs.is_employed).mean())
        gaps = np.abs(np.array([start, *rates]) - target)
        assert gaps[1] < gaps[0] and gaps[-1] < gaps[0] / 2, (start, target, rates)


def test_at_the_baseline_target_unemployment_is_a_steady_state_and_riskier_borrowers_lose_jobs_more_often():
    bs = borrowers()
    econ = EconomyConfig(unemployment_rate=0.1)
    start_employment(bs, econ, keyed(1))
    lost = np.zeros(bs.n)
    for month in range(1, 7):
        employed = bs.is_employed.copy()
        update_employment(bs, econ, bs_cfg(bs), month_of(0.1), rng(month))
        lost += employed & ~bs.is_employed
        assert (~bs.is_employed).mean() == pytest.approx(0.1, abs=0.015)
    risky = bs.creditworthiness < 0
    assert lost[risky].mean() > 1.5 * lost[~risky].mean()


def test_unexpected_expenses_hit_the_configured_share_of_borrowers_with_the_configured_mean_size():
    bs = borrowers()
    cfg = bs_cfg(bs, expense_shock_monthly=0.1, expense_risk_gradient=0.0, expense_shock_months=2.0)
    econ = EconomyConfig(income_transitory_sd=0.0)
    update_employment(bs, econ, cfg, month_of(price_level=1.2), rng())
    hit = bs.expense > 0
    assert hit.mean() == pytest.approx(0.1, abs=0.01)
    assert (bs.expense[hit] / (bs.wage[hit] * 1.2)).mean() == pytest.approx(2.0, rel=0.08)  # exponential, mean 2

"""The economy: shock profiles over time and the resulting unemployment target, income and relief."""

from __future__ import annotations

import numpy as np
import pytest

from sim.config import EconomyConfig, Shock
from sim.economy import Economy, shock_intensity


def intensities(shape: str, start: int, duration: int, months) -> list[float]:
    shock = Shock(start=start, duration=duration, shape=shape)
    return [shock_intensity(shock, m) for m in months]


@pytest.mark.parametrize("shape", ["step", "ramp", "v", "u"])
def test_no_intensity_before_the_shock_starts(shape):
    assert intensities(shape, 10, 6, [-5, 0, 1, 9]) == [0.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("shape", ["step", "ramp", "v", "u"])
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


# --------------------------------------------------------------------------- the economy


def economy_with(shocks: list[dict], **kwargs) -> Economy:
    cfg = EconomyConfig(shocks=[Shock(**s) for s in shocks], **kwargs)
    return Economy(cfg, np.random.default_rng(0))


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


def test_regime_switching_off_draws_nothing():
    rng = np.random.default_rng(1)
    econ = Economy(EconomyConfig(), rng)
    before = rng.bit_generator.state
    econ.advance(1)
    assert rng.bit_generator.state == before

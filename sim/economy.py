"""The economy: unemployment target, wage-income level, benchmark rate, relief and funding shocks.

Not an agent: a model-level environment that advances once a month (phase 1). Scheduled shocks
add to a baseline with a time profile set by their ``shape``; an optional two-state Markov process
adds stochastic recessions; an observed series (``economy.series``, a replay) sets the unemployment
target, income index and benchmark rate month by month underneath both. The unemployment *rate*
reported by the model is the realised share of unemployed borrowers, which follows this target
through job flows with a lag of a few months (see ``borrowers.update_employment``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import EconomyConfig, Shock
from .draws import Draws, Purpose


def shock_intensity(shock: Shock, month: int) -> float:
    """Intensity in [0, 1] of a shock in a given month (month 1 = first month after burn-in).

    - ``step``: 1 for ``duration`` months from ``start``, then 0.
    - ``ramp``: rises linearly to 1 over ``duration`` months, then stays at 1 (a permanent change
      phased in, e.g. a rate-hike cycle).
    - ``v``: linear rise to 1 at mid-shock, linear fall back to 0 at the end.
    - ``u``: rises over the first fifth, plateaus, recovers over the last two fifths.
    - ``jump``: 1 in the first month, then a linear recovery to 0 at the end (a sudden stop such as
      the 2020 lockdown, which took China's surveyed unemployment up a point in one month and back
      over the rest of the year).
    """
    t = month - shock.start  # months since start, 0 in the first shock month
    d = shock.duration
    if t < 0:
        return 0.0
    if shock.shape == "ramp":
        return min((t + 1) / d, 1.0)
    if t >= d:
        return 0.0
    x = (t + 0.5) / d  # position within the shock, (0, 1)
    if shock.shape == "step":
        return 1.0
    if shock.shape == "v":
        return 1.0 - abs(2.0 * x - 1.0)
    if shock.shape == "jump":
        return 1.0 - t / d
    # "u"
    if x < 0.2:
        return x / 0.2
    if x > 0.6:
        return (1.0 - x) / 0.4
    return 1.0


@dataclass
class EconomyState:
    unemployment_target: float
    income_level: float  # multiplier on borrowers' wage income (growth and shocks)
    price_level: float  # multiplier on essential expenses and benefits (trend growth only: shocks cut pay, not rent)
    benchmark_rate: float
    relief: float  # share of lost wages replaced for the unemployed
    funding_withdrawal: float  # share of platform funding withdrawn this month
    in_declared_shock: bool
    in_recession: bool  # stochastic regime
    closures_now: int  # platforms to close this month


class Economy:
    """Advances the macro environment month by month."""

    def __init__(self, cfg: EconomyConfig, draws: Draws) -> None:
        self.cfg = cfg
        self.draws = draws
        self.growth_level = 1.0
        self.in_recession = False
        self.state = self._compose(0, advance_growth=False)

    def advance(self, month: int) -> EconomyState:
        """Phase 1: move to ``month``. Draws one uniform a month (``REGIME``) if regime switching is enabled."""
        rs = self.cfg.regime_switching
        if rs.enabled:
            u = float(self.draws.uniform(Purpose.REGIME, month, np.zeros(1))[0])
            self.in_recession = (u >= rs.p_exit) if self.in_recession else (u < rs.p_enter)
        self.state = self._compose(month, advance_growth=True)
        return self.state

    def _compose(self, month: int, advance_growth: bool) -> EconomyState:
        cfg = self.cfg
        if advance_growth:
            self.growth_level *= (1.0 + cfg.income_growth_annual) ** (1.0 / 12.0)
        du = dr = relief = withdrawal = 0.0
        income = 1.0
        declared = False
        closures = 0
        for s in cfg.shocks:
            w = shock_intensity(s, month)
            if w > 0:
                du += w * s.unemployment_delta
                dr += w * s.rate_delta
                income *= 1.0 + w * (s.income_factor - 1.0)
                relief = max(relief, w * s.relief)
                withdrawal = max(withdrawal, w * s.funding_withdrawal)
                declared = declared or s.declared
            if month == s.start:
                closures += s.platform_closures
        if self.in_recession:
            du += cfg.regime_switching.unemployment_delta
            income *= cfg.regime_switching.income_factor
        base_u, base_r = cfg.unemployment_rate, cfg.benchmark_rate_annual
        if cfg.series is not None:
            s = cfg.series
            # Row i drives month i + 1; the burn-in runs in the first row's economy (the market
            # settles in it before the replay starts) and the last row holds after the series ends.
            i = min(max(month - 1, 0), len(s.unemployment_rate) - 1)
            if s.mode == "level":  # the config checks unemployment_rate == row 0, so both modes agree there
                base_u = s.unemployment_rate[i]
            else:
                base_u += s.unemployment_rate[i] - s.unemployment_rate[0]
            if s.benchmark_rate is not None:
                base_r = (
                    s.benchmark_rate[i] if s.mode == "level" else base_r + s.benchmark_rate[i] - s.benchmark_rate[0]
                )
            if s.income_index is not None:
                income *= s.income_index[i] / s.income_index[0]
        return EconomyState(
            unemployment_target=float(np.clip(base_u + du, 0.001, 0.95)),
            income_level=self.growth_level * income,
            price_level=self.growth_level,
            benchmark_rate=max(base_r + dr, 0.0),
            relief=relief,
            funding_withdrawal=withdrawal,
            in_declared_shock=declared,
            in_recession=self.in_recession,
            closures_now=closures,
        )

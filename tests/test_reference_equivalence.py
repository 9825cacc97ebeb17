"""The plain-Mesa reference of the benchmark follows lendsim's rules.

Both start from the same burned-in market (lendsim then runs on with new lending switched off) and
each runs ``MONTHS`` months on its own random stream, for ``len(SEEDS)`` seeds. Their monthly
overdue rate (share of live loans past due) and default rate (loans crossing 90 days over live loans
at the start of the month) must agree within sampling noise, judged two ways:

* per month, pooled over seeds: |difference| <= ``Z_MONTH`` binomial standard errors, the variance
  inflated by the design effect of borrowers holding several loans (loans per overdue or
  defaulting borrower, a bound on the cluster effect). Early months share their starting state,
  which makes this conservative there. With 24 comparisons a threshold of 4 leaves a false alarm
  of about 1 in 700 if the standard error is right.
* over the run, paired by seed: the mean over seeds of the per-seed difference of the 12-month
  average rate, in units of its standard error across seeds: |t| <= ``T_SEEDS`` (7 degrees of
  freedom: a false alarm of about 1 in 350 per rate). This is the sharper check.

The check can fail: a reference with a tripled job-loss hazard fails it (see the second test; a doubled
hazard gives t = +4.1 on overdue, just inside the bar, since savings, family help and jobless income
carry most job losers through the first months).
Penalties barely move these two rates at the baseline's rule (a reference that ignores them
passes), so the penalty rules are checked directly, rule by rule, against ``sim.policies``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from benchmarks.reference_mesa import (
    LIVE,
    MarketSnapshot,
    ReferenceMarket,
    daily_penalty_rate,
    penalty_for_month,
    switch_off_new_lending,
)
from sim import policies
from sim.config import PenaltyConfig, RegulatorRules, ScenarioConfig, validate_scenario
from sim.model import LendingMarket

N_BORROWERS = 6000
BURN_IN = 18
MONTHS = 12
SEEDS = range(8)
Z_MONTH = 4.0
T_SEEDS = 4.5


@dataclass
class Series:
    """Monthly counts of one implementation, one row per seed, one column per month."""

    overdue: np.ndarray
    live: np.ndarray
    new_defaults: np.ndarray
    live_at_start: np.ndarray


def _config() -> ScenarioConfig:
    return ScenarioConfig().with_overrides({"borrowers.count": N_BORROWERS, "burn_in": BURN_IN, "months": MONTHS})


def _empty() -> Series:
    shape = (len(SEEDS), MONTHS)
    return Series(*(np.zeros(shape, dtype=np.int64) for _ in range(4)))


@pytest.fixture(scope="module")
def lendsim_runs() -> tuple[Series, list[MarketSnapshot]]:
    """lendsim's months after burn-in, and the state each reference starts from."""
    out, snapshots = _empty(), []
    for r, seed in enumerate(SEEDS):
        market = LendingMarket(_config(), seed=seed)
        for _ in range(BURN_IN):
            market.step()
        switch_off_new_lending(market)
        snapshots.append(MarketSnapshot.of(market))
        for t in range(MONTHS):
            market.step()
            m = market.metrics
            assert m["originations"] == 0
            out.overdue[r, t] = round(m["overdue_rate"] * m["live_loans"])
            out.live[r, t] = m["live_loans"]
            out.new_defaults[r, t] = m["new_defaults"]
            out.live_at_start[r, t] = market.flows.live_at_start
    return out, snapshots


def run_reference(snapshots: list[MarketSnapshot], model_cls: type[ReferenceMarket] = ReferenceMarket):
    """The reference's months from each snapshot, and the loans per overdue / defaulting borrower."""
    out = _empty()
    clusters = {"overdue": [0, 0], "default": [0, 0]}  # loans, borrowers
    for r, snap in enumerate(snapshots):
        model = model_cls.from_snapshot(snap, seed=10_000 + r)
        for t in range(MONTHS):
            model.step()
            out.overdue[r, t] = round(model.figures["overdue_rate"] * model.figures["live_loans"])
            out.live[r, t] = model.figures["live_loans"]
            out.new_defaults[r, t] = model.new_defaults
            out.live_at_start[r, t] = model.live_at_start
            for agent in model.borrowers:
                live = [ln for ln in agent.loans if ln.state == LIVE]
                for key, n in (
                    ("overdue", sum(ln.dpd > 0 for ln in live)),
                    ("default", sum(ln.prev_dpd <= 90 < ln.dpd for ln in live)),
                ):
                    clusters[key][0] += n
                    clusters[key][1] += n > 0
    deff = {key: max(loans / borrowers, 1.0) if borrowers else 1.0 for key, (loans, borrowers) in clusters.items()}
    return out, deff


def disagreements(lend: Series, ref: Series, deff: dict[str, float]) -> list[str]:
    """Where the two implementations differ by more than sampling noise (empty when they agree)."""
    found = []
    for name, num, den in (("overdue", "overdue", "live"), ("default", "new_defaults", "live_at_start")):
        cl, nl = getattr(lend, num), getattr(lend, den)
        cr, nr = getattr(ref, num), getattr(ref, den)
        # per month, pooled over seeds
        pl, pr = cl.sum(0) / nl.sum(0), cr.sum(0) / nr.sum(0)
        p = (cl.sum(0) + cr.sum(0)) / (nl.sum(0) + nr.sum(0))
        se = np.sqrt(deff[name] * p * (1.0 - p) * (1.0 / nl.sum(0) + 1.0 / nr.sum(0)))
        z = np.divide(pr - pl, se, out=np.zeros_like(se), where=se > 0)
        for t in np.flatnonzero(np.abs(z) > Z_MONTH):
            found.append(f"{name} rate in month {t + 1}: lendsim {pl[t]:.4f}, reference {pr[t]:.4f} (z = {z[t]:+.1f})")
        # over the run, paired by seed
        d = (cr / np.maximum(nr, 1)).mean(1) - (cl / np.maximum(nl, 1)).mean(1)
        se_d = d.std(ddof=1) / math.sqrt(len(d))
        t_stat = d.mean() / se_d if se_d > 0 else 0.0
        if abs(t_stat) > T_SEEDS:
            found.append(
                f"{name} rate over {MONTHS} months: mean paired difference {d.mean():+.5f} (t = {t_stat:+.1f})"
            )
    return found


def test_reference_gives_lendsims_overdue_and_default_rates(lendsim_runs):
    lend, snapshots = lendsim_runs
    ref, deff = run_reference(snapshots)
    assert (ref.live_at_start[:, 0] == lend.live_at_start[:, 0]).all()  # the same starting book
    assert ref.overdue.sum() > 1000 and ref.new_defaults.sum() > 100  # enough events to judge
    assert disagreements(lend, ref, deff) == []


class _TripledJobLoss(ReferenceMarket):
    def set_terms(self) -> None:
        super().set_terms()
        self.separation_rate *= 3.0


def test_equivalence_check_rejects_a_reference_with_a_tripled_job_loss_hazard(lendsim_runs):
    lend, snapshots = lendsim_runs
    ref, deff = run_reference(snapshots, _TripledJobLoss)
    found = disagreements(lend, ref, deff)
    assert any(f.startswith("overdue rate") for f in found), found


# --------------------------------------------------------------------------- rules, one by one

PENALTY_RULES = [
    PenaltyConfig(rule="none"),
    PenaltyConfig(rule="flat", rate_daily=0.0007),
    PenaltyConfig(rule="compounding", rate_daily=0.002),
    PenaltyConfig.model_validate(
        {"rule": "tiered", "amount_tiers": [{"min_amount": 0.0, "factor": 1.0}, {"min_amount": 500.0, "factor": 1.5}]}
    ),
    PenaltyConfig(rule="benchmark_multiple", multiple=2.0, basis="contract"),
    PenaltyConfig(rule="benchmark_multiple", multiple=4.0, basis="benchmark"),
]
RULES = [RegulatorRules(), RegulatorRules(penalty_cap_annual=0.24, allow_compounding=False)]


@pytest.mark.parametrize("rules", RULES, ids=["uncapped", "capped"])
@pytest.mark.parametrize("cfg", PENALTY_RULES, ids=lambda c: f"{c.rule}-{c.basis}")
def test_reference_penalty_rules_match_lendsims(cfg, rules):
    rng = np.random.default_rng(5)
    overdue = rng.uniform(0.0, 3000.0, 200)
    penalty = rng.uniform(0.0, 300.0, 200)
    dpd = rng.choice([30, 60, 90, 120, 150, 180], 200).astype(np.int16)
    apr = rng.uniform(0.1, 0.36, 200)
    expected = policies.penalty_accrual(cfg, overdue, penalty, dpd, apr, 0.0385, rules)
    got = [penalty_for_month(cfg, o, p, int(d), a, 0.0385, rules) for o, p, d, a in zip(overdue, penalty, dpd, apr)]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-9)
    assert (
        daily_penalty_rate(cfg, 120, 1000.0, 0.3, 0.0385, rules.penalty_cap_annual) <= rules.penalty_cap_annual / 365.0
    )


# --------------------------------------------------------------------------- set-up


def test_reference_starts_from_the_markets_state():
    market = LendingMarket(_config().with_overrides({"borrowers.count": 500}), seed=2)
    for _ in range(6):
        market.step()
    ref = ReferenceMarket.from_market(market)
    agents = sorted(ref.borrowers, key=lambda a: a.unique_id)
    bs, book = market.borrower_state, market.loans
    assert len(agents) == bs.n
    np.testing.assert_allclose([a.savings for a in agents], bs.savings)
    assert [a.is_employed for a in agents] == bs.is_employed.tolist()
    assert sum(len(a.loans) for a in agents) == book.n
    np.testing.assert_allclose(sum(ln.owed for a in agents for ln in a.loans), book.owed().sum())
    assert ref.month == market.month


@pytest.mark.parametrize(
    "change, what",
    [
        ({"regulator": {"forbearance": {"enabled": True}}}, "payment holidays"),
        ({"regulator": {"education_reach_monthly": 0.1}}, "education"),
        ({"platforms": {"policy": {"restructuring": {"enabled": True}}}}, "restructuring"),
        ({"platforms": {"policy": {"collection": {"regime": "targeted"}}}}, "targeted"),
    ],
)
def test_reference_refuses_mechanisms_it_does_not_model(change, what):
    cfg = validate_scenario({"borrowers": {"count": 50}, **change})
    market = LendingMarket(cfg, seed=0)
    with pytest.raises(ValueError, match=what):
        ReferenceMarket.from_market(market)

"""Keyed draws (sim.draws): their statistical quality, and that a draw depends on its key only.

The second property is what makes common random numbers pair: a borrower's income shock in month
17 is the same number in every arm of a comparison, whatever else happened.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sim.config import ScenarioConfig
from sim.draws import CONSTRUCTION, Draws, Purpose, binomial_inverse, poisson_inverse
from sim.model import LendingMarket

N = 400_000


@pytest.fixture(scope="module")
def draws() -> Draws:
    return Draws(np.random.SeedSequence(20261201))


def test_uniforms_are_uniform_on_the_open_interval(draws):
    u = draws.uniform(Purpose.JOB_FLOW, 5, np.arange(N))
    assert 0.0 < u.min() and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    counts = np.bincount((u * 100).astype(int), minlength=100)  # chi-square over 100 cells
    assert stats.chisquare(counts).pvalue > 1e-3
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / N)


def test_every_output_bit_is_balanced(draws):
    u = draws.uniform(Purpose.DEMAND, 3, np.arange(2 * N))
    u = u[u < 0.5]  # below one half, u * 2**53 recovers the 53 hash bits exactly (the top one is then 0)
    bits = (u * 2.0**53).astype(np.uint64)
    for b in range(52):
        share = float(((bits >> np.uint64(b)) & np.uint64(1)).mean())
        assert abs(share - 0.5) < 5 * 0.5 / np.sqrt(len(u)), f"bit {b}: {share}"


@pytest.mark.parametrize("other", ["purpose", "month", "entity", "sub", "seed"])
def test_draws_with_keys_that_differ_in_one_component_are_uncorrelated(draws, other):
    who = np.arange(N)
    a = draws.uniform(Purpose.INCOME_NOISE, 7, who, 0)
    b = {
        "purpose": lambda: draws.uniform(Purpose.EXPENSE_OCCURS, 7, who, 0),
        "month": lambda: draws.uniform(Purpose.INCOME_NOISE, 8, who, 0),
        "entity": lambda: draws.uniform(Purpose.INCOME_NOISE, 7, who + 1, 0),  # each entity against its neighbour
        "sub": lambda: draws.uniform(Purpose.INCOME_NOISE, 7, who, 1),
        "seed": lambda: Draws(np.random.SeedSequence(20261202)).uniform(Purpose.INCOME_NOISE, 7, who, 0),
    }[other]()
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(N)
    assert stats.kstest(a - b, stats.triang(c=0.5, loc=-1, scale=2).cdf).pvalue > 1e-3  # independent: a triangle


def test_a_draw_depends_on_its_key_only(draws):
    who = np.arange(1000)
    everyone = draws.uniform(Purpose.LOAN_AMOUNT, 12, who)
    some = np.array([3, 999, 17, 17, 500])
    assert np.array_equal(draws.uniform(Purpose.LOAN_AMOUNT, 12, some), everyone[some])  # subset, any order
    draws.uniform(Purpose.LOAN_AMOUNT, 12, np.arange(10**5))  # other draws in between change nothing
    assert np.array_equal(draws.uniform(Purpose.LOAN_AMOUNT, 12, who), everyone)
    again = Draws(np.random.SeedSequence(20261201))
    assert np.array_equal(again.uniform(Purpose.LOAN_AMOUNT, 12, who), everyone)
    assert not np.array_equal(draws.uniform(Purpose.LOAN_AMOUNT, CONSTRUCTION, who), everyone)


def test_normals_and_exponentials_by_inversion_have_their_distributions(draws):
    who = np.arange(N)
    assert stats.kstest(draws.normal(Purpose.SCORING_ERROR, 1, who), "norm").pvalue > 1e-3
    assert stats.kstest(draws.exponential(Purpose.EXPENSE_SIZE, 1, who), "expon").pvalue > 1e-3


@pytest.mark.parametrize("lam", [0.05, 0.8, 3.0, 30.0])
def test_poisson_by_inversion_has_its_distribution_and_rises_with_the_mean(draws, lam):
    u = draws.uniform(Purpose.INCIDENTS, 2, np.arange(N))
    k = poisson_inverse(u, np.full(N, lam))
    assert abs(k.mean() - lam) < 5 * np.sqrt(lam / N) and abs(k.var() - lam) < 0.05 * lam + 5 * np.sqrt(2 * lam**2 / N)
    top = int(stats.poisson.ppf(0.999, lam))
    observed = np.bincount(np.minimum(k, top + 1), minlength=top + 2)
    expected = N * np.r_[stats.poisson.pmf(np.arange(top + 1), lam), stats.poisson.sf(top, lam)]
    keep = expected > 5
    assert stats.chisquare(observed[keep], expected[keep] * observed[keep].sum() / expected[keep].sum()).pvalue > 1e-3
    # the same uniform never gives fewer events under a larger mean: counts stay paired across arms
    assert (poisson_inverse(u, np.full(N, lam * 1.1)) >= k).all()


@pytest.mark.parametrize("n, p", [(1, 0.3), (5, 0.1), (20, 0.5), (40, 0.97)])
def test_binomial_by_inversion_has_its_distribution(draws, n, p):
    u = draws.uniform(Purpose.COMPLAINTS, 2, np.arange(N))
    k = binomial_inverse(u, np.full(N, n), np.full(N, p))
    assert k.min() >= 0 and k.max() <= n
    observed = np.bincount(k, minlength=n + 1)
    expected = N * stats.binom.pmf(np.arange(n + 1), n, p)
    keep = expected > 5
    assert stats.chisquare(observed[keep], expected[keep] * observed[keep].sum() / expected[keep].sum()).pvalue > 1e-3
    assert (binomial_inverse(u, np.full(N, n), np.full(N, min(p * 1.1, 1.0))) >= k).all()


def test_a_policy_that_switches_a_mechanism_on_changes_no_other_draw():
    """An education campaign draws whom it reaches; every borrower's job losses and finds stay the same."""
    size = {"borrowers.count": 3000, "months": 12, "burn_in": 6}
    base = LendingMarket(ScenarioConfig().with_overrides(size), seed=4)
    educated = LendingMarket(
        ScenarioConfig().with_overrides({**size, "regulator.education_reach_monthly": 0.2}), seed=4
    )
    for _ in range(base.n_steps):
        base.step()
        educated.step()
        assert np.array_equal(base.borrower_state.is_employed, educated.borrower_state.is_employed), base.month
    assert not np.array_equal(base.borrower_state.literacy, educated.borrower_state.literacy)


def test_a_borrowers_kth_loan_meets_the_same_luck_in_two_arms_whatever_others_borrowed(draws):
    """Loans are keyed by borrower and the borrower's own loan number, not by their place in the book."""
    borrower, seq = np.array([7, 7, 9]), np.array([0, 1, 0])
    a = draws.uniform(Purpose.PRIORITY_NOISE, 30, borrower, seq)
    # another arm in which more loans were made before: same borrowers, same numbers, same draws
    b = draws.uniform(Purpose.PRIORITY_NOISE, 30, np.r_[np.arange(50), borrower], np.r_[np.zeros(50, int), seq])[50:]
    assert np.array_equal(a, b) and len(set(a)) == 3

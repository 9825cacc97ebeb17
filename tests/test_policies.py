"""Decision rules in sim.policies: payment allocation, penalties, conduct, strategic default, pressure."""

from __future__ import annotations

import numpy as np
import pytest

from sim import policies
from sim.config import BehaviourConfig, RegulatorRules
from sim.policies import (
    COLLECTION_PRESETS,
    allocate_payments,
    allocation_weights,
    collection_pressure,
    harassment_probability,
    strategic_default,
)

B = BehaviourConfig()
RULES = RegulatorRules()  # penalty cap 100% a year: does not bind the default rates


# --------------------------------------------------------------------------- allocate_payments


def test_allocate_payments_matches_balances_hand_example():
    # loans interleaved across borrowers to check the grouping
    borrower = np.array([0, 1, 0, 1, 0, 1])
    due = np.array([100.0, 30.0, 50.0, 30.0, 80.0, 30.0])
    weight = np.array([1.0, 1.0, 1.0, 1.0, 2.0, 1.0])
    budget = np.array([170.0, 45.0])
    paid = allocate_payments(budget, due, borrower, weight)
    # borrower 0: shares 42.5 / 42.5 / 85 by weight; loan 4 owes only 80, so it is paid in full and the
    # other 90 is shared again, 45 each; borrower 1: equal weights, 15 each
    np.testing.assert_allclose(paid, [45.0, 15.0, 45.0, 15.0, 80.0, 15.0], rtol=0, atol=1e-12)


def test_allocate_payments_budget_covers_everything():
    paid = allocate_payments(np.array([1e9]), np.array([1.0, 2.0, 3.0]), np.zeros(3, dtype=int), np.ones(3))
    np.testing.assert_array_equal(paid, [1.0, 2.0, 3.0])


def test_allocate_payments_zero_budget_and_empty_input():
    paid = allocate_payments(np.array([0.0, 0.0]), np.array([5.0, 7.0]), np.array([0, 1]), np.array([1.0, 2.0]))
    np.testing.assert_array_equal(paid, [0.0, 0.0])
    assert allocate_payments(np.array([10.0]), np.zeros(0), np.zeros(0, dtype=int), np.zeros(0)).size == 0


def test_allocate_payments_zero_weights_share_equally():
    paid = allocate_payments(np.array([30.0]), np.full(3, 50.0), np.zeros(3, dtype=int), np.zeros(3))
    np.testing.assert_allclose(paid, [10.0, 10.0, 10.0])


def test_allocate_payments_serves_live_loans_before_recoveries():
    due = np.array([40.0, 40.0, 100.0])
    tier = np.array([1, 0, 0])  # the first is a balance in recovery
    paid = allocate_payments(np.array([120.0]), due, np.zeros(3, dtype=int), np.ones(3), tier)
    np.testing.assert_allclose(paid, [0.0, 40.0, 80.0])  # live loans share the 120 (40 capped, 80 to the other)
    paid = allocate_payments(np.array([150.0]), due, np.zeros(3, dtype=int), np.ones(3), tier)
    np.testing.assert_allclose(paid, [10.0, 40.0, 100.0])  # the recovery gets what live loans leave


def test_optimisers_pay_the_costliest_loan_first():
    due = np.array([50.0, 50.0, 50.0])
    cost = np.array([0.01, 0.05, 0.02])
    borrower = np.zeros(3, dtype=int)
    paid = allocate_payments(np.array([70.0]), due, borrower, np.ones(3), None, cost, np.array([True]))
    np.testing.assert_allclose(paid, [0.0, 50.0, 20.0])
    matched = allocate_payments(np.array([70.0]), due, borrower, np.ones(3), None, cost, np.array([False]))
    np.testing.assert_allclose(matched, [70 / 3] * 3)


@pytest.mark.parametrize("seed", range(20))
def test_allocate_payments_properties_on_random_books(seed):
    rng = np.random.default_rng(seed)
    n_b, n_l = 30, 200
    borrower = rng.integers(0, n_b, n_l)
    due = np.where(rng.random(n_l) < 0.2, 0.0, rng.exponential(100.0, n_l))
    weight = np.where(rng.random(n_l) < 0.1, 0.0, rng.exponential(1.0, n_l))
    tier = (rng.random(n_l) < 0.2).astype(np.int8)
    budget = rng.exponential(150.0, n_b)
    optimiser = rng.random(n_b) < 0.2
    paid = allocate_payments(budget, due, borrower, weight, tier, rng.random(n_l), optimiser)
    assert paid.shape == due.shape
    assert (paid >= 0).all()
    assert (paid <= due + 1e-9).all()
    per_b = np.bincount(borrower, weights=paid, minlength=n_b)
    need = np.bincount(borrower, weights=due, minlength=n_b)
    # the budget is used up to what is due: min(budget, need)
    np.testing.assert_allclose(per_b, np.minimum(budget, need), rtol=1e-9, atol=1e-9)
    # a balance matcher's loans not paid in full get the same amount per unit of weight (within their tier)
    for b in np.flatnonzero(~optimiser):
        for t in (0, 1):
            open_ = (borrower == b) & (tier == t) & (due > 0) & (paid < due - 1e-9) & (weight > 0)
            if open_.sum() >= 2 and paid[open_].sum() > 0:
                ratio = paid[open_] / weight[open_]
                np.testing.assert_allclose(ratio, ratio[0], rtol=1e-9)
    # no recovery is paid while a live loan of the same borrower is short
    short_live = np.bincount(borrower, weights=(tier == 0) & (paid < due - 1e-9), minlength=n_b) > 0
    assert (paid[(tier == 1) & short_live[borrower]] == 0).all()


def test_policy_presets_are_returned_as_configured():
    assert policies.collection_conduct("soft", None) is COLLECTION_PRESETS["soft"]


# --------------------------------------------------------------------------- strategic default

N = 4001
WILLINGNESS = np.linspace(-6.0, 6.0, N)


def withholding_share(behaviour: BehaviourConfig = B, **changes) -> float:
    """Share of a population (willingness spread evenly) that withholds an affordable payment."""
    args = {
        "due": np.full(N, 1000.0),
        "usual_income": np.full(N, 2000.0),
        "willingness": WILLINGNESS,
        "is_reported": np.zeros(N, dtype=bool),
        "pressure": np.zeros(N),
        "lender_operating": np.ones(N, dtype=bool),
        "peer_strategic_rate": np.zeros(N),
        "unserviced": np.zeros(N, dtype=bool),
        "lender_distress": np.zeros(N),
    }
    for key, value in changes.items():
        args[key] = np.full(N, value, dtype=args[key].dtype)
    return float(strategic_default(**args, behaviour=behaviour).mean())


def test_strategic_default_baseline_is_interior():
    assert 0.05 < withholding_share() < 0.95


def test_bureau_reporting_lowers_strategic_default():
    assert withholding_share(is_reported=True) < withholding_share()


def test_collection_pressure_lowers_strategic_default():
    assert withholding_share(pressure=1.0) < withholding_share(pressure=0.3) < withholding_share()


def test_failed_unserviced_lender_raises_strategic_default():
    base = withholding_share()
    failed = withholding_share(lender_operating=False, unserviced=True, lender_distress=1.0)
    assert withholding_share(unserviced=True) > base
    assert failed > withholding_share(lender_operating=False) > base


def test_herding_follows_observed_strategic_default():
    base = withholding_share()
    assert withholding_share(peer_strategic_rate=0.05) > withholding_share(peer_strategic_rate=0.01) > base
    # the shift is at most what knowing a strategic defaulter for sure gives: herding willingness units
    per_unit = (N - 1) / 12.0 / N  # share of the population per willingness unit
    assert withholding_share(peer_strategic_rate=1.0) - base == pytest.approx(B.herding * per_unit, abs=2 / N)


def test_knowing_a_strategic_defaulter():
    k = policies.knows_strategic_defaulter(np.array([0.0, 0.1, 1.0]), 10.0)
    np.testing.assert_allclose(k, [0.0, 1 - 0.9**10, 1.0])


def test_lender_distress_raises_strategic_default():
    assert withholding_share(lender_distress=0.8) > withholding_share()


def test_larger_payment_relative_to_income_raises_strategic_default():
    assert withholding_share(due=1800.0) > withholding_share(due=200.0)


def test_strategic_default_switched_off_withholds_nothing():
    off = BehaviourConfig(strategic_default=False)
    assert withholding_share(off, lender_operating=False, unserviced=True, peer_strategic_rate=0.5) == 0.0


# --------------------------------------------------------------------------- pressure, harassment, priority


def test_collection_pressure_is_zero_without_contacts_and_increases_with_contacts():
    contacts = np.arange(0.0, 60.0)
    zeros = np.zeros_like(contacts, dtype=bool)
    p = collection_pressure(contacts, zeros, zeros, B)
    assert p[0] == 0.0
    assert (np.diff(p) > 0).all()
    assert p[-1] <= 1.0
    # third parties and night calls add pressure at any positive number of contacts
    ones = np.ones_like(zeros)
    assert (collection_pressure(contacts, ones, zeros, B)[1:] > p[1:]).all()
    assert (collection_pressure(contacts, zeros, ones, B)[1:] > p[1:]).all()
    # ...but not without contacts
    assert collection_pressure(np.zeros(1), np.ones(1, dtype=bool), np.ones(1, dtype=bool), B)[0] == 0.0


def test_harassment_probability_rises_with_bad_conduct_and_stays_a_probability():
    contacts = np.array([1.0, 6.0, 12.0, 45.0])
    f = np.zeros(4, dtype=bool)
    t = np.ones(4, dtype=bool)
    base = harassment_probability(contacts, f, f, B)
    assert base[0] == base[1] < base[2] < base[3]  # excess contacts above 6 a month
    assert (harassment_probability(contacts, t, f, B) > base).all()
    assert (harassment_probability(contacts, f, t, B) > base).all()
    extreme = BehaviourConfig(harassment_per_contact=1.0, harassment_third_party=1.0)
    assert (harassment_probability(contacts, t, t, extreme) <= 1.0).all()


def test_allocation_weights_tilt_balances_towards_pressure_and_reporting():
    lit, noise = np.ones(3), np.zeros(3)
    balances = np.array([100.0, 100.0, 100.0])
    w = allocation_weights(balances, np.array([0.0, 0.5, 0.0]), np.array([False, False, True]), lit, noise, 1.0, B)
    assert w[0] == 100.0 and (w[1:] > w[0]).all()
    # proportional to balances otherwise
    flat = np.zeros(2, dtype=bool)
    w2 = allocation_weights(np.array([100.0, 300.0]), np.zeros(2), flat, np.ones(2), np.zeros(2), 1.0, B)
    assert w2[1] == 3 * w2[0]
    # noise matters only for the less literate
    low = allocation_weights(np.ones(2), np.zeros(2), flat, np.array([1.0, 0.0]), np.ones(2), 0.5, B)
    assert low[0] == 1.0 and low[1] == pytest.approx(np.exp(0.5))

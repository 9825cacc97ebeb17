"""Decision rules in sim.policies: payment allocation, penalties, conduct, strategic default, pressure."""

from __future__ import annotations

import numpy as np
import pytest

from sim import policies
from sim.config import BehaviourConfig, CollectionConduct, PenaltyConfig, RegulatorRules
from sim.policies import (
    COLLECTION_PRESETS,
    allocate_payments,
    allocation_weights,
    collection_pressure,
    harassment_probability,
    penalty_accrual,
    practised_conduct,
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


# --------------------------------------------------------------------------- penalties


def accrue(rule: str, overdue, penalty=None, dpd=None, apr=None, rules=RULES, benchmark=0.0385, **cfg_kwargs):
    overdue = np.asarray(overdue, dtype=np.float64)
    penalty = np.zeros_like(overdue) if penalty is None else np.asarray(penalty, dtype=np.float64)
    dpd = np.full(overdue.shape, 30) if dpd is None else np.asarray(dpd)
    apr = np.full(overdue.shape, 0.24) if apr is None else np.asarray(apr, dtype=np.float64)
    cfg = PenaltyConfig(rule=rule, **cfg_kwargs)
    return penalty_accrual(cfg, overdue, penalty, dpd, apr, benchmark, rules)


def test_penalty_rule_none_accrues_nothing():
    np.testing.assert_array_equal(accrue("none", [100.0, 5000.0], penalty=[10.0, 0.0]), [0.0, 0.0])


def test_penalty_flat_is_overdue_times_daily_rate_times_30():
    acc = accrue("flat", [1000.0, 200.0], penalty=[500.0, 0.0], rate_daily=0.0005)
    np.testing.assert_allclose(acc, [1000.0 * 0.0005 * 30, 200.0 * 0.0005 * 30], rtol=1e-12)


def test_penalty_compounding_exceeds_flat_and_charges_penalty_on_penalty():
    flat = accrue("flat", [1000.0], rate_daily=0.001)
    comp0 = accrue("compounding", [1000.0], penalty=[0.0], rate_daily=0.001)
    comp = accrue("compounding", [1000.0], penalty=[300.0], rate_daily=0.001)
    assert comp0[0] > flat[0]
    np.testing.assert_allclose(comp0, 1000.0 * (1.001**30 - 1.0), rtol=1e-12)
    np.testing.assert_allclose(comp, 1300.0 * (1.001**30 - 1.0), rtol=1e-12)
    assert comp[0] > comp0[0]


def test_penalty_compounding_is_flat_when_the_regulator_bans_compounding():
    no_comp = RULES.model_copy(update={"allow_compounding": False})
    comp = accrue("compounding", [1000.0, 50.0], penalty=[300.0, 20.0], rate_daily=0.001, rules=no_comp)
    flat = accrue("flat", [1000.0, 50.0], penalty=[300.0, 20.0], rate_daily=0.001, rules=no_comp)
    np.testing.assert_allclose(comp, flat, rtol=1e-12)


def test_penalty_tiered_picks_tier_by_days_past_due():
    tiers = [
        {"min_dpd": 61, "rate_daily": 0.0008},
        {"min_dpd": 0, "rate_daily": 0.0003},
        {"min_dpd": 31, "rate_daily": 0.0005},
    ]  # deliberately unsorted
    acc = accrue("tiered", [1000.0] * 4, dpd=[30, 60, 90, 150], tiers=tiers)
    np.testing.assert_allclose(acc, 1000.0 * 30 * np.array([0.0003, 0.0005, 0.0008, 0.0008]), rtol=1e-12)


def test_penalty_tiered_applies_amount_factor():
    acc = accrue(
        "tiered",
        [500.0, 5000.0],
        dpd=[30, 30],
        tiers=[{"min_dpd": 0, "rate_daily": 0.0004}],
        amount_tiers=[{"min_amount": 0.0, "factor": 1.0}, {"min_amount": 1000.0, "factor": 0.5}],
    )
    np.testing.assert_allclose(acc, [500.0 * 0.0004 * 30, 5000.0 * 0.0002 * 30], rtol=1e-12)


def test_penalty_benchmark_multiple_of_contract_apr():
    acc = accrue("benchmark_multiple", [1000.0, 1000.0], apr=[0.24, 0.12], multiple=1.5, basis="contract")
    np.testing.assert_allclose(acc, 1.5 * np.array([0.24, 0.12]) / 365.0 * 30 * 1000.0, rtol=1e-12)


def test_penalty_benchmark_multiple_of_benchmark_rate():
    acc = accrue(
        "benchmark_multiple", [1000.0, 1000.0], apr=[0.24, 0.12], multiple=4.0, basis="benchmark", benchmark=0.0385
    )
    np.testing.assert_allclose(acc, 4.0 * 0.0385 / 365.0 * 30 * 1000.0, rtol=1e-12)


@pytest.mark.parametrize(
    "rule, kwargs",
    [
        ("flat", {"rate_daily": 0.002}),
        ("compounding", {"rate_daily": 0.002}),
        ("tiered", {"tiers": [{"min_dpd": 0, "rate_daily": 0.002}]}),
        ("benchmark_multiple", {"multiple": 10.0}),
    ],
)
def test_regulator_penalty_cap_clips_every_rule(rule, kwargs):
    capped = RULES.model_copy(update={"penalty_cap_annual": 0.1, "allow_compounding": False})
    acc = accrue(rule, [1000.0], penalty=[0.0], rules=capped, **kwargs)
    np.testing.assert_allclose(acc, 1000.0 * 0.1 / 365.0 * 30, rtol=1e-12)
    uncapped = accrue(rule, [1000.0], penalty=[0.0], **kwargs)
    assert uncapped[0] > acc[0]


def test_regulator_penalty_cap_clips_compounding_rate_too():
    capped = RULES.model_copy(update={"penalty_cap_annual": 0.1})
    acc = accrue("compounding", [1000.0], penalty=[200.0], rate_daily=0.002, rules=capped)
    np.testing.assert_allclose(acc, 1200.0 * ((1 + 0.1 / 365.0) ** 30 - 1.0), rtol=1e-12)


@pytest.mark.parametrize(
    ("update", "cap"),
    [
        ({"overdue_charge_cap_annual": 0.24}, 0.24),  # the 2015 private-lending line, all overdue charges together
        ({"overdue_charge_cap_lpr_multiple": 4.0}, 4 * 0.0385),  # 4 x LPR since Aug 2020
        ({"all_in_cap_annual": 0.36, "penalty_cap_annual": 0.5}, 0.36),  # the 2017 cash-loan notice
        ({"overdue_charge_cap_annual": 0.24, "overdue_charge_cap_lpr_multiple": 4.0}, 4 * 0.0385),  # the lower
    ],
)
def test_the_combined_and_all_in_caps_clip_the_overdue_charge(update, cap):
    rules = RULES.model_copy(update=update)
    assert policies.overdue_charge_cap(rules, 0.0385) == pytest.approx(cap)
    acc = accrue("benchmark_multiple", [1000.0], rules=rules, multiple=3.0)  # 72% a year asked
    np.testing.assert_allclose(acc, 1000.0 * cap / 365.0 * 30, rtol=1e-12)
    assert policies.overdue_charge_cap(RULES, 0.0385) == np.inf  # none set: no combined limit


def test_a_fee_rule_stacks_on_the_running_contract_interest_only_up_to_the_combined_cap():
    # a flat fee of 0.1%/day (36.5% a year) on a 18% loan under a 24% combined cap: the contract rate keeps
    # running on the past-due amount, so 6 points are left for the fee
    rules = RULES.model_copy(update={"overdue_charge_cap_annual": 0.24})
    acc = accrue("flat", [1000.0], apr=[0.18], rules=rules, rate_daily=0.001)
    np.testing.assert_allclose(acc, 1000.0 * 0.06 / 365.0 * 30, rtol=1e-12)
    assert accrue("flat", [1000.0], apr=[0.30], rules=rules, rate_daily=0.001)[0] == 0.0  # the APR fills the cap
    flat, multiple = PenaltyConfig(rule="flat"), PenaltyConfig(rule="benchmark_multiple")
    rate = policies.past_due_interest_rate
    np.testing.assert_allclose(rate(policies.replaces_interest(flat), np.array([0.3]), 0.24), [0.24])
    np.testing.assert_allclose(rate(policies.replaces_interest(multiple), np.array([0.3]), 0.24), [0.0])


def test_the_all_in_cap_also_caps_the_apr():
    from sim.regulator import Regulator

    regulator = Regulator.__new__(Regulator)
    regulator.rules = RULES.model_copy(update={"apr_cap_annual": 0.5, "all_in_cap_annual": 0.36})
    assert regulator.apr_cap(0.0385) == pytest.approx(0.36)


# --------------------------------------------------------------------------- conduct

STRICT_RULES = RULES.model_copy(update={"max_contacts_month": 6.0, "ban_third_party": True, "ban_night_contact": True})


def test_complying_platform_clips_contacts_and_drops_banned_practices():
    c = practised_conduct(COLLECTION_PRESETS["aggressive"], STRICT_RULES, complies=True)
    np.testing.assert_array_equal(c.contacts_by_bucket, [6.0, 6.0, 6.0, 6.0])
    assert not c.third_party and not c.night_contact
    assert c.breaches == 0


def test_non_complying_platform_keeps_its_conduct_and_counts_breaches():
    intended = COLLECTION_PRESETS["aggressive"]
    c = practised_conduct(intended, STRICT_RULES, complies=False)
    np.testing.assert_array_equal(c.contacts_by_bucket, intended.contacts_by_bucket)
    assert c.third_party and c.night_contact
    assert c.breaches == 3  # contact cap, third parties, night contact


def test_non_complying_platform_breaches_only_rules_in_force():
    only_cap = RULES.model_copy(update={"max_contacts_month": 20.0})
    c = practised_conduct(COLLECTION_PRESETS["aggressive"], only_cap, complies=False)
    assert c.breaches == 1
    assert practised_conduct(COLLECTION_PRESETS["aggressive"], RULES, complies=False).breaches == 0
    assert practised_conduct(COLLECTION_PRESETS["regulated"], STRICT_RULES, complies=False).breaches == 0


def test_contacts_under_the_cap_are_unchanged():
    intended = CollectionConduct(contacts_by_bucket=[1.0, 2.0, 9.0, 3.0])
    c = practised_conduct(intended, STRICT_RULES, complies=True)
    np.testing.assert_array_equal(c.contacts_by_bucket, [1.0, 2.0, 6.0, 3.0])


def test_regulated_preset_obeys_the_conduct_rules():
    reg = COLLECTION_PRESETS["regulated"]
    assert max(reg.contacts_by_bucket) <= 6 and not reg.third_party and not reg.night_contact


def test_custom_regime_uses_custom_conduct():
    custom = CollectionConduct(contacts_by_bucket=[0.0, 1.0, 2.0, 3.0])
    assert policies.collection_conduct("custom", custom) is custom
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


# --------------------------------------------------------------------------- boundaries and what conduct keeps


def test_a_penalty_tier_applies_from_its_first_day_past_due_inclusive():
    tiers = [{"min_dpd": 0, "rate_daily": 0.0003}, {"min_dpd": 60, "rate_daily": 0.0008}]
    acc = accrue("tiered", [1000.0] * 3, dpd=[30, 60, 90], tiers=tiers)
    np.testing.assert_allclose(acc, 1000.0 * 30 * np.array([0.0003, 0.0008, 0.0008]), rtol=1e-12)


def test_an_amount_tier_applies_from_its_minimum_amount_inclusive():
    acc = accrue(
        "tiered",
        [999.0, 1000.0],
        tiers=[{"min_dpd": 0, "rate_daily": 0.0004}],
        amount_tiers=[{"min_amount": 1000.0, "factor": 0.5}],
    )
    np.testing.assert_allclose(acc, [999.0 * 0.0004 * 30, 1000.0 * 0.0002 * 30], rtol=1e-12)


def test_harassment_excess_is_the_share_of_contacts_above_the_threshold():
    only_excess = BehaviourConfig(
        harassment_per_contact=0.0,
        harassment_third_party=0.0,
        harassment_night=0.0,
        harassment_excess=0.4,
        harassment_contact_threshold=0.0,
    )
    f = np.zeros(3, dtype=bool)
    # with no threshold every contact is excessive, one contact included
    np.testing.assert_allclose(harassment_probability(np.array([0.0, 1.0, 12.0]), f, f, only_excess), [0.0, 0.4, 0.4])
    at_six = only_excess.model_copy(update={"harassment_contact_threshold": 6.0})
    np.testing.assert_allclose(harassment_probability(np.array([3.0, 6.0, 12.0]), f, f, at_six), [0.0, 0.0, 0.2])


def test_practised_conduct_keeps_targeting_and_the_cost_of_a_contact():
    for complies in (True, False):
        c = practised_conduct(COLLECTION_PRESETS["targeted"], STRICT_RULES, complies)
        assert c.targeted is True and c.cost_per_contact == COLLECTION_PRESETS["targeted"].cost_per_contact
        assert practised_conduct(COLLECTION_PRESETS["standard"], STRICT_RULES, complies).targeted is False

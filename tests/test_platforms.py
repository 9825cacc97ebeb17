"""Platforms (sim/platforms.py) one rule at a time: budget, cut-off dynamics, funding, accounts, reputation,
failure, and the month's terms of phase 4.

Each test sets a platform's state by hand on a quiet market (tests/phases.py) and checks the rule
against a hand-derived value; none depends on a random draw.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.config import PlatformPolicy
from sim.platforms import add_to_flows, resolve_platform_policies
from tests.phases import controlled_market, open_month


def platform(**changes):
    model = controlled_market(**changes)
    p = model.platforms[0]
    p.capital, p.funding, p.initial_funding, p.book = 1000.0, 4000.0, 4000.0, 3000.0
    return model, p


# --------------------------------------------------------------------------- budget and cut-off


def test_a_platform_lends_its_funds_not_tied_up_in_loans_while_it_has_minimum_capital():
    model, p = platform()
    rules = model.rules
    assert p.lending_budget(rules) == pytest.approx(1000.0 + 4000.0 - 3000.0)
    p.book = 6000.0
    assert p.lending_budget(rules) == 0.0  # more lent than it has: nothing, not a negative budget
    p.book, p.capital = 3000.0, rules.min_capital_ratio * 3000.0
    assert p.lending_budget(rules) == pytest.approx(p.capital + 1000.0)  # exactly at the minimum: still lends
    p.capital *= 0.99
    assert p.lending_budget(rules) == 0.0
    p.capital = 1000.0
    p.exit("failed", 1)
    assert p.lending_budget(rules) == 0.0


def underwriting(**uw) -> PlatformPolicy:
    base = {"cutoff": 0.0, "cutoff_step": 0.1, "min_cutoff": -0.25, "max_cutoff": 0.25, **uw}
    return PlatformPolicy.model_validate({"underwriting": base})


def test_early_warning_raises_the_cut_off_by_a_step_up_to_its_ceiling_while_overdue_is_above_the_line():
    model, p = platform()
    policy = underwriting(early_warning=True, early_warning_line=0.1)
    p.cutoff, p.overdue_rate = 0.0, 0.1
    p.set_terms(policy, model.rules, False)
    assert p.cutoff == 0.0  # at the line: no change (no competition either: drifts to 0, where it is)
    p.overdue_rate = 0.2
    cutoffs = []
    for _ in range(4):
        p.set_terms(policy, model.rules, False)
        cutoffs.append(p.cutoff)
    np.testing.assert_allclose(cutoffs, [0.1, 0.2, 0.25, 0.25])


def test_competition_lowers_the_cut_off_by_a_step_to_its_floor_while_growth_falls_short():
    model, p = platform()
    policy = underwriting(competition=True, growth_target_monthly=0.02)
    p.cutoff, p.prev_originations = 0.0, 100.0
    p.last_originations = 102.0  # growth at the target: no change
    p.set_terms(policy, model.rules, False)
    assert p.cutoff == 0.0
    p.last_originations = 101.0
    cutoffs = []
    for _ in range(4):
        p.set_terms(policy, model.rules, False)
        cutoffs.append(p.cutoff)
    np.testing.assert_allclose(cutoffs, [-0.1, -0.2, -0.25, -0.25])


def test_without_competition_the_cut_off_drifts_back_to_the_policys_by_at_most_a_step():
    model, p = platform()
    policy = underwriting()
    for start, expected in ((0.25, 0.15), (0.05, 0.0), (-0.17, -0.07)):
        p.cutoff = start
        p.set_terms(policy, model.rules, False)
        assert p.cutoff == pytest.approx(expected), start


def test_a_failed_platforms_cut_off_stays_and_a_mandate_makes_it_report():
    model, p = platform()
    p.exit("failed", 1)
    p.cutoff = 0.25
    p.set_terms(underwriting(), model.rules, True)
    assert p.cutoff == 0.25 and p.is_reporting and p.conduct is not None


# --------------------------------------------------------------------------- funding, accounts, reputation


def test_funding_flows_in_with_reputation_and_out_with_withdrawals_up_to_a_multiple_of_the_initial():
    model, p = platform()
    cfg = p.cfg
    p.capital = 1e6  # no distress
    p.reputation = 1.0
    p.flow_funding(0.25, 0.0385, 0.0)
    g = cfg.funding_sensitivity * (1.0 - cfg.funding_reputation_neutral)
    assert p.funding == pytest.approx(min(4000.0 * (1 + g) * 0.75, cfg.max_funding_multiple * 4000.0))
    p.funding = 4000.0 * cfg.max_funding_multiple
    p.flow_funding(0.0, 0.0385, 0.0)
    assert p.funding == pytest.approx(4000.0 * cfg.max_funding_multiple)
    p.exit("failed", 1)
    p.funding = 10.0
    p.flow_funding(0.5, 0.0385, 0.0)
    assert p.funding == 10.0


def test_investors_run_on_delinquency_above_their_tolerance_and_on_peers_failures():
    model, p = platform()
    cfg = p.cfg
    p.capital, p.reputation = 1e6, cfg.funding_reputation_neutral  # no distress, no pull from reputation
    p.overdue_balance_rate = cfg.run_overdue_tolerance
    p.flow_funding(0.0, 0.0385, 0.0)
    assert p.funding == pytest.approx(4000.0)  # at the tolerance nobody runs
    p.overdue_balance_rate = cfg.run_overdue_tolerance + 0.1
    p.flow_funding(0.0, 0.0385, 0.25)  # a quarter of the platforms failed last month
    run = cfg.run_overdue_sensitivity * 0.1 + cfg.run_contagion * 0.25
    assert run > 0 and p.funding == pytest.approx(4000.0 * (1 - run))
    assert p.funding_rate == pytest.approx(0.0385 + cfg.funding_spread_annual)  # and the price follows the benchmark


def test_distress_drives_funding_out():
    model, calm = platform()
    distressed = model.platforms[1]
    for q, capital in ((calm, 1e6), (distressed, 0.0)):
        q.capital, q.funding, q.initial_funding, q.book, q.reputation = capital, 4000.0, 4000.0, 3000.0, 1.0
        q.flow_funding(0.0, 0.0385, 0.0)
    cfg = calm.cfg
    g = cfg.funding_sensitivity * ((1.0 - cfg.funding_reputation_neutral) - cfg.funding_distress_weight * 1.0)
    assert distressed.funding == pytest.approx(4000.0 * max(1 + g, 0.0))
    assert distressed.funding < calm.funding


def test_profit_is_income_less_losses_and_costs_and_goes_into_capital():
    model, p = platform()
    cfg, f = p.cfg, p.flows
    f.interest_income, f.penalty_income, f.recoveries = 300.0, 50.0, 20.0
    f.charge_offs, f.writedowns, f.collection_cost = 100.0, 10.0, 30.0
    p.funding = 1500.0  # investors fund min(funding, book - capital) = 1,500 of the 3,000 lent
    p.flow_funding(0.0, 0.05, 0.0)  # investors ask the benchmark plus the spread
    p.funding = 1500.0
    p.allowance = 40.0  # expected loss on the book, charged to capital as it arises
    profit = p.close_accounts()
    funding_cost = 1500.0 * (0.05 + cfg.funding_spread_annual) / 12
    operating = 3000.0 * cfg.operating_cost_annual / 12
    assert f.funding_cost == pytest.approx(funding_cost) and f.operating_cost == pytest.approx(operating)
    assert f.provisions == 40.0
    assert profit == pytest.approx(300 + 50 + 20 - 100 - 10 - 30 - funding_cost - operating - 40)
    assert p.capital == pytest.approx(1000.0 + profit) and p.profit == profit
    p.start_month()
    p.allowance = 30.0  # the book got better: the allowance released is a gain
    p.close_accounts()
    assert p.flows.provisions == -10.0


def test_loans_within_capital_cost_no_funding_and_a_failed_platform_has_no_running_costs():
    model, p = platform()
    p.capital = 5000.0
    p.close_accounts()
    assert p.flows.funding_cost == 0.0 and p.flows.operating_cost > 0
    p.exit("failed", 1)
    p.flows.funding_cost = p.flows.operating_cost = 0.0
    p.flows.recoveries = 40.0
    assert p.close_accounts() == pytest.approx(40.0)


def test_reputation_falls_with_complaints_per_thousand_loans_and_recovers_towards_one():
    model, p = platform()
    cfg = p.cfg
    p.reputation, p.live_loans = 0.8, 5000
    p.flows.complaints = 10.0  # 2 per 1,000 live loans
    p.update_reputation()
    assert p.reputation == pytest.approx(0.8 + cfg.reputation_recovery * 0.2 - cfg.reputation_per_complaint * 2 / 100)
    p.reputation, p.live_loans = 0.8, 10  # a small book counts as a thousand loans
    p.update_reputation()
    assert p.reputation == pytest.approx(0.8 + cfg.reputation_recovery * 0.2 - cfg.reputation_per_complaint * 10 / 100)
    p.flows.complaints = 1e6
    p.update_reputation()
    assert p.reputation == 0.0
    p.flows.complaints, p.reputation = 0.0, 1.0
    p.update_reputation()
    assert p.reputation == 1.0


def test_a_platform_fails_with_negative_capital_or_funding_below_its_floor_and_only_once():
    model, p = platform()
    assert not p.should_fail()
    p.capital = 0.0
    assert not p.should_fail()  # exactly nothing left is not yet failure
    p.capital = -1.0
    assert p.should_fail()
    p.capital, p.funding = 1000.0, p.cfg.min_funding_ratio * 4000.0
    assert not p.should_fail()
    p.funding *= 0.99
    assert p.should_fail()
    p.exit("failed", 1)
    assert not p.should_fail()


def test_a_fine_is_a_cost_of_the_month_paid_out_of_capital():
    model, p = platform()
    p.profit = 100.0
    p.pay_fine(30.0)
    assert (p.flows.fines, p.profit, p.capital) == (30.0, 70.0, 970.0)


def test_per_loan_amounts_and_counts_go_to_each_loans_platform():
    model = controlled_market()
    plats = model.platforms
    add_to_flows(plats, np.array([0, 2, 2]), charge_offs=np.array([1.0, 2.0, 3.0]), new_defaults=None)
    assert [q.flows.charge_offs for q in plats[:3]] == [1.0, 0.0, 5.0]
    assert [q.flows.new_defaults for q in plats[:3]] == [1.0, 0.0, 2.0]


# --------------------------------------------------------------------------- phase 4


def test_bureau_members_score_with_less_noise_and_each_platform_flags_records_with_its_own_penalty():
    # every platform marks down a record it knows of (its own book; a member's also the bureau's), by its own
    # penalty; its scoring error keeps its own persistent share
    own = {"underwriting": {"bureau_flag_penalty": 0.7, "scoring_noise_persistence": 0.5}}
    model = controlled_market(
        platforms={
            "overrides": [
                {"platforms": [0], "set": {"reports_to_bureau": True}},
                {"platforms": [2], "set": own},
            ]
        }
    )
    terms, _ = open_month(model)
    uw = model.config.platforms.policy.underwriting
    assert terms.scoring_noise_sd[0] == pytest.approx(uw.scoring_noise_sd * (1 - uw.bureau_noise_reduction))
    assert terms.scoring_noise_sd[1] == pytest.approx(uw.scoring_noise_sd)
    assert uw.bureau_flag_penalty != 0.7 and uw.scoring_noise_persistence != 0.5
    assert terms.bureau_flag_penalty[:3].tolist() == [uw.bureau_flag_penalty, uw.bureau_flag_penalty, 0.7]
    persistence = uw.scoring_noise_persistence
    assert terms.scoring_noise_persistence[:3].tolist() == [persistence, persistence, 0.5]
    assert terms.is_reporting[0] and not terms.is_reporting[1] and not terms.is_reporting[2]


def test_weaker_collection_and_system_early_warning_raise_the_cut_off_in_force():
    model = controlled_market(
        platforms={"overrides": [{"platforms": [1], "set": {"collection": {"regime": "soft"}}}]},
        regulator={"early_warning": {"enabled": True, "overdue_line": 0.0, "cutoff_raise": 0.5}},
    )
    model.last_overdue_rate = 0.1
    terms, _ = open_month(model)
    cutoff = model.platforms[0].cutoff
    assert terms.cutoff[0] == pytest.approx(cutoff + 0.5)  # standard collection: no shortfall
    assert terms.cutoff[1] > terms.cutoff[0] + 0.01


def test_standards_tighten_with_own_losses_above_the_priced_level_the_outlook_and_distress_with_inertia():
    # the credit cycle (Platform.review_standards): the stance called for is loss_weight x the excess of M1+
    # over the priced level beyond the tolerance, plus outlook_weight x the unemployment gap, plus
    # capital_weight x distress, within [-max_easing, 1]; the platform moves speed of the way there each month
    model, p = platform()
    cycle = {
        "stance_loss_weight": 0.5,
        "stance_outlook_weight": 6.0,
        "stance_capital_weight": 0.5,
        "stance_reference_overdue": 0.08,
        "stance_tolerance": 0.1,
        "stance_speed": 0.5,
        "stance_max_easing": 0.1,
    }
    p.policy = underwriting(**cycle)
    p.live_loans = 100
    p.overdue_balance_rate = 0.088  # 10% above the priced level: within the tolerance
    p.review_standards(0.0)
    assert p.stance == 0.0
    p.overdue_balance_rate = 0.12  # 50% above: 0.5 x (0.5 - 0.1) = 0.2 called for, half of it this month
    stances = []
    for _ in range(3):
        p.review_standards(0.0)
        stances.append(p.stance)
    np.testing.assert_allclose(stances, [0.1, 0.15, 0.175])
    p.stance = 0.0
    p.review_standards(0.05)  # and a 5-point rise in unemployment: 0.2 + 6 x 0.05 = 0.5 called for
    assert p.stance == pytest.approx(0.25)
    p.stance, p.capital = 0.0, 0.0  # no capital left: distress 1 adds 0.5, and full tightening (1) binds
    p.review_standards(0.05)
    assert p.stance == pytest.approx(0.5)
    p.stance, p.capital, p.overdue_balance_rate = 0.0, 1000.0, 0.02  # losses far below the priced level: eases,
    for _ in range(20):  # but by at most stance_max_easing
        p.review_standards(0.0)
    assert p.stance == pytest.approx(-0.1)
    p.exit("failed", 1)
    p.review_standards(0.05)  # a failed platform lends no more: its standards stay
    assert p.stance == pytest.approx(-0.1)


def test_tighter_standards_raise_the_cut_off_cut_the_dti_limit_and_widen_the_risk_premium():
    hold = {"stance_speed": 0.0}  # the stance stays as set by hand
    model = controlled_market(
        platforms={
            "policy": {
                "underwriting": {"stance_cutoff": 0.4, "stance_dti_share": 0.8, **hold},
                "pricing": {"stance_premium_share": 0.5},
            }
        }
    )
    model.platforms[1].stance = 0.25
    terms, _ = open_month(model)
    uw, pricing = model.config.platforms.policy.underwriting, model.config.platforms.policy.pricing
    assert terms.cutoff[1] == pytest.approx(terms.cutoff[0] + 0.1)  # a quarter of the way to full tightening
    assert terms.dti_limit[0] == pytest.approx(uw.dti_limit)
    assert terms.dti_limit[1] == pytest.approx(uw.dti_limit * 0.8)  # a quarter of 0.8: a fifth off
    assert terms.apr_slope[0] == pytest.approx(pricing.apr_risk_slope)
    assert terms.apr_slope[1] == pytest.approx(pricing.apr_risk_slope * 1.125)


def test_a_platform_without_budget_gets_no_applicants_and_the_weakest_platforms_close_in_a_shock():
    model = controlled_market(economy={"shocks": [{"start": 1, "duration": 1, "platform_closures": 2}]})
    plats = model.platforms
    # (capital, book): the weakest by capital ratio are 3 (0.01) and 1 (0.05), although 1 has much capital
    for q, (capital, book) in zip(plats, [(100, 100), (50, 1000), (20, 10), (1, 100)] + [(60, 100)] * 4):
        q.capital, q.book, q.funding, q.initial_funding = float(capital), float(book), 1000.0, 1000.0
    plats[4].funding = 0.0  # lends nothing: 60 of capital and no funding for a book of 100
    terms, _ = open_month(model)
    assert [q.is_active for q in plats[:4]] == [True, False, True, False]
    assert model.records.flows.failures == 2
    assert terms.choice_weight[1] == 0.0 and terms.choice_weight[3] == 0.0 and terms.choice_weight[4] == 0.0
    assert terms.choice_weight[0] == pytest.approx(plats[0].share * plats[0].reputation)
    assert not terms.is_active[1] and terms.is_serviced[1]  # a servicer takes the book over by default


def test_overrides_apply_from_the_start_and_the_schedule_from_its_month_on_top_of_them():
    model = controlled_market(
        months=6,
        platforms={
            "count": 2,
            "overrides": [{"platforms": [1], "set": {"reports_to_bureau": True}}],
            "schedule": [
                {"month": 3, "set": {"penalty": {"rule": "none"}}},
                {"month": 5, "set": {"collection": {"regime": "soft"}}},
            ],
        },
    )
    timelines = resolve_platform_policies(model.config.platforms)
    assert [m for m, _ in timelines[0]][1:] == [3, 5]
    (_, base0), (_, m3), (_, m5) = timelines[0]
    (_, base1), (_, m3_1), _ = timelines[1]
    assert not base0.reports_to_bureau and base1.reports_to_bureau
    assert m3.penalty.rule == "none" and m3.collection.regime == "standard"
    assert m5.penalty.rule == "none" and m5.collection.regime == "soft"
    assert m3_1.penalty.rule == "none" and m3_1.reports_to_bureau


def test_applicants_choose_platforms_in_proportion_to_share_times_reputation():
    # reputation is 1 until complaints arrive, so a rule dividing by it (or ignoring it) passed every other test
    model = controlled_market(platforms={"count": 3})
    for p, share, reputation in zip(model.platforms, (0.5, 0.3, 0.2), (1.0, 0.5, 0.25)):
        p.share, p.reputation = share, reputation
        p.capital, p.funding, p.book = 1e6, 1e6, 0.0  # each has a budget to lend
    terms, _ = open_month(model)
    np.testing.assert_allclose(terms.choice_weight, [0.5, 0.15, 0.05])


def test_the_base_policy_is_in_force_from_the_first_month_of_the_longest_burn_in():
    # months before the first scheduled change use the base policy, however long the burn-in (up to 600 months)
    model = controlled_market(burn_in=600, platforms={"schedule": [{"month": 3, "set": {"penalty": {"rule": "none"}}}]})
    _, now = open_month(model)
    assert now.month == -599
    assert model.platforms[0].policy == model.config.platforms.policy

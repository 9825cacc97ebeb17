"""The regulator (sim/regulator.py) one rule at a time: rules in force, early warning, reporting mandates,
inspections, fines and revocations, education campaigns.

Inspections are certain (probability one) or impossible (zero) here, so no outcome depends on a draw.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.config import CollectionConfig
from sim.policies import COLLECTION_PRESETS, practised_conduct
from sim.regulator import apply_regulation, supervise_platforms
from tests.phases import controlled_market


def market(**regulator):
    model = controlled_market(months=6, regulator=regulator)
    for p in model.platforms:
        p.capital, p.live_loans = 1e6, 2000
        p.flows.interest_income, p.flows.penalty_income = 8000.0, 2000.0  # revenue of 10,000 a month
    return model


def fine_per_violation(model) -> float:
    """A violation's fine: ``fine_revenue_share`` of the annual revenue (12 x the month's 10,000)."""
    return model.config.regulator.fine_revenue_share * 12 * 10_000.0


def test_scheduled_rules_apply_from_their_month_and_early_warning_from_above_its_line():
    model = market(
        early_warning={"enabled": True, "overdue_line": 0.1},
        schedule=[{"month": 3, "set": {"apr_cap_annual": 0.24}}, {"month": 5, "set": {"ban_night_contact": True}}],
    )
    reg = model.regulator
    assert reg.apply_rules(2, 0.1).apr_cap_annual == model.config.regulator.apr_cap_annual
    assert not reg.is_tightening and reg.cutoff_tightening == 0.0  # at the line, not above
    rules = reg.apply_rules(3, 0.2)
    assert rules.apr_cap_annual == 0.24 and not rules.ban_night_contact
    assert reg.is_tightening and reg.cutoff_tightening == model.config.regulator.early_warning.cutoff_raise
    rules = reg.apply_rules(6, 0.0)
    assert rules.apr_cap_annual == 0.24 and rules.ban_night_contact and not reg.is_tightening


def test_a_reporting_mandate_covers_the_largest_platforms_by_its_share():
    model = market(bureau_mandate_share=0.3)
    n = len(model.platforms)
    mandated = model.regulator.mandated_reporters(n)
    k = round(0.3 * n)
    assert mandated[:k].all() and not mandated[k:].any()


def breaching(model, index: int = 0) -> None:
    """Platform ``index`` practises aggressive conduct although night contact is banned: one breach."""
    p = model.platforms[index]
    p.conduct = practised_conduct(COLLECTION_PRESETS["aggressive"], model.regulator.rules, complies=False)


def test_an_inspection_fines_each_breach_counts_a_violation_and_revokes_after_enough_of_them():
    model = market(inspection_base=1.0, ban_night_contact=True, revoke_after_violations=2, incident_tolerance=1e6)
    reg, p = model.regulator, model.platforms[0]
    breaching(model)
    assert p.conduct.breaches == 1  # night contact (third parties are not banned, contacts not capped)
    fine = fine_per_violation(model) * p.conduct.breaches
    reg.supervise(model.platforms, model.draws.at(1), 1)
    assert p.violations == 1 and p.flows.fines == pytest.approx(fine) and p.capital == pytest.approx(1e6 - fine)
    assert reg.fines_month == pytest.approx(fine) and reg.inspections_month == len(model.platforms)
    assert reg.revocations_month == 0 and p.is_active
    reg.supervise(model.platforms, model.draws.at(2), 2)
    assert p.violations == 2 and p.status == "revoked" and p.failed_month == 2 and reg.revocations_month == 1
    assert all(q.violations == 0 for q in model.platforms[1:])
    reg.supervise(model.platforms, model.draws.at(3), 3)
    assert p.violations == 2 and reg.inspections_month == len(model.platforms) - 1  # revoked: not inspected


def test_harassment_beyond_the_tolerance_is_a_violation_only_where_conduct_rules_are_in_force():
    for rules_in_force in (False, True):
        model = market(inspection_base=1.0, incident_tolerance=1.0, ban_third_party=rules_in_force)
        p = model.platforms[0]
        p.conduct = practised_conduct(COLLECTION_PRESETS["standard"], model.regulator.rules, complies=True)
        p.live_loans = model.platforms[1].live_loans = 1000
        p.flows.incidents = 1.5  # per 1,000 live loans, above a tolerance of 1
        model.platforms[1].flows.incidents = 1.0  # exactly at the tolerance
        model.regulator.supervise(model.platforms, model.draws.at(1), 1)
        fine = fine_per_violation(model)  # one violation, however many incidents
        assert p.flows.fines == (pytest.approx(fine) if rules_in_force else 0.0), rules_in_force
        assert p.violations == int(rules_in_force) and model.platforms[1].violations == 0


def test_complaints_make_inspections_more_likely_and_none_happen_at_zero_probability():
    model = market(inspection_base=0.0, inspection_per_complaint=0.0, ban_night_contact=True)
    breaching(model)
    model.regulator.supervise(model.platforms, model.draws.at(1), 1)
    assert model.regulator.inspections_month == 0 and model.platforms[0].violations == 0
    model = market(inspection_base=0.0, inspection_per_complaint=0.5, ban_night_contact=True)
    breaching(model)
    model.platforms[0].flows.complaints = 4.0  # 2 per 1,000 loans: probability min(0 + 0.5 x 2, 1) = 1
    model.regulator.supervise(model.platforms, model.draws.at(1), 1)
    assert model.regulator.inspections_month == 1 and model.platforms[0].violations == 1


def test_a_platform_fined_into_negative_capital_fails_in_the_same_month():
    model = market(inspection_base=1.0, ban_night_contact=True, fine_revenue_share=1.0)  # fine 120,000
    breaching(model)
    model.platforms[0].capital = 0.1e6
    supervise_platforms(model.regulator, model.platforms, model.draws.at(4), 4, model.records.flows)
    p = model.platforms[0]
    assert not p.is_active and p.status == "failed" and p.failed_month == 4
    assert model.records.flows.failures == 1


def test_an_education_campaign_raises_the_literacy_of_those_it_reaches_and_costs_per_person():
    model = market(education_reach_monthly=1.0, education_gain=0.5, education_cost_per_person=5.0)
    bs = model.borrower_state
    bs.literacy[:] = np.linspace(0.0, 1.0, bs.n)
    before = bs.literacy.copy()
    apply_regulation(model.regulator, bs, 1, 0.0, model.draws.at(1))
    np.testing.assert_allclose(bs.literacy, before + 0.5 * (1.0 - before))
    assert model.regulator.education_cost == pytest.approx(5.0 * bs.n)


def test_without_a_campaign_literacy_stays_and_nothing_is_spent():
    model = market()
    bs = model.borrower_state
    before = bs.literacy.copy()
    apply_regulation(model.regulator, bs, 1, 0.0, model.draws.at(1))
    np.testing.assert_array_equal(bs.literacy, before)
    assert model.regulator.education_cost == 0.0


def test_each_platform_is_inspected_with_the_base_probability_plus_a_share_per_complaint_per_thousand_loans():
    # every platform at 1 complaint per 1,000 live loans, however small its book (a rate, as at any population
    # size): 0.1 + 0.15 x 1 = 0.25.
    # Each breaches a rule, so each inspection is a violation; over 2,000 months the share inspected is within
    # 0.045 of 0.25 (4.6 standard errors) whatever the draws.
    model = market(
        inspection_base=0.1,
        inspection_per_complaint=0.15,
        ban_night_contact=True,
        fine_revenue_share=0.0,
        revoke_after_violations=1000,  # about 500 are expected
    )
    for k, (p, (live, complaints)) in enumerate(
        zip(model.platforms, [(1000, 1), (500, 0.5), (4000, 4), (2000, 2)] * 2)
    ):
        p.live_loans, p.flows.complaints = live, float(complaints)
        breaching(model, k)
    months = 2000
    for month in range(months):
        model.regulator.supervise(model.platforms, model.draws.at(month), month)
    shares = np.array([p.violations for p in model.platforms]) / months
    np.testing.assert_allclose(shares, 0.25, atol=0.045)


def test_a_month_counts_every_fine_and_revocation_and_a_platform_that_escapes_inspection_shields_no_other():
    model = market(inspection_base=0.0, inspection_per_complaint=1.0, ban_night_contact=True, revoke_after_violations=1)
    for k in (0, 1, 2):
        breaching(model, k)
    model.platforms[1].flows.complaints = model.platforms[2].flows.complaints = 4.0  # certain inspections
    model.regulator.supervise(model.platforms, model.draws.at(1), 1)  # platform 0 has no complaints: never inspected
    reg = model.regulator
    assert model.platforms[0].is_active and model.platforms[0].violations == 0
    assert [p.status for p in model.platforms[1:3]] == ["revoked", "revoked"]
    assert reg.inspections_month == 2 and reg.revocations_month == 2
    assert reg.fines_month == pytest.approx(2 * fine_per_violation(model))


def test_education_costs_add_up_over_the_months_of_a_campaign():
    model = market(education_reach_monthly=1.0, education_cost_per_person=5.0)
    for month in (1, 2):
        apply_regulation(model.regulator, model.borrower_state, month, 0.0, model.draws.at(month))
    assert model.regulator.education_cost == pytest.approx(2 * 5.0 * model.borrower_state.n)


# --------------------------------------------------------------------------- compliance as a choice


def weighing(model, index: int = 0):
    """The platforms' policies, platform ``index`` weighing the rules rather than committed to them."""
    policies = [p.policy for p in model.platforms]
    policies[index] = policies[index].model_copy(
        update={"complies_with_conduct_rules": False, "collection": CollectionConfig(regime="aggressive")}
    )
    return policies


def test_a_platform_that_weighs_the_rules_breaches_while_its_gain_exceeds_the_fine_it_expects():
    # aggressive conduct under all three rules: 3 breaches. Expected fine = p x share x 12 x 3, in months of revenue.
    rules = {"max_contacts_month": 6.0, "ban_third_party": True, "ban_night_contact": True}
    active = np.ones(8, dtype=bool)
    for base, share, breaches in [(0.02, 0.05, True), (0.5, 0.05, False), (0.02, 2.0, False)]:
        model = market(inspection_base=base, fine_revenue_share=share, breach_gain_dispersion=0.0, **rules)
        reg = model.regulator
        expected = base * share * 12 * 3  # 0.036, 0.9, 1.44 against a gain of 0.1
        complies = reg.compliance(weighing(model), active)
        assert complies[0] == (expected >= 0.1) and complies[0] != breaches, (base, share)
        assert complies[1:].all()  # committed to the rules (the default)
        assert reg.breaching_month == int(breaches)


def test_nothing_is_breached_where_no_rule_is_in_force_and_inspections_last_month_are_what_a_platform_expects():
    model = market(inspection_base=0.0, inspection_per_complaint=1.0, breach_gain_dispersion=0.0)
    reg = model.regulator
    assert reg.compliance(weighing(model), np.ones(8, dtype=bool)).all()  # no conduct rule: nothing to breach
    model = market(
        inspection_base=0.0, inspection_per_complaint=1.0, breach_gain_dispersion=0.0, ban_night_contact=True
    )
    reg = model.regulator
    assert not reg.compliance(weighing(model), np.ones(8, dtype=bool))[0]  # never inspected so far: breaching pays
    model.platforms[0].flows.complaints = 2.0  # 1 per 1,000 loans: certain inspection this month
    reg.supervise(model.platforms, model.draws.at(1), 1)
    assert reg.inspection_probability[0] == 1.0
    assert reg.compliance(weighing(model), np.ones(8, dtype=bool))[0]  # 1 x 0.05 x 12 x 1 = 0.6 > 0.1


def test_gains_from_breaching_differ_by_platform_are_keyed_and_scale_with_their_median():
    a, b = market(breach_gain_share=0.1), market(breach_gain_share=0.3)
    ga, gb = a.regulator.breach_gains(), b.regulator.breach_gains()
    assert len(set(ga.round(12))) == len(ga)  # one draw per platform
    np.testing.assert_allclose(gb, 3 * ga)  # the same draws: a rule change moves every platform alike
    np.testing.assert_allclose(np.median(market(breach_gain_dispersion=0.0).regulator.breach_gains()), 0.1)

"""Each lever added for the stylized facts moves outcomes the documented way, same seed both arms.

These are mechanism checks on small runs (the facts themselves are in test_stylized_facts.py):
each compares two configurations that differ only in the lever, with the same seed.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim import policies
from sim.config import CollectionConduct, RegulatorRules, ScenarioConfig
from sim.model import LendingMarket

BASE = {"borrowers.count": 4000, "months": 24, "burn_in": 12}


def frame(**overrides):
    cfg = ScenarioConfig().with_overrides({**BASE, **overrides})
    f = LendingMarket(cfg, seed=11).run().model_frame()
    return f[~f["is_burn_in"]]


def test_penalty_on_the_outstanding_loan_accrues_more_than_on_the_overdue_amount():
    on = {"platforms.policy.penalty.rate_daily": 0.001}
    overdue = frame(**on, **{"platforms.policy.penalty.applies_to": "overdue"})
    outstanding = frame(**on, **{"platforms.policy.penalty.applies_to": "outstanding"})
    # same rule and rate; the base is many instalments larger, so the effective cost rises
    assert outstanding["effective_cost"].mean() > overdue["effective_cost"].mean() + 0.01


def test_unverified_income_lets_the_jobless_borrow_and_raises_defaults():
    verified = frame(**{"platforms.policy.underwriting.verifies_income": True})
    stated = frame(**{"platforms.policy.underwriting.verifies_income": False})
    assert stated["originations"].sum() > verified["originations"].sum()
    assert stated["cum_default_rate"].iloc[-1] > verified["cum_default_rate"].iloc[-1]


def test_lending_at_the_cap_admits_applicants_rationed_out_by_the_cap():
    cut = {"platforms.policy.underwriting.cutoff": -2.5}  # cut-off below the cap's implicit one (-1.25)
    rationed = frame(**cut)
    at_cap = frame(**cut, **{"platforms.policy.underwriting.lends_at_cap": True})
    assert at_cap["approval_rate"].mean() > rationed["approval_rate"].mean() + 0.02


def test_weaker_collection_raises_cut_offs_and_lowers_credit_supply():
    rules = {"platforms.policy.collection.regime": "soft"}
    insensitive = frame(**rules, **{"platforms.policy.underwriting.collection_sensitivity": 0.0})
    sensitive = frame(**rules, **{"platforms.policy.underwriting.collection_sensitivity": 2.0})
    assert sensitive["approval_rate"].mean() < insensitive["approval_rate"].mean() - 0.02


def test_expected_pressure_ranks_the_presets():
    b = ScenarioConfig().behaviour
    p = {name: policies.expected_pressure(c, b) for name, c in policies.COLLECTION_PRESETS.items()}
    assert p["aggressive"] > p["standard"] > p["regulated"] > p["soft"]
    rules = RegulatorRules(max_contacts_month=6.0, ban_third_party=True, ban_night_contact=True)
    restricted = policies.practised_conduct(policies.COLLECTION_PRESETS["aggressive"], rules, True)
    assert policies.expected_pressure(restricted, b) == pytest.approx(1 - np.exp(-0.15 * 6.0))


def test_borrow_to_repay_term_applies_to_borrow_to_repay_loans_only(monkeypatch):
    from sim import origination

    cfg = ScenarioConfig().with_overrides({**BASE, "borrowers.btr_term_months": 1})
    terms = []
    book_new_loans = origination._book_new_loans

    def spy(book, platforms, idx, k, amount, apr, term, reported, why, *rest):
        is_btr = np.asarray(why) == origination.TO_REPAY
        terms.append((np.asarray(term)[is_btr], np.asarray(term)[~is_btr]))
        book_new_loans(book, platforms, idx, k, amount, apr, term, reported, why, *rest)

    monkeypatch.setattr(origination, "_book_new_loans", spy)
    LendingMarket(cfg, seed=11).run()
    btr = np.concatenate([t[0] for t in terms])
    other = np.concatenate([t[1] for t in terms])
    assert btr.size > 0 and set(btr.tolist()) == {1}
    assert set(other.tolist()) == set(cfg.platforms.term_months)


def test_risk_type_drives_expense_shocks():
    cfg = ScenarioConfig().with_overrides({**BASE, "borrowers.expense_risk_gradient": 2.0})
    model = LendingMarket(cfg, seed=5)
    hits = np.zeros(model.borrower_state.n)
    for _ in range(24):
        model.step()
        hits += model.borrower_state.expense > 0
    z = model.borrower_state.creditworthiness
    assert hits[z < -1].mean() > 3 * hits[z > 1].mean()


def test_a_conduct_without_contacts_puts_no_pressure():
    b = ScenarioConfig().behaviour
    assert policies.expected_pressure(CollectionConduct(contacts_by_bucket=[0, 0, 0, 0]), b) == 0.0


def test_a_rate_hike_passes_through_to_prices_and_under_the_cap_rations_the_riskiest():
    # cost-plus pricing on a benchmark-linked cost of funds: +3 pp on the benchmark from month 1 raises new
    # loans' prices by 3 pp; with the 36% cap binding, applicants now priced above it are refused (fewer
    # approvals); with no binding cap the dearer instalments raise delinquency instead
    hike = {"economy.shocks": [{"start": 1, "duration": 1, "shape": "ramp", "rate_delta": 0.03}]}
    base, hiked = frame(), frame(**hike)
    late = slice(12, None)  # once most of the book was priced after the hike
    assert hiked["benchmark_rate"].iloc[-1] == pytest.approx(base["benchmark_rate"].iloc[-1] + 0.03)
    assert hiked["avg_apr"].iloc[late].mean() > base["avg_apr"].iloc[late].mean() + 0.02
    assert hiked["approval_rate"].mean() < base["approval_rate"].mean() - 0.005
    assert hiked["platform_profit"].sum() != base["platform_profit"].sum()
    uncapped = {"regulator.apr_cap_annual": 10.0}
    base_u, hiked_u = frame(**uncapped), frame(**uncapped, **hike)
    rationed = base["approval_rate"].mean() - hiked["approval_rate"].mean()
    assert base_u["approval_rate"].mean() - hiked_u["approval_rate"].mean() < rationed  # dearer, but not refused
    over, over_u = (f["overdue_balance_rate"].iloc[late].mean() for f in (hiked, hiked_u))
    base_over, base_over_u = (f["overdue_balance_rate"].iloc[late].mean() for f in (base, base_u))
    assert over_u - base_over_u > over - base_over  # rationing lowers delinquency; dearer loans raise it

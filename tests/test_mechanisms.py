"""Each mechanism tested where it acts, in the model, for its direction.

The rule functions have their own unit tests (test_policies.py); these follow loans, borrowers,
platforms and the regulator through real months of a ``LendingMarket`` and check that what a
mechanism is for happens there: holidays freeze penalties and days past due, a faster-growing
penalty is paid first, a platform short of capital stops lending, a scheduled rule applies in its
month, and so on. Loans are followed across months by their ``loan_id``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.config import ScenarioConfig, validate_scenario
from sim.loans import CHARGED_OFF, EPS, LIVE
from sim.model import LendingMarket
from sim.policies import COLLECTION_PRESETS, expected_pressure, recovery_intensity


def config(data: dict, **size) -> ScenarioConfig:
    base = {"months": 18, "burn_in": 12, "borrowers": {"count": 3000}}
    for key, value in size.items():
        base[key] = value
    merged = {**base, **data}
    if "borrowers" in data:
        merged["borrowers"] = {**base["borrowers"], **data["borrowers"]}
    return validate_scenario(merged, source="test")


def loans_by_id(model: LendingMarket, *fields: str) -> pd.DataFrame:
    book = model.loans
    frame = pd.DataFrame({name: book.view(name).copy() for name in ("loan_id", "state", *fields)})
    return frame.set_index("loan_id")


# --------------------------------------------------------------------------- forbearance


def test_a_loan_on_a_payment_holiday_accrues_no_penalty_and_does_not_age_in_any_holiday_month():
    months = 3
    model = LendingMarket(
        config(
            {
                "economy": {"shocks": [{"start": 2, "duration": 12, "unemployment_delta": 0.15, "income_factor": 0.8}]},
                "regulator": {"forbearance": {"enabled": True, "holiday_months": months}},
                # lenders keep their standards (no credit cycle), so the shock leaves enough overdue loans to check
                "platforms": {
                    "policy": {
                        "penalty": {"rule": "flat", "rate_daily": 0.002},
                        "underwriting": {"stance_loss_weight": 0.0, "stance_outlook_weight": 0.0},
                    }
                },
                "borrowers": {"count": 5000},  # enough overdue loans in each holiday month to check
            }
        ),
        seed=2,
    )
    checked = dict.fromkeys(range(1, months + 1), 0)  # overdue loans checked in their 1st, 2nd, 3rd holiday month
    while model.month < model.config.months:
        before = loans_by_id(model, "holiday_left", "had_holiday", "penalty", "dpd")
        model.step()
        after = loans_by_id(model, "holiday_left", "had_holiday", "penalty", "dpd", "arrears").add_suffix("_after")
        both = before[before["state"] == LIVE].join(after, how="inner")
        both = both[both["state_after"] == LIVE]
        # on holiday this month: granted now (its first holiday month), or with holiday months left
        granted_now = ~both["had_holiday"] & both["had_holiday_after"]
        holiday = both[granted_now | (both["holiday_left"] > 0)]
        # a borrower may still pay on holiday, so penalties can fall; they must not grow
        assert (holiday["penalty_after"] <= holiday["penalty"]).all(), (
            f"penalty accrued on holiday in month {model.month}"
        )
        # days past due are frozen, unless the borrower pays the arrears off: then the loan is current (s. 4021)
        brought_current = holiday["arrears_after"] < EPS
        frozen = np.where(brought_current, 0, holiday["dpd"])
        assert (holiday["dpd_after"] == frozen).all(), f"days past due moved on holiday in month {model.month}"
        nth = np.where(granted_now[holiday.index], 1, months + 1 - holiday["holiday_left"])
        for n in checked:
            checked[n] += int(((nth == n) & (holiday["dpd"] > 0) & ~brought_current).sum())
    # overdue loans still overdue after the month in every holiday month, the last included
    assert all(n > 10 for n in checked.values()), checked


# --------------------------------------------------------------------------- repayment priority


def controlled_market(**changes) -> LendingMarket:
    """A market in which borrower 0's month is fully set by the test: no new lending, no shocks of
    income or expenses, no family help, no strategic default, no inattention."""
    data = {
        "months": 3,
        "burn_in": 0,
        "economy": {
            "unemployment_rate": 0.0,
            "income_growth_annual": 0.0,
            "income_transitory_sd": 0.0,
            "income_permanent_sd": 0.0,
        },
        "borrowers": {
            "count": 20,
            "demand_monthly": 0.0,
            "need_apply": 0.0,
            "borrow_to_repay": 0.0,
            "expense_shock_monthly": 0.0,
            "allocation_noise": 0.0,
            "informal_limit_months": 0.0,
        },
        "behaviour": {"mobilisation": 0.0, "pressure_borrow_push": 0.0},
    }
    for key, value in changes.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    model = LendingMarket(validate_scenario(data, source="controlled"), seed=1)
    bs = model.borrower_state
    bs.willingness[:] = 100.0  # always willing: only cash decides
    bs.savings[:] = 0.0
    bs.is_employed[:] = True
    return model


def add_overdue_loan(model: LendingMarket, borrower: int, platform: int, arrears: float, penalty_growth: float) -> int:
    """An overdue loan with ``arrears`` of principal due now and no interest; returns its loan_id."""
    book = model.loans
    row = book.add(
        np.array([borrower]),
        np.array([platform]),
        np.array([arrears]),
        np.array([0.0]),
        np.array([1]),
        month=0,
        is_reported=np.array([False]),
    )[0]
    book.due_principal[row] = arrears
    book.months_left[row] = 0
    book.dpd[row] = 30
    book.arrears[row] = arrears
    book.penalty_growth[row] = penalty_growth
    return int(book.loan_id[row])


def arrears_left(model: LendingMarket, loan_id: int) -> float:
    book = model.loans
    row = np.flatnonzero(book.view("loan_id") == loan_id)
    return 0.0 if len(row) == 0 else float(book.view("due_principal")[row[0]])


def short_of_cash(model: LendingMarket, cash: float, literacy: float = 0.5) -> None:
    """Borrower 0 has exactly ``cash`` for debt this month: income, no essentials, no savings."""
    bs = model.borrower_state
    bs.essentials_share[0] = 0.0
    bs.essentials[0] = 0.0
    bs.wage[0] = cash / model.economy.state.income_level
    bs.literacy[0] = literacy


def test_a_borrower_short_of_cash_splits_it_in_proportion_to_balances():
    # balance matching (Gathergood et al. 2019): 1,000 for arrears of 1,000 and 3,000 goes 250 / 750
    for small_first in (True, False):  # the order the loans are booked in must not matter
        model = controlled_market()
        short_of_cash(model, 1000.0)
        sizes = (1000.0, 3000.0) if small_first else (3000.0, 1000.0)
        a = add_overdue_loan(model, 0, 0, sizes[0], 0.0)
        b = add_overdue_loan(model, 0, 1, sizes[1], 0.0)
        model.step()
        small, large = (a, b) if small_first else (b, a)
        assert arrears_left(model, small) == pytest.approx(750.0)
        assert arrears_left(model, large) == pytest.approx(2250.0)


def test_a_literate_borrower_pays_the_loan_whose_penalty_grows_faster_first():
    for fast_first in (True, False):
        model = controlled_market()
        short_of_cash(model, 1000.0, literacy=1.0)  # above optimiser_literacy: pays the costliest first
        growth = (0.05, 0.01) if fast_first else (0.01, 0.05)
        a = add_overdue_loan(model, 0, 0, 1000.0, growth[0])
        b = add_overdue_loan(model, 0, 1, 1000.0, growth[1])
        model.step()
        fast, slow = (a, b) if fast_first else (b, a)
        assert arrears_left(model, fast) == 0.0 and arrears_left(model, slow) == pytest.approx(1000.0)


def test_a_loan_under_collection_pressure_gets_more_of_a_short_budget():
    model = controlled_market()
    short_of_cash(model, 1000.0)
    quiet = add_overdue_loan(model, 0, 0, 1000.0, 0.0)
    pressed = add_overdue_loan(model, 0, 1, 1000.0, 0.0)
    model.loans.pressure[np.flatnonzero(model.loans.view("loan_id") == pressed)] = 0.9
    model.step()
    paid_pressed, paid_quiet = 1000.0 - arrears_left(model, pressed), 1000.0 - arrears_left(model, quiet)
    tilt = np.exp(model.config.behaviour.allocation_pressure * 0.9)
    assert paid_pressed + paid_quiet == pytest.approx(1000.0)
    assert paid_pressed / paid_quiet == pytest.approx(tilt)


def test_collectors_get_more_of_a_balance_in_recovery_the_harder_their_conduct_presses():
    # a borrower with cash to spare pays what the collectors of a charged-off balance ask: the base demand
    # under standard conduct, less under the regulated one, more under the aggressive one
    paid = {}
    for regime in ("regulated", "standard", "aggressive"):
        model = controlled_market(platforms={"policy": {"collection": {"regime": regime}}})
        short_of_cash(model, 10_000.0)
        book = model.loans
        row = book.add(
            np.array([0]),
            np.array([0]),
            np.array([0.0]),
            np.array([0.24]),
            np.array([12]),
            month=0,
            is_reported=np.array([False]),
        )[0]
        book.state[row] = CHARGED_OFF
        book.recovery_balance[row] = book.recovery_principal[row] = 1000.0
        book.recovery_due[row] = 30.0
        book.recovery_months_left[row] = 11
        book.pressure[row] = expected_pressure(COLLECTION_PRESETS[regime], model.config.behaviour, bucket=3)
        ask = 30.0 * recovery_intensity(book.pressure[row : row + 1], model.config.behaviour)[0]
        model.step()
        paid[regime] = 1000.0 - float(model.loans.recovery_balance[row])
        assert paid[regime] == pytest.approx(ask)
    assert paid["standard"] == pytest.approx(30.0)
    assert paid["regulated"] < paid["standard"] < paid["aggressive"]


# --------------------------------------------------------------------------- platforms


def small_market(data: dict | None = None, seed: int = 5, **size) -> LendingMarket:
    return LendingMarket(config(data or {}, **size), seed=seed)


def step_to(model: LendingMarket, month: int) -> None:
    while model.month < month:
        model.step()


def test_a_platform_below_minimum_capital_stops_originating_while_others_lend():
    model = small_market()
    step_to(model, 1)
    p = model.platforms[0]
    p.capital = 0.5 * model.rules.min_capital_ratio * p.book  # positive, so it has not failed
    model.step()
    assert p.is_active and p.flows.originations == 0
    assert sum(q.flows.originations for q in model.platforms[1:]) > 0
    p.capital = 10 * p.book  # recapitalised: it lends again
    model.step()
    assert p.flows.originations > 0


def test_a_platform_whose_capital_turns_negative_fails_and_lends_no_more():
    model = small_market()
    step_to(model, 1)
    p = model.platforms[0]
    p.capital = -0.5 * p.book  # far below what a month's profit can restore
    model.step()
    assert not p.is_active and p.status == "failed" and p.failed_month == model.month
    failures = model.model_frame().set_index("month")["platform_failures"]
    assert failures.loc[model.month] >= 1
    model.step()
    assert p.flows.originations == 0


def test_a_platform_whose_investors_leave_fails_for_lack_of_funding():
    model = small_market({"economy": {"shocks": [{"start": 2, "duration": 6, "funding_withdrawal": 0.6}]}})
    step_to(model, 1)
    assert all(p.is_active for p in model.platforms)
    step_to(model, 6)
    for_funding = [p for p in model.platforms if not p.is_active and p.capital >= 0]  # not for capital
    assert for_funding
    assert all(p.funding < model.config.platforms.min_funding_ratio * p.initial_funding for p in for_funding)


def test_a_platform_override_applies_to_that_platform_only():
    model = small_market(
        {
            "platforms": {
                "policy": {"penalty": {"rule": "flat", "rate_daily": 0.002}},
                "overrides": [{"platforms": [1], "set": {"penalty": {"rule": "none"}}}],
            }
        }
    )
    step_to(model, 6)
    book = model.loans
    live = book.view("state") == LIVE
    plat = book.view("platform")
    assert book.view("penalty")[live & (plat == 1)].max() == 0.0
    assert book.view("penalty")[live & (plat == 0)].max() > 0.0
    assert model.platforms[1].policy.penalty.rule == "none" and model.platforms[0].policy.penalty.rule == "flat"


def test_a_scheduled_conduct_rule_applies_from_its_month(monkeypatch):
    import sim.model

    overdue = {}
    collect = sim.model.collect_overdue

    def count_then_collect(borrowers, book, platforms, terms, now, rec):
        overdue[now.month] = int(((book.view("state") == LIVE) & (book.view("dpd") > 0)).sum())
        collect(borrowers, book, platforms, terms, now, rec)

    monkeypatch.setattr(sim.model, "collect_overdue", count_then_collect)
    model = small_market({"regulator": {"schedule": [{"month": 4, "set": {"max_contacts_month": 1.0}}]}})
    step_to(model, 6)
    contacts = model.model_frame().set_index("month")["collection_contacts"]
    assert contacts.loc[3] > 2 * overdue[3]  # standard conduct: 4 to 12 contacts a month per overdue loan
    for month in (4, 5, 6):  # at most one contact a month per loan overdue at collection time
        assert contacts.loc[month] <= overdue[month] + 1e-9
    assert model.rules.max_contacts_month == 1.0


def test_a_scheduled_platform_policy_applies_from_its_month():
    model = small_market({"platforms": {"schedule": [{"month": 3, "set": {"reports_to_bureau": True}}]}})
    reporting = {}
    while model.month < 4:
        model.step()
        reporting[model.month] = [p.is_reporting for p in model.platforms]
    assert not any(reporting[2]) and all(reporting[3]) and all(reporting[4])
    pf = model.platform_frame()
    assert not pf[pf["month"] == 2]["is_reporting"].any() and pf[pf["month"] == 3]["is_reporting"].all()


def test_platform_early_warning_raises_the_cut_off_while_its_overdue_rate_is_above_the_line():
    uw = {"early_warning": True, "early_warning_line": 0.0, "cutoff_step": 0.1, "max_cutoff": 0.5}
    model = small_market({"platforms": {"policy": {"underwriting": uw}}})
    step_to(model, 6)
    pf = model.platform_frame()
    p0 = pf[pf["platform"] == 0].set_index("month")
    cut, over = p0["cutoff"], p0["overdue_rate"]
    # The cut-off set for next month answers this month's overdue rate: each month above the
    # line it rises by the step, up to its ceiling; with nothing overdue yet it stays put.
    expected = np.where(over.to_numpy()[:-1] > 0.0, np.minimum(cut.to_numpy()[:-1] + 0.1, 0.5), cut.to_numpy()[:-1])
    assert (over > 0).sum() >= 6
    np.testing.assert_allclose(cut.to_numpy()[1:], expected, atol=1e-9)
    assert cut.iloc[-1] == pytest.approx(0.5)


def test_system_early_warning_tightens_lending_while_the_market_overdue_rate_is_above_its_line():
    on = small_market({"regulator": {"early_warning": {"enabled": True, "overdue_line": 0.0, "cutoff_raise": 1.0}}})
    off = small_market()
    for m in (on, off):
        step_to(m, 6)
    assert on.regulator.is_tightening and not off.regulator.is_tightening
    approval = {
        k: m.model_frame().set_index("month")["approval_rate"].loc[1:].mean() for k, m in (("on", on), ("off", off))
    }
    assert approval["on"] < approval["off"] - 0.05


def test_regime_switching_enters_a_recession_that_raises_unemployment():
    always = small_market(
        {"economy": {"regime_switching": {"enabled": True, "p_enter": 1.0, "p_exit": 0.0, "unemployment_delta": 0.05}}}
    )
    never = small_market({"economy": {"regime_switching": {"enabled": True, "p_enter": 0.0}}})
    for m in (always, never):
        step_to(m, 6)
    a, n = (m.model_frame().set_index("month") for m in (always, never))
    assert always.economy.in_recession and not never.economy.in_recession
    assert np.allclose(a["unemployment_target"], 0.10) and np.allclose(n["unemployment_target"], 0.05)
    assert a["unemployment_rate"].loc[1:].mean() > n["unemployment_rate"].loc[1:].mean() + 0.03


# --------------------------------------------------------------------------- the regulator


def test_inspections_fine_and_then_revoke_a_platform_that_breaks_the_conduct_rules():
    model = small_market(
        {
            "platforms": {
                "policy": {"collection": {"regime": "aggressive"}},
                "overrides": [{"platforms": [0], "set": {"complies_with_conduct_rules": False}}],
            },
            "regulator": {
                "inspection_base": 1.0,
                "revoke_after_violations": 2,
                "incident_tolerance": 1e6,  # only breached rules are violations here
                "breach_gain_share": 1e6,  # platform 0 weighs the rules, and breaching them pays whatever the fine
                "schedule": [{"month": 1, "set": {"ban_night_contact": True}}],
            },
        }
    )
    step_to(model, 3)
    p0, others = model.platforms[0], model.platforms[1:]
    assert p0.status == "revoked" and p0.failed_month == 2 and p0.violations == 2
    assert all(p.is_active and p.violations == 0 for p in others)  # they comply: no breach to find
    frame = model.model_frame().set_index("month")
    assert frame.loc[1, "fines"] > 0 and frame.loc[2, "revocations"] == 1
    assert p0.flows.originations == 0


def test_the_apr_cap_is_the_lower_of_the_absolute_cap_and_the_lpr_multiple():
    low = small_market({"regulator": {"apr_cap_annual": 0.36, "apr_cap_lpr_multiple": 6.0}})
    assert low.regulator.apr_cap(0.0385) == pytest.approx(0.231)
    assert low.regulator.apr_cap(0.10) == pytest.approx(0.36)
    step_to(low, 3)
    assert 0 < low.loans.view("apr").max() <= 0.231 + 1e-12  # every loan priced within 6 x LPR
    free = small_market({"regulator": {"apr_cap_annual": 0.36}})
    step_to(free, 3)
    assert free.loans.view("apr").max() > 0.231


def test_the_penalty_cap_binds_a_penalty_charged_on_the_whole_outstanding_loan():
    penalty = {"rule": "flat", "rate_daily": 0.01, "applies_to": "outstanding"}
    ratios = {}
    for cap in (0.12, 1.0):
        model = small_market({"platforms": {"policy": {"penalty": penalty}}, "regulator": {"penalty_cap_annual": cap}})
        step_to(model, 3)
        book = model.loans
        # loans called in this month accrued on the base before the call: compare the others
        over = (book.view("state") == LIVE) & (book.view("dpd") > 0) & ~book.view("is_accelerated")
        accrued = book.view("penalty_growth")[over] * np.maximum(
            book.view("due_principal")[over] + book.view("due_interest")[over], 1.0
        )
        base = book.view("principal")[over] + book.view("due_interest")[over]
        ratios[cap] = (accrued / base).max()
    assert ratios[0.12] <= 0.12 * 30 / 365 + 1e-12  # at most the cap's 30 days, on the outstanding base
    assert ratios[1.0] > 0.12 * 30 / 365  # without the cap the rate's 30% a month applies

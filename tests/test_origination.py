"""Phase 5 (sim/origination.py) on hand-made applicants: scoring, pricing under the cap, debt-to-income,
income checks, the bureau, the platform's budget and borrowing to repay.

Every borrower of a quiet market applies for one month of income over 12 months, platforms see
scores without noise, and each test runs phase 5 alone (tests/phases.py); who gets a loan, at what
price, follows from the set-up, not from random draws.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.loans import LIVE, annuity
from sim.origination import originate_loans
from sim.platforms import FAILED
from tests.phases import add_loan, controlled_market, open_month, set_essentials

WAGE = 1000.0
REJECTED = -5.0  # a creditworthiness far below any cut-off


def applicants(n_platforms: int = 1, underwriting: dict | None = None, borrowers: dict | None = None, **changes):
    """Every borrower applies (unless told otherwise) for 1,000 over 12 months; all rejected until a test sets
    their creditworthiness."""
    platforms = {"count": n_platforms, "term_months": [12], "term_weights": [1.0], **changes.pop("platforms", {})}
    # a test's own policy keys add to the noiseless scoring, never replace it: outcomes must not hang on a draw
    policy = platforms.setdefault("policy", {})
    policy["underwriting"] = {**policy.get("underwriting", {}), "scoring_noise_sd": 0.0, **(underwriting or {})}
    b = {"demand_monthly": 1.0, "loan_income_min": 1.0, "loan_income_max": 1.0, **(borrowers or {})}
    economy = {"income_growth_annual": 0.0, **changes.pop("economy", {})}
    model = controlled_market(borrowers=b, platforms=platforms, economy=economy, **changes)
    bs = model.borrower_state
    bs.wage[:] = WAGE
    bs.income[:] = WAGE
    bs.creditworthiness[:] = REJECTED
    for p in model.platforms:
        p.capital = 1e7  # funds to lend whatever the demand the market was sized for
    return model


def run_phase(model):
    terms, now = open_month(model)
    originate_loans(model.borrower_state, model.loans, model.platforms, terms, now, model.records)
    return terms, now


def loans_of(model, borrower: int) -> np.ndarray:
    book = model.loans
    return np.flatnonzero((book.view("borrower") == borrower) & (book.view("state") == LIVE))


def test_applicants_above_the_cut_off_get_a_loan_priced_by_their_score_and_the_rest_are_rejected():
    model = applicants()
    bs = model.borrower_state
    bs.creditworthiness[[0, 1, 2]] = [2.0, 0.0, -1.5]  # best grade; a point below it; under the cut-off (-1)
    terms, now = run_phase(model)
    book, rec = model.loans, model.records
    pricing = model.config.platforms.policy.pricing
    assert book.n == 2
    (a,), (b,) = loans_of(model, 0), loans_of(model, 1)
    assert len(loans_of(model, 2)) == 0
    # cost-plus: the best grade pays the cost of funds (benchmark + spread), operating cost and the margin
    cfg = model.config
    best = (
        cfg.economy.benchmark_rate_annual
        + cfg.platforms.funding_spread_annual
        + cfg.platforms.operating_cost_annual
        + pricing.margin_annual
    )
    assert book.apr[a] == pytest.approx(best)
    assert book.apr[b] == pytest.approx(best + pricing.apr_risk_slope * pricing.best_grade_score)
    assert book.principal[b] == WAGE and book.months_left[b] == 12 and book.vintage[b] == now.month
    assert book.instalment[b] == pytest.approx(annuity(np.array([WAGE]), book.apr[[b]], np.array([12]))[0])
    assert rec.flows.applications == bs.n and rec.flows.originations == 2
    assert rec.flows.origination_amount == 2 * WAGE and rec.ledger.lent == 2 * WAGE
    assert rec.cumulative.originations == 2 and rec.vintages.originations == {now.month: 2}
    assert model.platforms[0].flows.originations == 2 and model.platforms[0].flows.originated_amount == 2 * WAGE
    assert bs.btr_cash.sum() == 0.0  # consumption loans are spent


def test_a_price_above_the_apr_cap_is_rejected_unless_the_platform_lends_at_the_cap():
    for at_cap in (False, True):
        model = applicants(underwriting={"lends_at_cap": at_cap}, regulator={"apr_cap_annual": 0.24})
        model.borrower_state.creditworthiness[0] = -0.5  # priced at 0.18 + 0.08 x 1.5 = 0.30
        model.borrower_state.creditworthiness[1] = 0.5  # 0.22: under the cap
        run_phase(model)
        assert len(loans_of(model, 1)) == 1 and model.loans.apr[loans_of(model, 1)[0]] == pytest.approx(0.22)
        got = loans_of(model, 0)
        if at_cap:
            assert len(got) == 1 and model.loans.apr[got[0]] == pytest.approx(0.24)
        else:
            assert len(got) == 0


def test_debt_to_income_counts_the_platforms_own_loans_and_reported_loans_only_at_bureau_members():
    # platform 1 is closed (no lending), but borrower 0 owes it a reported loan of instalment 350, and
    # borrower 1 owes platform 0 the same: 350 + the new instalment of about 92 > 0.4 x 1,000
    for member in (False, True):
        model = applicants(
            n_platforms=2, platforms={"overrides": [{"platforms": [0], "set": {"reports_to_bureau": member}}]}
        )
        bs = model.borrower_state
        bs.creditworthiness[[0, 1, 2]] = 2.0
        other = add_loan(model, borrower=0, platform=1, reported=True)
        own = add_loan(model, borrower=1, platform=0)
        model.loans.instalment[[other, own]] = 350.0
        model.platforms[1].exit(FAILED, 0)
        run_phase(model)
        assert len(loans_of(model, 2)) == 1  # no other debt
        assert len(loans_of(model, 1)) == 1  # rejected: only its old loan
        assert len(loans_of(model, 0)) == (1 if member else 2), member


def test_a_platform_that_verifies_income_sees_a_jobless_applicants_benefits_not_their_wage():
    for verifies in (False, True):
        model = applicants(underwriting={"verifies_income": verifies, "dti_limit": 0.2})
        bs = model.borrower_state
        bs.creditworthiness[0] = 2.0
        bs.is_employed[0] = False
        bs.income[0] = 300.0  # benefits: 0.2 x 300 is less than the instalment of about 92
        run_phase(model)
        assert len(loans_of(model, 0)) == (0 if verifies else 1), verifies


def test_a_platform_lends_no_more_than_its_budget_first_come_first_served():
    for budget, loans in ((2500.0, 2), (2000.0, 2), (1999.5, 1)):
        model = applicants()
        p = model.platforms[0]
        p.capital, p.funding, p.initial_funding = budget, 0.0, 0.0
        model.borrower_state.creditworthiness[:5] = 2.0
        run_phase(model)
        assert model.records.flows.originations == loans, budget
        assert model.records.ledger.lent == loans * WAGE, budget


def test_a_rejected_applicant_tries_another_platform():
    # everyone borrows to repay a shortfall of 500, so every round's loans are borrow-to-repay loans
    model = applicants(
        n_platforms=2,
        borrowers={"application_rounds": 12, "demand_monthly": 0.0, "borrow_to_repay": 1.0},
        platforms={"overrides": [{"platforms": [1], "set": {"underwriting": {"cutoff": 5.0, "max_cutoff": 5.0}}}]},
    )
    bs = model.borrower_state
    bs.creditworthiness[:] = 2.0  # above platform 0's cut-off, below platform 1's
    bs.literacy[:] = 0.0
    bs.shortfall[:] = 500.0
    run_phase(model)
    # one applicant in three picks platform 1 in a round; rejected there, they apply again (twelve times at most)
    flows = model.records.flows
    assert flows.originations == bs.n
    assert (model.loans.view("platform") == 0).all()
    # every round's loans are counted, not only the last round's
    assert flows.origination_amount == pytest.approx(model.loans.view("principal").sum())
    assert flows.btr_loans == bs.n


def test_borrowers_at_the_loan_limit_do_not_apply():
    model = applicants(borrowers={"max_loans": 1})
    model.borrower_state.creditworthiness[:2] = 2.0
    add_loan(model, borrower=0)
    run_phase(model)
    assert model.records.flows.applications == model.borrower_state.n - 1
    assert len(loans_of(model, 0)) == 1 and len(loans_of(model, 1)) == 1


def test_a_borrower_short_of_cash_borrows_to_repay_enough_to_cover_the_shortfall():
    model = applicants(
        borrowers={"demand_monthly": 0.0, "borrow_to_repay": 1.0, "btr_amount_cover": 1.1, "btr_term_months": 6}
    )
    bs = model.borrower_state
    bs.literacy[:] = 0.0
    bs.creditworthiness[:3] = 2.0
    bs.shortfall[[0, 1, 2]] = [800.0, 10.0, 0.0]  # at most one month of income (loan_income_max)
    cfg = model.config.borrowers
    run_phase(model)
    (a,), (b,) = loans_of(model, 0), loans_of(model, 1)
    assert len(loans_of(model, 2)) == 0  # no shortfall, no demand: does not apply
    assert model.loans.principal[a] == pytest.approx(880.0)  # 1.1 x the shortfall
    assert model.loans.principal[b] == pytest.approx(cfg.btr_amount_min * WAGE)  # at least the minimum
    assert model.loans.months_left[a] == 6
    np.testing.assert_allclose(bs.btr_cash[:2], [880.0, cfg.btr_amount_min * WAGE])  # cash for this month's bills
    assert model.records.flows.btr_loans == 2


def test_a_bureau_record_lowers_the_score_a_member_sees_and_a_record_on_its_own_book_the_score_any_platform_sees():
    for member in (False, True):
        model = applicants(n_platforms=2, platforms={"policy": {"reports_to_bureau": member}})
        other = model.platforms[1]
        other.capital = other.funding = 0.0  # lends nothing: every applicant applies to platform 0
        uw = model.platforms[0].policy.underwriting
        bs = model.borrower_state
        bs.creditworthiness[[0, 1, 3, 4, 5]] = 0.5  # -1.5 with arrears or an own record: under the cut-off (-1)
        bs.creditworthiness[2] = 2.0  # no record: a loan anywhere
        bs.creditworthiness[6] = -0.8  # a past default takes it just under the cut-off
        add_loan(model, borrower=0, platform=1, dpd=30, due_principal=100.0, reported=True)  # behind elsewhere
        bs.last_bureau_default[[1, 6]] = -1  # a reported default last month, no arrears now
        add_loan(model, borrower=3, platform=0, dpd=30, due_principal=100.0)  # behind with platform 0, unreported
        bs.defaulted_with[4] = 1  # defaulted on a loan of platform 0 before (bit 0), unreported
        terms, _ = run_phase(model)
        assert bs.has_bureau_record[[0, 1, 6]].all() and not bs.has_bureau_record[[2, 3, 4, 5]].any()
        assert bs.bureau_arrears[0] and not bs.bureau_arrears[[1, 6]].any()
        new = np.flatnonzero(model.loans.view("vintage") > 0)
        got = {b: int((model.loans.borrower[new] == b).sum()) for b in range(7)}
        # a member rejects arrears elsewhere as its own, and a past default only near the cut-off; every platform
        # knows its own book
        expected = {0: 0, 1: 1, 2: 1, 3: 0, 4: 0, 5: 1, 6: 0} if member else {0: 1, 1: 1, 2: 1, 3: 0, 4: 0, 5: 1, 6: 1}
        assert got == expected, member
        assert (model.loans.platform[new] == 0).all()
        assert (model.loans.is_reported[new] == member).all()  # a member reports what it lends
        # the past default is a price: the member charges it the APR of a score lower by the default penalty
        (a,), (b,) = loans_of(model, 1)[-1:], loans_of(model, 5)[-1:]
        gap = model.loans.apr[a] - model.loans.apr[b]
        assert gap == pytest.approx(terms.apr_slope[0] * uw.bureau_default_penalty if member else 0.0)


def test_a_member_grants_a_lower_limit_to_an_applicant_with_a_bureau_record_and_offers_the_loan_that_fits():
    # one month of pay over 12 months costs about 9% of income a month; a member's limit for a record is
    # dti_limit x bureau_record_dti_factor. Borrower 0 has a record, 1 has none; both already pay 0.3 x income
    # to other reported loans, so the room is 0.1 of income without a record and less than nothing with one
    # borrower 2 asks for more than the room it has (about two-thirds of a month of pay), still a loan worth
    # taking (loan_income_min: half a month): the member offers the loan that fits its limit
    model = applicants(
        n_platforms=2, platforms={"policy": {"reports_to_bureau": True}}, borrowers={"loan_income_min": 0.5}
    )
    other = model.platforms[1]
    other.capital = other.funding = 0.0
    bs = model.borrower_state
    bs.creditworthiness[[0, 1, 2]] = 1.0
    bs.last_bureau_default[0] = -1
    for b in (0, 1):
        add_loan(model, borrower=b, platform=1, principal=0.3 * WAGE * 12, apr=0.0, reported=True)
    add_loan(model, borrower=2, platform=1, principal=0.34 * WAGE * 12, apr=0.0, reported=True)
    terms, _ = run_phase(model)
    assert len(loans_of(model, 0)) == 1  # the record's limit (0.3 of income) leaves no room
    assert len(loans_of(model, 1)) == 2  # 0.1 of income is room for the whole request
    assert len(loans_of(model, 2)) == 2
    fit = loans_of(model, 2)[-1]
    room = terms.dti_limit[0] * WAGE - 0.34 * WAGE
    assert model.loans.instalment[fit] == pytest.approx(room)  # the loan that fits the limit, not the one asked
    assert 0.5 * WAGE < model.loans.principal[fit] < WAGE


def test_a_failed_platforms_book_is_reported_when_the_regulator_says_so():
    for covered in (False, True):
        model = applicants(n_platforms=2, regulator={"report_failed_books": covered})
        rows = [add_loan(model, borrower=0, platform=1), add_loan(model, borrower=1, platform=0)]
        model.platforms[1].exit(FAILED, 0)
        run_phase(model)
        assert model.loans.is_reported[rows].tolist() == [covered, False]
        # a missed payment on it is then a record every member sees
        assert not model.borrower_state.has_bureau_record[:2].any()


def test_a_borrower_carries_the_highest_collection_pressure_of_their_live_loans():
    model = applicants()
    rows = [add_loan(model, borrower=0), add_loan(model, borrower=0), add_loan(model, borrower=1)]
    model.loans.pressure[rows] = [0.2, 0.7, 0.4]
    run_phase(model)
    np.testing.assert_allclose(model.borrower_state.max_pressure[:3], [0.7, 0.4, 0.0])


def test_a_platform_knows_when_its_own_borrower_is_on_a_payment_holiday():
    # a holiday is reported as current (CARES Act s. 4021), so no bureau record; the lender that granted it knows
    model = applicants(n_platforms=2)
    other = model.platforms[1]
    other.capital = other.funding = 0.0  # every applicant applies to platform 0
    bs = model.borrower_state
    bs.creditworthiness[[0, 1]] = 0.5  # -1.5 with a record platform 0 knows of: under the cut-off (-1)
    on_holiday = add_loan(model, borrower=0, platform=0)
    model.loans.holiday_left[on_holiday] = 2
    add_loan(model, borrower=1, platform=0)  # current, paying
    run_phase(model)
    assert len(loans_of(model, 0)) == 1 and len(loans_of(model, 1)) == 2
    assert not bs.has_bureau_record[[0, 1]].any()


def test_a_need_at_the_loan_limit_is_met_informally_as_an_unserved_applicants_is():
    model = applicants(
        borrowers={"max_loans": 1, "demand_monthly": 0.0, "need_apply": 1.0, "informal_limit_months": 1.0}
    )
    bs = model.borrower_state
    bs.savings[:] = 0.0
    set_essentials(model, range(bs.n), 500.0)  # no need: essentials within income
    set_essentials(model, [0, 1, 2], 1300.0)  # a need of 300 this month
    add_loan(model, borrower=0)  # at the limit: may not apply
    add_loan(model, borrower=3)  # at the limit, no need
    bs.creditworthiness[2] = 2.0  # served by a platform
    run_phase(model)
    np.testing.assert_allclose(bs.informal_debt[:4], [300.0, 300.0, 0.0, 0.0])  # 1 was refused by every platform
    assert len(loans_of(model, 2)) == 1 and len(loans_of(model, 0)) == 1
    assert model.records.flows.applications == 2  # borrowers 1 and 2 applied; 0 went straight to informal credit
    assert model.records.ledger.informal_lent == pytest.approx(600.0)

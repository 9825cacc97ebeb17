"""Phase 6 (sim/repayment.py) on hand-made borrowers and loans: cash for debt, payments, savings,
family help, strategic default, payment holidays, recoveries and loans paid off.

Each test sets one borrower's month by hand on a quiet market (tests/phases.py: no inattention, no
strategic default, no income or expense shocks) and runs phase 6 alone, so every amount follows
from the set-up, not from random draws.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.loans import CHARGED_OFF, LIVE, REPAID
from sim.policies import SERVICER_CONDUCT, expected_pressure
from sim.repayment import collect_repayments
from tests.phases import add_loan, controlled_market, open_month, set_essentials


def quiet(**changes):
    """A quiet market in which every borrower earns 1,000 a month and spends 600 of it on essentials."""
    borrowers = {"inattention": 0.0, **changes.pop("borrowers", {})}
    economy = {"income_growth_annual": 0.0, **changes.pop("economy", {})}  # prices stay at one
    model = controlled_market(borrowers=borrowers, economy=economy, **changes)
    bs = model.borrower_state
    bs.wage[:] = 1000.0
    bs.income[:] = 1000.0
    bs.essentials_share[:] = 0.6
    set_essentials(model, range(bs.n), 600.0)
    return model


def run_phase(model):
    terms, now = open_month(model)
    return collect_repayments(model.borrower_state, model.loans, model.platforms, terms, now, model.records)


def owing(model, amount: float, borrower: int = 0, platform: int = 0) -> int:
    """A loan with ``amount`` of principal past due now, at zero interest, in its last month."""
    row = add_loan(model, borrower=borrower, platform=platform, principal=amount, apr=0.0, term=1, dpd=30)
    model.loans.due_principal[row] = amount
    model.loans.months_left[row] = 0
    return row


def test_the_budget_is_the_surplus_plus_part_of_savings_plus_borrow_to_repay_cash():
    model = quiet()
    bs = model.borrower_state
    bs.savings[0] = 300.0
    bs.btr_cash[0] = 150.0
    row = owing(model, 5000.0)
    run_phase(model)
    drawdown = model.config.borrowers.savings_drawdown
    paid = 400.0 + drawdown * 300.0 + 150.0
    assert 5000.0 - model.loans.due_principal[row] == pytest.approx(paid)
    assert bs.savings[0] == pytest.approx(300.0 * (1 - drawdown))
    assert bs.btr_cash[0] == 0.0  # proceeds are used within the month
    assert bs.shortfall[0] == pytest.approx(5000.0 - paid)
    assert not bs.is_in_hardship[0]
    led = model.records.ledger
    assert led.borrower_paid == pytest.approx(paid) and led.repaid == pytest.approx(paid)


def test_a_deficit_is_drawn_from_savings_and_beyond_them_is_hardship():
    model = quiet()
    bs = model.borrower_state
    set_essentials(model, [0, 1], 1200.0)  # 200 short each month
    bs.savings[[0, 1]] = [500.0, 100.0]
    run_phase(model)
    assert bs.savings[0] == pytest.approx(300.0) and not bs.is_in_hardship[0]
    assert bs.savings[1] == 0.0 and bs.is_in_hardship[1] and bs.hardship_months[1] == 1


def test_unspent_surplus_is_partly_saved_up_to_the_savings_target():
    model = quiet()
    bs = model.borrower_state
    cfg = model.config.borrowers
    owing(model, 100.0)  # borrower 0 pays 100 of a surplus of 400
    bs.savings[1] = cfg.savings_months * 1000.0 - 10.0  # 10 below target
    run_phase(model)
    assert bs.savings[0] == pytest.approx(cfg.saving_rate * 300.0)
    assert bs.savings[1] == pytest.approx(cfg.savings_months * 1000.0)


def test_unspent_borrow_to_repay_proceeds_are_kept_as_savings():
    model = quiet()
    bs = model.borrower_state
    set_essentials(model, [0], 1000.0)  # no surplus
    bs.btr_cash[0] = 500.0
    owing(model, 200.0)
    run_phase(model)
    assert bs.savings[0] == pytest.approx(300.0)


def test_under_collection_pressure_a_borrower_raises_family_help_for_what_they_cannot_pay():
    model = quiet(behaviour={"mobilisation": 2.0, "support_replenish_monthly": 0.0})
    bs = model.borrower_state
    bs.max_pressure[[0, 1]] = [0.5, 0.5]
    owing(model, 1000.0, borrower=0)  # needs 600 beyond the surplus; can raise 0.5 x 2 x 1,000
    owing(model, 100.0, borrower=1)  # pays from the surplus: no help needed
    run_phase(model)
    book = model.loans
    assert book.due_principal[0] == pytest.approx(0.0) and book.due_principal[1] == pytest.approx(0.0)
    assert bs.support[0] == pytest.approx(1.0 - 600.0 / 2000.0)  # the share of the help stock used
    assert bs.support[1] == 1.0
    assert bs.is_in_hardship[0] and not bs.is_in_hardship[1]


def test_family_help_is_limited_by_pressure_above_the_unpressed_share_and_what_is_left_of_support():
    # help_unpressed of the stock (mobilisation x wage = 2,000) is there for any debt due, pressure taps up to its
    # own share (at most all of it); support is the share of the stock still there
    model = quiet(behaviour={"mobilisation": 2.0, "help_unpressed": 0.3, "support_replenish_monthly": 0.0})
    bs = model.borrower_state
    bs.max_pressure[[0, 1, 2, 3]] = [0.0, 0.1, 0.5, 3.0]  # pressure above one counts as one
    bs.support[3] = 0.25
    rows = [owing(model, 5000.0, borrower=b) for b in range(4)]
    run_phase(model)
    paid = 5000.0 - model.loans.due_principal[rows]
    surplus = 400.0
    help_raised = [0.3 * 2000.0, 0.3 * 2000.0, 0.5 * 2000.0, 0.25 * 2000.0]
    np.testing.assert_allclose(paid, [surplus + h for h in help_raised])
    np.testing.assert_allclose(bs.support[[0, 1, 2, 3]], [0.7, 0.7, 0.5, 0.0])
    assert bs.is_in_hardship[[0, 1, 2, 3]].all()


def test_used_support_replenishes_towards_full():
    model = quiet(behaviour={"support_replenish_monthly": 0.1})
    bs = model.borrower_state
    bs.support[0] = 0.5
    run_phase(model)
    assert bs.support[0] == pytest.approx(0.5 + 0.1 * 0.5)


def test_a_borrower_who_withholds_an_affordable_payment_pays_nothing_and_is_counted_strategic():
    model = quiet()
    bs = model.borrower_state
    bs.willingness[0] = -100.0  # withholds whatever it costs
    withheld = owing(model, 200.0, borrower=0)
    paid = owing(model, 200.0, borrower=1)
    run_phase(model)
    assert model.loans.due_principal[withheld] == 200.0 and model.loans.state[paid] == REPAID
    assert model.records.flows.strategic == 1
    assert bs.shortfall[0] == 0.0  # withheld, not short of cash: no push to borrow to repay


def test_a_loan_paid_off_at_the_end_of_its_term_is_repaid_and_a_residue_under_a_fen_forgiven():
    model = quiet()
    book = model.loans
    done = owing(model, 100.0)
    residue = owing(model, 100.0, borrower=1)
    book.due_principal[residue] = 99.995  # 0.005 of principal outstanding but not due
    running = owing(model, 100.0, borrower=2)
    book.months_left[running] = 3
    run_phase(model)
    assert book.state[done] == REPAID and book.state[residue] == REPAID
    assert book.state[running] == LIVE
    assert model.records.ledger.forgiven_principal == pytest.approx(0.005)
    assert model.platforms[0].flows.principal_forgiven == pytest.approx(0.005)
    assert book.principal[residue] == 0.0


def test_charged_off_balances_are_paid_after_live_loans_and_only_while_serviced():
    model = quiet()
    book = model.loans
    live = owing(model, 300.0)
    recovering = add_loan(model, principal=0.0)
    book.state[recovering] = CHARGED_OFF
    book.recovery_balance[recovering] = 1000.0
    book.recovery_principal[recovering] = 60.0  # of the 1,000 owed at charge-off, 60 was principal
    book.recovery_due[recovering] = 200.0
    book.recovery_months_left[recovering] = 5
    # collected under standard conduct past M3, whose pressure asks exactly recovery_due (phase 8 sets it)
    book.pressure[recovering] = expected_pressure(SERVICER_CONDUCT, model.config.behaviour, bucket=3)
    run_phase(model)  # surplus 400: 300 to the live loan first, 100 to recovery
    assert book.due_principal[live] == pytest.approx(0.0)
    assert book.recovery_balance[recovering] == pytest.approx(900.0)
    rec = model.records
    assert rec.ledger.recovered == pytest.approx(100.0)
    # the recovery repays the charged-off principal first (losses are on principal), the rest is charges
    assert rec.flows.recoveries == pytest.approx(60.0) and rec.flows.recovered_charges == pytest.approx(40.0)
    assert book.recovery_principal[recovering] == 0.0
    assert model.platforms[0].flows.recoveries == pytest.approx(60.0)
    assert model.platforms[0].flows.recovered_charges == pytest.approx(40.0)


def test_nothing_is_recovered_for_a_failed_platform_nobody_services():
    model = quiet(platforms={"on_failure": "unserviced"})
    book = model.loans
    recovering = add_loan(model, principal=0.0)
    book.state[recovering] = CHARGED_OFF
    book.recovery_balance[recovering] = 1000.0
    book.recovery_due[recovering] = 200.0
    book.recovery_months_left[recovering] = 5
    model.platforms[0].exit("failed", 0)
    run_phase(model)
    assert book.recovery_balance[recovering] == 1000.0


def test_payments_on_overdue_loans_count_as_collected_overdue():
    model = quiet()
    overdue = owing(model, 100.0)
    current = add_loan(model, borrower=1, principal=100.0, apr=0.0, term=1)
    model.loans.due_principal[current] = 100.0
    run_phase(model)
    assert model.records.flows.collected_overdue == pytest.approx(100.0)
    assert model.platforms[0].flows.collected_overdue == pytest.approx(100.0)
    assert model.loans.state[overdue] == REPAID


def shock_market(duration: int = 6, **forbearance):
    return quiet(
        economy={"shocks": [{"start": 1, "duration": duration, "declared": True}]},
        regulator={"forbearance": {"enabled": True, "holiday_months": 3, "max_dpd": 30, **forbearance}},
    )


def test_in_a_declared_shock_the_loans_of_jobless_borrowers_at_most_max_dpd_behind_go_on_holiday():
    model = shock_market()
    bs, book = model.borrower_state, model.loans
    bs.is_employed[[0, 1, 2, 3]] = False
    current = add_loan(model, borrower=0)
    early = add_loan(model, borrower=1, dpd=30, due_principal=100.0)
    late = add_loan(model, borrower=2, dpd=60, due_principal=100.0)
    had = add_loan(model, borrower=3)
    book.had_holiday[had] = True
    employed = add_loan(model, borrower=4)
    billing = run_phase(model)
    on = billing.on_holiday
    assert on[current] and on[early]
    assert not on[late] and not on[had] and not on[employed]
    assert book.holiday_left[current] == 2  # 3 months granted, the first one this month
    assert model.records.flows.holidays == 2
    # the other three (the contract rate runs on past-due principal too under the baseline's flat fee)
    assert model.records.ledger.interest_billed == pytest.approx(3 * 1000.0 * 0.24 / 12)
    # by default the lender bears a holiday's interest: waived, and counted as what relief cost
    waived = 2 * 1000.0 * 0.24 / 12
    assert model.records.ledger.holiday_interest_waived == pytest.approx(waived)
    assert model.records.flows.relief_cost == pytest.approx(waived)


def test_no_holidays_outside_a_declared_shock_or_without_a_mandate():
    for case in ("no mandate", "undeclared"):
        model = quiet(
            economy={"shocks": [{"start": 1, "duration": 6, "declared": case != "undeclared"}]},
            regulator={"forbearance": {"enabled": case != "no mandate"}},
        )
        model.borrower_state.is_employed[0] = False
        row = add_loan(model)
        billing = run_phase(model)
        assert not billing.on_holiday[row] and model.records.flows.holidays == 0, case


def holidays_over_months(model, row: int, employed_by_month: list[bool]) -> tuple[list[bool], int]:
    """Borrower 0's loan ``row`` on holiday in each month, and the holidays granted over the months."""
    on_holiday, granted = [], 0
    for employed in employed_by_month:
        model.borrower_state.is_employed[0] = employed
        on_holiday.append(bool(run_phase(model).on_holiday[row]))
        granted += model.records.flows.holidays
        model.steps += 1  # the next month (phase 6 alone does not move the clock)
    return on_holiday, granted


def test_a_holiday_is_renewed_while_the_hardship_lasts_up_to_the_most_months_per_loan_and_billed_after_it():
    # a jobless borrower's loan through a 9-month declared shock: a 3-month holiday renewed in its last month,
    # up to max_holiday_months (6), then billed although the borrower is still jobless
    model = shock_market(duration=9, max_holiday_months=6)
    row = add_loan(model)
    assert holidays_over_months(model, row, [False] * 9) == ([True] * 6 + [False] * 3, 1)  # renewals not counted
    assert model.loans.holiday_months[row] == 6


def test_a_holiday_ends_with_the_hardship_and_a_loan_is_not_granted_another():
    # back at work (and not short of essentials) in the second month: the holiday runs out after its 3 months;
    # the borrower loses the job again later in the same shock, but a loan is granted a holiday once
    model = shock_market(duration=9, max_holiday_months=12)
    row = add_loan(model)
    employed = [False, True, True, True, False, False, False, False, False]
    assert holidays_over_months(model, row, employed) == ([True] * 3 + [False] * 6, 1)
    assert model.loans.holiday_months[row] == 3


def test_a_borrower_in_hardship_with_a_job_gets_a_holiday_and_one_without_hardship_does_not():
    # the mandate is for a hardship the borrower attests (CARES Act s. 4022), not for job loss alone
    model = shock_market()
    bs = model.borrower_state
    bs.is_in_hardship[0] = True  # employed, but short of essentials and debts last month
    strained, fine = add_loan(model, borrower=0), add_loan(model, borrower=1)
    on = run_phase(model).on_holiday
    assert on[strained] and not on[fine]


def test_on_holiday_a_borrower_whose_income_covers_it_keeps_paying_the_instalment_as_prepaid_principal():
    # income 1,000 less essentials 600 leaves 400: borrower 0 pays the suspended instalment in full; borrower 1
    # (essentials 900) pays the 100 left; borrower 2 (essentials 1,000) nothing; with keep_paying off, nobody pays
    for keep_paying in (True, False):
        model = shock_market(keep_paying=keep_paying)
        bs, book = model.borrower_state, model.loans
        bs.is_employed[[0, 1, 2]] = False
        set_essentials(model, [1], 900.0)
        set_essentials(model, [2], 1000.0)
        rows = [add_loan(model, borrower=b, apr=0.0, term=10) for b in (0, 1, 2)]  # instalment 100 at 0%
        run_phase(model)
        paid = [1000.0 - book.principal[r] for r in rows]
        expected = [100.0, 100.0, 0.0] if keep_paying else [0.0, 0.0, 0.0]
        np.testing.assert_allclose(paid, expected, atol=1e-9)
        assert (book.due_principal[rows] == 0.0).all() and (book.holiday_left[rows] == 2).all()
        led = model.records.ledger
        assert led.repaid == pytest.approx(sum(expected)) and led.borrower_paid == pytest.approx(sum(expected))
        assert sum(p.flows.principal_repaid for p in model.platforms) == pytest.approx(sum(expected))


def test_prepaid_instalments_on_holiday_take_what_income_leaves_shared_over_the_loans_on_holiday():
    # 400 left for two suspended instalments of 300 each: each gets 200
    model = shock_market()
    model.borrower_state.is_employed[0] = False
    a, b = (add_loan(model, borrower=0, principal=3000.0, apr=0.0, term=10) for _ in range(2))
    run_phase(model)
    np.testing.assert_allclose([3000.0 - model.loans.principal[r] for r in (a, b)], [200.0, 200.0])


def test_a_borrower_who_pays_every_instalment_in_full_is_never_charged_off():
    """One instalment missed, then exactly one instalment paid every month, for the rest of the term.

    Payments go to penalty first (the contract order), so the instalment paid never clears the penalty
    that the old arrears keep accruing; counted by what went to interest and principal, such a loan would
    roll 30 days a month and be charged off while paying. Fees do not make a loan delinquent: what the
    borrower paid counts against the instalments, so the loan stays one instalment behind and is repaid.
    """
    from sim.delinquency import account_delinquency
    from sim.workout import restructure_and_charge_off

    model = quiet(months=14, platforms={"policy": {"penalty": {"rule": "flat", "rate_daily": 0.003}}})
    book = model.loans
    row = add_loan(model, principal=1000.0, term=12, dpd=30)
    inst = float(book.instalment[row])
    book.due_principal[row] = inst - 20.0  # the missed instalment
    book.due_interest[row] = 20.0
    book.months_left[row] = 11
    set_essentials(model, [0], 1000.0 - inst)  # this month's surplus is exactly one instalment
    for month in range(12):
        terms, now = open_month(model)
        billing = collect_repayments(model.borrower_state, book, model.platforms, terms, now, model.records)
        assert model.records.ledger.penalty_paid > 0 or month == 0  # the penalty is paid first
        account_delinquency(model.borrower_state, book, model.platforms, terms, billing, now, model.records)
        restructure_and_charge_off(model.borrower_state, book, model.platforms, terms, now, model.records)
        model.steps += 1  # the next month (the phases alone do not move the clock)
        if book.state[row] != LIVE:
            break
        assert book.dpd[row] <= 30, f"month {month}: {book.dpd[row]} days past due while paying in full"
    assert book.state[row] != CHARGED_OFF
    assert model.records.flows.new_defaults == 0


def test_a_holidays_interest_is_capitalised_or_waived_as_the_mandate_says():
    for how in ("capitalised", "waived"):
        model = shock_market(holiday_interest=how, keep_paying=False)
        book = model.loans
        model.borrower_state.is_employed[0] = False
        row = add_loan(model, borrower=0, principal=1000.0)
        assert run_phase(model).on_holiday[row]
        led, flows = model.records.ledger, model.records.flows
        month_interest = 1000.0 * 0.24 / 12
        if how == "capitalised":  # deferred, not forgiven: the borrower pays it over the rest of the term
            assert book.principal[row] == pytest.approx(1000.0 + month_interest)
            assert led.interest_capitalised == pytest.approx(month_interest) and flows.relief_cost == 0.0
            assert book.instalment[row] > book.instalment[add_loan(model, borrower=1, principal=1000.0)]
        else:  # the lender bears it, and it is counted as what relief cost
            assert book.principal[row] == 1000.0
            assert led.holiday_interest_waived == pytest.approx(month_interest)
            assert flows.relief_cost == pytest.approx(month_interest)

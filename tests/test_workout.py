"""Phase 9 (sim/workout.py) on hand-made loans: restructuring offers, charge-offs and the recovery countdown.

Each test puts a few loans on a quiet market's book, opens the month and runs phase 9 alone
(tests/phases.py); take-up is 0 or 1, so no outcome depends on a random draw.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.loans import CHARGED_OFF, CLOSED, LIVE, annuity
from sim.workout import restructure_and_charge_off
from tests.phases import add_loan, controlled_market, open_month


def run_phase(model) -> None:
    terms, now = open_month(model)
    restructure_and_charge_off(model.borrower_state, model.loans, model.platforms, terms, now, model.records)


def restructuring_market(**restructuring):
    policy = {"enabled": True, "take_up": 1.0, "min_dpd": 30, "max_dpd": 90, **restructuring}
    return controlled_market(platforms={"policy": {"restructuring": policy}})


def overdue_loan(model, borrower: int = 0, dpd: int = 60, platform: int = 0) -> int:
    """Overdue: 200 of principal, 20 of interest and 15 of penalty past due, 800 principal outstanding."""
    return add_loan(
        model,
        borrower=borrower,
        platform=platform,
        principal=800.0,
        term=12,
        dpd=dpd,
        due_principal=200.0,
        due_interest=20.0,
        penalty=15.0,
    )


# --------------------------------------------------------------------------- charge-off


def test_a_loan_past_the_charge_off_day_moves_its_whole_balance_into_recovery():
    model = controlled_market()
    row = add_loan(model, principal=1000.0, dpd=210, due_principal=300.0, due_interest=50.0, penalty=30.0)
    run_phase(model)
    book, cfg, rec = model.loans, model.config.platforms, model.records
    owed = 1000.0 + 50.0 + 30.0
    assert book.state[row] == CHARGED_OFF
    assert book.recovery_balance[row] == pytest.approx(owed)
    assert book.recovery_due[row] == pytest.approx(cfg.recovery_due_share * owed)
    assert book.recovery_months_left[row] == cfg.recovery_months
    for name in ("principal", "due_principal", "due_interest", "penalty"):
        assert getattr(book, name)[row] == 0.0, name
    assert rec.flows.charge_offs == pytest.approx(1000.0)
    assert model.platforms[0].flows.charge_offs == pytest.approx(1000.0)
    assert model.platforms[1].flows.charge_offs == 0.0
    led = rec.ledger
    assert (led.charged_off, led.interest_charged_off, led.penalty_charged_off) == pytest.approx((1000.0, 50.0, 30.0))
    assert rec.cumulative.charged_off_owed == pytest.approx(owed)
    # losses are on principal: recoveries repay the 1,000 of principal first
    assert book.recovery_principal[row] == pytest.approx(1000.0)
    assert rec.cumulative.charged_off_principal == pytest.approx(1000.0)


def test_a_loan_at_the_charge_off_day_itself_stays_live():
    # dpd labels are upper ends of 30-day ranges: 180 is 151-180 days, charged off only past it
    model = controlled_market()
    at = add_loan(model, dpd=model.config.platforms.charge_off_dpd, due_principal=300.0)
    past = add_loan(model, dpd=model.config.platforms.charge_off_dpd + 30, due_principal=300.0)
    run_phase(model)
    assert model.loans.state[at] == LIVE and model.loans.principal[at] == 1000.0
    assert model.loans.state[past] == CHARGED_OFF


def test_without_recovery_months_a_charged_off_loan_is_closed_at_once():
    model = controlled_market(platforms={"recovery_months": 0})
    row = add_loan(model, dpd=210, due_principal=300.0)
    run_phase(model)
    assert model.loans.state[row] == CLOSED


def test_with_one_recovery_month_a_charged_off_loan_is_in_recovery_for_that_month():
    model = controlled_market(platforms={"recovery_months": 1})
    row = add_loan(model, dpd=210, due_principal=300.0)
    run_phase(model)
    assert model.loans.state[row] == CHARGED_OFF and model.loans.recovery_months_left[row] == 1


def test_recovery_months_count_down_and_the_unrecovered_balance_expires_at_the_end():
    model = controlled_market()
    book = model.loans
    row = add_loan(model, principal=0.0)
    book.state[row] = CHARGED_OFF
    book.recovery_balance[row] = 500.0
    book.recovery_months_left[row] = 2
    run_phase(model)
    assert book.state[row] == CHARGED_OFF and book.recovery_months_left[row] == 1
    assert model.records.ledger.recovery_expired == 0.0
    run_phase(model)
    assert book.state[row] == CLOSED
    assert model.records.ledger.recovery_expired == pytest.approx(500.0)


def test_a_recovery_balance_paid_down_to_under_a_fen_closes_before_its_months_run_out():
    model = controlled_market()
    book = model.loans
    paid, owing = add_loan(model, principal=0.0), add_loan(model, principal=0.0)
    book.state[[paid, owing]] = CHARGED_OFF
    book.recovery_balance[[paid, owing]] = [0.005, 500.0]
    book.recovery_months_left[[paid, owing]] = 6
    run_phase(model)
    assert book.state[paid] == CLOSED and book.state[owing] == CHARGED_OFF
    assert model.records.ledger.recovery_expired == pytest.approx(0.005)


# --------------------------------------------------------------------------- restructuring


def unemployed(model, *borrowers: int) -> None:
    model.borrower_state.is_employed[list(borrowers)] = False


def test_an_extension_waives_arrears_and_spreads_the_principal_over_the_term_plus_the_extension():
    model = restructuring_market(kind="extension", extension_months=6)
    unemployed(model, 0)
    row = overdue_loan(model)
    left = int(model.loans.months_left[row])
    run_phase(model)
    book, rec = model.loans, model.records
    assert book.state[row] == LIVE and book.is_restructured[row]
    assert book.dpd[row] == 0
    assert (book.due_principal[row], book.due_interest[row], book.penalty[row]) == (0.0, 0.0, 0.0)
    assert book.principal[row] == 800.0  # past-due principal goes back on schedule, none is written off
    assert book.months_left[row] == left + 6
    assert book.instalment[row] == pytest.approx(annuity(np.array([800.0]), np.array([0.24]), np.array([left + 6]))[0])
    assert (rec.ledger.interest_waived, rec.ledger.penalty_waived) == pytest.approx((20.0, 15.0))
    assert model.platforms[0].flows.interest_waived == pytest.approx(20.0)
    assert model.platforms[0].flows.penalty_waived == pytest.approx(15.0)
    assert rec.flows.restructured == 1 and rec.flows.writedowns == 0.0 and rec.ledger.written_down == 0.0
    # what relief cost the lender: the contract interest it waived (penalties are not a loss on the loan)
    assert rec.flows.relief_cost == pytest.approx(20.0) and rec.cumulative.restructured == 1


def test_an_instalment_restructuring_gives_at_least_its_months_but_never_shortens_a_loan():
    model = restructuring_market(kind="instalment", extension_months=24)
    unemployed(model, 0, 1)
    short = overdue_loan(model, borrower=0)
    long = overdue_loan(model, borrower=1)
    model.loans.months_left[short] = 5
    model.loans.months_left[long] = 30
    run_phase(model)
    assert model.loans.months_left[short] == 24
    assert model.loans.months_left[long] == 30


def test_a_writedown_cancels_its_share_of_the_principal_and_books_it():
    model = restructuring_market(kind="writedown", writedown_share=0.25, extension_months=6)
    unemployed(model, 0)
    row = overdue_loan(model)
    left = int(model.loans.months_left[row])
    run_phase(model)
    book, rec = model.loans, model.records
    assert book.principal[row] == pytest.approx(600.0)
    assert book.months_left[row] == left + 6
    assert rec.flows.writedowns == pytest.approx(200.0) and rec.ledger.written_down == pytest.approx(200.0)
    assert model.platforms[0].flows.writedowns == pytest.approx(200.0)
    assert rec.flows.relief_cost == pytest.approx(200.0 + 20.0)  # the principal written down and the interest waived


def test_restructuring_is_offered_only_for_hardship_within_the_days_past_due_window_and_once():
    model = restructuring_market(min_dpd=60, max_dpd=90)
    bs, book = model.borrower_state, model.loans
    unemployed(model, 0, 1, 2, 3)
    in_window = overdue_loan(model, borrower=0, dpd=60)
    at_max = overdue_loan(model, borrower=1, dpd=90)
    too_early = overdue_loan(model, borrower=2, dpd=30)
    too_late = overdue_loan(model, borrower=3, dpd=120)
    employed = overdue_loan(model, borrower=4, dpd=60)
    in_hardship = overdue_loan(model, borrower=5, dpd=60)
    bs.is_in_hardship[5] = True
    unemployed(model, 6)
    again = overdue_loan(model, borrower=6, dpd=60)
    book.is_restructured[again] = True
    run_phase(model)
    done = book.view("penalty") == 0.0
    assert done[[in_window, at_max, in_hardship]].all()
    assert not done[[too_early, too_late, employed, again]].any()
    assert model.records.flows.restructured == 3


def test_no_restructuring_when_it_is_off_declined_or_the_platform_has_failed():
    for case in ("disabled", "declined", "failed"):
        policy = {"enabled": case != "disabled", "take_up": 0.0 if case == "declined" else 1.0}
        model = restructuring_market(**policy)
        unemployed(model, 0)
        row = overdue_loan(model)
        if case == "failed":
            model.platforms[0].exit("failed", 0)
        run_phase(model)
        assert not model.loans.is_restructured[row] and model.loans.penalty[row] == 15.0, case
        assert model.records.flows.restructured == 0, case

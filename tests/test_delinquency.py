"""Phase 7 (sim/delinquency.py) on hand-made loans: days past due, penalties, rolls, cures and new defaults.

Each test puts loans in a known state after payments on a quiet market's book and runs phase 7 alone
(tests/phases.py) with the billing phase 6 would have handed over: above all what each loan paid this month,
the instalments it cleared.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.delinquency import account_delinquency
from sim.loans import LIVE, REPAID
from sim.repayment import Billing
from tests.phases import add_loan, controlled_market, open_month

FLAT = {"penalty": {"rule": "flat", "rate_daily": 0.001}}


def run_phase(model, paid=None, on_holiday=None, was_live=None):
    """Phase 7 after a phase 6 that left the book as it is and paid ``paid`` to each loan
    (none by default; ``was_live``: live before payments)."""
    book = model.loans
    terms, now = open_month(model)
    n = book.n
    billing = Billing(
        dpd_before=book.view("dpd").copy(),
        on_holiday=np.zeros(n, dtype=bool) if on_holiday is None else np.asarray(on_holiday),
        was_live=book.view("state") == LIVE if was_live is None else np.asarray(was_live),
        paid_to_instalments=np.zeros(n) if paid is None else np.asarray(paid, dtype=float),
    )
    account_delinquency(model.borrower_state, book, model.platforms, terms, billing, now, model.records)
    return now


def paid_by_row(book, amounts: dict[int, float]) -> np.ndarray:
    paid = np.zeros(book.n)
    for row, amount in amounts.items():
        paid[row] = amount
    return paid


def test_days_past_due_start_at_30_grow_by_30_unless_an_instalment_is_paid_and_fall_by_30_per_further_one():
    # dpd = max(dpd + 30 x (1 - instalments cleared), 0) while anything is past due, where a payment of 90% of
    # an instalment clears one; nothing past due (under a fen) is current
    model = controlled_market()
    book = model.loans
    # instalment of each loan: about 94.56 (1,000 over 12 months at 24%)
    new = add_loan(model, borrower=0, due_principal=50.0)  # first missed payment
    short = add_loan(model, borrower=1, dpd=60, due_principal=200.0)  # paid just under 90% of an instalment
    one = add_loan(model, borrower=2, dpd=60, due_principal=200.0)  # paid 90% of one: it counts
    three = add_loan(model, borrower=3, dpd=90, due_principal=100.0)  # paid three: 60 days off
    floor = add_loan(model, borrower=4, dpd=60, due_principal=10.0)  # paid five: days past due stop at 0
    cured = add_loan(model, borrower=5, dpd=60, due_principal=0.005)
    inst = book.instalment[one]
    assert inst == pytest.approx(94.56, abs=0.01)
    paid = paid_by_row(book, {short: 0.89 * inst, one: 0.9 * inst, three: 3 * inst, floor: 5 * inst})
    run_phase(model, paid)
    dpd = book.view("dpd")
    assert (dpd[new], dpd[short], dpd[one], dpd[three], dpd[floor], dpd[cured]) == (30, 90, 60, 30, 0, 0)
    # arrears are what is past due after payments
    np.testing.assert_allclose(book.arrears[[new, short, one, cured]], [50.0, 200.0, 200.0, 0.005])


def test_a_loan_on_holiday_keeps_its_days_past_due_and_accrues_no_penalty():
    # frozen whatever it pays, unless its arrears are paid off: then it is current (CARES Act s. 4021)
    model = controlled_market(platforms={"policy": FLAT})
    book = model.loans
    rows = [add_loan(model, borrower=b, dpd=60, due_principal=200.0) for b in range(2)]
    brought_current = add_loan(model, borrower=2, dpd=60)  # on holiday, its arrears paid off this month
    run_phase(model, on_holiday=[True, False, True])
    assert book.dpd[rows[0]] == 60 and book.penalty[rows[0]] == 0.0  # frozen, though it paid nothing
    assert book.dpd[rows[1]] == 90 and book.penalty[rows[1]] > 0.0
    assert book.dpd[brought_current] == 0


def test_penalties_accrue_on_the_past_due_amount_or_the_outstanding_loan_and_set_the_growth_rate():
    model = controlled_market(
        platforms={
            "policy": FLAT,
            "overrides": [{"platforms": [1], "set": {"penalty": {**FLAT["penalty"], "applies_to": "outstanding"}}}],
        }
    )
    book = model.loans
    past_due = add_loan(model, borrower=0, platform=0, dpd=30, due_principal=200.0, due_interest=20.0, penalty=5.0)
    whole = add_loan(model, borrower=1, platform=1, dpd=30, due_principal=200.0, due_interest=20.0, penalty=5.0)
    current = add_loan(model, borrower=2, platform=0)
    run_phase(model)
    monthly = 0.001 * 30
    assert book.penalty[past_due] == pytest.approx(5.0 + 220.0 * monthly)
    assert book.penalty[whole] == pytest.approx(5.0 + 1020.0 * monthly)  # principal 1,000 + interest due 20
    assert book.penalty[current] == 0.0
    assert book.penalty_growth[past_due] == pytest.approx(monthly)  # accrued / past-due base
    assert book.penalty_growth[whole] == pytest.approx(1020.0 * monthly / 220.0)
    accrued = (220.0 + 1020.0) * monthly
    assert model.records.flows.penalty_accrued == pytest.approx(accrued)
    assert model.records.ledger.penalty_accrued == pytest.approx(accrued)


def test_crossing_90_days_is_a_new_default_recorded_at_the_bureau_when_reported_and_calls_the_loan_in():
    model = controlled_market()
    book, bs = model.loans, model.borrower_state
    crossing = add_loan(model, borrower=0, platform=1, dpd=90, due_principal=300.0, reported=True)
    unreported = add_loan(model, borrower=1, platform=1, dpd=90, due_principal=300.0)
    already = add_loan(model, borrower=2, platform=1, dpd=120, due_principal=300.0, reported=True)
    model.platforms[1].live_loans = 4
    now = run_phase(model)  # none paid an instalment: each moves 30 days on
    flows = model.records.flows
    assert book.dpd[crossing] == 120 and book.dpd[already] == 150
    assert flows.new_defaults == 2 and flows.defaulters == 2
    assert book.has_defaulted[crossing] and book.has_defaulted[unreported] and not book.has_defaulted[already]
    assert bs.last_bureau_default[0] == now.month and bs.last_bureau_default[1] < 0
    assert model.platforms[1].flows.new_defaults == 2 and model.platforms[1].default_rate == pytest.approx(2 / 4)
    assert model.platforms[0].default_rate == 0.0
    assert model.records.cumulative.defaults == 2
    assert model.records.vintages.defaults == {(0, now.month): 2}
    # called in (accelerate_at_default): all principal is due, no months are left to bill
    assert model.config.platforms.accelerate_at_default
    for row in (crossing, unreported):
        assert book.is_accelerated[row] and book.months_left[row] == 0
        assert book.due_principal[row] == book.principal[row] == 1000.0
    assert not book.is_accelerated[already] and book.due_principal[already] == 300.0


def test_a_called_in_loan_ages_30_days_a_month_whatever_it_pays_until_it_is_paid_in_full():
    model = controlled_market()
    book = model.loans
    paying = add_loan(model, borrower=0, dpd=120, due_principal=500.0)
    paid_off = add_loan(model, borrower=1, dpd=120)  # nothing left past due: paid in full
    book.is_accelerated[[paying, paid_off]] = True
    inst = book.instalment[paying]
    run_phase(model, paid_by_row(book, {paying: 3 * inst, paid_off: 3 * inst}))
    assert book.dpd[paying] == 150 and book.dpd[paid_off] == 0


def test_without_acceleration_a_defaulted_loan_keeps_its_schedule():
    model = controlled_market(platforms={"accelerate_at_default": False})
    book = model.loans
    row = add_loan(model, dpd=90, due_principal=300.0)
    run_phase(model)
    assert book.dpd[row] == 120 and model.records.flows.new_defaults == 1
    assert not book.is_accelerated[row] and book.due_principal[row] == 300.0 and book.months_left[row] == 12


def test_rolls_and_cures_count_loans_live_at_the_start_by_bucket():
    model = controlled_market()
    book = model.loans
    # none pays an instalment: current -> M1, M1 -> M2, M2 -> M3, M3 -> M3+
    [add_loan(model, borrower=b, dpd=30 * b, due_principal=300.0) for b in range(4)]
    add_loan(model, borrower=4, dpd=60)  # a cure: nothing past due any more
    paid_off = add_loan(model, borrower=5, dpd=30)
    book.state[paid_off] = REPAID  # a cure: paid off in full this month
    new = add_loan(model, borrower=6, due_principal=300.0)  # lent this month: not in the month's denominators
    book.vintage[new] = model.month + 1
    run_phase(model, was_live=np.ones(book.n, dtype=bool))
    flows = model.records.flows
    assert book.dpd[new] == 30
    np.testing.assert_array_equal(flows.rolls, [1, 1, 1, 1])
    assert flows.cures == 2


def test_unpaid_penalty_alone_keeps_a_loan_overdue():
    # payments go to penalty first, but a loan that paid its instalment and not its penalty is still behind
    model = controlled_market()
    book = model.loans
    row = add_loan(model, dpd=30, penalty=40.0)
    run_phase(model, paid_by_row(book, {row: book.instalment[row]}))
    assert book.dpd[row] == 30 and book.arrears[row] == 40.0


def test_each_instalment_paid_beyond_the_months_one_takes_30_days_off():
    model = controlled_market()
    book = model.loans
    rows = [add_loan(model, borrower=b, dpd=120, due_principal=400.0) for b in range(4)]
    inst = book.instalment[rows[0]]
    # 1.5 instalments clear one (the month's: no change); 1.8 clear two (90% of the second counts)
    paid = paid_by_row(book, dict(zip(rows, (1.5 * inst, 1.8 * inst, 2.0 * inst, 3.0 * inst), strict=True)))
    run_phase(model, paid)
    np.testing.assert_array_equal(book.dpd[rows], [120, 90, 90, 60])


def test_each_platforms_overdue_loans_accrue_under_its_own_rule_whichever_platforms_have_none():
    model = controlled_market(platforms={"policy": FLAT})
    book = model.loans
    row = add_loan(model, platform=2, dpd=30, due_principal=200.0)  # platforms 0 and 1 have no overdue loan
    run_phase(model)
    assert book.penalty[row] == pytest.approx(200.0 * 0.001 * 30)


def test_a_penalty_set_as_a_multiple_of_the_benchmark_rate_follows_the_months_benchmark():
    rule = {"rule": "benchmark_multiple", "multiple": 4.0, "basis": "benchmark"}
    model = controlled_market(platforms={"policy": {"penalty": rule}})
    book = model.loans
    row = add_loan(model, dpd=30, due_principal=1000.0)
    now = run_phase(model)
    assert book.penalty[row] == pytest.approx(1000.0 * 4.0 * now.econ.benchmark_rate / 365.0 * 30)


def test_a_loan_that_defaulted_stays_marked_as_defaulted():
    model = controlled_market()
    book = model.loans
    row = add_loan(model, dpd=150, due_principal=300.0)
    book.has_defaulted[row] = True  # crossed 90 days two months ago
    run_phase(model)
    assert book.has_defaulted[row] and model.records.flows.new_defaults == 0


def test_a_platforms_default_rate_is_its_new_defaults_over_its_live_loans_down_to_one_loan():
    model = controlled_market()
    add_loan(model, platform=1, dpd=90, due_principal=300.0)  # pays nothing: crosses 90 days
    model.platforms[1].live_loans = 1
    run_phase(model)
    assert model.platforms[1].default_rate == 1.0


def test_restructured_and_deferred_loans_that_default_count_as_re_defaults():
    model = controlled_market()
    book = model.loans
    rows = [add_loan(model, borrower=b, dpd=90, due_principal=200.0) for b in range(3)]
    book.is_restructured[rows[0]] = True
    book.had_holiday[rows[1]] = True
    run_phase(model)
    cum = model.records.cumulative
    assert model.records.flows.new_defaults == 3
    assert (cum.restructured_defaults, cum.deferred_defaults) == (1, 1)

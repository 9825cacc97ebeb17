"""The loan book: annuity instalments, billing, payment order, compaction and growth."""

from __future__ import annotations

import numpy as np
import pytest

from sim.loans import _FIELDS, CHARGED_OFF, CLOSED, LIVE, REPAID, LoanBook, annuity, nonzero_total


def arr(*values, dtype=np.float64) -> np.ndarray:
    return np.array(values, dtype=dtype)


def add_loans(book: LoanBook, principal, apr, term, borrower=None, platform=None, month=0) -> np.ndarray:
    principal = np.asarray(principal, dtype=np.float64)
    k = len(principal)
    borrower = np.arange(k) if borrower is None else np.asarray(borrower)
    platform = np.zeros(k, dtype=np.int64) if platform is None else np.asarray(platform)
    return book.add(
        borrower,
        platform,
        principal,
        np.asarray(apr, dtype=np.float64),
        np.asarray(term),
        month,
        np.zeros(k, dtype=bool),
    )


# --------------------------------------------------------------------------- annuity


def test_annuity_matches_hand_computed_instalment():
    # 10,000 at 12% APR (1% a month) over 12 months: 10000 * 0.01 / (1 - 1.01**-12) = 888.4878...
    pay = annuity(arr(10_000.0), arr(0.12), np.array([12]))
    assert round(float(pay[0]), 2) == 888.49
    assert pay[0] == pytest.approx(10_000 * 0.01 / (1 - 1.01**-12), rel=1e-12)


def test_annuity_at_zero_rate_is_principal_over_term():
    pay = annuity(arr(1200.0, 500.0), arr(0.0, 0.0), np.array([12, 1]))
    np.testing.assert_allclose(pay, [100.0, 500.0], rtol=0, atol=1e-12)
    assert np.isfinite(pay).all()


def test_annuity_one_month_term_is_principal_plus_interest():
    pay = annuity(arr(1000.0), arr(0.24), np.array([1]))
    assert pay[0] == pytest.approx(1000.0 * 1.02, rel=1e-12)


def test_annuity_is_vectorised_over_mixed_loans():
    p, r, n = arr(10_000.0, 3000.0, 800.0), arr(0.12, 0.0, 0.36), np.array([12, 6, 3])
    pay = annuity(p, r, n)
    for i in range(3):
        assert pay[i] == pytest.approx(annuity(p[i : i + 1], r[i : i + 1], n[i : i + 1])[0], rel=1e-12)


# --------------------------------------------------------------------------- billing and payment


@pytest.mark.parametrize(
    "principal, apr, term", [(10_000.0, 0.12, 12), (3_000.0, 0.36, 3), (777.77, 0.0, 6), (52_000.0, 0.24, 24)]
)
def test_loan_billed_and_paid_in_full_amortises_to_zero_after_term(principal, apr, term):
    book = LoanBook(capacity=4)
    add_loans(book, [principal], [apr], [term])
    instalment = book.instalment[0]
    total_principal = 0.0
    for month in range(term):
        live = book.view("state") == LIVE
        bill = book.bill(live)
        # every bill but the last is the level instalment
        if month < term - 1:
            assert bill.interest[0] + bill.principal[0] == pytest.approx(instalment, rel=1e-9)
        due = book.overdue_amount().copy()
        _, _, to_prin = book.apply_payments(due)
        total_principal += to_prin[0]
        assert book.principal[0] >= 0.0
        assert book.due_principal[0] == pytest.approx(0.0, abs=1e-9)
        assert book.due_interest[0] == pytest.approx(0.0, abs=1e-9)
    assert book.months_left[0] == 0
    assert book.principal[0] == 0.0
    assert total_principal == pytest.approx(principal, rel=1e-12)
    # nothing more is billed after the term
    last = book.bill(book.view("state") == LIVE)
    assert last.interest[0] == 0.0 and last.principal[0] == 0.0


def test_bill_accrues_interest_on_all_principal_and_schedules_principal():
    book = LoanBook()
    add_loans(book, [10_000.0], [0.12], [12])
    bill = book.bill(np.array([True]))
    assert book.due_interest[0] == pytest.approx(100.0) and bill.interest[0] == pytest.approx(100.0)
    assert book.due_principal[0] == pytest.approx(888.4878867 - 100.0, abs=1e-6)
    assert bill.interest[0] + bill.principal[0] == pytest.approx(888.4878867, abs=1e-6)
    assert book.months_left[0] == 11


def test_unpaid_bills_accumulate_as_due():
    book = LoanBook()
    add_loans(book, [10_000.0], [0.12], [12])
    book.bill(np.array([True]))
    first_principal = book.due_principal[0]
    book.bill(np.array([True]))
    # contract interest runs on principal not yet due: the first month's unpaid principal is past due and
    # accrues the overdue charge instead (none here), so interest and penalty are not stacked on it
    assert book.due_interest[0] == pytest.approx(100.0 + (10_000.0 - first_principal) * 0.01)
    assert book.months_left[0] == 10


def test_past_due_principal_accrues_the_past_due_rate_not_the_contract_rate_as_well():
    book = LoanBook()
    add_loans(book, [10_000.0, 10_000.0], [0.12, 0.12], [12, 12])
    book.bill(np.array([True, True]))
    past_due = book.due_principal[0]
    bill = book.bill(np.array([True, True]), past_due_rate=np.array([0.0, 0.24]))
    not_due = 10_000.0 - past_due
    assert bill.interest[0] == pytest.approx(not_due * 0.01)
    assert bill.interest[1] == pytest.approx(not_due * 0.01 + past_due * 0.02)


def test_loan_on_holiday_is_not_billed():
    book = LoanBook()
    add_loans(book, [10_000.0, 10_000.0], [0.12, 0.12], [12, 12])
    book.holiday_left[0] = 2
    bill = book.bill(np.array([True, True]))
    assert bill.interest[0] == bill.principal[0] == 0.0 and bill.interest[1] > 0
    assert bill.on_holiday.tolist() == [True, False]
    assert book.holiday_left[0] == 1 and book.months_left[0] == 12
    assert book.bill(np.array([True, True])).on_holiday.tolist() == [True, False]  # its last holiday month
    assert book.holiday_left[0] == 0 and not book.bill(np.array([True, True])).on_holiday[0]


def test_payments_go_to_penalty_then_interest_then_principal():
    book = LoanBook()
    add_loans(book, [1000.0] * 4, [0.12] * 4, [12] * 4)
    book.principal[:4] = 1000.0
    book.due_principal[:4] = 100.0
    book.due_interest[:4] = 30.0
    book.penalty[:4] = 50.0
    paid = arr(40.0, 60.0, 120.0, 500.0)
    to_pen, to_int, to_prin = book.apply_payments(paid)
    np.testing.assert_allclose(to_pen, [40.0, 50.0, 50.0, 50.0])
    np.testing.assert_allclose(to_int, [0.0, 10.0, 30.0, 30.0])
    np.testing.assert_allclose(to_prin, [0.0, 0.0, 40.0, 100.0])  # never more than is due
    np.testing.assert_allclose(book.view("penalty"), [10.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(book.view("due_interest"), [30.0, 20.0, 0.0, 0.0])
    np.testing.assert_allclose(book.view("due_principal"), [100.0, 100.0, 60.0, 0.0])
    np.testing.assert_allclose(book.view("principal"), [1000.0, 1000.0, 960.0, 900.0])


# --------------------------------------------------------------------------- storage


def test_compact_keeps_live_and_charged_off_rows_in_order():
    book = LoanBook(capacity=16)
    states = [LIVE, REPAID, CHARGED_OFF, CLOSED, LIVE, CLOSED, REPAID, CHARGED_OFF, LIVE]
    k = len(states)
    add_loans(
        book,
        100.0 * (np.arange(k) + 1),
        np.full(k, 0.2),
        np.full(k, 6),
        borrower=np.arange(k) + 10,
        platform=np.arange(k) % 3,
    )
    book.state[:k] = states
    book.penalty[:k] = np.arange(k) * 1.5
    book.dpd[:k] = np.arange(k) * 30
    keep = [i for i, s in enumerate(states) if s in (LIVE, CHARGED_OFF)]
    before = {name: book.view(name).copy() for name in _FIELDS}
    book.compact()
    assert len(book) == len(keep)
    for name in _FIELDS:  # every field moves with its row
        np.testing.assert_array_equal(book.view(name), before[name][keep], err_msg=name)
    np.testing.assert_array_equal(book.view("borrower"), np.array(keep) + 10)


def test_compact_with_nothing_to_drop_changes_nothing():
    book = LoanBook()
    add_loans(book, [100.0, 200.0], [0.1, 0.2], [3, 6])
    book.state[1] = CHARGED_OFF
    book.compact()
    assert len(book) == 2
    np.testing.assert_array_equal(book.view("principal"), [100.0, 200.0])


def test_add_after_compact_appends_fresh_rows():
    book = LoanBook(capacity=4)
    add_loans(book, [100.0, 200.0, 300.0], [0.1] * 3, [3] * 3)
    book.penalty[:3] = 9.0
    book.state[1] = REPAID
    book.compact()
    rows = add_loans(book, [400.0], [0.1], [3], borrower=[7])
    np.testing.assert_array_equal(rows, [2])
    assert book.penalty[2] == 0.0 and book.state[2] == LIVE and book.borrower[2] == 7
    np.testing.assert_array_equal(book.view("principal"), [100.0, 300.0, 400.0])


def test_growth_beyond_capacity_keeps_existing_data():
    book = LoanBook(capacity=2)
    add_loans(book, [100.0, 200.0], [0.1, 0.2], [3, 6], borrower=[0, 1])
    book.penalty[:2] = [1.0, 2.0]
    book.dpd[:2] = [30, 60]
    rows = add_loans(
        book, np.arange(1, 2001, dtype=float), np.full(2000, 0.3), np.full(2000, 12), borrower=np.arange(2, 2002)
    )
    assert len(book) == 2002
    np.testing.assert_array_equal(rows, np.arange(2, 2002))
    assert len(book.borrower) >= 2002
    np.testing.assert_array_equal(book.view("principal")[:2], [100.0, 200.0])
    np.testing.assert_array_equal(book.view("penalty")[:2], [1.0, 2.0])
    np.testing.assert_array_equal(book.view("dpd")[:2], [30, 60])
    np.testing.assert_array_equal(book.view("borrower"), np.arange(2002))
    np.testing.assert_array_equal(book.view("principal")[2:], np.arange(1, 2001))
    assert (book.view("state") == LIVE).all()
    for name, dtype in _FIELDS.items():
        assert getattr(book, name).dtype == dtype


def test_owed_and_overdue_amount():
    book = LoanBook()
    add_loans(book, [1000.0], [0.12], [12])
    book.due_principal[0], book.due_interest[0], book.penalty[0] = 80.0, 10.0, 5.0
    assert book.owed()[0] == pytest.approx(1015.0)
    assert book.overdue_amount()[0] == pytest.approx(95.0)


# --------------------------------------------------------------------------- identities, compaction threshold, totals


def test_every_loan_gets_the_next_id_and_every_other_field_starts_at_zero():
    book = LoanBook(capacity=4)
    add_loans(book, [100.0, 200.0], [0.1, 0.2], [3, 6], borrower=[5, 6], platform=[1, 2], month=4)
    for name in _FIELDS:  # leave garbage in every field, as compaction does beyond the live rows
        getattr(book, name)[:] = 1
    book.n = 0
    rows = add_loans(book, [300.0], [0.3], [9], borrower=[7], platform=[3], month=5)
    assert book.loan_id[rows[0]] == 2 and book.next_id == 3  # ids keep counting: they follow a loan for life
    set_by_add = {"loan_id", "borrower", "platform", "vintage", "state", "principal", "original_principal", "apr"}
    set_by_add |= {"instalment", "months_left", "is_reported"}
    for name in set(_FIELDS) - set_by_add:
        assert getattr(book, name)[rows[0]] == 0, name
    assert (book.borrower[0], book.platform[0], book.vintage[0], book.months_left[0]) == (7, 3, 5, 9)
    assert book.original_principal[0] == 300.0 and book.apr[0] == 0.3 and book.state[0] == LIVE


def test_compaction_waits_until_finished_loans_are_more_than_the_given_share_of_the_rows():
    book = LoanBook()
    add_loans(book, [100.0] * 8, [0.1] * 8, [3] * 8)
    book.state[:2] = REPAID  # a quarter of the rows
    book.compact(min_dead_share=0.25)
    assert len(book) == 8
    book.state[2] = CLOSED
    book.compact(min_dead_share=0.25)
    assert len(book) == 5


def test_the_last_instalment_bills_all_remaining_principal_and_a_finished_schedule_bills_none():
    book = LoanBook()
    add_loans(book, [1000.0, 1000.0], [0.12, 0.12], [12, 12])
    book.months_left[:2] = [1, 0]
    book.principal[:2] = 500.0  # more than the schedule would have left
    bill = book.bill(np.array([True, True]))
    np.testing.assert_allclose(bill.principal, [500.0, 0.0])
    np.testing.assert_allclose(bill.interest, [5.0, 5.0])  # interest accrues while anything is owed
    assert book.months_left[0] == 0 and book.months_left[1] == 0


def test_principal_already_due_is_not_scheduled_again():
    book = LoanBook()
    add_loans(book, [10_000.0], [0.12], [12])
    book.due_principal[0] = 9_900.0  # all but 100 already past due
    bill = book.bill(np.array([True]))
    assert bill.principal[0] == pytest.approx(100.0)  # at most what is not yet due
    assert book.due_principal[0] == pytest.approx(10_000.0)


def test_loans_not_live_are_not_billed():
    book = LoanBook()
    add_loans(book, [1000.0, 1000.0], [0.12, 0.12], [12, 12])
    bill = book.bill(np.array([True, False]))
    assert bill.interest[1] == 0.0 and bill.principal[1] == 0.0 and book.months_left[1] == 12


def test_totals_skip_zero_rows_and_sum_the_rest():
    assert nonzero_total(np.array([0.0, 1.5, 0.0, -0.5, 2.0])) == 3.0
    assert nonzero_total(np.zeros(3)) == 0.0


def test_interest_capitalised_on_a_loan_past_its_last_instalment_falls_due_with_the_rest():
    book = LoanBook()
    add_loans(book, [1000.0], [0.24], [1])
    book.bill(np.array([True]), past_due_rate=np.array([0.24]))  # its one instalment: all principal due
    book.holiday_left[0] = 1
    bill = book.bill(np.array([True]), past_due_rate=np.array([0.24]), capitalise=True)
    assert bill.holiday_interest[0] == pytest.approx(1000.0 * 0.02)
    # nothing is left not yet due, so nothing is left that no instalment would ever bill
    assert book.principal[0] == pytest.approx(1020.0) and book.due_principal[0] == pytest.approx(1020.0)

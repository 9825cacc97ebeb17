"""Run one phase of a month on a hand-made state: the harness of the phase tests.

A test builds a quiet market (``tests.test_mechanisms.controlled_market``: no lending, no income or
expense shocks, always willing to pay), puts the loans it needs on the book, opens the month (phases
1-4: economy, rules, platform terms) with :func:`open_month` and calls the one phase function it tests.
Outcomes follow from the loans set up, not from random draws, so the tests hold for any seed.
"""

from __future__ import annotations

import numpy as np

from sim.flows import Month
from sim.model import LendingMarket
from sim.platforms import PlatformTerms, set_platform_terms
from sim.regulator import apply_regulation
from tests.test_mechanisms import controlled_market

__all__ = ["add_loan", "controlled_market", "open_month", "row_of", "set_essentials"]


def open_month(model: LendingMarket) -> tuple[PlatformTerms, Month]:
    """Phases 1, 2 and 4 of the model's next month (not 3: borrowers' jobs, incomes and essential spending stay as
    the test set them).

    Returns what phases 5-9 read: the platforms' terms and the month.
    """
    month = model.month + 1
    model.econ = econ = model.economy.advance(month)
    model.open_month()
    draws = model.draws.at(month)
    rules = apply_regulation(model.regulator, model.borrower_state, month, model.last_overdue_rate, draws)
    model.rules = rules
    terms = set_platform_terms(
        model.platforms, model.policy_timelines, model.regulator, econ, model.config, month, model.records.flows
    )
    return terms, Month(month, model.config, rules, econ, draws)


def add_loan(
    model: LendingMarket,
    *,
    borrower: int = 0,
    platform: int = 0,
    principal: float = 1000.0,
    apr: float = 0.24,
    term: int = 12,
    dpd: int = 0,
    due_principal: float = 0.0,
    due_interest: float = 0.0,
    penalty: float = 0.0,
    reported: bool = False,
) -> int:
    """Book one loan in the given state; returns its row."""
    book = model.loans
    row = book.add(
        np.array([borrower]),
        np.array([platform]),
        np.array([principal]),
        np.array([apr]),
        np.array([term]),
        month=0,
        is_reported=np.array([reported]),
    )[0]
    book.dpd[row] = dpd
    book.due_principal[row] = due_principal
    book.due_interest[row] = due_interest
    book.penalty[row] = penalty
    book.arrears[row] = due_principal + due_interest + penalty
    return int(row)


def row_of(model: LendingMarket, loan_id: int) -> int:
    return int(np.flatnonzero(model.loans.view("loan_id") == loan_id)[0])


def set_essentials(model: LendingMarket, who, amount: float) -> None:
    """Essential spending of borrowers ``who`` this month, and the commitment it comes from.

    Phase 3 sets ``essential_spending`` from the committed ``essentials``; the harness does not run it, so a
    test that changes what a borrower must spend sets both here (``essentials_share`` alone changes nothing
    this month: commitments adjust to it slowly).
    """
    bs = model.borrower_state
    rows = np.asarray(list(who) if not isinstance(who, np.ndarray) else who, dtype=np.int64)
    bs.essentials[rows] = amount
    bs.essential_spending[rows] = amount

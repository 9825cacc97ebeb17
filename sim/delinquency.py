"""Phase 7 of the month: days past due, penalties, cures and rolls between buckets, new defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import policies
from .loans import DAYS_PER_MONTH, EPS, LIVE, REPAID, LoanBook, nonzero_total
from .metrics import bucket_of
from .platforms import add_to_flows

if TYPE_CHECKING:
    from .borrowers import BorrowerState
    from .config import RegulatorRules
    from .economy import EconomyState
    from .flows import Cumulative, Month, MonthFlows, Records, VintageCounts
    from .platforms import Platform, PlatformTerms
    from .repayment import Billing

DEFAULT_DPD = 90  # a loan more than 90 days past due is in default (M3+), as lenders report "90+"


def account_delinquency(
    borrowers: BorrowerState,
    book: LoanBook,
    platforms: list[Platform],
    terms: PlatformTerms,
    billing: Billing,
    now: Month,
    rec: Records,
) -> None:
    """Phase 7: days past due, penalties, cures and rolls between buckets.

    Days past due count from the oldest unpaid instalment (contractual delinquency): each month
    the oldest unpaid instalment is 30 days older, and every instalment the month's payment
    clears moves it one instalment on - all of the payment, though the contract applies it to
    penalty first (fees do not make a loan delinquent). So a loan that pays nothing, or less
    than one instalment, rolls 30 days further; one that pays one instalment stays where it is;
    each further instalment paid takes 30 days off; a loan with nothing left past due is current. A payment of at least
    ``instalment_tolerance`` (90%) of an instalment counts as the instalment (the FFIEC rule).
    A loan crossing 90 days is called in (``accelerate_at_default``): all its principal falls due
    and it ages until paid in full. Loans on a payment holiday do not move, unless their arrears
    are paid off: then they are current.

    Draws: none.
    """
    live = book.view("state") == LIVE
    prev = billing.dpd_before
    arrears = book.view("due_principal") + book.view("due_interest") + book.view("penalty")
    is_over = live & (arrears > EPS)
    tolerance = now.config.platforms.instalment_tolerance
    cleared = np.floor(billing.paid_to_instalments / np.maximum(tolerance * book.view("instalment"), EPS) + 1e-9)
    dpd = np.maximum(prev + DAYS_PER_MONTH * (1.0 - cleared), 0.0)
    # a loan called in at default is all due: it ages until it is paid in full (or charged off)
    dpd = np.where(book.view("is_accelerated"), prev + DAYS_PER_MONTH, dpd)
    # the holiday as billing saw it: the counter has already moved on (in the last holiday month it reads 0)
    on_holiday = billing.on_holiday
    dpd = np.where(is_over, dpd, 0)
    # a holiday freezes the status it found, unless the arrears are paid off (CARES Act s. 4021: reported
    # as it was, or current once brought current)
    dpd = np.where(on_holiday & is_over, prev, dpd).astype(np.int16)
    book.dpd[: book.n] = np.where(live, dpd, book.view("dpd"))
    book.withheld_able[: book.n] &= book.view("dpd") > 0  # a loan current again starts afresh
    book.arrears[: book.n] = np.where(live, arrears, 0.0)

    _accrue_penalties(book, terms, is_over & ~on_holiday, now.rules, now.econ, rec)
    # transitions are counted over the loans live at the start of the month, as their denominators are
    started = billing.was_live & (book.view("vintage") < now.month)
    _count_rolls_and_defaults(
        borrowers,
        book,
        platforms,
        prev,
        live,
        started,
        now.month,
        rec.flows,
        rec.cumulative,
        rec.vintages,
        now.config.platforms.accelerate_at_default,
    )


def _accrue_penalties(
    book: LoanBook,
    terms: PlatformTerms,
    accruing: np.ndarray,
    rules: RegulatorRules,
    econ: EconomyState,
    rec: Records,
) -> None:
    """Penalties on what is past due (or outstanding), under each platform's rule and the regulator's cap."""
    plat = book.view("platform")
    penalty_acc = np.zeros(book.n)
    overdue_base = book.view("due_principal") + book.view("due_interest")
    outstanding_base = book.view("principal") + book.view("due_interest")
    for k, penalty in enumerate(terms.penalty):
        sel = np.flatnonzero(accruing & (plat == k))
        if len(sel) == 0:
            continue
        base = outstanding_base if penalty.applies_to == "outstanding" else overdue_base
        penalty_acc[sel] = policies.penalty_accrual(
            penalty,
            base[sel],
            book.view("penalty")[sel],
            book.view("dpd")[sel],
            book.view("apr")[sel],
            econ.benchmark_rate,
            rules,
        )
    book.penalty[: book.n] += penalty_acc
    book.penalty_growth[: book.n] = penalty_acc / np.maximum(overdue_base, 1.0)  # monthly rate, for priorities
    rec.flows.penalty_accrued += nonzero_total(penalty_acc)
    rec.ledger.penalty_accrued += nonzero_total(penalty_acc)


def _count_rolls_and_defaults(
    borrowers: BorrowerState,
    book: LoanBook,
    platforms: list[Platform],
    prev: np.ndarray,
    live: np.ndarray,
    started: np.ndarray,
    month: int,
    flows: MonthFlows,
    cumulative: Cumulative,
    vintages: VintageCounts,
    accelerate: bool,
) -> None:
    """Rolls and cures among loans live at the start of the month (``started``); new defaults (crossing 90 days),
    called in when ``accelerate``."""
    b_prev = bucket_of(prev)
    b_new = bucket_of(book.view("dpd"))
    for j in range(4):
        flows.rolls[j] = int((started & (b_prev == j) & (b_new == j + 1) & live).sum())
    # a cure: overdue at the start, current at the end - or paid off in full
    cured = (live & (b_new == 0)) | (book.view("state") == REPAID)
    flows.cures = int((started & (prev > 0) & cured).sum())
    new_default = live & (prev <= DEFAULT_DPD) & (book.view("dpd") > DEFAULT_DPD)
    flows.new_defaults = int(new_default.sum())
    flows.strategic_defaults = int((new_default & book.view("withheld_able")).sum())
    flows.defaulters = int(np.unique(book.view("borrower")[new_default]).size)
    cumulative.defaults += flows.new_defaults
    # re-default of relief: a restructured loan, or one given a holiday, in default later
    cumulative.restructured_defaults += int((new_default & book.view("is_restructured")).sum())
    cumulative.deferred_defaults += int((new_default & book.view("had_holiday")).sum())
    book.has_defaulted[: book.n] |= new_default
    if accelerate:
        called = np.flatnonzero(new_default)
        book.due_principal[called] = book.principal[called]
        book.months_left[called] = 0
        book.is_accelerated[called] = True
    reported_default = new_default & book.view("is_reported")
    borrowers.last_bureau_default[book.view("borrower")[reported_default]] = month
    plat = book.view("platform")
    # every lender remembers who defaulted on it (its own book), reporting or not
    np.bitwise_or.at(
        borrowers.defaulted_with,
        book.view("borrower")[new_default],
        np.left_shift(np.uint64(1), plat[new_default].astype(np.uint64)),
    )
    add_to_flows(platforms, plat[new_default], new_defaults=None)
    nd = np.bincount(plat[new_default], minlength=len(platforms))
    for p in platforms:
        p.default_rate = nd[p.index] / max(p.live_loans, 1)
    if new_default.any():
        vintages.add_defaults(month, book.view("vintage")[new_default])


__all__ = ["DEFAULT_DPD", "account_delinquency"]

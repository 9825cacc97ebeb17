"""Phase 5 of the month: credit demand, applications, scoring, bureau checks, affordability, new loans."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .draws import Purpose
from .loans import EPS, LIVE, LoanBook, annuity
from .platforms import add_to_flows

if TYPE_CHECKING:
    from .borrowers import BorrowerState
    from .flows import Month, Records
    from .platforms import Platform, PlatformTerms


def originate_loans(
    borrowers: BorrowerState, book: LoanBook, platforms: list[Platform], terms: PlatformTerms, now: Month, rec: Records
) -> None:
    """Phase 5: credit demand, applications, scoring, bureau checks, affordability, new loans.

    Borrowers apply for consumption credit, or - when short of cash last month - to repay
    (borrowing to repay). Each applicant picks a platform by size and reputation; the platform
    sees a noisy score (less noisy for bureau members, which also see bureau records and
    reported loans elsewhere), prices by grade under the APR cap, checks the visible
    debt-to-income and lends within its funds. A rejected applicant tries another platform, up to
    ``application_rounds`` in the month.

    Draws: see ``_demand``; per application round (the sub-key), ``PLATFORM_CHOICE`` and ``SCORING_ERROR``
    per applicant.
    """
    cfg, econ, flows = now.config, now.econ, rec.flows
    borrower_cfg = cfg.borrowers
    n = borrowers.n
    wants, wants_btr, amount, term = _demand(borrowers, book, now)
    live = book.view("state") == LIVE
    lb = book.view("borrower")[live]

    stated_income = np.where(
        borrowers.is_employed, borrowers.income, borrowers.wage * econ.income_level
    )  # what an applicant declares
    # debt visible to each platform: its own loans, plus all reported loans for members
    inst = book.view("instalment")[live]
    loan_platform = book.view("platform")[live].astype(np.int64)
    reported = book.view("is_reported")[live]
    reported_inst = np.bincount(lb, weights=inst * reported, minlength=n)

    budget = terms.lending_budget.copy()
    weight = terms.choice_weight.copy()
    n_platforms = len(platforms)
    applicants = np.flatnonzero(wants)
    flows.applications += len(applicants)
    for round_ in range(borrower_cfg.application_rounds):
        if len(applicants) == 0 or weight.sum() <= 0:
            break
        # each applicant's platform, with probability proportional to its weight (inversion of a keyed uniform)
        u_pick = now.draws.uniform(Purpose.PLATFORM_CHOICE, applicants, round_)
        cw = np.cumsum(weight)
        k = np.minimum(np.searchsorted(cw / cw[-1], u_pick, side="right"), n_platforms - 1)
        eps = now.draws.normal(Purpose.SCORING_ERROR, applicants, round_)
        score = (
            borrowers.creditworthiness[applicants]
            + terms.scoring_noise_sd[k] * eps
            - terms.bureau_flag_penalty[k] * borrowers.has_bureau_record[applicants]
        )
        apr_req = terms.apr_base[k] + terms.apr_slope[k] * np.maximum(terms.best_grade_score[k] - score, 0.0)
        # own-platform and own-reported instalments of each applicant at the chosen platform
        pos = np.full(n, -1)
        pos[applicants] = np.arange(len(applicants))
        sel = pos[lb] >= 0
        own = np.zeros(len(applicants))
        own_rep = np.zeros(len(applicants))
        match = sel & (loan_platform == k[np.maximum(pos[lb], 0)])
        np.add.at(own, pos[lb[match]], inst[match])
        np.add.at(own_rep, pos[lb[match]], (inst * reported)[match])
        visible = own + terms.is_reporting[k] * (reported_inst[applicants] - own_rep)
        apr = np.minimum(apr_req, terms.apr_cap)
        new_inst = annuity(amount[applicants], apr, term[applicants])
        income_checked = np.where(terms.verifies_income[k], borrowers.income[applicants], stated_income[applicants])
        ok = (
            (score >= terms.cutoff[k])
            & ((apr_req <= terms.apr_cap) | terms.lends_at_cap[k])
            & (visible + new_inst <= terms.dti_limit[k] * income_checked)
        )
        ok &= _within_budget(np.where(ok, amount[applicants], 0.0), k, budget)
        idx = applicants[ok]
        if len(idx):
            new = idx, k[ok], amount[idx], apr[ok], term[idx], terms.is_reporting[k[ok]], wants_btr[idx]
            _book_new_loans(book, platforms, *new, borrowers, now.month, rec)
            budget -= np.bincount(k[ok], weights=amount[idx], minlength=n_platforms)
            weight = weight * (budget > 0)
        applicants = applicants[~ok]


def _demand(
    borrowers: BorrowerState, book: LoanBook, now: Month
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Who applies this month, who of them to repay other loans, for how much and how long.

    Also refreshes what the bureau shows of each borrower and the highest collection pressure on
    them, which push borrowers who cannot pay towards borrowing elsewhere.

    Draws: ``DEMAND`` and ``BORROW_TO_REPAY`` per borrower; ``LOAN_AMOUNT`` and ``LOAN_TERM`` per applicant.
    """
    cfg, econ, month = now.config, now.econ, now.month
    borrower_cfg = cfg.borrowers
    n = borrowers.n
    who = np.arange(n)
    u_demand = now.draws.uniform(Purpose.DEMAND, who)
    u_btr = now.draws.uniform(Purpose.BORROW_TO_REPAY, who)
    live = book.view("state") == LIVE
    borrower = book.view("borrower")
    lb = borrower[live]
    n_loans = np.bincount(lb, minlength=n)
    over_reported = live & book.view("is_reported") & (book.view("dpd") > 0)
    borrowers.has_bureau_record = (np.bincount(borrower[over_reported], minlength=n) > 0) | (
        month - borrowers.last_bureau_default < now.rules.bureau_record_months
    )
    pressure_b = np.zeros(n)
    np.maximum.at(pressure_b, lb, book.view("pressure")[live])
    borrowers.max_pressure = pressure_b

    p_btr = np.clip(
        borrower_cfg.borrow_to_repay * (1.0 - borrowers.literacy) + cfg.behaviour.pressure_borrow_push * pressure_b,
        0.0,
        1.0,
    )
    wants_btr = (borrowers.shortfall > EPS) & (u_btr < p_btr)
    wants = (wants_btr | (u_demand < borrower_cfg.demand_monthly)) & (n_loans < borrower_cfg.max_loans)
    # amounts and terms, for applicants only (zero for the others)
    applicants = np.flatnonzero(wants)
    wage_now = borrowers.wage[applicants] * econ.income_level
    span = borrower_cfg.loan_income_max - borrower_cfg.loan_income_min
    consumption_amount = wage_now * (
        borrower_cfg.loan_income_min + span * now.draws.uniform(Purpose.LOAN_AMOUNT, applicants)
    )
    btr_amount = np.clip(
        borrower_cfg.btr_amount_cover * borrowers.shortfall[applicants],
        borrower_cfg.btr_amount_min * wage_now,
        borrower_cfg.loan_income_max * wage_now,
    )
    amount = np.zeros(n)
    amount[applicants] = np.where(wants_btr[applicants], btr_amount, consumption_amount)
    terms = np.asarray(cfg.platforms.term_months)
    cum = np.cumsum(cfg.platforms.term_weights)
    u_term = now.draws.uniform(Purpose.LOAN_TERM, applicants)
    term = np.zeros(n, dtype=terms.dtype)
    term[applicants] = terms[np.minimum(np.searchsorted(cum / cum[-1], u_term, side="right"), len(terms) - 1)]
    if borrower_cfg.btr_term_months is not None:
        term = np.where(wants_btr, borrower_cfg.btr_term_months, term)
    return wants, wants_btr, amount, term


def _within_budget(amount: np.ndarray, platform: np.ndarray, budget: np.ndarray) -> np.ndarray:
    """Which requests fit in their platform's budget, first come first served (applicant order is random)."""
    order = np.argsort(platform, kind="stable")
    cum = np.cumsum(amount[order])
    starts = np.searchsorted(platform[order], np.arange(len(budget)))
    before = np.r_[0.0, cum][starts]
    within = np.empty(len(amount), dtype=bool)
    within[order] = cum - before[platform[order]] <= budget[platform[order]]
    return within


def _book_new_loans(
    book: LoanBook,
    platforms: list[Platform],
    idx: np.ndarray,
    k: np.ndarray,
    amount: np.ndarray,
    apr: np.ndarray,
    term: np.ndarray,
    reported: np.ndarray,
    is_btr: np.ndarray,
    borrowers: BorrowerState,
    month: int,
    rec: Records,
) -> None:
    flows, ledger, cumulative, vintages = rec.flows, rec.ledger, rec.cumulative, rec.vintages
    # a borrower takes at most one loan a month, so its number is the count of its earlier loans
    book.add(idx, k, amount, apr, term, month, reported, seq=borrowers.loans_taken[idx])
    borrowers.loans_taken[idx] += 1
    # borrowing-to-repay proceeds are cash for this month's payments; consumption loans are spent
    np.add.at(borrowers.btr_cash, idx[is_btr], amount[is_btr])
    add_to_flows(platforms, k, originations=None, originated_amount=amount)
    flows.originations += len(idx)
    cumulative.originations += len(idx)
    flows.origination_amount += float(amount.sum())
    flows.btr_loans += int(is_btr.sum())
    ledger.lent += float(amount.sum())
    vintages.add_originations(month, len(idx))


__all__ = ["originate_loans"]

"""Phase 5 of the month: credit demand, applications, scoring, bureau checks, affordability, new loans."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import policies
from .draws import CONSTRUCTION, Purpose
from .loans import CHARGED_OFF, EPS, LIVE, LoanBook, annuity
from .platforms import add_to_flows

if TYPE_CHECKING:
    from .borrowers import BorrowerState
    from .config import BorrowerConfig
    from .flows import Month, Records
    from .platforms import Platform, PlatformTerms


CONSUMPTION, NEED, TO_REPAY = 0, 1, 2  # why a borrower applies


def originate_loans(
    borrowers: BorrowerState, book: LoanBook, platforms: list[Platform], terms: PlatformTerms, now: Month, rec: Records
) -> None:
    """Phase 5: credit demand, applications, scoring, offers, take-up, new loans, and informal credit.

    Borrowers apply for consumption credit, to cover this month's spending beyond income and
    savings (a need), or - when short of cash last month - to repay (borrowing to repay). Each
    applicant picks a platform by size and reputation. The platform sees a score with an error
    that is mostly its own lasting view of the borrower (persistent per borrower and platform,
    less noisy for bureau members); it marks down an applicant it knows to be behind or in
    default on its own book, and, if a bureau member, one the bureau shows behind now (as much
    as its own arrears) or with a past default on the record (less: a price, not an exclusion),
    and grants such an applicant a lower debt-to-income limit; it prices by grade under the APR
    cap, checks the visible debt-to-income and lends within its funds. A
    consumption borrower sizes the loan by the instalment they will carry (so longer terms and
    lower rates mean larger loans) and takes the offer with a probability that falls with its
    price above what they expect to pay; a rejected or declining applicant tries another
    platform, up to ``application_rounds`` in the month. Who still has a spending need turns to
    informal credit, at its cost, up to its limit; who was short for debt goes without (an
    informal lender does not refinance a platform's arrears).

    Draws: see ``_demand``; per application round (the sub-key), ``PLATFORM_CHOICE``,
    ``SCORING_ERROR`` and ``OFFER_TAKE_UP`` per applicant; ``SCORE_ERROR_PERSISTENT`` per borrower and
    platform (no month: the same every time the borrower applies there).
    """
    cfg, econ, flows = now.config, now.econ, rec.flows
    borrower_cfg = cfg.borrowers
    n = borrowers.n
    if now.rules.report_failed_books:
        _report_failed_books(book, terms)
    wants, why, amount, term, at_limit = _demand(borrowers, book, now)
    live = book.view("state") == LIVE
    lb = book.view("borrower")[live]

    stated_income = np.where(
        borrowers.is_employed, borrowers.income, borrowers.wage * econ.income_level
    )  # what an applicant declares
    usual_income = borrowers.wage * econ.income_level
    # debt visible to each platform: its own loans, plus all reported loans for members
    inst = book.view("instalment")[live]
    loan_platform = book.view("platform")[live].astype(np.int64)
    reported = book.view("is_reported")[live]
    reported_inst = np.bincount(lb, weights=inst * reported, minlength=n)
    own_record = _own_records(borrowers, book, live)

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
        score = _score(borrowers, applicants, k, terms, own_record, now, round_)
        apr_req = terms.apr_base[k] + terms.apr_slope[k] * np.maximum(terms.best_grade_score[k] - score, 0.0)
        visible = _visible_debt(applicants, k, lb, loan_platform, inst, reported, reported_inst, terms, n)
        apr = np.minimum(apr_req, terms.apr_cap)
        consumption = why[applicants] == CONSUMPTION
        request = _request(amount[applicants], consumption, apr, term[applicants], usual_income[applicants], now)
        income_checked = np.where(terms.verifies_income[k], borrowers.income[applicants], stated_income[applicants])
        dti, request = _limit(
            borrowers, applicants, k, terms, consumption, request, apr, term[applicants], visible, income_checked,
            usual_income[applicants], borrower_cfg.loan_income_min,
        )  # fmt: skip
        new_inst = annuity(request, apr, term[applicants])
        ok = (
            (score >= terms.cutoff[k])
            & ((apr_req <= terms.apr_cap) | terms.lends_at_cap[k])
            & (visible + new_inst <= dti * income_checked)
        )
        take = ~consumption | _takes_offer(apr, borrowers.reference_apr[applicants], applicants, round_, now)
        flows.offers_declined += int((ok & ~take).sum())
        ok &= take
        ok &= _within_budget(np.where(ok, request, 0.0), k, budget)
        idx = applicants[ok]
        if len(idx):
            new = idx, k[ok], request[ok], apr[ok], term[idx], terms.is_reporting[k[ok]], why[idx]
            _book_new_loans(book, platforms, *new, borrowers, now.month, rec)
            budget -= np.bincount(k[ok], weights=request[ok], minlength=n_platforms)
            weight = weight * (budget > 0)
        applicants = applicants[~ok]
    unserved = np.concatenate([applicants[why[applicants] == NEED], np.flatnonzero(at_limit)])
    _informal_credit(borrowers, unserved, amount, usual_income, borrower_cfg, rec)


def _visible_debt(
    applicants: np.ndarray,
    k: np.ndarray,
    lb: np.ndarray,
    loan_platform: np.ndarray,
    inst: np.ndarray,
    reported: np.ndarray,
    reported_inst: np.ndarray,
    terms: PlatformTerms,
    n: int,
) -> np.ndarray:
    """Instalments each applicant's chosen platform sees: its own loans, and for a member every reported loan."""
    pos = np.full(n, -1)
    pos[applicants] = np.arange(len(applicants))
    sel = pos[lb] >= 0
    own = np.zeros(len(applicants))
    own_rep = np.zeros(len(applicants))
    match = sel & (loan_platform == k[np.maximum(pos[lb], 0)])
    np.add.at(own, pos[lb[match]], inst[match])
    np.add.at(own_rep, pos[lb[match]], (inst * reported)[match])
    return own + terms.is_reporting[k] * (reported_inst[applicants] - own_rep)


def _limit(
    borrowers: BorrowerState,
    applicants: np.ndarray,
    k: np.ndarray,
    terms: PlatformTerms,
    consumption: np.ndarray,
    request: np.ndarray,
    apr: np.ndarray,
    term: np.ndarray,
    visible: np.ndarray,
    income: np.ndarray,
    usual_income: np.ndarray,
    loan_income_min: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The debt-to-income limit each applicant meets, and the amount asked for after a member's limit.

    A member lends less to an applicant with a bureau record (a limit, besides the price the score
    sets). It sees the applicant's whole reported debt, so it sets a limit: a consumption applicant
    over it is offered the loan that fits, if still a loan worth taking (at least ``loan_income_min``
    of usual pay). A non-member sees only its own book, a room it cannot size a line to, and
    approves or rejects the request.
    """
    dti = terms.dti_limit[k] * np.where(
        terms.is_reporting[k] & borrowers.has_bureau_record[applicants], terms.bureau_record_dti_factor[k], 1.0
    )
    per_yuan = np.maximum(annuity(np.ones(len(apr)), apr, term), 1e-12)
    fits = np.maximum(dti * income - visible, 0.0) / per_yuan
    cut = (
        terms.is_reporting[k]
        & consumption
        & (annuity(request, apr, term) > dti * income - visible)
        & (fits >= loan_income_min * usual_income)
    )
    return dti, np.where(cut, np.minimum(request, fits), request)


def _request(
    desired: np.ndarray, consumption: np.ndarray, apr: np.ndarray, term: np.ndarray, income: np.ndarray, now: Month
) -> np.ndarray:
    """The amount asked for: a consumption borrower asks for what the instalment they will carry buys at this
    price and term (longer terms and lower rates, larger loans); a need is asked for in full."""
    per_yuan = np.maximum(annuity(np.ones(len(apr)), apr, term), 1e-12)
    affordable = now.config.borrowers.instalment_target * income / per_yuan
    return np.where(consumption, np.minimum(desired, affordable), desired)


def _takes_offer(apr: np.ndarray, reference: np.ndarray, applicants: np.ndarray, round_: int, now: Month) -> np.ndarray:
    """Take-up of an approved offer: certain at or below the price the borrower expects, falling with
    elasticity ``take_up_elasticity`` above it (Karlan & Zinman 2008)."""
    u = now.draws.uniform(Purpose.OFFER_TAKE_UP, applicants, round_)
    ratio = apr / np.maximum(reference, 1e-9)
    return u < np.minimum(1.0, ratio**-now.config.borrowers.take_up_elasticity)


def _own_records(borrowers: BorrowerState, book: LoanBook, live: np.ndarray) -> np.ndarray:
    """What each platform knows of its own book, per borrower as bits by platform: behind on one of its loans
    now or on a payment holiday with it (a holiday is reported as current, CARES Act s. 4021, but the lender
    granting it knows), or defaulted on one of them before."""
    behind = live & ((book.view("dpd") > 0) | (book.view("holiday_left") > 0))
    record = borrowers.defaulted_with.copy()
    bits = np.left_shift(np.uint64(1), book.view("platform")[behind].astype(np.uint64))
    np.bitwise_or.at(record, book.view("borrower")[behind], bits)
    return record


def _score(
    borrowers: BorrowerState,
    applicants: np.ndarray,
    k: np.ndarray,
    terms: PlatformTerms,
    own_record: np.ndarray,
    now: Month,
    round_: int,
) -> np.ndarray:
    """The score platform ``k`` sees of each applicant: creditworthiness plus its scoring error - mostly its
    lasting view of the borrower, partly fresh - less the penalty for the worst record it knows of
    (:func:`sim.policies.record_penalty`)."""
    persistence = terms.scoring_noise_persistence[k]
    lasting = now.draws.draws.normal(Purpose.SCORE_ERROR_PERSISTENT, CONSTRUCTION, applicants, k)
    fresh = now.draws.normal(Purpose.SCORING_ERROR, applicants, round_)
    error = np.sqrt(persistence) * lasting + np.sqrt(1.0 - persistence) * fresh
    knows_own = ((own_record[applicants] >> k.astype(np.uint64)) & np.uint64(1)).astype(bool)
    penalty = policies.record_penalty(
        knows_own,
        borrowers.bureau_arrears[applicants],
        borrowers.has_bureau_record[applicants],
        terms.is_reporting[k],
        terms.bureau_flag_penalty[k],
        terms.bureau_arrears_penalty[k],
        terms.bureau_default_penalty[k],
    )
    return borrowers.creditworthiness[applicants] + terms.scoring_noise_sd[k] * error - penalty


def _report_failed_books(book: LoanBook, terms: PlatformTerms) -> None:
    """Under ``report_failed_books``, the live loans of a failed platform are reported from now on: a missed
    payment on them makes a bureau record, and withholding costs what not paying a reported loan costs."""
    live = book.view("state") == LIVE
    failed = live & ~terms.is_active[book.view("platform")]
    book.is_reported[: book.n] |= failed


def _informal_credit(
    borrowers: BorrowerState,
    unserved: np.ndarray,
    amount: np.ndarray,
    usual_income: np.ndarray,
    cfg: BorrowerConfig,
    rec: Records,
) -> None:
    """Applicants with a spending need whom no platform served borrow informally, up to the limit."""
    room = np.maximum(cfg.informal_limit_months * usual_income[unserved] - borrowers.informal_debt[unserved], 0.0)
    take = np.minimum(amount[unserved], room)
    borrowers.informal_debt[unserved] += take
    borrowers.btr_cash[unserved] += take  # cash for this month, like a loan taken to repay
    rec.flows.informal_borrowing += float(take.sum())
    rec.ledger.informal_lent += float(take.sum())


def _demand(
    borrowers: BorrowerState, book: LoanBook, now: Month
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Who applies this month and why (consumption, a need, to repay), for how much and how long; and who
    has a need but already holds ``max_loans`` loans, and so goes straight to the outside option.

    A need is this month's spending (essentials and unexpected expenses) beyond income and the
    savings the borrower will draw; a shortfall is debt left unpaid last month, which a borrower may
    borrow to repay. Also refreshes
    what the bureau shows of each borrower (a reported loan behind, a reported loan restructured
    - the record keeps it - or a reported default within the record period) and the highest
    collection pressure on them, which pushes borrowers who cannot pay towards borrowing
    elsewhere.

    Draws: ``DEMAND``, ``NEED_APPLY`` and ``BORROW_TO_REPAY`` per borrower; ``LOAN_AMOUNT`` and
    ``LOAN_TERM`` per applicant and per borrower with a need at the loan limit.
    """
    cfg, econ, month = now.config, now.econ, now.month
    borrower_cfg = cfg.borrowers
    n = borrowers.n
    who = np.arange(n)
    u_demand = now.draws.uniform(Purpose.DEMAND, who)
    u_need = now.draws.uniform(Purpose.NEED_APPLY, who)
    u_btr = now.draws.uniform(Purpose.BORROW_TO_REPAY, who)
    live = book.view("state") == LIVE
    borrower = book.view("borrower")
    lb = borrower[live]
    n_loans = np.bincount(lb, minlength=n)
    on_record = live & book.view("is_reported") & ((book.view("dpd") > 0) | book.view("is_restructured"))
    borrowers.bureau_arrears = np.bincount(borrower[on_record], minlength=n) > 0
    borrowers.has_bureau_record = borrowers.bureau_arrears | (
        month - borrowers.last_bureau_default < now.rules.bureau_record_months
    )
    # collectors of a charged-off balance press its borrower (and family) like those of a live loan
    pressed = live | (book.view("state") == CHARGED_OFF)
    pressure_b = np.zeros(n)
    np.maximum.at(pressure_b, borrower[pressed], book.view("pressure")[pressed])
    borrowers.max_pressure = pressure_b

    p_btr = np.clip(
        borrower_cfg.borrow_to_repay * (1.0 - borrowers.literacy) + cfg.behaviour.pressure_borrow_push * pressure_b,
        0.0,
        1.0,
    )
    # this month's spending beyond income and the savings the borrower will draw, and the debt falling due
    gap = (
        borrowers.essential_spending
        + borrowers.expense
        - borrowers.income
        - borrower_cfg.savings_drawdown * borrowers.savings
    )
    wants_btr = (borrowers.shortfall > EPS) & (u_btr < p_btr)
    wants_need = (gap > EPS) & (u_need < borrower_cfg.need_apply)
    can_apply = n_loans < borrower_cfg.max_loans
    wants = (wants_btr | wants_need | (u_demand < borrower_cfg.demand_monthly)) & can_apply
    why = np.where(wants_btr, TO_REPAY, np.where(wants_need, NEED, CONSUMPTION)).astype(np.int8)
    # a need no platform may serve (the loan limit is a rule, like a refusal) is met informally if at all
    at_limit = wants_need & ~wants_btr & ~can_apply
    # amounts and terms, for those who seek credit only (zero for the others)
    applicants = np.flatnonzero(wants | at_limit)
    wage_now = borrowers.wage[applicants] * econ.income_level
    span = borrower_cfg.loan_income_max - borrower_cfg.loan_income_min
    consumption_amount = wage_now * (
        borrower_cfg.loan_income_min + span * now.draws.uniform(Purpose.LOAN_AMOUNT, applicants)
    )
    needed = np.where(
        why[applicants] == TO_REPAY,
        borrower_cfg.btr_amount_cover * borrowers.shortfall[applicants],
        gap[applicants],
    )
    need_amount = np.clip(needed, borrower_cfg.btr_amount_min * wage_now, borrower_cfg.loan_income_max * wage_now)
    amount = np.zeros(n)
    amount[applicants] = np.where(why[applicants] == CONSUMPTION, consumption_amount, need_amount)
    terms = np.asarray(cfg.platforms.term_months)
    cum = np.cumsum(cfg.platforms.term_weights)
    u_term = now.draws.uniform(Purpose.LOAN_TERM, applicants)
    term = np.zeros(n, dtype=terms.dtype)
    term[applicants] = terms[np.minimum(np.searchsorted(cum / cum[-1], u_term, side="right"), len(terms) - 1)]
    if borrower_cfg.btr_term_months is not None:
        term = np.where(why == TO_REPAY, borrower_cfg.btr_term_months, term)
    return wants, why, amount, term, at_limit


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
    why: np.ndarray,
    borrowers: BorrowerState,
    month: int,
    rec: Records,
) -> None:
    flows, ledger, cumulative, vintages = rec.flows, rec.ledger, rec.cumulative, rec.vintages
    # a borrower takes at most one loan a month, so its number is the count of its earlier loans
    book.add(idx, k, amount, apr, term, month, reported, seq=borrowers.loans_taken[idx])
    borrowers.reference_apr[idx] = apr  # the next offer is judged against this price
    borrowers.loans_taken[idx] += 1
    # borrowing-to-repay proceeds are cash for this month's payments; consumption loans are spent
    cash = why != CONSUMPTION
    np.add.at(borrowers.btr_cash, idx[cash], amount[cash])
    add_to_flows(platforms, k, originations=None, originated_amount=amount)
    flows.originations += len(idx)
    cumulative.originations += len(idx)
    flows.origination_amount += float(amount.sum())
    flows.btr_loans += int((why == TO_REPAY).sum())
    ledger.lent += float(amount.sum())
    vintages.add_originations(month, len(idx))


__all__ = ["CONSUMPTION", "NEED", "TO_REPAY", "originate_loans"]

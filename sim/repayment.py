"""Phase 6 of the month: billing, each borrower's cash and its allocation across loans, strategic default."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import policies
from .draws import Purpose
from .loans import CHARGED_OFF, EPS, LIVE, REPAID, LoanBook, nonzero_total
from .platforms import add_to_flows

if TYPE_CHECKING:
    from .borrowers import BorrowerState
    from .config import BehaviourConfig, BorrowerConfig, ScenarioConfig
    from .economy import EconomyState
    from .flows import Month, Records
    from .platforms import Platform, PlatformTerms


@dataclass(frozen=True)
class Billing:
    """What repayment hands to delinquency accounting (phase 6 -> 7), per row of the loan book."""

    dpd_before: np.ndarray  # days past due before this month's payments
    on_holiday: np.ndarray  # on a payment holiday this month, its last holiday month included
    was_live: np.ndarray  # live before this month's payments (this month's new loans included)
    paid_to_instalments: np.ndarray  # paid this month to each live loan, penalty included (what clears instalments)


def collect_repayments(
    borrowers: BorrowerState, book: LoanBook, platforms: list[Platform], terms: PlatformTerms, now: Month, rec: Records
) -> Billing:
    """Phase 6: billing, each borrower's cash and its allocation across debts, strategic default.

    Cash for debt is this month's surplus over essential spending, part of savings, any
    borrowing-to-repay proceeds and, under collection pressure, money raised from family or by
    cutting consumption below essentials (hardship). Informal credit is repaid from what platform
    loans leave (relatives, private lenders and unpaid bills wait; a platform reports and
    collects). Inattentive borrowers (fewer
    with literacy and reminders) miss the month; a borrower may withhold a payment they could make
    (strategic default, :func:`sim.policies.strategic_default`). A borrower who cannot pay every
    platform loan splits the cash in proportion to balances (balance matching,
    :func:`sim.policies.allocate_payments`); the most literate pay the costliest loans first.
    Charged-off loans in recovery are paid after live loans.

    Draws: ``INATTENTION`` per borrower; ``PRIORITY_NOISE`` per live or recovering loan (keyed by borrower
    and loan number).
    """
    cfg, rules, econ = now.config, now.rules, now.econ
    behaviour, borrower_cfg = cfg.behaviour, cfg.borrowers
    n = borrowers.n
    state = book.view("state")
    live = state == LIVE
    dpd_before = book.view("dpd").copy()
    grant_holidays(borrowers, book, live, now, rec)
    bill = _bill(book, platforms, terms, live, now, rec)
    plat = book.view("platform")

    recovering = (state == CHARGED_OFF) & (book.view("recovery_months_left") > 0) & terms.is_serviced[plat]
    u_inattention = now.draws.uniform(Purpose.INATTENTION, np.arange(n))
    rows = np.flatnonzero(live | recovering)
    noise = now.draws.normal(Purpose.PRIORITY_NOISE, book.view("borrower")[rows], book.view("seq")[rows])

    inattentive = u_inattention < borrower_cfg.inattention * (1.0 - borrowers.literacy) * (
        1.0 - rules.reminder_effect * rules.reminders
    )
    due = np.where(live, book.overdue_amount(), 0.0)
    borrower = book.view("borrower")
    withhold = live & _withholds(borrowers, book, terms, due, econ.income_level, behaviour)
    pay_due = np.where(withhold | inattentive[borrower], 0.0, due)
    # collectors ask more of a balance in recovery the harder they may press (standard conduct: the base demand)
    recovery_ask = book.view("recovery_due") * policies.recovery_intensity(book.view("pressure"), behaviour)
    pay_due = np.where(recovering, np.minimum(recovery_ask, book.view("recovery_balance")), pay_due)

    informal_due = _informal_due(borrowers, borrower_cfg, rec)
    need = np.bincount(borrower, weights=pay_due, minlength=n)
    cash = _cash_for_debt(borrowers, cfg, econ, need + informal_due)
    budget = cash.budget

    weight = policies.allocation_weights(
        np.where(live, book.owed(), book.view("recovery_balance"))[rows],
        book.view("pressure")[rows],
        book.view("is_reported")[rows],
        borrowers.literacy[borrower[rows]],
        noise,
        borrower_cfg.allocation_noise,
        behaviour,
    )
    # an optimiser pays first where not paying costs most: penalty growth, then the contract rate
    cost = book.view("penalty_growth")[rows] + book.view("apr")[rows] / 12.0
    optimiser = borrowers.literacy >= borrower_cfg.optimiser_literacy
    paid = np.zeros(book.n)
    paid[rows] = policies.allocate_payments(
        budget, pay_due[rows], borrower[rows], weight, recovering[rows].astype(np.int8), cost, optimiser
    )

    # informal credit is repaid from what platform loans leave: its lenders wait, where a platform collects
    paid_platforms = np.bincount(borrower, weights=paid, minlength=n)
    informal_paid = np.clip(budget - paid_platforms, 0.0, informal_due)
    _book_informal(borrowers, informal_paid, rec)
    to_instalments = _book_payments(book, platforms, paid, live, recovering, dpd_before, rec)
    spent = paid_platforms + informal_paid
    if rules.forbearance.keep_paying and bill.on_holiday.any():  # no holidays (nearly every month): nothing to do
        spent += _pay_on_holiday(book, platforms, bill.on_holiday, cash.surplus - spent, rec)
    _settle_budgets(borrowers, cfg, econ, spent, cash)
    unpaid = np.where(live & ~withhold, pay_due - paid, 0.0)
    borrowers.shortfall = np.bincount(borrower, weights=unpaid, minlength=n)
    # withheld while able: the borrower's own means covered everything due, this loan included
    withheld_due = np.bincount(borrower, weights=np.where(withhold, due, 0.0), minlength=n)
    able = cash.own >= need + withheld_due - EPS
    strategic = withhold & able[borrower]
    book.withheld_able[: book.n] |= strategic
    rec.flows.strategic += int(strategic.sum())
    _set_strategic_rates(platforms, plat, live, strategic)

    _close_repaid(book, platforms, live, rec)
    return Billing(dpd_before, bill.on_holiday, live, to_instalments)


def _bill(book: LoanBook, platforms: list[Platform], terms: PlatformTerms, live: np.ndarray, now: Month, rec: Records):
    """Bill the month: contract interest runs on past-due principal too (within the combined cap) unless the
    platform's penalty rule sets the overdue rate itself; a holiday's interest is capitalised or waived."""
    rules = now.rules
    replaced = np.array([policies.replaces_interest(pen) for pen in terms.penalty])[book.view("platform")]
    cap = policies.overdue_charge_cap(rules, now.econ.benchmark_rate)
    capitalise = rules.forbearance.holiday_interest == "capitalised"
    bill = book.bill(live, policies.past_due_interest_rate(replaced, book.view("apr"), cap), capitalise)
    rec.ledger.interest_billed += nonzero_total(bill.interest)
    rec.flows.interest_accrued += nonzero_total(bill.interest)
    if bill.on_holiday.any():
        _book_holiday_interest(book, platforms, bill.holiday_interest, capitalise, rec)
    return bill


def _book_holiday_interest(
    book: LoanBook, platforms: list[Platform], held: np.ndarray, capitalised: bool, rec: Records
) -> None:
    """A holiday's interest: added to principal (the borrower pays it later), or waived (the lender's cost)."""
    total = nonzero_total(held)
    if capitalised:
        add_to_flows(platforms, book.view("platform"), interest_capitalised=held)
        rec.ledger.interest_capitalised += total
    else:
        add_to_flows(platforms, book.view("platform"), holiday_interest_waived=held)
        rec.ledger.holiday_interest_waived += total
        rec.flows.relief_cost += total


def _set_strategic_rates(platforms: list[Platform], plat: np.ndarray, live: np.ndarray, strategic: np.ndarray) -> None:
    """Each platform's share of live loans withheld while able this month: what its borrowers hear of next month."""
    k = len(platforms)
    withheld = np.bincount(plat[strategic], minlength=k)
    loans = np.bincount(plat[live], minlength=k)
    for p in platforms:
        p.strategic_rate = withheld[p.index] / max(loans[p.index], 1)


def _pay_on_holiday(
    book: LoanBook, platforms: list[Platform], on_holiday: np.ndarray, left: np.ndarray, rec: Records
) -> np.ndarray:
    """Who still has income left this month pays the instalments a holiday suspended, as prepaid principal.

    Only this month's income counts (not savings or family help): the holiday exists to spare the
    buffers of a borrower who cannot pay, while one who can keeps paying down the loan rather than
    meet the whole debt when the holiday ends. Returns what each borrower paid.
    """
    n = left.size
    borrower = book.view("borrower")
    principal = book.view("principal")
    ask = np.where(on_holiday, np.minimum(book.view("instalment"), principal - book.view("due_principal")), 0.0)
    asked = np.bincount(borrower, weights=ask, minlength=n)
    share = np.divide(np.maximum(left, 0.0), asked, out=np.zeros(n), where=asked > EPS)
    paid = ask * np.minimum(share, 1.0)[borrower]
    principal -= paid
    add_to_flows(platforms, book.view("platform"), principal_repaid=paid)
    rec.ledger.repaid += nonzero_total(paid)
    rec.ledger.borrower_paid += nonzero_total(paid)
    return np.bincount(borrower, weights=paid, minlength=n)


def _informal_due(borrowers: BorrowerState, cfg: BorrowerConfig, rec: Records) -> np.ndarray:
    """Interest accrues on informal debt; this month's repayment is the interest and a share of the balance."""
    debt = borrowers.informal_debt
    interest = debt * cfg.informal_rate_monthly
    borrowers.informal_debt = debt + interest
    rec.ledger.informal_interest += float(interest.sum())
    rec.flows.informal_interest += float(interest.sum())
    return np.minimum(interest + debt / cfg.informal_term_months, borrowers.informal_debt)


def _book_informal(borrowers: BorrowerState, paid: np.ndarray, rec: Records) -> None:
    borrowers.informal_debt = np.maximum(borrowers.informal_debt - paid, 0.0)
    rec.ledger.informal_repaid += float(paid.sum())


def grant_holidays(borrowers: BorrowerState, book: LoanBook, live: np.ndarray, now: Month, rec: Records) -> None:
    """A forbearance mandate in a declared shock: the loans of borrowers in hardship - without a job, or
    unable last month to meet essentials and debts from income and savings - get a payment holiday of
    ``holiday_months`` from this month's bill on, if they are at most ``max_dpd`` days past due, renewed in
    its last month while the hardship lasts, up to ``max_holiday_months`` in all.

    Hardship is what the borrower attests, not what the lender verifies (CARES Act s. 4022: forbearance on
    request for a hardship due, directly or indirectly, to the emergency); with ``keep_paying`` the holiday
    is drawn like a credit line. Granted before billing, so a borrower who lost their job is not billed in
    the month they would first miss a payment; a loan already behind keeps its days past due (frozen, not
    cleared).
    """
    mandate = now.rules.forbearance
    if not (mandate.enabled and now.econ.in_declared_shock):
        return
    hit = live & (~borrowers.is_employed | borrowers.is_in_hardship)[book.view("borrower")]
    eligible = hit & ~book.view("had_holiday") & (book.view("dpd") <= mandate.max_dpd)
    renewed = (
        hit
        & (book.view("holiday_left") == 1)
        & (book.view("holiday_months") + mandate.holiday_months <= mandate.max_holiday_months)
    )
    granted = eligible | renewed
    book.holiday_left[: book.n][granted] += mandate.holiday_months
    book.holiday_months[: book.n][granted] += mandate.holiday_months
    book.had_holiday[: book.n] |= eligible
    rec.flows.holidays += int(eligible.sum())
    rec.cumulative.deferred += int(eligible.sum())


def _withholds(
    borrowers: BorrowerState,
    book: LoanBook,
    terms: PlatformTerms,
    due: np.ndarray,
    econ_level: float,
    behaviour: BehaviourConfig,
) -> np.ndarray:
    """Per loan, whether its borrower would withhold the payment even if they could make it (strategic default).

    The payment is weighed against the borrower's usual pay, not this month's income: withholding because a
    month's income has fallen away is a cash-flow matter, and whether they can pay is judged on their cash.
    """
    plat, borrower = book.view("platform"), book.view("borrower")
    operating = terms.is_active[plat]
    return policies.strategic_default(
        due,
        borrowers.wage[borrower] * econ_level,
        borrowers.willingness[borrower],
        book.view("is_reported"),
        book.view("pressure"),
        operating,
        terms.peer_strategic_rate[plat],
        ~terms.is_serviced[plat],
        terms.distress[plat] * operating,
        behaviour,
    )


def _book_payments(
    book: LoanBook,
    platforms: list[Platform],
    paid: np.ndarray,
    live: np.ndarray,
    recovering: np.ndarray,
    dpd_before: np.ndarray,
    rec: Records,
) -> np.ndarray:
    """Apply payments (live loans through the contract order, recovering loans against their balance) and book
    them; returns what was paid to each live loan."""
    paid_live = np.where(live, paid, 0.0)
    was_overdue = live & (dpd_before > 0)
    to_penalty, to_interest, to_principal = book.apply_payments(paid_live)
    recovered = np.where(recovering, paid, 0.0)
    book.recovery_balance[: book.n] -= recovered
    # losses are measured on principal: a recovery repays the charged-off principal first, and what
    # comes in beyond it is interest and penalty income (else penalty rules would move losses by accounting)
    recovered_principal = np.minimum(recovered, book.view("recovery_principal"))
    recovered_charges = recovered - recovered_principal
    book.recovery_principal[: book.n] -= recovered_principal
    collected_overdue = np.where(was_overdue, paid_live, 0.0)
    add_to_flows(
        platforms,
        book.view("platform"),
        penalty_income=to_penalty,
        interest_income=to_interest,
        principal_repaid=to_principal,
        recoveries=recovered_principal,
        recovered_charges=recovered_charges,
        collected_overdue=collected_overdue,
    )
    rec.flows.recoveries += nonzero_total(recovered_principal)
    rec.flows.recovered_charges += nonzero_total(recovered_charges)
    rec.flows.penalty_income += nonzero_total(to_penalty)
    rec.flows.collected_overdue += nonzero_total(collected_overdue)
    rec.ledger.repaid += nonzero_total(to_principal)
    rec.ledger.interest_paid += nonzero_total(to_interest)
    rec.ledger.penalty_paid += nonzero_total(to_penalty)
    rec.ledger.recovered += nonzero_total(recovered)
    rec.ledger.borrower_paid += nonzero_total(paid)
    rec.cumulative.recoveries += nonzero_total(recovered_principal)
    # fees do not make a loan delinquent: all that was paid to a loan counts against its instalments,
    # though the contract order applies it to penalty first
    return paid_live


def _close_repaid(book: LoanBook, platforms: list[Platform], live: np.ndarray, rec: Records) -> None:
    """Loans at the end of their term owing less than a fen are repaid; that residue is forgiven (and booked)."""
    repaid = live & (book.view("months_left") == 0) & (book.owed() < EPS)
    rows = np.flatnonzero(repaid)
    if len(rows) == 0:
        return
    residue = {name: getattr(book, name)[rows].copy() for name in ("principal", "due_interest", "penalty")}
    rec.ledger.forgiven_principal += float(residue["principal"].sum())
    rec.ledger.forgiven_interest += float(residue["due_interest"].sum())
    rec.ledger.forgiven_penalty += float(residue["penalty"].sum())
    add_to_flows(platforms, book.view("platform")[rows], principal_forgiven=residue["principal"])
    for name in ("principal", "due_principal", "due_interest", "penalty"):
        getattr(book, name)[rows] = 0.0
    book.state[rows] = REPAID


@dataclass(frozen=True)
class Cash:
    """A borrower's cash for debt this month and where it comes from (per borrower, CNY)."""

    surplus: np.ndarray  # income less essentials and unexpected expenses (negative: a deficit)
    hardship: np.ndarray  # savings could not cover the deficit
    btr_cash: np.ndarray  # proceeds of loans taken to repay
    help_stock: np.ndarray  # family help the borrower could raise at full pressure
    mobilised: np.ndarray  # family help raised this month
    budget: np.ndarray  # all of it: what the borrower can put towards debt
    own: np.ndarray  # the borrower's own means: surplus, savings drawn and loan proceeds (no family help)


def _cash_for_debt(borrowers: BorrowerState, cfg: ScenarioConfig, econ: EconomyState, need: np.ndarray) -> Cash:
    """The surplus over essentials, part of savings, borrow-to-repay proceeds and, under pressure, family help."""
    behaviour, borrower_cfg = cfg.behaviour, cfg.borrowers
    essentials = borrowers.essential_spending + borrowers.expense
    surplus = borrowers.income - essentials
    borrowers.savings = borrowers.savings + np.minimum(surplus, 0.0)
    hardship = borrowers.savings < 0
    borrowers.savings = np.maximum(borrowers.savings, 0.0)
    btr_cash = borrowers.btr_cash
    base_budget = np.maximum(surplus, 0.0) + borrower_cfg.savings_drawdown * borrowers.savings + btr_cash
    help_stock = behaviour.mobilisation * borrowers.support * borrowers.wage * econ.income_level
    mobilisable = np.minimum(np.maximum(borrowers.max_pressure, behaviour.help_unpressed), 1.0) * help_stock
    mobilised = np.clip(need - base_budget, 0.0, mobilisable)
    return Cash(surplus, hardship, btr_cash, help_stock, mobilised, base_budget + mobilised, base_budget)


def _settle_budgets(
    borrowers: BorrowerState,
    cfg: ScenarioConfig,
    econ: EconomyState,
    spent: np.ndarray,
    cash: Cash,
) -> None:
    """What was left: unspent surplus partly saved, unspent loan proceeds kept, savings and family help drawn."""
    behaviour, borrower_cfg = cfg.behaviour, cfg.borrowers
    n = borrowers.n
    surplus, btr_cash, mobilised, help_stock, hardship = (
        cash.surplus,
        cash.btr_cash,
        cash.mobilised,
        cash.help_stock,
        cash.hardship,
    )
    from_income = np.minimum(spent, np.maximum(surplus, 0.0))
    rest = spent - from_income
    from_btr = np.minimum(rest, btr_cash)
    rest -= from_btr
    from_help = np.minimum(rest, mobilised)
    from_savings = rest - from_help
    # buffer-stock saving: save part of what is left until savings reach the target, consume the rest
    target = borrower_cfg.savings_months * borrowers.wage * econ.income_level
    saved = np.minimum(
        borrower_cfg.saving_rate * (np.maximum(surplus, 0.0) - from_income), np.maximum(target - borrowers.savings, 0.0)
    )
    borrowers.savings = np.maximum(borrowers.savings - from_savings + saved + (btr_cash - from_btr), 0.0)
    used = np.divide(from_help, help_stock, out=np.zeros(n), where=help_stock > 0)
    borrowers.support = np.clip(
        borrowers.support - used + behaviour.support_replenish_monthly * (1.0 - borrowers.support), 0.0, 1.0
    )
    borrowers.is_in_hardship = hardship | (from_help > EPS)
    borrowers.hardship_months += borrowers.is_in_hardship
    borrowers.btr_cash[:] = 0.0  # proceeds are used (or saved) within the month


__all__ = ["Billing", "collect_repayments"]

"""The borrower month written the plain Mesa way: one Python agent per borrower, ``shuffle_do``.

This is the yardstick lendsim's vectorised phases are measured against. Each
:class:`ReferenceBorrower` is a ``mesa.Agent`` holding its own state as Python floats and its
loans as a list of :class:`RefLoan` objects; its :meth:`~ReferenceBorrower.step` does one
borrower's month with the rules of lendsim's phases, loan by loan, in scalar Python:

==========================================  =================================================
reference step                              lendsim (``sim/``)
==========================================  =================================================
``ReferenceMarket.set_terms``               job flows and labour slack of phase 3
                                            (``borrowers.job_flows``, ``labour_slack``); each
                                            lender's penalty rule and conduct (phase 4)
``update_income``                           phase 3, ``borrowers.update_employment``: job loss
                                            and finding, permanent and transitory income
                                            shocks, on-the-job growth, the scar, spells and
                                            benefits, jobless income, essential spending,
                                            unexpected expenses
``feel_pressure`` (highest pressure)        the borrower side of phase 5 (``max_pressure``)
``repay``                                   phase 6, ``repayment.collect_repayments``:
                                            ``LoanBook.bill``, informal debt repaid from
                                            what platform loans leave,
                                            ``policies.strategic_default`` (herding through
                                            ``knows_strategic_defaulter``), cash for debt
                                            with family help, ``allocation_weights`` and
                                            ``allocate_payments`` (balance matching by
                                            water-filling, optimisers costliest first),
                                            ``LoanBook.apply_payments``, savings and help,
                                            withheld while able, repaid loans closed
``account_delinquency``                     phase 7: days past due by instalments cleared,
                                            ``policies.penalty_accrual``, new defaults and
                                            acceleration
``receive_collection``                      the pressure of phase 8 (``policies.collection_pressure``)
``charge_off``                              the charge-off and recovery countdown of phase 9
``ReferenceMarket.count_month``             the two rates of phase 12; each lender's strategic
                                            rate (set in phase 6) for next month's herding
==========================================  =================================================

The per-borrower and per-loan rules are written again here, not imported, so that the
equivalence test (``tests/test_reference_equivalence.py``) checks two independent
implementations. What is not the borrower month is taken as context: the economy advances with
:class:`sim.economy.Economy`, rules and platform policies follow their schedules in the same
``ScenarioConfig``, and a platform's collection conduct comes from ``policies.practised_conduct``.
Platforms are otherwise frozen at the state they had when the reference was built (active or not,
distress); the share of each one's live loans withheld by borrowers able to pay, which borrowers
herd on, is recomputed each month.

The reference has no credit demand: no new loans, no borrowing to repay and no informal credit.
Pair it with a market whose new lending is switched off (:func:`switch_off_new_lending`), which
turns off every kind of application (consumption, need, borrowing to repay) and with them
informal credit, which only an unserved need application takes; informal debt already
outstanding is carried over and repaid, from what platform loans leave, in both. Features
outside the borrower month - payment holidays, restructuring, education campaigns and targeted
collection - are refused with a ``ValueError`` rather than silently ignored.

Random draws come from the model's ``random.Random`` (``self.random``), scalar per borrower and
per loan, as a plain Mesa model would draw them (and only where needed); the streams therefore
differ from lendsim's, and the two agree in distribution, not draw for draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import mesa
import numpy as np

from sim.config import ScenarioConfig
from sim.draws import Draws
from sim.economy import Economy
from sim.platforms import resolve_platform_policies
from sim.policies import SERVICER_CONDUCT, collection_conduct, practised_conduct
from sim.regulator import resolve_schedule

if TYPE_CHECKING:
    from sim.config import PenaltyConfig, RegulatorRules
    from sim.model import LendingMarket

LIVE, REPAID, CHARGED_OFF, CLOSED = 0, 1, 2, 3  # the loan states of sim.loans, restated
EPS = 0.01  # CNY: amounts below one fen are treated as paid (as in sim.loans)
DAYS_PER_MONTH = 30
DEFAULT_DPD = 90  # more than 90 days past due is default

# loan fields copied from the market's book (names as in sim.loans)
_LOAN_FIELDS = (
    "platform",
    "state",
    "dpd",
    "months_left",
    "principal",
    "apr",
    "instalment",
    "due_principal",
    "due_interest",
    "penalty",
    "penalty_growth",
    "recovery_balance",
    "recovery_due",
    "recovery_months_left",
    "pressure",
    "is_reported",
    "has_defaulted",
    "is_accelerated",
)
# borrower fields copied from the market's arrays
_BORROWER_FIELDS = (
    "creditworthiness",
    "wage",
    "essentials_share",
    "essentials",
    "essential_spending",
    "savings",
    "literacy",
    "willingness",
    "support",
    "is_employed",
    "spell_months",
    "has_benefit",
    "receives_benefit",
    "income",
    "expense",
    "informal_debt",
    "max_pressure",
    "is_in_hardship",
    "hardship_months",
)


def switch_off_new_lending(market: LendingMarket) -> None:
    """From the next month on, nobody in ``market`` applies for credit - for consumption, for a need or to
    repay - so no platform lends and no informal credit is taken (only unserved need applicants take
    it); its month does what the reference does plus the platform phases.

    The model reads ``market.config`` every month, so replacing it takes effect at the next step.
    """
    market.config = market.config.with_overrides(
        {
            "borrowers.demand_monthly": 0.0,
            "borrowers.need_apply": 0.0,
            "borrowers.borrow_to_repay": 0.0,
            "behaviour.pressure_borrow_push": 0.0,
        }
    )


class RefLoan:
    """One loan as a plain Python object (amounts in CNY)."""

    __slots__ = _LOAN_FIELDS + ("prev_dpd", "pay_due", "paid", "to_instalments", "withheld")

    def __init__(self, **fields) -> None:
        for name in _LOAN_FIELDS:
            setattr(self, name, fields[name])
        self.prev_dpd = self.dpd
        self.pay_due = self.paid = self.to_instalments = 0.0
        self.withheld = False

    @property
    def owed(self) -> float:
        return self.principal + self.due_interest + self.penalty


class RefPlatform:
    """What a borrower sees of a lender: whether it operates or is serviced, its distress, its
    penalty rule and collection conduct this month, and last month's share of its live loans
    withheld by borrowers able to pay (herding)."""

    def __init__(self, index: int, is_active: bool, is_serviced: bool, distress: float, strategic_rate: float) -> None:
        self.index = index
        self.is_active = is_active
        self.is_serviced = is_serviced
        self.distress = distress
        self.strategic_rate = strategic_rate
        self.penalty: PenaltyConfig | None = None
        self.contacts_by_bucket = (0.0, 0.0, 0.0, 0.0)
        self.third_party = False
        self.night_contact = False
        self.live_billed = 0  # this month: live loans at billing
        self.withheld_able = 0  # and those withheld by a borrower able to pay


def daily_penalty_rate(
    cfg: PenaltyConfig, dpd: int, overdue: float, apr: float, benchmark_annual: float, cap_annual: float
) -> float:
    """The daily penalty rate of one overdue loan under a platform's rule, clipped by the cap."""
    rule = cfg.rule
    if rule == "none":
        rate = 0.0
    elif rule in ("flat", "compounding"):
        rate = cfg.rate_daily
    elif rule == "tiered":
        rate = 0.0
        for tier in sorted(cfg.tiers, key=lambda t: t.min_dpd):
            if dpd >= tier.min_dpd:
                rate = tier.rate_daily
        factor = 1.0
        for tier in sorted(cfg.amount_tiers, key=lambda t: t.min_amount):
            if overdue >= tier.min_amount:
                factor = tier.factor
        rate *= factor
    elif rule == "benchmark_multiple":
        rate = cfg.multiple * (apr if cfg.basis == "contract" else benchmark_annual) / 365.0
    else:
        raise ValueError(f"unknown penalty rule {rule!r}")
    return min(rate, cap_annual / 365.0)


def penalty_for_month(
    cfg: PenaltyConfig,
    overdue: float,
    penalty: float,
    dpd: int,
    apr: float,
    benchmark_annual: float,
    rules: RegulatorRules,
) -> float:
    """Penalty accrued over a month on ``overdue`` (what the rule charges on: past-due interest and
    principal, or all outstanding principal and interest due when ``applies_to == "outstanding"``)."""
    daily = daily_penalty_rate(cfg, dpd, overdue, apr, benchmark_annual, rules.penalty_cap_annual)
    if cfg.rule == "compounding" and rules.allow_compounding:
        return (overdue + penalty) * ((1.0 + daily) ** DAYS_PER_MONTH - 1.0)
    return overdue * daily * DAYS_PER_MONTH


class ReferenceBorrower(mesa.Agent):
    """A borrower with its own state and loans, and a ``step`` that is its month."""

    def __init__(self, model: ReferenceMarket, state: dict, loans: list[RefLoan]) -> None:
        super().__init__(model)
        for name in _BORROWER_FIELDS:
            setattr(self, name, state[name])
        self.loans = loans
        # relative job-loss and expense-shock hazards exp(-g z), normalised by the model over all borrowers
        self.separation_weight = math.exp(-model.config.economy.job_loss_risk_gradient * self.creditworthiness)
        self.expense_weight = math.exp(-model.config.borrowers.expense_risk_gradient * self.creditworthiness)

    def step(self) -> None:
        self.update_income()
        self.feel_pressure()
        self.repay()
        self.account_delinquency()
        self.receive_collection()
        self.charge_off()
        self.loans = [ln for ln in self.loans if ln.state == LIVE or ln.state == CHARGED_OFF]

    # ------------------------------------------------------------------ phase 3

    def update_income(self) -> None:
        """Lose or find a job; the wage's permanent shock, growth on the job or scar at re-employment;
        the spell and its benefit; this month's income and essential spending; maybe an unexpected expense."""
        model, econ, cfg = self.model, self.model.config.economy, self.model.config.borrowers
        rnd = self.random
        u_job, noise, e_perm, u_cover, u_expense = (
            rnd.random(),
            rnd.gauss(0.0, 1.0),
            rnd.gauss(0.0, 1.0),
            rnd.random(),
            rnd.random(),
        )
        hazard = self.separation_weight / model.mean_separation_weight
        was_employed = self.is_employed
        if was_employed:
            lost = u_job < min(max(model.separation_rate * hazard, 0.0), 1.0)
            found = False
            self.is_employed = not lost
        else:
            lost = False
            found = u_job < model.finding_rate
            self.is_employed = found

        # the wage: a mean-preserving permanent shock; on the job, growth that offsets the expected scars of a calm
        # market; at re-employment, the scar
        sd = model.permanent_sd
        log_change = sd * e_perm - 0.5 * sd * sd
        if was_employed and not lost:
            log_change += min(max(model.base_separation_rate * hazard, 0.0), 1.0) * model.tenure_growth
        if found:
            log_change += math.log(1.0 - model.scar)
        self.wage *= math.exp(log_change)

        # the spell, and the benefit decided at the job loss
        if self.is_employed:
            self.spell_months = 0
            self.has_benefit = False
        else:
            self.spell_months += 1
            if lost:
                self.has_benefit = u_cover < econ.benefit_coverage
        self.receives_benefit = self.has_benefit and self.spell_months <= econ.benefit_months

        # income: pay with a transitory shock; out of work, odd jobs and transfers (plus relief) and the benefit
        now = model.econ
        prices = now.price_level  # shocks cut pay, not benefits or bills
        if self.is_employed:
            tsd = econ.income_transitory_sd
            self.income = self.wage * now.income_level * math.exp(tsd * noise - 0.5 * tsd * tsd)
        else:
            benefit = econ.benefit_monthly if self.receives_benefit else 0.0
            self.income = prices * (self.wage * min(econ.jobless_income_share + now.relief, 1.0) + benefit)

        # essential spending: a commitment that follows the wage slowly, cut while out of work
        self.essentials += cfg.commitment_adjust_monthly * (self.essentials_share * self.wage - self.essentials)
        cut = 0.0
        if not self.is_employed:
            cut = cfg.essentials_cut_unemployed + (0.0 if self.receives_benefit else cfg.essentials_cut_no_benefit)
        self.essential_spending = self.essentials * prices * (1.0 - min(cut, 1.0))

        p_expense = cfg.expense_shock_monthly * self.expense_weight / model.mean_expense_weight
        if u_expense < p_expense:
            self.expense = cfg.expense_shock_months * rnd.expovariate(1.0) * self.wage * prices
        else:
            self.expense = 0.0

    def feel_pressure(self) -> None:
        """The heaviest collection pressure on a live loan last month (it taps family help)."""
        self.max_pressure = max((ln.pressure for ln in self.loans if ln.state == LIVE), default=0.0)

    # ------------------------------------------------------------------ phase 6

    def repay(self) -> None:
        """Bill the loans; decide what to withhold; pay from income, savings and help, splitting a short budget
        across loans; repay informal debt from what is left; save the rest."""
        model, b, bc = self.model, self.model.config.behaviour, self.model.config.borrowers
        rules, platforms, level = model.rules, model.platforms, model.econ.income_level
        rnd = self.random
        for ln in self.loans:
            ln.prev_dpd = ln.dpd
            ln.to_instalments = ln.paid = 0.0
            if ln.state == LIVE:
                _bill(ln)
        inattentive = rnd.random() < bc.inattention * (1.0 - self.literacy) * (
            1.0 - rules.reminder_effect * rules.reminders
        )

        usual_income = self.wage * level
        need = withheld_due = 0.0
        n_withheld = 0
        payable = []
        for ln in self.loans:
            p = platforms[ln.platform]
            ln.withheld = False
            ln.pay_due = 0.0
            if ln.state == LIVE:
                p.live_billed += 1
                due = ln.due_principal + ln.due_interest + ln.penalty
                ln.withheld = self.withholds(ln, due, p, b, usual_income)
                if ln.withheld:
                    n_withheld += 1
                    withheld_due += due
                elif not inattentive:
                    ln.pay_due = due
            elif ln.state == CHARGED_OFF and ln.recovery_months_left > 0 and p.is_serviced:
                ln.pay_due = min(ln.recovery_due, ln.recovery_balance)
            else:
                continue
            need += ln.pay_due
            payable.append(ln)

        # informal debt accrues interest; its instalment is repaid from what platform loans leave
        interest = self.informal_debt * bc.informal_rate_monthly
        informal_due = min(interest + self.informal_debt / bc.informal_term_months, self.informal_debt + interest)
        self.informal_debt += interest

        # cash for debt: surplus over essential spending, part of savings, and family help - a share of the
        # stock for any debt due, the rest tapped by collection pressure
        surplus = self.income - (self.essential_spending + self.expense)
        self.savings += min(surplus, 0.0)
        hardship = self.savings < 0.0
        self.savings = max(self.savings, 0.0)
        own = max(surplus, 0.0) + bc.savings_drawdown * self.savings
        help_stock = b.mobilisation * self.support * self.wage * level
        mobilisable = min(max(self.max_pressure, b.help_unpressed), 1.0) * help_stock
        mobilised = min(max(need + informal_due - own, 0.0), mobilisable)
        budget = own + mobilised

        if budget >= need:
            for ln in payable:
                ln.paid = ln.pay_due
        else:
            self.split(budget, [ln for ln in payable if ln.state == LIVE and ln.pay_due > 0.0], rnd)
            left = budget - sum(ln.paid for ln in payable if ln.state == LIVE)
            if left > 0.0:  # balances in recovery only get what live loans left
                self.split(left, [ln for ln in payable if ln.state != LIVE and ln.pay_due > 0.0], rnd)
        paid_platforms = sum(ln.paid for ln in payable)
        informal_paid = min(max(budget - paid_platforms, 0.0), informal_due)
        self.informal_debt = max(self.informal_debt - informal_paid, 0.0)
        spent = informal_paid
        for ln in payable:
            spent += ln.paid
            if ln.state == LIVE:
                ln.to_instalments = _apply_payment(ln, ln.paid)
            else:
                ln.recovery_balance -= ln.paid

        # what is left: part of the unspent surplus saved up to the buffer target
        from_income = min(spent, max(surplus, 0.0))
        rest = spent - from_income
        from_help = min(rest, mobilised)
        from_savings = rest - from_help
        target = bc.savings_months * self.wage * level
        saved = min(bc.saving_rate * (max(surplus, 0.0) - from_income), max(target - self.savings, 0.0))
        self.savings = max(self.savings - from_savings + saved, 0.0)
        used = from_help / help_stock if help_stock > 0 else 0.0
        self.support = min(max(self.support - used + b.support_replenish_monthly * (1.0 - self.support), 0.0), 1.0)
        self.is_in_hardship = hardship or from_help > EPS
        self.hardship_months += self.is_in_hardship

        # withheld while able: own means (no family help) covered everything due, the withheld loans included
        if n_withheld and own >= need + withheld_due - EPS:
            for ln in self.loans:
                if ln.withheld:
                    platforms[ln.platform].withheld_able += 1
        for ln in self.loans:
            if ln.state == LIVE and ln.months_left == 0 and ln.owed < EPS:
                ln.state = REPAID

    def withholds(self, ln: RefLoan, due: float, p: RefPlatform, b, usual_income: float) -> bool:
        """Strategic default: withhold when the payment kept, against usual income, is worth more than the cost
        of not paying (enforcement, less herding on a fellow borrower who withheld while able)."""
        if not b.strategic_default:
            return False
        operating = 1.0 if p.is_active else 0.0
        s = min(max(p.strategic_rate, 0.0), 1.0 - 1e-12)
        knows_one = 1.0 - (1.0 - s) ** b.peer_reach  # among the peer_reach fellow borrowers heard of
        cost = (
            b.default_cost_base
            + b.default_cost_bureau * ln.is_reported
            + b.default_cost_pressure * ln.pressure
            + b.default_cost_legal * operating
            - b.herding * knows_one
            - b.failure_discount * (not p.is_serviced)
            - b.distress_discount * p.distress * operating
        )
        benefit = b.benefit_per_income * due / max(usual_income, 1.0)
        return benefit > cost + self.willingness

    def split(self, budget: float, loans: list[RefLoan], rnd) -> None:
        """A budget short of what ``loans`` ask: the literate optimiser pays the costliest first; everyone
        else matches balances (tilted by pressure and bureau reporting, noisier with less literacy), paying in
        full a loan whose share exceeds its due and sharing the rest again."""
        if not loans:
            return
        bc, b = self.model.config.borrowers, self.model.config.behaviour
        if self.literacy >= bc.optimiser_literacy:
            for ln in sorted(loans, key=lambda ln: -(ln.penalty_growth + ln.apr / 12.0)):  # stable
                ln.paid = min(budget, ln.pay_due)
                budget -= ln.paid
            return
        noise_sd = bc.allocation_noise * (1.0 - self.literacy)
        weights = {}
        for ln in loans:
            balance = ln.owed if ln.state == LIVE else ln.recovery_balance
            tilt = b.allocation_pressure * ln.pressure + b.allocation_reported * ln.is_reported
            weights[ln] = max(balance, 0.0) * math.exp(tilt + noise_sd * rnd.gauss(0.0, 1.0))
        open_ = loans
        while open_ and budget > 0.0:
            total = sum(weights[ln] for ln in open_)
            shares = [budget * (weights[ln] / total if total > 0.0 else 1.0 / len(open_)) for ln in open_]
            full = [ln for ln, share in zip(open_, shares) if share >= ln.pay_due]
            if not full:
                for ln, share in zip(open_, shares):
                    ln.paid = share
                return
            for ln in full:
                ln.paid = ln.pay_due
                budget -= ln.pay_due
            open_ = [ln for ln in open_ if ln not in full]

    # ------------------------------------------------------------------ phase 7

    def account_delinquency(self) -> None:
        """Days past due move by the instalments the month's payment cleared; accrue penalties; a loan
        crossing 90 days defaults and is called in."""
        model = self.model
        tolerance = model.config.platforms.instalment_tolerance
        accelerate = model.config.platforms.accelerate_at_default
        for ln in self.loans:
            if ln.state != LIVE:
                ln.penalty_growth = 0.0
                continue
            prev = ln.prev_dpd
            base = ln.due_principal + ln.due_interest
            if base + ln.penalty <= EPS:
                ln.dpd = 0  # nothing past due: current
            elif ln.is_accelerated:
                ln.dpd = prev + DAYS_PER_MONTH  # all due: ages until paid in full
            else:
                cleared = math.floor(ln.to_instalments / max(tolerance * ln.instalment, EPS) + 1e-9)
                ln.dpd = max(prev + DAYS_PER_MONTH * (1 - cleared), 0)
            accrued = 0.0
            if base + ln.penalty > EPS:
                p = model.platforms[ln.platform]
                charged_on = ln.principal + ln.due_interest if p.penalty.applies_to == "outstanding" else base
                accrued = penalty_for_month(
                    p.penalty, charged_on, ln.penalty, ln.dpd, ln.apr, model.econ.benchmark_rate, model.rules
                )
                ln.penalty += accrued
            ln.penalty_growth = accrued / max(base, 1.0)
            if prev <= DEFAULT_DPD < ln.dpd:
                ln.has_defaulted = True
                model.new_defaults += 1
                if accelerate:
                    ln.due_principal = ln.principal
                    ln.months_left = 0
                    ln.is_accelerated = True

    # ------------------------------------------------------------------ phase 8

    def receive_collection(self) -> None:
        """Collection pressure on each overdue live loan, from its lender's conduct by bucket."""
        k = self.model.config.behaviour
        for ln in self.loans:
            ln.pressure = 0.0
            if ln.state != LIVE or ln.dpd <= 0:
                continue
            p = self.model.platforms[ln.platform]
            contacts = p.contacts_by_bucket[min((ln.dpd + 29) // 30, 4) - 1]
            if contacts > 0:
                ln.pressure = (
                    1.0
                    - math.exp(-k.pressure_per_contact * contacts)
                    + k.pressure_third_party * p.third_party
                    + k.pressure_night * p.night_contact
                )

    # ------------------------------------------------------------------ phase 9

    def charge_off(self) -> None:
        """Count down recoveries; charge off loans past the configured days past due."""
        pc = self.model.config.platforms
        for ln in self.loans:
            if ln.state == CHARGED_OFF:
                ln.recovery_months_left -= 1
                if ln.recovery_months_left <= 0 or ln.recovery_balance < EPS:
                    ln.state = CLOSED
            elif ln.state == LIVE and ln.dpd > pc.charge_off_dpd:
                owed = ln.owed
                ln.state = CHARGED_OFF if pc.recovery_months > 0 else CLOSED
                ln.recovery_balance = owed
                ln.recovery_due = pc.recovery_due_share * owed
                ln.recovery_months_left = pc.recovery_months
                ln.principal = ln.due_principal = ln.due_interest = ln.penalty = 0.0


def _bill(ln: RefLoan) -> None:
    """This month's interest on all principal, and the scheduled (annuity) principal."""
    r = ln.apr / 12.0
    ln.due_interest += ln.principal * r
    if ln.months_left > 0:
        not_due = ln.principal - ln.due_principal
        if ln.months_left == 1:
            scheduled = not_due
        else:
            scheduled = min(max(ln.instalment - not_due * r, 0.0), not_due)
        ln.due_principal += scheduled
        ln.months_left -= 1


def _apply_payment(ln: RefLoan, paid: float) -> float:
    """Penalty first, then interest, then principal; returns what went to interest and principal."""
    to_penalty = min(paid, ln.penalty)
    rest = paid - to_penalty
    to_interest = min(rest, ln.due_interest)
    to_principal = min(rest - to_interest, ln.due_principal)
    ln.penalty -= to_penalty
    ln.due_interest -= to_interest
    ln.due_principal -= to_principal
    ln.principal -= to_principal
    return to_interest + to_principal


@dataclass(frozen=True)
class MarketSnapshot:
    """A copy of what the reference needs from a ``LendingMarket`` at the end of a month.

    Plain arrays, so several references can be built from one state (one per repetition or per
    variant) while the market itself runs on.
    """

    config: ScenarioConfig
    month: int
    growth_level: float
    in_recession: bool
    n_borrowers: int
    borrowers: dict[str, np.ndarray]
    loans: dict[str, np.ndarray]  # live and charged-off loans, in book order, with their ``borrower``
    platforms: list[tuple]  # RefPlatform arguments

    @classmethod
    def of(cls, market: LendingMarket) -> MarketSnapshot:
        bs, book = market.borrower_state, market.loans
        if book.n and (book.view("holiday_left") > 0).any():
            raise ValueError("the reference does not model payment holidays")
        servicer = market.config.platforms.on_failure == "servicer"
        return cls(
            config=market.config,
            month=market.month,
            growth_level=market.economy.growth_level,
            in_recession=market.economy.in_recession,
            n_borrowers=bs.n,
            borrowers={name: np.array(getattr(bs, name)) for name in _BORROWER_FIELDS},
            loans={name: book.view(name).copy() for name in _LOAN_FIELDS + ("borrower",)},
            platforms=[
                (p.index, p.is_active, p.is_active or servicer, float(p.distress), float(p.strategic_rate))
                for p in market.platforms
            ],
        )


class ReferenceMarket(mesa.Model):
    """Borrowers as plain Mesa agents over a frozen set of lenders.

    Build it with :meth:`from_market` from a (burned-in) ``LendingMarket``; each ``step`` is one
    month: economy and rules, the month's job flows and the lenders' terms, every borrower's
    ``step`` in random order (``shuffle_do``), then the month's figures.

    Args:
        config: the scenario (the same ``ScenarioConfig`` the market was built from).
        borrowers: per borrower, its state (``_BORROWER_FIELDS``) and its loans.
        platforms: the lenders as borrowers see them.
        month: the month the state is at (the next step is ``month + 1``).
        growth_level: the economy's income-growth level at ``month``.
        in_recession: the economy's regime at ``month``.
        seed: seed of the model's random generators (and of the economy's regime draws).
    """

    borrower_class: type[ReferenceBorrower] = ReferenceBorrower

    def __init__(
        self,
        config: ScenarioConfig,
        borrowers: list[tuple[dict, list[RefLoan]]],
        platforms: list[RefPlatform],
        month: int,
        growth_level: float = 1.0,
        in_recession: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__(rng=seed)
        _check_supported(config)
        self.config = config
        self.month = month
        self.economy = Economy(config.economy, Draws(np.random.SeedSequence(seed)))
        self.economy.growth_level = growth_level
        self.economy.in_recession = in_recession
        self.econ = self.economy.state
        self.rule_schedule = resolve_schedule(config.regulator)
        self.rules = self.rule_schedule[0][1]
        self.policy_timelines = resolve_platform_policies(config.platforms)
        self.platforms = platforms
        for state, loans in borrowers:
            self.borrower_class(self, state, loans)
        self.borrowers = self.agents_by_type[self.borrower_class]
        self.mean_separation_weight = float(np.mean([a.separation_weight for a in self.borrowers]))
        self.mean_expense_weight = float(np.mean([a.expense_weight for a in self.borrowers]))
        # this month's labour market (set_terms)
        self.separation_rate = self.finding_rate = self.base_separation_rate = 0.0
        self.permanent_sd = self.scar = self.tenure_growth = 0.0
        self.live_at_start = 0
        self.new_defaults = 0
        self.figures: dict = {}
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "month": "month",
                "overdue_rate": lambda m: m.figures["overdue_rate"],
                "default_rate": lambda m: m.figures["default_rate"],
                "live_loans": lambda m: m.figures["live_loans"],
            }
        )

    @classmethod
    def from_market(cls, market: LendingMarket, seed: int = 0) -> ReferenceMarket:
        """A reference market in the state ``market`` is in now (after its last step)."""
        return cls.from_snapshot(MarketSnapshot.of(market), seed)

    @classmethod
    def from_snapshot(cls, snap: MarketSnapshot, seed: int = 0) -> ReferenceMarket:
        """A reference market in the state of ``snap``; each call builds fresh agents and loans."""
        columns = {name: snap.loans[name].tolist() for name in _LOAN_FIELDS}
        owner = snap.loans["borrower"].tolist()
        loans: list[list[RefLoan]] = [[] for _ in range(snap.n_borrowers)]
        for row in range(len(owner)):  # rows in book order, so each borrower's loans keep their order
            loans[owner[row]].append(RefLoan(**{name: columns[name][row] for name in _LOAN_FIELDS}))
        arrays = {name: snap.borrowers[name].tolist() for name in _BORROWER_FIELDS}
        borrowers = [({name: arrays[name][i] for name in _BORROWER_FIELDS}, loans[i]) for i in range(snap.n_borrowers)]
        platforms = [RefPlatform(*p) for p in snap.platforms]
        return cls(snap.config, borrowers, platforms, snap.month, snap.growth_level, snap.in_recession, seed=seed)

    # ------------------------------------------------------------------ the month

    def step(self) -> None:
        self.month += 1
        self.econ = self.economy.advance(self.month)
        self.rules = [rules for start, rules in self.rule_schedule if self.month >= start][-1]
        _check_rules(self.rules)
        self.set_terms()
        self.live_at_start = sum(ln.state == LIVE for a in self.borrowers for ln in a.loans)
        self.new_defaults = 0
        self.borrowers.shuffle_do("step")
        self.count_month()
        self.datacollector.collect(self)

    def set_terms(self) -> None:
        """The labour market at this month's unemployment target; each lender's penalty rule and conduct.

        Job finding f and separation s keep the target u* as their steady state, u* = s / (s + f); a change
        d in its log odds from the baseline's raises s by exp(share d) and lowers f by exp(-(1 - share) d).
        Slack, (u* - u0) / gap in [0, 1], enlarges permanent wage shocks and the scar of a job loss.
        """
        econ = self.config.economy
        u0, f0, target = econ.unemployment_rate, econ.job_finding_monthly, self.econ.unemployment_target
        s0 = f0 * u0 / (1.0 - u0)
        d = math.log(target / (1.0 - target)) - math.log(u0 / (1.0 - u0)) if u0 > 0 else 0.0
        self.finding_rate = min(f0 * math.exp(-(1.0 - econ.separation_share) * d), 1.0)
        self.separation_rate = s0 * math.exp(econ.separation_share * d)
        self.base_separation_rate = s0  # at the baseline rate: what on-the-job growth offsets
        slack = min(max((target - u0) / econ.slack_gap, 0.0), 1.0)
        self.permanent_sd = econ.income_permanent_sd * (1.0 + econ.income_risk_cyclicality * slack)
        self.scar = min(econ.scar_loss * (1.0 + econ.scar_cyclicality * slack), 0.9)
        self.tenure_growth = -math.log(1.0 - econ.scar_loss)

        servicer = practised_conduct(SERVICER_CONDUCT, self.rules, True)
        for p, timeline in zip(self.platforms, self.policy_timelines):
            policy = [pol for start, pol in timeline if self.month >= start][-1]
            p.penalty = policy.penalty
            if p.is_active:
                conduct = practised_conduct(
                    collection_conduct(policy.collection.regime, policy.collection.custom),
                    self.rules,
                    policy.complies_with_conduct_rules,
                )
            else:
                conduct = servicer if p.is_serviced else None
            if conduct is not None and conduct.targeted:
                raise ValueError("the reference does not model targeted collection")
            p.contacts_by_bucket = tuple(conduct.contacts_by_bucket.tolist()) if conduct else (0.0, 0.0, 0.0, 0.0)
            p.third_party = bool(conduct and conduct.third_party)
            p.night_contact = bool(conduct and conduct.night_contact)
            p.live_billed = p.withheld_able = 0

    def count_month(self) -> None:
        """The month's overdue and default rates; each lender's strategic rate for next month's herding."""
        live = overdue = 0
        for a in self.borrowers:
            for ln in a.loans:
                if ln.state == LIVE:
                    live += 1
                    overdue += ln.dpd > 0
        for p in self.platforms:
            p.strategic_rate = p.withheld_able / max(p.live_billed, 1)
        self.figures = {
            "overdue_rate": overdue / live if live else 0.0,
            "default_rate": self.new_defaults / self.live_at_start if self.live_at_start else 0.0,
            "live_loans": live,
        }


def _check_supported(config: ScenarioConfig) -> None:
    """Refuse scenarios that use mechanisms the reference does not model."""
    for timeline in resolve_platform_policies(config.platforms):
        for _, policy in timeline:
            if policy.restructuring.enabled:
                raise ValueError("the reference does not model restructuring")
            if policy.collection.regime == "targeted" or (
                policy.collection.custom and policy.collection.custom.targeted
            ):
                raise ValueError("the reference does not model targeted collection")
    for _, rules in resolve_schedule(config.regulator):
        _check_rules(rules)


def _check_rules(rules: RegulatorRules) -> None:
    if rules.forbearance.enabled:
        raise ValueError("the reference does not model payment holidays (forbearance)")
    if rules.education_reach_monthly > 0:
        raise ValueError("the reference does not model education campaigns")

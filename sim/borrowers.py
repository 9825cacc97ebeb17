"""Borrowers: state in NumPy arrays, one Mesa agent per borrower as a live view of its row.

The arrays (:class:`BorrowerState`) are what the monthly phases update, vectorised over all
borrowers. Each :class:`Borrower` is a real Mesa agent registered with the model
(``model.agents_by_type[Borrower]``) whose attributes read and write its row, so
``agent.income`` is always the live value and ``agent.literacy = 0.9`` changes the simulation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from .config import BorrowerConfig, EconomyConfig
from .draws import CONSTRUCTION, Draws, MonthDraws, Purpose

if TYPE_CHECKING:
    from .economy import EconomyState
    from .model import LendingMarket


class BorrowerState:
    """Per-borrower arrays. Amounts in CNY a month unless named otherwise."""

    def __init__(self, cfg: BorrowerConfig, draws: Draws) -> None:
        n = cfg.count
        self.n = n
        # Draw order is fixed: creditworthiness, income, essentials, savings, literacy, willingness.
        who = np.arange(n)
        z = draws.normal(Purpose.CREDITWORTHINESS, CONSTRUCTION, who)
        e_income = draws.normal(Purpose.INCOME_LEVEL, CONSTRUCTION, who)
        e_ess = draws.normal(Purpose.ESSENTIALS, CONSTRUCTION, who)
        e_sav = draws.normal(Purpose.SAVINGS, CONSTRUCTION, who)
        e_lit = draws.normal(Purpose.LITERACY, CONSTRUCTION, who)
        e_will = draws.normal(Purpose.WILLINGNESS, CONSTRUCTION, who)
        rho = cfg.income_risk_corr
        log_income = np.log(max(cfg.income_median_monthly, 1e-9)) + cfg.income_sigma * (
            rho * z + np.sqrt(1.0 - rho * rho) * e_income
        )
        #: latent creditworthiness (true risk type, higher is safer), never seen by platforms
        self.creditworthiness = z
        #: monthly wage when employed, before the economy's income level: moved by permanent shocks, scarred by
        #: job losses, growing on the job
        self.wage = np.exp(log_income)
        self.essentials_share = np.clip(
            cfg.essentials_share - cfg.essentials_risk_loading * z + cfg.essentials_sd * e_ess, 0.05, 2.0
        )
        #: essential spending committed to (CNY a month before the price level): a share of the wage, adjusting
        #: to a permanent change in it about once a year (consumption commitments)
        self.essentials = self.essentials_share * self.wage
        #: essential spending this month (CNY): commitments at today's prices, less the cut while out of work
        self.essential_spending = self.essentials.copy()
        self.savings = self.wage * cfg.savings_months * np.exp(cfg.savings_sd * e_sav)
        self.literacy = np.clip(cfg.literacy_mean + cfg.literacy_sd * e_lit, 0.0, 1.0)
        self.willingness = cfg.willingness_mean + cfg.willingness_risk_loading * z + cfg.willingness_sd * e_will
        self.support = np.full(n, 1.0)  # share of the family-help stock still available
        self.is_employed = np.ones(n, dtype=bool)
        self.spell_months = np.zeros(n, dtype=np.int32)  # months of the current unemployment spell (0: employed)
        self.has_benefit = np.zeros(n, dtype=bool)  # this spell is covered by unemployment insurance
        self.receives_benefit = np.zeros(n, dtype=bool)  # covered and within the benefit's duration this month
        self.income = self.wage.copy()  # this month's income
        self.expense = np.zeros(n)  # unexpected expense this month (CNY)
        self.shortfall = np.zeros(n)  # debt due left unpaid last month
        self.btr_cash = np.zeros(n)  # borrowing-to-repay proceeds available this month
        self.max_pressure = np.zeros(n)  # highest collection pressure on the borrower's loans last month
        self.has_bureau_record = np.zeros(n, dtype=bool)  # overdue or recent default seen at the bureau
        self.bureau_arrears = np.zeros(n, dtype=bool)  # behind now (or restructured) on a reported loan
        self.is_in_hardship = np.zeros(n, dtype=bool)  # this month consumption fell below essentials
        self.hardship_months = np.zeros(n, dtype=np.int32)
        self.loans_taken = np.zeros(n, dtype=np.int32)  # loans ever originated: the next one's number (LoanBook.seq)
        self.contacts_received = np.zeros(n, dtype=np.int64)  # cumulative collection contacts
        self.harassment_incidents = np.zeros(n, dtype=np.int64)
        self.complaints_filed = np.zeros(n, dtype=np.int64)
        self.last_bureau_default = np.full(n, -10_000, dtype=np.int32)  # month of last reported default
        self.defaulted_with = np.zeros(n, dtype=np.uint64)  # bit k: defaulted on a loan of platform k (its own record)
        self.informal_debt = np.zeros(n)  # informal credit outstanding (CNY)
        self.reference_apr = np.full(n, cfg.reference_apr)  # the price the borrower expects: their last loan's APR

    def risk_weights(self, gradient: float) -> np.ndarray:
        """``exp(-gradient z)`` normalised to mean one; z never changes, so computed once per gradient."""
        cache = self.__dict__.setdefault("_risk_weight_cache", {})
        if gradient not in cache:
            cache[gradient] = _risk_weights(self.creditworthiness, gradient)
        return cache[gradient]


def start_employment(state: BorrowerState, econ: EconomyConfig, draws: Draws) -> None:
    """Start with the baseline unemployment rate, riskier borrowers more often unemployed; the unemployed
    part-way through spells of geometric length (the steady state of the job-finding rate), a few covered."""
    who = np.arange(state.n)
    u = draws.uniform(Purpose.START_EMPLOYMENT, CONSTRUCTION, who)
    w = _risk_weights(state.creditworthiness, econ.job_loss_risk_gradient)
    state.is_employed = u >= np.clip(econ.unemployment_rate * w, 0.0, 1.0)
    f = min(econ.job_finding_monthly, 1.0 - 1e-9)
    months = np.ceil(np.log(draws.uniform(Purpose.START_SPELL, CONSTRUCTION, who)) / np.log1p(-f))
    state.spell_months = np.where(state.is_employed, 0, np.maximum(months, 1)).astype(np.int32)
    covered = draws.uniform(Purpose.START_BENEFIT, CONSTRUCTION, who) < econ.benefit_coverage
    state.has_benefit = ~state.is_employed & covered
    state.receives_benefit = state.has_benefit & (state.spell_months <= econ.benefit_months)


def labour_slack(econ: EconomyConfig, target_u: float) -> float:
    """How slack the labour market is, 0 (at or below the baseline unemployment rate) to 1 (``slack_gap`` above)."""
    return float(np.clip((target_u - econ.unemployment_rate) / econ.slack_gap, 0.0, 1.0))


def job_flows(econ: EconomyConfig, target_u: float) -> tuple[float, float]:
    """Monthly job-finding and (mean) separation probabilities at an unemployment target.

    Their steady state is the target, u* = s / (s + f). The change in its log odds from the
    baseline, d, is split: separations rise by exp(share x d) and job finding falls by
    exp(-(1 - share) x d), so that a quarter of a rise in unemployment comes from more job losses
    and three quarters from fewer hires (Shimer 2012).
    """
    u0 = econ.unemployment_rate
    f0 = econ.job_finding_monthly
    s0 = f0 * u0 / (1.0 - u0)
    d = np.log(target_u / (1.0 - target_u)) - np.log(u0 / (1.0 - u0)) if u0 > 0 else 0.0
    share = econ.separation_share
    return min(f0 * float(np.exp(-(1.0 - share) * d)), 1.0), s0 * float(np.exp(share * d))


def _risk_weights(z: np.ndarray, gradient: float) -> np.ndarray:
    w = np.exp(-gradient * z)
    return w / w.mean()


def update_employment(
    state: BorrowerState, econ: EconomyConfig, cfg: BorrowerConfig, now: EconomyState, draws: MonthDraws
) -> None:
    """Phase 3: job losses and finds, wages, this month's income, essential spending and unexpected expenses.

    Jobs: separation and job-finding probabilities make the economy's unemployment target the
    steady state, a quarter of a rise coming from more separations (:func:`job_flows`);
    separation is higher for riskier borrowers (weight exp(-g z), mean one). Realised
    unemployment approaches the target at speed s + f a month - the lag of a few months between
    a shock and overdue rates (stylized fact 1).

    Wages: a permanent (random-walk) log shock each month, larger when the labour market is slack;
    re-employment after a job loss at a permanently lower wage (the scar, larger in slack); and,
    on the job, the growth that offsets the baseline's expected scars, so that in a calm economy
    every risk type's expected wage is flat (returns to tenure) and a recession leaves lasting
    losses. Income: the wage times the economy's income level and a transitory shock when
    employed; otherwise odd jobs and household transfers, any shock relief, and the unemployment
    benefit for the covered few until it runs out.

    Essential spending follows the wage slowly (commitments re-contract about once a year) and
    is cut while out of work, more without a benefit. Unexpected expenses (illness, repairs,
    family needs) hit a few borrowers each month with an exponentially distributed size; with
    thin savings they are a main route into arrears.

    Draws: per borrower one uniform (job flows), two normals (transitory and permanent income),
    one uniform for benefit coverage (used by who loses a job), one uniform and one standard
    exponential (expense shocks).
    """
    target_u, income_level, relief, price_level = now.unemployment_target, now.income_level, now.relief, now.price_level
    who = np.arange(state.n)
    u_draw = draws.uniform(Purpose.JOB_FLOW, who)
    noise = draws.normal(Purpose.INCOME_NOISE, who)
    e_perm = draws.normal(Purpose.INCOME_PERMANENT, who)
    u_cover = draws.uniform(Purpose.BENEFIT_COVERAGE, who)
    u_expense = draws.uniform(Purpose.EXPENSE_OCCURS, who)
    slack = labour_slack(econ, target_u)
    f, s = job_flows(econ, target_u)
    weights = state.risk_weights(econ.job_loss_risk_gradient)
    _, s0 = job_flows(econ, econ.unemployment_rate)
    employed = state.is_employed
    lost = employed & (u_draw < np.clip(s * weights, 0.0, 1.0))
    found = ~employed & (u_draw < f)
    stayed = employed & ~lost
    state.is_employed = stayed | found

    # wages: permanent shock (mean-preserving in levels), on-the-job growth, the scar at re-employment
    sd = econ.income_permanent_sd * (1.0 + econ.income_risk_cyclicality * slack)
    base_scar = -np.log1p(-econ.scar_loss)
    growth = np.clip(s0 * weights, 0.0, 1.0) * base_scar * stayed
    scar = min(econ.scar_loss * (1.0 + econ.scar_cyclicality * slack), 0.9)
    log_change = sd * e_perm - 0.5 * sd * sd + growth + np.log1p(-scar) * found
    state.wage = state.wage * np.exp(log_change)

    # unemployment spells and benefits: coverage is decided at the job loss, for the spell
    state.spell_months = np.where(state.is_employed, 0, state.spell_months + 1).astype(np.int32)
    state.has_benefit = np.where(lost, u_cover < econ.benefit_coverage, state.has_benefit & ~state.is_employed)
    state.receives_benefit = state.has_benefit & (state.spell_months <= econ.benefit_months)

    wage = state.wage * income_level * np.exp(econ.income_transitory_sd * noise - 0.5 * econ.income_transitory_sd**2)
    # benefits, odd jobs and expenses follow the trend (price) level: an income shock cuts pay, not benefits or bills
    jobless = price_level * (
        state.wage * min(econ.jobless_income_share + relief, 1.0) + econ.benefit_monthly * state.receives_benefit
    )
    state.income = np.where(state.is_employed, wage, jobless)

    state.essentials += cfg.commitment_adjust_monthly * (state.essentials_share * state.wage - state.essentials)
    cut = np.where(
        state.is_employed,
        0.0,
        cfg.essentials_cut_unemployed + cfg.essentials_cut_no_benefit * ~state.receives_benefit,
    )
    state.essential_spending = state.essentials * price_level * (1.0 - np.minimum(cut, 1.0))

    p_expense = cfg.expense_shock_monthly * state.risk_weights(cfg.expense_risk_gradient)
    hit = np.flatnonzero(u_expense < p_expense)
    size = draws.exponential(Purpose.EXPENSE_SIZE, hit)  # drawn for who is hit only
    state.expense = np.zeros(state.n)
    state.expense[hit] = cfg.expense_shock_months * size * state.wage[hit] * price_level


class Borrower(mesa.Agent):
    """A borrower: a Mesa agent whose attributes are its row of the borrower arrays."""

    def __init__(self, model: LendingMarket, index: int) -> None:
        super().__init__(model)
        self.index = index

    def _get(self, name: str):
        return getattr(self.model.borrower_state, name)[self.index]

    def _set(self, name: str, value) -> None:
        getattr(self.model.borrower_state, name)[self.index] = value

    @property
    def income(self) -> float:
        """This month's income (CNY)."""
        return float(self._get("income"))

    @property
    def is_employed(self) -> bool:
        return bool(self._get("is_employed"))

    @property
    def savings(self) -> float:
        """Liquid savings (CNY)."""
        return float(self._get("savings"))

    @savings.setter
    def savings(self, value: float) -> None:
        self._set("savings", value)

    @property
    def creditworthiness(self) -> float:
        """Latent risk type (higher is safer); platforms only see a noisy score."""
        return float(self._get("creditworthiness"))

    @property
    def literacy(self) -> float:
        """Financial literacy in [0, 1]."""
        return float(self._get("literacy"))

    @literacy.setter
    def literacy(self, value: float) -> None:
        self._set("literacy", min(max(value, 0.0), 1.0))

    @property
    def wage(self) -> float:
        """Monthly wage when employed (CNY, before the economy's income level): moves with permanent
        shocks, falls at re-employment after a job loss, grows on the job."""
        return float(self._get("wage"))

    @property
    def informal_debt(self) -> float:
        """Informal credit outstanding (CNY)."""
        return float(self._get("informal_debt"))

    @property
    def willingness(self) -> float:
        """Strategic-default threshold (higher = more willing to pay)."""
        return float(self._get("willingness"))

    @property
    def hardship_months(self) -> int:
        return int(self._get("hardship_months"))

    @property
    def complaints_filed(self) -> int:
        return int(self._get("complaints_filed"))

    @property
    def contacts_received(self) -> int:
        return int(self._get("contacts_received"))

    @property
    def credit_scores(self) -> np.ndarray:
        """The score each platform sees of this borrower before its scoring error: creditworthiness
        less that platform's penalty for the worst record it knows of (under the policy it has in
        force this month, its overrides and schedule included): the borrower is behind on, or
        defaulted on, one of its own loans; or it is a bureau member and the bureau shows arrears now,
        or else a reported default still on the record.
        The scoring error is mostly the platform's lasting view of the borrower, partly drawn
        afresh at each application (``scoring_noise_persistence``)."""
        from .loans import LIVE
        from .policies import record_penalty

        borrowers, book, platforms = self.model.borrower_state, self.model.loans, self.model.platforms
        mine = (book.view("borrower") == self.index) & (book.view("state") == LIVE) & (book.view("dpd") > 0)
        behind_at = set(book.view("platform")[mine].tolist())
        defaulted = int(borrowers.defaulted_with[self.index])
        uw = [p.policy.underwriting for p in platforms]
        penalty = record_penalty(
            np.array([p.index in behind_at or bool(defaulted >> p.index & 1) for p in platforms]),
            bool(borrowers.bureau_arrears[self.index]),
            bool(borrowers.has_bureau_record[self.index]),
            np.array([p.is_reporting for p in platforms]),
            np.array([u.bureau_flag_penalty for u in uw]),
            np.array([u.bureau_arrears_penalty for u in uw]),
            np.array([u.bureau_default_penalty for u in uw]),
        )
        return float(borrowers.creditworthiness[self.index]) - penalty

    @property
    def credit_score(self) -> float:
        """The score the largest platform (index 0) sees; see :attr:`credit_scores` for every platform."""
        return float(self.credit_scores[0])

    @property
    def loans(self) -> np.ndarray:
        """Row indices of this borrower's live loans in ``model.loans``."""
        book = self.model.loans
        from .loans import LIVE

        return np.flatnonzero((book.view("borrower") == self.index) & (book.view("state") == LIVE))

    @property
    def debt(self) -> float:
        """Total owed on live loans (CNY)."""
        return float(self.model.loans.owed()[self.loans].sum())

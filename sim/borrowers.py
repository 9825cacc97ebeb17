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
        #: monthly wage when employed, before the economy's income level
        self.wage = np.exp(log_income)
        self.essentials_share = np.clip(
            cfg.essentials_share - cfg.essentials_risk_loading * z + cfg.essentials_sd * e_ess, 0.05, 2.0
        )
        self.savings = self.wage * cfg.savings_months * np.exp(cfg.savings_sd * e_sav)
        self.literacy = np.clip(cfg.literacy_mean + cfg.literacy_sd * e_lit, 0.0, 1.0)
        self.willingness = cfg.willingness_mean + cfg.willingness_risk_loading * z + cfg.willingness_sd * e_will
        self.support = np.full(n, 1.0)  # share of the family-help stock still available
        self.is_employed = np.ones(n, dtype=bool)
        self.income = self.wage.copy()  # this month's income
        self.expense = np.zeros(n)  # unexpected expense this month (CNY)
        self.shortfall = np.zeros(n)  # debt due left unpaid last month
        self.btr_cash = np.zeros(n)  # borrowing-to-repay proceeds available this month
        self.max_pressure = np.zeros(n)  # highest collection pressure on the borrower's loans last month
        self.has_bureau_record = np.zeros(n, dtype=bool)  # overdue or recent default seen at the bureau
        self.is_in_hardship = np.zeros(n, dtype=bool)  # this month consumption fell below essentials
        self.hardship_months = np.zeros(n, dtype=np.int32)
        self.loans_taken = np.zeros(n, dtype=np.int32)  # loans ever originated: the next one's number (LoanBook.seq)
        self.contacts_received = np.zeros(n, dtype=np.int64)  # cumulative collection contacts
        self.harassment_incidents = np.zeros(n, dtype=np.int64)
        self.complaints_filed = np.zeros(n, dtype=np.int64)
        self.last_bureau_default = np.full(n, -10_000, dtype=np.int32)  # month of last reported default

    def risk_weights(self, gradient: float) -> np.ndarray:
        """``exp(-gradient z)`` normalised to mean one; z never changes, so computed once per gradient."""
        cache = self.__dict__.setdefault("_risk_weight_cache", {})
        if gradient not in cache:
            cache[gradient] = _risk_weights(self.creditworthiness, gradient)
        return cache[gradient]

    @property
    def essentials(self) -> np.ndarray:
        """Essential expenses this month (CNY), a share of the wage level."""
        return self.essentials_share * self.wage


def start_employment(state: BorrowerState, econ: EconomyConfig, draws: Draws) -> None:
    """Start with the baseline unemployment rate, riskier borrowers more often unemployed."""
    u = draws.uniform(Purpose.START_EMPLOYMENT, CONSTRUCTION, np.arange(state.n))
    w = _risk_weights(state.creditworthiness, econ.job_loss_risk_gradient)
    state.is_employed = u >= np.clip(econ.unemployment_rate * w, 0.0, 1.0)


def _risk_weights(z: np.ndarray, gradient: float) -> np.ndarray:
    w = np.exp(-gradient * z)
    return w / w.mean()


def update_employment(
    state: BorrowerState, econ: EconomyConfig, cfg: BorrowerConfig, now: EconomyState, draws: MonthDraws
) -> None:
    """Phase 3: job losses and finds, this month's income and unexpected expenses.

    Job finding is f = f0 (u0/u*)^e at the target rate u*; separation s = f u*/(1-u*) makes u*
    the steady state, so realised unemployment approaches the target at speed s+f a month -
    the lag of a few months between a shock and overdue rates (stylized fact 1). Separation is
    higher for riskier borrowers (weight exp(-g z), mean one).

    Unexpected expenses (illness, repairs, family needs) hit a few borrowers each month with an
    exponentially distributed size; with thin savings they are a main route into arrears.

    Draws: per borrower one uniform (job flows), one normal (income noise), one uniform and one
    standard exponential (expense shocks).
    """
    target_u, income_level, relief, price_level = now.unemployment_target, now.income_level, now.relief, now.price_level
    who = np.arange(state.n)
    u_draw = draws.uniform(Purpose.JOB_FLOW, who)
    noise = draws.normal(Purpose.INCOME_NOISE, who)
    u_expense = draws.uniform(Purpose.EXPENSE_OCCURS, who)
    f = min(econ.job_finding_monthly * (econ.unemployment_rate / target_u) ** econ.job_finding_elasticity, 1.0)
    s = f * target_u / (1.0 - target_u)
    sep = np.clip(s * state.risk_weights(econ.job_loss_risk_gradient), 0.0, 1.0)
    employed = state.is_employed
    state.is_employed = np.where(employed, u_draw >= sep, u_draw < f)
    wage = state.wage * income_level * np.exp(econ.income_noise_sd * noise - 0.5 * econ.income_noise_sd**2)
    # benefits and expenses follow the trend (price) level: an income shock cuts pay, not benefits or bills
    jobless = state.wage * price_level * min(econ.benefit_replacement + relief, 1.0)
    state.income = np.where(state.is_employed, wage, jobless)
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
        less that platform's bureau-record penalty, under the policy it has in force this month
        (its overrides and schedule included), when it is a bureau member and the borrower has a
        record. The scoring error is drawn afresh at each application."""
        borrowers = self.model.borrower_state
        record = bool(borrowers.has_bureau_record[self.index])
        z = float(borrowers.creditworthiness[self.index])
        return np.array(
            [z - p.policy.underwriting.bureau_flag_penalty * (p.is_reporting and record) for p in self.model.platforms]
        )

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

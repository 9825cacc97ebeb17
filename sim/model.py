"""LendingMarket: the month of an online-lending market, as the twelve phases of the model.

The model owns the order of a month, the clock and the random source (``self.draws``, keyed draws:
:mod:`sim.draws`);
state lives in the borrower arrays, the loan book and the platform and regulator agents; each
phase is a function in its own module over explicit inputs, and what phases hand each other is
a declared record (:class:`~sim.platforms.PlatformTerms`, :class:`~sim.repayment.Billing`,
:class:`~sim.flows.MonthFlows`). Decision rules live in :mod:`sim.policies`.

Random draws happen in a fixed order and in sizes that depend only on the state (borrowers, live
loans, applicants, overdue loans), never on how a phase is implemented, so a given seed gives
bit-identical results however the phases are later optimised. Each phase's docstring lists its
draws.
"""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd

from .borrowers import Borrower, BorrowerState, start_employment, update_employment
from .collection import collect_overdue
from .config import ScenarioConfig
from .delinquency import account_delinquency
from .draws import CONSTRUCTION, Draws, Purpose
from .economy import Economy
from .flows import Cumulative, Ledger, Month, MonthFlows, Records, VintageCounts
from .loans import LIVE, LoanBook
from .metrics import bucket_of, model_metrics, model_reporters, platform_reporters
from .origination import originate_loans
from .platforms import Platform, close_platform_accounts, resolve_platform_policies, set_platform_terms
from .regulator import Regulator, apply_regulation, supervise_platforms
from .repayment import collect_repayments
from .workout import restructure_and_charge_off

# spawn-key component of the seed handed to Mesa (distinct from the replication keys of experiments)
MESA_STREAM = 0x4D455341  # "MESA"


class LendingMarket(mesa.Model):
    """An online consumer-lending market with borrowers, platforms and a regulator.

    Args:
        config: a validated scenario (see :func:`sim.config.load_scenario`).
        seed: an int or a ``numpy.random.SeedSequence``; the same seed gives identical results.
    """

    def __init__(self, config: ScenarioConfig, seed: int | np.random.SeedSequence = 0) -> None:
        ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        # Mesa gets a seed of its own (for its stdlib random and agent-set shuffles, which the model does
        # not use): given a generator, Mesa draws from it, so the model's draws would depend on Mesa's.
        mesa_seed = np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, MESA_STREAM))
        super().__init__(rng=int(mesa_seed.generate_state(1, np.uint64)[0] >> np.uint64(1)))
        # every draw of the model is keyed by (seed, purpose, month, entity), never by draw order (sim.draws)
        self.draws = Draws(ss)
        self.config = config
        self.seed = seed
        self.n_steps = config.burn_in + config.months

        self.economy = Economy(config.economy, self.draws)
        self.econ = self.economy.state
        self.borrower_state = BorrowerState(config.borrowers, self.draws)
        start_employment(self.borrower_state, config.economy, self.draws)
        # real Mesa agents, one per borrower, each a view of its row
        self.borrower_agents = [Borrower(self, i) for i in range(self.borrower_state.n)]

        self.loans = LoanBook(capacity=max(1024, 2 * self.borrower_state.n))
        self.regulator = Regulator(self, config.regulator)
        self.rules = self.regulator.rules
        self.policy_timelines = resolve_platform_policies(config.platforms)
        self.platforms = self._create_platforms()

        self.records = Records(MonthFlows(), Ledger(), Cumulative(), VintageCounts())
        self.last_overdue_rate = 0.0
        self.metrics: dict = {}
        self.datacollector = mesa.DataCollector(
            model_reporters=model_reporters(), agenttype_reporters={Platform: platform_reporters()}
        )

    @property
    def flows(self) -> MonthFlows:
        """This month's flows (read by the metrics)."""
        return self.records.flows

    @property
    def ledger(self) -> Ledger:
        """Principal lent, repaid, charged off and written down over the run."""
        return self.records.ledger

    @property
    def cumulative(self) -> Cumulative:
        return self.records.cumulative

    @property
    def vintages(self) -> VintageCounts:
        return self.records.vintages

    @property
    def month(self) -> int:
        """The month being simulated: 1 is the first month after burn-in (burn-in months are <= 0).

        Mesa's step counter is the one clock: it counts every step, burn-in included.
        """
        return self.steps - self.config.burn_in

    def _create_platforms(self) -> list[Platform]:
        cfg, bcfg = self.config.platforms, self.config.borrowers
        k = np.arange(1, cfg.count + 1, dtype=np.float64)
        share = k**-cfg.size_concentration
        share /= share.sum()
        # expected book: applications a month x approval x mean request x mean months outstanding
        mean_request = 0.5 * (bcfg.loan_income_min + bcfg.loan_income_max) * bcfg.income_median_monthly
        mean_term = float(np.average(cfg.term_months, weights=cfg.term_weights))
        expected_book = (
            bcfg.count * bcfg.demand_monthly * cfg.expected_approval_rate * mean_request * (mean_term + 1) / 2.0
        )
        cap_noise = self.draws.normal(Purpose.PLATFORM_CAPITAL, CONSTRUCTION, np.arange(cfg.count))
        platforms = []
        for i in range(cfg.count):
            book_i = expected_book * share[i]
            capital = book_i * cfg.capital_ratio * np.exp(cfg.capital_dispersion * cap_noise[i])
            policy = self.policy_timelines[i][0][1]
            platforms.append(
                Platform(self, i, float(share[i]), float(capital), float(book_i * cfg.funding_ratio), policy, cfg)
            )
        return platforms

    # ================================================================= the month

    def step(self) -> None:
        """One month, in the order of the model's specification (docs/specification.md)."""
        cfg, borrowers, book, platforms = self.config, self.borrower_state, self.loans, self.platforms
        month, regulator, rec = self.month, self.regulator, self.records
        draws = self.draws.at(month)
        self.econ = econ = self.economy.advance(month)  # 1. economy
        self.open_month()
        self.rules = rules = apply_regulation(regulator, borrowers, month, self.last_overdue_rate, draws)  # 2. rules
        update_employment(borrowers, cfg.economy, cfg.borrowers, econ, draws)  # 3. jobs and income
        terms = set_platform_terms(platforms, self.policy_timelines, regulator, econ, cfg, month, rec.flows)  # 4.
        now = Month(month, cfg, rules, econ, draws)
        originate_loans(borrowers, book, platforms, terms, now, rec)  # 5. demand and origination
        billing = collect_repayments(borrowers, book, platforms, terms, now, rec)  # 6. repayment
        account_delinquency(borrowers, book, platforms, terms, billing, now, rec)  # 7. delinquency and penalties
        collect_overdue(borrowers, book, platforms, terms, now, rec)  # 8. collection
        restructure_and_charge_off(borrowers, book, platforms, terms, now, rec)  # 9. workouts and charge-off
        close_platform_accounts(book, platforms, month, rec.flows)  # 10. platform accounts
        supervise_platforms(regulator, platforms, draws, month, rec.flows)  # 11. supervision
        self.collect_data()  # 12. data collection

    def run(self, progress: bool = False) -> LendingMarket:
        """Run burn-in and all months."""
        steps = range(self.n_steps)
        if progress:
            from tqdm import tqdm

            steps = tqdm(steps, desc=self.config.name, unit="month", leave=False)
        for _ in steps:
            self.step()
        return self

    def open_month(self) -> None:
        """Start the month's records (with phase 1): fresh flows, the book's buckets before anything happens."""
        book = self.loans
        live = book.view("state") == LIVE
        self.records.flows = MonthFlows(
            live_at_start=int(live.sum()),
            prev_bucket_counts=np.bincount(bucket_of(book.view("dpd")[live]), minlength=5),
        )
        if self.month == 1:  # cumulative default rate counts from the first month after burn-in
            self.cumulative.defaults, self.cumulative.base, self.cumulative.originations = 0, int(live.sum()), 0
        for p in self.platforms:
            p.start_month()

    def collect_data(self) -> None:
        """Phase 12: monthly outputs, then drop finished loans (at a fixed point of the month)."""
        self.metrics = model_metrics(
            self.loans,
            self.borrower_state,
            self.platforms,
            self.regulator,
            self.econ,
            self.month,
            self.flows,
            self.cumulative,
        )
        self.last_overdue_rate = self.metrics["overdue_rate"]
        self.datacollector.collect(self)
        self.loans.compact(min_dead_share=0.25)

    # ================================================================= outputs

    def model_frame(self) -> pd.DataFrame:
        """One row a month (burn-in months have ``month <= 0`` and ``is_burn_in``)."""
        df = self.datacollector.get_model_vars_dataframe().reset_index(drop=True)
        return df[list(df.columns)]

    def platform_frame(self) -> pd.DataFrame:
        """One row per platform and month."""
        df = self.datacollector.get_agenttype_vars_dataframe(Platform).reset_index()
        steps = df.pop("Step").astype(int)
        df.insert(0, "month", steps - self.config.burn_in)
        df = df.rename(columns={"AgentID": "agent_id"})
        df.insert(1, "platform", df["name"].str[1:].astype(int))
        return df

    def vintage_frame(self) -> pd.DataFrame:
        """Cumulative default by vintage (origination month) and months on book."""
        return self.vintages.frame(self.month)


__all__ = ["LendingMarket"]

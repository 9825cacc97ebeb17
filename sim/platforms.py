"""Platforms: lenders that underwrite, price, charge penalties, collect, restructure and report.

A handful of them, so each is a plain Mesa agent with scalar state; what they do to loans is
vectorised in the model using per-platform parameter arrays. Their policy (a
:class:`~sim.config.PlatformPolicy`) can differ by platform (``platforms.overrides``) and change
over time (``platforms.schedule``); the model resolves it each month.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from .config import PlatformPolicy, PlatformsConfig, RegulatorRules
from .policies import Conduct, collection_conduct, practised_conduct

if TYPE_CHECKING:
    from .model import LendingMarket

ACTIVE, FAILED, REVOKED = "active", "failed", "revoked"

# Monthly account lines (CNY), reset at the start of each month.
FLOWS = ("interest_income", "penalty_income", "principal_repaid", "recoveries", "charge_offs", "writedowns",
         "collection_cost", "funding_cost", "operating_cost", "fines", "originated_amount", "originations",
         "applications", "contacts", "incidents", "complaints", "new_defaults", "collected_overdue")


class Platform(mesa.Agent):
    """A lending platform."""

    def __init__(self, model: LendingMarket, index: int, share: float, capital: float, funding: float,
                 policy: PlatformPolicy) -> None:
        super().__init__(model)
        self.index = index
        self.name = f"P{index}"
        self.share = share  # weight of the platform in borrowers' choice of where to apply
        self.capital = capital
        self.funding = funding
        self.initial_funding = funding
        self.reputation = 1.0
        self.status = ACTIVE
        self.violations = 0
        self.policy = policy
        self.cutoff = policy.underwriting.cutoff
        self.is_reporting = policy.reports_to_bureau
        self.conduct: Conduct | None = None
        self.flows = dict.fromkeys(FLOWS, 0.0)
        self.last_originations = 0.0  # last month's
        self.prev_originations = 0.0  # the month before
        self.overdue_rate = 0.0  # last month's, by count
        self.default_rate = 0.0  # last month's new defaults / live loans
        self.book = 0.0  # principal outstanding
        self.live_loans = 0
        self.profit = 0.0
        self.failed_month: int | None = None

    # ----------------------------------------------------------------- state

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE

    @property
    def distress(self) -> float:
        """0 when capital is ample; rises towards 1 as capital falls to nothing (borrowers' view)."""
        if not self.is_active:
            return 1.0
        ratio = self.capital / max(self.book, 1.0)
        return float(np.clip(1.0 - ratio / 0.05, 0.0, 1.0))

    def lending_budget(self, rules: RegulatorRules) -> float:
        """New principal the platform can lend this month: funds not tied up in loans."""
        if not self.is_active or self.capital < rules.min_capital_ratio * self.book:
            return 0.0
        return max(self.capital + self.funding - self.book, 0.0)

    # ----------------------------------------------------------------- phase 4

    def set_terms(self, policy: PlatformPolicy, rules: RegulatorRules, reporting_mandated: bool) -> None:
        """Adopt this month's policy, adjust the cut-off and practise conduct under the rules.

        Competition lowers the cut-off while origination growth falls short of target (chasing
        share); early warning raises it while the platform's own overdue rate is above its line;
        otherwise it drifts back to the policy cut-off.
        """
        self.policy = policy
        uw = policy.underwriting
        self.is_reporting = policy.reports_to_bureau or reporting_mandated
        self.conduct = practised_conduct(collection_conduct(policy.collection.regime, policy.collection.custom),
                                         rules, policy.complies_with_conduct_rules)
        if not self.is_active:
            return
        growth = self.last_originations / max(self.prev_originations, 1.0) - 1.0
        if uw.early_warning and self.overdue_rate > uw.early_warning_line:
            self.cutoff = min(self.cutoff + uw.cutoff_step, max(uw.max_cutoff, uw.cutoff))
        elif uw.competition and growth < uw.growth_target_monthly:
            self.cutoff = max(self.cutoff - uw.cutoff_step, uw.min_cutoff)
        elif not uw.competition:
            step = min(uw.cutoff_step, abs(self.cutoff - uw.cutoff))
            self.cutoff += step * np.sign(uw.cutoff - self.cutoff)

    def flow_funding(self, cfg: PlatformsConfig, withdrawal: float) -> None:
        """Investor money flows in with reputation and out with distress and funding shocks."""
        if not self.is_active:
            return
        g = cfg.funding_sensitivity * ((self.reputation - 0.5) - 2.0 * self.distress)
        self.funding *= max(1.0 + g, 0.0) * (1.0 - withdrawal)
        # funding beyond twice the initial level is not sought (no use for it)
        self.funding = min(self.funding, 2.0 * self.initial_funding)

    def start_month(self) -> None:
        self.prev_originations = self.last_originations
        self.last_originations = self.flows["originations"]
        self.flows = dict.fromkeys(FLOWS, 0.0)

    # ----------------------------------------------------------------- phase 10

    def close_accounts(self, cfg: PlatformsConfig) -> float:
        """Book the month's profit into capital; return the profit (CNY)."""
        f = self.flows
        if self.is_active:
            # investors earn on money lent out (P2P matching); loans beyond capital are investor-funded
            deployed = min(self.funding, max(self.book - self.capital, 0.0))
            f["funding_cost"] = deployed * cfg.cost_of_funds_annual / 12.0
            f["operating_cost"] = self.book * cfg.operating_cost_annual / 12.0
        self.profit = (f["interest_income"] + f["penalty_income"] + f["recoveries"] - f["charge_offs"]
                       - f["writedowns"] - f["collection_cost"] - f["funding_cost"] - f["operating_cost"])
        self.capital += self.profit
        return self.profit

    def update_reputation(self, cfg: PlatformsConfig) -> None:
        per_thousand = self.flows["complaints"] / max(self.live_loans / 1000.0, 1.0)
        self.reputation += cfg.reputation_recovery * (1.0 - self.reputation) - cfg.reputation_per_complaint * per_thousand / 100.0
        self.reputation = float(np.clip(self.reputation, 0.0, 1.0))

    def should_fail(self, cfg: PlatformsConfig) -> bool:
        return self.is_active and (self.capital < 0.0 or self.funding < cfg.min_funding_ratio * self.initial_funding)

    def exit(self, status: str, month: int) -> None:
        """Leave the market: no more lending; the book is serviced or not per ``on_failure``."""
        self.status = status
        self.failed_month = month

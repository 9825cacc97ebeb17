"""The regulator: rules (data, changing on a schedule) plus supervision each month.

Like the central bank of the INET housing model, its policy is data (:class:`RegulatorRules`)
plus two hooks the model calls: :func:`apply_regulation` (phase 2: the rules in force, early
warning, education campaigns) and :meth:`Regulator.supervise` (phase 11).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from .config import PlatformPolicy, RegulatorConfig, RegulatorRules, apply_changes
from .draws import CONSTRUCTION, MonthDraws, Purpose
from .platforms import fail_platform
from .policies import collection_conduct, practised_conduct

if TYPE_CHECKING:
    from .borrowers import BorrowerState
    from .flows import MonthFlows
    from .model import LendingMarket
    from .platforms import Platform


def resolve_schedule(cfg: RegulatorConfig) -> list[tuple[int, RegulatorRules]]:
    """Rules in force from each change month on, in month order (validated at load time)."""
    base = RegulatorRules.model_validate(cfg.model_dump(exclude={"schedule"}))
    out = [(-(10**9), base)]
    changes: list[dict] = []
    for month in sorted({c.month for c in cfg.schedule}):
        changes += [c.set for c in cfg.schedule if c.month == month]
        out.append((month, apply_changes(RegulatorRules, base, changes)))
    return out


class Regulator(mesa.Agent):
    """Sets caps and conduct rules, mandates reporting and forbearance, inspects and fines."""

    def __init__(self, model: LendingMarket, cfg: RegulatorConfig) -> None:
        super().__init__(model)
        self.schedule = resolve_schedule(cfg)
        self.rules = self.schedule[0][1]
        self.is_tightening = False
        self.fines_month = 0.0
        self.revocations_month = 0
        self.inspections_month = 0
        self.breaching_month = 0
        self.education_cost = 0.0
        n = model.config.platforms.count
        # what each platform expects of supervision: last month's inspection probability (the base one before any)
        self.inspection_probability = np.full(n, self.rules.inspection_base)
        # a platform's lasting view of what breaching the conduct rules would bring it (standard normal, keyed)
        self.gain_noise = model.draws.normal(Purpose.BREACH_GAIN, CONSTRUCTION, np.arange(n))

    def apply_rules(self, month: int, market_overdue_rate: float) -> RegulatorRules:
        """Phase 2: rules in force this month; system-wide early warning on last month's figures."""
        for start, rules in self.schedule:
            if month >= start:
                self.rules = rules
        ew = self.rules.early_warning
        self.is_tightening = ew.enabled and market_overdue_rate > ew.overdue_line
        return self.rules

    @property
    def has_conduct_rules(self) -> bool:
        r = self.rules
        return r.max_contacts_month is not None or r.ban_third_party or r.ban_night_contact

    @property
    def cutoff_tightening(self) -> float:
        return self.rules.early_warning.cutoff_raise if self.is_tightening else 0.0

    def apr_cap(self, benchmark_rate: float) -> float:
        cap = self.rules.apr_cap_annual
        if self.rules.apr_cap_lpr_multiple is not None:
            cap = min(cap, self.rules.apr_cap_lpr_multiple * benchmark_rate)
        if self.rules.all_in_cap_annual is not None:
            cap = min(cap, self.rules.all_in_cap_annual)
        return cap

    def breach_gains(self) -> np.ndarray:
        """Each platform's expected gain from breaching the conduct rules, as a share of its monthly revenue.

        Log-normal across platforms with median ``breach_gain_share``; the keyed draw is made once, so a
        rule change that moves the median moves every platform's gain by the same factor.
        """
        r = self.rules
        return r.breach_gain_share * np.exp(r.breach_gain_dispersion * self.gain_noise)

    def compliance(self, policies: list[PlatformPolicy], is_active: np.ndarray) -> np.ndarray:
        """Phase 4: which platforms follow the conduct rules this month (True) and which breach them.

        A platform committed to the rules (``complies_with_conduct_rules``) follows them. One that weighs
        them breaches while its gain exceeds the fine it expects (Becker 1968): last month's inspection
        probability x ``fine_revenue_share`` x 12 months x the rules its intended conduct would breach.
        Gain and fine are both shares of the platform's revenue, so the choice does not depend on the
        platform's size, nor on the population's. The licence is left out of the weighing: a platform does
        not count on revocation.
        """
        r = self.rules
        breaches = np.array(
            [
                practised_conduct(collection_conduct(pol.collection.regime, pol.collection.custom), r, False).breaches
                for pol in policies
            ]
        )
        committed = np.array([pol.complies_with_conduct_rules for pol in policies], dtype=bool)
        expected_fine = self.inspection_probability * r.fine_revenue_share * 12.0 * breaches
        complies = committed | (breaches == 0) | (expected_fine >= self.breach_gains())
        self.breaching_month = int((~complies & is_active).sum())
        return complies

    def mandated_reporters(self, n_platforms: int) -> np.ndarray:
        """Platforms that must report, largest first."""
        k = int(round(self.rules.bureau_mandate_share * n_platforms))
        return np.arange(n_platforms) < k

    def supervise(self, platforms: list[Platform], draws: MonthDraws, month: int) -> None:
        """Phase 11: inspect platforms (more often with complaints), fine violations, revoke licences.

        Draws: ``INSPECTION``, one uniform per platform (keyed by platform and month).
        A violation is a breached conduct rule, or harassment above ``incident_tolerance`` per 1,000 live loans
        where conduct rules are in force, found in an inspection; each is fined ``fine_revenue_share`` of the
        platform's annual revenue. The month's inspection probabilities are what platforms expect next month.
        """
        r = self.rules
        u = draws.uniform(Purpose.INSPECTION, np.arange(len(platforms)))
        self.fines_month = 0.0
        self.revocations_month = 0
        self.inspections_month = 0
        # rates per 1,000 live loans, however small the book: a floor of 1,000 loans would understate them
        # for every platform of a small population and make enforcement depend on its size
        thousands = np.array([max(p.live_loans, 1) / 1000.0 for p in platforms])
        complaints = np.array([p.flows.complaints for p in platforms])
        self.inspection_probability = np.minimum(
            r.inspection_base + r.inspection_per_complaint * complaints / thousands, 1.0
        )
        for p, inspected, per_thousand in zip(
            platforms, u < self.inspection_probability, np.array([p.flows.incidents for p in platforms]) / thousands
        ):
            if not p.is_active or not inspected:
                continue
            self.inspections_month += 1
            breaches = p.conduct.breaches if p.conduct is not None else 0
            # harassment is a violation only where conduct rules are in force (the specification fines it "where
            # rules forbid it")
            excessive = self.has_conduct_rules and per_thousand > r.incident_tolerance
            if breaches == 0 and not excessive:
                continue
            # a share of the platform's revenue per violation, so a fine weighs the same on a platform of any size
            revenue = 12.0 * (p.flows.interest_income + p.flows.penalty_income)
            fine = r.fine_revenue_share * max(revenue, 0.0) * (breaches + excessive)
            p.pay_fine(fine)
            self.fines_month += fine
            p.violations += 1
            if p.violations >= r.revoke_after_violations:
                p.exit("revoked", month)
                self.revocations_month += 1


def supervise_platforms(
    regulator: Regulator, platforms: list[Platform], draws: MonthDraws, month: int, flows: MonthFlows
) -> None:
    """Phase 11: inspections, fines and revocations; a platform whose fine leaves it insolvent fails now.

    Fines come after the month's accounts (phase 10), so the solvency check is repeated here:
    otherwise a platform fined into negative capital would trade for another month.

    Draws: ``INSPECTION`` per platform.
    """
    regulator.supervise(platforms, draws, month)
    for p in platforms:
        if p.should_fail():
            fail_platform(p, month, flows)


def apply_regulation(
    regulator: Regulator, borrowers: BorrowerState, month: int, market_overdue_rate: float, draws: MonthDraws
) -> RegulatorRules:
    """Phase 2: scheduled rule changes, system-wide early warning, education campaigns.

    An education campaign reaches each borrower with probability ``education_reach_monthly``
    and raises a reached borrower's literacy by ``education_gain x (1 - literacy)``.

    Draws: ``EDUCATION``, one uniform per borrower, only while a campaign runs.
    """
    rules = regulator.apply_rules(month, market_overdue_rate)
    reach = rules.education_reach_monthly
    if reach > 0:
        borrowers = borrowers
        reached = draws.uniform(Purpose.EDUCATION, np.arange(borrowers.n)) < reach
        borrowers.literacy = np.where(
            reached, borrowers.literacy + rules.education_gain * (1.0 - borrowers.literacy), borrowers.literacy
        )
        regulator.education_cost += reached.sum() * rules.education_cost_per_person
    return rules

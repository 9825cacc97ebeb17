"""Platforms: lenders that underwrite, price, charge penalties, collect, restructure and report.

A handful of them, so each is a plain Mesa agent with scalar state; what they do to loans is
vectorised in the phase modules using :class:`PlatformTerms`, the per-platform arrays of the
month. Their policy (a :class:`~sim.config.PlatformPolicy`) can differ by platform
(``platforms.overrides``) and change over time (``platforms.schedule``); phase 4
(:func:`set_platform_terms`) resolves it each month. Phase 10 (:func:`close_platform_accounts`)
books the month's profit, reputation, failure and exit.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import mesa
import numpy as np

from .config import (
    CollectionConfig,
    PenaltyConfig,
    PlatformPolicy,
    PlatformsConfig,
    RegulatorRules,
    RestructuringConfig,
    apply_changes,
)
from .metrics import platform_metrics
from .policies import SERVICER_CONDUCT, Conduct, collection_conduct, expected_pressure, practised_conduct

if TYPE_CHECKING:
    from .config import ScenarioConfig
    from .economy import EconomyState
    from .flows import MonthFlows
    from .loans import LoanBook
    from .model import LendingMarket
    from .regulator import Regulator

ACTIVE, FAILED, REVOKED = "active", "failed", "revoked"


@dataclass(slots=True)
class PlatformFlows:
    """A platform's account lines of one month (CNY, counts as floats), reset at the start of each month."""

    interest_income: float = 0.0
    penalty_income: float = 0.0
    principal_repaid: float = 0.0
    recoveries: float = 0.0  # principal recovered after charge-off
    recovered_charges: float = 0.0  # interest and penalty recovered beyond it
    charge_offs: float = 0.0
    writedowns: float = 0.0
    collection_cost: float = 0.0
    funding_cost: float = 0.0
    operating_cost: float = 0.0
    fines: float = 0.0
    provisions: float = 0.0  # change in the loan-loss allowance (expected loss on the book)
    originated_amount: float = 0.0
    originations: float = 0.0
    contacts: float = 0.0
    incidents: float = 0.0
    complaints: float = 0.0
    new_defaults: float = 0.0
    collected_overdue: float = 0.0
    # not cash, so not in profit: what a restructuring cancels, and the residue of a loan paid off
    interest_waived: float = 0.0
    penalty_waived: float = 0.0
    principal_forgiven: float = 0.0
    interest_capitalised: float = 0.0  # a holiday's interest added to principal (the book grows by it)
    holiday_interest_waived: float = 0.0


FLOWS = tuple(f.name for f in fields(PlatformFlows))


class Platform(mesa.Agent):
    """A lending platform."""

    def __init__(
        self,
        model: LendingMarket,
        index: int,
        share: float,
        capital: float,
        funding: float,
        policy: PlatformPolicy,
        cfg: PlatformsConfig,
    ) -> None:
        super().__init__(model)
        self.index = index
        self.name = f"P{index}"
        self.cfg = cfg
        self.share = share  # weight of the platform in borrowers' choice of where to apply
        self.capital = capital
        self.funding = funding
        self.initial_funding = funding
        self.reputation = 1.0
        self.status = ACTIVE
        self.violations = 0
        self.policy = policy
        self.cutoff = policy.underwriting.cutoff
        self.stance = 0.0  # net tightening of its standards (1 full, negative eased): the credit cycle
        self.is_reporting = policy.reports_to_bureau
        self.conduct: Conduct | None = None
        self.flows = PlatformFlows()
        self.last_originations = 0.0  # last month's
        self.prev_originations = 0.0  # the month before
        self.overdue_rate = 0.0  # last month's, by count
        self.overdue_balance_rate = 0.0  # last month's, by balance (what investors watch)
        self.default_rate = 0.0  # last month's new defaults / live loans
        self.strategic_rate = 0.0  # last month's loans withheld by borrowers able to pay / live loans
        self.book = 0.0  # principal outstanding
        self.allowance = 0.0  # loan-loss allowance: expected loss on the live book, by bucket
        self.booked_allowance = 0.0  # the allowance already charged to capital
        self.live_loans = 0
        self.profit = 0.0
        self.failed_month: int | None = None
        self.funding_rate = 0.0  # investors' required yield this month (annual): benchmark + spread

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
        if self.cfg.distress_capital_ratio <= 0.0:  # no buffer is watched: distress only once capital is gone
            return float(ratio <= 0.0)
        return float(np.clip(1.0 - ratio / self.cfg.distress_capital_ratio, 0.0, 1.0))

    def lending_budget(self, rules: RegulatorRules) -> float:
        """New principal the platform can lend this month: funds not tied up in loans."""
        if not self.is_active or self.capital < rules.min_capital_ratio * self.book:
            return 0.0
        return max(self.capital + self.funding - self.book, 0.0)

    # ----------------------------------------------------------------- phase 4

    def set_terms(
        self, policy: PlatformPolicy, rules: RegulatorRules, reporting_mandated: bool, complies: bool = True
    ) -> None:
        """Adopt this month's policy, adjust the cut-off and practise conduct under the rules (``complies``:
        whether it follows the conduct rules this month, :meth:`~sim.regulator.Regulator.compliance`).

        Competition lowers the cut-off while origination growth falls short of target (chasing
        share); early warning raises it while the platform's own overdue rate is above its line;
        otherwise it drifts back to the policy cut-off.
        """
        self.policy = policy
        uw = policy.underwriting
        self.is_reporting = policy.reports_to_bureau or reporting_mandated
        self.conduct = practised_conduct(
            collection_conduct(policy.collection.regime, policy.collection.custom),
            rules,
            complies,
        )
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

    def review_standards(self, unemployment_gap: float) -> None:
        """Tighten or ease credit standards on what the platform sees: the economy's unemployment above its
        baseline (``unemployment_gap``, the outlook), its own distress (capital) and its own M1+ rate by
        balance against the level it priced for. ``self.stance`` is a net tightening index (0 the
        policy's standards, 1 fully tightened, negative eased) that :func:`set_platform_terms` turns into
        a higher cut-off, a lower DTI limit and a wider risk premium.

        The stance called for is ``stance_outlook_weight`` x the unemployment gap, plus
        ``stance_capital_weight`` x distress, plus ``stance_loss_weight`` x the relative excess of last
        month's M1+ rate over ``stance_reference_overdue`` beyond ``stance_tolerance`` (the same eases
        when it is below), within ``[-stance_max_easing, 1]``; the platform moves ``stance_speed`` of the
        way there each month. This is the lenders' side of the credit cycle: in 2008-09 and 2020 most US
        banks tightened consumer-loan standards citing the outlook, credit quality and risk tolerance
        (Federal Reserve SLOOS), and Chinese online lenders tightened approval in 2020. A failed platform
        lends no more, and keeps its stance.
        """
        uw = self.policy.underwriting
        if not self.is_active or self.live_loans == 0:
            return
        excess = self.overdue_balance_rate / uw.stance_reference_overdue - 1.0
        loss_signal = np.sign(excess) * max(abs(excess) - uw.stance_tolerance, 0.0)
        called_for = (
            uw.stance_loss_weight * loss_signal
            + uw.stance_outlook_weight * unemployment_gap
            + uw.stance_capital_weight * self.distress
        )
        called_for = float(np.clip(called_for, -uw.stance_max_easing, 1.0))
        self.stance += uw.stance_speed * (called_for - self.stance)

    def flow_funding(self, withdrawal: float, benchmark_rate: float, peer_failures: float) -> None:
        """Investor money flows in with reputation and out with distress, the platform's own
        delinquency above what investors tolerate, peers' failures (``peer_failures``: the share of
        last month's platforms that failed) and funding shocks; its price follows the benchmark rate.

        The P2P runs went this way: a few defaults could drain a platform's reserve fund and start a
        run (Huang 2022, HKUST IEMS brief 61), and one platform's scandal hurt the others (Geng Cheng,
        Leite & Caldieraro 2020, on Ezubao); about 150 platforms failed in June-July 2018.
        """
        cfg = self.cfg
        self.funding_rate = benchmark_rate + cfg.funding_spread_annual
        if not self.is_active:
            return
        g = cfg.funding_sensitivity * (
            (self.reputation - cfg.funding_reputation_neutral) - cfg.funding_distress_weight * self.distress
        )
        g -= cfg.run_overdue_sensitivity * max(self.overdue_balance_rate - cfg.run_overdue_tolerance, 0.0)
        g -= cfg.run_contagion * peer_failures
        self.funding *= max(1.0 + g, 0.0) * (1.0 - withdrawal)
        # funding beyond a multiple of the initial level is not sought (no use for it)
        self.funding = min(self.funding, cfg.max_funding_multiple * self.initial_funding)

    def start_month(self) -> None:
        self.prev_originations = self.last_originations
        self.last_originations = self.flows.originations
        self.flows = PlatformFlows()

    # ----------------------------------------------------------------- phase 10

    def close_accounts(self) -> float:
        """Book the month's profit into capital; return the profit (CNY)."""
        f, cfg = self.flows, self.cfg
        if self.is_active:
            # investors earn on money lent out (P2P matching); loans beyond capital are investor-funded
            deployed = min(self.funding, max(self.book - self.capital, 0.0))
            f.funding_cost = deployed * self.funding_rate / 12.0
            f.operating_cost = self.book * cfg.operating_cost_annual / 12.0
        # expected-loss provisioning: the allowance follows the book's delinquency, so capital falls as
        # loans go bad, not only when they are charged off (a failed platform's book too: its charge-offs
        # draw on the allowance already booked)
        f.provisions = self.allowance - self.booked_allowance
        self.booked_allowance = self.allowance
        self.profit = (
            f.interest_income
            + f.interest_capitalised  # earned, though paid later: it is now principal the borrower owes
            + f.penalty_income
            + f.recoveries
            + f.recovered_charges
            - f.charge_offs
            - f.writedowns
            - f.collection_cost
            - f.funding_cost
            - f.operating_cost
            - f.provisions
        )
        self.capital += self.profit
        return self.profit

    def update_reputation(self) -> None:
        cfg = self.cfg
        per_thousand = self.flows.complaints / max(self.live_loans / 1000.0, 1.0)
        self.reputation += (
            cfg.reputation_recovery * (1.0 - self.reputation) - cfg.reputation_per_complaint * per_thousand / 100.0
        )
        self.reputation = float(np.clip(self.reputation, 0.0, 1.0))

    def should_fail(self) -> bool:
        return self.is_active and (
            self.capital < 0.0 or self.funding < self.cfg.min_funding_ratio * self.initial_funding
        )

    def pay_fine(self, amount: float) -> None:
        """A regulator's fine: a cost of the month (in its flows and profit) paid out of capital."""
        self.flows.fines += amount
        self.profit -= amount
        self.capital -= amount

    # what the platform reporters read of the month's flows
    @property
    def originations(self) -> int:
        return int(self.flows.originations)

    @property
    def origination_amount(self) -> float:
        return float(self.flows.originated_amount)

    @property
    def charge_offs(self) -> float:
        return float(self.flows.charge_offs)

    @property
    def recoveries(self) -> float:
        return float(self.flows.recoveries)

    @property
    def collection_contacts(self) -> float:
        return float(self.flows.contacts)

    @property
    def complaints(self) -> int:
        return int(self.flows.complaints)

    @property
    def fines(self) -> float:
        return float(self.flows.fines)

    def exit(self, status: str, month: int) -> None:
        """Leave the market: no more lending; the book is serviced or not per ``on_failure``."""
        self.status = status
        self.failed_month = month


# --------------------------------------------------------------------------- the month's terms


@dataclass(frozen=True)
class PlatformTerms:
    """What every platform offers and does this month, as arrays indexed by platform.

    Set in phase 4 (:func:`set_platform_terms`), after funding flows and closures, and read by
    origination, repayment, delinquency, collection and restructuring (phases 5-9), during which
    none of it changes.
    """

    is_active: np.ndarray  # bool: still lending
    is_reporting: np.ndarray  # bool: bureau member (voluntary or mandated)
    is_serviced: np.ndarray  # bool: its book is collected (active, or a servicer took it over)
    cutoff: np.ndarray  # score cut-off in force, with its standards, the regulator's tightening and collection outlook
    scoring_noise_sd: np.ndarray  # s.d. of its scoring error (less for bureau members)
    scoring_noise_persistence: np.ndarray  # share of the error's variance that is persistent per borrower
    bureau_flag_penalty: np.ndarray  # score penalty for a record on its own book (behind or defaulted with it)
    bureau_arrears_penalty: np.ndarray  # members: score penalty for arrears now on a reported loan
    bureau_default_penalty: np.ndarray  # members: score penalty for a reported default still on the record
    bureau_record_dti_factor: np.ndarray  # members: share of dti_limit granted to an applicant with a record
    dti_limit: np.ndarray
    verifies_income: np.ndarray
    lends_at_cap: np.ndarray
    apr_base: np.ndarray
    apr_slope: np.ndarray
    best_grade_score: np.ndarray
    lending_budget: np.ndarray  # CNY it can lend this month
    choice_weight: np.ndarray  # weight in applicants' choice (share x reputation, 0 without budget)
    apr_cap: float  # the regulator's cap in force
    peer_strategic_rate: np.ndarray  # last month's loans withheld while able / live loans (borrowers' herding)
    distress: np.ndarray  # borrowers' view of its distress, 0 to 1
    collectors: tuple[Conduct | None, ...]  # conduct its overdue book meets: its own, a servicer's, or none
    penalty: tuple[PenaltyConfig, ...]
    collection: tuple[CollectionConfig, ...]
    restructuring: tuple[RestructuringConfig, ...]


def resolve_platform_policies(cfg: PlatformsConfig) -> list[list[tuple[int, PlatformPolicy]]]:
    """Per platform, the policy in force from each change month on (overrides, then schedule)."""
    out = []
    months = sorted({c.month for c in cfg.schedule})
    for k in range(cfg.count):
        changes = [ov.set for ov in cfg.overrides if k in ov.platforms]
        base = apply_changes(PlatformPolicy, cfg.policy, changes) if changes else cfg.policy
        timeline = [(-(10**9), base)]
        for month in months:
            changes += [c.set for c in cfg.schedule if c.month == month]
            timeline.append((month, apply_changes(PlatformPolicy, cfg.policy, changes)))
        out.append(timeline)
    return out


def fail_platform(p: Platform, month: int, flows: MonthFlows) -> None:
    """A platform fails (capital or funding gone, or closed by a shock) and stops lending."""
    p.exit(FAILED, month)
    flows.failures += 1


def set_platform_terms(
    platforms: list[Platform],
    timelines: list[list[tuple[int, PlatformPolicy]]],
    regulator: Regulator,
    econ: EconomyState,
    config: ScenarioConfig,
    month: int,
    flows: MonthFlows,
) -> PlatformTerms:
    """Phase 4: policies in force, cut-offs, conduct, funding flows, scheduled closures; the month's terms.

    Lenders whose collection is weaker than the standard regime's expect lower recoveries and
    raise their cut-off by ``collection_sensitivity`` per unit of the shortfall in expected
    pressure (Fedaseyeu 2013: collection restrictions reduce unsecured credit).

    Draws: none.
    """
    cfg, behaviour = config.platforms, config.behaviour
    rules = regulator.rules
    mandated = regulator.mandated_reporters(len(platforms))
    peer_failures = sum(p.failed_month == month - 1 for p in platforms) / max(len(platforms), 1)
    policies = [[pol for start, pol in timeline if month >= start][-1] for timeline in timelines]
    complies = regulator.compliance(policies, np.array([p.is_active for p in platforms]))
    for p, policy in zip(platforms, policies):
        p.set_terms(policy, rules, bool(mandated[p.index]), bool(complies[p.index]))
        p.review_standards(econ.unemployment_target - config.economy.unemployment_rate)
        p.flow_funding(econ.funding_withdrawal, econ.benchmark_rate, peer_failures)
    if econ.closures_now:
        active = [p for p in platforms if p.is_active]
        weakest = sorted(active, key=lambda p: (p.capital / max(p.book, 1.0), p.index))
        for p in weakest[: econ.closures_now]:
            fail_platform(p, month, flows)

    def each(get) -> np.ndarray:
        return np.array([get(p) for p in platforms])

    uw = [p.policy.underwriting for p in platforms]
    member = each(lambda p: p.is_reporting)
    standard = expected_pressure(SERVICER_CONDUCT, behaviour)
    weaker = np.array([standard - expected_pressure(p.conduct, behaviour) if p.conduct else 0.0 for p in platforms])
    sensitivity = np.array([u.collection_sensitivity for u in uw])
    budget = each(lambda p: p.lending_budget(rules))
    servicer = practised_conduct(SERVICER_CONDUCT, rules, True)
    collectors = tuple(
        p.conduct if p.is_active else servicer if cfg.on_failure == "servicer" else None for p in platforms
    )
    return PlatformTerms(
        is_active=each(lambda p: p.is_active),
        is_reporting=member,
        is_serviced=each(lambda p: p.is_active or cfg.on_failure == "servicer"),
        cutoff=each(lambda p: p.cutoff + p.policy.underwriting.stance_cutoff * p.stance)
        + regulator.cutoff_tightening
        + sensitivity * weaker,
        scoring_noise_sd=np.array(
            [u.scoring_noise_sd * (1.0 - u.bureau_noise_reduction * m) for u, m in zip(uw, member)]
        ),
        scoring_noise_persistence=np.array([u.scoring_noise_persistence for u in uw]),
        bureau_flag_penalty=np.array([u.bureau_flag_penalty for u in uw]),
        bureau_arrears_penalty=np.array([u.bureau_arrears_penalty for u in uw]),
        bureau_default_penalty=np.array([u.bureau_default_penalty for u in uw]),
        bureau_record_dti_factor=np.array([u.bureau_record_dti_factor for u in uw]),
        # tighter standards cut credit limits (the affordability ceiling) and widen the risk premium too
        dti_limit=each(
            lambda p: (
                p.policy.underwriting.dti_limit * max(1.0 - p.policy.underwriting.stance_dti_share * p.stance, 0.0)
            )
        ),
        verifies_income=np.array([u.verifies_income for u in uw]),
        lends_at_cap=np.array([u.lends_at_cap for u in uw]),
        # cost-plus: the best grade pays the cost of funds, operating cost and a margin, so prices follow
        # the benchmark (and a rate hike reaches borrowers); riskier grades add an expected-loss premium
        apr_base=each(lambda p: p.funding_rate + cfg.operating_cost_annual + p.policy.pricing.margin_annual),
        apr_slope=each(
            lambda p: p.policy.pricing.apr_risk_slope * max(1.0 + p.policy.pricing.stance_premium_share * p.stance, 0.0)
        ),
        best_grade_score=each(lambda p: p.policy.pricing.best_grade_score),
        lending_budget=budget,
        choice_weight=each(lambda p: p.share * p.reputation) * (budget > 0),
        apr_cap=regulator.apr_cap(econ.benchmark_rate),
        peer_strategic_rate=each(lambda p: p.strategic_rate),
        distress=each(lambda p: p.distress),
        collectors=collectors,
        penalty=tuple(p.policy.penalty for p in platforms),
        collection=tuple(p.policy.collection for p in platforms),
        restructuring=tuple(p.policy.restructuring for p in platforms),
    )


def add_to_flows(platforms: list[Platform], platform_of: np.ndarray, **amounts: np.ndarray | None) -> None:
    """Add per-loan amounts to each platform's flows (``None``: count the loans)."""
    k = len(platforms)
    for name, values in amounts.items():
        sums = np.bincount(platform_of, weights=values, minlength=k)
        for p in platforms:
            setattr(p.flows, name, getattr(p.flows, name) + sums[p.index])


# --------------------------------------------------------------------------- phase 10


def close_platform_accounts(book: LoanBook, platforms: list[Platform], month: int, flows: MonthFlows) -> None:
    """Phase 10: book figures, profit into capital, reputation, failure and exit.

    Draws: none.
    """
    platform_metrics(book, platforms)
    for p in platforms:
        p.close_accounts()
        p.update_reputation()
        if p.should_fail():
            fail_platform(p, month, flows)


__all__ = [
    "ACTIVE",
    "FAILED",
    "FLOWS",
    "REVOKED",
    "Platform",
    "PlatformFlows",
    "PlatformTerms",
    "add_to_flows",
    "close_platform_accounts",
    "fail_platform",
    "resolve_platform_policies",
    "set_platform_terms",
]

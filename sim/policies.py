"""Decision rules as functions of arrays: penalty accrual, collection conduct, repayment priority,
payment allocation and strategic default.

Agents and the model hold state and call these; each can be read and tested alone. None of them
draws random numbers: the model draws and passes the draws in, which keeps the random-draw order
fixed however these functions are later optimised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .config import BehaviourConfig, CollectionConduct, PenaltyConfig, RegulatorRules
from .loans import DAYS_PER_MONTH

# Collection presets (contacts a month per loan in M1, M2, M3, M3+). "regulated" follows the 2026
# CBA guideline: no night contact, no third parties, few attempts (docs/sources.md); "aggressive" is the
# pre-2017 practice of frequent calls, night calls and contacting relatives and employers.
COLLECTION_PRESETS: dict[str, CollectionConduct] = {
    "soft": CollectionConduct(contacts_by_bucket=[1.0, 1.0, 2.0, 2.0], cost_per_contact=2.0),
    "standard": CollectionConduct(contacts_by_bucket=[4.0, 8.0, 12.0, 12.0], cost_per_contact=10.0),
    "aggressive": CollectionConduct(
        contacts_by_bucket=[15.0, 30.0, 45.0, 45.0], third_party=True, night_contact=True, cost_per_contact=10.0
    ),
    "regulated": CollectionConduct(contacts_by_bucket=[3.0, 5.0, 6.0, 6.0], cost_per_contact=12.0),
    "targeted": CollectionConduct(contacts_by_bucket=[4.0, 8.0, 12.0, 12.0], cost_per_contact=10.0, targeted=True),
}

SERVICER_CONDUCT = COLLECTION_PRESETS["standard"]


def collection_conduct(regime: str, custom: CollectionConduct | None) -> CollectionConduct:
    """The conduct a platform intends under its regime."""
    return custom if regime == "custom" else COLLECTION_PRESETS[regime]


@dataclass(frozen=True)
class Conduct:
    """Conduct actually practised after (possibly imperfect) compliance, and the rules it breaks."""

    contacts_by_bucket: np.ndarray
    third_party: bool
    night_contact: bool
    cost_per_contact: float
    targeted: bool
    breaches: int  # rules broken (contact cap, third parties, night), for inspections


def practised_conduct(intended: CollectionConduct, rules: RegulatorRules, complies: bool) -> Conduct:
    """Apply the regulator's conduct rules to what a platform intends.

    A complying platform clips contacts to the cap and drops banned practices; a non-complying one
    keeps them and so breaches rules that inspections can find.
    """
    contacts = np.asarray(intended.contacts_by_bucket, dtype=np.float64)
    cap = rules.max_contacts_month
    breaches = 0
    over_cap = cap is not None and bool(np.any(contacts > cap))
    third, night = intended.third_party, intended.night_contact
    if complies:
        if cap is not None:
            contacts = np.minimum(contacts, cap)
        third = third and not rules.ban_third_party
        night = night and not rules.ban_night_contact
    else:
        breaches = int(over_cap) + int(third and rules.ban_third_party) + int(night and rules.ban_night_contact)
    return Conduct(contacts, third, night, intended.cost_per_contact, intended.targeted, breaches)


# --------------------------------------------------------------------------- penalties


def penalty_daily_rate(
    cfg: PenaltyConfig,
    dpd: np.ndarray,
    overdue: np.ndarray,
    apr: np.ndarray,
    benchmark_annual: float,
    cap_annual: float,
) -> np.ndarray:
    """Daily penalty rate per overdue loan under one platform's rule, clipped by the cap."""
    if cfg.rule == "none":
        rate = np.zeros_like(overdue)
    elif cfg.rule in ("flat", "compounding"):
        rate = np.full_like(overdue, cfg.rate_daily)
    elif cfg.rule == "tiered":
        tiers = sorted(cfg.tiers, key=lambda t: t.min_dpd)
        rate = np.zeros_like(overdue)
        for t in tiers:  # later (higher) tiers overwrite: the highest tier reached applies
            rate = np.where(dpd >= t.min_dpd, t.rate_daily, rate)
        factor = np.ones_like(overdue)
        for a in sorted(cfg.amount_tiers, key=lambda t: t.min_amount):
            factor = np.where(overdue >= a.min_amount, a.factor, factor)
        rate = rate * factor
    elif cfg.rule == "benchmark_multiple":
        basis = apr if cfg.basis == "contract" else np.full_like(overdue, benchmark_annual)
        rate = cfg.multiple * basis / 365.0
    else:  # pragma: no cover - the config's Literal forbids it
        raise ValueError(cfg.rule)
    return np.minimum(rate, cap_annual / 365.0)


def record_penalty(
    knows_own: np.ndarray,
    bureau_arrears: np.ndarray,
    bureau_record: np.ndarray,
    member: np.ndarray,
    flag_penalty: np.ndarray,
    arrears_penalty: np.ndarray,
    default_penalty: np.ndarray,
) -> np.ndarray:
    """Score penalty for the worst record a lender knows of: arrears or a default on its own book
    (``flag_penalty``); for a bureau member, arrears now on a reported loan (``arrears_penalty``) or else a
    reported default still on the record (``default_penalty``). A past default says less than arrears now:
    the score already sees most of the type it reveals, while arrears now are a cash-flow trouble no score
    foresees."""
    bureau = np.where(bureau_arrears, arrears_penalty, np.where(bureau_record, default_penalty, 0.0))
    return np.maximum(flag_penalty * knows_own, bureau * member)


def overdue_charge_cap(rules: RegulatorRules, benchmark_annual: float) -> float:
    """The highest annual rate a past-due amount may be charged in all - overdue interest, penalty and fees
    together: the combined cap (a fixed rate or a multiple of the benchmark) and the all-in cost cap where
    they are set, else no limit (inf)."""
    cap = np.inf
    multiple = rules.overdue_charge_cap_lpr_multiple
    for limit in (
        rules.overdue_charge_cap_annual,
        None if multiple is None else multiple * benchmark_annual,
        rules.all_in_cap_annual,
    ):
        if limit is not None:
            cap = min(cap, limit)
    return cap


def replaces_interest(cfg: PenaltyConfig) -> bool:
    """Whether a rule sets the overdue interest rate itself (``benchmark_multiple``: the rate on a past-due
    amount is the multiple) rather than a fee on top of the contract interest that keeps running there."""
    return cfg.rule == "benchmark_multiple"


def past_due_interest_rate(replaced: bool | np.ndarray, apr: np.ndarray, cap_annual: float) -> np.ndarray:
    """Annual contract interest that runs on past-due principal: the contract rate (within the combined cap),
    none where the rule's overdue rate replaces it (``replaced``, per loan or for all; :func:`replaces_interest`).
    2015 Provisions on Private Lending, art. 29: without an agreed overdue rate the lender may claim the
    contract rate; art. 30: overdue interest and fees together within the cap."""
    return np.where(replaced, 0.0, np.minimum(apr, cap_annual))


def penalty_accrual(
    cfg: PenaltyConfig,
    overdue: np.ndarray,
    penalty: np.ndarray,
    dpd: np.ndarray,
    apr: np.ndarray,
    benchmark_annual: float,
    rules: RegulatorRules,
) -> np.ndarray:
    """Penalty accrued over one month on overdue amounts (interest + principal past due).

    ``compounding`` charges penalty on accrued penalty too, compounded daily (the pre-2017
    practice); where the regulator bans compounding it is charged as ``flat``. The rule's rate is
    clipped by ``penalty_cap_annual``, and by what the combined overdue-charge cap leaves beside
    the contract interest still running on the amount (all of it for a rule that replaces that
    interest).
    """
    combined = overdue_charge_cap(rules, benchmark_annual)
    room = combined - past_due_interest_rate(replaces_interest(cfg), apr, combined)  # annual; inf without a cap
    daily = penalty_daily_rate(cfg, dpd, overdue, apr, benchmark_annual, rules.penalty_cap_annual)
    daily = np.minimum(daily, np.maximum(room, 0.0) / 365.0)
    if cfg.rule == "compounding" and rules.allow_compounding:
        return (overdue + penalty) * np.expm1(DAYS_PER_MONTH * np.log1p(daily))
    return overdue * daily * DAYS_PER_MONTH


# --------------------------------------------------------------------------- collection


def collection_pressure(
    contacts: np.ndarray, third_party: np.ndarray, night: np.ndarray, behaviour: BehaviourConfig
) -> np.ndarray:
    """Pressure a loan's collection puts on its borrower, 0 (none) to about 1.5."""
    return (
        -np.expm1(-behaviour.pressure_per_contact * contacts)
        + behaviour.pressure_third_party * third_party
        + behaviour.pressure_night * night
    ) * (contacts > 0)


def expected_pressure(conduct: Conduct | CollectionConduct, behaviour: BehaviourConfig, bucket: int = 1) -> float:
    """Collection pressure a conduct puts on a loan in one bucket (0 = M1; by default M2: what a lender expects
    of its collection; 3 = M3+, where charged-off balances are pressed)."""
    contacts = np.asarray(conduct.contacts_by_bucket, dtype=np.float64)[bucket : bucket + 1]
    return float(
        collection_pressure(contacts, np.array([conduct.third_party]), np.array([conduct.night_contact]), behaviour)[0]
    )


def recovery_intensity(pressure: np.ndarray, behaviour: BehaviourConfig) -> np.ndarray:
    """What collectors get a borrower in recovery to pay, relative to the standard regime's demand.

    ``1 + recovery_pressure_elasticity x (pressure / p_std - 1)`` (at least zero), where ``p_std`` is
    the pressure of the standard conduct on a loan past M3: one under standard collection, less under
    restrictions, more under aggressive collection, nothing without collectors (Fedaseyeu 2020: each state
    restriction on collectors lowers recovery rates on charged-off card debt by about 9%).
    """
    standard = expected_pressure(SERVICER_CONDUCT, behaviour, bucket=3)
    ratio = np.maximum(pressure, 0.0) / max(standard, 1e-12)
    return np.maximum(1.0 + behaviour.recovery_pressure_elasticity * (ratio - 1.0), 0.0) * (pressure > 0)


def harassment_probability(
    contacts: np.ndarray, third_party: np.ndarray, night: np.ndarray, behaviour: BehaviourConfig
) -> np.ndarray:
    """Probability that a contact is a harassment incident."""
    excess = np.maximum(contacts - behaviour.harassment_contact_threshold, 0.0) / np.maximum(contacts, 1.0)
    p = (
        behaviour.harassment_per_contact
        + behaviour.harassment_third_party * third_party
        + behaviour.harassment_night * night
        + behaviour.harassment_excess * excess
    )
    return np.minimum(p, 1.0)


# --------------------------------------------------------------------------- repayment


def allocation_weights(
    balance: np.ndarray,
    pressure: np.ndarray,
    is_reported: np.ndarray,
    literacy: np.ndarray,
    noise: np.ndarray,
    allocation_noise: float,
    behaviour: BehaviourConfig,
) -> np.ndarray:
    """How a borrower who cannot pay everything splits the budget: weights proportional to balances.

    Balance matching (Gathergood, Mahoney, Stewart & Weber 2019): people repay each debt roughly
    in proportion to its share of what they owe, not by price. Collection pressure and a loan
    reported to the bureau tilt the split towards that loan (log weights ``allocation_pressure``
    and ``allocation_reported``); low literacy adds log-normal noise.
    """
    log_tilt = (
        behaviour.allocation_pressure * pressure
        + behaviour.allocation_reported * is_reported
        + allocation_noise * (1.0 - literacy) * noise
    )
    return np.maximum(balance, 0.0) * np.exp(log_tilt)


@njit(cache=True)
def _by_borrower(borrower: np.ndarray, n_borrowers: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    # counting sort by borrower, stable (loan order within a borrower): the permutation and block starts
    start = np.zeros(n_borrowers + 1, np.int64)
    for i in range(borrower.size):
        start[borrower[i] + 1] += 1
    for b in range(n_borrowers):
        start[b + 1] += start[b]
    fill = start[:-1].copy()
    order = np.empty(borrower.size, np.int64)
    for i in range(borrower.size):
        b = borrower[i]
        order[fill[b]] = i
        fill[b] += 1
    return order, start


@njit(cache=True)
def _allocate(
    budget: np.ndarray,
    due: np.ndarray,
    borrower: np.ndarray,
    weight: np.ndarray,
    tier: np.ndarray,
    cost: np.ndarray,
    optimiser: np.ndarray,
    n_borrowers: int,
) -> np.ndarray:  # pragma: no cover - compiled
    order, start = _by_borrower(borrower, n_borrowers)
    paid = np.zeros(due.size)
    rows = np.empty(due.size, np.int64)
    capped = np.zeros(due.size, np.bool_)
    for b in range(n_borrowers):
        lo, hi = start[b], start[b + 1]
        if lo == hi:
            continue
        left = budget[b]
        total = 0.0
        for j in range(lo, hi):
            total += due[order[j]]
        if left >= total:
            for j in range(lo, hi):
                paid[order[j]] = due[order[j]]
            continue
        for t in range(2):  # tier 0 (live loans) is served before tier 1 (balances in recovery)
            if left <= 0.0:
                break
            m = 0
            for j in range(lo, hi):
                r = order[j]
                if tier[r] == t and due[r] > 0.0:
                    rows[m] = r
                    m += 1
            if m == 0:
                continue
            if optimiser[b]:
                # the costliest first (stable insertion sort by descending cost), each paid in full while cash lasts
                for i in range(1, m):
                    r = rows[i]
                    k = i - 1
                    while k >= 0 and cost[rows[k]] < cost[r]:
                        rows[k + 1] = rows[k]
                        k -= 1
                    rows[k + 1] = r
                for i in range(m):
                    x = min(left, due[rows[i]])
                    paid[rows[i]] = x
                    left -= x
                continue
            # balance matching by water-filling: shares by weight; a loan whose share exceeds what is due is
            # paid in full and the rest shared again among the others
            for i in range(m):
                capped[rows[i]] = False
            while True:
                w_sum = 0.0
                n_open = 0
                for i in range(m):
                    if not capped[rows[i]]:
                        w_sum += weight[rows[i]]
                        n_open += 1
                if n_open == 0 or left <= 0.0:
                    break
                newly = False
                for i in range(m):
                    r = rows[i]
                    if capped[r]:
                        continue
                    share = left * (weight[r] / w_sum if w_sum > 0.0 else 1.0 / n_open)
                    if share >= due[r]:
                        capped[r] = True
                        paid[r] = due[r]
                        newly = True
                if newly:
                    left = budget[b]
                    for i in range(m):
                        if capped[rows[i]]:
                            left -= paid[rows[i]]
                    for j in range(lo, hi):  # and what the earlier tier took
                        r = order[j]
                        if tier[r] < t:
                            left -= paid[r]
                    continue
                for i in range(m):
                    r = rows[i]
                    if not capped[r]:
                        paid[r] = left * (weight[r] / w_sum if w_sum > 0.0 else 1.0 / n_open)
                left = 0.0
                break
    return paid


def allocate_payments(
    budget: np.ndarray,
    due: np.ndarray,
    borrower: np.ndarray,
    weight: np.ndarray,
    tier: np.ndarray | None = None,
    cost: np.ndarray | None = None,
    optimiser: np.ndarray | None = None,
) -> np.ndarray:
    """Split each borrower's budget across their loans.

    A borrower who can pay everything due pays it. One who cannot serves live loans (tier 0)
    before balances in recovery (tier 1); within a tier, a balance matcher splits the cash in
    proportion to ``weight`` (see :func:`allocation_weights`), paying in full any loan whose
    share would exceed what it owes and sharing the rest again (water-filling); an
    ``optimiser`` pays the loans in descending ``cost`` (the costliest debt first), each in full
    while cash lasts. Deterministic; O(loans) for the few loans a borrower holds.

    Args:
        budget: cash each borrower can put towards debt, by borrower.
        due: amount due on each loan (0 for loans not to be paid this month).
        borrower: borrower index of each loan.
        weight: balance-matching weight of each loan (>= 0; all zero: equal shares).
        tier: 0 or 1 per loan (default all 0).
        cost: what not paying a loan costs, for optimisers (default all 0).
        optimiser: per borrower, whether they pay the costliest loan first (default nobody).

    Returns:
        Amount paid on each loan, 0 <= paid <= due, and per borrower sum(paid) = min(budget, sum(due)).
    """
    n = due.size
    if n == 0:
        return np.zeros(0)
    n_b = int(budget.size)
    return _allocate(
        np.ascontiguousarray(budget, dtype=np.float64),
        np.ascontiguousarray(due, dtype=np.float64),
        np.ascontiguousarray(borrower, dtype=np.int64),
        np.ascontiguousarray(weight, dtype=np.float64),
        np.zeros(n, np.int8) if tier is None else np.ascontiguousarray(tier, dtype=np.int8),
        np.zeros(n) if cost is None else np.ascontiguousarray(cost, dtype=np.float64),
        np.zeros(n_b, np.bool_) if optimiser is None else np.ascontiguousarray(optimiser, dtype=np.bool_),
        n_b,
    )


def knows_strategic_defaulter(strategic_rate: np.ndarray, reach: float) -> np.ndarray:
    """Probability a borrower knows a strategic defaulter among the ``reach`` fellow borrowers they hear of."""
    return -np.expm1(reach * np.log1p(-np.clip(strategic_rate, 0.0, 1.0 - 1e-12)))


def strategic_default(
    due: np.ndarray,
    usual_income: np.ndarray,
    willingness: np.ndarray,
    is_reported: np.ndarray,
    pressure: np.ndarray,
    lender_operating: np.ndarray,
    peer_strategic_rate: np.ndarray,
    unserviced: np.ndarray,
    lender_distress: np.ndarray,
    behaviour: BehaviourConfig,
) -> np.ndarray:
    """Whether a borrower withholds a payment they could make (per loan).

    Not paying costs more when the loan is reported to the bureau, under collection pressure and
    while the lender operates (legal risk): enforcement. It costs less where the sources put
    strategic default: when the lender is distressed, and most when it has failed and nobody
    services the loan (the 2018 P2P pattern), and when the borrower knows a fellow borrower of the
    same lender who withheld while able (Guiso, Sapienza & Zingales 2013). How long the loan has
    been behind does not enter: arrears are a cash-flow matter, not a reason to stop paying.
    The benefit is the payment kept, relative to the borrower's usual income. A borrower withholds when benefit
    exceeds cost plus their own willingness-to-pay threshold; nobody does when
    ``behaviour.strategic_default`` is off.
    """
    if not behaviour.strategic_default:
        return np.zeros(due.shape, dtype=bool)
    cost = (
        behaviour.default_cost_base
        + behaviour.default_cost_bureau * is_reported
        + behaviour.default_cost_pressure * pressure
        + behaviour.default_cost_legal * lender_operating
        - behaviour.herding * knows_strategic_defaulter(peer_strategic_rate, behaviour.peer_reach)
        - behaviour.failure_discount * unserviced
        - behaviour.distress_discount * lender_distress
    )
    benefit = behaviour.benefit_per_income * due / np.maximum(usual_income, 1.0)
    return benefit > cost + willingness

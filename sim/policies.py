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
    practice); where the regulator bans compounding it is charged as ``flat``.
    """
    daily = penalty_daily_rate(cfg, dpd, overdue, apr, benchmark_annual, rules.penalty_cap_annual)
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


def expected_pressure(conduct: Conduct | CollectionConduct, behaviour: BehaviourConfig) -> float:
    """Collection pressure a conduct puts on a loan in M2: what a lender expects of its collection."""
    contacts = np.asarray(conduct.contacts_by_bucket, dtype=np.float64)[1:2]
    return float(
        collection_pressure(contacts, np.array([conduct.third_party]), np.array([conduct.night_contact]), behaviour)[0]
    )


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


def repayment_priority(
    pressure: np.ndarray,
    is_reported: np.ndarray,
    penalty_growth: np.ndarray,
    literacy: np.ndarray,
    noise: np.ndarray,
    priority_noise: float,
    behaviour: BehaviourConfig,
) -> np.ndarray:
    """Order in which a borrower pays their loans: higher first.

    Loans under heavier collection pressure, reported to the bureau and growing faster with
    penalties come first (docs/specification.md); low literacy adds noise to the choice.
    """
    return (
        behaviour.priority_pressure * pressure
        + behaviour.priority_bureau * is_reported
        + behaviour.priority_penalty * penalty_growth
        + priority_noise * (1.0 - literacy) * noise
    )


@njit(cache=True)
def _payment_order(
    borrower: np.ndarray, neg_priority: np.ndarray, n_borrowers: int
) -> np.ndarray:  # pragma: no cover - compiled
    # counting sort by borrower (stable: loan order within a borrower), then a stable insertion
    # sort of each borrower's few loans by -priority: O(loans), the permutation of
    # np.lexsort((-priority, borrower)) exactly
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
    for b in range(n_borrowers):
        lo, hi = start[b], start[b + 1]
        for j in range(lo + 1, hi):
            row = order[j]
            key = neg_priority[row]
            k = j - 1
            while k >= lo and neg_priority[order[k]] > key:
                order[k + 1] = order[k]
                k -= 1
            order[k + 1] = row
    return order


def payment_order(borrower: np.ndarray, priority: np.ndarray, n_borrowers: int) -> np.ndarray:
    """Loans sorted by borrower, then by descending priority, ties in loan order.

    The same permutation as ``np.lexsort((-priority, borrower))`` (a test checks it), in linear
    time: the lexsort was a fifth of a month at 100k borrowers (docs/performance.md).
    """
    return _payment_order(
        np.ascontiguousarray(borrower, dtype=np.int64), -np.asarray(priority, dtype=np.float64), n_borrowers
    )


def allocate_payments(budget: np.ndarray, due: np.ndarray, borrower: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """Split each borrower's budget across their loans in priority order.

    Loans are sorted by borrower and, within a borrower, by descending priority; a loan is paid
    in full while the cumulative amount due before it fits in the budget, partly at the margin,
    and not at all after. Ties keep loan order (stable sort), so the result is deterministic.

    Args:
        budget: cash each borrower can put towards debt, by borrower.
        due: amount due on each loan (0 for loans not to be paid this month).
        borrower: borrower index of each loan.
        priority: repayment priority of each loan.

    Returns:
        Amount paid on each loan, 0 <= paid <= due.
    """
    if due.size == 0:
        return np.zeros(0)
    order = payment_order(borrower, priority, int(budget.size))
    b_sorted = borrower[order]
    due_sorted = due[order]
    cum = np.cumsum(due_sorted)
    # cumulative due of the same borrower's earlier loans: subtract the running total at the
    # start of each borrower's block
    starts = np.flatnonzero(np.r_[True, b_sorted[1:] != b_sorted[:-1]])
    block_start_cum = (cum - due_sorted)[starts]
    block_id = np.cumsum(np.r_[True, b_sorted[1:] != b_sorted[:-1]]) - 1
    due_before = cum - due_sorted - block_start_cum[block_id]
    paid_sorted = np.clip(budget[b_sorted] - due_before, 0.0, due_sorted)
    paid = np.empty_like(paid_sorted)
    paid[order] = paid_sorted
    return paid


def strategic_default(
    due: np.ndarray,
    income: np.ndarray,
    willingness: np.ndarray,
    is_reported: np.ndarray,
    pressure: np.ndarray,
    lender_operating: np.ndarray,
    peer_default_rate: np.ndarray,
    unserviced: np.ndarray,
    lender_distress: np.ndarray,
    days_past_due: np.ndarray,
    behaviour: BehaviourConfig,
) -> np.ndarray:
    """Whether a borrower withholds a payment they could make (per loan).

    Not paying costs more when the loan is reported to the bureau, under collection pressure and
    while the lender operates (legal risk); it costs less when peers at the same lender default
    (herding), when the lender is distressed, and most when it has failed and nobody services the
    loan (the 2018 P2P pattern), and the more months the loan is behind (debt overhang: the record
    is damaged already and curing needs all arrears). The benefit is the payment kept, relative
    to income. A borrower
    withholds when benefit exceeds cost plus their own willingness-to-pay threshold.
    """
    cost = (
        behaviour.default_cost_base
        + behaviour.default_cost_bureau * is_reported
        + behaviour.default_cost_pressure * pressure
        + behaviour.default_cost_legal * lender_operating
        - behaviour.herding * peer_default_rate
        - behaviour.failure_discount * unserviced
        - behaviour.distress_discount * lender_distress
        - behaviour.default_cost_sunk * np.minimum(days_past_due // DAYS_PER_MONTH, behaviour.default_cost_sunk_months)
    )
    benefit = behaviour.benefit_per_income * due / np.maximum(income, 1.0)
    return benefit > cost + willingness

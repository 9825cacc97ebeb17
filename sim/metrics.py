"""Monthly outputs: model-level and per-platform, declared once as DataCollector reporters.

The model computes all monthly figures in one vectorised pass (:func:`model_metrics`) into
``model.metrics``; the reporters only read that dict, so data collection costs almost nothing.
Rates named ``*_rate`` are shares of live loans by count; ``*_balance_rate`` by principal
outstanding. Amounts are CNY.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from .loans import DAYS_PER_MONTH, LIVE

if TYPE_CHECKING:
    from .borrowers import BorrowerState
    from .economy import EconomyState
    from .flows import Cumulative, MonthFlows
    from .loans import LoanBook
    from .model import LendingMarket
    from .platforms import Platform
    from .regulator import Regulator

# Every model-level column, in output order (docs/specification.md "What a run reports").
MODEL_COLUMNS = (
    "month",
    "is_burn_in",
    "unemployment_rate",
    "unemployment_target",
    "benchmark_rate",
    "income_level",
    "in_declared_shock",
    "overdue_rate",
    "overdue_balance_rate",
    "m1_rate",
    "m2_rate",
    "m3_rate",
    "m3plus_rate",
    "m3plus_balance_rate",
    "new_defaults",
    "defaults_per_defaulter",
    "default_rate",
    "cum_default_rate",
    "overdue_amount",
    "originations",
    "origination_amount",
    "applications",
    "approval_rate",
    "credit_outstanding",
    "live_loans",
    "charge_offs",
    "recoveries",
    "recovery_rate",
    "recovered_charges",
    "interest_charged_off",
    "penalty_income",
    "collected_overdue",
    "writedowns",
    "cure_rate",
    "roll_current_m1",
    "roll_m1_m2",
    "roll_m2_m3",
    "roll_m3_default",
    "avg_apr",
    "effective_cost",
    "multi_platform_share",
    "dti_mean",
    "dti_p90",
    "collection_contacts",
    "harassment_incidents",
    "complaints",
    "fines",
    "revocations",
    "inspections",
    "breaching_platforms",
    "platforms_active",
    "platform_failures",
    "platform_capital",
    "platform_profit",
    "hardship_share",
    "strategic_withholding",
    "strategic_defaults",
    "restructured",
    "payment_holidays",
    "relief_cost",
    "redefault_restructured",
    "redefault_deferred",
    "borrow_to_repay_loans",
    "offers_declined",
    "informal_borrowing",
    "informal_interest",
    "informal_debt",
    "benefit_coverage",
)

PLATFORM_COLUMNS = (
    "name",
    "status",
    "is_reporting",
    "capital",
    "funding",
    "reputation",
    "cutoff",
    "stance",
    "book",
    "live_loans",
    "overdue_rate",
    "overdue_balance_rate",
    "m3plus_rate",
    "m3plus_balance_rate",
    "default_rate",
    "originations",
    "origination_amount",
    "charge_offs",
    "recoveries",
    "collection_contacts",
    "complaints",
    "fines",
    "profit",
    "violations",
)


def _metric(model: LendingMarket, name: str):
    return model.metrics[name]


def model_reporters() -> dict:
    return {name: partial(_metric, name=name) for name in MODEL_COLUMNS}


def platform_reporters() -> dict:
    return {name: name for name in PLATFORM_COLUMNS}


def _share(num: float, den: float) -> float:
    return float(num) / float(den) if den > 0 else 0.0


def bucket_of(dpd: np.ndarray) -> np.ndarray:
    """0 current, 1 M1 (1-30 days), 2 M2 (31-60), 3 M3 (61-90), 4 M3+ (over 90)."""
    return np.minimum((dpd.astype(np.int32) + DAYS_PER_MONTH - 1) // DAYS_PER_MONTH, 4)


@njit(cache=True)
def _borrower_debt(borrower, platform, instalment, live, wage, income_level, n):  # pragma: no cover - compiled
    # the same sums, in the same order, as np.bincount over live loans (so bit-identical to it):
    # per borrower a bitmask of platforms and total instalments; then, for borrowers with a loan,
    # instalments / max(wage * income level, 1)
    masks = np.zeros(n, np.uint64)
    inst = np.zeros(n)
    for i in range(borrower.size):
        if live[i]:
            b = borrower[i]
            masks[b] |= np.uint64(1) << np.uint64(platform[i])
            inst[b] += instalment[i]
    count = np.zeros(n, np.int64)
    m = 0
    for b in range(n):
        x = masks[b]
        while x:
            x &= x - np.uint64(1)
            count[b] += 1
        if count[b] > 0:
            m += 1
    dti = np.empty(m)
    j = 0
    for b in range(n):
        if count[b] > 0:
            dti[j] = inst[b] / max(wage[b] * income_level, 1.0)
            j += 1
    return count, dti


def model_metrics(
    book: LoanBook,
    borrowers: BorrowerState,
    platforms: list[Platform],
    regulator: Regulator,
    econ: EconomyState,
    month: int,
    flows: MonthFlows,
    cumulative: Cumulative,
) -> dict:
    """All model-level figures for this month (phase 12), one entry per column of MODEL_COLUMNS."""
    live = book.view("state") == LIVE
    dpd = book.view("dpd")[live]
    bal = book.view("principal")[live]
    bucket = bucket_of(dpd)
    n_live = int(live.sum())
    total_bal = float(bal.sum())
    counts = np.bincount(bucket, minlength=5)
    over = bucket > 0
    over_rows = np.flatnonzero(live)[over]
    owed_over = book.principal[over_rows] + book.due_interest[over_rows] + book.penalty[over_rows]
    # platforms per borrower (multi-platform borrowing) and debt service to income, in one pass
    n_platforms_by_b, dti = _borrower_debt(
        book.view("borrower"),
        book.view("platform"),
        book.view("instalment"),
        live,
        borrowers.wage,
        float(econ.income_level),
        borrowers.n,
    )
    has_loan_count = int(dti.size)

    accrual = flows.interest_accrued + flows.penalty_accrued

    return {
        **_flow_metrics(flows, cumulative, regulator, platforms, borrowers),
        "month": month,
        "is_burn_in": month <= 0,
        "unemployment_rate": float(1.0 - borrowers.is_employed.mean()),
        "unemployment_target": econ.unemployment_target,
        "benchmark_rate": econ.benchmark_rate,
        "income_level": econ.income_level,
        "in_declared_shock": econ.in_declared_shock,
        "overdue_rate": _share(over.sum(), n_live),
        "overdue_balance_rate": _share(bal[over].sum(), total_bal),
        "m1_rate": _share(counts[1], n_live),
        "m2_rate": _share(counts[2], n_live),
        "m3_rate": _share(counts[3], n_live),
        "m3plus_rate": _share(counts[4], n_live),
        "m3plus_balance_rate": _share(bal[bucket == 4].sum(), total_bal),
        "overdue_amount": float(owed_over.sum()),
        "credit_outstanding": total_bal,
        "live_loans": n_live,
        "avg_apr": _share((book.view("apr")[live] * bal).sum(), total_bal),
        "effective_cost": _share(12.0 * accrual, total_bal),
        "multi_platform_share": _share((n_platforms_by_b >= 2).sum(), has_loan_count),
        "dti_mean": float(dti.mean()) if dti.size else 0.0,
        "dti_p90": float(np.quantile(dti, 0.9)) if dti.size else 0.0,
    }


def _flow_metrics(
    flows: MonthFlows, cum: Cumulative, regulator: Regulator, platforms: list[Platform], borrowers: BorrowerState
) -> dict:
    """The figures counted during the month (flows, transitions, running totals) rather than read off the book."""
    prev = flows.prev_bucket_counts
    rolls = flows.rolls
    # before month 1 the cumulative window is the whole run so far
    cum_base = cum.base + cum.originations
    return {
        "new_defaults": int(flows.new_defaults),
        "defaults_per_defaulter": _share(flows.new_defaults, flows.defaulters),
        "default_rate": _share(flows.new_defaults, flows.live_at_start),
        "cum_default_rate": _share(cum.defaults, cum_base),
        "originations": int(flows.originations),
        "origination_amount": float(flows.origination_amount),
        "applications": int(flows.applications),
        "approval_rate": _share(flows.originations, flows.applications),
        "charge_offs": float(flows.charge_offs),
        "recoveries": float(flows.recoveries),
        "recovery_rate": _share(cum.recoveries, cum.charged_off_principal),
        "recovered_charges": float(flows.recovered_charges),
        "interest_charged_off": float(flows.interest_charged_off),
        "penalty_income": float(flows.penalty_income),
        "collected_overdue": float(flows.collected_overdue),
        "writedowns": float(flows.writedowns),
        "cure_rate": _share(flows.cures, prev[1:].sum()),
        "roll_current_m1": _share(rolls[0], prev[0]),
        "roll_m1_m2": _share(rolls[1], prev[1]),
        "roll_m2_m3": _share(rolls[2], prev[2]),
        "roll_m3_default": _share(rolls[3], prev[3]),
        "collection_contacts": float(flows.contacts),
        "harassment_incidents": int(flows.incidents),
        "complaints": int(flows.complaints),
        "fines": float(regulator.fines_month),
        "revocations": int(regulator.revocations_month),
        "inspections": int(regulator.inspections_month),
        "breaching_platforms": int(regulator.breaching_month),
        "platforms_active": int(sum(p.is_active for p in platforms)),
        "platform_failures": int(flows.failures),
        "platform_capital": float(sum(p.capital for p in platforms if p.is_active)),
        "platform_profit": float(sum(p.profit for p in platforms)),
        "hardship_share": float(borrowers.is_in_hardship.mean()),
        "strategic_withholding": int(flows.strategic),
        "strategic_defaults": int(flows.strategic_defaults),
        "restructured": int(flows.restructured),
        "relief_cost": float(flows.relief_cost),
        # relief's re-default rates: of the loans restructured (given a holiday) since the start, the share
        # that went into default afterwards
        "redefault_restructured": _share(cum.restructured_defaults, cum.restructured),
        "redefault_deferred": _share(cum.deferred_defaults, cum.deferred),
        "payment_holidays": int(flows.holidays),
        "borrow_to_repay_loans": int(flows.btr_loans),
        "offers_declined": int(flows.offers_declined),
        "informal_borrowing": float(flows.informal_borrowing),
        "informal_interest": float(flows.informal_interest),
        "informal_debt": float(borrowers.informal_debt.sum()),
        "benefit_coverage": _share(int(borrowers.receives_benefit.sum()), int((~borrowers.is_employed).sum())),
    }


def platform_metrics(book: LoanBook, platforms: list[Platform]) -> None:
    """Per-platform book figures as platform attributes (read by the platform reporters)."""
    live = book.view("state") == LIVE
    k = len(platforms)
    plat = book.view("platform")[live]
    bal = book.view("principal")[live]
    dpd = book.view("dpd")[live]
    n = np.bincount(plat, minlength=k)
    b = np.bincount(plat, weights=bal, minlength=k)
    over = dpd > 0
    m3 = dpd > 90
    n_over = np.bincount(plat[over], minlength=k)
    b_over = np.bincount(plat[over], weights=bal[over], minlength=k)
    n_m3 = np.bincount(plat[m3], minlength=k)
    b_m3 = np.bincount(plat[m3], weights=bal[m3], minlength=k)
    rates = np.asarray(platforms[0].cfg.provision_rates) if platforms else np.zeros(5)
    allowance = np.bincount(plat, weights=bal * rates[bucket_of(dpd)], minlength=k)
    for p in platforms:
        i = p.index
        p.live_loans = int(n[i])
        p.book = float(b[i])
        p.allowance = float(allowance[i])
        p.overdue_rate = _share(n_over[i], n[i])
        p.overdue_balance_rate = _share(b_over[i], b[i])
        p.m3plus_rate = _share(n_m3[i], n[i])
        p.m3plus_balance_rate = _share(b_m3[i], b[i])

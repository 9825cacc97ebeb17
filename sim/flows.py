"""What the phases of a month hand each other and the metrics: declared records, not free-form dicts.

A misspelt field is an error here (``slots``), where a string key would silently have started a
new counter. Amounts are CNY; counts are loans unless named otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from .config import RegulatorRules, ScenarioConfig
    from .draws import MonthDraws
    from .economy import EconomyState


@dataclass(slots=True)
class MonthFlows:
    """Market-wide counts and amounts of one month: reset in phase 1, read by the metrics in phase 12."""

    live_at_start: int = 0  # live loans before this month's originations
    prev_bucket_counts: np.ndarray = field(
        default_factory=lambda: np.zeros(5, dtype=np.int64)
    )  # by bucket, at the start
    applications: int = 0
    originations: int = 0
    origination_amount: float = 0.0
    btr_loans: int = 0  # loans taken to repay other loans
    recoveries: float = 0.0  # principal recovered on charged-off loans
    recovered_charges: float = 0.0  # recovered beyond the charged-off principal: interest and penalty
    penalty_income: float = 0.0  # penalty paid on live loans
    collected_overdue: float = 0.0  # paid on loans overdue at the start of the month
    strategic: int = 0  # payments withheld by borrowers who could pay
    strategic_defaults: int = 0  # new defaults of loans withheld while able since they were last current
    informal_borrowing: float = 0.0  # informal credit taken by applicants no platform served (CNY)
    informal_interest: float = 0.0  # interest accrued on informal credit (CNY)
    offers_declined: int = 0  # approved offers the applicant turned down as too dear
    interest_accrued: float = 0.0  # interest billed this month (loans on holiday accrue none)
    penalty_accrued: float = 0.0
    rolls: np.ndarray = field(
        default_factory=lambda: np.zeros(4, dtype=np.int64)
    )  # current->M1, M1->M2, M2->M3, M3->M3+
    cures: int = 0
    new_defaults: int = 0  # loans crossing 90 days past due
    defaulters: int = 0  # borrowers with a new default
    contacts: float = 0.0
    incidents: int = 0
    complaints: int = 0
    holidays: int = 0
    restructured: int = 0
    relief_cost: float = 0.0  # what relief gave up: principal written down, contract interest waived
    writedowns: float = 0.0
    charge_offs: float = 0.0  # principal
    interest_charged_off: float = 0.0  # contract interest due at charge-off
    failures: int = 0


@dataclass(slots=True)
class Ledger:
    """Every yuan of the run, by where it went (CNY, totals since the start).

    Each balance of the loan book is what flowed in less what flowed out, which
    ``tests/test_model.py`` checks every month:

    - principal outstanding = ``lent + interest_capitalised - repaid - charged_off - written_down -
      forgiven_principal``;
    - interest due = ``interest_billed - interest_paid - interest_waived - interest_charged_off - forgiven_interest``;
    - penalty due = ``penalty_accrued - penalty_paid - penalty_waived - penalty_charged_off - forgiven_penalty``;
    - balances in recovery = what was charged off (principal, interest and penalty) ``- recovered - recovery_expired``;

    and borrowers paid ``borrower_paid = repaid + interest_paid + penalty_paid + recovered``, all of
    it booked by platforms. "Forgiven" is the under-one-fen residue of a loan paid off; "waived" is
    what a restructuring cancels; "expired" is what a recovery window closes on.
    """

    lent: float = 0.0
    repaid: float = 0.0
    charged_off: float = 0.0
    written_down: float = 0.0
    forgiven_principal: float = 0.0
    interest_capitalised: float = 0.0  # a holiday's interest added to principal
    holiday_interest_waived: float = 0.0  # a holiday's interest waived (never billed)
    interest_billed: float = 0.0
    interest_paid: float = 0.0
    interest_waived: float = 0.0
    interest_charged_off: float = 0.0
    forgiven_interest: float = 0.0
    penalty_accrued: float = 0.0
    penalty_paid: float = 0.0
    penalty_waived: float = 0.0
    penalty_charged_off: float = 0.0
    forgiven_penalty: float = 0.0
    recovered: float = 0.0
    recovery_expired: float = 0.0
    borrower_paid: float = 0.0
    informal_lent: float = 0.0  # informal credit: its balance is lent + interest - repaid
    informal_interest: float = 0.0
    informal_repaid: float = 0.0


@dataclass(slots=True)
class Cumulative:
    """Running totals behind the cumulative rates (defaults and originations since month 1)."""

    defaults: int = 0
    base: int = 0  # live loans at the start of month 1
    originations: int = 0
    recoveries: float = 0.0  # principal recovered
    charged_off_owed: float = 0.0  # balance owed at charge-off: principal, interest and penalty
    charged_off_principal: float = 0.0  # principal charged off (the recovery rate's denominator)
    restructured: int = 0  # loans restructured
    restructured_defaults: int = 0  # of which in default later
    deferred: int = 0  # loans given a payment holiday
    deferred_defaults: int = 0  # of which in default later


@dataclass
class VintageCounts:
    """Originations by vintage (month) and new defaults by vintage and months on book."""

    originations: dict[int, int] = field(default_factory=dict)
    defaults: dict[tuple[int, int], int] = field(default_factory=dict)

    def add_originations(self, month: int, count: int) -> None:
        self.originations[month] = self.originations.get(month, 0) + count

    def add_defaults(self, month: int, vintages: np.ndarray) -> None:
        """Count new defaults of loans from ``vintages`` in ``month``."""
        if vintages.size == 0:
            return
        keys, counts = np.unique(np.stack([vintages, month - vintages]), axis=1, return_counts=True)
        for (v, mob), c in zip(keys.T, counts):
            self.defaults[(int(v), int(mob))] = self.defaults.get((int(v), int(mob)), 0) + int(c)

    def frame(self, month: int) -> pd.DataFrame:
        """Cumulative default by vintage and months on book, up to ``month``."""
        rows = []
        for v, n0 in sorted(self.originations.items()):
            cum = 0
            for mob in range(0, month - v + 1):
                cum += self.defaults.get((v, mob), 0)
                rows.append((v, mob, n0, cum, cum / n0 if n0 else 0.0))
        return pd.DataFrame(rows, columns=["vintage", "months_on_book", "loans", "cum_defaults", "cum_default_rate"])


@dataclass(frozen=True)
class Month:
    """What every phase of a month reads and none changes: which month, the scenario, the rules and
    economy in force, and the month's keyed draws."""

    month: int  # 1 = the first month after burn-in
    config: ScenarioConfig
    rules: RegulatorRules
    econ: EconomyState
    draws: MonthDraws  # keyed draws of this month (sim.draws)


@dataclass
class Records:
    """What the phases write besides the state: the month's flows and the run's running totals."""

    flows: MonthFlows
    ledger: Ledger
    cumulative: Cumulative
    vintages: VintageCounts


__all__ = ["Cumulative", "Ledger", "Month", "MonthFlows", "Records", "VintageCounts"]

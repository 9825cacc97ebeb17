"""The loan book: every loan is a row of parallel NumPy arrays (a record, not an agent).

Amounts are in CNY. A loan's owed amount is split into ``principal`` (all outstanding principal,
of which ``due_principal`` is past due or due now), ``due_interest`` and ``penalty``. Each month
the scheduled instalment is billed (amortising: an annuity on the contract APR), the borrower pays
(penalty first, then interest, then principal, as contracts usually say), and days past due move
in steps of 30 (one month).

States: ``LIVE`` (on the book: current or overdue, in default after 90 days until charged off),
``REPAID``, ``CHARGED_OFF`` (off the book; recoveries are still collected for some months) and
``CLOSED`` (nothing more will happen; compacted away). Closed and repaid rows are dropped by
:meth:`LoanBook.compact` so that memory follows the live book, not the run's history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LIVE, REPAID, CHARGED_OFF, CLOSED = 0, 1, 2, 3
EPS = 0.01  # CNY: amounts below one fen are treated as paid
DAYS_PER_MONTH = 30  # days past due move in steps of one month; penalties accrue over 30 days

_FIELDS: dict[str, type] = {
    "loan_id": np.int64,  # 0, 1, 2, ... in order of origination: follows a loan through compaction
    "borrower": np.int32,
    "seq": np.int32,  # the borrower's own loan number (0 = first loan): with the borrower, the key of its draws
    "platform": np.int16,
    "vintage": np.int32,
    "state": np.int8,
    "dpd": np.int16,
    "months_left": np.int16,
    "holiday_left": np.int8,
    "holiday_months": np.int16,  # months of holiday granted so far
    "principal": np.float64,
    "original_principal": np.float64,
    "apr": np.float64,
    "instalment": np.float64,
    "due_principal": np.float64,
    "due_interest": np.float64,
    "penalty": np.float64,
    "arrears": np.float64,
    "penalty_growth": np.float64,
    "recovery_balance": np.float64,  # all that was owed at charge-off (the collectors' claim), less recoveries
    "recovery_principal": np.float64,  # of which principal: recoveries reduce it first (losses are on principal)
    "recovery_due": np.float64,
    "recovery_months_left": np.int16,
    "pressure": np.float64,
    "is_reported": np.bool_,
    "is_restructured": np.bool_,
    "has_defaulted": np.bool_,
    "is_accelerated": np.bool_,  # called in at default: all principal due
    "had_holiday": np.bool_,
    "withheld_able": np.bool_,  # withheld by a borrower able to pay, since it was last current
}


@dataclass(frozen=True)
class Bill:
    """This month's bill, per row of the book."""

    interest: np.ndarray  # interest billed (CNY)
    principal: np.ndarray  # scheduled principal that fell due (CNY)
    on_holiday: np.ndarray  # on a payment holiday this month: not billed, days past due frozen
    holiday_interest: np.ndarray  # interest a holiday suspended (CNY): capitalised, or waived


def nonzero_total(x: np.ndarray) -> float:
    """Sum of the non-zero entries of a per-loan array, in row order.

    Rows of finished loans are zero here but still present until the book is compacted; summing
    only the others makes totals independent of when compaction runs (a pairwise sum over a
    longer array rounds differently).
    """
    return float(x[x != 0].sum())


def annuity(principal: np.ndarray, apr_annual: np.ndarray, term_months: np.ndarray) -> np.ndarray:
    """Monthly instalment of an amortising loan (equal payments of interest and principal)."""
    r = apr_annual / 12.0
    n = term_months.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        pay = principal * r / -np.expm1(-n * np.log1p(r))
    return np.where(r > 0, pay, principal / n)


class LoanBook:
    """Parallel arrays of loans with amortised append and compaction."""

    def __init__(self, capacity: int = 1024) -> None:
        self.n = 0
        self.next_id = 0
        for name, dtype in _FIELDS.items():
            setattr(self, name, np.zeros(capacity, dtype=dtype))

    # ----------------------------------------------------------------- storage

    def __len__(self) -> int:
        return self.n

    def view(self, name: str) -> np.ndarray:
        """The first ``n`` entries of a field (a view, writes go to the book)."""
        return getattr(self, name)[: self.n]

    def _grow(self, needed: int) -> None:
        cap = len(self.borrower)
        if needed <= cap:
            return
        new_cap = max(needed, int(cap * 1.5) + 1024)
        for name in _FIELDS:
            old = getattr(self, name)
            new = np.zeros(new_cap, dtype=old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)

    def add(
        self,
        borrower: np.ndarray,
        platform: np.ndarray,
        principal: np.ndarray,
        apr: np.ndarray,
        term: np.ndarray,
        month: int,
        is_reported: np.ndarray,
        seq: np.ndarray | int = 0,
    ) -> np.ndarray:
        """Append new loans (``seq``: each borrower's own loan number); return their row indices."""
        k = len(borrower)
        self._grow(self.n + k)
        rows = np.arange(self.n, self.n + k)
        self.n += k
        self.loan_id[rows] = np.arange(self.next_id, self.next_id + k)
        self.next_id += k
        self.borrower[rows] = borrower
        self.seq[rows] = seq
        self.platform[rows] = platform
        self.vintage[rows] = month
        self.state[rows] = LIVE
        self.principal[rows] = principal
        self.original_principal[rows] = principal
        self.apr[rows] = apr
        self.months_left[rows] = term
        self.instalment[rows] = annuity(principal, apr, term)
        self.is_reported[rows] = is_reported
        for name in (
            "dpd",
            "holiday_left",
            "due_principal",
            "due_interest",
            "penalty",
            "arrears",
            "penalty_growth",
            "recovery_balance",
            "recovery_principal",
            "recovery_due",
            "recovery_months_left",
            "pressure",
            "is_restructured",
            "has_defaulted",
            "is_accelerated",
            "had_holiday",
            "holiday_months",
            "withheld_able",
        ):
            getattr(self, name)[rows] = 0
        return rows

    def compact(self, min_dead_share: float = 0.0) -> None:
        """Drop repaid and closed loans, keeping order (so results do not depend on when this runs).

        Skipped while finished loans are at most ``min_dead_share`` of the rows, to save copying.
        """
        state = self.view("state")
        keep = np.flatnonzero((state == LIVE) | (state == CHARGED_OFF))
        if len(keep) == self.n or self.n - len(keep) <= min_dead_share * self.n:
            return
        for name in _FIELDS:
            arr = getattr(self, name)
            arr[: len(keep)] = arr[keep]
        self.n = len(keep)

    # ----------------------------------------------------------------- accounting

    def owed(self) -> np.ndarray:
        """Total owed on each loan: principal, interest due and penalty."""
        return self.view("principal") + self.view("due_interest") + self.view("penalty")

    def overdue_amount(self) -> np.ndarray:
        """Past-due amount of each loan (interest and principal due, plus penalty)."""
        return self.view("due_principal") + self.view("due_interest") + self.view("penalty")

    def bill(self, live: np.ndarray, past_due_rate: np.ndarray | None = None, capitalise: bool = False) -> Bill:
        """Bill this month's instalment on live loans not on a payment holiday.

        Contract interest accrues on principal not yet due at the APR, and on past-due principal at
        ``past_due_rate`` (annual, per loan; none if omitted): the contract rate within the combined
        overdue-charge cap, or none where the platform's overdue rate replaces it and the penalty phase
        charges it instead (:func:`sim.policies.past_due_interest_rate`). The scheduled principal
        follows the annuity schedule on the not-yet-due principal, and the last instalment takes the rest.
        A loan on a payment holiday is not billed, and its holiday counter moves on a month; the
        interest of the month is added to its principal when ``capitalise`` (and its instalment
        grows to repay it over the term left), else it is waived.

        Returns:
            What was billed per loan, and which loans were on holiday this month.
        """
        holiday = self.view("holiday_left")
        on_holiday = live & (holiday > 0)
        bill = live & ~on_holiday
        principal, due_p = self.view("principal"), self.view("due_principal")
        r = self.view("apr") / 12.0
        not_due = principal - due_p
        on_past_due = 0.0 if past_due_rate is None else due_p * past_due_rate / 12.0
        accrued = not_due * r + on_past_due
        interest = np.where(bill, accrued, 0.0)
        held = np.where(on_holiday, accrued, 0.0)
        if capitalise and on_holiday.any():
            rows = np.flatnonzero(on_holiday)
            principal[rows] += held[rows]
            # a loan past its last instalment has all its principal due: so has the interest added to it
            ended = rows[self.months_left[rows] <= 0]
            due_p[ended] += held[ended]
            left = np.maximum(self.months_left[rows], 1)
            self.instalment[rows] = annuity(principal[rows] - due_p[rows], self.apr[rows], left)
            not_due = principal - due_p
        months_left = self.view("months_left")
        scheduled = np.clip(self.view("instalment") - not_due * r, 0.0, not_due)
        scheduled = np.where(months_left == 1, not_due, scheduled)
        scheduled = np.where(bill & (months_left > 0), scheduled, 0.0)
        self.due_interest[: self.n] += interest
        due_p += scheduled
        months_left -= (bill & (months_left > 0)).astype(np.int16)
        holiday -= on_holiday.astype(np.int8)
        return Bill(interest, scheduled, on_holiday, held)

    def apply_payments(self, paid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Apply payments on live loans: penalty first, then interest, then principal.

        Returns:
            (penalty paid, interest paid, principal paid) per loan.
        """
        pen, intr = self.view("penalty"), self.view("due_interest")
        to_pen = np.minimum(paid, pen)
        rest = paid - to_pen
        to_int = np.minimum(rest, intr)
        to_prin = np.minimum(rest - to_int, self.view("due_principal"))
        pen -= to_pen
        intr -= to_int
        self.due_principal[: self.n] -= to_prin
        self.principal[: self.n] -= to_prin
        return to_pen, to_int, to_prin

"""The borrower view's data: every borrower's month, recorded as the explorer's market runs.

The model keeps only the present (the borrower arrays and the live loan book); a student who picks
a borrower after thirty months wants to see the thirty months before. So every month the explorer
copies, for every borrower, what the borrower view draws: income, savings, whether employed, the
collection contacts received so far, and the loans on the book (platform, days past due, amount
owed). It reads the model's arrays and never writes them. At the default 10,000 borrowers and
144 months this is about 40 MB.

Nothing here imports Solara: the history is tested without the ``[explore]`` extra.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.loans import LIVE


@dataclass
class BorrowerHistory:
    """Month-by-month copies of every borrower's state in one market.

    Attributes:
        n: Borrowers.
        platforms: Platforms (loans are shown by platform index, ``P0`` the largest).
        months: Months recorded, in order (burn-in months are <= 0).
        default_month: Per borrower, the first month a loan of theirs reached 90 days past due
            (a default, as the model counts it), or a very negative number if none has.
    """

    n: int
    platforms: int
    months: list[int] = field(default_factory=list)
    _income: list[np.ndarray] = field(default_factory=list, repr=False)
    _savings: list[np.ndarray] = field(default_factory=list, repr=False)
    _employed: list[np.ndarray] = field(default_factory=list, repr=False)
    _contacts: list[np.ndarray] = field(default_factory=list, repr=False)
    _loans: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list, repr=False)
    default_month: np.ndarray = field(init=False, repr=False)

    NEVER = -(10**6)

    def __post_init__(self) -> None:
        self.default_month = np.full(self.n, self.NEVER, dtype=np.int32)

    def record(self, model) -> None:
        """Copy this month's state of every borrower (call after the model's step)."""
        people, book = model.borrower_state, model.loans
        self.months.append(int(model.month))
        self._income.append(people.income.astype(np.float32))
        self._savings.append(people.savings.astype(np.float32))
        self._employed.append(people.is_employed.copy())
        self._contacts.append(people.contacts_received.astype(np.int32))
        live = book.view("state") == LIVE
        owed = book.view("principal") + book.view("due_interest") + book.view("penalty")
        self._loans.append(
            (
                book.view("borrower")[live].astype(np.int32),
                book.view("platform")[live].astype(np.int16),
                book.view("dpd")[live].astype(np.int16),
                owed[live].astype(np.float32),
            )
        )
        defaulted = book.view("borrower")[book.view("has_defaulted")]
        first = defaulted[self.default_month[defaulted] == self.NEVER]
        self.default_month[first] = model.month

    def defaulted(self) -> np.ndarray:
        """Borrowers with a loan that has defaulted so far, in index order."""
        return np.flatnonzero(self.default_month != self.NEVER)

    def of(self, borrower: int) -> pd.DataFrame:
        """One borrower's months: ``month``, ``income``, ``savings``, ``employed``, ``contacts`` (that
        month), ``loans``, ``owed`` and ``max_dpd``, and per platform k ``owed_Pk`` and ``dpd_Pk``.

        Raises:
            IndexError: no such borrower.
        """
        if not 0 <= borrower < self.n:
            raise IndexError(f"borrower {borrower} is not one of 0 to {self.n - 1}")
        contacts = np.array([c[borrower] for c in self._contacts], dtype=np.int64)
        frame = pd.DataFrame(
            {
                "month": self.months,
                "income": [float(x[borrower]) for x in self._income],
                "savings": [float(x[borrower]) for x in self._savings],
                "employed": [bool(x[borrower]) for x in self._employed],
                "contacts": np.diff(contacts, prepend=0),  # the counter starts at 0 with the run
            }
        )
        owed = np.zeros((len(self.months), self.platforms))
        dpd = np.zeros((len(self.months), self.platforms), dtype=np.int64)
        loans = np.zeros(len(self.months), dtype=np.int64)
        for t, (who, platform, days, amount) in enumerate(self._loans):
            mine = who == borrower
            np.add.at(owed[t], platform[mine], amount[mine])
            np.maximum.at(dpd[t], platform[mine], days[mine])
            loans[t] = int(mine.sum())
        frame["loans"] = loans
        frame["owed"] = owed.sum(axis=1)
        frame["max_dpd"] = dpd.max(axis=1) if self.platforms else 0
        for k in range(self.platforms):
            frame[f"owed_P{k}"] = owed[:, k]
            frame[f"dpd_P{k}"] = dpd[:, k]
        return frame

    def loans_now(self, borrower: int) -> pd.DataFrame:
        """The borrower's loans on the book in the last month recorded: platform, days past due, owed."""
        if not self._loans:
            return pd.DataFrame(columns=["platform", "dpd", "owed"])
        who, platform, days, amount = self._loans[-1]
        mine = who == borrower
        return pd.DataFrame(
            {"platform": [f"P{k}" for k in platform[mine]], "dpd": days[mine], "owed": amount[mine].astype(float)}
        )


def pick_defaulted(history: BorrowerHistory, seed: int, draw: int) -> int | None:
    """A borrower who has defaulted, chosen at random but reproducibly (the model's seed, the click's number).

    One who defaulted in the run (month 1 on) when there is one: a default in the burn-in happened
    before the levers and the shock could act.
    """
    candidates = history.defaulted()
    in_run = candidates[history.default_month[candidates] >= 1]
    candidates = in_run if len(in_run) else candidates
    if not len(candidates):
        return None
    rng = np.random.default_rng([seed, draw])
    return int(rng.choice(candidates))


__all__ = ["BorrowerHistory", "pick_defaulted"]

"""Keyed random draws: every random quantity is a function of (seed, purpose, month, entity[, sub]).

A borrower's income shock in month 17 is the same number in every arm of a comparison, whatever
else differs between the arms: no draw depends on how many draws came before it, on how many
borrowers applied or how many loans are live. That is what makes common random numbers *pair*
(Klein, Abeysuriya, Stuart & Kerr 2024, arXiv 2409.02086; Starsim draws the same way, by hashing a
slot per agent).

Each draw hashes its key with splitmix64 (Steele, Lea & Flood 2014; the finaliser of Java's
``SplittableRandom``), a counter-based generator: the key is chained through the finaliser one
component at a time (seed, purpose, month, entity, sub), and the top 53 bits of the result are a
uniform in (0, 1). ``tests/test_draws.py`` checks the uniforms' distribution, their independence
across purposes, months, entities and subs, and that a draw depends on nothing but its key.
Other distributions are made by inversion from the keyed uniform (normal: ``scipy.special.ndtri``;
exponential: ``-log(1 - u)``; Poisson and binomial: sequential search of the CDF), so counts stay
synchronised too.

Entities: a borrower's index (borrowers are never added or removed); a loan is keyed by its
borrower and the borrower's own loan number (``LoanBook.seq``: the borrower's first loan, second
loan, ...), so the k-th loan of a borrower meets the same luck in two arms even when other
borrowers borrowed differently; a platform by its index. ``Purpose`` lists every purpose; a
mechanism that needs a new random quantity adds a purpose (never reuses one).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from numba import njit
from scipy.special import ndtri

CONSTRUCTION = -(2**31)  # the "month" of draws made when the market is built


class Purpose(IntEnum):
    """Why a number is drawn. The value is part of the key: never renumber, only add."""

    # construction: borrowers and platforms
    CREDITWORTHINESS = 1
    INCOME_LEVEL = 2
    ESSENTIALS = 3
    SAVINGS = 4
    LITERACY = 5
    WILLINGNESS = 6
    START_EMPLOYMENT = 7
    PLATFORM_CAPITAL = 8
    START_SPELL = 9
    START_BENEFIT = 10
    SCORE_ERROR_PERSISTENT = 11  # per borrower, sub = platform: a lender's lasting view of a borrower
    # the economy
    REGIME = 20
    # phase 2: regulation
    EDUCATION = 30
    # phase 3: employment and income
    JOB_FLOW = 40
    INCOME_NOISE = 41
    EXPENSE_OCCURS = 42
    EXPENSE_SIZE = 43
    INCOME_PERMANENT = 44
    BENEFIT_COVERAGE = 45
    # phase 5: credit demand and origination (sub = application round)
    DEMAND = 50
    BORROW_TO_REPAY = 51
    LOAN_AMOUNT = 52
    LOAN_TERM = 53
    PLATFORM_CHOICE = 54
    SCORING_ERROR = 55
    OFFER_TAKE_UP = 56
    NEED_APPLY = 57
    # phase 6: repayment (PRIORITY_NOISE is per loan)
    INATTENTION = 60
    PRIORITY_NOISE = 61
    # phase 8: collection (per loan)
    INCIDENTS = 80
    COMPLAINTS = 81
    # phase 9: restructuring (per loan)
    RESTRUCTURE_TAKE_UP = 90
    # phase 11: supervision (per platform)
    INSPECTION = 110
    BREACH_GAIN = 111  # per platform, drawn once (month CONSTRUCTION): its gain from breaching conduct rules


@njit(cache=True)
def _mix(x: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    # splitmix64's finaliser: a bijection of 64-bit words with full avalanche
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def _uniforms(
    seed: np.uint64, purpose: np.int64, month: np.int64, entity: np.ndarray, sub: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    # the key is chained through the finaliser one component at a time: seed, purpose, month, entity, sub
    base = _mix(_mix(seed ^ np.uint64(purpose)) ^ np.uint64(month))
    out = np.empty(entity.size)
    scale = 1.0 / 9007199254740992.0  # 2**-53
    for i in range(entity.size):
        h = _mix(_mix(base ^ np.uint64(entity[i])) ^ np.uint64(sub[i]))
        out[i] = (float(h >> np.uint64(11)) + 0.5) * scale  # in (0, 1): never 0 or 1
    return out


@njit(cache=True)
def poisson_inverse(u: np.ndarray, lam: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """The smallest k with P(X <= k) >= u for X ~ Poisson(lam), per element (sequential search)."""
    out = np.zeros(u.size, np.int64)
    for i in range(u.size):
        if lam[i] <= 0.0:
            continue
        p = np.exp(-lam[i])
        cdf = p
        k = 0
        while cdf < u[i] and k < 100000:
            k += 1
            p *= lam[i] / k
            cdf += p
            if p == 0.0 and cdf < u[i]:  # beyond double precision: the remaining tail is negligible
                break
        out[i] = k
    return out


@njit(cache=True)
def binomial_inverse(u: np.ndarray, n: np.ndarray, prob: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """The smallest k with P(X <= k) >= u for X ~ Binomial(n, prob), per element (sequential search)."""
    out = np.zeros(u.size, np.int64)
    for i in range(u.size):
        trials, p = n[i], prob[i]
        if trials <= 0 or p <= 0.0:
            continue
        if p >= 1.0:
            out[i] = trials
            continue
        q = 1.0 - p
        pk = q**trials
        cdf = pk
        k = 0
        while cdf < u[i] and k < trials:
            pk *= (trials - k) / (k + 1) * p / q
            k += 1
            cdf += pk
        out[i] = k
    return out


class Draws:
    """The model's random source: keyed draws for every purpose, month and entity.

    Args:
        seed: the run's ``SeedSequence``; its first 64-bit word is the key every draw starts from.
    """

    def __init__(self, seed: np.random.SeedSequence) -> None:
        self.seed = np.uint64(seed.generate_state(1, np.uint64)[0])

    def uniform(self, purpose: Purpose, month: int, entity: np.ndarray, sub: np.ndarray | int = 0) -> np.ndarray:
        """Uniforms in (0, 1), one per entity (and sub, e.g. an application round or a loan number)."""
        entity = np.ascontiguousarray(entity, dtype=np.int64)
        subs = np.broadcast_to(np.asarray(sub, dtype=np.int64), entity.shape)
        return _uniforms(self.seed, np.int64(purpose), np.int64(month), entity, np.ascontiguousarray(subs))

    def normal(self, purpose: Purpose, month: int, entity: np.ndarray, sub: np.ndarray | int = 0) -> np.ndarray:
        """Standard normals by inversion of keyed uniforms."""
        return ndtri(self.uniform(purpose, month, entity, sub))

    def exponential(self, purpose: Purpose, month: int, entity: np.ndarray, sub: np.ndarray | int = 0) -> np.ndarray:
        """Standard exponentials (mean one) by inversion."""
        return -np.log1p(-self.uniform(purpose, month, entity, sub))

    def poisson(
        self, purpose: Purpose, month: int, entity: np.ndarray, lam: np.ndarray, sub: np.ndarray | int = 0
    ) -> np.ndarray:
        """Poisson counts by inversion: the same uniform gives the same or a larger count under a larger mean."""
        u = self.uniform(purpose, month, entity, sub)
        return poisson_inverse(u, np.ascontiguousarray(np.broadcast_to(lam, u.shape), dtype=np.float64))

    def binomial(
        self,
        purpose: Purpose,
        month: int,
        entity: np.ndarray,
        n: np.ndarray,
        prob: np.ndarray,
        sub: np.ndarray | int = 0,
    ) -> np.ndarray:
        """Binomial counts by inversion."""
        u = self.uniform(purpose, month, entity, sub)
        trials = np.ascontiguousarray(np.broadcast_to(n, u.shape), dtype=np.int64)
        return binomial_inverse(u, trials, np.ascontiguousarray(np.broadcast_to(prob, u.shape), dtype=np.float64))

    def at(self, month: int) -> MonthDraws:
        """The draws of one month (every purpose, every entity)."""
        return MonthDraws(self, month)


class MonthDraws:
    """:class:`Draws` bound to a month: what a phase of that month draws from."""

    def __init__(self, draws: Draws, month: int) -> None:
        self.draws, self.month = draws, month

    def uniform(self, purpose: Purpose, entity: np.ndarray, sub: np.ndarray | int = 0) -> np.ndarray:
        return self.draws.uniform(purpose, self.month, entity, sub)

    def normal(self, purpose: Purpose, entity: np.ndarray, sub: np.ndarray | int = 0) -> np.ndarray:
        return self.draws.normal(purpose, self.month, entity, sub)

    def exponential(self, purpose: Purpose, entity: np.ndarray, sub: np.ndarray | int = 0) -> np.ndarray:
        return self.draws.exponential(purpose, self.month, entity, sub)

    def poisson(self, purpose: Purpose, entity: np.ndarray, lam: np.ndarray, sub: np.ndarray | int = 0) -> np.ndarray:
        return self.draws.poisson(purpose, self.month, entity, lam, sub)

    def binomial(
        self, purpose: Purpose, entity: np.ndarray, n: np.ndarray, prob: np.ndarray, sub: np.ndarray | int = 0
    ) -> np.ndarray:
        return self.draws.binomial(purpose, self.month, entity, n, prob, sub)


__all__ = ["CONSTRUCTION", "Draws", "MonthDraws", "Purpose", "binomial_inverse", "poisson_inverse"]

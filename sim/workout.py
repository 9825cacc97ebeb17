"""Phase 9 of the month: forbearance mandates, restructuring offers, charge-offs and the recovery countdown."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .draws import Purpose
from .loans import CHARGED_OFF, CLOSED, EPS, LIVE, LoanBook, annuity, nonzero_total
from .platforms import add_to_flows

if TYPE_CHECKING:
    from .borrowers import BorrowerState
    from .config import PlatformsConfig
    from .flows import Cumulative, Ledger, Month, MonthFlows, Records
    from .platforms import Platform, PlatformTerms


def restructure_and_charge_off(
    borrowers: BorrowerState, book: LoanBook, platforms: list[Platform], terms: PlatformTerms, now: Month, rec: Records
) -> None:
    """Phase 9: restructuring offers, charge-offs, recovery countdown.

    Restructuring waives penalties and past-due interest and puts past-due principal back on
    schedule over a longer term (``extension``: term + N months; ``instalment``: at least N
    months), or also writes down part of the principal (``writedown``); the loan is current
    again. Platforms offer it to overdue borrowers with verified hardship while the loan is
    not yet in default, when recovery that way beats the charge-off they expect.

    Draws: ``RESTRUCTURE_TAKE_UP`` per eligible loan (keyed by borrower and loan number).
    """
    cfg = now.config.platforms
    flows, ledger, cumulative = rec.flows, rec.ledger, rec.cumulative
    state = book.view("state")
    live = state == LIVE
    borrower = book.view("borrower")
    plat = book.view("platform")
    dpd = book.view("dpd")
    hardship = ~borrowers.is_employed | borrowers.is_in_hardship
    pol = terms.restructuring
    enabled = np.array([r.enabled for r in pol]) & terms.is_active
    lo = np.array([r.min_dpd for r in pol])
    hi = np.array([r.max_dpd for r in pol])
    candidates = np.flatnonzero(
        live
        & enabled[plat]
        & (dpd >= lo[plat])
        & (dpd <= hi[plat])
        & hardship[borrower]
        & ~book.view("is_restructured")
    )
    u = now.draws.uniform(Purpose.RESTRUCTURE_TAKE_UP, borrower[candidates], book.view("seq")[candidates])
    take_up = np.array([r.take_up for r in pol])
    rows = candidates[u < take_up[plat[candidates]]]
    if len(rows):
        _restructure(book, platforms, terms, rows, flows, ledger)
        cumulative.restructured += len(rows)
    _charge_off(book, platforms, cfg, flows, ledger, cumulative)


def _restructure(
    book: LoanBook, platforms: list[Platform], terms: PlatformTerms, rows: np.ndarray, flows: MonthFlows, ledger: Ledger
) -> None:
    pol = terms.restructuring
    plat = book.view("platform")[rows]
    kinds = np.array([r.kind for r in pol])[plat]
    ext = np.array([r.extension_months for r in pol])[plat]
    share = np.array([r.writedown_share for r in pol])[plat]
    left = book.view("months_left")[rows].astype(np.int64)
    new_left = np.where(kinds == "instalment", np.maximum(left, ext), left + ext)
    written = np.where(kinds == "writedown", share * book.view("principal")[rows], 0.0)
    waived_interest, waived_penalty = book.due_interest[rows].copy(), book.penalty[rows].copy()
    add_to_flows(platforms, plat, interest_waived=waived_interest, penalty_waived=waived_penalty)
    ledger.interest_waived += float(waived_interest.sum())
    ledger.penalty_waived += float(waived_penalty.sum())
    book.principal[rows] -= written
    book.due_principal[rows] = 0.0
    book.due_interest[rows] = 0.0
    book.penalty[rows] = 0.0
    book.dpd[rows] = 0
    book.months_left[rows] = new_left
    book.instalment[rows] = annuity(book.principal[rows], book.apr[rows], new_left)
    book.is_restructured[rows] = True
    add_to_flows(platforms, plat, writedowns=written)
    flows.writedowns += float(written.sum())
    # the lender gives up the written-down principal and the past-due contract interest (penalties are
    # not a loss on the loan: they are reported apart, as penalty_waived)
    flows.relief_cost += float(written.sum()) + float(waived_interest.sum())
    flows.restructured += len(rows)
    ledger.written_down += float(written.sum())


def _charge_off(
    book: LoanBook,
    platforms: list[Platform],
    cfg: PlatformsConfig,
    flows: MonthFlows,
    ledger: Ledger,
    cumulative: Cumulative,
) -> None:
    """Charge off loans past the configured day; count down the recovery months of earlier ones."""
    state = book.view("state")
    live = state == LIVE
    dpd = book.view("dpd")
    recovering = state == CHARGED_OFF
    book.recovery_months_left[: book.n] -= recovering.astype(np.int16)
    done = recovering & ((book.view("recovery_months_left") <= 0) | (book.view("recovery_balance") < EPS))
    ledger.recovery_expired += nonzero_total(np.where(done, book.view("recovery_balance"), 0.0))
    book.state[: book.n][done] = CLOSED
    # dpd labels are the upper ends of 30-day ranges (180 = 151-180 days): charge off past the day
    co = np.flatnonzero(live & (dpd > cfg.charge_off_dpd))
    if len(co) == 0:
        return
    principal = book.view("principal")[co]
    owed = book.owed()[co]
    add_to_flows(platforms, book.view("platform")[co], charge_offs=principal)
    flows.charge_offs += float(principal.sum())
    cumulative.charged_off_owed += float(owed.sum())
    cumulative.charged_off_principal += float(principal.sum())
    ledger.charged_off += float(principal.sum())
    ledger.interest_charged_off += float(book.view("due_interest")[co].sum())
    flows.interest_charged_off += float(book.view("due_interest")[co].sum())
    ledger.penalty_charged_off += float(book.view("penalty")[co].sum())
    months = cfg.recovery_months
    book.state[co] = CHARGED_OFF if months > 0 else CLOSED
    book.recovery_balance[co] = owed
    book.recovery_principal[co] = principal
    book.recovery_due[co] = cfg.recovery_due_share * owed
    book.recovery_months_left[co] = months
    book.principal[co] = 0.0
    book.due_principal[co] = 0.0
    book.due_interest[co] = 0.0
    book.penalty[co] = 0.0


__all__ = ["restructure_and_charge_off"]

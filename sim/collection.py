"""Phase 8 of the month: collection contacts under each platform's conduct and the rules; harassment, complaints."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import policies
from .draws import Purpose
from .loans import CHARGED_OFF, LIVE, LoanBook
from .metrics import bucket_of
from .platforms import add_to_flows

if TYPE_CHECKING:
    from .borrowers import BorrowerState
    from .config import BehaviourConfig
    from .flows import Month, Records
    from .platforms import Platform, PlatformTerms


def collect_overdue(
    borrowers: BorrowerState, book: LoanBook, platforms: list[Platform], terms: PlatformTerms, now: Month, rec: Records
) -> None:
    """Phase 8: collection contacts under each platform's conduct and the rules; incidents, complaints.

    Active platforms collect under their own conduct; a failed platform's book is collected by
    a servicer under standard conduct, or by nobody (``on_failure: unserviced``). ``targeted``
    moves contacts towards loans whose borrowers are employed and less far behind (higher
    expected cure per contact) at the same total. A charged-off balance in its recovery months is
    pressed under the same conduct and rules, at the pressure of the last bucket (M3+), so what it
    recovers follows the conduct (Fedaseyeu 2020); its contacts are not counted (no contacts, cost,
    incidents or complaints: a simplification, recovery-stage work has no cost model here).

    Draws: per overdue loan (keyed by borrower and loan number), ``INCIDENTS`` (Poisson) and ``COMPLAINTS``
    (binomial), each by inversion of one uniform.
    """
    behaviour, flows = now.config.behaviour, rec.flows
    live = book.view("state") == LIVE
    dpd = book.view("dpd")
    over = np.flatnonzero(live & (dpd > 0))
    book.pressure[: book.n] = 0.0
    plat = book.view("platform")[over]
    bucket = bucket_of(dpd[over]) - 1
    conducts = terms.collectors
    table = np.array([c.contacts_by_bucket if c is not None else np.zeros(4) for c in conducts])
    third = np.array([c is not None and c.third_party for c in conducts])
    night = np.array([c is not None and c.night_contact for c in conducts])
    cost = np.array([c.cost_per_contact if c is not None else 0.0 for c in conducts])
    targeted = np.array([c is not None and c.targeted for c in conducts])
    contacts = table[plat, bucket]
    if targeted.any():
        contacts = _target(
            contacts, plat, bucket, targeted, borrowers.is_employed[book.view("borrower")[over]], terms, len(platforms)
        )
    pressure = policies.collection_pressure(contacts, third[plat], night[plat], behaviour)
    book.pressure[over] = pressure
    p_incident = policies.harassment_probability(contacts, third[plat], night[plat], behaviour)
    borrower, seq = book.view("borrower")[over], book.view("seq")[over]
    incidents = now.draws.poisson(Purpose.INCIDENTS, borrower, contacts * p_incident, seq)
    complaints = now.draws.binomial(
        Purpose.COMPLAINTS, borrower, incidents, behaviour.complaint_probability * borrowers.literacy[borrower], seq
    )
    np.add.at(borrowers.contacts_received, borrower, np.rint(contacts).astype(np.int64))
    np.add.at(borrowers.harassment_incidents, borrower, incidents)
    np.add.at(borrowers.complaints_filed, borrower, complaints)
    add_to_flows(platforms, plat, contacts=contacts, incidents=incidents, complaints=complaints)
    c_k = np.bincount(plat, weights=contacts, minlength=len(platforms))
    for p in platforms:
        p.flows.collection_cost += c_k[p.index] * cost[p.index]
    _press_recoveries(book, table[:, 3], third, night, behaviour)
    flows.contacts += float(contacts.sum())
    flows.incidents += int(incidents.sum())
    flows.complaints += int(complaints.sum())


def _press_recoveries(
    book: LoanBook, m3_contacts: np.ndarray, third: np.ndarray, night: np.ndarray, behaviour: BehaviourConfig
) -> None:
    """Pressure on each charged-off balance in its recovery months: its collector's conduct past M3 (the
    arrays are per platform, as phase 8 read them from the collectors)."""
    recovering = np.flatnonzero((book.view("state") == CHARGED_OFF) & (book.view("recovery_months_left") > 0))
    if len(recovering) == 0:
        return
    plat = book.view("platform")[recovering]
    book.pressure[recovering] = policies.collection_pressure(m3_contacts[plat], third[plat], night[plat], behaviour)


def _target(
    contacts: np.ndarray,
    plat: np.ndarray,
    bucket: np.ndarray,
    targeted: np.ndarray,
    employed: np.ndarray,
    terms: PlatformTerms,
    n_platforms: int,
) -> np.ndarray:
    """Move a targeting platform's contacts towards employed borrowers and early arrears, at the same total."""
    col = terms.collection
    w_employed = np.array([c.target_employed_weight for c in col])[plat]
    w_unemployed = np.array([c.target_unemployed_weight for c in col])[plat]
    w_early = np.array([c.target_early_weight for c in col])[plat]
    w_late = np.array([c.target_late_weight for c in col])[plat]
    w = np.where(employed, w_employed, w_unemployed) * np.where(bucket <= 1, w_early, w_late)
    t = targeted[plat]
    # keep each targeted platform's total: rescale weights to mean one within it
    wsum = np.bincount(plat[t], weights=w[t], minlength=n_platforms)
    wn = np.bincount(plat[t], minlength=n_platforms)
    scale = np.where(wsum > 0, wn / np.maximum(wsum, 1e-12), 0.0)
    return np.where(t, contacts * w * scale[plat], contacts)


__all__ = ["collect_overdue"]

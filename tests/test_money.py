"""Money is conserved in full, every month, in every scenario file.

Every yuan a borrower pays is booked by a platform as principal, interest, penalty or recovery;
every balance of the loan book (principal, interest due, penalty, balances in recovery) is what
flowed in less what flowed out (the ledger); what a restructuring waives is booked; each
platform's book and capital move by exactly its own flows. A platform that booked half of what a
borrower pays, a waiver that vanishes, or a fine that misses capital fails here.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from sim.config import load_scenario, validate_scenario
from sim.loans import CHARGED_OFF, LIVE
from sim.model import LendingMarket
from tests.scenario_files import SCENARIOS, scenario_files
from tests.test_model import STRESS

SMALL = {"months": 24, "burn_in": 12, "borrowers.count": 800}  # 24: the latest scheduled change (apr_cap_cut_m24.yaml)


def _stocks(model: LendingMarket) -> dict:
    book = model.loans
    state = book.view("state")
    live, recovering = state == LIVE, state == CHARGED_OFF
    k = len(model.platforms)
    plat = book.view("platform")
    return {
        "principal": float(book.view("principal")[live].sum()),
        "interest": float(book.view("due_interest")[live].sum()),
        "penalty": float(book.view("penalty")[live].sum()),
        "recovery": float(book.view("recovery_balance")[recovering].sum()),
        "informal": float(model.borrower_state.informal_debt.sum()),
        "principal_k": np.bincount(plat[live], weights=book.view("principal")[live], minlength=k),
        "capital_k": np.array([p.capital for p in model.platforms]),
        "ledger": dataclasses.asdict(model.ledger),
    }


def _close(a: float, b: float, scale: float, what: str) -> None:
    assert math.isclose(a, b, rel_tol=0.0, abs_tol=1e-9 * max(scale, 1.0)), f"{what}: {a:,.4f} != {b:,.4f}"


def check_money(model: LendingMarket, before: dict) -> dict:
    """Check every identity for the month just stepped; return this month's stocks for the next."""
    now = _stocks(model)
    led, prev = now["ledger"], before["ledger"]
    scale = led["lent"] + led["interest_billed"] + led["penalty_accrued"]
    where = f"month {model.month}"

    # each balance of the book is its inflows less its outflows since the start
    _close(
        now["principal"],
        led["lent"]
        + led["interest_capitalised"]
        - led["repaid"]
        - led["charged_off"]
        - led["written_down"]
        - led["forgiven_principal"],
        scale,
        f"{where}: principal outstanding",
    )
    _close(
        now["interest"],
        led["interest_billed"]
        - led["interest_paid"]
        - led["interest_waived"]
        - led["interest_charged_off"]
        - led["forgiven_interest"],
        scale,
        f"{where}: interest due",
    )
    _close(
        now["penalty"],
        led["penalty_accrued"]
        - led["penalty_paid"]
        - led["penalty_waived"]
        - led["penalty_charged_off"]
        - led["forgiven_penalty"],
        scale,
        f"{where}: penalty due",
    )
    charged = led["charged_off"] + led["interest_charged_off"] + led["penalty_charged_off"]
    _close(now["recovery"], charged - led["recovered"] - led["recovery_expired"], scale, f"{where}: in recovery")
    # informal credit outside the platforms: its balance is what was lent plus interest less what was repaid
    _close(
        now["informal"],
        led["informal_lent"] + led["informal_interest"] - led["informal_repaid"],
        scale + led["informal_lent"] + led["informal_interest"],  # rounding grows with what flowed through it
        f"{where}: informal credit",
    )
    # what borrowers paid is what the book received
    _close(
        led["borrower_paid"],
        led["repaid"] + led["interest_paid"] + led["penalty_paid"] + led["recovered"],
        scale,
        f"{where}: borrowers' payments",
    )

    # platforms book every yuan of the month, by kind
    delta = {key: led[key] - prev[key] for key in led}
    booked = {
        name: sum(getattr(p.flows, name) for p in model.platforms)
        for name in (
            "originated_amount",
            "principal_repaid",
            "interest_income",
            "penalty_income",
            "recoveries",
            "recovered_charges",
            "charge_offs",
            "writedowns",
            "interest_waived",
            "penalty_waived",
            "principal_forgiven",
            "interest_capitalised",
            "holiday_interest_waived",
        )
    }
    # a recovery repays the charged-off principal first; what comes in beyond it is interest and penalty
    booked["recovered"] = booked.pop("recoveries") + booked.pop("recovered_charges")
    for flow, key in (
        ("originated_amount", "lent"),
        ("principal_repaid", "repaid"),
        ("interest_income", "interest_paid"),
        ("penalty_income", "penalty_paid"),
        ("recovered", "recovered"),
        ("charge_offs", "charged_off"),
        ("writedowns", "written_down"),
        ("interest_waived", "interest_waived"),
        ("penalty_waived", "penalty_waived"),
        ("principal_forgiven", "forgiven_principal"),
        ("interest_capitalised", "interest_capitalised"),
        ("holiday_interest_waived", "holiday_interest_waived"),
    ):
        _close(booked[flow], delta[key], scale, f"{where}: platforms' {flow} against the month's {key}")

    # each platform's book and capital move by exactly its own flows
    for p in model.platforms:
        f, i = p.flows, p.index
        moved = now["principal_k"][i] - before["principal_k"][i]
        _close(
            moved,
            f.originated_amount
            + f.interest_capitalised
            - f.principal_repaid
            - f.charge_offs
            - f.writedowns
            - f.principal_forgiven,
            scale,
            f"{where}: platform {i}'s book",
        )
        income = f.interest_income + f.interest_capitalised + f.penalty_income + f.recoveries + f.recovered_charges
        costs = (
            f.charge_offs
            + f.writedowns
            + f.provisions
            + f.collection_cost
            + f.funding_cost
            + f.operating_cost
            + f.fines
        )
        _close(now["capital_k"][i] - before["capital_k"][i], income - costs, scale, f"{where}: platform {i}'s capital")
    return now


def run_checked(model: LendingMarket) -> LendingMarket:
    before = _stocks(model)
    for _ in range(model.n_steps):
        model.step()
        before = check_money(model, before)
    return model


def test_money_is_conserved_every_month_under_stress():
    model = run_checked(LendingMarket(validate_scenario(STRESS, source="stress"), seed=12))
    led = model.ledger
    # the stress scenario exercises every way money leaves a loan
    for key in (
        "repaid",
        "interest_paid",
        "penalty_paid",
        "recovered",
        "charged_off",
        "written_down",
        "interest_waived",
        "penalty_waived",
        "interest_charged_off",
        "penalty_charged_off",
        "recovery_expired",
        "holiday_interest_waived",
        "interest_capitalised",
    ):
        assert getattr(led, key) > 0, key


@pytest.mark.parametrize("path", scenario_files(), ids=lambda p: str(p.relative_to(SCENARIOS)))
def test_money_is_conserved_every_month_in_every_scenario_file(path):
    run_checked(LendingMarket(load_scenario(path).with_overrides(SMALL), seed=4))

"""Each mechanism tested where it acts, in the model, for its direction.

The rule functions have their own unit tests (test_policies.py); these follow loans, borrowers,
platforms and the regulator through real months of a ``LendingMarket`` and check that what a
mechanism is for happens there: holidays freeze penalties and days past due, a faster-growing
penalty is paid first, a platform short of capital stops lending, a scheduled rule applies in its
month, and so on. Loans are followed across months by their ``loan_id``.
"""

from __future__ import annotations

import pandas as pd

from sim.config import ScenarioConfig, validate_scenario
from sim.loans import LIVE
from sim.model import LendingMarket


def config(data: dict, **size) -> ScenarioConfig:
    base = {"months": 18, "burn_in": 12, "borrowers": {"count": 3000}}
    for key, value in size.items():
        base[key] = value
    merged = {**base, **data}
    if "borrowers" in data:
        merged["borrowers"] = {**base["borrowers"], **data["borrowers"]}
    return validate_scenario(merged, source="test")


def loans_by_id(model: LendingMarket, *fields: str) -> pd.DataFrame:
    book = model.loans
    frame = pd.DataFrame({name: book.view(name).copy() for name in ("loan_id", "state", *fields)})
    return frame.set_index("loan_id")


# --------------------------------------------------------------------------- forbearance


def test_a_loan_on_a_payment_holiday_accrues_no_penalty_and_does_not_age_in_any_holiday_month():
    model = LendingMarket(
        config(
            {
                "economy": {"shocks": [{"start": 2, "duration": 12, "unemployment_delta": 0.15, "income_factor": 0.8}]},
                "regulator": {"forbearance": {"enabled": True, "holiday_months": 3}},
                "platforms": {"policy": {"penalty": {"rule": "flat", "rate_daily": 0.002}}},
            }
        ),
        seed=2,
    )
    checked = {1: 0, 2: 0, 3: 0}  # loans checked in the holiday month with this many months left
    while model.month < model.config.months:
        before = loans_by_id(model, "holiday_left", "penalty", "dpd")
        model.step()
        after = loans_by_id(model, "penalty", "dpd")
        on_holiday = before[(before["state"] == LIVE) & (before["holiday_left"] > 0)]
        both = on_holiday.join(after.add_suffix("_after"), how="inner")
        both = both[both["state_after"] == LIVE]
        # a borrower may still pay on holiday, so penalties can fall; they must not grow
        assert (both["penalty_after"] <= both["penalty"]).all(), f"penalty accrued on holiday in month {model.month}"
        assert (both["dpd_after"] == both["dpd"]).all(), f"days past due moved on holiday in month {model.month}"
        for left in checked:
            checked[left] += int(((both["holiday_left"] == left) & (both["dpd"] > 0)).sum())
    assert all(n > 10 for n in checked.values()), checked  # overdue loans in every holiday month, the last included

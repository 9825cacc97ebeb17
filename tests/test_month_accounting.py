"""How a month is counted: roll rates, cures, fines against solvency, the clock, and whose draws are whose.

Each test follows individual loans or platforms through real months of the model and recomputes
a reported figure from them, so a figure that counts the wrong loans, or a fine that reaches
capital too late, fails here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mesa
import numpy as np
import pandas as pd
import pytest

import sim.model
from sim.config import ScenarioConfig, validate_scenario
from sim.loans import LIVE, REPAID
from sim.metrics import bucket_of
from sim.model import LendingMarket


@dataclass
class Probe:
    """What the loan book looked like at the start of each month, and the counts recomputed from it."""

    start: dict = field(default_factory=dict)
    checked: list = field(default_factory=list)


def probe_months(monkeypatch, config: ScenarioConfig, seed: int = 3) -> tuple[LendingMarket, Probe]:
    probe = Probe()
    open_month = LendingMarket.open_month
    model_metrics = sim.model.model_metrics

    def spy_open(self):
        book = self.loans
        probe.start = {
            "n": book.n,
            "live": book.view("state").copy() == LIVE,
            "dpd": book.view("dpd").copy(),
            "month": self.month,
        }
        return open_month(self)

    def spy_metrics(book, bs, platforms, regulator, econ, month, flows, cumulative):
        out = model_metrics(book, bs, platforms, regulator, econ, month, flows, cumulative)
        n0 = probe.start["n"]
        was_live = probe.start["live"]
        b_prev = bucket_of(probe.start["dpd"])
        state, dpd = book.view("state")[:n0], book.view("dpd")[:n0]
        live_now = state == LIVE
        b_new = bucket_of(dpd)
        rolls = [int((was_live & (b_prev == j) & live_now & (b_new == j + 1)).sum()) for j in range(4)]
        cured = was_live & (b_prev > 0) & ((live_now & (b_new == 0)) | (state == REPAID))
        new_loans = book.n - n0
        new_overdue = int(((book.view("state")[n0:] == LIVE) & (book.view("dpd")[n0:] > 0)).sum())
        probe.checked.append(
            {
                "month": month,
                "prev": np.bincount(b_prev[was_live], minlength=5),
                "rolls": rolls,
                "cures": int(cured.sum()),
                "repaid_overdue": int((was_live & (b_prev > 0) & (state == REPAID)).sum()),
                "new_loans": new_loans,
                "new_overdue": new_overdue,
                "metrics": out,
            }
        )
        return out

    monkeypatch.setattr(LendingMarket, "open_month", spy_open)
    monkeypatch.setattr(sim.model, "model_metrics", spy_metrics)
    return LendingMarket(config, seed=seed).run(), probe


def small(**extra) -> ScenarioConfig:
    return ScenarioConfig().with_overrides({"borrowers.count": 3000, "months": 18, "burn_in": 12, **extra})


def test_roll_rates_count_numerator_and_denominator_over_the_loans_live_at_the_start(monkeypatch):
    _, probe = probe_months(monkeypatch, small())
    assert sum(c["new_overdue"] for c in probe.checked) > 0  # new loans do fall overdue in their first month
    columns = ("roll_current_m1", "roll_m1_m2", "roll_m2_m3", "roll_m3_default")
    for c in probe.checked:
        for j, column in enumerate(columns):
            expected = c["rolls"][j] / c["prev"][j] if c["prev"][j] else 0.0
            assert c["metrics"][column] == pytest.approx(expected, abs=1e-12), (c["month"], column)


def test_overdue_loans_repaid_in_full_count_as_cures(monkeypatch):
    _, probe = probe_months(monkeypatch, small())
    assert sum(c["repaid_overdue"] for c in probe.checked) > 0  # the case happens
    for c in probe.checked:
        overdue = c["prev"][1:].sum()
        expected = c["cures"] / overdue if overdue else 0.0
        assert c["metrics"]["cure_rate"] == pytest.approx(expected, abs=1e-12), c["month"]


def fined_market() -> LendingMarket:
    """Platform 0 breaks the conduct rules from month 1 and is inspected every month; one fine exceeds its capital."""
    data = {
        "months": 6,
        "burn_in": 12,
        "borrowers": {"count": 3000},
        "platforms": {
            "policy": {"collection": {"regime": "aggressive"}},
            "overrides": [{"platforms": [0], "set": {"complies_with_conduct_rules": False}}],
        },
        "regulator": {
            "inspection_base": 1.0,
            "fine_revenue_share": 100.0,  # 100 years of revenue: more than any capital
            "breach_gain_share": 1e6,  # it breaches whatever the fine
            "revoke_after_violations": 100,
            "schedule": [{"month": 1, "set": {"ban_night_contact": True}}],
        },
    }
    return LendingMarket(validate_scenario(data, source="fined"), seed=4)


def test_a_fine_that_wipes_out_capital_fails_the_platform_in_the_month_it_is_fined():
    model = fined_market()
    fined_in = None
    while model.month < model.config.months:
        model.step()
        p = model.platforms[0]
        if fined_in is None and p.flows.fines > 0:
            fined_in = model.month
            assert p.capital < 0
            assert not p.is_active and p.failed_month == model.month
            assert p.profit < -0.9 * p.flows.fines  # the fine is a cost of the month
    assert fined_in == 1


def test_reported_profit_includes_the_fines_of_the_month():
    model = fined_market().run()
    pf = model.platform_frame()
    row = pf[(pf["platform"] == 0) & (pf["month"] == 1)].iloc[0]
    assert row["fines"] > 0 and row["profit"] < -0.9 * row["fines"]  # the fine is in the month's profit


def test_credit_score_is_what_each_platform_sees_under_its_own_policy():
    data = {
        "months": 4,
        "burn_in": 1,
        "borrowers": {"count": 500},
        "platforms": {
            "policy": {"reports_to_bureau": True},
            "overrides": [{"platforms": [1], "set": {"underwriting": {"bureau_default_penalty": 0.2}}}],
            "schedule": [{"month": 2, "set": {"underwriting": {"bureau_default_penalty": 4.0}}}],
        },
    }
    model = LendingMarket(validate_scenario(data, source="scores"), seed=1)
    bs = model.borrower_state
    for _ in range(3):  # months 0 and 1: platform 1's override (0.2); from month 2 the schedule sets 4.0 for all
        model.step()
        # a borrower with no record on any platform's own book (no live loan, no default with one)
        book = model.loans
        with_loans = book.view("borrower")[book.view("state") == LIVE]
        who = int(np.setdiff1d(np.flatnonzero(bs.defaulted_with == 0), with_loans)[0])
        agent = model.borrower_agents[who]
        bs.has_bureau_record[who] = True  # a past default on the bureau's record, no arrears now
        bs.bureau_arrears[who] = False
        z = bs.creditworthiness[who]
        expected = [z - p.policy.underwriting.bureau_default_penalty * p.is_reporting for p in model.platforms]
        assert agent.credit_scores == pytest.approx(expected)
        assert agent.credit_score == pytest.approx(expected[0])
    assert model.platforms[1].policy.underwriting.bureau_default_penalty == 4.0
    bs.has_bureau_record[who] = False
    assert agent.credit_scores == pytest.approx([bs.creditworthiness[who]] * len(model.platforms))


def test_the_model_keeps_one_clock_mesas():
    model = LendingMarket(small(months=3), seed=0)
    assert "month" not in vars(model)
    for _ in range(model.n_steps):
        model.step()
        assert model.month == model.steps - model.config.burn_in
    assert model.month == 3


def test_the_models_draws_do_not_depend_on_what_mesa_draws(monkeypatch):
    config = small(months=4)
    before = LendingMarket(config, seed=9).run().model_frame()
    init = mesa.Model.__init__

    def greedy_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.rng.random(17)  # as if Mesa (or a Mesa upgrade) drew more from the generator it was given

    monkeypatch.setattr(mesa.Model, "__init__", greedy_init)
    after = LendingMarket(config, seed=9).run().model_frame()
    pd.testing.assert_frame_equal(before, after, check_exact=True)

"""The borrower side as a consumer-credit economist reads it: who cannot pay, who will not, jobs and scores.

One test per mechanism of docs/model.md "Borrowers", "Credit demand" and "Strategic default": a
displaced worker's income path (benefits that end, a spending cut, a scar that doubles in a slack
labour market), job flows that put a quarter of a rise in unemployment on separations, a
platform's lasting view of a borrower, its memory of its own book, a borrower who can pay and does
at any stage of arrears, herding on observed strategic default, the record a restructuring keeps,
demand at two prices and two terms, and informal credit for who no platform serves.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim import origination
from sim.borrowers import BorrowerState, job_flows, update_employment
from sim.config import BorrowerConfig, EconomyConfig, ScenarioConfig, validate_scenario
from sim.draws import CONSTRUCTION, Draws, Purpose
from sim.economy import EconomyState
from sim.flows import Month
from sim.loans import LIVE
from sim.model import LendingMarket

# --------------------------------------------------------------------------- a displaced worker


class ScriptedDraws:
    """Month draws with the job-flow uniform set by the test; no income noise, no expenses, every spell covered."""

    def __init__(self, job_flow: float) -> None:
        self.job_flow = job_flow

    def uniform(self, purpose, who, sub=0):
        if purpose == Purpose.JOB_FLOW:
            return np.full(len(who), self.job_flow)
        if purpose == Purpose.BENEFIT_COVERAGE:
            return np.zeros(len(who))  # covered (u < coverage)
        return np.ones(len(who)) - 1e-9  # no expense shock

    def normal(self, purpose, who, sub=0):
        return np.zeros(len(who))

    def exponential(self, purpose, who, sub=0):
        return np.ones(len(who))


def economy_now(target_u: float) -> EconomyState:
    return EconomyState(target_u, 1.0, 1.0, 0.0385, 0.0, 0.0, False, False, 0)


def test_a_displaced_workers_income_falls_to_benefits_that_end_and_recovers_below_the_old_wage():
    econ = EconomyConfig(income_transitory_sd=0.0, income_permanent_sd=0.0, benefit_coverage=1.0, benefit_months=2)
    cfg = BorrowerConfig(count=10, essentials_sd=0.0)
    state = BorrowerState(cfg, Draws(np.random.SeedSequence(1)))
    state.creditworthiness[:] = 0.0
    wage0, ess0 = float(state.wage[0]), float(state.essentials[0])
    calm = economy_now(econ.unemployment_rate)
    path = []
    for job_flow in (0.0, 0.99, 0.99, 0.0, 0.99):  # lose the job, two months out, a third, re-employed, stay
        update_employment(state, econ, cfg, calm, ScriptedDraws(job_flow))
        path.append((bool(state.is_employed[0]), float(state.income[0]), float(state.essential_spending[0])))
    jobless = econ.jobless_income_share * wage0
    # covered for benefit_months: odd jobs and household transfers plus the benefit; spending cut 6%
    assert path[0][0] is False and path[0][1] == pytest.approx(jobless + econ.benefit_monthly, rel=1e-6)
    assert path[1][1] == pytest.approx(path[0][1], rel=1e-6)
    assert path[0][2] == pytest.approx(ess0 * (1 - cfg.essentials_cut_unemployed), rel=0.02)
    # the benefit has run out: income falls again and spending is cut a further 12%
    cut = cfg.essentials_cut_unemployed + cfg.essentials_cut_no_benefit
    assert path[2][1] == pytest.approx(jobless, rel=1e-6)
    assert path[2][2] == pytest.approx(ess0 * (1 - cut), rel=0.02)
    # re-employed at a wage 10% below the old one (a calm labour market), and not back to it a month later
    assert path[3][0] is True and path[3][1] == pytest.approx(wage0 * (1 - econ.scar_loss), rel=1e-6)
    assert path[4][1] < 0.91 * wage0


def test_the_scar_doubles_when_the_labour_market_is_slack():
    econ = EconomyConfig(income_transitory_sd=0.0, income_permanent_sd=0.0)
    cfg = BorrowerConfig(count=10)
    scars = {}
    for slack_u in (econ.unemployment_rate, econ.unemployment_rate + econ.slack_gap):
        state = BorrowerState(cfg, Draws(np.random.SeedSequence(2)))
        state.is_employed[:] = False
        state.spell_months[:] = 3
        before = float(state.wage[0])
        update_employment(state, econ, cfg, economy_now(slack_u), ScriptedDraws(0.0))  # found a job
        scars[slack_u] = 1 - float(state.wage[0]) / before
    calm, slack = scars.values()
    assert calm == pytest.approx(econ.scar_loss) and slack == pytest.approx(2 * econ.scar_loss)


def test_a_quarter_of_a_rise_in_unemployment_comes_from_more_separations():
    econ = EconomyConfig()
    f0, s0 = job_flows(econ, econ.unemployment_rate)
    f1, s1 = job_flows(econ, econ.unemployment_rate + 0.05)
    # the steady state is the target, and the log-odds change splits 1/4 : 3/4 between s and f
    assert s1 / (s1 + f1) == pytest.approx(econ.unemployment_rate + 0.05)
    total = np.log(s1 / f1) - np.log(s0 / f0)
    assert np.log(s1 / s0) / total == pytest.approx(econ.separation_share)
    assert s1 > 1.1 * s0  # separations rise, not only job finding falls (+5 pp: about +20%)


def test_on_the_job_growth_offsets_expected_scars_so_a_calm_economy_keeps_wages_flat():
    cfg = ScenarioConfig().with_overrides({"borrowers.count": 20_000, "months": 48, "burn_in": 0})
    model = LendingMarket(cfg, seed=3)
    start = float(model.borrower_state.wage.mean())
    model.run()
    drift = float(model.borrower_state.wage.mean()) / start - 1
    # 48 months of separations, each with a 10% scar, would take about 7% off wages without it (the
    # permanent shocks are mean-preserving in levels)
    assert abs(drift) < 0.02


# --------------------------------------------------------------------------- scores


def small(overrides: dict | None = None, **size) -> LendingMarket:
    data = {"months": 12, "burn_in": 6, "borrowers": {"count": 2000}}
    for key, value in (overrides or {}).items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    data.update(size)
    return LendingMarket(validate_scenario(data, source="test"), seed=4)


def scores_over_months(model: LendingMarket, who: np.ndarray, months: range) -> np.ndarray:
    """The score platform 0 sees of ``who`` at an application in each month (first round)."""
    from sim.platforms import set_platform_terms

    terms = set_platform_terms(
        model.platforms, model.policy_timelines, model.regulator, model.econ, model.config, 1, model.flows
    )
    k = np.zeros(len(who), dtype=np.int64)
    record = np.zeros(model.borrower_state.n, dtype=np.uint64)
    rows = []
    for m in months:
        now = Month(m, model.config, model.rules, model.econ, model.draws.at(m))
        rows.append(origination._score(model.borrower_state, who, k, terms, record, now, 0))
    return np.array(rows)


def test_a_platforms_scoring_error_is_mostly_its_lasting_view_of_the_borrower():
    model = small({"platforms": {"policy": {"underwriting": {"scoring_noise_persistence": 1.0}}}})
    who = np.arange(500)
    s = scores_over_months(model, who, range(1, 4))
    assert np.array_equal(s[0], s[1]) and np.array_equal(s[1], s[2])  # the same every application
    fresh = small({"platforms": {"policy": {"underwriting": {"scoring_noise_persistence": 0.0}}}})
    f = scores_over_months(fresh, who, range(1, 3))
    assert not np.allclose(f[0], f[1])


def test_a_risky_borrower_rarely_passes_by_reapplying():
    # z = -2 against a cut-off of -1 with error s.d. 0.8: about 11% pass at any one application. Drawn afresh,
    # 20 applications let 9 in 10 through; with a lasting view (80% of the variance) far fewer ever pass.
    ever = {}
    for persistence in (0.0, 0.8):
        model = small({"platforms": {"policy": {"underwriting": {"scoring_noise_persistence": persistence}}}})
        model.borrower_state.creditworthiness[:] = -2.0
        s = scores_over_months(model, np.arange(2000), range(1, 21))
        cutoff = model.config.platforms.policy.underwriting.cutoff
        assert (s[0] >= cutoff).mean() == pytest.approx(0.106, abs=0.025)  # the same odds at one try
        ever[persistence] = (s >= cutoff).any(axis=0).mean()
    assert ever[0.0] > 0.85 and ever[0.8] < 0.55


def test_a_platform_that_does_not_report_still_knows_its_own_book():
    model = small()
    for _ in range(model.n_steps):
        model.step()
    book = model.loans
    live = book.view("state") == LIVE
    behind = np.flatnonzero(live & (book.view("dpd") > 0) & ~book.view("is_reported"))
    assert len(behind) > 5
    b, k = book.view("borrower")[behind], book.view("platform")[behind].astype(np.uint64)
    record = origination._own_records(model.borrower_state, book, live)
    assert ((record[b] >> k) & np.uint64(1)).all()  # the lender sees its own overdue loan
    # and a borrower who defaulted on a platform stays marked there after the loan is gone
    defaulted = model.borrower_state.defaulted_with
    assert (defaulted != 0).sum() > 0
    scores = model.borrower_agents[int(np.flatnonzero(defaulted)[0])].credit_scores
    z = model.borrower_state.creditworthiness[int(np.flatnonzero(defaulted)[0])]
    assert (scores < z).any()


# --------------------------------------------------------------------------- who will not pay


def test_a_borrower_who_can_pay_does_at_any_stage_of_arrears():
    from tests.test_mechanisms import add_overdue_loan, arrears_left, controlled_market, short_of_cash

    for months_behind in (1, 2, 3):
        model = controlled_market()
        model.borrower_state.willingness[:] = model.config.borrowers.willingness_mean  # a typical borrower
        short_of_cash(model, 5000.0)
        loan = add_overdue_loan(model, 0, 0, 1000.0, 0.0)
        model.loans.dpd[np.flatnonzero(model.loans.view("loan_id") == loan)] = 30 * months_behind
        model.step()
        assert arrears_left(model, loan) == 0.0, f"withheld at {30 * months_behind} days"
        assert model.flows.strategic == 0


def test_herding_follows_the_strategic_default_borrowers_see_not_every_default():
    collapse = {"economy": {"shocks": [{"start": 2, "duration": 1, "platform_closures": 3}]}}
    model = small({**collapse, "platforms": {"on_failure": "unserviced"}}, months=8)
    seen = []
    for _ in range(model.n_steps):
        model.step()
        seen.append([p.strategic_rate for p in model.platforms])
    rates = np.array(seen)
    assert rates.max() > 0.05  # an unserviced book: its borrowers withhold while able, and others hear of it
    # a platform's rate is its share of live loans withheld while able this month
    model.step()
    book = model.loans
    assert all(0.0 <= p.strategic_rate <= 1.0 for p in model.platforms)
    assert book.view("withheld_able").sum() >= 0


def test_a_restructured_loan_keeps_its_bureau_record():
    model = small(
        {
            "regulator": {"bureau_mandate_share": 1.0},
            "platforms": {"policy": {"restructuring": {"enabled": True, "take_up": 1.0}}},
            "economy": {"shocks": [{"start": 1, "duration": 12, "unemployment_delta": 0.1}]},
        }
    )
    checked = 0
    for _ in range(model.n_steps):
        model.step()
        book = model.loans
        restructured = (book.view("state") == LIVE) & book.view("is_restructured") & (book.view("dpd") == 0)
        # the record is refreshed at the next origination phase: check it then
        who = np.unique(book.view("borrower")[restructured & book.view("is_reported")])
        if len(who):
            origination._demand(
                model.borrower_state,
                book,
                Month(model.month + 1, model.config, model.rules, model.econ, model.draws.at(model.month + 1)),
            )
            assert model.borrower_state.has_bureau_record[who].all()
            checked += len(who)
    assert checked > 10


# --------------------------------------------------------------------------- demand


def test_take_up_falls_with_the_price_above_what_the_borrower_expects():
    model = small()
    now = Month(1, model.config, model.rules, model.econ, model.draws.at(1))
    who = np.arange(20_000 if model.borrower_state.n >= 20_000 else model.borrower_state.n)
    ref = np.full(len(who), 0.24)
    at_ref = origination._takes_offer(np.full(len(who), 0.24), ref, who, 0, now)
    dearer = origination._takes_offer(np.full(len(who), 0.36), ref, who, 0, now)
    assert at_ref.all()
    expected = 1.5**-model.config.borrowers.take_up_elasticity
    assert dearer.mean() == pytest.approx(expected, abs=3 * np.sqrt(expected * (1 - expected) / len(who)))
    assert not (dearer & ~at_ref).any()  # the same draw: a dearer offer is never taken where a cheaper was not


def test_demand_at_two_prices_in_a_market():
    """Platforms pricing every applicant at 36% instead of 24% lend to fewer consumption borrowers."""
    lent = {}
    for apr in (0.24, 0.36):
        data = {
            "platforms": {"policy": {"pricing": {"margin_annual": apr - 0.18 + 0.06, "apr_risk_slope": 0.0}}},
            "borrowers": {"need_apply": 0.0, "borrow_to_repay": 0.0, "count": 5000},
            "behaviour": {"pressure_borrow_push": 0.0},
        }
        model = small(data, months=4, burn_in=0)
        model.run()
        frame = model.model_frame()
        lent[apr] = (frame["originations"].sum(), frame["offers_declined"].sum())
    (cheap, declined_cheap), (dear, declined_dear) = lent[0.24], lent[0.36]
    assert declined_cheap == 0 and declined_dear > 0
    assert 0.55 < dear / cheap < 0.85  # take-up (1.5)^-1.1 = 0.64, less the few who shop elsewhere


def test_a_longer_term_or_a_lower_rate_lets_a_borrower_ask_for_more():
    model = small()
    now = Month(1, model.config, model.rules, model.econ, model.draws.at(1))
    desired = np.full(3, 1e9)  # more than any instalment allows
    consumption = np.ones(3, dtype=bool)
    income = np.full(3, 6000.0)
    asked = origination._request(desired, consumption, np.array([0.24, 0.24, 0.12]), np.array([3, 12, 12]), income, now)
    assert asked[0] < asked[1] < asked[2]
    # a need is asked for in full
    need = origination._request(
        np.full(1, 5000.0), np.zeros(1, dtype=bool), np.full(1, 0.36), np.full(1, 3), income[:1], now
    )
    assert need[0] == 5000.0


def test_who_no_platform_serves_borrows_informally_at_its_cost():
    shut = {
        "platforms": {"policy": {"underwriting": {"cutoff": 10.0, "max_cutoff": 10.0}}}
    }  # no platform approves anyone
    model = small({**shut, "borrowers": {"need_apply": 1.0, "count": 2000}}, months=6, burn_in=0)
    model.run()
    frame = model.model_frame()
    assert frame["originations"].sum() == 0
    assert frame["informal_borrowing"].sum() > 0 and frame["informal_interest"].iloc[-1] > 0
    debt = model.borrower_state.informal_debt
    limit = model.config.borrowers.informal_limit_months * model.borrower_state.wage * model.econ.income_level
    assert (debt <= limit * 1.03 + 1e-6).all()  # up to the limit (plus a month's interest)


def test_persistent_draws_are_keyed_without_a_month():
    draws = Draws(np.random.SeedSequence(9))
    a = draws.normal(Purpose.SCORE_ERROR_PERSISTENT, CONSTRUCTION, np.arange(5), np.array([0, 1, 2, 3, 4]))
    b = draws.normal(Purpose.SCORE_ERROR_PERSISTENT, CONSTRUCTION, np.arange(5), np.array([0, 1, 2, 3, 4]))
    assert np.array_equal(a, b)

"""Phase 8 (sim/collection.py) on hand-made loans: contacts by bucket, pressure, costs, servicers, targeting.

Each test puts overdue loans on a quiet market's book, opens the month and runs phase 8 alone
(tests/phases.py). Contacts and pressure follow from the conduct tables; incidents and complaints
are random, so only what holds for any draw is checked of them.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.collection import collect_overdue
from sim.loans import CHARGED_OFF
from sim.policies import COLLECTION_PRESETS, collection_pressure, recovery_intensity
from tests.phases import add_loan, controlled_market, open_month

STANDARD = COLLECTION_PRESETS["standard"]


def run_phase(model, terms_and_month=None) -> None:
    terms, now = terms_and_month or open_month(model)
    collect_overdue(model.borrower_state, model.loans, model.platforms, terms, now, model.records)


def test_each_overdue_loan_gets_its_buckets_contacts_and_the_pressure_they_put_on_it():
    model = controlled_market()
    dpds = (0, 30, 60, 90, 120)
    rows = [add_loan(model, borrower=i, dpd=d, due_principal=100.0 if d else 0.0) for i, d in enumerate(dpds)]
    model.loans.pressure[rows[0]] = 0.9  # last month's pressure on a loan now current
    run_phase(model)
    expected = np.array([0.0, *STANDARD.contacts_by_bucket])  # current, M1, M2, M3, M3+
    np.testing.assert_array_equal(model.borrower_state.contacts_received[:5], expected)
    no = np.zeros(5, dtype=bool)
    pressure = collection_pressure(expected, no, no, model.config.behaviour)
    np.testing.assert_allclose(model.loans.pressure[rows], pressure, rtol=1e-12)
    assert model.loans.pressure[rows[0]] == 0.0 and (pressure[1:] > 0).all()
    assert model.records.flows.contacts == pytest.approx(expected.sum())


def test_each_platform_pays_for_its_own_contacts():
    model = controlled_market(
        platforms={"overrides": [{"platforms": [1], "set": {"collection": {"regime": "aggressive"}}}]}
    )
    add_loan(model, borrower=0, platform=0, dpd=30, due_principal=100.0)
    add_loan(model, borrower=1, platform=1, dpd=60, due_principal=100.0)
    run_phase(model)
    p0, p1 = model.platforms[0].flows, model.platforms[1].flows
    aggressive = COLLECTION_PRESETS["aggressive"]
    assert p0.contacts == STANDARD.contacts_by_bucket[0] and p1.contacts == aggressive.contacts_by_bucket[1]
    assert p0.collection_cost == pytest.approx(STANDARD.contacts_by_bucket[0] * STANDARD.cost_per_contact)
    assert p1.collection_cost == pytest.approx(aggressive.contacts_by_bucket[1] * aggressive.cost_per_contact)
    assert model.platforms[2].flows.contacts == 0.0 and model.platforms[2].flows.collection_cost == 0.0


def test_third_party_and_night_contacts_add_pressure():
    model = controlled_market(
        platforms={"overrides": [{"platforms": [1], "set": {"collection": {"regime": "aggressive"}}}]}
    )
    standard = add_loan(model, borrower=0, platform=0, dpd=30, due_principal=100.0)
    aggressive = add_loan(model, borrower=1, platform=1, dpd=30, due_principal=100.0)
    run_phase(model)
    c = COLLECTION_PRESETS["aggressive"].contacts_by_bucket[0]
    yes = np.ones(1, dtype=bool)
    expected = collection_pressure(np.array([c]), yes, yes, model.config.behaviour)[0]
    assert model.loans.pressure[aggressive] == pytest.approx(expected)
    assert model.loans.pressure[aggressive] > model.loans.pressure[standard]


def test_a_failed_platforms_book_is_collected_by_a_servicer_under_standard_conduct_or_by_nobody():
    for on_failure in ("servicer", "unserviced"):
        model = controlled_market(
            platforms={"on_failure": on_failure, "policy": {"collection": {"regime": "aggressive"}}}
        )
        row = add_loan(model, dpd=60, due_principal=100.0)
        model.platforms[0].exit("failed", 0)
        run_phase(model)
        contacts = model.borrower_state.contacts_received[0]
        if on_failure == "servicer":
            assert contacts == STANDARD.contacts_by_bucket[1] and model.loans.pressure[row] > 0
            assert model.platforms[0].flows.collection_cost == pytest.approx(contacts * STANDARD.cost_per_contact)
        else:
            assert contacts == 0 and model.loans.pressure[row] == 0.0


def charged_off(model, borrower: int, platform: int) -> int:
    """A loan charged off last month, with its balance in recovery."""
    row = add_loan(model, borrower=borrower, platform=platform, dpd=210, due_principal=100.0)
    book = model.loans
    book.state[row] = CHARGED_OFF
    book.recovery_balance[row] = book.recovery_principal[row] = 1000.0
    book.recovery_due[row] = 30.0
    book.recovery_months_left[row] = 11
    book.principal[row] = book.due_principal[row] = 0.0
    return row


def test_a_balance_in_recovery_is_pressed_under_its_collectors_conduct_past_m3_and_its_contacts_are_not_counted():
    model = controlled_market(
        platforms={
            "overrides": [
                {"platforms": [1], "set": {"collection": {"regime": "aggressive"}}},
                {"platforms": [2], "set": {"collection": {"regime": "regulated"}}},
            ]
        }
    )
    rows = [charged_off(model, borrower=p, platform=p) for p in range(3)]
    run_phase(model)
    behaviour = model.config.behaviour
    for row, regime in zip(rows, ("standard", "aggressive", "regulated")):
        c = COLLECTION_PRESETS[regime]
        flag = lambda x: np.array([x])  # noqa: E731
        expected = collection_pressure(
            np.array(c.contacts_by_bucket[3:4]), flag(c.third_party), flag(c.night_contact), behaviour
        )[0]
        assert model.loans.pressure[row] == pytest.approx(expected)
    pressure = model.loans.pressure[rows]
    assert pressure[1] > pressure[0] > pressure[2] > 0
    # recovery-stage work has no cost or harassment account: only its pressure
    assert model.records.flows.contacts == 0.0 and model.borrower_state.contacts_received[:3].sum() == 0
    assert all(p.flows.collection_cost == 0.0 for p in model.platforms)


def test_nobody_presses_a_balance_in_recovery_of_an_unserviced_failed_platform():
    model = controlled_market(platforms={"on_failure": "unserviced"})
    row = charged_off(model, borrower=0, platform=0)
    model.platforms[0].exit("failed", 0)
    run_phase(model)
    assert model.loans.pressure[row] == 0.0


def test_collectors_ask_the_base_demand_under_standard_conduct_less_under_restrictions_more_when_aggressive():
    model = controlled_market()
    behaviour = model.config.behaviour
    no, yes = np.zeros(1, dtype=bool), np.ones(1, dtype=bool)

    def past_m3(regime: str) -> float:
        c = COLLECTION_PRESETS[regime]
        p = collection_pressure(
            np.array(c.contacts_by_bucket[3:4]), yes if c.third_party else no, yes if c.night_contact else no, behaviour
        )
        return float(recovery_intensity(p, behaviour)[0])

    assert past_m3("standard") == pytest.approx(1.0)
    assert 0.0 < past_m3("soft") < past_m3("regulated") < 1.0 < past_m3("aggressive")
    assert recovery_intensity(np.zeros(1), behaviour)[0] == 0.0  # nobody collecting: nothing asked


def test_incidents_and_complaints_are_counted_alike_for_borrowers_platforms_and_the_market():
    # every incident becomes a complaint of a fully literate borrower, none of an illiterate one
    model = controlled_market(
        behaviour={"harassment_per_contact": 0.5, "complaint_probability": 1.0},
        platforms={"policy": {"collection": {"regime": "aggressive"}}},
    )
    bs = model.borrower_state
    bs.literacy[:] = 1.0
    bs.literacy[5:] = 0.0
    for b in range(10):
        add_loan(model, borrower=b, platform=b % 3, dpd=60, due_principal=100.0)
    run_phase(model)
    flows, platforms = model.records.flows, model.platforms
    assert (bs.harassment_incidents[:10] > 0).all()  # 30 contacts a month at more than one in two
    assert flows.incidents == bs.harassment_incidents.sum() == sum(p.flows.incidents for p in platforms)
    assert flows.complaints == bs.complaints_filed.sum() == sum(p.flows.complaints for p in platforms)
    np.testing.assert_array_equal(bs.complaints_filed[:5], bs.harassment_incidents[:5])
    assert (bs.complaints_filed[5:] == 0).all()


def test_without_harassment_there_are_no_incidents_and_no_complaints():
    model = controlled_market(
        behaviour={
            "harassment_per_contact": 0.0,
            "harassment_third_party": 0.0,
            "harassment_night": 0.0,
            "harassment_excess": 0.0,
        },
        platforms={"policy": {"collection": {"regime": "aggressive"}}},
    )
    for b in range(5):
        add_loan(model, borrower=b, dpd=90, due_principal=100.0)
    run_phase(model)
    assert model.records.flows.incidents == 0 and model.records.flows.complaints == 0


def targeted_weights(col, employed, early) -> np.ndarray:
    return np.where(employed, col.target_employed_weight, col.target_unemployed_weight) * np.where(
        early, col.target_early_weight, col.target_late_weight
    )


def test_targeted_collection_moves_contacts_to_employed_borrowers_at_the_same_total():
    # a targeting platform and a standard one, each with two employed and two unemployed borrowers in M1
    model = controlled_market(
        platforms={"overrides": [{"platforms": [1], "set": {"collection": {"regime": "targeted"}}}]}
    )
    model.borrower_state.is_employed[[2, 3, 6, 7]] = False
    rows = [add_loan(model, borrower=b, platform=b // 4, dpd=30, due_principal=100.0) for b in range(8)]
    terms, now = open_month(model)
    run_phase(model, (terms, now))
    m1 = STANDARD.contacts_by_bucket[0]
    employed = np.array([True, True, False, False])
    w = targeted_weights(terms.collection[1], employed, np.ones(4, dtype=bool))
    contacts = np.r_[np.full(4, m1), m1 * w / w.mean()]  # weights rescaled to mean one on the platform
    no = np.zeros(8, dtype=bool)
    np.testing.assert_allclose(
        model.loans.pressure[rows], collection_pressure(contacts, no, no, model.config.behaviour), rtol=1e-12
    )
    assert contacts[4] > m1 > contacts[6]
    p0, p1 = model.platforms[0].flows, model.platforms[1].flows
    assert p0.contacts == pytest.approx(4 * m1) and p1.contacts == pytest.approx(4 * m1)  # the same total


def test_targeted_collection_favours_early_arrears_over_late():
    model = controlled_market(platforms={"policy": {"collection": {"regime": "targeted"}}})
    dpds = (30, 60, 90, 120)  # M1, M2 (early), M3, M3+ (late)
    rows = [add_loan(model, borrower=b, dpd=d, due_principal=100.0) for b, d in enumerate(dpds)]
    terms, now = open_month(model)
    run_phase(model, (terms, now))
    flat = np.asarray(STANDARD.contacts_by_bucket)
    w = targeted_weights(terms.collection[0], np.ones(4, dtype=bool), np.array([True, True, False, False]))
    contacts = flat * w / w.mean()
    no = np.zeros(4, dtype=bool)
    np.testing.assert_allclose(
        model.loans.pressure[rows], collection_pressure(contacts, no, no, model.config.behaviour), rtol=1e-12
    )
    assert model.records.flows.contacts == pytest.approx(contacts.sum())
    assert (contacts[:2] > flat[:2]).all() and (contacts[2:] < flat[2:]).all()


def test_a_targeting_platform_with_one_overdue_loan_gives_it_the_contacts_of_its_bucket():
    # weights are rescaled to mean one, so a lone loan keeps its contacts however little its weight
    model = controlled_market(platforms={"policy": {"collection": {"regime": "targeted"}}})
    model.borrower_state.is_employed[0] = False
    row = add_loan(model, dpd=90, due_principal=100.0)  # unemployed and late: the lowest weight
    run_phase(model)
    no = np.zeros(1, dtype=bool)
    expected = collection_pressure(np.array([STANDARD.contacts_by_bucket[2]]), no, no, model.config.behaviour)[0]
    assert model.loans.pressure[row] == pytest.approx(expected)
    assert model.records.flows.contacts == pytest.approx(STANDARD.contacts_by_bucket[2])

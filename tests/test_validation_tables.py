"""The policy-effects table of ``run.py validate``: paired relative changes, and the literature beside them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments import validation as v


def test_literature_range_is_compared_with_the_whole_interval():
    lit = v.Literature("-9% per restriction", "Fedaseyeu (2020)", low=-0.15, high=-0.03)
    assert lit.compare(-0.12, -0.05) == "within the range"
    assert lit.compare(-0.20, -0.10) == "within the range"  # overlaps
    assert lit.compare(-0.40, -0.20) == "model below the range"
    assert lit.compare(0.01, 0.04) == "model above the range"
    direction_only = v.Literature("lower defaults", "Jappelli & Pagano (2002)", high=0.0)
    assert direction_only.compare(-0.3, -0.1) == "within the range"
    assert direction_only.compare(0.02, 0.05) == "model above the range"
    assert v.Literature("both signs", "Morse (2011)").compare(-0.2, -0.1).startswith("no range")
    # the interval of the difference is read relative to the control's mean, unless the range is of the difference
    assert lit.compare(-0.024, -0.012, scale=0.2) == "within the range"  # -12% to -6%
    points = v.Literature("+1.8 to +3 pp", "de Bondt (2005)", low=0.018, high=0.03, difference=True)
    assert points.compare(0.025, 0.026, scale=0.23) == "within the range"
    assert points.compare(0.031, 0.04, scale=0.23) == "model above the range"


def _outcomes(effect: v.Effect, control: list[float], treated: list[float]) -> pd.DataFrame:
    key = effect.outcome.key
    rows = [{"cell": effect.control.cell_id, "replication": r, key: x} for r, x in enumerate(control)]
    rows += [{"cell": effect.treated.cell_id, "replication": r, key: x} for r, x in enumerate(treated)]
    return pd.DataFrame(rows)


def test_every_literature_magnitude_names_its_source_and_sits_on_an_all_channels_row():
    with_lit = [e for e in v.effects() if e.literature is not None]
    assert with_lit, "no lever carries a literature magnitude"
    for e in with_lit:
        assert e.channel == "all channels"
        assert e.literature.source and e.literature.text
        # a range, or a note saying why there is none
        assert e.literature.low is not None or e.literature.high is not None or e.literature.note


def test_effects_table_prints_the_literature_and_the_verdict(monkeypatch):
    lit = v.Literature("-9% per restriction", "Fedaseyeu (2020)", low=-0.15, high=-0.03, note="a state law")
    e = v.Effect(
        "collection", v.BASE, v.Arm("policies/collection_regulated.yaml"), v.mean("recovery_rate", 13), literature=lit
    )
    monkeypatch.setattr(v, "effects", lambda: [e])
    out = _outcomes(e, [0.30, 0.28, 0.31, 0.29], [0.20, 0.19, 0.21, 0.20])  # about -31%
    rows = v._effect_rows(out, {e.control.cell_id, e.treated.cell_id})
    assert len(rows) == 1
    row = rows[0]
    assert np.isclose(row["relative"], (0.20 - 0.295) / 0.295)
    assert row["versus_literature"] == "model below the range"
    ev = v.Evaluation(
        [],
        pd.DataFrame(columns=["target", "range", "measured", "ci_low", "ci_high", "holds", "source"]),
        None,
        pd.DataFrame(rows),
        4,
        1000,
        60,
        1,
    )
    text = v.report_markdown(ev)
    assert "-9% per restriction (Fedaseyeu (2020))" in text
    assert "model below the range" in text
    assert "a state law" in text

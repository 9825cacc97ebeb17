"""Which swept parameter matters more (analysis.effects): levels, main effects with paired contrasts,
the variance decomposition, on outcomes whose answer is known by construction."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from analysis.effects import effects, effects_markdown, is_grid, main_effects_chart, parameter_levels

CAPS = [1.0, 0.24, 0.12]
REGIMES = ["standard", "aggressive", "regulated"]
R = 12


def grid_cells() -> pd.DataFrame:
    return pd.DataFrame(
        [{"cell": f"p{i:03d}", "cap": c, "regime": g} for i, (c, g) in enumerate(itertools.product(CAPS, REGIMES))]
    )


def known_outcomes(cells: pd.DataFrame, seed: int = 0, shared_sd: float = 1.0, run_sd: float = 0.05) -> pd.DataFrame:
    """y = cap effect + regime effect + their interaction + a shock shared by replication r in every cell
    (common random numbers) + a little noise of each run."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(0.0, shared_sd, R)
    cap_effect = {1.0: 0.0, 0.24: -1.0, 0.12: -2.0}
    regime_effect = {"standard": 0.0, "aggressive": 3.0, "regulated": -0.5}
    rows = []
    for cell in cells.itertuples():
        for r in range(R):
            y = cap_effect[cell.cap] + regime_effect[cell.regime] + shared[r] + rng.normal(0.0, run_sd)
            y += 1.5 if (cell.cap == 0.12 and cell.regime == "aggressive") else 0.0
            rows.append({"cell": cell.cell, "replication": r, "y": y})
    return pd.DataFrame(rows)


def test_a_grid_is_told_from_its_cells_and_a_sampled_design_is_not():
    assert is_grid(grid_cells(), ["cap", "regime"])
    sampled = pd.DataFrame({"cell": [f"p{i}" for i in range(8)], "a": np.linspace(0, 1, 8), "b": ["x", "y"] * 4})
    assert not is_grid(sampled, ["a", "b"])
    assert not is_grid(grid_cells().iloc[:-1], ["cap", "regime"])  # a combination missing


def test_grid_levels_are_its_values_and_a_sampled_range_is_cut_into_equal_count_bins():
    levels = parameter_levels(grid_cells(), ["cap", "regime"], grid=True)
    assert list(levels["cap"].cat.categories) == ["1", "0.24", "0.12"]  # as listed: the status quo first
    assert list(levels["regime"].cat.categories) == REGIMES  # categories: as listed
    rng = np.random.default_rng(1)
    sampled = pd.DataFrame({"cell": [f"p{i:02d}" for i in range(32)], "a": rng.uniform(0, 10, 32)})
    binned = parameter_levels(sampled, ["a"], grid=False)["a"]
    assert len(binned.cat.categories) == 4 and set(binned.value_counts()) == {8}
    for level in binned.cat.categories:  # each bin is a range of the values it holds
        low, high = (float(x) for x in level.split("-"))
        inside = sampled.set_index("cell")["a"][binned == level]
        assert inside.min() == pytest.approx(low, rel=1e-5) and inside.max() == pytest.approx(high, rel=1e-5)


def test_main_effects_and_paired_contrasts_recover_the_effects_put_in():
    cells = grid_cells()
    result = effects(known_outcomes(cells), cells, ["cap", "regime"], ["y"])
    main = result.main.set_index(["parameter", "level"])
    # cap 0.12 vs no cap: -2, plus a third of the interaction (1.5 in one regime of three)
    assert main.loc[("cap", "0.12"), "diff_mean"] == pytest.approx(-2.0 + 0.5, abs=0.05)
    assert main.loc[("regime", "aggressive"), "diff_mean"] == pytest.approx(3.0 + 0.5, abs=0.05)
    assert main.loc[("regime", "standard"), "diff_mean"] != main.loc[("regime", "standard"), "diff_mean"]  # NaN
    # the shared shock cancels in a paired contrast: its interval is far narrower than the level's own
    row = main.loc[("regime", "regulated")]
    assert (row["diff_ci_high"] - row["diff_ci_low"]) < 0.1 * (row["ci_high"] - row["ci_low"])
    assert row["diff_ci_low"] < -0.5 < row["diff_ci_high"]
    assert set(result.main["cells"]) == {3} and set(result.main["n"]) == {R}


def test_the_variance_decomposition_of_a_grid_adds_up_and_ranks_the_parameters():
    cells = grid_cells()
    result = effects(known_outcomes(cells), cells, ["cap", "regime"], ["y"])
    shares = result.variance.set_index("source")["share"]
    assert list(shares.index) == ["cap", "regime", "cap x regime", "replication", "rest"]
    assert shares.sum() == pytest.approx(1.0)
    assert shares["regime"] > shares["cap"] > shares["cap x regime"] > shares["rest"]
    assert shares["rest"] < 0.01  # only the small run noise is left
    # the shared shock is the replication part, not noise attributed to a parameter
    no_shared = effects(known_outcomes(cells, shared_sd=0.0), cells, ["cap", "regime"], ["y"])
    assert no_shared.variance.set_index("source")["share"]["replication"] < 0.01 < shares["replication"]


def test_a_replication_with_a_failed_run_is_left_out_and_said():
    cells = grid_cells()
    outcomes = known_outcomes(cells)
    outcomes = outcomes[~((outcomes["cell"] == "p004") & (outcomes["replication"] == 3))]
    result = effects(outcomes, cells, ["cap", "regime"], ["y"])
    assert result.replications == R - 1 and result.dropped == ((3,), ())
    assert set(result.main["n"]) == {R - 1}
    assert "Left out: replications 3 (a run failed)" in effects_markdown(result)


def test_effects_markdown_and_chart_show_every_parameter_and_level():
    cells = grid_cells()
    result = effects(known_outcomes(cells), cells, ["cap", "regime"], ["y"])
    text = effects_markdown(result, {"y": False})
    assert "| regime | aggressive | 3 |" in text and "| cap x regime |" in text
    fig = main_effects_chart(result)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2
    assert [t.get_text() for t in axes[1].get_xticklabels()] == REGIMES
    assert "explains" in axes[1].get_title()
    points = axes[1].collections[-1].get_offsets()
    means = result.main[(result.main["parameter"] == "regime")]["mean"].to_numpy()
    np.testing.assert_allclose(points[:, 1], means)

"""Which swept parameter matters more: main effects, a variance decomposition and paired contrasts.

A sweep's cell means say what each design point gives; a researcher asking "does the penalty cap
or the collection regime matter more?" needs them summarised by parameter. From the outcomes of a
sweep (one row a run) this module computes, for every outcome:

- **Levels.** Every swept parameter is cut into levels: its values in a grid (in the order the spec
  lists them, so the status quo listed first is the level contrasts are with), and its listed
  values (categories) in any design; a numeric range sampled by a Latin hypercube, Sobol or
  sensitivity design is cut into equal-count bins (quartiles of the design points) so every level
  holds the same number of points.
- **Main effects** (:func:`main_effects`): the outcome's mean at each level of each parameter,
  averaged over the other parameters, with a 95% t-interval; and the **paired contrast** of each
  level with the parameter's first level. Replication r of every cell shares its seed (common
  random numbers), so the contrast is computed per replication - the mean of the level's cells in
  replication r minus the mean of the first level's cells in replication r - and its interval is
  the t-interval of those R differences, much narrower than comparing two separate intervals.
- **Variance decomposition** (:func:`variance_decomposition`): the share of the outcome's variance
  over all runs explained by each parameter alone (its main effect), by each pair of parameters
  beyond their main effects (grids only), by the replication (the shared seed: the part of the
  noise common to every cell), and the rest (higher-order interactions and the run noise not
  shared). It is the sums-of-squares decomposition of a factorial ANOVA with replications as
  blocks. For a full grid with every run present the parts are orthogonal and add up to the total.
  For sampled designs the share of a parameter is its correlation ratio (between-level variance
  over total variance, the binned analogue of a first-order Sobol index); the bins are not exactly
  orthogonal, so the rest is what is left over and pairs are not estimated (a pair of quartile bins
  holds about N/16 points, too few to separate an interaction from noise).

Why this and not a regression: levels treat categorical parameters (a regime, a rule) and
non-linear effects (a cap that matters only below some level) the same way as linear ones, and a
grid's decomposition is exact; a linear regression would need dummies for categories and would
miss non-linear effects, reporting them as noise.

Only complete replications are used (a replication with a failed run in some cell is left out, so
every level averages the same cells in every replication); :func:`effects` says how many.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

LEVEL_BINS = 4
LEVEL = 0.95


@dataclass(frozen=True)
class Effects:
    """The effect tables of one sweep.

    Attributes:
        main: One row per outcome, parameter and level: ``cells``, ``n`` (replications), ``mean``,
            ``ci_low``, ``ci_high``, and the paired contrast with the first level ``diff_mean``,
            ``diff_ci_low``, ``diff_ci_high`` (NaN on the first level itself).
        variance: One row per outcome and source (a parameter, ``a x b``, ``replication``,
            ``rest``): ``kind``, ``sum_sq`` and ``share`` of the total sum of squares.
        levels: Parameter -> the cell -> level label map used.
        replications: Complete replications used.
        dropped: Replications left out because a run of theirs failed, and cells with no run.
    """

    main: pd.DataFrame
    variance: pd.DataFrame
    levels: dict[str, pd.Series]
    replications: int
    dropped: tuple[tuple[int, ...], tuple[str, ...]]


def _label(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    if isinstance(value, (float, np.floating)):
        return f"{value:.6g}"
    return str(value)


MAX_GRID_LEVELS = 12


def is_grid(cells: pd.DataFrame, parameters: Sequence[str]) -> bool:
    """Whether the cells are a full factorial of a few values per parameter (a grid design).

    Read from the cells themselves, so that a results folder says it without its spec: every
    combination of the parameters' distinct values is one cell, and no parameter has more than
    :data:`MAX_GRID_LEVELS` values (a sampled range has as many values as points).
    """
    if not len(parameters) or cells.empty:
        return False
    counts = [cells[p].astype(str).nunique() for p in parameters]
    combos = cells[list(parameters)].astype(str).drop_duplicates()
    return max(counts) <= MAX_GRID_LEVELS and len(combos) == len(cells) == math.prod(counts)


def parameter_levels(cells: pd.DataFrame, parameters: Sequence[str], grid: bool, bins: int = LEVEL_BINS) -> dict:
    """Each parameter's level for every cell, as ordered categories.

    Args:
        cells: One row a cell: ``cell`` and a column per parameter (``Results.cells``).
        parameters: The swept keys.
        grid: Whether the design is a grid (every value is a level).
        bins: Equal-count bins of a sampled numeric range.

    Returns:
        Parameter -> a categorical Series indexed by cell, its categories in order.
    """
    out = {}
    for key in parameters:
        values = cells.set_index("cell")[key]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        distinct = list(dict.fromkeys(values.tolist()))
        if grid or not numeric or len(distinct) <= bins:
            # a grid's values as the spec lists them (status quo first gives contrasts with it); a
            # few sampled numbers in order of value; sampled categories as the design first meets them
            order = sorted(distinct, key=lambda v: (v is None, v)) if numeric and not grid else distinct
            labels = [_label(v) for v in order]
            series = values.map(dict(zip(order, labels), strict=True))
        else:
            # equal-count bins by rank: each level holds the same number of design points
            ranks = values.rank(method="first").to_numpy() - 1
            codes = np.minimum((ranks * bins // len(values)).astype(int), bins - 1)
            edges = [values[codes == b] for b in range(bins)]
            labels = [f"{_label(e.min())}-{_label(e.max())}" for e in edges]
            series = pd.Series([labels[c] for c in codes], index=values.index)
        out[key] = pd.Series(pd.Categorical(series, categories=labels, ordered=True), index=values.index)
    return out


def _t(values: np.ndarray) -> tuple[float, float, float]:
    x = values[np.isfinite(values)]
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + LEVEL / 2, x.size - 1)) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return mean, mean - half, mean + half


def effects(
    outcomes: pd.DataFrame,
    cells: pd.DataFrame,
    parameters: Sequence[str],
    keys: Sequence[str],
    *,
    grid: bool | None = None,
    bins: int = LEVEL_BINS,
) -> Effects:
    """Main effects with paired contrasts, and the variance decomposition, of every outcome.

    Args:
        outcomes: One row a successful run: ``cell``, ``replication`` and a column per outcome.
        cells: One row a cell in plan order: ``cell`` and the parameters.
        parameters: Swept keys.
        keys: Outcome columns.
        grid: Whether the design is a grid (default: :func:`is_grid` of the cells).
        bins: Levels of a sampled numeric range.
    """
    grid = is_grid(cells, parameters) if grid is None else grid
    levels = parameter_levels(cells, parameters, grid, bins)
    present = [c for c in cells["cell"] if c in set(outcomes["cell"])]
    frame = outcomes[outcomes["cell"].isin(present)]
    counts = frame.groupby("replication")["cell"].nunique()
    complete = sorted(int(r) for r in counts.index[counts == len(present)])
    dropped = (
        tuple(sorted(int(r) for r in set(frame["replication"]) - set(complete))),
        tuple(c for c in cells["cell"] if c not in present),
    )
    frame = frame[frame["replication"].isin(complete)]
    main_rows, variance_rows = [], []
    for key in keys:
        main_rows += _main_effects(frame, levels, key)
        variance_rows += _variance(frame, levels, key, pairs=grid)
    main = pd.DataFrame(
        main_rows,
        columns=[
            "outcome",
            "parameter",
            "level",
            "cells",
            "n",
            "mean",
            "ci_low",
            "ci_high",
            "diff_mean",
            "diff_ci_low",
            "diff_ci_high",
        ],
    )
    variance = pd.DataFrame(variance_rows, columns=["outcome", "source", "kind", "sum_sq", "share"])
    return Effects(main, variance, levels, len(complete), dropped)


def _main_effects(frame: pd.DataFrame, levels: dict, key: str) -> list[dict]:
    rows = []
    for parameter, level_of in levels.items():
        level = frame["cell"].map(level_of)
        # per replication, the mean over the level's cells: what the paired contrast compares
        by_rep = frame.assign(_level=level).pivot_table(
            index="replication", columns="_level", values=key, aggfunc="mean", observed=False
        )
        first = level_of.cat.categories[0]
        for name in level_of.cat.categories:
            series = by_rep[name] if name in by_rep else pd.Series(dtype=float)
            mean, low, high = _t(series.to_numpy(dtype=float))
            diff = (math.nan,) * 3
            if name != first and first in by_rep:
                diff = _t((series - by_rep[first]).to_numpy(dtype=float))
            rows.append(
                {
                    "outcome": key,
                    "parameter": parameter,
                    "level": name,
                    "cells": int((level_of == name).sum()),
                    "n": int(series.notna().sum()),
                    "mean": mean,
                    "ci_low": low,
                    "ci_high": high,
                    "diff_mean": diff[0],
                    "diff_ci_low": diff[1],
                    "diff_ci_high": diff[2],
                }
            )
    return rows


def _variance(frame: pd.DataFrame, levels: dict, key: str, pairs: bool) -> list[dict]:
    y = frame[key].to_numpy(dtype=float)
    if y.size < 2:
        return []
    grand = float(y.mean())
    total = float(((y - grand) ** 2).sum())

    def fitted(groups: list[pd.Series]) -> np.ndarray:
        return frame.groupby(groups, observed=True)[key].transform("mean").to_numpy(dtype=float)

    level = {p: frame["cell"].map(m).astype(str).rename(p) for p, m in levels.items()}
    marginal = {p: fitted([level[p]]) for p in levels}
    rows = []
    explained = 0.0
    for p in levels:
        ss = float(((marginal[p] - grand) ** 2).sum())
        rows.append((p, "main effect", ss))
        explained += ss
    if pairs:
        for a, b in itertools.combinations(levels, 2):
            both = fitted([level[a], level[b]])
            ss = float(((both - marginal[a] - marginal[b] + grand) ** 2).sum())
            rows.append((f"{a} x {b}", "interaction", ss))
            explained += ss
    ss_rep = float(((fitted([frame["replication"]]) - grand) ** 2).sum())
    rows.append(("replication", "shared seed", ss_rep))
    rows.append(("rest", "higher-order interactions and run noise", max(total - explained - ss_rep, 0.0)))
    return [
        {"outcome": key, "source": s, "kind": k, "sum_sq": ss, "share": ss / total if total > 0 else math.nan}
        for s, k, ss in rows
    ]


# --------------------------------------------------------------------------- figure


def main_effects_chart(result: Effects, *, is_rate: Mapping[str, bool] | None = None, max_cols: int = 4):
    """Each outcome's mean at each level of each parameter, with 95% intervals (a row per outcome).

    A panel's title gives the share of the outcome's variance the parameter explains alone; the
    dashed line is the outcome's mean over every run, so a flat row of points is a parameter that
    does not matter. The first level is drawn hollow: the paired contrasts are with it.
    """
    from .style import (
        PALETTE,
        REFERENCE_COLOUR,
        label,
        new_figure,
        styled,
        suptitle,
        value_formatter,
        wrapped,
    )

    @styled
    def draw():
        outcomes = list(dict.fromkeys(result.main["outcome"]))
        parameters = list(dict.fromkeys(result.main["parameter"]))
        cols = min(len(parameters), max_cols)
        panel_width = 3.1
        fig = new_figure(panel_width * cols + 0.9, 2.5 * len(outcomes) + 0.9)
        axes = fig.subplots(len(outcomes), cols, squeeze=False, sharey="row")
        for i, outcome in enumerate(outcomes):
            rate = bool((is_rate or {}).get(outcome, "rate" in outcome))
            rows = result.main[result.main["outcome"] == outcome]
            shares = result.variance[result.variance["outcome"] == outcome].set_index("source")["share"]
            for j, parameter in enumerate(parameters[:cols]):
                ax = axes[i, j]
                part = rows[rows["parameter"] == parameter]
                x = np.arange(len(part))
                mean, lo, hi = (part[c].to_numpy(dtype=float) for c in ("mean", "ci_low", "ci_high"))
                colour = PALETTE[j % len(PALETTE)]
                ax.errorbar(x, mean, yerr=np.vstack([mean - lo, hi - mean]), fmt="none", ecolor="#606060", capsize=2.5)
                ax.plot(x, mean, color=colour, lw=1.2, zorder=2)
                ax.scatter(x, mean, s=30, zorder=3, c=["white"] + [colour] * (len(x) - 1), edgecolors=colour)
                if len(part):
                    grand = float(np.average(mean, weights=part["cells"].to_numpy(dtype=float)))
                    ax.axhline(grand, color=REFERENCE_COLOUR, lw=0.8, ls="--", zorder=1)
                ticks = part["level"].tolist()
                ax.set_xticks(x, ticks, rotation=30 if sum(len(t) for t in ticks) > 24 else 0, ha="right")
                if sum(len(t) for t in ticks) <= 24:
                    for tick in ax.get_xticklabels():
                        tick.set_ha("center")
                ax.set_xlim(-0.5, len(part) - 0.5)
                ax.grid(axis="x", visible=False)
                ax.yaxis.set_major_formatter(value_formatter(rate))
                share = shares.get(parameter, math.nan)
                share_text = f"explains {100 * share:.0f}%" if np.isfinite(share) else ""
                ax.set_title(wrapped(f"{parameter}: {share_text}", panel_width - 0.3, 8.5), fontsize=8.5)
                if j == 0:
                    ax.set_ylabel(wrapped(label(outcome, rate), 2.2, 9))
        suptitle(
            fig,
            f"Main effects: mean at each level with 95% CI over {result.replications} replications, averaged "
            "over the other parameters (dashed: mean of every run; hollow: the level contrasts are with it)",
        )
        return fig

    return draw()


# --------------------------------------------------------------------------- text


def format_estimate(value: float, is_rate: bool, diff: bool = False) -> str:
    """A mean or a difference as summaries print it: rates in % (differences in pp), amounts to 4 digits."""
    if value is None or not np.isfinite(value):
        return "n/a"
    sign = "+" if diff else ""
    if is_rate:
        return f"{100 * value:{sign}.2f}" + (" pp" if diff else "%")
    if abs(value) >= 1000:
        return f"{value:{sign},.0f}"
    return f"{value:{sign}#.4g}"


def format_interval(low: float, high: float, is_rate: bool, diff: bool = False) -> str:
    """A 95% interval as ``[low, high]``, in the units of :func:`format_estimate`."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "n/a"
    return f"[{format_estimate(low, is_rate, diff)}, {format_estimate(high, is_rate, diff)}]"


def effects_markdown(result: Effects, is_rate: Mapping[str, bool] | None = None, heading: str = "###") -> str:
    """The decomposition and the main effects as Markdown, one section per outcome."""
    is_rate = is_rate or {}
    lines = [
        f"Complete replications used: {result.replications} (common random numbers: replication r of every "
        "cell shares its seed). Shares are of the variance of the outcome over every run; Δ is the paired "
        "difference to the parameter's first level (mean over replications of the per-replication "
        "difference of level means, 95% t-interval).",
        "",
    ]
    reps, cells = result.dropped
    if reps or cells:
        lines += [
            f"Left out: replications {', '.join(map(str, reps)) or 'none'} (a run failed), cells "
            f"{', '.join(cells) or 'none'} (no run); the parts are then approximate.",
            "",
        ]
    for outcome in dict.fromkeys(result.main["outcome"]):
        rate = bool(is_rate.get(outcome))
        lines += [f"{heading} {outcome}", "", "| source | share of variance |", "|---|---:|"]
        part = result.variance[result.variance["outcome"] == outcome]
        for r in part.to_dict("records"):
            what = r["source"] if r["kind"] != "shared seed" else "replication (shared seed)"
            if r["source"] == "rest":
                what = "rest (higher-order interactions, run noise)"
            share = "n/a" if not np.isfinite(r["share"]) else f"{100 * r['share']:.1f}%"
            lines.append(f"| {what} | {share} |")
        lines += ["", "| parameter | level | cells | mean | 95% CI | Δ vs first level | 95% CI of Δ |"]
        lines.append("|---|---|---:|---:|---:|---:|---:|")
        for r in result.main[result.main["outcome"] == outcome].to_dict("records"):
            first = not np.isfinite(r["diff_mean"])
            lines.append(
                f"| {r['parameter']} | {r['level']} | {r['cells']} | {format_estimate(r['mean'], rate)} | "
                f"{format_interval(r['ci_low'], r['ci_high'], rate)} | "
                + ("(first level) | |" if first else f"{format_estimate(r['diff_mean'], rate, True)} | ")
                + ("" if first else f"{format_interval(r['diff_ci_low'], r['diff_ci_high'], rate, True)} |")
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def sweep_effects(results) -> Effects:
    """The effects of a sweep's results folder (a path or :class:`analysis.tables.Results`), from its outcomes."""
    from .tables import AnalysisError, Results, load

    if not isinstance(results, Results):
        results = load(results)
    if results.kind != "sweep":
        raise AnalysisError(f"{results.path}: a {results.kind}, not a sweep; main effects are of swept parameters")
    keys = [s["key"] for s in results.outcome_specs]
    return effects(results.outcomes, results.cells, results.label_columns, keys)


def ranked_parameters(result: Effects, outcome: str | None = None) -> list[str]:
    """Parameters by the share of variance their main effect explains (of ``outcome``, or on average)."""
    part = result.variance[result.variance["kind"] == "main effect"]
    if outcome is not None:
        part = part[part["outcome"] == outcome]
    ranking = part.groupby("source", sort=False)["share"].mean().sort_values(ascending=False, kind="stable")
    return list(ranking.index)


__all__ = [
    "Effects",
    "LEVEL_BINS",
    "MAX_GRID_LEVELS",
    "effects",
    "effects_markdown",
    "is_grid",
    "main_effects_chart",
    "parameter_levels",
    "ranked_parameters",
    "sweep_effects",
]

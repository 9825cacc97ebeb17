"""Summaries of an experiment: per cell and outcome the mean with a 95% t-interval, and for
comparisons the paired difference to the reference policy under the same shock; for sweeps, which
parameter matters more (main effects, a variance decomposition, paired contrasts: see
:mod:`analysis.effects`) and, in a grid, the paired difference of every cell to the first.

Replications of different cells share seeds (common random numbers), so the right comparison is
paired: for each replication r, ``d_r = y(policy, shock, r) - y(reference, shock, r)``, and the
interval is the t-interval of the mean of the ``d_r`` (Student t with n - 1 degrees of freedom).
It is much narrower than the difference of two independent intervals whenever the noise of the
simulated economy is shared, which is the point of common random numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.effects import Effects, effects, effects_markdown, format_estimate, format_interval, is_grid

from .plan import Plan

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """Mean of ``n`` values with a t-interval; the interval is NaN when n < 2."""

    n: int
    mean: float
    low: float
    high: float


def t_interval(values: np.ndarray | list[float], level: float = LEVEL) -> Interval:
    """Mean and two-sided ``level`` t-interval of the mean of ``values``.

    Args:
        values: Independent observations (NaN is dropped).
        level: Coverage, 0.95 by default.

    Returns:
        The interval ``mean +- t_{(1+level)/2, n-1} * sd / sqrt(n)``.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    n = int(x.size)
    if n == 0:
        return Interval(0, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n < 2:
        return Interval(n, mean, math.nan, math.nan)
    half = float(stats.t.ppf(0.5 + level / 2.0, n - 1)) * float(x.std(ddof=1)) / math.sqrt(n)
    return Interval(n, mean, mean - half, mean + half)


def paired_difference(treatment: pd.Series, reference: pd.Series, level: float = LEVEL) -> Interval:
    """The mean of ``treatment - reference`` over shared replications, with its t-interval.

    Args:
        treatment: Outcome by replication (the index) for one cell.
        reference: Outcome by replication for the reference cell under the same shock.
        level: Coverage.

    Returns:
        The t-interval of the per-replication differences; replications missing (failed) in
        either cell are left out.
    """
    both = pd.concat({"t": treatment, "r": reference}, axis=1, join="inner").sort_index()
    return t_interval((both["t"] - both["r"]).to_numpy(), level)


def _cells(plan: Plan) -> pd.DataFrame:
    return pd.DataFrame([{"cell": c.id, **c.labels} for c in plan.cells])


def reference_cell(plan: Plan) -> str | None:
    """The cell a sweep's cells are compared with: a grid's first point (every parameter at its first
    value, so a spec that lists the status quo first compares with it); None for sampled designs,
    whose first point is a random draw."""
    if plan.kind != "sweep" or not is_grid(_cells(plan), plan.label_columns):
        return None
    return plan.cells[0].id


def summarise(plan: Plan, outcomes: pd.DataFrame) -> pd.DataFrame:
    """One row per cell and outcome, in plan order.

    Args:
        plan: The experiment.
        outcomes: One row per successful run: ``cell``, ``replication`` and a column per outcome.

    Returns:
        Columns ``cell``, the label columns, ``outcome``, ``n``, ``mean``, ``ci_low``, ``ci_high``
        and, for comparisons and grid sweeps, ``reference``, ``diff_n``, ``diff_mean``,
        ``diff_ci_low``, ``diff_ci_high``: the paired difference to the reference policy under the
        same shock, or to the grid's first cell (NaN for the reference itself).
    """
    by_cell = {cell_id: frame.set_index("replication") for cell_id, frame in outcomes.groupby("cell", sort=False)}
    empty = pd.DataFrame(columns=[o.key for o in plan.outcomes], dtype=np.float64)
    first = reference_cell(plan)
    rows = []
    for cell in plan.cells:
        frame = by_cell.get(cell.id, empty)
        for outcome in plan.outcomes:
            own = t_interval(frame[outcome.key].to_numpy())
            row = {
                "cell": cell.id,
                **cell.labels,
                "outcome": outcome.key,
                "n": own.n,
                "mean": own.mean,
                "ci_low": own.low,
                "ci_high": own.high,
            }
            if plan.kind == "comparison":
                row.update(_difference(plan, cell.labels, outcome.key, frame, by_cell, empty))
            elif first is not None:
                row.update(_cell_difference(first, cell.id, outcome.key, frame, by_cell, empty))
            rows.append(row)
    summary = pd.DataFrame(rows)
    for column in ("n", "diff_n"):
        if column in summary:
            summary[column] = summary[column].astype(np.int64)
    return summary


def _difference(plan, labels, key, frame, by_cell, empty) -> dict:
    out = {
        "reference": plan.reference,
        "diff_n": 0,
        "diff_mean": math.nan,
        "diff_ci_low": math.nan,
        "diff_ci_high": math.nan,
    }
    if labels["policy"] == plan.reference:
        return out
    reference = by_cell.get(f"{plan.reference}__{labels['shock']}", empty)
    diff = paired_difference(frame[key], reference[key])
    out.update(diff_n=diff.n, diff_mean=diff.mean, diff_ci_low=diff.low, diff_ci_high=diff.high)
    return out


def _cell_difference(reference: str, cell_id: str, key: str, frame, by_cell, empty) -> dict:
    out = {
        "reference": reference,
        "diff_n": 0,
        "diff_mean": math.nan,
        "diff_ci_low": math.nan,
        "diff_ci_high": math.nan,
    }
    if cell_id == reference:
        return out
    diff = paired_difference(frame[key], by_cell.get(reference, empty)[key])
    out.update(diff_n=diff.n, diff_mean=diff.mean, diff_ci_low=diff.low, diff_ci_high=diff.high)
    return out


def sweep_effects(plan: Plan, outcomes: pd.DataFrame) -> Effects:
    """Main effects, paired contrasts between levels and the variance decomposition of a sweep."""
    return effects(outcomes, _cells(plan), plan.label_columns, [o.key for o in plan.outcomes])


def sweep_files(plan: Plan, outcomes: pd.DataFrame) -> dict[str, str]:
    """``effects.csv`` (main effects and paired contrasts by level) and ``variance.csv`` of a sweep."""
    result = sweep_effects(plan, outcomes)
    return {
        "effects.csv": result.main.to_csv(index=False, lineterminator="\n"),
        "variance.csv": result.variance.to_csv(index=False, lineterminator="\n"),
    }


# --------------------------------------------------------------------------- markdown


def summary_markdown(plan: Plan, summary: pd.DataFrame, failed: int = 0, outcomes: pd.DataFrame | None = None) -> str:
    """The summary as Markdown: one table per outcome, rates as percentages.

    Args:
        plan: The experiment.
        summary: Output of :func:`summarise`.
        failed: Number of failed runs, mentioned when not zero.
        outcomes: The runs' outcomes; given for a sweep, the summary ends with which parameter
            matters more (:func:`sweep_effects`).
    """
    title = {"comparison": "Comparison", "sweep": "Sweep", "validation": "Validation"}[plan.kind]
    lines = [f"# {title}" + (f": {plan.description.strip()}" if plan.description.strip() else ""), ""]
    how = (
        f"{plan.replications} replications per cell with common random numbers (master seed "
        f"{plan.master_seed}); mean and 95% t-interval across replications."
    )
    reference = _reference(plan, summary)
    if plan.kind == "comparison":
        how += (
            f" Δ is the paired difference to `{plan.reference}` under the same shock (mean of the"
            f" per-replication differences, 95% t-interval); rates in percentage points (pp)."
        )
    elif reference is not None:
        how += (
            f" Δ is the paired difference to the grid's first point `{reference}` (mean of the"
            f" per-replication differences, 95% t-interval); rates in percentage points (pp)."
        )
    lines += [how, ""]
    if failed:
        lines += [
            f"**{failed} run{'s' if failed != 1 else ''} failed** and are left out (`n` below); see runs.parquet.",
            "",
        ]
    for outcome in plan.outcomes:
        lines += [
            f"## {outcome.key}",
            "",
            *_table(plan, summary[summary["outcome"] == outcome.key], outcome.is_rate, reference),
            "",
        ]
    if plan.kind == "sweep" and outcomes is not None and len(outcomes):
        lines += [
            "# Which parameter matters more",
            "",
            effects_markdown(sweep_effects(plan, outcomes), {o.key: o.is_rate for o in plan.outcomes}, "##"),
        ]
    return "\n".join(lines).rstrip() + "\n"


def _reference(plan: Plan, summary: pd.DataFrame) -> str | None:
    if plan.kind == "comparison":
        return plan.reference
    if "reference" in summary and summary["reference"].notna().any():
        return str(summary["reference"].dropna().iloc[0])
    return None


def _table(plan: Plan, rows: pd.DataFrame, is_rate: bool, reference: str | None = None) -> list[str]:
    labels = ["cell"] * (plan.kind == "sweep") + list(plan.label_columns)
    numbers = ["n", "mean", "95% CI"]
    if reference is not None:
        numbers += [f"Δ vs {reference}", "95% CI of Δ"]
    out = [
        "| " + " | ".join(labels + numbers) + " |",
        "|" + "|".join(["---"] * len(labels) + ["---:"] * len(numbers)) + "|",
    ]
    for record in rows.to_dict("records"):
        cells = [_label(record[c]) for c in labels]
        cells += [
            str(record["n"]),
            format_estimate(record["mean"], is_rate),
            format_interval(record["ci_low"], record["ci_high"], is_rate),
        ]
        if reference is not None:
            if record.get("policy", record["cell"]) == reference:
                cells += ["(reference)", ""]
            else:
                cells += [
                    format_estimate(record["diff_mean"], is_rate, diff=True),
                    format_interval(record["diff_ci_low"], record["diff_ci_high"], is_rate, diff=True),
                ]
        out.append("| " + " | ".join(cells) + " |")
    return out


def _label(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "null"  # as in the spec's YAML (e.g. no APR cap multiple)
    return f"{value:.6g}" if isinstance(value, float) else str(value)


__all__ = [
    "Interval",
    "paired_difference",
    "reference_cell",
    "summarise",
    "summary_markdown",
    "sweep_effects",
    "sweep_files",
    "t_interval",
]

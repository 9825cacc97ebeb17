"""Summaries of an experiment: per cell and outcome the mean with a 95% t-interval, and for
comparisons the paired difference to the reference policy under the same shock.

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


def summarise(plan: Plan, outcomes: pd.DataFrame) -> pd.DataFrame:
    """One row per cell and outcome, in plan order.

    Args:
        plan: The experiment.
        outcomes: One row per successful run: ``cell``, ``replication`` and a column per outcome.

    Returns:
        Columns ``cell``, the label columns, ``outcome``, ``n``, ``mean``, ``ci_low``, ``ci_high``
        and, for comparisons, ``reference``, ``diff_n``, ``diff_mean``, ``diff_ci_low``,
        ``diff_ci_high`` (NaN for the reference policy itself).
    """
    by_cell = {cell_id: frame.set_index("replication") for cell_id, frame in outcomes.groupby("cell", sort=False)}
    empty = pd.DataFrame(columns=[o.key for o in plan.outcomes], dtype=np.float64)
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


# --------------------------------------------------------------------------- markdown


def summary_markdown(plan: Plan, summary: pd.DataFrame, failed: int = 0) -> str:
    """The summary as Markdown: one table per outcome, rates as percentages.

    Args:
        plan: The experiment.
        summary: Output of :func:`summarise`.
        failed: Number of failed runs, mentioned when not zero.
    """
    title = {"comparison": "Comparison", "sweep": "Sweep", "validation": "Validation"}[plan.kind]
    lines = [f"# {title}" + (f": {plan.description.strip()}" if plan.description.strip() else ""), ""]
    how = (
        f"{plan.replications} replications per cell with common random numbers (master seed "
        f"{plan.master_seed}); mean and 95% t-interval across replications."
    )
    if plan.kind == "comparison":
        how += (
            f" Δ is the paired difference to `{plan.reference}` under the same shock (mean of the"
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
            *_table(plan, summary[summary["outcome"] == outcome.key], outcome.is_rate),
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def _table(plan: Plan, rows: pd.DataFrame, is_rate: bool) -> list[str]:
    labels = ["cell"] * (plan.kind == "sweep") + list(plan.label_columns)
    numbers = ["n", "mean", "95% CI"]
    if plan.kind == "comparison":
        numbers += [f"Δ vs {plan.reference}", "95% CI of Δ"]
    out = [
        "| " + " | ".join(labels + numbers) + " |",
        "|" + "|".join(["---"] * len(labels) + ["---:"] * len(numbers)) + "|",
    ]
    for record in rows.to_dict("records"):
        cells = [_label(record[c]) for c in labels]
        cells += [
            str(record["n"]),
            _value(record["mean"], is_rate),
            _range(record["ci_low"], record["ci_high"], is_rate),
        ]
        if plan.kind == "comparison":
            if record["policy"] == plan.reference:
                cells += ["(reference)", ""]
            else:
                cells += [
                    _value(record["diff_mean"], is_rate, diff=True),
                    _range(record["diff_ci_low"], record["diff_ci_high"], is_rate, diff=True),
                ]
        out.append("| " + " | ".join(cells) + " |")
    return out


def _label(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "null"  # as in the spec's YAML (e.g. no APR cap multiple)
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _value(value: float, is_rate: bool, diff: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    sign = "+" if diff else ""
    if is_rate:
        return f"{100 * value:{sign}.2f}" + (" pp" if diff else "%")
    if abs(value) >= 1000:
        return f"{value:{sign},.0f}"
    return f"{value:{sign}#.4g}"


def _range(low: float, high: float, is_rate: bool, diff: bool = False) -> str:
    if not (np.isfinite(low) and np.isfinite(high)):
        return "n/a"
    return f"[{_value(low, is_rate, diff)}, {_value(high, is_rate, diff)}]"


__all__ = ["Interval", "paired_difference", "summarise", "summary_markdown", "t_interval"]

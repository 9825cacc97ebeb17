"""Figures from results tables: each function takes tidy tables and returns a matplotlib Figure.

- :func:`fan_chart`: a monthly outcome per scenario, median and 5-95% band across replications,
  months of a declared shock shaded.
- :func:`forest_plot`: paired differences to the reference policy with their 95% intervals.
- :func:`roll_rate_heatmap` (:func:`transition_matrix`): monthly transitions between delinquency
  buckets (current, M1, M2, M3, M3+).
- :func:`vintage_curves`: cumulative default by months on book, per origination cohort.
- :func:`sweep_heatmap`: an outcome over two swept parameters.
- :func:`sensitivity_chart`: Sobol indices (S1, ST) or Morris mu*/sigma, with confidence intervals.

Save any of them with :func:`analysis.style.save_figure` (PNG and SVG, deterministic bytes).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from .style import (
    BETTER_COLOUR,
    NEUTRAL_COLOUR,
    PALETTE,
    REFERENCE_COLOUR,
    WORSE_COLOUR,
    compact,
    finish_grid,
    grid_shape,
    label,
    new_figure,
    save_figure,
    shade_spans,
    shock_phrase,
    styled,
    suptitle,
    unit,
    value_formatter,
    wrapped,
)
from .tables import column_is_rate

BUCKETS = ("Current", "M1", "M2", "M3", "M3+")
TRANSITION_ROWS = ("Current", "M1", "M2", "M3", "any overdue")
_ROLLS = ("roll_current_m1", "roll_m1_m2", "roll_m2_m3", "roll_m3_default")


def _post_burn_in(model: pd.DataFrame) -> pd.DataFrame:
    return model[~model["is_burn_in"].astype(bool)] if "is_burn_in" in model else model


def _ordered(values: pd.Series) -> list:
    """Distinct values in order of first appearance (plan order, since tables are in plan order)."""
    return list(dict.fromkeys(values.tolist()))


def _facets(model: pd.DataFrame, rows: str | None, cols: str | None) -> tuple[list, list]:
    row_values = _ordered(model[rows]) if rows else [None]
    col_values = _ordered(model[cols]) if cols else [None]
    return row_values, col_values


def _auto_panels(table: pd.DataFrame, max_panels: int) -> str | None:
    if "policy" in table and ("shock" not in table or table["shock"].nunique() == 1):
        return "policy"
    return "cell" if table["cell"].nunique() <= max_panels else None


def _shock_scope(table: pd.DataFrame) -> str:
    """`` under the shock 'x'`` when every row of a comparison table is under one shock, else empty."""
    if "shock" in table and table["shock"].nunique() == 1:
        return " " + shock_phrase(str(table["shock"].iloc[0]))
    return ""


def _by(panel_by: str | None) -> str:
    """``, by <parameter>`` when panels are the levels of a swept parameter (policies and cells say themselves)."""
    return f", by {panel_by}" if panel_by not in (None, "policy", "cell", "shock") else ""


def _default_facets(model: pd.DataFrame) -> tuple[str | None, str | None]:
    if "policy" in model and "shock" in model:
        return ("shock" if model["shock"].nunique() > 1 else None), "policy"
    if model["cell"].nunique() <= 12:
        return None, "cell"
    return None, None


# --------------------------------------------------------------------------- fan chart


@styled
def fan_chart(
    model: pd.DataFrame,
    column: str = "overdue_balance_rate",
    *,
    rows: str | None = "auto",
    cols: str | None = "auto",
    reference: str | None = None,
    band: tuple[float, float] = (0.05, 0.95),
    include_burn_in: bool = False,
    max_cols: int = 4,
) -> Figure:
    """A monthly outcome per scenario: median across replications and a band between two quantiles.

    Args:
        model: Tidy monthly table (``analysis.load(...).model``).
        column: The model column to draw.
        rows, cols: Label columns to lay panels out by (one panel per value); ``"auto"`` puts
            policies in columns and shocks in rows for comparisons, one panel per design point
            for small sweeps, and pools all runs into one panel otherwise. ``None``: no split.
        reference: A value of ``cols`` (e.g. the reference policy) whose median is drawn, dashed,
            in every panel of its row, for comparison.
        band: Lower and upper quantile across replications (default 5% and 95%).
        include_burn_in: Also draw the burn-in months (month <= 0).
        max_cols: Panels per row when there is no ``rows`` split.

    Returns:
        The figure; months in which most runs of a panel were in a declared shock are shaded.
    """
    if rows == "auto" or cols == "auto":
        auto_rows, auto_cols = _default_facets(model)
        rows = auto_rows if rows == "auto" else rows
        cols = auto_cols if cols == "auto" else cols
    data = model if include_burn_in else _post_burn_in(model)
    pooled = rows is None and cols is None
    single = data["run_id"].nunique() == 1
    row_values, col_values = _facets(data, rows, cols)
    panels = [(r, c) for r in row_values for c in col_values]
    if rows is None and len(col_values) > max_cols:
        n_rows, n_cols = grid_shape(len(panels), max_cols)
    else:
        n_rows, n_cols = len(row_values), len(col_values)
    panel_height = 2.4
    fig = new_figure(max(2.9 * n_cols + 0.6, 7.0), panel_height * n_rows + 0.9 + (0.6 if len(panels) == 1 else 0.0))
    axes = fig.subplots(n_rows, n_cols, sharex=True, sharey=True, squeeze=False).ravel()
    is_rate = column_is_rate(column)
    replications = data.groupby(["cell"])["run_id"].nunique()
    lo_q, hi_q = band

    def stats(frame: pd.DataFrame) -> pd.DataFrame:
        grouped = frame.groupby("month")[column]
        return pd.DataFrame({"lo": grouped.quantile(lo_q), "mid": grouped.median(), "hi": grouped.quantile(hi_q)})

    for i, (ax, (r, c)) in enumerate(zip(axes, panels)):
        mask = np.ones(len(data), dtype=bool)
        if rows:
            mask &= (data[rows] == r).to_numpy()
        if cols:
            mask &= (data[cols] == c).to_numpy()
        frame = data[mask]
        colour = PALETTE[(col_values.index(c) if cols else 0) % len(PALETTE)]
        if "in_declared_shock" in frame:
            share = frame.groupby("month")["in_declared_shock"].mean()
            shade_spans(ax, share.index[share >= 0.5], label="declared shock" if i == 0 else None)
        s = stats(frame)
        if single:
            ax.plot(s.index, s["mid"], color=colour, lw=1.6, label="the run" if i == 0 else None)
            ax.set_title(" / ".join(str(v) for v in (c, r) if v is not None) or "one run")
            ax.yaxis.set_major_formatter(value_formatter(is_rate))
            ax.set_ylabel(wrapped(label(column), panel_height, 9))
            continue
        ax.fill_between(
            s.index,
            s["lo"],
            s["hi"],
            color=colour,
            alpha=0.25,
            lw=0,
            label=f"{int(100 * lo_q)}-{int(100 * hi_q)}% of {'runs' if pooled else 'replications'}" if i == 0 else None,
        )
        ax.plot(s.index, s["mid"], color=colour, lw=1.6, label="median" if i == 0 else None)
        if reference is not None and cols and c != reference:
            ref = data[(data[cols] == reference) & ((data[rows] == r) if rows else True)]
            if not ref.empty:
                ax.plot(
                    *_xy(stats(ref)["mid"]),
                    color=REFERENCE_COLOUR,
                    lw=1.0,
                    ls="--",
                    label=f"median of {reference}"
                    if not any(t.get_label() == f"median of {reference}" for a in axes for t in a.lines)
                    else None,
                )
        n = frame["run_id"].nunique()
        title = " / ".join(_tick(v) for v in (c, r) if v is not None) or "all runs"
        ax.set_title(wrapped(f"{title} (n={n})", fig.get_figwidth() / n_cols - 0.3))
        ax.yaxis.set_major_formatter(value_formatter(is_rate))
        if i % n_cols == 0:
            ax.set_ylabel(wrapped(label(column), panel_height - 0.2, 9))
    finish_grid(axes, len(panels), n_cols, "Month after burn-in" if not include_burn_in else "Month (<= 0: burn-in)")
    r_text = f"{int(replications.max())} replications" if len(replications) else "no runs"
    scope = _shock_scope(data) if rows != "shock" and cols != "shock" else ""
    what = label(column, is_rate).rsplit(" (", 1)[0]
    band_text = f"median and {int(100 * lo_q)}-{int(100 * hi_q)}% band"
    names = {"policy": "policy", "shock": "shock", "cell": "design point"}
    by = names.get(cols or "", cols or "scenario")
    if rows and cols and rows != "shock":
        by = f"{by} (columns) and {names.get(rows, rows)} (rows)"
    if single:
        suptitle(fig, f"{what}, month by month (one run){scope}")
    elif pooled:
        suptitle(fig, f"{what}{scope}: {band_text} across all {data['run_id'].nunique()} runs")
    else:
        suptitle(fig, f"{what}, by {by}{scope}: {band_text} across replications ({r_text} per panel)")
    handles, labels = _legend_entries(axes)
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), frameon=False)
    return fig


def _xy(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    return series.index.to_numpy(), series.to_numpy()


def _legend_entries(axes) -> tuple[list, list]:
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    return handles, labels


# --------------------------------------------------------------------------- forest plot


@styled
def forest_plot(
    summary: pd.DataFrame,
    *,
    outcomes: Sequence[str] | None = None,
    is_rate: Mapping[str, bool] | None = None,
    better: Mapping[str, str | None] | None = None,
    max_cols: int = 3,
) -> Figure:
    """Paired differences to the reference policy with 95% intervals, one panel per outcome.

    Colour says whether a difference is good or bad, per outcome: lower defaults are better but
    lower credit supply is worse, so a sign alone cannot say it. The marker's shape keeps the sign
    (▶ above the reference, ◀ below), and a filled marker is a difference whose interval excludes 0.

    Args:
        summary: A comparison's ``summary.csv`` (``analysis.load(...).summary``).
        outcomes: Outcomes to show, in order (default: all).
        is_rate: Outcome -> whether it is a share (drawn in percentage points); default: guessed
            from the name.
        better: Outcome -> ``"lower"`` or ``"higher"``, the direction that is good (a results
            folder records it: ``Results.outcome_specs``); an outcome without one is drawn grey.
        max_cols: Panels per row.

    Returns:
        The figure.
    """
    if "diff_mean" not in summary or "policy" not in summary:
        raise ValueError("forest_plot needs a comparison summary (policies with diff_mean); this is a sweep")
    outcomes = list(outcomes) if outcomes is not None else _ordered(summary["outcome"])
    rows = summary[summary["diff_n"] > 0]
    reference = str(summary["reference"].dropna().iloc[0]) if summary["reference"].notna().any() else "reference"
    shocks = _ordered(rows["shock"]) if "shock" in rows else []
    many_shocks = len(shocks) > 1
    n_rows, n_cols = grid_shape(len(outcomes), max_cols)
    n_items = max(1, len(_ordered(rows["cell"])))
    panel_width = 3.6
    fig = new_figure(panel_width * n_cols + 0.8, (0.28 * n_items + 1.2) * n_rows + 1.0)
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    directions = dict(better or {})
    for ax, outcome in zip(axes, outcomes):
        part = rows[rows["outcome"] == outcome].iloc[::-1]  # first policy on top
        rate = is_rate.get(outcome, "rate" in outcome) if is_rate else "rate" in outcome
        names = [
            f"{p} / {s}" if many_shocks else str(p) for p, s in zip(part["policy"], part.get("shock", part["policy"]))
        ]
        y = np.arange(len(part))
        mean, lo, hi = (part[c].to_numpy(dtype=float) for c in ("diff_mean", "diff_ci_low", "diff_ci_high"))
        excludes_zero = (lo > 0) | (hi < 0)
        colours = [_judged_colour(m, directions.get(outcome)) for m in mean]
        ax.axvline(0.0, color=REFERENCE_COLOUR, lw=0.9)
        ax.errorbar(
            mean, y, xerr=np.vstack([mean - lo, hi - mean]), fmt="none", ecolor="#606060", elinewidth=1.2, capsize=2.5
        )
        for marker, where in ((">", mean > 0), ("<", mean < 0), ("o", mean == 0)):
            if where.any():
                ax.scatter(
                    mean[where],
                    y[where],
                    s=42,
                    marker=marker,
                    zorder=3,
                    c=[c if e else "white" for c, e in zip(np.array(colours)[where], excludes_zero[where])],
                    edgecolors=np.array(colours)[where],
                    linewidths=1.3,
                )
        ax.set_yticks(y, names)
        ax.set_ylim(-0.6, len(part) - 0.4)
        ax.grid(axis="y", visible=False)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))  # compact amounts ("-1.25M") need room
        ax.xaxis.set_major_formatter(value_formatter(rate, diff=True))
        ax.set_xlabel(f"Δ vs {reference} {unit(outcome, rate, diff=True)}".strip())
        direction = directions.get(outcome)
        title = label(outcome, rate).rsplit(" (", 1)[0] + (f"; {direction} is better" if direction else "")
        ax.set_title(wrapped(title, panel_width - 0.9))  # centred on the axes; the policy names are on the left
    finish_grid(axes, len(outcomes), n_cols)
    n = int(rows["diff_n"].max()) if len(rows) else 0
    where = "under the same shock" if many_shocks or not shocks else shock_phrase(shocks[0])
    suptitle(
        fig,
        f"Difference to {reference} {where}: mean of paired differences and 95% CI "
        f"({n} common-random-number replications)",
    )
    handles = [Patch(facecolor=BETTER_COLOUR), Patch(facecolor=WORSE_COLOUR)]
    texts = [f"better than {reference}", f"worse than {reference}"]
    if any(directions.get(o) is None for o in outcomes):
        handles.append(Patch(facecolor=NEUTRAL_COLOUR))
        texts.append("no better direction")
    handles += [
        Line2D([], [], marker=">", ls="none", color="#606060", markerfacecolor="#606060"),
        Line2D([], [], marker="<", ls="none", color="#606060", markerfacecolor="#606060"),
        Line2D([], [], marker="o", ls="none", color="#606060", markerfacecolor="white"),
    ]
    texts += [f"higher than {reference}", f"lower than {reference}", "open: 95% CI includes 0"]
    # an entry takes up to ~2 in (with a long reference name): as many a row as the figure holds
    per_row = max(1, int(fig.get_figwidth() // (1.2 + 0.075 * len(reference))))
    fig.legend(handles, texts, loc="outside lower center", ncols=min(len(texts), per_row), frameon=False)
    return fig


def _judged_colour(difference: float, better: str | None) -> str:
    """Colour of a difference: better or worse in the outcome's declared direction, or neutral."""
    if better not in ("lower", "higher") or difference == 0 or not np.isfinite(difference):
        return NEUTRAL_COLOUR
    return BETTER_COLOUR if (difference < 0) == (better == "lower") else WORSE_COLOUR


# --------------------------------------------------------------------------- roll rates


def transition_matrix(model: pd.DataFrame) -> pd.DataFrame:
    """Monthly transition probabilities between delinquency buckets, pooled over months and runs.

    The model reports, each month, the share of the loans in each bucket at the start of the month
    that rolled one bucket forward (``roll_*``), and the share of all overdue loans (M1 to M3+) that
    cured to current (``cure_rate``); it does not split the rest by bucket. Each rate is pooled by
    the loans at risk (the bucket counts of the month before, from ``live_loans`` and the bucket
    shares): total transitions over total loans at risk, not a mean of monthly rates. So:

    - rows Current, M1, M2, M3 hold the roll one bucket forward (above the diagonal) and, on the
      diagonal, everything else: the loan stays in its bucket, moves back, cures or leaves the
      book (repaid, charged off); each of these rows sums to 1;
    - row ``any overdue`` holds the cure rate of all overdue loans (to Current);
    - other entries are NaN: not possible in one month, or not measured.

    Args:
        model: Tidy monthly table; months after burn-in are used.

    Returns:
        A 5 x 5 frame: rows ``TRANSITION_ROWS`` (from), columns ``BUCKETS`` (to).
    """
    totals = np.zeros(6)  # rolled 0..3, cured; and below the loans at risk of each
    at_risk_totals = np.zeros(6)
    for _, run in model.sort_values(["run_id", "month"], kind="stable").groupby("run_id", sort=False):
        live = run["live_loans"].to_numpy(dtype=float)
        shares = [run[c].to_numpy(dtype=float) for c in ("m1_rate", "m2_rate", "m3_rate", "m3plus_rate")]
        counts = np.vstack([live * (1 - run["overdue_rate"].to_numpy(dtype=float)), *[live * s for s in shares]])
        at_risk = np.roll(counts, 1, axis=1)  # start-of-month counts = last month's end-of-month counts
        keep = ~run["is_burn_in"].astype(bool).to_numpy()
        keep[0] = False  # the first month has no month before it
        overdue = at_risk[1:].sum(axis=0)
        rates = np.vstack([*(run[c].to_numpy(dtype=float) for c in _ROLLS), run["cure_rate"].to_numpy(dtype=float)])
        risk = np.vstack([at_risk[:4], overdue])
        totals[:5] += (rates * risk)[:, keep].sum(axis=1)
        at_risk_totals[:5] += risk[:, keep].sum(axis=1)
    if not at_risk_totals[:5].any():
        raise ValueError("transition_matrix: no loans at risk in the months after burn-in")
    pooled = np.divide(totals[:5], at_risk_totals[:5], out=np.full(5, np.nan), where=at_risk_totals[:5] > 0)
    matrix = np.full((5, 5), np.nan)
    for j in range(4):
        matrix[j, j + 1] = pooled[j]
        matrix[j, j] = 1.0 - pooled[j]
    matrix[4, 0] = pooled[4]
    return pd.DataFrame(matrix, index=pd.Index(TRANSITION_ROWS, name="from"), columns=pd.Index(BUCKETS, name="to"))


@styled
def roll_rate_heatmap(
    model: pd.DataFrame, *, panel_by: str | None = "auto", max_panels: int = 8, max_cols: int = 4
) -> Figure:
    """Heatmaps of the monthly bucket transition matrix (:func:`transition_matrix`), one per scenario.

    Args:
        model: Tidy monthly table.
        panel_by: Label column with one panel per value (``"auto"``: ``policy`` for comparisons,
            ``cell`` for up to ``max_panels`` cells, else all runs pooled).
        max_panels: At most this many panels (the first ones in plan order).
        max_cols: Panels per row.
    """
    if panel_by == "auto":
        panel_by = _auto_panels(model, max_panels)
    values = _ordered(model[panel_by])[:max_panels] if panel_by else [None]
    n_rows, n_cols = grid_shape(len(values), max_cols)
    fig = new_figure(3.1 * n_cols + 0.9, 2.9 * n_rows + 1.1)
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    norm = PowerNorm(gamma=0.35, vmin=0.0, vmax=1.0)
    image = None
    for ax, value in zip(axes, values):
        part = model if value is None else model[model[panel_by] == value]
        matrix = transition_matrix(part)
        data = matrix.to_numpy()
        image = ax.imshow(np.ma.masked_invalid(data), cmap="viridis", norm=norm)
        ax.set_facecolor("#F2F2F2")
        for (i, j), v in np.ndenumerate(data):
            if np.isfinite(v):
                text = f"{100 * v:.1f}" if v >= 0.001 else f"{100 * v:.2f}"
                ax.text(
                    j,
                    i,
                    text + ("†" if i == j < 4 else ""),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if norm(v) < 0.6 else "black",
                )
        ax.set_xticks(range(5), BUCKETS)
        ax.set_yticks(range(5), TRANSITION_ROWS)
        ax.grid(False)
        ax.tick_params(length=0)
        ax.set_xlabel("to (next month)")
        ax.set_ylabel("from")
        ax.set_title(f"{value if value is not None else 'all runs'} (n={part['run_id'].nunique()})")
    finish_grid(axes, len(values), n_cols)
    bar = fig.colorbar(image, ax=axes[: len(values)].tolist(), shrink=0.6, label="monthly transition probability (%)")
    bar.set_ticks([0.0, 0.01, 0.05, 0.2, 0.5, 1.0])
    bar.ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    suptitle(
        fig,
        f"Monthly transitions between delinquency buckets{_shock_scope(model)}{_by(panel_by)} "
        "(%, pooled over months after burn-in and runs)",
    )
    note = (
        "Above the diagonal: roll one bucket forward. † the rest: stays, moves back, cures or leaves the book (not "
        "split by the model). Last row: cure rate of all overdue loans. Grey: not possible or not measured."
    )
    fig.supxlabel("\n".join(textwrap.wrap(note, max(40, int(fig.get_figwidth() * 14)))), fontsize=7.5, color="#404040")
    return fig


# --------------------------------------------------------------------------- vintages


def vintage_table(
    vintages: pd.DataFrame, cohort_months: int, first_vintage: int = 1, min_months: int = 6
) -> pd.DataFrame:
    """Cumulative default rate by origination cohort and months on book, pooled over vintages and runs.

    A cohort is ``cohort_months`` consecutive vintages. Its rate at m months on book is total
    defaults over total loans of its vintages, shown only up to the months on book that every
    vintage of the cohort (in every run) has reached, so each point averages the same loans;
    cohorts seen for fewer than ``min_months`` months on book are left out.
    """
    v = vintages[(vintages["vintage"] >= first_vintage) & (vintages["loans"] > 0)]
    v = v.assign(cohort=(v["vintage"] - first_vintage) // cohort_months)
    horizon = v.groupby(["cohort", "vintage", "run_id"])["months_on_book"].max().groupby("cohort").min()
    pooled = v.groupby(["cohort", "months_on_book"])[["cum_defaults", "loans"]].sum().reset_index()
    horizon = horizon[horizon >= min_months]  # a cohort seen for a month or two says nothing yet
    pooled = pooled[pooled["cohort"].isin(horizon.index) & (pooled["months_on_book"] <= pooled["cohort"].map(horizon))]
    pooled["cum_default_rate"] = pooled["cum_defaults"] / pooled["loans"]
    start = first_vintage + pooled["cohort"] * cohort_months
    last = v.groupby("cohort")["vintage"].max()
    pooled["label"] = [f"months {a}-{last[c]}" for a, c in zip(start, pooled["cohort"])]
    return pooled


@styled
def vintage_curves(
    vintages: pd.DataFrame,
    *,
    panel_by: str | None = "auto",
    cohort_months: int | None = None,
    first_vintage: int = 1,
    max_panels: int = 8,
    max_cols: int = 4,
) -> Figure:
    """Cumulative default rate by months on book, one line per origination cohort.

    Args:
        vintages: Tidy vintage table (``analysis.load(...).vintages``).
        panel_by: One panel per value of this label column (``"auto"``: ``policy`` or ``cell``).
        cohort_months: Vintages pooled into one line (default: so there are at most 7 lines).
        first_vintage: First origination month shown (1: loans made after burn-in).
        max_panels: At most this many panels.
        max_cols: Panels per row.
    """
    if panel_by == "auto":
        panel_by = _auto_panels(vintages, max_panels)
    values = _ordered(vintages[panel_by])[:max_panels] if panel_by else [None]
    span = int(vintages["vintage"].max()) - first_vintage + 1
    if cohort_months is None:
        cohort_months = next((c for c in (3, 6, 12, 24) if span / c <= 7), max(1, span // 7))
    n_rows, n_cols = grid_shape(len(values), max_cols)
    fig = new_figure(2.9 * n_cols + 1.9, 2.5 * n_rows + 0.8)
    axes = fig.subplots(n_rows, n_cols, sharex=True, sharey=True, squeeze=False).ravel()
    tables = {
        value: vintage_table(
            vintages if value is None else vintages[vintages[panel_by] == value], cohort_months, first_vintage
        )
        for value in values
    }
    cohorts = sorted({(c, lab) for t in tables.values() for c, lab in zip(t["cohort"], t["label"])})
    colours = _sequential(len(cohorts))
    for i, (ax, value) in enumerate(zip(axes, values)):
        table = tables[value]
        for k, (cohort, lab) in enumerate(cohorts):
            line = table[table["cohort"] == cohort]
            ax.plot(
                line["months_on_book"],
                line["cum_default_rate"],
                color=colours[k],
                lw=1.5,
                label=f"originated {lab}" if i == 0 else None,
            )
        n = (vintages if value is None else vintages[vintages[panel_by] == value])["run_id"].nunique()
        ax.set_title(f"{value if value is not None else 'all runs'} (n={n})")
        ax.yaxis.set_major_formatter(value_formatter(True))
        if i % n_cols == 0:
            ax.set_ylabel("Cumulative default rate (% of loans)")
    finish_grid(axes, len(values), n_cols, "Months on book")
    suptitle(
        fig,
        f"Vintage curves{_shock_scope(vintages)}{_by(panel_by)}: cumulative default (90+ days) by months on book, "
        "cohorts of "
        f"{cohort_months} origination months (month 1 = first after burn-in)",
    )
    handles, labels = _legend_entries(axes)
    fig.legend(handles, labels, loc="outside right center", frameon=False, title="cohort")
    return fig


def _sequential(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(x) for x in np.linspace(0.0, 0.9, max(n, 1))]


# --------------------------------------------------------------------------- sweeps


def _axis_values(series: pd.Series, bins: int) -> tuple[pd.Series, list]:
    """Group a swept parameter: its distinct values when few (or not numeric), else equal-width bins."""
    numeric = pd.api.types.is_numeric_dtype(series)
    distinct = _ordered(series)
    if not numeric or len(distinct) <= bins:
        order = sorted(distinct, key=lambda v: (v is None, v)) if numeric else distinct
        return series.map({v: i for i, v in enumerate(order)}), [_tick(v) for v in order]
    edges = np.linspace(series.min(), series.max(), bins + 1)
    codes = np.clip(np.searchsorted(edges, series.to_numpy(), side="right") - 1, 0, bins - 1)
    return pd.Series(codes, index=series.index), [f"{_tick(a)}-{_tick(b)}" for a, b in zip(edges[:-1], edges[1:])]


def _tick(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "null"
    return f"{value:.3g}" if isinstance(value, (float, np.floating)) else str(value)


@styled
def sweep_heatmap(
    outcomes: pd.DataFrame,
    x: str,
    y: str,
    outcome: str | Sequence[str],
    *,
    bins: int = 6,
    is_rate: Mapping[str, bool] | None = None,
    max_cols: int = 3,
) -> Figure:
    """Mean of an outcome over two swept parameters, one panel per outcome.

    A parameter with at most ``bins`` distinct values (a grid, or a list of values) keeps them;
    a sampled range (Latin hypercube, Sobol) is cut into ``bins`` equal-width bins, and a cell is
    the mean over the design points and replications that fall in it (``n`` printed).

    Args:
        outcomes: ``outcomes.parquet`` of a sweep (one row per run).
        x, y: Swept parameter columns (dotted keys).
        outcome: One outcome column or several (one panel each).
        bins: Bins of a sampled range.
        is_rate: Outcome -> whether it is a share; default guessed from the name.
        max_cols: Panels per row.
    """
    names = [outcome] if isinstance(outcome, str) else list(outcome)
    xi, x_ticks = _axis_values(outcomes[x], bins)
    yi, y_ticks = _axis_values(outcomes[y], bins)
    n_rows, n_cols = grid_shape(len(names), max_cols)
    panel_width, panel_height = max(3.8, 0.55 * len(x_ticks) + 2.6), max(2.8, 0.4 * len(y_ticks) + 1.8)
    fig = new_figure(panel_width * n_cols, panel_height * n_rows + 0.6)
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax, name in zip(axes, names):
        rate = is_rate.get(name, "rate" in name) if is_rate else "rate" in name
        frame = pd.DataFrame({"x": xi, "y": yi, "v": outcomes[name]})
        mean = frame.pivot_table(index="y", columns="x", values="v", aggfunc="mean")
        count = frame.pivot_table(index="y", columns="x", values="v", aggfunc="count")
        mean = mean.reindex(index=range(len(y_ticks)), columns=range(len(x_ticks)))
        count = count.reindex(index=range(len(y_ticks)), columns=range(len(x_ticks)))
        image = ax.imshow(
            np.ma.masked_invalid(mean.to_numpy(dtype=float)), cmap="magma_r", aspect="auto", origin="lower"
        )
        ax.set_facecolor("#F2F2F2")
        lo, hi = np.nanmin(mean.to_numpy(dtype=float)), np.nanmax(mean.to_numpy(dtype=float))
        for (i, j), v in np.ndenumerate(mean.to_numpy(dtype=float)):
            if np.isfinite(v):
                text = f"{100 * v:.1f}%" if rate else compact(v)
                dark = hi > lo and (v - lo) / (hi - lo) > 0.55
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if dark else "black")
        ax.set_xticks(
            range(len(x_ticks)),
            x_ticks,
            rotation=30 if len(x_ticks) > 4 else 0,
            ha="right" if len(x_ticks) > 4 else "center",
        )
        ax.set_yticks(range(len(y_ticks)), y_ticks)
        ax.grid(False)
        ax.set_xlabel(x)
        ax.set_ylabel(wrapped(y, panel_height - 1.0, 9))
        runs = int(np.nansum(count.to_numpy(dtype=float)))
        ax.set_title(wrapped(f"{label(name, rate).rsplit(' (', 1)[0]} (mean of {runs} runs)", panel_width - 1.0))
        bar = fig.colorbar(image, ax=ax, shrink=0.9, label=wrapped(label(name, rate), 0.9 * panel_height - 0.6, 9))
        bar.ax.yaxis.set_major_formatter(value_formatter(rate))
    finish_grid(axes, len(names), n_cols)
    suptitle(fig, f"Sweep: outcomes over {x} and {y} (mean over design points and replications per cell)")
    return fig


# --------------------------------------------------------------------------- sensitivity


@styled
def sensitivity_chart(indices: pd.DataFrame, *, is_rate: Mapping[str, bool] | None = None, max_cols: int = 3) -> Figure:
    """Bar chart of sensitivity indices with their confidence intervals, one panel per outcome.

    Sobol: first-order (S1) and total (ST) indices, shares of the outcome's variance. Morris:
    mu* (mean absolute elementary effect) and sigma (its standard deviation, a sign of
    interactions or non-linearity), both in outcome units per full range of the parameter.

    Args:
        indices: ``sensitivity.csv`` (:func:`analysis.sensitivity.analyse_results`).
        is_rate: Outcome -> whether it is a share (Morris effects in percentage points).
        max_cols: Panels per row.
    """
    method = str(indices["method"].iloc[0])
    first = indices[indices["order"] == 1] if "order" in indices else indices
    outcomes = _ordered(first["outcome"])
    params = _ordered(first["parameter"])
    n_rows, n_cols = grid_shape(len(outcomes), max_cols)
    fig = new_figure(3.9 * n_cols + 1.2, (0.42 * len(params) + 1.2) * n_rows + 0.8)
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharey=True).ravel()
    bars = (
        (("S1", "S1_conf", "first order S1"), ("ST", "ST_conf", "total ST"))
        if method == "sobol"
        else (("mu_star", "mu_star_conf", "mu* (mean |effect|)"), ("sigma", None, "sigma (sd of effects)"))
    )
    y = np.arange(len(params))[::-1]
    height = 0.38
    for ax, outcome in zip(axes, outcomes):
        part = first[first["outcome"] == outcome].set_index("parameter").reindex(params)
        rate = is_rate.get(outcome, "rate" in outcome) if is_rate else "rate" in outcome
        for k, (value, conf, text) in enumerate(bars):
            offset = (0.5 - k) * height
            err = part[conf].to_numpy(dtype=float) if conf else None
            ax.barh(
                y + offset,
                part[value].to_numpy(dtype=float),
                height=height,
                color=PALETTE[k],
                xerr=err,
                error_kw={"elinewidth": 1.0, "capsize": 2.0, "ecolor": "#404040"},
                label=text,
            )
        ax.axvline(0.0, color=REFERENCE_COLOUR, lw=0.8)
        ax.set_yticks(y, params)
        ax.grid(axis="y", visible=False)
        ax.set_title(wrapped(label(outcome, rate).rsplit(" (", 1)[0], 3.0))
        if method == "sobol":
            ax.set_xlabel("share of variance explained")
        else:
            ax.set_xlabel(f"effect over the parameter's range {unit(outcome, rate, diff=True) or '(outcome units)'}")
            ax.xaxis.set_major_formatter(
                FuncFormatter(lambda v, _: f"{100 * v:.1f}") if rate else value_formatter(False)
            )
    finish_grid(axes, len(outcomes), n_cols)
    what = (
        "Sobol indices with 95% bootstrap CIs: S1 = effect alone, ST = including interactions"
        if method == "sobol"
        else "Morris screening: mu* (importance) with 95% CI and sigma (interactions)"
    )
    reps = indices["replications"].iloc[0] if "replications" in indices else None
    suptitle(fig, what + (f"; outcomes averaged over {reps} replications per point" if reps else ""))
    handles, labels = _legend_entries(axes)
    fig.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False)
    return fig


__all__ = [
    "BUCKETS",
    "fan_chart",
    "forest_plot",
    "roll_rate_heatmap",
    "save_figure",
    "sensitivity_chart",
    "sweep_heatmap",
    "transition_matrix",
    "vintage_curves",
    "vintage_table",
]

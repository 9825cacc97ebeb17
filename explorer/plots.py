"""The explorer's figures and captions, drawn from the model's tables (matplotlib only, no Solara).

Kept apart from the page (:mod:`explorer.app`) so they are tested without the ``[explore]``
extra. What a student needs and a generic plot lacks:

- months on the x axis (month 1 = the first after burn-in), the last year of the burn-in shaded
  grey and shocks shaded red;
- a y axis that fits the series it shows (M3+ has its own panel: at ~2% it was a flat line on the
  0-12% axis of M1+);
- under each plot, the current month's value beside its peak (rates) or its total since month 1
  (flows: defaults, complaints, credit), which the exercise asks for;
- in A/B mode, market A dashed beside B and, below, their paired difference B - A month by month.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

# How many burn-in months the plots show: enough to see the market settle, few enough that the
# months of the run get the width.
BURN_IN_SHOWN = 12
BURN_IN_GREY = "0.85"


@dataclass(frozen=True)
class Series:
    """One line of a panel: a model column, its legend label, colour, line style and kind.

    ``kind`` says what the caption gives beside the current month: ``rate`` its peak, ``flow``
    its peak and its total since month 1, ``stock`` its lowest.
    """

    column: str
    label: str
    colour: str
    style: str = "-"
    kind: str = "rate"


@dataclass(frozen=True)
class Panel:
    """A monthly plot: title, unit (``share`` in per cent, ``count``, ``cny_m`` in millions) and its series."""

    title: str
    unit: str
    series: tuple[Series, ...]


PANELS = (
    Panel(
        "Overdue, M1+ (1+ days past due)",
        "share",
        (
            Series("overdue_rate", "M1+ by count", "tab:orange"),
            Series("overdue_balance_rate", "M1+ by balance", "tab:orange", "--"),
        ),
    ),
    Panel(
        "Seriously overdue, M3+ (90+ days)",
        "share",
        (
            Series("m3plus_rate", "M3+ by count", "tab:red"),
            Series("m3plus_balance_rate", "M3+ by balance", "tab:red", "--"),
        ),
    ),
    Panel(
        "New defaults (loans crossing 90 days)",
        "count",
        (Series("new_defaults", "new defaults", "tab:purple", kind="flow"),),
    ),
    Panel(
        "Credit supply: originated a month (CNY million)",
        "cny_m",
        (Series("origination_amount", "originated", "tab:blue", kind="flow"),),
    ),
    Panel("Complaints", "count", (Series("complaints", "complaints a month", "tab:brown", kind="flow"),)),
    Panel("Platforms active", "count", (Series("platforms_active", "active platforms", "tab:gray", kind="stock"),)),
)


def fmt(value: float, unit: str, diff: bool = False) -> str:
    """A value in the unit a student reads: ``2.1%`` (``+0.4 pp`` as a difference), ``4.9 m``, ``1,234``."""
    if unit == "share":
        return f"{100 * value:+.2f} pp" if diff else f"{100 * value:.1f}%"
    if unit == "cny_m":
        return f"{value / 1e6:+,.1f} m" if diff else f"{value / 1e6:,.1f} m"
    return f"{value:+,.0f}" if diff else f"{value:,.0f}"


def _after(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["month"] >= 1]


def series_summary(frame: pd.DataFrame, s: Series, unit: str) -> str:
    """``M3+ by balance 2.1% (peak 2.6% in month 14)``; flows add the total since month 1."""
    value = fmt(float(frame[s.column].iloc[-1]), unit)
    after = _after(frame)
    if after.empty:
        return f"{s.label} {value}"
    column = after[s.column]
    if s.kind == "stock":
        low = int(column.idxmin())
        return f"{s.label} {value} (lowest {fmt(float(column.min()), unit)} in month {int(after['month'][low])})"
    peak = int(column.idxmax())
    text = f"{s.label} {value} (peak {fmt(float(column.max()), unit)} in month {int(after['month'][peak])}"
    if s.kind == "flow":
        text += f"; {fmt(float(column.sum()), unit)} since month 1"
    return text + ")"


def ab_summary(b: pd.DataFrame, a: pd.DataFrame, s: Series, unit: str) -> str:
    """``M3+ by balance: B 2.1%, A 2.6%, B - A -0.50 pp``; flows compare their totals since month 1."""
    now_b, now_a = float(b[s.column].iloc[-1]), float(a[s.column].iloc[-1])
    text = f"{s.label}: B {fmt(now_b, unit)}, A {fmt(now_a, unit)}, B - A {fmt(now_b - now_a, unit, diff=True)}"
    if s.kind == "flow" and not _after(b).empty:
        total_b, total_a = float(_after(b)[s.column].sum()), float(_after(a)[s.column].sum())
        text += f" (since month 1: B - A {fmt(total_b - total_a, unit, diff=True)})"
    elif s.kind == "rate" and not _after(b).empty:
        peak_b, peak_a = float(_after(b)[s.column].max()), float(_after(a)[s.column].max())
        text += f" (peaks: B - A {fmt(peak_b - peak_a, unit, diff=True)})"
    return text


def caption(panel: Panel, frame: pd.DataFrame, twin: pd.DataFrame | None = None) -> str:
    """The text under a plot: ``Month 6: ...`` with each series' value and its peak or total."""
    month = int(frame["month"].iloc[-1])
    parts = [
        ab_summary(frame, twin, s, panel.unit) if twin is not None else series_summary(frame, s, panel.unit)
        for s in panel.series
    ]
    return f"Month {month}: " + " · ".join(parts)


def x_range(frame: pd.DataFrame) -> tuple[float, float]:
    """Months shown: the last year of burn-in, then the run so far (at least a year of it)."""
    first, last = int(frame["month"].min()), int(frame["month"].max())
    return max(first, 1 - BURN_IN_SHOWN) - 0.5, max(last, 12) + 0.5


def _shade(ax, frame: pd.DataFrame, shocks: Sequence, right: float, label: str | None = "burn-in") -> None:
    lo = max(int(frame["month"].min()), 1 - BURN_IN_SHOWN)
    if lo <= 0:
        ax.axvspan(lo - 0.5, 0.5, color=BURN_IN_GREY, label=label)
    for shock in shocks:
        ax.axvspan(shock.start - 0.5, min(shock.start + shock.duration - 0.5, right), color="tab:red", alpha=0.08)


def _fit(ax, values: np.ndarray, headroom: float = 1.35) -> None:
    """Fit the y axis to the values shown (from 0 for these non-negative series), headroom for the legend."""
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if finite.size else 0.0
    ax.set_ylim(0.0, headroom * top if top > 0 else 1.0)


def monthly_figure(panel: Panel, frame: pd.DataFrame, shocks: Sequence, twin: pd.DataFrame | None = None) -> Figure:
    """One panel of monthly outputs; in A/B mode with market A dashed and a B - A panel below.

    Args:
        panel: What to draw.
        frame: The model frame of the market (B in A/B mode).
        shocks: The scenario's shocks (shaded).
        twin: Market A's model frame, or None.
    """
    left, right = x_range(frame)
    shown = frame[(frame["month"] >= left) & (frame["month"] <= right)]
    scale = 1e-6 if panel.unit == "cny_m" else 1.0
    fig = Figure(figsize=(5.4, 3.9 if twin is not None else 2.9))
    # fixed margins: a layout engine doubles the drawing time, and the page redraws every month
    if twin is None:
        ax = fig.subplots()
        fig.subplots_adjust(left=0.12, right=0.98, top=0.9, bottom=0.16)
        diff_ax = None
    else:
        ax, diff_ax = fig.subplots(2, 1, sharex=True, height_ratios=[2.3, 1.0])
        fig.subplots_adjust(left=0.12, right=0.98, top=0.92, bottom=0.12, hspace=0.12)
    _shade(ax, frame, shocks, right)
    values = []
    for s in panel.series:
        y = shown[s.column].to_numpy(dtype=float) * scale
        ax.plot(
            shown["month"],
            y,
            label=("B: " if twin is not None else "") + s.label,
            color=s.colour,
            linestyle=s.style,
            linewidth=1.6,
        )
        values.append(y)
    if twin is not None:
        twin_shown = twin[(twin["month"] >= left) & (twin["month"] <= right)]
        for s in panel.series:
            y = twin_shown[s.column].to_numpy(dtype=float) * scale
            ax.plot(twin_shown["month"], y, label=f"A: {s.label}", color="0.35", linestyle=s.style, linewidth=1.0)
            values.append(y)
        _shade(diff_ax, frame, shocks, right, label=None)
        diff_ax.axhline(0.0, color="0.2", linewidth=0.8)
        for s in panel.series:
            d = (shown[s.column].to_numpy(dtype=float) - twin_shown[s.column].to_numpy(dtype=float)) * scale
            diff_ax.plot(shown["month"], d, color=s.colour, linestyle=s.style, linewidth=1.4)
        diff_ax.set_ylabel("B - A", fontsize=8)
        diff_ax.tick_params(labelsize=7)
        if panel.unit == "share":
            diff_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{100 * v:+.1f}"))
            diff_ax.set_ylabel("B - A (pp)", fontsize=8)
        diff_ax.yaxis.set_major_locator(MaxNLocator(nbins=3, symmetric=True))
    ax.set_xlim(left, right)
    ax.set_title(panel.title, fontsize=10, loc="left")
    bottom = diff_ax if diff_ax is not None else ax
    bottom.set_xlabel("month (grey: burn-in, red: shock)", fontsize=8)
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(labelsize=8)
    if panel.unit == "share":
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    _fit(ax, np.concatenate(values) if values else np.zeros(1))
    ax.legend(fontsize=7, loc="upper left", frameon=False, ncols=3 if twin is None else 2)
    return fig


# --------------------------------------------------------------------------- the borrower view


def borrower_figure(
    mine: pd.DataFrame, shocks: Sequence, platforms: int, twin: pd.DataFrame | None = None, who: int = 0
) -> Figure:
    """A borrower's months: income and savings, what they owe each platform, days past due, contacts.

    Args:
        mine: :meth:`explorer.borrowers.BorrowerHistory.of` in market B (or the only market).
        shocks: The scenario's shocks (shaded).
        platforms: Platforms in the market.
        twin: The same borrower in market A, or None.
        who: The borrower's number, for the title.
    """
    left, right = x_range(mine)
    mine = mine[(mine["month"] >= left) & (mine["month"] <= right)]
    if twin is not None:
        twin = twin[(twin["month"] >= left) & (twin["month"] <= right)]
    fig = Figure(figsize=(10.8, 7.2))
    fig.subplots_adjust(left=0.08, right=0.8, top=0.93, bottom=0.08, hspace=0.28)
    axes = fig.subplots(4, 1, sharex=True)
    month = mine["month"]
    thousand = FuncFormatter(lambda v, _: f"{v / 1e3:.3g}k" if abs(v) >= 1e3 else f"{v:,.0f}")
    for ax in axes:
        _shade(ax, mine, shocks, right, label=None)
        jobless = mine.loc[~mine["employed"], "month"]
        for m in jobless:
            ax.axvspan(m - 0.5, m + 0.5, color="tab:blue", alpha=0.10, lw=0)
        ax.tick_params(labelsize=8)
    income, owed, dpd, contacts = axes
    income.plot(month, mine["income"], color="tab:green", lw=1.6, label="income a month")
    income.plot(month, mine["savings"], color="tab:olive", lw=1.6, label="savings")
    income.yaxis.set_major_formatter(thousand)
    income.set_ylabel("CNY", fontsize=8)
    income.set_title(f"Borrower {who} (months without a job shaded blue)", fontsize=10, loc="left")

    colours = [f"C{k % 10}" for k in range(platforms)]
    used = [k for k in range(platforms) if mine[f"owed_P{k}"].any() or mine[f"dpd_P{k}"].any()]
    if used:
        owed.stackplot(
            month,
            *[mine[f"owed_P{k}"] for k in used],
            labels=[f"P{k}" for k in used],
            colors=[colours[k] for k in used],
            alpha=0.75,
            step="mid",  # a month's balance, not a slope between months
        )
        for k in used:
            dpd.step(month, mine[f"dpd_P{k}"], where="mid", color=colours[k], lw=1.5, label=f"P{k}")
    owed.set_ylabel("owed, CNY", fontsize=8)
    owed.yaxis.set_major_formatter(thousand)
    dpd.axhline(90, color="tab:red", lw=0.8, ls=":", label="90 days: default")
    dpd.set_ylabel("days past due", fontsize=8)
    dpd.set_ylim(0, max(120, float(mine["max_dpd"].max()) * 1.15))
    contacts.bar(month, mine["contacts"], color="tab:brown", width=0.8, label="B" if twin is not None else None)
    contacts.set_ylabel("collection\ncontacts", fontsize=8)
    contacts.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
    if twin is not None:
        income.plot(twin["month"], twin["savings"], color="0.3", lw=1.0, ls="--", label="savings in A")
        owed.plot(twin["month"], twin["owed"], color="0.3", lw=1.0, ls="--", label="owed in A (all platforms)")
        dpd.step(twin["month"], twin["max_dpd"], where="mid", color="0.3", lw=1.0, ls="--", label="A (worst loan)")
        contacts.plot(twin["month"], twin["contacts"], "o", ms=3, color="0.3", label="A")
    contacts.set_xlabel("month (grey: burn-in, red: shock)", fontsize=8)
    contacts.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_xlim(left, right)
    for ax, title in zip(axes, ("income and savings", "owed, by platform", "days past due, by platform", "contacts")):
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            ax.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        ax.text(1.01, 0.0, title, transform=ax.transAxes, fontsize=7, color="0.4", va="bottom")
    return fig


def borrower_caption(mine: pd.DataFrame, loans: pd.DataFrame, default_month: int | None, who: int) -> str:
    """The borrower's month in words: job, income, savings, each loan, contacts, and when they defaulted."""
    last = mine.iloc[-1]
    month = int(last["month"])
    job = "employed" if bool(last["employed"]) else "without a job"
    if loans.empty:
        debts = "no loans on the book"
    else:
        debts = f"{len(loans)} loan{'s' if len(loans) != 1 else ''}: " + "; ".join(
            f"{r.platform} owed {r.owed:,.0f} CNY, {int(r.dpd)} days past due" for r in loans.itertuples()
        )
    contacts_now, contacts_all = int(last["contacts"]), int(mine.loc[mine["month"] >= 1, "contacts"].sum())
    defaulted = (
        f"first defaulted (a loan reached 90 days past due) in month {default_month}"
        if default_month is not None
        else "has not defaulted"
    )
    return (
        f"Borrower {who}, month {month}: {job}; income {last['income']:,.0f} CNY, savings {last['savings']:,.0f} CNY; "
        f"{debts}; {contacts_now} collection contacts this month, {contacts_all} since month 1; {defaulted}."
    )


__all__ = [
    "PANELS",
    "Panel",
    "Series",
    "borrower_caption",
    "borrower_figure",
    "caption",
    "fmt",
    "monthly_figure",
    "x_range",
]

"""Shared look of the figures: palette, labels with units, number formats, and deterministic saving.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot, so no global figure
state and no GUI backend: rendering is Agg). :func:`save_figure` writes PNG and SVG whose bytes
depend only on the figure and the matplotlib version: no dates, a fixed SVG hash salt, and no
software string with a web address.
"""

from __future__ import annotations

import os
import re
import secrets
import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from .tables import column_is_rate

# Okabe-Ito: distinguishable with the common colour-vision deficiencies, and in greyscale print.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
SHOCK_COLOUR = "#B0B0B0"
REFERENCE_COLOUR = "#404040"
# Whether a difference is good or bad for borrowers and the market (an outcome's declared `better`):
# Okabe-Ito bluish green and vermillion, told apart with the common colour-vision deficiencies;
# grey where the outcome declares no direction.
BETTER_COLOUR, WORSE_COLOUR, NEUTRAL_COLOUR = "#009E73", "#D55E00", "#7F7F7F"

_RC = {
    "svg.hashsalt": "lendsim",  # SVG element ids from this salt, not a random one: same bytes every time
    "svg.fonttype": "path",
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#E6E6E6",
    "grid.linewidth": 0.6,
    "figure.dpi": 100,
}

# Model columns and outcomes, with units, for axis labels.
LABELS = {
    "overdue_balance_rate": "Overdue rate, M1+ by balance",
    "overdue_rate": "Overdue rate, M1+ by count",
    "m3plus_balance_rate": "90+ rate (M3+), by balance",
    "m3plus_rate": "90+ rate (M3+), by count",
    "default_rate": "Monthly default rate",
    "cum_default_rate": "Cumulative default rate",
    "unemployment_rate": "Unemployment rate",
    "approval_rate": "Approval rate",
    "cure_rate": "Cure rate",
    "recovery_rate": "Recovery rate",
    "credit_outstanding": "Credit outstanding",
    "origination_amount": "Credit supply: amount originated a month",
    "new_defaults": "New defaults a month (loans reaching 90+ days)",
    "overdue_amount": "Overdue amount outstanding",
    "complaints": "Complaints",
    "peak_overdue_balance_rate": "Peak overdue rate (M1+, balance)",
    "mean_overdue_balance_rate": "Mean overdue rate (M1+, balance)",
    "overdue_balance_rate_at": "Overdue rate (M1+, balance) at month",
    "peak_m3plus_balance_rate": "Peak 90+ rate (balance)",
    "losses": "Net credit losses",
    "credit_supply": "Credit supply (monthly originations)",
}
_AMOUNTS = (
    "credit_outstanding",
    "origination_amount",
    "overdue_amount",
    "losses",
    "credit_supply",
    "charge_offs",
    "recoveries",
    "collected_overdue",
    "writedowns",
    "fines",
    "platform_capital",
    "platform_profit",
)
_COUNTS = (
    "complaints",
    "new_defaults",
    "originations",
    "applications",
    "live_loans",
    "harassment_incidents",
    "collection_contacts",
    "revocations",
    "inspections",
    "breaching_platforms",
    "platforms_active",
    "platform_failures",
)


_WINDOW = re.compile(r"^(?P<name>.+?)(?:_from(?P<first>\d+))?(?:_to(?P<last>\d+))?$")


def window_text(first: int | str | None, last: int | str | None) -> str:
    """An outcome window in words: ``months 24-60``, ``from month 24``, ``to month 12`` (or empty)."""
    if first is not None and last is not None:
        return f"months {first}-{last}"
    if first is not None:
        return f"from month {first}"
    return f"to month {last}" if last is not None else ""


def label(name: str, is_rate: bool | None = None, diff: bool = False) -> str:
    """An axis label with units: ``Overdue rate, M1+ by balance (%)``; ``(pp)`` for differences.

    An outcome key with a window (``credit_supply_from24``) says the window in words:
    ``Credit supply (monthly originations), from month 24 (CNY)``.
    """
    match = _WINDOW.match(name)
    plain, window = match["name"], window_text(match["first"], match["last"])
    base = plain
    for key in sorted(LABELS, key=len, reverse=True):
        if plain == key or plain.startswith(key + "_m"):
            base = LABELS[key] + (f" {plain.rsplit('_m', 1)[1]}" if plain != key else "")
            break
    else:
        base = plain.replace("_", " ").capitalize()
    if window:
        base += f", {window}"
    name = plain
    rate = column_is_rate(name) or "rate" in name if is_rate is None else is_rate
    if rate:
        return f"{base} ({'pp' if diff else '%'})"
    if any(name == a or name.endswith("_" + a) for a in _AMOUNTS):
        return f"{base} (CNY)"
    if any(name == c or name.endswith("_" + c) for c in _COUNTS):
        return f"{base} (count)"
    return base


def value_formatter(is_rate: bool, diff: bool = False) -> FuncFormatter | PercentFormatter:
    """Tick labels: percentages (or percentage points) for rates, compact CNY amounts otherwise."""
    if is_rate:
        return (
            FuncFormatter(lambda v, _: f"{100 * v:+.1f}" if diff and v else f"{100 * v:.1f}")
            if diff
            else PercentFormatter(xmax=1.0, decimals=1)
        )
    return FuncFormatter(lambda v, _: compact(v, signed=diff))


def compact(value: float, signed: bool = False) -> str:
    """1,234,567 -> ``1.23M``; 12,345 -> ``12.3k``; small numbers as they are."""
    sign = "+" if signed and value > 0 else ""
    size = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= limit:
            return f"{sign}{value / limit:.3g}{suffix}"
    return f"{sign}{value:.3g}"


def new_figure(width: float, height: float) -> Figure:
    """A figure in the house style (not registered with pyplot)."""
    with matplotlib.rc_context(_RC):
        return Figure(figsize=(width, height), layout="constrained")


def styled(function):
    """Run a figure function under the house rcParams (tick sizes, grids are read at axes creation)."""

    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(_RC):
            return function(*args, **kwargs)

    wrapper.__name__ = function.__name__
    wrapper.__doc__ = function.__doc__
    wrapper.__wrapped__ = function
    return wrapper


def grid_shape(n: int, max_cols: int = 4) -> tuple[int, int]:
    """Rows and columns for ``n`` small panels, rows as evenly filled as possible (5 -> 2 x 3)."""
    n = max(n, 1)
    rows = -(-n // max_cols)
    return rows, -(-n // rows)


def unit(name: str, is_rate: bool | None = None, diff: bool = False) -> str:
    """The unit part of :func:`label`: ``(%)``, ``(pp)``, ``(CNY)``, ``(count)`` or empty."""
    text = label(name, is_rate, diff)
    return text[text.rindex(" (") :].strip() if text.endswith(")") and " (" in text else ""


def finish_grid(axes, used: int, n_cols: int, xlabel: str | None = None) -> None:
    """Hide unused panels; give every panel with no panel below it x tick labels (and ``xlabel``)."""
    for i, ax in enumerate(axes):
        if i >= used:
            ax.set_visible(False)
        elif i + n_cols >= used:
            ax.xaxis.set_tick_params(labelbottom=True)
            if xlabel:
                ax.set_xlabel(xlabel)


def shade_spans(ax, months: Sequence[int], label: str | None = "declared shock") -> None:
    """Shade contiguous runs of ``months`` (each month drawn from m - 0.5 to m + 0.5)."""
    months = sorted(set(int(m) for m in months))
    spans, start, last = [], None, None
    for m in months:
        if start is None:
            start = last = m
        elif m == last + 1:
            last = m
        else:
            spans.append((start, last))
            start = last = m
    if start is not None:
        spans.append((start, last))
    for i, (a, b) in enumerate(spans):
        ax.axvspan(a - 0.5, b + 0.5, color=SHOCK_COLOUR, alpha=0.25, lw=0, zorder=0, label=label if i == 0 else None)


def suptitle(fig: Figure, text: str) -> None:
    """A figure title, wrapped to the figure's width so that it is never cut off."""
    chars = max(40, int(fig.get_figwidth() * 11))  # ~0.09 in a character at 10.5 pt
    fig.suptitle("\n".join(textwrap.wrap(text, chars)), fontsize=10.5)


def wrapped(text: str, width_in: float, fontsize: float = 9.5) -> str:
    """``text`` broken into lines that fit ``width_in`` inches at ``fontsize`` points.

    A panel title longer than its panel runs into the next panel or off the figure (the
    forest plot's "Credit supply (monthly originations)" did); wrapping keeps it whole. A
    character of DejaVu Sans is about 0.6 em wide on average.
    """
    chars = max(12, int(width_in * 72 / (0.6 * fontsize)))
    return "\n".join(textwrap.wrap(text, chars, break_on_hyphens=False)) or text


def shock_phrase(shock: str | None) -> str:
    """How a title names the shock a figure shows: ``under the shock 'recession'`` or ``with no shock``."""
    if shock is None:
        return ""
    return "with no shock" if shock == "none" else f"under the shock '{shock}'"


def save_figure(fig: Figure, stem: str | Path, formats: Sequence[str] = ("png", "svg"), dpi: int = 150) -> list[Path]:
    """Write ``fig`` as ``<stem>.png`` and ``<stem>.svg``, each atomically (temp file, then rename).

    Args:
        fig: The figure.
        stem: Path without suffix; its folder is created if needed.
        formats: File types to write.
        dpi: Resolution of the PNG.

    Returns:
        The files written.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
        metadata = {"Software": None} if fmt == "png" else {"Date": None, "Creator": "lendsim"}
        try:
            with matplotlib.rc_context(_RC):
                fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        written.append(path)
    return written


__all__ = [
    "BETTER_COLOUR",
    "LABELS",
    "NEUTRAL_COLOUR",
    "PALETTE",
    "WORSE_COLOUR",
    "compact",
    "finish_grid",
    "grid_shape",
    "unit",
    "label",
    "new_figure",
    "save_figure",
    "shade_spans",
    "styled",
    "suptitle",
    "shock_phrase",
    "value_formatter",
    "window_text",
    "wrapped",
]

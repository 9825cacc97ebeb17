"""The explorer's page: Mesa's SolaraViz with the lendsim levers, monthly plots and platform states.

Served by ``python run.py explore`` (see :mod:`explorer.serve`); needs the ``[explore]`` extra.

Each browser session renders :func:`Page` afresh, and :func:`Page` builds its own
:class:`~explorer.market.ExplorerMarket` (``solara.use_memo``), which SolaraViz keeps in a
per-session reactive; Reset replaces it with a new model built from that session's controls.
Nothing here is module-level mutable state: Mesa's ``update_counter`` is a ``solara.reactive``,
whose value Solara keeps per session.

The plots are small Solara components drawn with matplotlib, as Mesa's ``make_plot_component``
draws them, but with what a student needs and Mesa's generic plot lacks: months on the x axis
(month 1 = first month after burn-in), the burn-in and shock months shaded, rates in per cent,
and the latest values written under each plot.
"""

from __future__ import annotations

import html
import os

import solara
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter
from mesa.visualization import SolaraViz
from mesa.visualization.utils import update_counter

from sim.economy import shock_intensity

from .market import SCENARIO_ENV, ExplorerMarket, model_params

# (title, unit, [(column, legend label, colour, line style)]); unit "share" is drawn in per cent,
# "cny_m" in millions of CNY.
PLOTS = (
    (
        "Overdue rates",
        "share",
        [
            ("overdue_rate", "M1+ by count", "tab:orange", "-"),
            ("m3plus_rate", "M3+ by count", "tab:red", "-"),
            ("overdue_balance_rate", "M1+ by balance", "tab:orange", "--"),
            ("m3plus_balance_rate", "M3+ by balance", "tab:red", "--"),
        ],
    ),
    ("New defaults (loans crossing 90 days)", "count", [("new_defaults", "new defaults", "tab:purple", "-")]),
    (
        "Credit supply (CNY million)",
        "cny_m",
        [
            ("origination_amount", "originated this month", "tab:blue", "-"),
            ("credit_outstanding", "outstanding", "tab:green", "-"),
        ],
    ),
    ("Complaints", "count", [("complaints", "complaints a month", "tab:brown", "-")]),
    ("Platforms active", "count", [("platforms_active", "active platforms", "tab:gray", "-")]),
)


def _fmt(value: float, unit: str) -> str:
    if unit == "share":
        return f"{100 * value:.1f}%"
    if unit == "cny_m":
        return f"{value / 1e6:,.1f} m"
    return f"{value:,.0f}"


@solara.component
def MonthlyPlot(model: ExplorerMarket, title: str, unit: str, series: list) -> None:
    """One panel of monthly outputs against the month, burn-in and shocks shaded."""
    update_counter.get()  # re-render after every step, as Mesa's own plot components do
    df = model.model_frame()
    month = df["month"]
    fig = Figure(figsize=(5.4, 2.9))
    fig.subplots_adjust(left=0.11, right=0.98, top=0.9, bottom=0.16)  # fixed: a layout engine doubles the drawing time
    ax = fig.subplots()
    lo, hi = int(month.min()), max(int(month.max()), 12)
    if lo <= 0:
        ax.axvspan(lo - 0.5, 0.5, color="0.85", label="burn-in")
    for shock in model.config.economy.shocks:
        ax.axvspan(shock.start - 0.5, min(shock.start + shock.duration, hi + 1) - 0.5, color="tab:red", alpha=0.08)
    scale = 1e-6 if unit == "cny_m" else 1.0
    for column, label, colour, style in series:
        ax.plot(month, df[column] * scale, label=label, color=colour, linestyle=style, linewidth=1.6)
    ax.set_xlim(lo - 0.5, hi + 0.5)
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_xlabel("month (shaded red: shock)", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if unit == "share":
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    top = max(float((df[[c for c, *_ in series]] * scale).to_numpy().max()), 1e-9)
    ax.set_ylim(0, 1.45 * top)  # headroom for the legend
    ax.legend(fontsize=7, loc="upper left", frameon=False, ncols=3)
    solara.FigureMatplotlib(fig, format="png", dependencies=[id(model), model.steps], dpi=100)
    last = df.iloc[-1]
    latest = " · ".join(f"{label} {_fmt(last[column], unit)}" for column, label, _, _ in series)
    solara.Text(f"Month {int(last['month'])}: {latest}", style={"font-size": "12px"})


def make_monthly_plot(title: str, unit: str, series: list):
    """A SolaraViz component (a function of the model) for one monthly panel."""

    def monthly_plot(model):
        return MonthlyPlot(model, title, unit, series)

    monthly_plot.__name__ = f"plot_{series[0][0]}"
    return monthly_plot


PLATFORM_COLUMNS = (
    "platform",
    "status",
    "capital (CNY m)",
    "capital / book",
    "reputation",
    "cut-off",
    "book (CNY m)",
    "live loans",
    "overdue rate",
    "complaints",
)


@solara.component
def MarketPanel(model: ExplorerMarket) -> None:
    """Where the run is, the levers in force, the scenario's own schedule, and every platform's state."""
    update_counter.get()
    cfg = model.config
    shocked = any(shock_intensity(s, model.month) > 0 for s in cfg.economy.shocks)
    # HTML, not solara.Markdown: Markdown pulls KaTeX from the CDN, which solara-assets does not carry
    solara.HTML(
        tag="div",
        unsafe_innerHTML=(
            f"<b>Month {model.month} of {cfg.months}</b> (scenario <i>{html.escape(cfg.name)}</i>, "
            f"seed {model.levers.seed}). "
            f"Mesa's Time also counts the {cfg.burn_in} burn-in months, which ran at Reset. "
            f"Unemployment {100 * model.metrics['unemployment_rate']:.1f}%; "
            f"{'a shock is in force' if shocked else 'no shock this month'}."
        ),
        style="font-size: 14px;",
    )
    solara.Text("In force: " + in_force(cfg), style={"font-size": "12px"})
    changes = model.scheduled_changes()
    if changes:
        solara.Text("The scenario file also schedules: " + "; ".join(changes), style={"font-size": "12px"})
    rows = []
    for p in model.platforms:
        cells = (
            p.name,
            p.status,
            f"{p.capital / 1e6:,.2f}",
            f"{p.capital / max(p.book, 1.0):.2f}",
            f"{p.reputation:.2f}",
            f"{p.cutoff:+.2f}",
            f"{p.book / 1e6:,.2f}",
            f"{p.live_loans:,}",
            f"{100 * p.overdue_rate:.1f}%",
            f"{p.flows.complaints:,.0f}",
        )
        style = "" if p.is_active else ' style="color:#b00020"'
        rows.append(f"<tr{style}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{html.escape(c)}</th>" for c in PLATFORM_COLUMNS)
    solara.HTML(
        tag="table",
        unsafe_innerHTML=f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>",
        style="font-size: 12px; border-collapse: collapse; text-align: right; width: 100%;",
        classes=["lendsim-platforms"],
    )


def in_force(cfg) -> str:
    """The lever settings as the model's config holds them (so the page shows what was applied)."""
    policy, rules = cfg.platforms.policy, cfg.regulator
    shock = cfg.economy.shocks[0] if cfg.economy.shocks else None
    shock_text = (
        f"shock +{100 * shock.unemployment_delta:g} pp unemployment from month {shock.start} "
        f"for {shock.duration} months"
        if shock
        else "no shock"
    )
    return (
        f"penalty rule {policy.penalty.rule}, cap {100 * rules.penalty_cap_annual:g}% a year; "
        f"collection {policy.collection.regime}; bureau mandate {100 * rules.bureau_mandate_share:g}% of platforms; "
        f"scoring noise {policy.underwriting.scoring_noise_sd:g}; "
        f"forbearance {'on' if rules.forbearance.enabled else 'off'}; {shock_text}; "
        f"{cfg.borrowers.count:,} borrowers."
    )


COMPONENTS = [make_monthly_plot(*plot) for plot in PLOTS] + [MarketPanel]


def scenario_from_env() -> str | None:
    """The scenario file the server was started with (None: the baseline)."""
    return os.environ.get(SCENARIO_ENV) or None


# Vuetify shows a slider's value only while it is dragged; students need to read it at all times.
SLIDER_VALUES_CSS = """
.v-slider__thumb-label-container { display: block !important; }
.v-slider__thumb-label { display: flex !important; width: auto !important; min-width: 28px; height: 18px !important;
  padding: 0 4px; border-radius: 4px !important; transform: translateY(-26px) translateX(-50%) !important; }
.v-slider__thumb-label > * { transform: none !important; }
.v-slider--horizontal { margin-top: 22px; }
.lendsim-platforms td, .lendsim-platforms th { padding: 1px 5px; }
"""


@solara.component
def Page() -> None:
    """The explorer for one browser session: its own model, built from the seeded controls."""
    params = solara.use_memo(lambda: model_params(scenario_from_env()), [])
    model = solara.use_memo(
        lambda: ExplorerMarket(**{k: v["value"] if isinstance(v, dict) else v for k, v in params.items()}), []
    )
    solara.Style(SLIDER_VALUES_CSS)
    SolaraViz(
        model,
        components=COMPONENTS,
        model_params=params,
        play_interval=200,
        name=f"lendsim explorer: {model.config.name}",
    )

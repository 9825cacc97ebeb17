"""The explorer's page: Mesa's SolaraViz for the levers and controls, and lendsim's own views.

Served by ``python run.py explore`` (see :mod:`explorer.serve`); needs the ``[explore]`` extra.

Each browser session renders :func:`Page` afresh and builds its own
:class:`~explorer.market.ExplorerMarket` (``solara.use_memo``) in a per-session reactive that
SolaraViz's Reset replaces. SolaraViz draws the sidebar (Reset, Play, Step, the levers); the main
area is lendsim's own, rather than SolaraViz's component grid, so that it can hold what a student
needs: a header naming the scenario actually loaded with a "run to month N" control, a *Market*
tab of monthly plots and the platforms, and a *Borrower* tab following one borrower month by
month. Nothing here is module-level mutable state: Mesa's ``update_counter`` is a
``solara.reactive``, whose value Solara keeps per session.

The figures and captions are drawn by :mod:`explorer.plots`, which needs no Solara.
"""

from __future__ import annotations

import html
import os

import solara
import solara.lab
from mesa.visualization import SolaraViz
from mesa.visualization.utils import force_update, update_counter

from sim.economy import shock_intensity

from .borrowers import pick_defaulted
from .market import SCENARIO_ENV, ExplorerMarket, model_params, shown_path
from .plots import PANELS, Panel, borrower_caption, borrower_figure, caption, monthly_figure


@solara.component
def MonthlyPlot(model: ExplorerMarket, panel: Panel) -> None:
    """One panel of monthly outputs against the month (with market A and B - A in A/B mode)."""
    update_counter.get()  # re-render after every step, as Mesa's own plot components do
    frame = model.model_frame()
    twin = model.twin.model_frame() if model.twin is not None else None
    fig = monthly_figure(panel, frame, model.config.economy.shocks, twin)
    solara.FigureMatplotlib(fig, format="png", dependencies=[id(model), model.steps], dpi=100)
    solara.Text(caption(panel, frame, twin), style={"font-size": "12px"}, classes=["lendsim-caption"])


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
def Header(model: ExplorerMarket) -> None:
    """Where the run is, the scenario loaded, "run to month N", the levers, the policy in force, the file's schedule."""
    update_counter.get()
    cfg = model.config
    target, set_target = solara.use_state(12)
    shocked = any(shock_intensity(s, model.month) > 0 for s in cfg.economy.shocks)
    where = f" ({html.escape(shown_path(model.scenario_file))})" if model.scenario_file else ""
    ab = (
        " <b>A/B mode</b>: B is your market (solid lines), A the file's policy with the same seed, borrowers "
        "and shock (grey dashed); the small panels draw B - A."
        if model.twin is not None
        else ""
    )
    # HTML, not solara.Markdown: Markdown pulls KaTeX from the CDN, which solara-assets does not carry
    solara.HTML(
        tag="div",
        unsafe_innerHTML=(
            f"<b>Month {model.month} of {cfg.months}</b> (scenario <i>{html.escape(model.label)}</i>{where}, "
            f"seed {model.levers.seed}). Mesa's Time also counts the {cfg.burn_in} burn-in months, which ran at "
            f"Reset. Unemployment {100 * model.metrics['unemployment_rate']:.1f}%; "
            f"{'a shock is in force' if shocked else 'no shock this month'}.{ab}"
        ),
        style="font-size: 14px;",
    )

    def run_to() -> None:
        if model.run_to(target):
            force_update()  # every view re-renders once, at the month asked for

    with solara.Row(style={"align-items": "center"}):
        solara.InputInt(
            "Run to month",
            value=target,
            on_value=lambda v: set_target(max(1, min(int(v or 1), cfg.months))),
            dense=True,
            style={"max-width": "9em"},
        )
        solara.Button(
            f"Run to month {target}",
            color="primary",
            on_click=run_to,
            disabled=model.month >= min(target, cfg.months),
        )
        solara.Text("(Play keeps going; this stops at the month)", style={"font-size": "12px"})
    when = "from month 1" if model.levers.levers_from_month_one else "from the start, burn-in included"
    solara.Text(f"Levers ({when}): " + levers_text(model.lever_config), style={"font-size": "12px"})
    solara.Text(f"In force now (month {model.month}): " + in_force(model), style={"font-size": "12px"})
    changes = model.scheduled_changes()
    if changes:
        solara.Text("The scenario file also schedules: " + "; ".join(changes), style={"font-size": "12px"})


@solara.component
def PlatformTable(model: ExplorerMarket) -> None:
    """Every platform's state this month (a failed or revoked one in red)."""
    update_counter.get()
    rows = []
    for p in model.platforms:
        cells = (
            p.name,
            p.status,
            f"{p.capital / 1e6:,.2f}",
            # a failed platform's book runs off to nothing; capital over it would read 118,000
            f"{p.capital / p.book:.2f}" if p.book >= 1.0 else "-",
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


def _policy_text(policy, rules) -> str:
    return (
        f"penalty rule {policy.penalty.rule}, cap {100 * rules.penalty_cap_annual:g}% a year; "
        f"collection {policy.collection.regime}; bureau mandate {100 * rules.bureau_mandate_share:g}% of platforms; "
        f"scoring noise {policy.underwriting.scoring_noise_sd:g}; "
        f"forbearance {'on' if rules.forbearance.enabled else 'off'}"
    )


def levers_text(cfg) -> str:
    """The levers as a configuration holds them (the model's own, so the page shows what was applied)."""
    shock = cfg.economy.shocks[0] if cfg.economy.shocks else None
    shock_text = (
        f"shock +{100 * shock.unemployment_delta:g} pp unemployment from month {shock.start} "
        f"for {shock.duration} months"
        if shock
        else "no shock"
    )
    return f"{_policy_text(cfg.platforms.policy, cfg.regulator)}; {shock_text}; {cfg.borrowers.count:,} borrowers."


def in_force(model: ExplorerMarket) -> str:
    """The policy in force this month: the regulator's rules and the largest platform's policy, the
    file's schedule and the month-1 levers included (during the burn-in, the file's)."""
    return _policy_text(model.platforms[0].policy, model.rules) + "."


@solara.component
def BorrowerView(model: ExplorerMarket) -> None:
    """One borrower month by month: income, savings, loans by platform, days past due, contacts."""
    update_counter.get()
    history = model.history
    chosen, set_chosen = solara.use_state(0)
    draws, set_draws = solara.use_state(0)
    note, set_note = solara.use_state("")
    who = min(max(int(chosen), 0), history.n - 1)  # a Reset with fewer borrowers keeps a valid choice

    def pick_one_who_defaulted() -> None:
        k = pick_defaulted(history, model.levers.seed, draws + 1)
        set_draws(draws + 1)
        if k is None:
            set_note("No borrower has defaulted yet: run the market further, or add a shock.")
        else:
            set_note("")
            set_chosen(k)

    with solara.Row(style={"align-items": "center"}):
        solara.InputInt(
            f"Borrower (0 to {history.n - 1})",
            value=who,
            on_value=lambda v: set_chosen(max(0, min(int(v or 0), history.n - 1))),
            dense=True,
            style={"max-width": "12em"},
        )
        solara.Button("A borrower who defaulted", color="primary", on_click=pick_one_who_defaulted)
    if note:
        solara.Text(note, style={"font-size": "12px"})
    mine = history.of(who)
    twin = model.twin_history.of(who) if model.twin_history is not None else None
    fig = borrower_figure(mine, model.config.economy.shocks, history.platforms, twin, who)
    solara.FigureMatplotlib(fig, format="png", dependencies=[id(model), model.steps, who], dpi=100)
    month = history.default_month[who]
    solara.Text(
        borrower_caption(mine, history.loans_now(who), int(month) if month != history.NEVER else None, who),
        style={"font-size": "12px"},
        classes=["lendsim-borrower-caption"],
    )


def scenario_from_env() -> str | None:
    """The scenario file the server was started with (None: the baseline)."""
    return os.environ.get(SCENARIO_ENV) or None


# Vuetify shows a slider's value only while it is dragged; students need to read it at all times.
# The bottom padding lets the last rows scroll clear of Solara's fixed "runs on Solara" badge,
# which otherwise covered the last platform.
PAGE_CSS = """
.v-slider__thumb-label-container { display: block !important; }
.v-slider__thumb-label { display: flex !important; width: auto !important; min-width: 28px; height: 18px !important;
  padding: 0 4px; border-radius: 4px !important; transform: translateY(-26px) translateX(-50%) !important; }
.v-slider__thumb-label > * { transform: none !important; }
.v-slider--horizontal { margin-top: 22px; }
.lendsim-platforms td, .lendsim-platforms th { padding: 1px 5px; }
.lendsim-main { padding-bottom: 96px; }
"""


@solara.component
def Page() -> None:
    """The explorer for one browser session: its own model, built from the seeded controls."""
    params = solara.use_memo(lambda: model_params(scenario_from_env()), [])
    first = solara.use_memo(
        lambda: ExplorerMarket(**{k: v["value"] if isinstance(v, dict) else v for k, v in params.items()}), []
    )
    model = solara.use_reactive(first)  # SolaraViz's Reset replaces its value
    market = model.value
    solara.Style(PAGE_CSS)
    solara.Title(f"lendsim explorer: {market.label}")  # the browser tab's title
    SolaraViz(
        model,
        components=[],  # the main area below is lendsim's own (no "PAGE 0" tab, no draggable grid)
        model_params=params,
        play_interval=200,
        name=f"lendsim explorer: {market.label}",
    )
    with solara.Column(classes=["lendsim-main"]):
        with solara.Card():
            Header(market)
        with solara.lab.Tabs(lazy=True):  # only the tab shown is drawn each month
            with solara.lab.Tab("Market"):
                with solara.GridFixed(columns=2):
                    for panel in PANELS:
                        with solara.Column():
                            MonthlyPlot(market, panel)
                PlatformTable(market)
            with solara.lab.Tab("Borrower"):
                BorrowerView(market)

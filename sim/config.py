"""Scenario configuration: a validated, frozen tree of parameters read from YAML.

Config flows one way: YAML -> :func:`load_scenario` -> :class:`ScenarioConfig` (frozen) -> the
model, which hands each agent only its own section. Every parameter is declared once here with
its unit (in its name or description), default, allowed range and source; ``docs/model.md``'s
parameter tables are generated from these declarations (``python -m sim.docgen``, ``make docs``), so the code
and the documentation cannot drift apart.

Errors are one line naming the file, the dotted key path and what is allowed; :class:`ConfigError`
carries it and the command line prints it with exit code 2.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(Exception):
    """A scenario file is missing, malformed or invalid. ``str(err)`` is one line."""


def P(default: Any, lo: float | None, hi: float | None, desc: str, source: str) -> Any:
    """Declare a numeric parameter with its range, description (with unit) and source."""
    return Field(default, ge=lo, le=hi, description=desc, json_schema_extra={"source": source})


def D(default: Any, desc: str, source: str) -> Any:
    """Declare a non-numeric parameter (choice, flag, list) with description and source.

    A section class as ``default`` means "that section with its own defaults".
    """
    if isinstance(default, type):
        return Field(default_factory=default, description=desc, json_schema_extra={"source": source})
    return Field(default, description=desc, json_schema_extra={"source": source})


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are not coerced."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# --------------------------------------------------------------------------- economy


class Shock(Section):
    """A scheduled macro shock. Its profile over time is set by ``shape`` (see economy.py)."""

    start: int = P(1, 1, 10_000, "first month of the shock (month 1 = first month after burn-in)", "scenario choice")
    duration: int = P(12, 1, 600, "length of the shock in months", "scenario choice")
    shape: Literal["step", "ramp", "v", "u", "jump"] = D(
        "step",
        "time profile: step (on for the duration), ramp (phased in over the duration, then permanent), "
        "v (linear rise to mid-shock, linear recovery), u (fast rise, plateau, slow recovery), "
        "jump (full at once, linear recovery over the duration: a lockdown)",
        "specification",
    )
    unemployment_delta: float = P(
        0.0,
        -0.2,
        0.5,
        "change in the unemployment rate at full intensity (fraction, 0.04 = +4 pp)",
        "2008-09 US: about +5 pp; 2020 China surveyed urban: +1 pp",
    )
    income_factor: float = P(
        1.0, 0.2, 2.0, "multiplier on employed borrowers' income at full intensity", "scenario choice"
    )
    rate_delta: float = P(
        0.0, -0.1, 0.2, "change in the benchmark rate at full intensity (annual fraction)", "scenario choice"
    )
    relief: float = P(
        0.0,
        0.0,
        1.0,
        "share of lost wage income replaced by transfers for the unemployed during the shock",
        "St. Louis Fed (2021): 2020 transfers kept delinquency down",
    )
    funding_withdrawal: float = P(
        0.0, 0.0, 1.0, "share of platforms' investor funding withdrawn at full intensity", "P2P runs of 2018"
    )
    platform_closures: int = P(
        0,
        0,
        1000,
        "platforms closed at the shock's start (weakest capital ratio first)",
        "P2P collapse: ~6,300 failures, 15 platforms left by Aug 2020 (sources.md)",
    )
    declared: bool = D(
        True,
        "whether the regulator declares the shock (activates a forbearance mandate if configured)",
        "scenario choice",
    )


class RegimeSwitching(Section):
    """An optional two-state Markov process (normal / recession) on top of scheduled shocks."""

    enabled: bool = D(False, "switch the stochastic recession process on", "scenario choice")
    p_enter: float = P(0.01, 0.0, 1.0, "monthly probability of entering a recession", "about one recession a decade")
    p_exit: float = P(
        0.08, 0.0, 1.0, "monthly probability of leaving a recession", "mean recession about 12 months (NBER)"
    )
    unemployment_delta: float = P(0.03, -0.2, 0.5, "unemployment rise in a recession (fraction)", "scenario choice")
    income_factor: float = P(0.95, 0.2, 2.0, "employed-income multiplier in a recession", "scenario choice")


class EconomySeries(Section):
    """An observed monthly series that drives the economy (a replay), read from a CSV file.

    In a scenario file, ``economy.series`` is the CSV's path (relative to that file) or a mapping
    ``{file: ..., mode: ...}``; the loader reads the file once and keeps its values here, so a
    results folder's manifest holds the series itself and ``run.py reproduce`` needs no CSV.
    Row i drives month i + 1 (month 1 = the first after burn-in); the burn-in runs in the first
    row's economy and months after the last row keep the last row's values.
    """

    file: str = D("", "the CSV file as the scenario names it (for the record)", "-")
    first_month: str = D("", "the month of the first row, YYYY-MM", "-")
    mode: Literal["change", "level"] = D(
        "change",
        "change: the series moves the unemployment target (and benchmark rate) by its change since its first "
        "row, on top of the market's own economy.unemployment_rate; level: the target is the series itself, "
        "and economy.unemployment_rate must equal its first row (the borrowers' labour market starts there)",
        "scenario choice",
    )
    unemployment_rate: list[float] = D([], "unemployment rate by month (fraction; the CSV gives percent)", "the CSV")
    income_index: list[float] | None = D(
        None, "wage-income index by month (any base; divided by its first row)", "the CSV"
    )
    benchmark_rate: list[float] | None = D(
        None, "benchmark rate by month (annual fraction; the CSV gives percent)", "the CSV"
    )

    @model_validator(mode="after")
    def _same_length(self) -> EconomySeries:
        n = len(self.unemployment_rate)
        if n == 0 and not self.file:
            raise ValueError("@file: give the CSV's path (relative to the scenario file)")
        if n == 0:
            raise ValueError("@unemployment_rate: the series has no rows; give at least one month")
        for name in ("income_index", "benchmark_rate"):
            values = getattr(self, name)
            if values is not None and len(values) != n:
                raise ValueError(f"@{name}: {len(values)} values for {n} months; every column has one value a month")
        return self


# What a replay CSV may hold: column -> (lowest, highest, what it is). Rates are in percent, as
# statistical offices publish them (BLS, FRED, NBS), so a series is pasted in without conversion.
SERIES_COLUMNS = {
    "unemployment_rate": (0.0, 50.0, "percent"),
    "income_index": (1e-6, 1e6, "an index above 0"),
    "benchmark_rate": (0.0, 30.0, "percent"),
}


def read_series(path: Path, shown: str) -> dict:
    """The values of a replay CSV (``# comment`` lines, then ``month,unemployment_rate[,...]``).

    Every problem is one :class:`ConfigError` line naming the file, the line and column, and what
    is allowed: months must be ``YYYY-MM`` (or ``YYYY-MM-01``, as FRED writes them), consecutive,
    without gaps or repeats; every value a number within :data:`SERIES_COLUMNS`' range.
    """
    import csv
    import math

    try:
        if not path.is_file():
            raise ConfigError(f"{shown}: file not found" if not path.exists() else f"{shown}: not a regular file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError(f"{shown}: larger than {MAX_FILE_BYTES // 2**20} MB; a monthly series is a few KB")
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{shown}: not UTF-8 text; save the file as UTF-8 CSV") from None
    except OSError as err:
        raise ConfigError(f"{shown}: cannot read: {err.strerror}") from None
    rows = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip() and not line.startswith("#")]
    if not rows:
        raise ConfigError(f"{shown}: no header; the first line that is not a # comment must be month,unemployment_rate")
    header_line, header = rows[0]
    columns = [c.strip() for c in next(csv.reader([header]))]
    if columns[:1] != ["month"] or "unemployment_rate" not in columns:
        raise ConfigError(
            f"{shown}: line {header_line}: header {header.strip()!r}; allowed: month,unemployment_rate "
            "then optionally income_index, benchmark_rate"
        )
    for c in columns[1:]:
        if c not in SERIES_COLUMNS or columns.count(c) > 1:
            raise ConfigError(
                f"{shown}: line {header_line}: column {c!r} is unknown or repeated; allowed: "
                f"month, {', '.join(SERIES_COLUMNS)}"
            )
    if len(rows) < 2:
        raise ConfigError(f"{shown}: no data rows after the header; give at least one month")
    values: dict[str, list[float]] = {c: [] for c in columns[1:]}
    first = previous = None
    for n, line in rows[1:]:
        cells = [c.strip() for c in next(csv.reader([line]))]
        if len(cells) != len(columns):
            raise ConfigError(f"{shown}: line {n}: {len(cells)} fields; allowed: {len(columns)} ({','.join(columns)})")
        month = _series_month(cells[0])
        if month is None:
            raise ConfigError(f"{shown}: line {n}, month: {cells[0]!r} is not a month; allowed: YYYY-MM or YYYY-MM-01")
        if previous is not None and month != previous + 1:
            y, m = divmod(previous + 1, 12)
            raise ConfigError(
                f"{shown}: line {n}, month: {cells[0]} follows {_month_label(previous)}; allowed: "
                f"{y}-{m + 1:02d} (monthly, in order, no gaps or repeats)"
            )
        first = month if first is None else first
        previous = month
        for c, cell in zip(columns[1:], cells[1:], strict=True):
            lo, hi, what = SERIES_COLUMNS[c]
            try:
                x = float(cell)
            except ValueError:
                x = math.nan
            if not lo <= x <= hi:  # also refuses nan, inf and empty cells
                raise ConfigError(
                    f"{shown}: line {n}, {c}: {cell!r} is not allowed; allowed: {what} from {lo:g} to {hi:g}"
                )
            values[c].append(x)
    u = values["unemployment_rate"]
    if max(u) < 0.5:
        # 0.047 for 4.7% would run an economy at 0.05% unemployment without a word.
        raise ConfigError(
            f"{shown}: unemployment_rate: every value is below 0.5, which looks like fractions; "
            "allowed: percent as published (4.7 for 4.7%)"
        )
    return {
        "first_month": _month_label(first),
        "unemployment_rate": [x / 100.0 for x in u],
        "income_index": values.get("income_index"),
        "benchmark_rate": [x / 100.0 for x in values["benchmark_rate"]] if "benchmark_rate" in values else None,
    }


def _series_month(cell: str) -> int | None:
    """Months since year 0 for ``YYYY-MM`` or ``YYYY-MM-01``; None if it is neither."""
    import re

    m = re.fullmatch(r"(\d{4})-(\d{2})(-01)?", cell)
    if m is None or not 1 <= int(m.group(2)) <= 12:
        return None
    return int(m.group(1)) * 12 + int(m.group(2)) - 1


def _month_label(month: int) -> str:
    y, m = divmod(month, 12)
    return f"{y}-{m + 1:02d}"


def embed_series(data: dict, scenario: Path, shown: str) -> None:
    """Replace ``economy.series`` given as a path (relative to ``scenario``) by the CSV's values, in place."""
    economy = data.get("economy")
    if not isinstance(economy, dict) or economy.get("series") is None:
        return
    series = economy["series"]
    if isinstance(series, str):
        series = {"file": series}
    if not isinstance(series, dict) or "unemployment_rate" in series:
        return  # already values (a dumped config), or a wrong type the model reports
    if "file" not in series:
        return  # no CSV named: the section's own validation says what is wrong, key by key
    file = series.get("file")
    if not isinstance(file, str) or not file:
        raise ConfigError(f"{shown}: economy.series.file: give the CSV's path (relative to this file)")
    try:
        values = read_series(scenario.parent / file, file)
    except ConfigError as err:
        raise ConfigError(f"{shown}: economy.series: {err}") from None
    economy["series"] = {**series, **values}


class EconomyConfig(Section):
    unemployment_rate: float = P(
        0.05, 0.0, 0.5, "baseline unemployment rate (fraction)", "China surveyed urban unemployment 5.0-5.5% (NBS)"
    )
    income_growth_annual: float = P(
        0.04, -0.2, 0.3, "nominal growth of wage income (annual fraction)", "China disposable income growth 2023-24"
    )
    benchmark_rate_annual: float = P(
        0.0385,
        0.0,
        0.3,
        "benchmark lending rate, e.g. 1-year LPR (annual fraction)",
        "1-year LPR 3.85% (Aug 2020), sources.md",
    )
    job_finding_monthly: float = P(
        0.25,
        0.01,
        1.0,
        "monthly re-employment probability at the baseline unemployment rate",
        "mean unemployment spell about 4 months",
    )
    separation_share: float = P(
        0.25,
        0.0,
        1.0,
        "share of the rise in unemployment (log odds) carried by more separations; job finding carries the rest",
        "Shimer (2012): the job-finding rate accounts for three quarters of unemployment fluctuations, "
        "separations for one quarter; Elsby, Michaels & Solon (2009): layoffs rise in recessions",
    )
    job_loss_risk_gradient: float = P(
        0.8,
        0.0,
        3.0,
        "job-loss hazard multiplier exp(-g z) by latent creditworthiness z",
        "riskier borrowers have less stable jobs",
    )
    scar_loss: float = P(
        0.10,
        0.0,
        0.9,
        "permanent fall of the wage at re-employment after a job loss, in a calm labour market (fraction)",
        "Davis & von Wachter (2011): displaced workers lose 1.4 years of earnings in present value when "
        "unemployment is below 6% - about 10% a year for 20 years once the spell itself is counted",
    )
    scar_cyclicality: float = P(
        1.0,
        0.0,
        5.0,
        "rise of the scar, as a multiple of scar_loss, in a slack labour market (slack 1)",
        "Davis & von Wachter (2011): the loss doubles (2.8 years) when unemployment is above 8%",
    )
    slack_gap: float = P(
        0.03,
        0.001,
        0.5,
        "rise of the unemployment target above its baseline at which the labour market counts as fully slack "
        "(slack = rise / gap, clipped to [0, 1])",
        "Davis & von Wachter (2011) compare displacement at unemployment below 6% and above 8%",
    )
    income_transitory_sd: float = P(
        0.10,
        0.0,
        1.0,
        "s.d. of the monthly transitory log-income shock (i.i.d. month to month)",
        "a log s.d. of 0.1 a month: checking-account data show month-to-month income swings larger than "
        "year-to-year ones (JPMorgan Chase Institute 2015); annual transitory variances from surveys are "
        "mostly measurement error and do not disaggregate",
    )
    income_permanent_sd: float = P(
        0.035,
        0.0,
        1.0,
        "s.d. of the monthly permanent (random-walk) log-wage shock, in a calm labour market",
        "an annual permanent variance of 0.01 (Carroll et al. 2017, cstwMPC) is 0.00125 a month under "
        "time aggregation (x 36/289)",
    )
    income_risk_cyclicality: float = P(
        0.75,
        0.0,
        5.0,
        "rise of the permanent shock's s.d., as a share, in a slack labour market (slack 1)",
        "Storesletten, Telmer & Yaron (2004): the s.d. of idiosyncratic shocks rises from 0.12 to 0.21 "
        "from peak to trough",
    )
    benefit_coverage: float = P(
        0.10,
        0.0,
        1.0,
        "probability a job loser receives unemployment insurance for the spell",
        "2.3 million UI recipients against 23-26 million surveyed unemployed, 2019Q4-2020Q1 (MoHRSS, NBS)",
    )
    benefit_monthly: float = P(
        1800.0,
        0.0,
        1e6,
        "unemployment-insurance benefit (CNY a month, at today's prices)",
        "average benefit CNY 1,814 a month in 2023 (MoHRSS); set between the local dibao and minimum wage "
        "(UI Regulations 1999, art. 18)",
    )
    benefit_months: int = P(
        12,
        0,
        120,
        "most months a covered job loser receives the benefit",
        "UI Regulations (1999), art. 17: 12 months for 1-5 years of contributions (18 and 24 for longer)",
    )
    jobless_income_share: float = P(
        0.10,
        0.0,
        1.0,
        "income of an unemployed borrower from odd jobs and household transfers, as a share of their wage",
        "calibration: about 200 million Chinese in flexible employment (NBS 2021) - the jobless take odd "
        "jobs; no direct estimate for borrowers",
    )
    shocks: list[Shock] = D([], "scheduled shocks", "scenario choice")
    regime_switching: RegimeSwitching = D(RegimeSwitching, "stochastic recessions", "scenario choice")
    series: EconomySeries | None = D(
        None,
        "an observed monthly series (CSV: month, unemployment_rate, optionally income_index, benchmark_rate) "
        "that drives the economy, with the shocks on top",
        "scenario choice; docs/calibration.md",
    )

    @model_validator(mode="after")
    def _series_starts_at_the_rate(self) -> EconomyConfig:
        s = self.series
        if s is not None and s.mode == "level" and abs(s.unemployment_rate[0] - self.unemployment_rate) > 1e-9:
            raise ValueError(
                f"@series.mode: level replays the series from its first row, {s.unemployment_rate[0]:g}, but "
                f"economy.unemployment_rate is {self.unemployment_rate:g}; allowed: set economy.unemployment_rate "
                "to the first row, or mode: change"
            )
        return self


# --------------------------------------------------------------------------- borrowers


class BorrowerConfig(Section):
    count: int = P(
        10_000, 10, 50_000_000, "number of borrowers", "scenario choice; results are rates, so size sets precision"
    )
    income_median_monthly: float = P(
        6000.0,
        0.0,
        1e7,
        "median monthly wage income (CNY)",
        "China urban per-capita disposable income ~CNY 4,500/month (2023), online borrowers skew higher",
    )
    income_sigma: float = P(
        0.5, 0.0, 3.0, "s.d. of log income across borrowers", "typical lognormal fit of wage dispersion"
    )
    income_risk_corr: float = P(
        0.3, -1.0, 1.0, "correlation of log income with latent creditworthiness", "higher earners repay more"
    )
    essentials_share: float = P(
        0.6,
        0.0,
        1.5,
        "mean essential expenses as a share of income",
        "consumption share of disposable income ~0.68 (NBS)",
    )
    essentials_sd: float = P(
        0.05, 0.0, 1.0, "s.d. of the essentials share across borrowers, besides risk type", "calibration"
    )
    essentials_risk_loading: float = P(
        0.26,
        0.0,
        1.0,
        "fall of the essentials share per unit of latent creditworthiness: riskier types have thinner margins",
        "calibration to the baseline M3+ level",
    )
    essentials_cut_unemployed: float = P(
        0.06,
        0.0,
        1.0,
        "fall of essential spending while unemployed (fraction)",
        "Ganong & Noel (2019): spending falls 6% at the start of unemployment",
    )
    essentials_cut_no_benefit: float = P(
        0.12,
        0.0,
        1.0,
        "further fall of essential spending while unemployed without a benefit (fraction)",
        "Ganong & Noel (2019): spending falls a further 12% when unemployment insurance runs out",
    )
    commitment_adjust_monthly: float = P(
        1 / 12,
        0.0,
        1.0,
        "monthly speed at which essential spending adjusts to a permanent change in the wage",
        "consumption commitments (rent, schooling) re-contract about once a year (Chetty & Szeidl 2007)",
    )
    savings_months: float = P(
        1.0,
        0.0,
        60.0,
        "target (buffer-stock) liquid savings, in months of wage; also the median at start",
        "Carroll (1997) buffer-stock saving; online borrowers hold thin buffers",
    )
    savings_sd: float = P(
        0.5, 0.0, 5.0, "s.d. of log savings at the start, around the target", "calibration: thin, dispersed buffers"
    )
    saving_rate: float = P(
        0.3, 0.0, 1.0, "share of the unspent monthly surplus saved while savings are below target", "calibration"
    )
    savings_drawdown: float = P(
        1.0,
        0.0,
        1.0,
        "share of savings a borrower will use for debt payments in a month",
        "calibration: a thin buffer is there to be used",
    )
    expense_shock_monthly: float = P(
        0.01,
        0.0,
        1.0,
        "monthly probability of an unexpected expense (illness, repairs, family)",
        "Fed SHED 2023: 37% of adults could not cover a $400 emergency with cash",
    )
    expense_shock_months: float = P(
        1.0, 0.0, 60.0, "mean size of an unexpected expense, in months of income (exponential)", "calibration"
    )
    expense_risk_gradient: float = P(
        0.8,
        0.0,
        3.0,
        "unexpected-expense probability multiplier exp(-g z) by latent creditworthiness z (mean one)",
        "calibration: riskier types have more frequent financial emergencies",
    )
    literacy_mean: float = P(
        0.5, 0.0, 1.0, "mean financial literacy (0-1)", "calibration; raised by education campaigns"
    )
    literacy_sd: float = P(0.2, 0.0, 1.0, "s.d. of financial literacy", "calibration")
    demand_monthly: float = P(
        0.06,
        0.0,
        1.0,
        "monthly probability of applying for consumption credit without a pressing need",
        "calibration to the book size",
    )
    need_apply: float = P(
        0.3,
        0.0,
        1.0,
        "probability a borrower whose spending this month exceeds income and the savings they will draw applies "
        "for a loan to cover the gap",
        "Fed SHED 2023: of adults who could not cover a $400 expense with cash, most would borrow or sell "
        "something; calibration",
    )
    reference_apr: float = P(
        0.24,
        0.0,
        5.0,
        "price a first-time borrower expects (annual); later, the APR of their last loan",
        "the 24% line of the 2015 private-lending interpretation, which online lenders advertise under",
    )
    take_up_elasticity: float = P(
        1.1,
        0.0,
        10.0,
        "elasticity of accepting an approved offer to its APR above the borrower's reference price "
        "(below it, take-up is certain)",
        "Karlan & Zinman (2008): demand flat below the standard rate, steep above the prior rate; Karlan & "
        "Zinman (2019, Mexico): dollars-borrowed elasticity -1.1 in the first year",
    )
    instalment_target: float = P(
        0.3,
        0.0,
        10.0,
        "largest instalment of a new loan a borrower asks for, as a share of income: longer terms and lower "
        "rates allow larger loans",
        "Karlan & Zinman (2008): loan size responds far more to maturity than to rate (liquidity constraints); "
        "Attanasio, Goldberg & Kyriazidou (2008); calibration",
    )
    informal_rate_monthly: float = P(
        0.02,
        0.0,
        1.0,
        "monthly interest on informal credit (private lenders, arrears on bills) taken when no platform lends",
        "Zinman (2010): borrowers rationed by a rate cap turn to overdrafts and late bills; private lending in "
        "China was enforceable up to 24% a year (2015 interpretation)",
    )
    informal_term_months: int = P(
        6, 1, 120, "months over which informal credit is repaid", "calibration: short informal loans"
    )
    informal_limit_months: float = P(
        1.0,
        0.0,
        100.0,
        "most informal credit a borrower can have outstanding, in months of wage",
        "calibration: informal lenders lend small sums to people they know",
    )
    borrow_to_repay: float = P(
        0.4,
        0.0,
        1.0,
        "probability a borrower short of cash applies for a loan to repay, at literacy 0",
        "CFPB (2014): most payday loans are rolled over",
    )
    btr_term_months: int | None = P(
        None,
        1,
        36,
        "term of a loan taken to repay another (months); None: the usual term mix",
        "short cash loans roll over: most payday loans are re-borrowed within 14 days (CFPB 2014)",
    )
    btr_amount_cover: float = P(
        1.1,
        0.0,
        10.0,
        "borrow-to-repay request as a multiple of last month's unpaid debt",
        "calibration: enough to clear the shortfall and a little more",
    )
    btr_amount_min: float = P(
        0.2,
        0.0,
        100.0,
        "smallest borrow-to-repay request, in months of wage",
        "platforms' minimum loan sizes (CNY 500-1,000 cash loans)",
    )
    loan_income_min: float = P(0.5, 0.0, 100.0, "smallest loan request, in months of income", "cash/consumption loans")
    loan_income_max: float = P(3.0, 0.0, 100.0, "largest loan request, in months of income", "cash/consumption loans")
    max_loans: int = P(6, 1, 50, "most live loans one borrower can hold", "practical cap")
    application_rounds: int = P(
        2,
        1,
        20,
        "platforms an applicant tries in a month (a rejected applicant tries the next)",
        "calibration: borrowers shop across a few apps",
    )
    inattention: float = P(
        0.005,
        0.0,
        1.0,
        "monthly probability of missing an affordable payment at literacy 0 (scaled by 1-literacy)",
        "Karlan, Morten & Zinman: reminders cut late payments",
    )
    allocation_noise: float = P(
        0.5,
        0.0,
        10.0,
        "s.d. of the log weight noise in how a borrower splits a short budget across loans, at literacy 0 "
        "(scaled by 1-literacy)",
        "Gathergood et al. (2019): balance matching explains about half the predictable variation; the rest "
        "looks idiosyncratic",
    )
    optimiser_literacy: float = P(
        0.75,
        0.0,
        1.01,
        "literacy from which a borrower pays the costliest loans first instead of matching balances (1.01: nobody)",
        "Gathergood et al. (2019): about 10% of people put all extra payments on the high-APR card; literacy "
        "N(0.5, 0.2) puts 10% above 0.75",
    )
    willingness_mean: float = P(
        0.6,
        -10.0,
        10.0,
        "mean strategic-default threshold (higher = more willing to pay)",
        "calibration: strategic defaults 5-30% of defaults (Ganong & Noel 2023: 6%; Guiso, Sapienza & "
        "Zingales 2013: 26% self-reported)",
    )
    willingness_sd: float = P(1.0, 0.0, 10.0, "s.d. of the strategic-default threshold", "calibration")
    willingness_risk_loading: float = P(
        0.3,
        0.0,
        10.0,
        "rise of the strategic-default threshold per unit of latent creditworthiness",
        "credit scores measure willingness as well as ability to pay",
    )

    @model_validator(mode="after")
    def _loan_range(self) -> BorrowerConfig:
        _ordered(self, "loan_income_min", "loan_income_max")
        return self


class BehaviourConfig(Section):
    """Coefficients of borrowers' responses (priorities, strategic default, collection)."""

    allocation_pressure: float = P(
        1.0,
        0.0,
        20.0,
        "log weight per unit of collection pressure when a borrower splits a short budget across loans",
        "calibration: collection raises what is paid on the collected debt (Fedaseyeu 2013: each restriction "
        "cuts recovery rates 9%)",
    )
    allocation_reported: float = P(
        0.5,
        0.0,
        20.0,
        "log weight of a loan reported to the credit bureau when a borrower splits a short budget across loans",
        "calibration: borrowers protect the record lenders see",
    )
    strategic_default: bool = D(
        True,
        "borrowers who can pay may withhold when the expected cost of not paying is low; false switches the "
        "channel off (every missed payment is then a cash shortfall or inattention)",
        "a switch for decompositions",
    )
    default_cost_base: float = P(1.0, -10.0, 10.0, "base cost of not paying an affordable loan", "calibration")
    default_cost_bureau: float = P(
        0.5,
        0.0,
        10.0,
        "extra cost (willingness units) of not paying a loan reported to the credit bureau",
        "calibration: a record costs a price and a limit rather than exclusion (Cohen-Cole et al. 2013), so "
        "not paying a reported loan weighs as much as the legal risk of an operating lender (default_cost_legal); "
        "under the full mandate it removes about three-quarters of strategic withholding",
    )
    default_cost_pressure: float = P(1.0, 0.0, 10.0, "extra cost per unit of collection pressure", "specification")
    default_cost_legal: float = P(
        0.5, 0.0, 10.0, "extra cost from legal risk while the lender operates", "specification"
    )
    herding: float = P(
        0.25,
        0.0,
        10.0,
        "fall of the cost of not paying (in willingness units) for a borrower who knows a strategic defaulter "
        "at the same lender",
        "Guiso, Sapienza & Zingales (2013): knowing someone who defaulted strategically raises the stated "
        "intention by 82%; a shift of 0.25 s.d. raises a 1-5% withholding probability by 70-90%",
    )
    peer_reach: float = P(
        10.0,
        0.0,
        1000.0,
        "fellow borrowers of the same lender whose repayment a borrower hears of each month; the chance of "
        "knowing a strategic defaulter is 1 - (1 - s)^reach at last month's strategic rate s",
        "calibration: no direct estimate",
    )
    failure_discount: float = P(
        3.0,
        0.0,
        20.0,
        "cost reduction when the lender has failed and the loan is unserviced",
        "2018 P2P: borrowers stopped paying failing platforms",
    )
    distress_discount: float = P(
        1.0, 0.0, 20.0, "cost reduction per unit of a live lender's distress (capital shortfall)", "specification"
    )
    benefit_per_income: float = P(
        1.0, 0.0, 20.0, "benefit of not paying per unit of the payment as a share of income", "calibration"
    )
    pressure_per_contact: float = P(0.15, 0.0, 5.0, "collection pressure: 1-exp(-k contacts)", "calibration")
    recovery_pressure_elasticity: float = P(
        0.6,
        0.0,
        5.0,
        "rise of the monthly demand on a charged-off balance in recovery (as a multiple of recovery_due_share) "
        "per unit of the collection pressure on it relative to the standard regime's pressure past M3: the "
        "demand's elasticity to pressure at the standard regime",
        "calibration: Fedaseyeu (2020), each state restriction on debt collectors lowers recovery rates on "
        "charged-off card debt by about 9% of the mean; the regulated regime (fewer contacts in every bucket) "
        "recovers about an eighth less than the standard, the aggressive one (third parties, night calls) more",
    )
    pressure_third_party: float = P(0.3, 0.0, 1.0, "extra pressure from third-party contacts", "calibration")
    pressure_night: float = P(0.15, 0.0, 1.0, "extra pressure from night contacts", "calibration")
    mobilisation: float = P(
        2.0,
        0.0,
        24.0,
        "stock of help a borrower can raise from family and friends, in months of wage; a share "
        "(help_unpressed) is there for any debt due, collection pressure taps the rest (share = pressure)",
        "Fedaseyeu (2013): collection raises recoveries",
    )
    help_unpressed: float = P(
        0.3,
        0.0,
        1.0,
        "share of the family-help stock a borrower raises to pay debt due without collection pressure (pressure "
        "raises it towards the whole stock)",
        "calibration: family and friends are the first lenders of last resort - a used-up stock is what turns a "
        "run of bad months into default, while a single bad month is tided over",
    )
    support_replenish_monthly: float = P(
        0.01,
        0.0,
        1.0,
        "monthly recovery of the used help stock towards its full size",
        "calibration: help is given once, and rebuilt over years",
    )
    pressure_borrow_push: float = P(
        0.2,
        0.0,
        5.0,
        "rise of the borrow-to-repay probability per unit pressure for who cannot pay",
        "specification; bounded by the evidence that collection lowers delinquency on net (Fonseca, Strair & "
        "Zafar 2017: restricting it raised delinquent balances): the new loans the push brings into arrears may "
        "not outweigh what collection cures",
    )
    harassment_per_contact: float = P(
        0.002, 0.0, 1.0, "probability a lawful contact is a harassment incident", "calibration"
    )
    harassment_third_party: float = P(
        0.03, 0.0, 1.0, "extra incident probability per contact with third parties", "calibration"
    )
    harassment_night: float = P(0.02, 0.0, 1.0, "extra incident probability per night contact", "calibration")
    harassment_excess: float = P(
        0.02,
        0.0,
        1.0,
        "extra incident probability per contact above harassment_contact_threshold a month",
        "calibration: conduct rules",
    )
    harassment_contact_threshold: float = P(
        6.0,
        0.0,
        1000.0,
        "contacts a month per loan beyond which contacts count as excessive",
        "2026 CBA guideline: at most 6 unanswered attempts a day per method (sources.md)",
    )
    complaint_probability: float = P(
        0.3, 0.0, 1.0, "probability an incident becomes a complaint, at literacy 1", "calibration"
    )


# --------------------------------------------------------------------------- platforms


class PenaltyTier(Section):
    min_dpd: int = P(0, 0, 10_000, "days past due from which the tier applies", "rule choice")
    rate_daily: float = P(0.0005, 0.0, 0.05, "penalty rate per day on the overdue amount", "rule choice")


class AmountTier(Section):
    min_amount: float = P(0.0, 0.0, 1e12, "overdue amount (CNY) from which the factor applies", "rule choice")
    factor: float = P(1.0, 0.0, 10.0, "multiplier on the tier rate", "rule choice")


class PenaltyConfig(Section):
    rule: Literal["none", "flat", "compounding", "tiered", "benchmark_multiple"] = D(
        "flat", "penalty-rate rule on overdue amounts", "specification"
    )
    rate_daily: float = P(
        0.0005, 0.0, 0.05, "daily penalty rate for flat and compounding rules", "0.05%/day, the common contract rate"
    )
    tiers: list[PenaltyTier] = D(
        [
            PenaltyTier(min_dpd=0, rate_daily=0.0003),
            PenaltyTier(min_dpd=31, rate_daily=0.0005),
            PenaltyTier(min_dpd=61, rate_daily=0.0008),
        ],
        "tiered rule: daily rate by days past due",
        "rule choice",
    )
    amount_tiers: list[AmountTier] = D(
        [AmountTier(min_amount=0.0, factor=1.0)], "tiered rule: factor by overdue amount", "rule choice"
    )
    multiple: float = P(
        1.5,
        0.0,
        20.0,
        "benchmark_multiple: penalty rate (annual) as a multiple of the basis rate",
        "Chinese courts: penalty up to 1.3-1.5x the contract rate",
    )
    basis: Literal["contract", "benchmark"] = D(
        "contract", "benchmark_multiple: the contract APR or the benchmark rate", "rule choice"
    )
    applies_to: Literal["overdue", "outstanding"] = D(
        "overdue",
        "what the penalty rate is charged on: the past-due amount, or all outstanding principal plus "
        "interest due (the cash-loan practice that turns a missed instalment into a debt spiral)",
        "2017 card rules: on the unpaid minimum only; cash-loan contracts before the Dec 2017 notice: on the loan",
    )

    @model_validator(mode="after")
    def _distinct_tiers(self) -> PenaltyConfig:
        # Tiers apply from their threshold on; two tiers with one threshold would leave which rate
        # applies to the order they are listed in.
        for name, key in (("tiers", "min_dpd"), ("amount_tiers", "min_amount")):
            starts = [getattr(t, key) for t in getattr(self, name)]
            for i, start in enumerate(starts):
                if start in starts[:i]:
                    raise ValueError(
                        f"@{name}[{i}].{key}: {start!r} is also the {key} of {name}[{starts.index(start)}]; "
                        f"allowed: a different {key} for each tier"
                    )
        return self


class CollectionConduct(Section):
    contacts_by_bucket: list[float] = D(
        [4.0, 8.0, 12.0, 12.0], "contacts a month per loan in M1, M2, M3, M3+", "preset"
    )
    third_party: bool = D(False, "contacts relatives, employers and other third parties", "preset")
    night_contact: bool = D(False, "contacts between 22:00 and 08:00", "preset")
    cost_per_contact: float = P(10.0, 0.0, 1e5, "cost of one contact (CNY)", "call-centre costs")
    targeted: bool = D(False, "concentrate contacts where the expected cure per unit cost is highest", "specification")

    @model_validator(mode="after")
    def _buckets(self) -> CollectionConduct:
        if len(self.contacts_by_bucket) != 4 or min(self.contacts_by_bucket) < 0:
            raise ValueError("contacts_by_bucket must be 4 non-negative numbers (M1, M2, M3, M3+)")
        return self


class CollectionConfig(Section):
    regime: Literal["soft", "standard", "aggressive", "regulated", "targeted", "custom"] = D(
        "standard", "collection regime preset (see policies.COLLECTION_PRESETS) or custom", "specification"
    )
    custom: CollectionConduct | None = D(None, "conduct for regime: custom", "scenario choice")
    target_employed_weight: float = P(
        1.5,
        0.0,
        100.0,
        "targeted conduct: relative contacts for a loan of an employed borrower",
        "specification: effort where the expected cure per contact is highest; calibration",
    )
    target_unemployed_weight: float = P(
        0.25,
        0.0,
        100.0,
        "targeted conduct: relative contacts for a loan of an unemployed borrower",
        "calibration: the jobless cure rarely whatever the contacts",
    )
    target_early_weight: float = P(
        1.2,
        0.0,
        100.0,
        "targeted conduct: relative contacts for a loan in M1 or M2",
        "calibration: early arrears cure more",
    )
    target_late_weight: float = P(
        0.6, 0.0, 100.0, "targeted conduct: relative contacts for a loan in M3 or beyond", "calibration"
    )

    @model_validator(mode="after")
    def _custom(self) -> CollectionConfig:
        if (self.regime == "custom") != (self.custom is not None):
            raise ValueError("give 'custom' exactly when regime is 'custom'")
        return self


class RestructuringConfig(Section):
    enabled: bool = D(False, "offer restructuring to overdue borrowers with verified hardship", "specification")
    kind: Literal["extension", "instalment", "writedown"] = D(
        "extension", "term extension, instalment plan or partial write-down", "specification"
    )
    min_dpd: int = P(30, 30, 10_000, "earliest days past due for an offer", "calibration")
    max_dpd: int = P(
        90, 30, 10_000, "latest days past due for an offer", "before default, when recovery still beats charge-off"
    )
    extension_months: int = P(
        6, 1, 120, "months added to the term (extension) or over which arrears are spread (instalment)", "calibration"
    )
    writedown_share: float = P(0.2, 0.0, 1.0, "share of principal written down (writedown)", "calibration")
    take_up: float = P(0.7, 0.0, 1.0, "probability an eligible borrower accepts", "calibration")

    @model_validator(mode="after")
    def _dpd_window(self) -> RestructuringConfig:
        _ordered(self, "min_dpd", "max_dpd")
        return self


class UnderwritingConfig(Section):
    cutoff: float = P(
        -1.0,
        -10.0,
        10.0,
        "minimum observed score to approve (score has s.d. about 1 over borrowers)",
        "calibration to approval rates",
    )
    scoring_noise_sd: float = P(
        0.8,
        0.0,
        10.0,
        "s.d. of the platform's scoring error (information asymmetry)",
        "calibration; better credit evaluation lowers it",
    )
    scoring_noise_persistence: float = P(
        0.8,
        0.0,
        1.0,
        "share of the scoring error's variance that is the platform's lasting view of a borrower (the same at "
        "every application); the rest is drawn afresh",
        "calibration: what a lender cannot see of a borrower does not change between applications, so "
        "reapplying rarely turns a rejection round",
    )
    bureau_noise_reduction: float = P(
        0.5, 0.0, 1.0, "share of scoring noise removed for bureau members", "credit reporting reduces asymmetry"
    )
    bureau_flag_penalty: float = P(
        2.0,
        0.0,
        20.0,
        "score penalty for a record on the platform's own book: the applicant is behind on, or defaulted on, "
        "one of its own loans",
        "calibration: lenders rarely lend again to who is behind with them",
    )
    bureau_arrears_penalty: float = P(
        2.0,
        0.0,
        20.0,
        "score penalty a bureau member applies when the bureau shows the applicant behind now on a reported loan "
        "(or a reported loan restructured)",
        "the same as for arrears on its own book: a member sees the other lenders' arrears as its own (PBOC, "
        "Sept 2019: reported P2P defaulters face higher rates and restricted access)",
    )
    bureau_default_penalty: float = P(
        0.5,
        0.0,
        20.0,
        "score penalty a bureau member applies for a reported default still on the record (and no arrears now)",
        "Cohen-Cole, Duygan-Bump & Montoriol-Garriga (2013): over 90% of US bankrupts get new credit soon after "
        "filing (75% unsecured within 18 months), at higher prices; Musto (2004): the flag lowers scores by a "
        "margin, not to exclusion. Half a score s.d. moves a borrower 0.5 x apr_risk_slope up in price and "
        "rejects only those near the cut-off",
    )
    bureau_record_dti_factor: float = P(
        0.75,
        0.0,
        1.0,
        "a bureau member's debt-to-income limit for an applicant with a bureau record, as a share of dti_limit",
        "Fisher & Lyons (2010): a derogatory flag raises denial, raises the rate and lowers the credit limit "
        "granted; the size is a calibration (no direct estimate for China)",
    )
    verifies_income: bool = D(
        True,
        "check affordability against the applicant's current income; if false, against their usual "
        "wage as stated (so the jobless can borrow)",
        "Dec 2017 cash-loan notice banned lending to borrowers without income",
    )
    dti_limit: float = P(
        0.4,
        0.0,
        10.0,
        "most visible instalments (incl. the new loan) as a share of income",
        "debt-service ceilings of 40-50% of income; essentials take ~60%",
    )
    competition: bool = D(
        False, "lower the cut-off when growth falls short of target", "specification; sources.md competition"
    )
    collection_sensitivity: float = P(
        0.1,
        0.0,
        5.0,
        "cut-off raised per unit by which the platform's collection pressure (at M2) falls short "
        "of the standard regime's: lenders expecting lower recoveries lend less",
        "Fedaseyeu (2020): each restriction on collectors cuts new revolving lines about 2% (the regulated "
        "regime lends about 2% less); kept below the size at which a weaker regime's tighter lending lowers "
        "defaults, as restricting collection raised delinquent balances (Fonseca, Strair & Zafar 2017)",
    )
    lends_at_cap: bool = D(
        False,
        "lend at the APR cap to applicants above the cut-off whose risk price exceeds the cap, instead of "
        "rationing them out",
        "competing platforms admitted riskier borrowers at the 36% ceiling (sources.md competition)",
    )
    growth_target_monthly: float = P(
        0.02, -1.0, 1.0, "target monthly growth of originations for competition", "calibration"
    )
    cutoff_step: float = P(0.05, 0.0, 5.0, "cut-off change per month from competition or early warning", "calibration")
    min_cutoff: float = P(-3.0, -10.0, 10.0, "lowest cut-off competition can reach", "calibration")
    early_warning: bool = D(
        False,
        "raise the cut-off when the platform's overdue rate crosses the line (a lever; off in the baseline)",
        "specification; sources.md: early warning -30% losses claim",
    )
    early_warning_line: float = P(
        0.12,
        0.0,
        1.0,
        "platform overdue rate (count) that triggers early warning",
        "calibration: above the baseline level, reached in stress",
    )
    max_cutoff: float = P(1.0, -10.0, 10.0, "highest cut-off early warning can reach", "calibration")
    # the credit cycle: standards set on the platform's own losses, the economy and its capital, as a net
    # tightening index (the stance: 0 the policy's standards, 1 fully tightened, negative eased)
    stance_loss_weight: float = P(
        0.0,
        0.0,
        20.0,
        "tightening called for per unit of relative excess of the platform's M1+ rate by balance over "
        "stance_reference_overdue beyond stance_tolerance (the same eases when it is below); a lever, off in "
        "the baseline",
        "SLOOS: banks tighten consumer-loan standards citing deteriorating credit quality and reduced risk "
        "tolerance (Federal Reserve, April and July 2020); off: a lender that reads only its visible arrears "
        "lends more where payment holidays hide them, which undoes forbearance's fall in losses (docs/model.md)",
    )
    stance_outlook_weight: float = P(
        8.0,
        0.0,
        100.0,
        "tightening called for per unit rise of the economy's unemployment rate above its baseline (0.05 = 5 points)",
        "SLOOS April 2020: standards tightened late in March as the economic outlook shifted, before losses "
        "rose; 360 Finance Q1 2020: tighter approval for borrowers in the worst-hit regions and industries; "
        "calibration: 0.4 at a 5-point rise",
    )
    stance_capital_weight: float = P(
        0.5,
        0.0,
        20.0,
        "tightening called for per unit of the platform's distress (capital below distress_capital_ratio of its book)",
        "bank-capital channel, kept small: an uncertain outlook rather than banks' balance sheets was the main "
        "reason most banks tightened in the Great Recession (Federal Reserve Bank of Atlanta WP 2020-6); calibration",
    )
    stance_reference_overdue: float = P(
        0.07,
        0.001,
        1.0,
        "M1+ rate by balance (its own book, last month) the platform priced for: above it by more than "
        "stance_tolerance it tightens, below it eases",
        "calibration: about the baseline's level after burn-in (docs/model.md, Calibration), so the rule is "
        "about neutral in a calm economy",
    )
    stance_tolerance: float = P(
        0.1,
        0.0,
        10.0,
        "relative deviation of the platform's M1+ rate from stance_reference_overdue that it leaves "
        "standards unchanged for",
        "SLOOS: in most quarters most banks report standards 'basically unchanged'; calibration",
    )
    stance_speed: float = P(
        0.33,
        0.0,
        1.0,
        "share of the gap between the tightening its signals call for and its current stance that the "
        "platform closes each month",
        "calibration: credit policy is reviewed about quarterly (SLOOS asks about the past three months)",
    )
    stance_max_easing: float = P(
        0.1,
        0.0,
        1.0,
        "most the stance can ease below the policy's standards (full tightening is 1)",
        "SLOOS: the net share of banks easing credit-card standards reached about 11% at most in 1996-2008, "
        "against 67% tightening in 2008 (Federal Reserve Bulletin 2009, figure 15)",
    )
    stance_cutoff: float = P(
        0.1,
        0.0,
        10.0,
        "cut-off raise at full tightening (score units; in proportion to the stance)",
        "SLOOS October 2019 and July 2020: tighter standards are higher minimum scores for new applicants; "
        "calibration: limits rather than cut-offs carry most of the tightening (a higher cut-off sheds the "
        "riskiest need-driven applicants, which would undo most of a recession's rise in delinquency)",
    )
    stance_dti_share: float = P(
        0.7,
        0.0,
        1.0,
        "share of dti_limit removed at full tightening (credit limits cut with standards; in proportion to the stance)",
        "the three largest US card lenders cut unused lines by almost a quarter in the six months to March "
        "2009 (American Banker, 2009); the 14 largest cut $99 billion of limits in 2020 (American Banker, 2021); "
        "0.7 cuts the limit by about 28% at the recession's stance (0.4)",
    )

    @model_validator(mode="after")
    def _cutoff_range(self) -> UnderwritingConfig:
        # Competition lowers the cut-off towards min_cutoff and early warning raises it towards
        # max_cutoff: a cut-off outside the two would make competition raise it, or warning never act.
        _ordered(self, "min_cutoff", "max_cutoff")
        _ordered(self, "min_cutoff", "cutoff", at="cutoff")
        _ordered(self, "cutoff", "max_cutoff", at="cutoff")
        return self


class PricingConfig(Section):
    margin_annual: float = P(
        0.06,
        -1.0,
        5.0,
        "margin of the best risk grade over the cost of funds and operating cost (annual fraction): its APR is "
        "benchmark + funding_spread_annual + operating_cost_annual + this",
        "cost-plus loan pricing (rate = cost of funds + operating cost + expected-loss premium + margin); 0.06 "
        "gives the best grade 18% at the 3.85% LPR, the floor of Chinese online consumer loans (18-36%)",
    )
    apr_risk_slope: float = P(
        0.08,
        0.0,
        5.0,
        "APR added per unit of observed score below best_grade_score (annual fraction): the expected-loss premium",
        "risk-based pricing; 0.08 spans 18-36% over the score range lenders approve",
    )
    best_grade_score: float = P(
        1.0, -10.0, 10.0, "observed score from which an applicant gets the best-grade APR", "calibration: top grade"
    )
    stance_premium_share: float = P(
        0.3,
        0.0,
        10.0,
        "relative rise of apr_risk_slope (the expected-loss premium) at full tightening of the platform's "
        "standards (underwriting.stance_*; in proportion to the stance)",
        "SLOOS records, with standards, the net share of banks increasing spreads of loan rates over their cost "
        "of funds; calibration",
    )


class PlatformPolicy(Section):
    """What a platform decides: underwriting, pricing, penalties, collection, restructuring, reporting."""

    underwriting: UnderwritingConfig = D(UnderwritingConfig, "underwriting", "-")
    pricing: PricingConfig = D(PricingConfig, "pricing", "-")
    penalty: PenaltyConfig = D(PenaltyConfig, "penalty-rate rule", "-")
    collection: CollectionConfig = D(CollectionConfig, "collection regime", "-")
    restructuring: RestructuringConfig = D(RestructuringConfig, "restructuring", "-")
    reports_to_bureau: bool = D(
        False, "reports its loans to the credit bureau voluntarily", "pre-2019 most online lenders did not"
    )
    complies_with_conduct_rules: bool = D(
        True,
        "follows the regulator's collection-conduct rules whatever the fines; false: weighs them, breaching while "
        "the expected fine (inspection probability x fine) is below its gain from breaching",
        "scenario choice; Becker (1968) for the weighing",
    )


class RuleChange(Section):
    """``{month: m, set: {...}}``: from month m, these keys take these values (deep-merged)."""

    month: int = P(
        1, -10_000, 10_000, "month the change takes effect (month 1 = first after burn-in)", "scenario choice"
    )
    set: dict[str, Any] = D({}, "keys to change, as in the section they apply to", "scenario choice")


class PlatformOverride(Section):
    platforms: list[int] = D([], "indices of the platforms (0 = largest)", "scenario choice")
    set: dict[str, Any] = D({}, "policy keys to change for these platforms", "scenario choice")


class PlatformsConfig(Section):
    count: int = P(8, 1, 64, "number of platforms", "a handful of large lenders hold most of the market")
    size_concentration: float = P(
        1.0, 0.0, 5.0, "Zipf exponent of platforms' initial market shares", "concentrated market"
    )
    capital_ratio: float = P(0.15, 0.0, 10.0, "initial equity as a share of the expected loan book", "calibration")
    expected_approval_rate: float = P(
        0.7,
        0.0,
        1.0,
        "approval rate assumed when sizing the expected loan book at the start",
        "calibration: about the baseline's approval rate",
    )
    capital_dispersion: float = P(0.3, 0.0, 3.0, "s.d. of log initial capital ratio across platforms", "calibration")
    funding_ratio: float = P(
        1.3, 0.0, 20.0, "initial investor funding as a share of the expected loan book", "calibration"
    )
    funding_sensitivity: float = P(
        0.05,
        0.0,
        1.0,
        "monthly funding flow per unit of (reputation - funding_reputation_neutral - "
        "funding_distress_weight x distress)",
        "calibration",
    )
    funding_reputation_neutral: float = P(
        0.5, 0.0, 1.0, "reputation at which investor funding neither flows in nor out", "calibration"
    )
    funding_distress_weight: float = P(
        2.0, 0.0, 100.0, "weight of distress against reputation in funding flows", "calibration"
    )
    max_funding_multiple: float = P(
        2.0,
        0.0,
        100.0,
        "most investor funding a platform takes, as a multiple of its initial funding",
        "calibration: funding beyond the book's needs earns nothing",
    )
    distress_capital_ratio: float = P(
        0.05,
        0.0,
        1.0,
        "capital/book at and above which borrowers see no distress; distress rises to 1 as capital falls to nothing",
        "calibration: a thin buffer is seen as a failing lender",
    )
    run_overdue_tolerance: float = P(
        0.08,
        0.0,
        1.0,
        "overdue rate by balance (M1+) above which a platform's investors start to withdraw",
        "calibration: above the baseline's 5-7% and the 2021-23 listed lenders' 3-5% (FACTS: Lexin, Qifu)",
    )
    run_overdue_sensitivity: float = P(
        0.5,
        0.0,
        100.0,
        "share of funding withdrawn a month per unit of overdue rate above run_overdue_tolerance (0.5: 0.5% "
        "a month per point)",
        "calibration; Huang (HKUST IEMS Thought Leadership Brief 61, 2022): a few defaults could drain a "
        "platform's reserve fund and start a run by its investors",
    )
    run_contagion: float = P(
        0.25,
        0.0,
        10.0,
        "share of funding withdrawn a month per unit share of platforms that failed last month",
        "calibration; contagion of one platform's failure to the others: Geng Cheng, Leite & Caldieraro (2020, "
        "the 2015 Ezubao scandal); about 150 platforms failed in June-July 2018 (Online Lending House, via FT)",
    )
    provision_rates: list[float] = D(
        [0.03, 0.25, 0.5, 0.7, 0.85],
        "loan-loss allowance as a share of principal by bucket (current, M1, M2, M3, M3+), each in [0, 1]: "
        "the expected loss charged to capital as loans go bad",
        "expected-credit-loss provisioning (ASC 326 CECL, used by the US-listed Chinese online lenders; IFRS 9); "
        "the rates approximate the baseline's roll rates to charge-off times the loss given default",
    )
    funding_spread_annual: float = P(
        0.0415,
        0.0,
        1.0,
        "investors' required yield over the benchmark rate (annual fraction): the cost of funds is "
        "benchmark + this, so it moves with the benchmark",
        "P2P investor yields of 8-10% (WDZJ, 2015-19) against a one-year benchmark of 4.35%: 8% at the 3.85% LPR",
    )
    operating_cost_annual: float = P(0.04, 0.0, 1.0, "operating cost as a share of the book (annual)", "calibration")
    min_funding_ratio: float = P(
        0.1, 0.0, 1.0, "a platform fails when funding falls below this share of its initial funding", "calibration"
    )
    reputation_recovery: float = P(0.05, 0.0, 1.0, "monthly drift of reputation back towards 1", "calibration")
    reputation_per_complaint: float = P(
        0.05,
        0.0,
        100.0,
        "reputation loss per 100 complaints per 1,000 live loans a month",
        "calibration: collection restrictions reduce unsecured credit (Fedaseyeu 2020; Fonseca, Strair & Zafar "
        "2017), so the complaints of freer collection may not cost it more lending (through investors' funding) "
        "than its recoveries bring",
    )
    recovery_months: int = P(
        12, 0, 120, "months after charge-off during which recoveries are collected", "industry practice"
    )
    recovery_due_share: float = P(
        0.03,
        0.0,
        1.0,
        "share of the charged-off balance demanded each recovery month",
        "calibration: recoveries of 10-30% of charged-off balances, typical of unsecured debt",
    )
    on_failure: Literal["servicer", "unserviced"] = D(
        "servicer", "what happens to a failed platform's book", "specification"
    )
    charge_off_dpd: int = P(
        180,
        90,
        720,
        "days past due at which a loan is charged off (multiple of 30)",
        "US card issuers at 180 (sources.md)",
    )
    accelerate_at_default: bool = D(
        True,
        "call a loan in when it crosses 90 days past due: all its principal falls due, and it stays past due until "
        "paid in full",
        "acceleration clauses (提前到期) are standard in Chinese consumer-loan contracts; lenders report such loans "
        "as non-performing until settled",
    )
    instalment_tolerance: float = P(
        0.9,
        0.01,
        1.0,
        "share of an instalment whose payment counts as paying it when days past due are counted",
        "FFIEC Uniform Retail Credit Classification Policy (2000): a payment of 90% or more of the contractual "
        "payment may be counted as a full payment",
    )
    term_months: list[int] = D([3, 6, 12, 24], "loan terms offered (months)", "Chinese online consumer loans")
    term_weights: list[float] = D([0.2, 0.3, 0.35, 0.15], "share of applications choosing each term", "calibration")
    policy: PlatformPolicy = D(PlatformPolicy, "policy of every platform", "-")
    overrides: list[PlatformOverride] = D([], "policy changes for some platforms", "scenario choice")
    schedule: list[RuleChange] = D([], "policy changes over time, for every platform", "scenario choice")

    @model_validator(mode="after")
    def _check(self) -> PlatformsConfig:
        if self.charge_off_dpd % 30:
            raise ValueError(f"charge_off_dpd must be a multiple of 30, got {self.charge_off_dpd}")
        if len(self.term_months) != len(self.term_weights) or not self.term_months:
            raise ValueError("term_months and term_weights must be non-empty and of equal length")
        if min(self.term_months) < 1 or min(self.term_weights) < 0 or sum(self.term_weights) <= 0:
            raise ValueError("term_months must be >= 1 and term_weights >= 0 with a positive sum")
        if len(self.provision_rates) != 5 or not all(0.0 <= r <= 1.0 for r in self.provision_rates):
            raise ValueError(
                f"provision_rates must be 5 shares in [0, 1] (current, M1, M2, M3, M3+), got {self.provision_rates}"
            )
        for i, ov in enumerate(self.overrides):
            bad = [k for k in ov.platforms if not 0 <= k < self.count]
            if bad:
                raise ValueError(f"overrides[{i}].platforms: {bad} outside 0..{self.count - 1}")
        for path, change in _scheduled(self.schedule, "schedule") + _scheduled(self.overrides, "overrides"):
            _validate_change(PlatformPolicy, self.policy, change, path)
        return self


# --------------------------------------------------------------------------- regulator


class ForbearanceMandate(Section):
    enabled: bool = D(
        False,
        "payment holidays, on request, for borrowers in hardship (jobless, or short of essentials and debts) "
        "during declared shocks",
        "2020 forbearance (St. Louis Fed 2021)",
    )
    holiday_months: int = P(3, 1, 24, "months of payment holiday a grant gives", "2020 programmes: 3-6 months")
    max_holiday_months: int = P(
        12,
        1,
        120,
        "most months of holiday per loan: a grant is renewed while the borrower's hardship lasts",
        "CARES Act s. 4022 (2020): forbearance for up to 180 days, extended by up to 180 more on request",
    )
    keep_paying: bool = D(
        True,
        "a holiday is an option: a borrower whose income this month covers more than their other debts pays "
        "the suspended instalment anyway (a prepayment of principal); false suspends every payment",
        "Cherry, Jiang, Matvos, Piskorski & Seru (2021, BPEA): a fifth of US borrowers in forbearance kept "
        "making full payments - forbearance worked as a credit line drawn when needed",
    )
    holiday_interest: Literal["waived", "capitalised"] = D(
        "waived",
        "who bears the interest of a holiday: the lender (waived, reported as relief_cost) or the borrower "
        "(capitalised: added to the principal and paid over the rest of the term)",
        "programmes differed: the CARES Act set federal student loans at 0% during the suspension (s. 3513), "
        "while many 2020 deferrals let interest accrue; waived is the mandate a regulator imposes on lenders, "
        "and capitalised is the option that makes forbearance a pure deferral",
    )
    max_dpd: int = P(
        30,
        0,
        720,
        "latest days past due at which a loan can enter a holiday (30: current or in its first month of arrears)",
        "2020 programmes covered borrowers hit by the shock, current or in early arrears; status frozen, not "
        "cleared (CARES Act s. 4021); a late-stage loan would only have its charge-off postponed",
    )


class EarlyWarning(Section):
    enabled: bool = D(False, "system-wide early warning", "specification")
    overdue_line: float = P(
        0.12, 0.0, 1.0, "market overdue rate (count) that triggers tightening", "calibration: above the baseline level"
    )
    cutoff_raise: float = P(0.3, 0.0, 5.0, "cut-off increase imposed while triggered", "calibration")


class RegulatorRules(Section):
    apr_cap_annual: float = P(
        0.36,
        0.0,
        10.0,
        "maximum APR (annual fraction)",
        "36% (2015 judicial interpretation; Dec 2017 cash-loan notice)",
    )
    apr_cap_lpr_multiple: float | None = P(
        None,
        0.0,
        100.0,
        "if set, the APR cap is also at most this multiple of the benchmark rate",
        "4 x LPR since Aug 2020 (sources.md)",
    )
    penalty_cap_annual: float = P(
        1.0, 0.0, 10.0, "cap on the penalty rate (annualised; 1.0 = 100%, effectively none)", "2017 rules; sources.md"
    )
    overdue_charge_cap_annual: float | None = P(
        None,
        0.0,
        10.0,
        "if set, overdue interest, penalty and fees together are charged at most this annual rate on a past-due "
        "amount (None: no such cap)",
        "Provisions on Private Lending Cases (Supreme People's Court, 2015), art. 30: overdue interest, damages "
        "and other fees together within 24% a year",
    )
    overdue_charge_cap_lpr_multiple: float | None = P(
        None,
        0.0,
        100.0,
        "if set, the combined overdue charge is also at most this multiple of the benchmark rate",
        "the same Provisions as revised 20 Aug 2020, art. 29: 4 x the one-year LPR",
    )
    all_in_cap_annual: float | None = P(
        None,
        0.0,
        10.0,
        "if set, the all-in annualised cost of a loan - its APR, and the overdue charge on a past-due amount - "
        "is at most this",
        "Notice on Regulating and Rectifying Cash Loan Business (Dec 2017, Zhengfa [2017] 141): interest and "
        "fees together within 36% a year",
    )
    allow_compounding: bool = D(
        True, "whether penalties may compound", "PBOC 2017 abolished compounding card penalties"
    )
    max_contacts_month: float | None = P(
        None, 0.0, 1000.0, "most collection contacts a month per loan", "2026 CBA guideline; Reg F: 7 calls in 7 days"
    )
    ban_third_party: bool = D(False, "no collection through third parties", "2026 CBA guideline")
    ban_night_contact: bool = D(False, "no contact 22:00-08:00", "2026 CBA guideline")
    bureau_mandate_share: float = P(
        0.0, 0.0, 1.0, "share of platforms (largest first) that must report to the bureau", "Sept 2019 mandate"
    )
    forbearance: ForbearanceMandate = D(ForbearanceMandate, "forbearance mandate", "-")
    education_reach_monthly: float = P(
        0.0, 0.0, 1.0, "share of borrowers an education campaign reaches each month", "scenario choice"
    )
    education_gain: float = P(
        0.1,
        0.0,
        1.0,
        "literacy gain of a reached borrower, times (1 - literacy)",
        "Karlan et al.; sources.md -10% claim",
    )
    education_cost_per_person: float = P(5.0, 0.0, 1e4, "cost per person reached (CNY)", "calibration")
    reminders: bool = D(False, "personalised repayment reminders (all platforms)", "Karlan, Morten & Zinman")
    reminder_effect: float = P(
        0.5, 0.0, 1.0, "share of inattentive misses a reminder prevents", "Karlan, Morten & Zinman"
    )
    inspection_base: float = P(0.02, 0.0, 1.0, "monthly inspection probability of a platform", "calibration")
    inspection_per_complaint: float = P(
        0.02, 0.0, 10.0, "added inspection probability per complaint per 1,000 live loans", "specification"
    )
    fine_revenue_share: float = P(
        0.05,
        0.0,
        100.0,
        "fine per violation found in an inspection (a breached conduct rule, or harassment above the tolerance), "
        "as a share of the platform's annual revenue (12 x the month's interest and penalty income)",
        "PIPL (2021) art. 66: a serious violation is fined up to 5% of the previous year's turnover, besides "
        "confiscation of illegal gains (collection through borrowers' contact lists is such a violation); a share "
        "of revenue keeps fines in proportion to the platform at any population size",
    )
    breach_gain_share: float = P(
        0.1,
        0.0,
        1e6,
        "median gain a platform that weighs the conduct rules expects from breaching them, as a share of its "
        "monthly revenue (the extra collections of the conduct it intends over the compliant one)",
        "calibration: no direct estimate; Becker (1968): an offender breaches while the gain exceeds detection "
        "probability x penalty",
    )
    breach_gain_dispersion: float = P(
        1.0,
        0.0,
        5.0,
        "s.d. of the log gain from breaching across platforms (drawn once per platform)",
        "calibration: platforms differ in what aggressive collection brings them, so the share that complies "
        "responds smoothly to fines and inspections",
    )
    incident_tolerance: float = P(
        10.0,
        0.0,
        1e6,
        "harassment incidents per 1,000 live loans a month above which an inspection finds a violation (when "
        "conduct rules are in force)",
        "supervisors act on patterns, not single incidents",
    )
    revoke_after_violations: int = P(
        3, 1, 1000, "inspections with violations before the licence is revoked", "calibration"
    )
    min_capital_ratio: float = P(
        0.05, 0.0, 1.0, "capital/book below which a platform may not originate", "minimum capital rules"
    )
    bureau_record_months: int = P(
        60,
        0,
        600,
        "months a reported default stays on the bureau record",
        "Regulation on the Administration of Credit Investigation Industry (2013), art. 16: negative "
        "information is kept five years",
    )
    report_failed_books: bool = D(
        False,
        "once a platform fails, its live loans are reported to the bureau (a missed payment then makes a record, "
        "and costs the borrower default_cost_bureau), whether or not the platform reported before",
        "Internet Financial Risk Rectification Office notice of Aug 2018 on reporting P2P borrowers' debt evasion: "
        "evaders of failed platforms' loans entered into the credit reference system and Credit China; PBOC Sept "
        "2019: P2P platforms' information collected whether they operate or not",
    )
    early_warning: EarlyWarning = D(EarlyWarning, "system-wide early warning", "-")


class RegulatorConfig(RegulatorRules):
    schedule: list[RuleChange] = D([], "rule changes over time", "scenario choice")

    @model_validator(mode="after")
    def _check_schedule(self) -> RegulatorConfig:
        base = RegulatorRules.model_validate(self.model_dump(exclude={"schedule"}))
        for path, change in _scheduled(self.schedule, "schedule"):
            _validate_change(RegulatorRules, base, change, path)
        return self


# --------------------------------------------------------------------------- scenario


class ScenarioConfig(Section):
    name: str = D("baseline", "scenario name", "-")
    description: str = D("", "what the scenario represents", "-")
    months: int = P(120, 1, 1200, "months simulated after burn-in", "specification")
    burn_in: int = P(
        24, 0, 600, "months simulated first to build the loan book; output kept, flagged is_burn_in", "specification"
    )
    economy: EconomyConfig = D(EconomyConfig, "economy", "-")
    borrowers: BorrowerConfig = D(BorrowerConfig, "borrowers", "-")
    behaviour: BehaviourConfig = D(BehaviourConfig, "behaviour", "-")
    platforms: PlatformsConfig = D(PlatformsConfig, "platforms", "-")
    regulator: RegulatorConfig = D(RegulatorConfig, "regulator", "-")

    @model_validator(mode="after")
    def _within_the_run(self) -> ScenarioConfig:
        # Shocks and scheduled changes act at months after burn-in; one outside 1..months would
        # silently never happen (or, before month 1, change the burn-in: a value in force from the
        # start belongs in the section itself), so the run would not be the scenario its file says.
        last = self.months
        for i, shock in enumerate(self.economy.shocks):
            if shock.start > last:
                raise ValueError(
                    f"@economy.shocks[{i}].start: {shock.start} is after the last month of the run "
                    f"(months: {last}), so the shock would never happen; allowed: 1 to {last}"
                )
        for section in ("regulator", "platforms"):
            for i, change in enumerate(getattr(self, section).schedule):
                if not 1 <= change.month <= last:
                    where = (
                        "before month 1, the first month after burn-in (a value in force from the start is set "
                        f"in {section} itself)"
                        if change.month < 1
                        else f"after the last month of the run (months: {last}), so it would never apply"
                    )
                    raise ValueError(f"@{section}.schedule[{i}].month: {change.month} is {where}; allowed: 1 to {last}")
        return self

    def with_overrides(self, overrides: dict[str, Any]) -> ScenarioConfig:
        """Return a new validated config with dotted keys replaced.

        Keys are dotted paths as in comparison and sweep specs: ``{"borrowers.count": 500}``,
        ``{"economy.shocks[0].start": 6}``; a key may name a whole section or list
        (``{"economy.shocks": [...]}``).

        Raises:
            ConfigError: a key the configuration does not have, or a value it does not allow.
        """
        from .keys import KeyPathError, set_value

        data = self.model_dump()
        for dotted, value in overrides.items():
            try:
                set_value(data, dotted, value, must_exist=True)
            except KeyPathError as err:
                raise ConfigError(f"override: {dotted}: {err}") from None
        return validate_scenario(data, source="override")


# --------------------------------------------------------------------------- schedules


def _scheduled(items: list, name: str) -> list[tuple[str, dict]]:
    return [(f"{name}[{i}].set", item.set) for i, item in enumerate(items)]


def deep_merge(base: dict, over: dict) -> dict:
    """Recursively merge ``over`` into a copy of ``base``; lists and scalars are replaced."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_changes(model_cls: type[Section], base: Section, changes: list[dict]) -> Section:
    """Validate ``base`` with each partial change dict deep-merged in turn."""
    data = base.model_dump()
    for change in changes:
        data = deep_merge(data, change)
    return model_cls.model_validate(data)


def _validate_change(model_cls: type[Section], base: Section, change: dict, path: str) -> None:
    try:
        apply_changes(model_cls, base, [change])
    except ValidationError as err:
        e = err.errors()[0]
        loc = [str(p) for p in e["loc"]]
        text = describe_problem(e)
        if text.startswith("@"):  # a cross-field rule of the changed section names its own key
            sub, text = text[1:].split(": ", 1)
            loc.append(sub)
        raise ValueError(f"@{'.'.join([path, *loc])}: {text}") from None


def _ordered(section: Section, low: str, high: str, at: str | None = None) -> None:
    """Refuse ``section.low > section.high``: an error at ``at`` (default ``high``) naming both keys and values."""
    lo, hi = getattr(section, low), getattr(section, high)
    if hi >= lo:
        return
    if at == low:
        raise ValueError(f"@{low}: {lo!r} is above {high} ({hi!r}); allowed: {low} <= {high}")
    raise ValueError(f"@{high}: {hi!r} is below {low} ({lo!r}); allowed: {low} <= {high}")


# --------------------------------------------------------------------------- loading


def describe_problem(e: dict) -> str:
    """What is wrong with a value and what is allowed, in words a scenario author understands.

    Args:
        e: One entry of pydantic's ``ValidationError.errors()``.
    """
    kind, ctx = e["type"], e.get("ctx", {})
    given = e.get("input")
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see docs/model.md for the allowed keys)"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"{given!r} is out of range: {e['msg'].lower()}"
    if kind == "literal_error":
        return f"{given!r} is not allowed: expected {ctx.get('expected')}"
    if kind == "missing":
        return "required key is missing"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{given!r} has the wrong type: {e['msg'].lower()}"
    msg = e["msg"]
    return msg.removeprefix("Value error, ")


def format_error(err: ValidationError, origins: dict[tuple, str], default_file: str, index: int = 0) -> str:
    """The one-line message ``FILE: dotted.key.path: what is allowed`` for a validation error.

    Args:
        err: The error of validating a scenario or spec.
        origins: Which file set each key path (``extends:`` chains); may be empty.
        default_file: The file named when no origin is known.
        index: Which of the errors to describe (the first by default).
    """
    e = err.errors()[index]
    loc = [str(p) for p in e["loc"]]
    text = describe_problem(e)
    full = list(e["loc"])
    if text.startswith("@"):  # a nested path raised from a validator (schedules)
        sub, text = text[1:].split(": ", 1)
        loc = loc + sub.split(".")
        for part in sub.split("."):  # "schedule[0]" -> "schedule", 0: the file lookup needs real keys
            key, *idx = part.replace("]", "").split("[")
            full += [key] + [int(i) for i in idx]
    path = ".".join(_dotted(loc))
    return f"{_origin(origins, tuple(full), default_file)}: {path}: {text}"


def _dotted(loc: list[str]) -> list[str]:
    out: list[str] = []
    for p in loc:
        if p.isdigit() and out:
            out[-1] += f"[{p}]"
        else:
            out.append(p)
    return out


def _origin(origins: dict[tuple, str], loc: tuple, default: str) -> str:
    """The file that set the deepest known prefix of ``loc`` (for ``extends`` chains)."""
    for n in range(len(loc), 0, -1):
        if loc[:n] in origins:
            return origins[loc[:n]]
    return default


def _record(data: Any, file: str, prefix: tuple, origins: dict[tuple, str]) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            origins[prefix + (key,)] = file
            _record(value, file, prefix + (key,), origins)


# Limits on what a scenario or spec file may be. Real files are a few KB, a few levels deep; these
# only stop a wrong file (a log, a binary, a generated bomb) before it exhausts memory or the stack.
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 200_000


class _Refused(yaml.YAMLError):
    """A problem found while reading YAML that PyYAML itself accepts; ``str`` is the message."""


class _StrictLoader(yaml.SafeLoader):
    """``yaml.safe_load`` semantics, refusing a key set twice in one mapping and runaway documents.

    PyYAML keeps the last of two equal keys without a word, so a key set twice in a long file runs
    a value its author may not have meant; here it is an error naming the key and both lines.
    Nesting deeper than :data:`MAX_DEPTH` (PyYAML would recurse until the interpreter's stack
    overflows) and documents whose aliases expand to more than :data:`MAX_NODES` nodes (a
    "billion laughs" file) are refused as well.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):  # noqa: ANN001 - PyYAML's signature
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _Refused(f"line {mark.line + 1}: nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self):
        node = super().compose_document()
        _check_nodes(node)
        return node


def _check_nodes(root: yaml.Node) -> None:
    """Refuse duplicate keys (with their key path and lines) and over-large alias expansions."""
    stack: list[tuple[yaml.Node, tuple]] = [(root, ())]
    seen = 0
    while stack:
        node, path = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise _Refused(f"expands to more than {MAX_NODES:,} values (aliases?); a scenario is far smaller")
        if isinstance(node, yaml.MappingNode):
            lines: dict[Any, yaml.Mark] = {}
            for key, value in node.value:
                if key.tag == "tag:yaml.org,2002:merge":  # '<<: *defaults' merges; later keys override by design
                    stack.append((value, path))
                    continue
                name = key.value if isinstance(key, yaml.ScalarNode) else None
                mark = key.start_mark
                if name is not None and name in lines:
                    dotted = ".".join(_dotted([*path, name]))
                    first = lines[name]
                    where = (
                        f"line {mark.line + 1} (columns {first.column + 1} and {mark.column + 1})"
                        if first.line == mark.line
                        else f"lines {first.line + 1} and {mark.line + 1}"
                    )
                    raise _Refused(f"@{dotted}: set twice, on {where}; keep one (YAML would silently use the last)")
                if name is not None:
                    lines[name] = mark
                stack.append((value, (*path, name if name is not None else "?")))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*path, str(i))) for i, item in enumerate(node.value))


def read_yaml(path: Path, shown: str) -> dict:
    """Read a YAML mapping with ``safe_load`` semantics; every problem is a one-line :class:`ConfigError`.

    Besides syntax, refused: a file that is not a regular file or is larger than
    :data:`MAX_FILE_BYTES`, bytes that are not UTF-8 text, a key set twice in one mapping,
    pathologically nested or alias-expanded documents, and an empty file (or one of comments only:
    almost always a truncated save or the wrong path, which would otherwise run the defaults
    without a word).

    Args:
        path: The file.
        shown: How the file is named in messages.
    """
    try:
        if not path.is_file() and path.exists():
            raise ConfigError(f"{shown}: not a regular file; give a YAML file")
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{shown}: file not found") from None
    except OSError as err:
        raise ConfigError(f"{shown}: cannot read: {err.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{shown}: larger than {MAX_FILE_BYTES // 2**20} MB; a scenario or spec is a few KB of YAML")
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark (some Windows editors) is not content
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ConfigError(
            f"{shown}: not UTF-8 text (byte 0x{raw[err.start]:02x} on line {line}); save the file as UTF-8"
        ) from None
    loader = None
    try:
        loader = _StrictLoader(text)  # reads the whole text: refuses control characters here
        data = loader.get_single_data()
    except _Refused as err:
        message = str(err)
        if message.startswith("@"):
            key, message = message[1:].split(": ", 1)
            raise ConfigError(f"{shown}: {key}: {message}") from None
        raise ConfigError(f"{shown}: {message}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{shown}: YAML syntax error{where}: {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()
    if data is None:
        raise ConfigError(
            f"{shown}: the file is empty (or holds only comments); write the keys to change, e.g. "
            "'extends: baseline.yaml' to run the baseline"
        )
    if not isinstance(data, dict):
        raise ConfigError(f"{shown}: top level must be a mapping of keys, got {type(data).__name__}")
    return data


def _resolve(path: Path, chain: list[Path], origins: dict[tuple, str]) -> dict:
    shown = str(path)
    real = path.resolve()
    if real in chain:
        cycle = " -> ".join(str(p) for p in chain[chain.index(real) :] + [real])
        raise ConfigError(f"{shown}: extends: cycle {cycle}")
    data = read_yaml(path, shown)
    embed_series(data, path, shown)  # a replay CSV is read relative to the file that names it
    parent = data.pop("extends", None)
    if parent is None:
        _record(data, shown, (), origins)
        return data
    if not isinstance(parent, str):
        raise ConfigError(f"{shown}: extends: must be a file path (string), got {parent!r}")
    parent_path = path.parent / parent
    if not parent_path.exists():
        raise ConfigError(f"{shown}: extends: file '{parent}' not found (looked for {parent_path})")
    if not parent_path.is_file():
        # A folder, /dev/zero or a pipe exists: "not found" would send the user looking for a typo.
        raise ConfigError(f"{shown}: extends: '{parent}' is not a regular file ({parent_path}); give a YAML file")
    base = _resolve(parent_path, chain + [real], origins)
    _record(data, shown, (), origins)
    return deep_merge(base, data)


def validate_scenario(data: dict, source: str = "<dict>", origins: dict | None = None) -> ScenarioConfig:
    """Validate a plain dict as a scenario, raising :class:`ConfigError` with one line."""
    try:
        return ScenarioConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_error(err, origins or {}, source)) from None


def load_scenario(path: str | Path) -> ScenarioConfig:
    """Read a scenario YAML file (following ``extends:``), validate it and return it frozen.

    Raises:
        ConfigError: one line naming the file, the dotted key path and what is allowed.
    """
    path = Path(path)
    origins: dict[tuple, str] = {}
    data = _resolve(path, [], origins)
    data.setdefault("name", path.stem)
    return validate_scenario(data, str(path), origins)


# --------------------------------------------------------------------------- docs


def field_bounds(field) -> tuple[float | None, float | None]:
    """The (ge, le) range declared on a pydantic field, None where open."""
    lo = hi = None
    for m in field.metadata:
        lo = getattr(m, "ge", lo)
        hi = getattr(m, "le", hi)
    return lo, hi


def parameter_rows(model_cls: type[BaseModel] = ScenarioConfig, prefix: str = "") -> list[dict]:
    """Every leaf parameter with its dotted key, default, range, description and source."""
    rows = []
    for name, field in model_cls.model_fields.items():
        key = f"{prefix}{name}"
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, Section):
            rows += parameter_rows(ann, key + ".")
            continue
        lo, hi = field_bounds(field)
        extra = field.json_schema_extra or {}
        default = field.default
        if isinstance(default, list):
            default = [d.model_dump() if isinstance(d, BaseModel) else d for d in default]
        rows.append(
            {
                "key": key,
                "default": default,
                "min": lo,
                "max": hi,
                "description": field.description or "",
                "source": extra.get("source", ""),
            }
        )
    return rows


def parameter_table_markdown() -> str:
    """The parameter table of docs/model.md."""
    lines = ["| key | default | range | meaning (unit) | source / reason |", "|---|---|---|---|---|"]
    for r in parameter_rows():
        rng = "" if r["min"] is None and r["max"] is None else f"[{_num(r['min'])}, {_num(r['max'])}]"
        lines.append(f"| `{r['key']}` | `{r['default']}` | {rng} | {r['description']} | {r['source']} |")
    return "\n".join(lines)


def _num(x: Any) -> str:
    return "-" if x is None else f"{x:g}"


def commented_yaml(model: BaseModel | None = None, indent: int = 0) -> str:
    """The full config as YAML, every key with its meaning, range and source as a comment."""
    model = model if model is not None else ScenarioConfig(name="baseline")
    pad = "  " * indent
    lines = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        extra = field.json_schema_extra or {}
        lo, hi = field_bounds(field)
        rng = "" if lo is None and hi is None else f" [{_num(lo)}, {_num(hi)}]"
        src = extra.get("source", "")
        note = f"{field.description or ''}{rng}" + (f"; source: {src}" if src and src != "-" else "")
        if isinstance(value, Section):
            lines.append(f"{pad}# {note}")
            lines.append(f"{pad}{name}:")
            lines.append(commented_yaml(value, indent + 1))
            continue
        if isinstance(value, list):
            value = [v.model_dump() if isinstance(v, BaseModel) else v for v in value]
        dumped = yaml.safe_dump({name: value}, default_flow_style=True, sort_keys=False, width=10_000).strip()
        if dumped.startswith("{") and dumped.endswith("}"):
            dumped = dumped[1:-1]
        lines.append(f"{pad}{dumped}  # {note}")
    return "\n".join(lines)


DOC_MARKERS = ("<!-- parameters:start -->", "<!-- parameters:end -->")


def document_parameters(text: str) -> str:
    """``text`` (docs/model.md) with the generated parameter table between its markers."""
    start, end = DOC_MARKERS
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{parameter_table_markdown()}\n{end}{tail}"

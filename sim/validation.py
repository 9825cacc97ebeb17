"""The stylized facts of MODEL.md as paired experiments, and the baseline calibration targets.

Each fact is checked by one or more :class:`Contrast`\\ s: two arms (scenario files, possibly
combined with a shock and overrides) run with the *same* replication seeds (common random
numbers), an outcome computed on each run, and the per-replication difference (treated minus
control). A contrast *holds* when the 95% t-interval of the mean difference lies entirely on the
expected side of zero (for some contrasts, beyond a stated minimum size) and, where the claim
has one, the relative size stays within a bound ("a little", "sharply").

The same definitions serve ``tests/test_stylized_facts.py`` (small populations, within CI time)
and ``run.py validate`` (larger populations, more replications). Nothing here is tuned to a
particular seed: seeds come from ``SeedSequence(master).spawn(R)``.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .config import ScenarioConfig, load_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
MASTER_SEED = 20261122


# --------------------------------------------------------------------------- arms and runs

@dataclass(frozen=True)
class Arm:
    """A scenario file, optionally with a shock file's ``economy`` section and dotted overrides."""

    scenario: str  # relative to scenarios/
    shock: str | None = None
    overrides: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        parts = [Path(self.scenario).stem]
        if self.shock:
            parts.append(Path(self.shock).stem)
        parts += [f"{k}={v}" for k, v in self.overrides]
        return " + ".join(parts)

    def config(self, size: dict[str, Any]) -> ScenarioConfig:
        cfg = load_scenario(SCENARIOS / self.scenario)
        changes: dict[str, Any] = {k: list(v) if isinstance(v, tuple) else v for k, v in self.overrides}
        if self.shock:
            changes["economy.shocks"] = load_scenario(SCENARIOS / self.shock).economy.model_dump()["shocks"]
        changes.update(size)
        return cfg.with_overrides(changes)


@dataclass(frozen=True)
class Run:
    model: pd.DataFrame  # post burn-in months only
    vintages: pd.DataFrame
    platforms: pd.DataFrame


def run_arm(arm: Arm, size: tuple[tuple[str, Any], ...], replication: int, master: int) -> Run:
    """Run one arm for one replication (seed ``SeedSequence(master).spawn(...)[replication]``)."""
    from .model import LendingMarket

    seed = np.random.SeedSequence(master, spawn_key=(replication,))
    model = LendingMarket(arm.config(dict(size)), seed=seed).run()
    frame = model.model_frame()
    plat = model.platform_frame()
    return Run(frame[~frame["is_burn_in"]].reset_index(drop=True), model.vintage_frame(), plat[plat["month"] > 0])


# --------------------------------------------------------------------------- outcomes

Outcome = Callable[[Run], float]


def peak(column: str) -> Outcome:
    def f(run: Run) -> float:
        return float(run.model[column].max())
    f.__doc__ = f"peak {column}"
    return f


def _window(column: str, first: int, last: int | None, statistic: str) -> Outcome:
    """``statistic`` ("mean" or "sum") of a column over months ``first`` to ``last`` (default: the end)."""
    def f(run: Run) -> float:
        m = run.model
        sel = (m["month"] >= first) & (m["month"] <= (last if last is not None else m["month"].max()))
        return float(getattr(m.loc[sel, column], statistic)())
    span = f"months {first}-{last}" if last else f"from month {first}" if first > 1 else "all months"
    f.__doc__ = f"{'mean' if statistic == 'mean' else 'total'} {column}, {span}"
    return f


def mean(column: str, first: int = 1, last: int | None = None) -> Outcome:
    return _window(column, first, last, "mean")


def total(column: str, first: int = 1, last: int | None = None) -> Outcome:
    return _window(column, first, last, "sum")


def final(column: str) -> Outcome:
    def f(run: Run) -> float:
        return float(run.model[column].iloc[-1])
    f.__doc__ = f"{column} at the horizon"
    return f


def loss_rate(run: Run) -> float:
    """net losses (charge-offs - recoveries) / amount lent"""
    m = run.model
    return float((m["charge_offs"].sum() - m["recoveries"].sum()) / max(m["origination_amount"].sum(), 1.0))


def net_losses(run: Run) -> float:
    """net losses (charge-offs - recoveries, CNY)"""
    m = run.model
    return float(m["charge_offs"].sum() - m["recoveries"].sum())


def collection_yield(run: Run) -> float:
    """overdue amounts collected / overdue amount outstanding (monthly mean)"""
    m = run.model
    return float(m["collected_overdue"].sum() / max(m["overdue_amount"].shift(1).fillna(m["overdue_amount"]).sum(), 1.0))


def overdue_to_default(run: Run) -> float:
    """share of loans entering M1 that go on to default (product of mean roll rates M1->M2->M3->default)"""
    m = run.model
    return float(m["roll_m1_m2"].mean() * m["roll_m2_m3"].mean() * m["roll_m3_default"].mean())


def vintage_default(months_on_book: int, first_vintage: int) -> Outcome:
    def f(run: Run) -> float:
        v = run.vintages
        sel = (v["months_on_book"] == months_on_book) & (v["vintage"] >= first_vintage)
        rows = v[sel]
        return float((rows["cum_defaults"].sum()) / max(rows["loans"].sum(), 1))
    f.__doc__ = f"{months_on_book}-month default rate of vintages from month {first_vintage}"
    return f


def excess_lag(first: int, last: int, column: str = "overdue_balance_rate",
               driver: str = "unemployment_rate") -> Callable[[Run, Run], float]:
    """Months by which the shock's excess ``column`` lags its excess ``driver`` (centres of mass).

    The excess of a series is treated minus control, month by month, over the months where the
    driver's excess is positive and after; the centre of mass of a non-negative excess curve is a
    robust 'when', unlike the month of a noisy maximum.
    """
    def f(control: Run, treated: Run) -> float:
        sel = ((treated.model["month"] >= first) & (treated.model["month"] <= last)).to_numpy()
        months = treated.model["month"].to_numpy(float)[sel]
        d = np.clip(treated.model[driver].to_numpy() - control.model[driver].to_numpy(), 0.0, None)[sel]
        y = np.clip(treated.model[column].to_numpy() - control.model[column].to_numpy(), 0.0, None)[sel]
        return float((months * y).sum() / max(y.sum(), 1e-12) - (months * d).sum() / max(d.sum(), 1e-12))
    f.__doc__ = f"lag of excess {column} behind excess {driver} (months, centres of mass over months {first}-{last})"
    return f


# --------------------------------------------------------------------------- contrasts

@dataclass(frozen=True)
class Contrast:
    """One paired comparison: outcome(treated) - outcome(control) over common seeds.

    ``direction`` +1 means the claim is that the outcome rises, -1 that it falls. ``relative``
    compares treated / control - 1 of the replication means against ``(lo, hi)`` bounds (e.g. a
    fall of at most 10%: ``(-0.10, None)``). ``min_effect`` is the smallest mean difference in
    the claimed direction that counts (default: any beyond the interval).
    """

    fact: int
    claim: str
    control: Arm
    treated: Arm
    outcome: Outcome | None = None
    paired: Callable[[Run, Run], float] | None = None  # a statistic of both runs instead of a difference
    direction: int = 1
    min_effect: float = 0.0
    max_effect: float | None = None  # the interval's far edge must stay below this (claims of size)
    relative: tuple[float | None, float | None] | None = None
    unit: str = "pp"  # how the difference is shown: pp (x100), x1, %

    @property
    def outcome_doc(self) -> str:
        return ((self.paired or self.outcome).__doc__ or "").strip()


@dataclass
class Result:
    contrast: Contrast
    diffs: np.ndarray
    control_mean: float
    treated_mean: float
    ci: tuple[float, float] = field(init=False)
    holds: bool = field(init=False)
    reason: str = field(init=False, default="")

    def __post_init__(self) -> None:
        c, d = self.contrast, self.diffs
        r = len(d)
        mean_d = float(d.mean())
        half = float(stats.t.ppf(0.975, r - 1) * d.std(ddof=1) / np.sqrt(r)) if r > 1 else float("inf")
        self.ci = (mean_d - half, mean_d + half)
        low_side = self.ci[0] if c.direction > 0 else -self.ci[1]  # the interval's edge nearest zero, signed
        if c.direction == 0:  # a claim of no large change: the interval stays within the relative bounds
            lo, hi = c.relative or (None, None)
            lo_abs = -np.inf if lo is None else lo * abs(self.control_mean)
            hi_abs = np.inf if hi is None else hi * abs(self.control_mean)
            self.holds = lo_abs < self.ci[0] and self.ci[1] < hi_abs
            if not self.holds:
                self.reason = f"interval reaches beyond {_bounds_text(c.relative)} of the control"
            return
        high_side = self.ci[1] if c.direction > 0 else -self.ci[0]
        self.holds = low_side > c.min_effect
        if not self.holds:
            self.reason = "interval reaches the wrong side" if low_side <= 0 else "effect smaller than required"
        elif c.max_effect is not None and high_side > c.max_effect:
            self.holds = False
            self.reason = f"effect may exceed {c.max_effect:g}"
        if c.relative is not None and self.holds:
            rel = self.relative_change
            lo, hi = c.relative
            if (lo is not None and rel < lo) or (hi is not None and rel > hi):
                self.holds = False
                self.reason = f"relative change {rel:+.1%} outside {_bounds_text(c.relative)}"

    @property
    def mean(self) -> float:
        return float(self.diffs.mean())

    @property
    def relative_change(self) -> float:
        return self.treated_mean / self.control_mean - 1.0 if self.control_mean else float("nan")


def _bounds_text(b: tuple[float | None, float | None]) -> str:
    lo, hi = b
    if lo is not None and hi is not None:
        return f"[{lo:+.0%}, {hi:+.0%}]"
    return f">= {lo:+.0%}" if lo is not None else f"<= {hi:+.0%}"


BASE = Arm("baseline.yaml")
RECESSION = Arm("baseline.yaml", shock="shocks/recession.yaml")
V_SHOCK = Arm("baseline.yaml", shock="shocks/v_shock.yaml")
NO_BTR = Arm("baseline.yaml", overrides=(("borrowers.borrow_to_repay", 0.0), ("behaviour.pressure_borrow_push", 0.0)))


def contrasts() -> list[Contrast]:
    """The contrasts that make up the nine stylized facts of MODEL.md."""
    rec = "shocks/recession.yaml"
    collapse = "shocks/platform_collapse.yaml"
    return [
        # 1. unemployment -> overdue, with a lag; relief dampens it
        Contrast(1, "a recession raises the overdue rate", BASE, RECESSION,
                 mean("overdue_balance_rate", 12, 47)),
        Contrast(1, "overdue lags the economy's unemployment shock by a few months (1-12)", BASE, V_SHOCK,
                 paired=excess_lag(12, 40, column="overdue_rate", driver="unemployment_target"), min_effect=1.0, max_effect=12.0, unit="months"),
        Contrast(1, "90+ delinquency lags borrowers' realised unemployment", BASE, V_SHOCK,
                 paired=excess_lag(12, 40, column="m3plus_rate"), unit="months"),
        Contrast(1, "relief dampens the rise in overdue", RECESSION, Arm("shocks/recession_with_relief.yaml"),
                 mean("overdue_balance_rate", 12, 47), direction=-1),
        # 2. penalties
        Contrast(2, "compounding penalties raise defaults among stressed borrowers",
                 Arm("policies/penalty_none.yaml", shock=rec), Arm("policies/penalty_compounding.yaml", shock=rec),
                 overdue_to_default),
        Contrast(2, "a penalty cap lowers defaults", Arm("policies/penalty_compounding.yaml"),
                 Arm("policies/penalty_cap.yaml"), final("cum_default_rate"), direction=-1),
        Contrast(2, "... without a large fall in credit supply (at most 5%)", Arm("policies/penalty_compounding.yaml"),
                 Arm("policies/penalty_cap.yaml"), mean("origination_amount", 13), direction=0,
                 relative=(-0.05, None), unit="%"),
        # 3. scoring and bureau
        Contrast(3, "better scoring lowers serious (90+) overdue", BASE, Arm("policies/better_scoring.yaml"),
                 mean("m3plus_balance_rate", 13), direction=-1),
        Contrast(3, "better scoring lowers defaults", BASE, Arm("policies/better_scoring.yaml"),
                 final("cum_default_rate"), direction=-1),
        Contrast(3, "bureau reporting lowers overdue", BASE, Arm("policies/bureau_reporting.yaml"),
                 mean("overdue_balance_rate", 13), direction=-1),
        Contrast(3, "bureau reporting lowers defaults", BASE, Arm("policies/bureau_reporting.yaml"),
                 final("cum_default_rate"), direction=-1),
        # 4. collection
        Contrast(4, "aggressive collection raises short-run recoveries", BASE, Arm("policies/collection_aggressive.yaml"),
                 collection_yield),
        Contrast(4, "aggressive collection raises complaints", BASE, Arm("policies/collection_aggressive.yaml"),
                 total("complaints"), unit="x1"),
        Contrast(4, "aggressive collection raises harassment", BASE, Arm("policies/collection_aggressive.yaml"),
                 total("harassment_incidents"), unit="x1"),
        Contrast(4, "aggressive collection under enforcement raises fines",
                 Arm("policies/conduct_rules.yaml", overrides=(("platforms.policy.collection.regime", "regulated"),)),
                 Arm("policies/conduct_rules.yaml"), total("fines"), unit="x1"),
        Contrast(4, "conduct rules cut complaints sharply (by half or more)", Arm("policies/collection_aggressive.yaml"),
                 Arm("policies/conduct_rules.yaml", overrides=(("platforms.overrides", ()),)), total("complaints", 13),
                 direction=-1, relative=(None, -0.5), unit="%"),
        Contrast(4, "conduct rules lower recoveries somewhat (by under a third)", Arm("policies/collection_aggressive.yaml"),
                 Arm("policies/conduct_rules.yaml", overrides=(("platforms.overrides", ()),)), collection_yield,
                 direction=-1, relative=(-1 / 3, None), unit="%"),
        Contrast(4, "conduct rules reduce credit supply a little (by under 10%)", Arm("policies/collection_aggressive.yaml"),
                 Arm("policies/conduct_rules.yaml", overrides=(("platforms.overrides", ()),)),
                 mean("origination_amount", 13), direction=-1, relative=(-0.10, None), unit="%"),
        # 5. competition
        Contrast(5, "competition raises defaults of later vintages", BASE, Arm("policies/competition.yaml"),
                 vintage_default(12, 13)),
        Contrast(5, "competition raises later overdue rates", BASE, Arm("policies/competition.yaml"),
                 mean("overdue_balance_rate", 25)),
        # 6. multi-platform borrowing and borrowing to repay
        Contrast(6, "multi-platform borrowing and borrowing to repay raise the loss rate",
                 Arm("baseline.yaml", overrides=(("borrowers.max_loans", 1),)), BASE, loss_rate),
        Contrast(6, "borrowing to repay makes defaults cluster (more loans per defaulter)", NO_BTR, BASE,
                 mean("defaults_per_defaulter"), unit="x1"),
        # 7. platform failure and strategic default
        Contrast(7, "an unserviced collapse triggers strategic default", BASE, Arm(collapse),
                 total("strategic_withholding", 12), unit="x1"),
        Contrast(7, "bureau coverage damps the contagion", Arm(collapse),
                 Arm(collapse, overrides=(("regulator.bureau_mandate_share", 1.0),)),
                 total("strategic_withholding", 12), direction=-1, unit="x1"),
        # 8. forbearance and restructuring in a shock
        Contrast(8, "forbearance lowers peak overdue in a recession", RECESSION, Arm("policies/forbearance.yaml", shock=rec),
                 peak("overdue_balance_rate"), direction=-1),
        Contrast(8, "forbearance lowers final losses", RECESSION, Arm("policies/forbearance.yaml", shock=rec),
                 net_losses, direction=-1, unit="%"),
        Contrast(8, "restructuring lowers final losses", RECESSION, Arm("policies/restructuring.yaml", shock=rec),
                 net_losses, direction=-1, unit="%"),
        # 9. reminders and literacy
        Contrast(9, "education and reminders lower overdue modestly (by under 30%)", BASE, Arm("policies/education.yaml"),
                 mean("overdue_balance_rate", 13), direction=-1, relative=(-0.30, None)),
    ]


# --------------------------------------------------------------------------- calibration and claims

@dataclass(frozen=True)
class Target:
    """A calibration level from FACTS.md: holds when the 95% interval of the mean lies in [lo, hi]."""

    name: str
    arm: Arm
    outcome: Outcome
    lo: float
    hi: float
    source: str


def targets() -> list[Target]:
    return [
        Target("M1+ (1+ days) overdue rate by balance, baseline", BASE, mean("overdue_balance_rate"), 0.03, 0.07,
               "FACTS.md: 4.92% (Lexin Q2 2021); target 3-7%"),
        Target("M3+ (90+ days) overdue rate by balance, baseline", BASE, mean("m3plus_balance_rate"), 0.015, 0.03,
               "FACTS.md: 1.84% (Lexin 2021), 2.35% (Qifu 2023); target 1.5-3%"),
        Target("peak M1+ overdue rate by balance, recession", RECESSION, peak("overdue_balance_rate"), 0.08, 0.12,
               "FACTS.md: 8.08% in the 2020 shock; a recession should climb towards 8-12%"),
    ]


@dataclass(frozen=True)
class Claim:
    """A claim of the source articles, run as a scenario: the model's relative change, no verdict."""

    claim: str
    claimed: float  # relative change claimed (e.g. -0.30), or a ratio for ``ratio`` claims
    control: Arm | None
    treated: Arm
    outcome: Outcome
    note: str = ""


def overdue_amount_ratio(run: Run) -> float:
    """peak overdue amount / overdue amount in month 1"""
    m = run.model
    return float(m["overdue_amount"].max() / max(m["overdue_amount"].iloc[0], 1.0))


def claims() -> list[Claim]:
    rec = "shocks/recession.yaml"
    return [
        Claim("better credit evaluation cut the overdue rate 30%", -0.30, BASE, Arm("policies/better_scoring.yaml"),
              mean("overdue_balance_rate", 13), "scoring noise 0.8 -> 0.4"),
        Claim("a scoring model cut the overdue ratio 20%", -0.20, BASE,
              Arm("baseline.yaml", overrides=(("platforms.policy.underwriting.scoring_noise_sd", 0.0),)),
              mean("overdue_balance_rate", 13), "the limit: platforms see the latent risk type exactly"),
        Claim("collection optimisation raised collection success 30%", 0.30, BASE, Arm("policies/collection_targeted.yaml"),
              collection_yield, "targeted contacts at the same total (so the claimed -15% cost has no counterpart)"),
        Claim("borrower education cut the overdue rate 10%", -0.10, BASE, Arm("policies/education.yaml"),
              mean("overdue_balance_rate", 13), "5% of borrowers a month educated, personal reminders"),
        Claim("early warning cut losses 30%", -0.30, RECESSION, Arm("policies/early_warning.yaml", shock=rec),
              net_losses, "in the recession, where the warning line is crossed"),
        Claim("overdue amount up 8x", 8.0, None, Arm("shocks/overdue_surge_8x.yaml"), overdue_amount_ratio,
              "boom with competition, recession and collapse wave; peak / month 1"),
    ]


# --------------------------------------------------------------------------- evaluation

def size_overrides(borrowers: int, months: int) -> tuple[tuple[str, Any], ...]:
    return (("borrowers.count", borrowers), ("months", months))


def run_arms(arms: Sequence[Arm], replications: int, borrowers: int, months: int = 60, master: int = MASTER_SEED,
             workers: int = 1, progress: Callable[[int, int], None] | None = None) -> dict[tuple[Arm, int], Run]:
    """Run each arm once per replication; replication r of every arm uses the same seed."""
    size = size_overrides(borrowers, months)
    unique = sorted(set(arms), key=lambda a: a.label)
    jobs = [(a, r) for a in unique for r in range(replications)]
    runs: dict[tuple[Arm, int], Run] = {}
    if workers > 1:
        # forkserver: forking a process that already runs threads (BLAS, pytest) can deadlock
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
            futures = {pool.submit(run_arm, a, size, r, master): (a, r) for a, r in jobs}
            for i, fut in enumerate(futures):
                runs[futures[fut]] = fut.result()
                if progress:
                    progress(i + 1, len(jobs))
    else:
        for i, (a, r) in enumerate(jobs):
            runs[(a, r)] = run_arm(a, size, r, master)
            if progress:
                progress(i + 1, len(jobs))
    return runs


def evaluate(selected: Sequence[Contrast], replications: int, borrowers: int, months: int = 60,
             master: int = MASTER_SEED, workers: int = 1,
             progress: Callable[[int, int], None] | None = None) -> list[Result]:
    """Run every arm the contrasts need (each arm and replication once) and evaluate them."""
    runs = run_arms([a for c in selected for a in (c.control, c.treated)], replications, borrowers, months, master,
                    workers, progress)
    return evaluate_runs(selected, runs, replications)


def evaluate_runs(selected: Sequence[Contrast], runs: dict, replications: int) -> list[Result]:
    """Evaluate contrasts on runs already made by :func:`run_arms`."""
    return [evaluate_contrast(c, _arm_runs(runs, c.control, replications), _arm_runs(runs, c.treated, replications))
            for c in selected]


def _arm_runs(runs: dict, arm: Arm, replications: int) -> list[Run]:
    return [runs[(arm, r)] for r in range(replications)]


def evaluate_contrast(c: Contrast, control: list[Run], treated: list[Run]) -> Result:
    if c.paired is not None:
        diffs = np.array([c.paired(a, b) for a, b in zip(control, treated)])
        return Result(c, diffs, 0.0, float(diffs.mean()))
    xa = np.array([c.outcome(a) for a in control])
    xb = np.array([c.outcome(b) for b in treated])
    return Result(c, xb - xa, float(xa.mean()), float(xb.mean()))


def t_interval(x: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% t-interval of a sample."""
    m = float(np.mean(x))
    if len(x) < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(x) - 1) * np.std(x, ddof=1) / np.sqrt(len(x)))
    return m, m - half, m + half


def target_table(runs: dict, replications: int) -> pd.DataFrame:
    rows = []
    for t in targets():
        m, lo, hi = t_interval(np.array([t.outcome(r) for r in _arm_runs(runs, t.arm, replications)]))
        rows.append({"target": t.name, "range": f"{t.lo:.1%}-{t.hi:.1%}", "measured": m, "ci_low": lo, "ci_high": hi,
                     "holds": bool(t.lo <= lo and hi <= t.hi), "source": t.source})
    return pd.DataFrame(rows)


def claim_table(runs: dict, replications: int) -> pd.DataFrame:
    rows = []
    for c in claims():
        treated = np.array([c.outcome(r) for r in _arm_runs(runs, c.treated, replications)])
        if c.control is None:
            x = treated
            claimed = f"{c.claimed:g}x"
        else:
            control = np.array([c.outcome(r) for r in _arm_runs(runs, c.control, replications)])
            x = treated / control - 1.0  # paired relative change
            claimed = f"{c.claimed:+.0%}"
        m, lo, hi = t_interval(x)
        rows.append({"claim": c.claim, "claimed": claimed, "ratio": c.control is None, "model": m, "ci_low": lo,
                     "ci_high": hi, "scenario": c.treated.label, "note": c.note})
    return pd.DataFrame(rows)


def validation_arms(include_claims: bool = True) -> list[Arm]:
    arms = [a for c in contrasts() for a in (c.control, c.treated)] + [t.arm for t in targets()]
    if include_claims:
        arms += [a for c in claims() for a in (c.control, c.treated) if a is not None]
    return arms


def format_value(c: Contrast, x: float) -> str:
    if c.unit == "months":
        return f"{x:+.1f} months"
    if c.unit == "pp":
        return f"{100 * x:+.2f} pp"
    if abs(x) >= 1e5:
        return f"{x:+,.0f}"
    return f"{x:+.3g}"


def results_table(results: list[Result]) -> pd.DataFrame:
    rows = []
    for res in results:
        c = res.contrast
        rows.append({
            "fact": c.fact, "claim": c.claim, "outcome": c.outcome_doc,
            "control": c.control.label, "treated": c.treated.label,
            "control_mean": res.control_mean, "treated_mean": res.treated_mean,
            "difference": res.mean, "ci_low": res.ci[0], "ci_high": res.ci[1],
            "relative": res.relative_change if c.paired is None else float("nan"),
            "holds": res.holds, "why_not": res.reason,
        })
    return pd.DataFrame(rows)


def report_markdown(results: list[Result], target_df: pd.DataFrame, claim_df: pd.DataFrame | None,
                    replications: int, borrowers: int, months: int, master: int) -> str:
    """The validation tables as Markdown (printed by ``run.py validate``, pasted into docs/validation.md)."""
    lines = [f"Paired replications: R = {replications}, {borrowers:,} borrowers, {months} months after burn-in, "
             f"master seed {master}; intervals are 95% t-intervals of the mean paired difference.", "",
             "| fact | claim | outcome | control | treated | difference (95% CI) | relative | holds |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for res in results:
        c = res.contrast
        diff = f"{format_value(c, res.mean)} ({format_value(c, res.ci[0])}, {format_value(c, res.ci[1])})"
        rel = f"{res.relative_change:+.1%}" if c.paired is None and res.control_mean else ""
        verdict = "holds" if res.holds else f"FAILS: {res.reason}"
        lines.append(f"| {c.fact} | {c.claim} | {c.outcome_doc} | {c.control.label} | {c.treated.label} | {diff} | "
                     f"{rel} | {verdict} |")
    lines += ["", "| calibration target | range | measured (95% CI) | holds | source |", "| --- | --- | --- | --- | --- |"]
    for row in target_df.itertuples():
        verdict = "holds" if row.holds else "FAILS"
        lines.append(f"| {row.target} | {row.range} | {row.measured:.2%} ({row.ci_low:.2%}, {row.ci_high:.2%}) | "
                     f"{verdict} | {row.source} |")
    if claim_df is not None:
        lines += ["", "| source claim | claimed | in the model (95% CI) | scenario | note |", "| --- | --- | --- | --- | --- |"]
        for row in claim_df.itertuples():
            if row.ratio:
                value = f"{row.model:.1f}x ({row.ci_low:.1f}, {row.ci_high:.1f})"
            else:
                value = f"{row.model:+.1%} ({row.ci_low:+.1%}, {row.ci_high:+.1%})"
            lines.append(f"| {row.claim} | {row.claimed} | {value} | {row.scenario} | {row.note} |")
    return "\n".join(lines) + "\n"

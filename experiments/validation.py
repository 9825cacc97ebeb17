"""The stylized facts of the model as paired contrasts, the calibration targets, and the source claims.

Each fact is checked by one or more :class:`Contrast`\\ s: two arms (a scenario file, possibly
combined with a shock file and dotted overrides) run with the *same* replication seeds (common
random numbers), an outcome computed on each run, and the per-replication difference (treated
minus control). A contrast *holds* when the 95% t-interval of the mean difference lies entirely
on the expected side of zero (for some contrasts, beyond a stated minimum size) and, where the
claim has one, the relative size stays within a bound ("a little", "sharply").

Validation is an experiment like any other: :func:`validation_plan` turns the arms into the cells
of a :class:`~experiments.plan.Plan` (kind ``validation``) whose outcomes are the registered
outcomes of :mod:`experiments.outcomes`, arms combine a policy and a shock the way comparison
specs do, and :func:`~experiments.engine.run_experiment` runs it on the usual executors into a
results folder, where :func:`validation_files` adds the fact, target and claim tables. The same
definitions serve ``tests/test_stylized_facts.py`` and ``run.py validate``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .outcomes import OutcomeSpec
from .plan import Cell, Plan
from .summary import Interval, t_interval

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
MASTER_SEED = 20261122


# --------------------------------------------------------------------------- arms


@dataclass(frozen=True)
class Arm:
    """A scenario file, optionally combined with a shock file and dotted overrides (paths relative to scenarios/)."""

    scenario: str
    shock: str | None = None
    overrides: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        parts = [Path(self.scenario).stem]
        if self.shock:
            parts.append(Path(self.shock).stem)
        parts += [f"{k}={v}" for k, v in self.overrides]
        return " + ".join(parts)

    @property
    def cell_id(self) -> str:
        """A file-name-safe, unique identifier of the arm."""
        cid = "__".join(Path(p).stem for p in (self.scenario, self.shock) if p)
        if self.overrides:
            cid += "__" + hashlib.sha256(repr(self.overrides).encode()).hexdigest()[:8]
        return cid

    def cell(self, size: dict[str, Any]) -> Cell:
        """The arm as a plan cell: the policy, the shock combined as in comparison specs, the overrides, the size."""
        from .spec import combine_policy_and_shock

        overrides = {k: list(v) if isinstance(v, tuple) else v for k, v in self.overrides}
        config = combine_policy_and_shock(SCENARIOS, self.scenario, self.shock, {**overrides, **size}, self.cell_id)
        return Cell(self.cell_id, {"arm": self.label}, config)


def mean(column: str, first: int | None = None, last: int | None = None) -> OutcomeSpec:
    return OutcomeSpec(name="mean", column=column, from_month=first, to_month=last)


def total(column: str, first: int | None = None) -> OutcomeSpec:
    return OutcomeSpec(name="total", column=column, from_month=first)


def peak(column: str, first: int | None = None, last: int | None = None) -> OutcomeSpec:
    return OutcomeSpec(name="peak", column=column, from_month=first, to_month=last)


def outcome(name: str, **params: Any) -> OutcomeSpec:
    return OutcomeSpec(name=name, **params)


PairedStatistic = Callable[[pd.DataFrame, pd.DataFrame], float]


def excess_lag(
    first: int, last: int, column: str = "overdue_balance_rate", driver: str = "unemployment_rate"
) -> PairedStatistic:
    """Months by which the shock's excess ``column`` lags its excess ``driver`` (centres of mass).

    The excess of a series is treated minus control, month by month, over the months where the
    driver's excess is positive and after; the centre of mass of a non-negative excess curve is a
    robust 'when', unlike the month of a noisy maximum. Takes the two runs' model frames.
    """

    def f(control: pd.DataFrame, treated: pd.DataFrame) -> float:
        control = control[~control["is_burn_in"]].reset_index(drop=True)
        treated = treated[~treated["is_burn_in"]].reset_index(drop=True)
        sel = ((treated["month"] >= first) & (treated["month"] <= last)).to_numpy()
        months = treated["month"].to_numpy(float)[sel]
        d = np.clip(treated[driver].to_numpy() - control[driver].to_numpy(), 0.0, None)[sel]
        y = np.clip(treated[column].to_numpy() - control[column].to_numpy(), 0.0, None)[sel]
        return float((months * y).sum() / max(y.sum(), 1e-12) - (months * d).sum() / max(d.sum(), 1e-12))

    f.__doc__ = f"lag of excess {column} behind excess {driver} (months, centres of mass over months {first}-{last})"
    return f


# --------------------------------------------------------------------------- contrasts


@dataclass(frozen=True)
class Contrast:
    """One paired comparison: outcome(treated) - outcome(control) over common seeds.

    ``direction`` +1 means the claim is that the outcome rises, -1 that it falls, 0 that it does
    not change much. ``relative`` compares treated / control - 1 of the replication means against
    ``(lo, hi)`` bounds (e.g. a fall of at most 10%: ``(-0.10, None)``). ``min_effect`` is the
    smallest mean difference in the claimed direction that counts (default: any beyond the
    interval). ``paired`` replaces the outcome with a statistic of both runs' model frames.

    An **interaction** ("caps matter where penalties are high") gives a second pair,
    ``versus = (control, treated)``: the statistic is then the difference in differences,
    ``(treated - control) - (versus treated - versus control)``, replication by replication; the
    relative change compares it with the first pair's control mean.
    """

    fact: int
    claim: str
    control: Arm
    treated: Arm
    outcome: OutcomeSpec | None = None
    paired: PairedStatistic | None = None
    versus: tuple[Arm, Arm] | None = None  # the pair an interaction's difference is compared with
    direction: int = 1
    min_effect: float = 0.0
    max_effect: float | None = None  # the interval's far edge must stay below this (claims of size)
    relative: tuple[float | None, float | None] | None = None
    unit: str = "pp"  # how the difference is shown: pp (x100), x1, %, months

    @property
    def arms(self) -> tuple[Arm, ...]:
        return (self.control, self.treated, *(self.versus or ()))

    @property
    def outcome_doc(self) -> str:
        if self.versus is not None:
            return f"difference in differences of {describe(self.outcome)}"
        if self.paired is not None:
            return (self.paired.__doc__ or "").strip()
        return describe(self.outcome)


def describe(spec: OutcomeSpec) -> str:
    """An outcome in words, with its window."""
    from .outcomes import OUTCOMES

    text = f"{spec.name} {spec.column}" if spec.column else OUTCOMES[spec.name].description
    if spec.months_on_book is not None:
        text = f"{spec.months_on_book}-month default rate of vintages"
    if spec.from_month is not None or spec.to_month is not None:
        text += f", months {spec.first}-{spec.to_month or 'end'}"
    return text


@dataclass
class Result:
    """The verdict on a contrast: paired differences, their 95% t-interval, and whether the claim holds."""

    contrast: Contrast
    diffs: np.ndarray
    control_mean: float
    treated_mean: float
    interval: Interval = field(init=False)
    holds: bool = field(init=False)
    reason: str = field(init=False, default="")

    def __post_init__(self) -> None:
        c = self.contrast
        self.interval = t_interval(self.diffs)
        if self.interval.n < 2:
            self.interval = Interval(self.interval.n, self.interval.mean, -np.inf, np.inf)
        low, high = self.ci
        low_side = low if c.direction > 0 else -high  # the interval's edge nearest zero, signed
        if c.direction == 0:  # a claim of no large change: the interval stays within the relative bounds
            lo, hi = c.relative or (None, None)
            lo_abs = -np.inf if lo is None else lo * abs(self.control_mean)
            hi_abs = np.inf if hi is None else hi * abs(self.control_mean)
            self.holds = bool(lo_abs < low and high < hi_abs)
            if not self.holds:
                self.reason = f"interval reaches beyond {_bounds_text(c.relative)} of the control"
            return
        high_side = high if c.direction > 0 else -low
        self.holds = bool(low_side > c.min_effect)
        if not self.holds:
            self.reason = "interval reaches the wrong side" if low_side <= 0 else "effect smaller than required"
        elif c.max_effect is not None and high_side > c.max_effect:
            self.holds = False
            self.reason = f"effect may exceed {c.max_effect:g}"
        if c.relative is not None and self.holds:
            # a size claim holds only if the whole interval of the relative change lies within its bounds
            rel_low, rel_high = self.relative_interval
            lo, hi = c.relative
            if (lo is not None and rel_low < lo) or (hi is not None and rel_high > hi):
                self.holds = False
                self.reason = (
                    f"relative change {self.relative_change:+.1%} (interval {rel_low:+.1%} to {rel_high:+.1%}) "
                    f"not within {_bounds_text(c.relative)}"
                )

    @property
    def ci(self) -> tuple[float, float]:
        return self.interval.low, self.interval.high

    @property
    def mean(self) -> float:
        return self.interval.mean

    @property
    def relative_change(self) -> float:
        return self.treated_mean / self.control_mean - 1.0 if self.control_mean else float("nan")

    @property
    def relative_interval(self) -> tuple[float, float]:
        """The interval of the paired difference relative to the control's mean."""
        if not self.control_mean:
            return float("nan"), float("nan")
        scale = abs(self.control_mean)
        return self.ci[0] / scale, self.ci[1] / scale


def _bounds_text(b: tuple[float | None, float | None]) -> str:
    lo, hi = b
    if lo is not None and hi is not None:
        return f"[{lo:+.0%}, {hi:+.0%}]"
    return f">= {lo:+.0%}" if lo is not None else f"<= {hi:+.0%}"


BASE = Arm("baseline.yaml")
RECESSION = Arm("baseline.yaml", shock="shocks/recession.yaml")
V_SHOCK = Arm("baseline.yaml", shock="shocks/v_shock.yaml")
# lenders that do not move their standards with the credit cycle (sim.platforms.Platform.review_standards)
NO_CYCLE = tuple(
    (f"platforms.policy.underwriting.stance_{signal}_weight", 0.0) for signal in ("loss", "outlook", "capital")
)
NO_BTR = Arm("baseline.yaml", overrides=(("borrowers.borrow_to_repay", 0.0), ("behaviour.pressure_borrow_push", 0.0)))


def contrasts() -> list[Contrast]:
    """The contrasts that make up the nine stylized facts.

    Each isolates the mechanism its fact names: a bundle of policies is split into its parts (the
    penalty cap without the compounding ban, the ban on its own; forbearance without
    restructuring); a claim that something rises is tested against a control where it can be
    non-zero; size claims bound the whole interval.
    """
    rec = "shocks/recession.yaml"
    collapse = "shocks/platform_collapse.yaml"
    conduct = Arm("policies/conduct_rules.yaml", overrides=(("platforms.overrides", ()),))
    aggressive = Arm("policies/collection_aggressive.yaml")

    def no_rep(arm: Arm) -> Arm:
        return Arm(arm.scenario, arm.shock, arm.overrides + (("platforms.reputation_per_complaint", 0.0),))

    compounding = Arm("policies/penalty_compounding.yaml")
    covered = (("regulator.report_failed_books", True),)  # failed platforms' loans reported to the bureau
    cap = (("regulator.penalty_cap_annual", 0.12),)  # a 12% cap from the start, in the interaction below
    # under the same rules, with the same two platforms ignoring them: standard conduct breaches the contact
    # cap too (its fines are not zero by construction); aggressive conduct breaks every rule
    enforced_standard = Arm(
        "policies/conduct_rules.yaml", overrides=(("platforms.policy.collection.regime", "standard"),)
    )
    # fmt: off
    return [
        # 1. unemployment -> overdue, with a lag; relief dampens it
        Contrast(1, "a recession raises the overdue rate", BASE, RECESSION, mean("overdue_balance_rate", 12, 47)),
        Contrast(1, "overdue lags the economy's unemployment shock by a few months (1-12)", BASE, V_SHOCK,
                 paired=excess_lag(12, 40, column="overdue_rate", driver="unemployment_target"), min_effect=1.0,
                 max_effect=12.0, unit="months"),
        Contrast(1, "90+ delinquency lags borrowers' realised unemployment", BASE, V_SHOCK,
                 paired=excess_lag(12, 40, column="m3plus_rate"), unit="months"),
        # relief is paid only in a shock (economy.shocks[].relief), so with and without it in the recession is the
        # difference in differences: the rise with relief less the rise without, the baseline's terms cancelling
        Contrast(1, "relief dampens the rise in overdue", RECESSION, Arm("shocks/recession_with_relief.yaml"),
                 mean("overdue_balance_rate", 12, 47), direction=-1),
        # lenders tighten in a downturn (SLOOS 2008-09 and 2020): although need-driven applications rise, fewer loans
        # are made during the shock; approvals fall by more than a riskier pool of applicants alone makes them fall
        Contrast(1, "lenders tighten in a recession: fewer loans are made during the shock", BASE, RECESSION,
                 mean("originations", 12, 36), direction=-1, unit="%"),
        Contrast(1, "... and approve less than the riskier applicants alone explain (difference in differences)",
                 BASE, RECESSION, mean("approval_rate", 12, 36), direction=-1,
                 versus=(Arm("baseline.yaml", overrides=NO_CYCLE),
                         Arm("baseline.yaml", shock=rec, overrides=NO_CYCLE))),
        # 2. penalties
        Contrast(2, "compounding penalties raise defaults among stressed borrowers",
                 Arm("policies/penalty_none.yaml", shock=rec), Arm("policies/penalty_compounding.yaml", shock=rec),
                 outcome("overdue_to_default")),
        Contrast(2, "a penalty cap lowers defaults", compounding, Arm("policies/penalty_cap.yaml"),
                 outcome("cum_default_rate"), direction=-1),
        Contrast(2, "... without a large change in credit supply (within 5% either way)", compounding,
                 Arm("policies/penalty_cap.yaml"), mean("origination_amount", 13), direction=0,
                 relative=(-0.05, 0.05), unit="%"),
        Contrast(2, "a penalty cap lowers defaults more where penalties are high (difference in differences)",
                 compounding, Arm("policies/penalty_compounding.yaml", overrides=cap), outcome("cum_default_rate"),
                 direction=-1, versus=(BASE, Arm("baseline.yaml", overrides=cap))),
        # 3. scoring and bureau
        Contrast(3, "better scoring lowers serious (90+) overdue", BASE, Arm("policies/better_scoring.yaml"),
                 mean("m3plus_balance_rate", 13), direction=-1),
        Contrast(3, "better scoring lowers defaults", BASE, Arm("policies/better_scoring.yaml"),
                 outcome("cum_default_rate"), direction=-1),
        Contrast(3, "bureau reporting lowers overdue", BASE, Arm("policies/bureau_reporting.yaml"),
                 mean("overdue_balance_rate", 13), direction=-1),
        Contrast(3, "bureau reporting lowers defaults", BASE, Arm("policies/bureau_reporting.yaml"),
                 outcome("cum_default_rate"), direction=-1),
        # 4. collection
        Contrast(4, "aggressive collection raises short-run recoveries", BASE, aggressive, outcome("collection_yield")),
        Contrast(4, "aggressive collection raises complaints", BASE, aggressive, total("complaints"), unit="x1"),
        Contrast(4, "aggressive collection raises harassment", BASE, aggressive, total("harassment_incidents"),
                 unit="x1"),
        Contrast(4, "aggressive collection under enforcement raises fines", enforced_standard,
                 Arm("policies/conduct_rules.yaml"), total("fines"), unit="x1"),
        Contrast(4, "conduct rules cut complaints sharply (by half or more)", aggressive, conduct,
                 total("complaints", 13), direction=-1, relative=(None, -0.5), unit="%"),
        Contrast(4, "conduct rules lower recoveries somewhat (by under a third)", aggressive, conduct,
                 outcome("collection_yield"), direction=-1, relative=(-1 / 3, None), unit="%"),
        # recoveries after charge-off are collected under the same conduct: a restriction recovers less of what is
        # charged off (Fedaseyeu 2020: about 9% per restriction on collectors)
        Contrast(4, "restricting collection lowers recoveries on charged-off debt (by 3%-25%)", BASE,
                 Arm("policies/collection_regulated.yaml"), outcome("recovery_ratio", from_month=13), direction=-1,
                 relative=(-0.25, -0.03), unit="%"),
        # the lenders' tighter lending under weak collection may not outweigh what collection cures: restricting
        # collection raised delinquent balances (Fonseca, Strair & Zafar 2017)
        Contrast(4, "soft collection does not lower defaults (by more than 2%)", BASE,
                 Arm("policies/collection_soft.yaml"), outcome("cum_default_rate"), direction=0,
                 relative=(-0.02, None), unit="%"),
        # the lenders' side of it: with complaints costing aggressive collectors no reputation (investor funding,
        # applicants' choice), which alone would make conduct rules raise supply (docs/validation.md)
        Contrast(4, "conduct rules reduce credit supply a little (by under 10%)", no_rep(aggressive), no_rep(conduct),
                 mean("origination_amount", 13), direction=-1, relative=(-0.10, None), unit="%"),
        # 5. competition
        Contrast(5, "competition raises defaults of later vintages", BASE, Arm("policies/competition.yaml"),
                 outcome("vintage_default_rate", months_on_book=12, from_month=13)),
        Contrast(5, "competition raises later overdue rates", BASE, Arm("policies/competition.yaml"),
                 mean("overdue_balance_rate", 25)),
        # 6. multi-platform borrowing and borrowing to repay
        Contrast(6, "multi-platform borrowing and borrowing to repay raise the loss rate",
                 Arm("baseline.yaml", overrides=(("borrowers.max_loans", 1),)), BASE, outcome("loss_rate")),
        Contrast(6, "borrowing to repay makes defaults cluster (more loans per defaulter)", NO_BTR, BASE,
                 mean("defaults_per_defaulter"), unit="x1"),
        # on its own, borrowing to repay puts more loans into default, but it is bridge finance for the loans it
        # repays: the loss rate falls (docs/validation.md, fact 6), so the loss claim is on multi-platform credit
        Contrast(6, "borrowing to repay puts more loans into default", NO_BTR, BASE, outcome("cum_default_rate")),
        # 7. platform failure and strategic default
        Contrast(7, "an unserviced collapse triggers strategic default", BASE, Arm(collapse),
                 total("strategic_withholding", 12), unit="x1"),
        # the damping is an interaction: reporting failed platforms' books (China, Aug 2018) lowers withholding more
        # in a collapse than without one, so the collapse's rise is smaller (paired difference in differences, by
        # at least 2% of the collapse's withholding: a coverage that lowered withholding anywhere else would not do)
        Contrast(7, "reporting failed platforms' books damps the collapse's rise in strategic default (difference "
                 "in differences)", Arm(collapse), Arm(collapse, overrides=covered),
                 total("strategic_withholding", 12), direction=-1, relative=(None, -0.02), unit="x1",
                 versus=(BASE, Arm("baseline.yaml", overrides=covered))),
        # 8. forbearance and restructuring in a shock, each on its own. Forbearance is judged on the peak while the
        # mandate runs: when it ends in the trough, the holidays end together and overdue overshoots (the cliff,
        # docs/validation.md)
        Contrast(8, "forbearance lowers peak overdue while a recession's mandate runs", RECESSION,
                 Arm("policies/forbearance.yaml", shock=rec), peak("overdue_balance_rate", 12, 35), direction=-1),
        Contrast(8, "forbearance lowers final losses", RECESSION, Arm("policies/forbearance.yaml", shock=rec),
                 outcome("losses"), direction=-1, unit="%"),
        Contrast(8, "restructuring lowers final losses", RECESSION, Arm("policies/restructuring.yaml", shock=rec),
                 outcome("losses"), direction=-1, unit="%"),
        # 9. reminders and literacy
        Contrast(9, "education and reminders lower overdue modestly (by under 30%)", BASE,
                 Arm("policies/education.yaml"), mean("overdue_balance_rate", 13), direction=-1,
                 relative=(-0.30, None)),
    ]
    # fmt: on


# --------------------------------------------------------------------------- calibration and claims


@dataclass(frozen=True)
class Target:
    """A calibration level: holds when the 95% interval of the mean lies in [lo, hi]."""

    name: str
    arm: Arm
    outcome: OutcomeSpec
    lo: float
    hi: float
    source: str


# The calibrated market in the rules its data were measured under, and in the 2020 shock at its measured size
MARKET = Arm("market_2021_23.yaml")
MARKET_2020 = Arm("market_2021_23.yaml", shock="shocks/china_2020.yaml")


def targets() -> list[Target]:
    return [
        Target(
            "M1+ (1+ days) overdue rate by balance, baseline",
            BASE,
            mean("overdue_balance_rate"),
            0.03,
            0.07,
            "the stylized range of Chinese online lenders, 3-7% (Lexin 4.92%, Q2 2021); the pre-reform "
            "reference market is held to it by hand (docs/model.md, Calibration)",
        ),
        Target(
            "M3+ (90+ days) overdue rate by balance, baseline",
            BASE,
            mean("m3plus_balance_rate"),
            0.015,
            0.03,
            "the stylized range 1.5-3% (Lexin 1.84%, Mar 2021; Qifu 2.35%, Q4 2023)",
        ),
        Target(
            "peak M1+ overdue rate by balance, recession (+5 pp unemployment)",
            RECESSION,
            peak("overdue_balance_rate"),
            0.08,
            0.12,
            "a US-2008-sized shock: US card delinquency rose by half (4.6% to 6.8%) as unemployment rose 4.5 pp; "
            "on the baseline's 6.9%, about 10%",
        ),
        Target(
            "M1+ overdue rate by balance, calibrated 2021-23 market",
            MARKET,
            mean("overdue_balance_rate"),
            0.03,
            0.07,
            "Lexin 4.92% (Q2 2021), measured in these rules (scenarios/calibration/market_2021_23.yaml)",
        ),
        Target(
            "M3+ overdue rate by balance, calibrated 2021-23 market",
            MARKET,
            mean("m3plus_balance_rate"),
            0.015,
            0.03,
            "Lexin 1.84% (Mar 2021); Qifu 1.54% (end-2021) to 2.35% (Q4 2023)",
        ),
        Target(
            "M1+ overdue rate by balance four months into the 2020 shock, calibrated market",
            MARKET_2020,
            outcome("overdue_balance_rate_at", month=16),
            0.06,
            0.10,
            "Lexin 8.08% at the end of 2020 Q2 (+-2 pp: one lender, one quarter); the shock at its NBS size "
            "(scenarios/shocks/china_2020.yaml)",
        ),
    ]


@dataclass(frozen=True)
class Claim:
    """A claim of the source articles, run as a scenario: the model's relative change, no verdict."""

    claim: str
    claimed: float  # relative change claimed (e.g. -0.30), or a ratio for ``ratio`` claims
    control: Arm | None
    treated: Arm
    outcome: OutcomeSpec
    note: str = ""


def claims() -> list[Claim]:
    rec = "shocks/recession.yaml"
    return [
        Claim(
            "better credit evaluation cut the overdue rate 30%",
            -0.30,
            BASE,
            Arm("policies/better_scoring.yaml"),
            mean("overdue_balance_rate", 13),
            "scoring noise 0.8 -> 0.4",
        ),
        Claim(
            "a scoring model cut the overdue ratio 20%",
            -0.20,
            BASE,
            Arm("baseline.yaml", overrides=(("platforms.policy.underwriting.scoring_noise_sd", 0.0),)),
            mean("overdue_balance_rate", 13),
            "the limit: platforms see the latent risk type exactly",
        ),
        Claim(
            "collection optimisation raised collection success 30%",
            0.30,
            BASE,
            Arm("policies/collection_targeted.yaml"),
            outcome("collection_yield"),
            "targeted contacts at the same total (so the claimed -15% cost has no counterpart)",
        ),
        Claim(
            "borrower education cut the overdue rate 10%",
            -0.10,
            BASE,
            Arm("policies/education.yaml"),
            mean("overdue_balance_rate", 13),
            "5% of borrowers a month educated, personal reminders",
        ),
        Claim(
            "early warning cut losses 30%",
            -0.30,
            RECESSION,
            Arm("policies/early_warning.yaml", shock=rec),
            outcome("losses"),
            "in the recession, where the warning line is crossed",
        ),
        Claim(
            "overdue amount up 8x",
            8.0,
            None,
            Arm("shocks/overdue_surge_8x.yaml"),
            outcome("overdue_amount_ratio"),
            "boom with competition, recession and collapse wave; peak / month 1",
        ),
    ]


# --------------------------------------------------------------------------- policy effects

STRATEGIC_OFF = (("behaviour.strategic_default", False),)


@dataclass(frozen=True)
class Literature:
    """A published magnitude for a lever's effect, printed beside the model's so a reader sees how close it is.

    ``low``-``high`` is the relative change the source implies for the same outcome (None: no bound on that
    side, so ``high=0`` reads "a fall, size not stated"); ``text`` says it in the source's own terms,
    ``note`` how comparable the two quantities are, or why the model is far.
    """

    text: str
    source: str
    low: float | None = None
    high: float | None = None
    note: str = ""
    difference: bool = False  # the range is of the difference in the outcome's units, not the relative change

    def compare(self, low: float, high: float, scale: float = 1.0) -> str:
        """Where the model's interval of the paired difference lies against the range: the interval is read
        relative to the control's mean ``scale``, unless the range is of the difference itself."""
        if self.low is None and self.high is None:
            return "no range: the literature has both signs"
        if not self.difference:
            low, high = low / scale, high / scale
        lo = -np.inf if self.low is None else self.low
        hi = np.inf if self.high is None else self.high
        if high < lo:
            return "model below the range"
        if low > hi:
            return "model above the range"
        return "within the range"


@dataclass(frozen=True)
class Effect:
    """A policy lever's effect on an outcome: the paired difference and its interval, a magnitude to read
    against the literature rather than a claim to pass. ``channel`` names what the arms hold fixed
    (``strategic default off``: the same contrast with no borrower withholding while able, to show how
    much of an effect runs through willingness rather than cash)."""

    policy: str
    control: Arm
    treated: Arm
    outcome: OutcomeSpec
    channel: str = "all channels"
    literature: Literature | None = None

    @property
    def arms(self) -> tuple[Arm, ...]:
        return (self.control, self.treated)


def _without_strategic(arm: Arm) -> Arm:
    return Arm(arm.scenario, arm.shock, arm.overrides + STRATEGIC_OFF)


# Published magnitudes printed beside the model's effects (docs/sources.md has the full references). Ranges are
# of the relative change unless ``difference``; a source that gives only a direction bounds one side at zero.
RESTRUCTURING_LIT = Literature(
    "lower instalments alone: no effect; interest write-downs: fewer defaults (direction)",
    "Dobbie & Song (2020)",
    high=0.0,
    note="the model's restructuring waives penalties and part of the interest and extends the term, so the "
    "direction is the write-down's; the experiment's sizes are in percentage points of bankruptcy and collections",
)
MORATORIUM_LIT = Literature(
    "a 3-month moratorium offered by the lender: default -7% (-4 pp); framed as the regulator's: no effect",
    "Fiorin, Hall & Kanz (2023)",
    low=-0.07,
    high=0.0,
    note="an RCT among delinquent borrowers of an Indian consumer lender in 2020; the model's mandate is granted "
    "on request to borrowers in hardship over a two-year recession, so it reaches more of the defaults to come",
)
FEE_CAP_LIT = Literature(
    "fee limits: no reduction in the volume of credit",
    "Agarwal, Chomsisengphet, Mahoney & Stroebel (2015)",
    low=-0.03,
    high=0.03,
    note="the CARD Act capped late and over-limit fees on US cards; the model caps penalty interest after "
    "compounding penalties, a larger change in the cost of being late",
)
APR_CAP_LIT = Literature(
    "a 20 pp cut in the rate cap: number of loans -19%",
    "Cuesta & Sepúlveda (2021); Madeira (2019)",
    low=-0.19,
    high=0.0,
    note="Chile 2013 (cap from about 54% to 36%); China's 36% to 24% is a 12 pp cut, so the scaled figure is "
    "about -11%, and in 2025 the large Chinese platforms held volume at a 24% all-in cap (Lexin, Qfin reports)",
)
SHARING_DEFAULT_LIT = Literature(
    "defaults fall with information sharing (direction; no consumer-credit size found)",
    "Jappelli & Pagano (2002); Doblas-Madrid & Minetti (2013)",
    high=0.0,
    note="Doblas-Madrid & Minetti find lenders' delinquencies fall when they join a bureau (US equipment finance); "
    "Chile's 2012 deletion of records raised delinquency (Madeira 2020)",
)
SHARING_LENDING_LIT = Literature(
    "lending rises with information sharing; deleting records of 21% of adults cut borrowing 3.5% (Chile 2012)",
    "Djankov, McLiesh & Shleifer (2007); Liberman, Neilson, Opazo & Zimmerman (2018)",
    low=-0.035,
    note="the Chilean deletion is the reverse lever: borrowing fell 6.4% for those whose predicted cost rose "
    "and rose 11.8% for those whose records were hidden; reporting should move lending the other way",
)
PASS_THROUGH_LIT = Literature(
    "card APRs rose about 0.6 pp per pp of policy rate in 2022-23; lending rates pass on about 100% in the long run",
    "Investopedia (2023) on Fed data; de Bondt (2005)",
    low=0.018,
    high=0.03,
    difference=True,
    note="the model's cost-plus price passes the benchmark through in full; US card rates were sticky on the way "
    "down in 1989-91 (Calem & Mester 1995)",
)
HIKE_APPROVAL_LIT = Literature(
    "after the 2022-23 hikes, card-application rejections +1.1 pp, all credit +2.1 pp",
    "New York Fed SCE Credit Access Survey (2023)",
    low=-0.021,
    high=-0.011,
    difference=True,
    note="a survey of applicants, confounded by the normalisation of credit after 2021",
)
COLLECTION_RECOVERY_LIT = Literature(
    "each state restriction on collectors: recovery rate on card debt -9% of its mean",
    "Fedaseyeu (2013)",
    low=-0.30,
    high=-0.05,
    note="the regulated regime bundles several restrictions (fewer contacts, no third parties, no night calls), "
    "so the range allows up to about three",
)
COLLECTION_LENDING_LIT = Literature(
    "each state restriction on collectors: new revolving lines -2.2%",
    "Fedaseyeu (2013)",
    low=-0.07,
    high=0.0,
)
UNEMPLOYMENT_LIT = Literature(
    "card delinquency about +0.5 pp per pp of unemployment (US 2007-09): +2.5 pp for +5 pp",
    "St. Louis Fed (FRED Blog 2021); Fed FEDS Note (2025)",
    low=0.02,
    high=0.05,
    difference=True,
    note="the ratio of two published changes (card delinquency 4.6% to 6.8% as unemployment rose 4.5 pp); one "
    "Chinese lender's 90+ ratio rose about 1 pp per pp in 2020 Q1 (Lexin), which sets the upper end. The model is "
    "below it: its lenders tighten on the outlook by refusing the riskiest applicants, which improves the book, and "
    "they do not cut existing borrowers' lines, the channel through which US tightening fed delinquency",
)
TIGHTENING_LIT = Literature(
    "lenders cut originations in 2020 Q1: Lexin -20% (seasonal -4%), Qifu -2.5%; US banks' consumer loans -17% "
    "a year in 2020 Q2",
    "Lexin and 360 Finance quarterly reports; Federal Reserve SLOOS",
    low=-0.20,
    high=-0.02,
    note="a quarter's change in a short shock; in 2008-09 about two thirds of US banks tightened card standards",
)
BTR_DEFAULT_LIT = Literature(
    "payday-loan approval raises two-year bankruptcy filing by 2.48 pp (about +90%)",
    "Skiba & Tobacman (2019)",
    low=0.0,
    note="a borrower outcome (filing), not a count of loans in default; the sign is the comparable part",
)
BTR_LOSS_LIT = Literature(
    "both signs: after transitory shocks payday access prevents about a quarter of the extra foreclosures; "
    "for the already distressed it raises hardship 5.3 pp",
    "Morse (2011); Melzer (2011)",
    note="no lender loss rate is published. In the model a loan taken to repay covers missed instalments, a small "
    "loan beside the ones it serves, and keeps them out of default, so on its own it lowers the loss rate: bridge "
    "finance, as after Morse's transitory shocks (docs/validation.md, fact 6)",
)


def effects() -> list[Effect]:
    """The levers a policy reader asks about, each on the outcomes it is meant to move; restructuring,
    forbearance and bureau reporting also with the strategic channel switched off."""
    rec = "shocks/recession.yaml"
    compounding = Arm("policies/penalty_compounding.yaml")
    levers = [
        (
            "restructuring",
            RECESSION,
            Arm("policies/restructuring.yaml", shock=rec),
            True,
            [
                outcome("losses"),
                outcome("losses_with_interest"),
                (outcome("cum_default_rate"), RESTRUCTURING_LIT),
                peak("overdue_balance_rate"),
            ],
        ),
        (
            "forbearance",
            RECESSION,
            Arm("policies/forbearance.yaml", shock=rec),
            True,
            [
                outcome("losses"),
                outcome("losses_with_interest"),
                (outcome("cum_default_rate"), MORATORIUM_LIT),
                peak("overdue_balance_rate", 12, 35),  # while the mandate runs
                peak("overdue_balance_rate"),  # the whole run: the cliff when it ends
            ],
        ),
        (
            "penalty cap",
            compounding,
            Arm("policies/penalty_cap.yaml"),
            False,
            [outcome("cum_default_rate"), outcome("losses"), (mean("origination_amount", 13), FEE_CAP_LIT)],
        ),
        (
            "APR cap 24%",
            BASE,
            Arm("policies/apr_cap_24.yaml"),
            False,
            [
                outcome("cum_default_rate"),
                mean("origination_amount", 13),
                (total("originations", 13), APR_CAP_LIT),
                mean("overdue_balance_rate", 13),
                total("informal_borrowing", 13),
            ],
        ),
        (
            "bureau reporting",
            BASE,
            Arm("policies/bureau_reporting.yaml"),
            True,
            [
                mean("overdue_balance_rate", 13),
                (outcome("cum_default_rate"), SHARING_DEFAULT_LIT),
                (total("originations", 13), SHARING_LENDING_LIT),
            ],
        ),
        (
            "penalty rule 1.5 x APR",
            BASE,
            Arm("policies/penalty_benchmark_multiple.yaml"),
            False,
            [outcome("cum_default_rate"), outcome("losses")],
        ),
        (
            "conduct rules",
            BASE,
            Arm("policies/conduct_rules.yaml"),
            False,
            [total("complaints", 1), total("fines", 1), outcome("cum_default_rate")],
        ),
        (
            "rate hike +3 pp",
            BASE,
            Arm("shocks/rate_hike.yaml"),
            False,
            [
                (mean("avg_apr", 25), PASS_THROUGH_LIT),
                (mean("approval_rate", 25), HIKE_APPROVAL_LIT),
                mean("origination_amount", 25),
                mean("overdue_balance_rate", 25),
                outcome("cum_default_rate"),
            ],
        ),
        (
            "collection regulated",
            BASE,
            Arm("policies/collection_regulated.yaml"),
            False,
            [
                (outcome("recovery_ratio", from_month=13), COLLECTION_RECOVERY_LIT),
                (total("originations", 13), COLLECTION_LENDING_LIT),
                outcome("cum_default_rate"),
            ],
        ),
        (
            "recession (+5 pp unemployment)",
            BASE,
            RECESSION,
            False,
            [
                (peak("overdue_balance_rate"), UNEMPLOYMENT_LIT),
                (mean("originations", 12, 36), TIGHTENING_LIT),
                mean("approval_rate", 12, 36),
            ],
        ),
        (
            "borrowing to repay",
            NO_BTR,
            BASE,
            False,
            [(outcome("cum_default_rate"), BTR_DEFAULT_LIT), (outcome("loss_rate"), BTR_LOSS_LIT)],
        ),
    ]
    out = []
    for policy, control, treated, decompose, outcomes in levers:
        # an outcome is a spec, or (spec, the literature's magnitude for it)
        pairs = [o if isinstance(o, tuple) else (o, None) for o in outcomes]
        out += [Effect(policy, control, treated, o, literature=lit) for o, lit in pairs]
        if decompose:
            off = (_without_strategic(control), _without_strategic(treated))
            out += [Effect(policy, *off, o, "strategic default off") for o, _ in pairs]
    return out


# --------------------------------------------------------------------------- the plan


def validation_plan(
    replications: int,
    borrowers: int,
    months: int = 60,
    master: int = MASTER_SEED,
    include_claims: bool = True,
    selected: Sequence[Contrast] | None = None,
) -> Plan:
    """The experiment behind the facts (or ``selected`` contrasts), the targets and (optionally) the claims.

    Every arm is one cell, run ``replications`` times with common random numbers; its outcomes are
    every outcome some contrast, target or claim reads.
    """
    chosen = list(contrasts() if selected is None else selected)
    arms = [a for c in chosen for a in c.arms]
    specs = [c.outcome for c in chosen if c.outcome is not None]
    if selected is None:
        arms += [t.arm for t in targets()]
        specs += [t.outcome for t in targets()]
        if include_claims:
            arms += [a for c in claims() for a in (c.control, c.treated) if a is not None]
            specs += [c.outcome for c in claims()]
            arms += [a for e in effects() for a in e.arms]
            specs += [e.outcome for e in effects()]
    size = {"borrowers.count": borrowers, "months": months}
    unique_arms = list(dict.fromkeys(arms))
    unique_outcomes = list({s.key: s for s in specs}.values())
    return Plan(
        kind="validation",
        cells=tuple(a.cell(size) for a in unique_arms),
        replications=replications,
        master_seed=master,
        outcomes=tuple(unique_outcomes),
        label_columns=("arm",),
        description=f"stylized facts, calibration targets{' and source claims' if include_claims else ''}: "
        f"{borrowers:,} borrowers, {months} months",
    )


# --------------------------------------------------------------------------- evaluation

ModelReader = Callable[[str], pd.DataFrame]  # run_id -> model frame


@dataclass(frozen=True)
class Evaluation:
    """Everything ``run.py validate`` reports."""

    results: list[Result]
    targets: pd.DataFrame
    claims: pd.DataFrame | None
    effects: pd.DataFrame | None
    replications: int
    borrowers: int
    months: int
    master: int

    @property
    def failed(self) -> list[str]:
        return [r.contrast.claim for r in self.results if not r.holds] + list(
            self.targets.loc[~self.targets["holds"], "target"]
        )


def _by_replication(outcomes: pd.DataFrame, arm: Arm, key: str) -> pd.Series:
    rows = outcomes[outcomes["cell"] == arm.cell_id]
    return rows.set_index("replication")[key].sort_index()


def evaluate(plan: Plan, outcomes: pd.DataFrame, read_model: ModelReader) -> Evaluation:
    """Evaluate the contrasts, targets and claims whose arms are in ``plan`` on its runs' outcomes."""
    cells = {c.id for c in plan.cells}
    runs = {(r.cell, r.replication): r.run_id for r in plan.runs}
    results = []
    for c in contrasts():
        if not {a.cell_id for a in c.arms} <= cells or (c.outcome is not None and c.outcome.key not in outcomes):
            continue
        if c.paired is not None:
            both = sorted(
                set(outcomes.loc[outcomes["cell"] == c.control.cell_id, "replication"])
                & set(outcomes.loc[outcomes["cell"] == c.treated.cell_id, "replication"])
            )
            diffs = np.array(
                [
                    c.paired(read_model(runs[(c.control.cell_id, r)]), read_model(runs[(c.treated.cell_id, r)]))
                    for r in both
                ]
            )
            results.append(Result(c, diffs, 0.0, float(diffs.mean()) if len(diffs) else float("nan")))
            continue
        control = _by_replication(outcomes, c.control, c.outcome.key)
        treated = _by_replication(outcomes, c.treated, c.outcome.key)
        if c.versus is not None:  # difference in differences
            vc, vt = (_by_replication(outcomes, a, c.outcome.key) for a in c.versus)
            both = pd.concat({"c": control, "t": treated, "vc": vc, "vt": vt}, axis=1, join="inner")
            did = (both["t"] - both["c"]) - (both["vt"] - both["vc"])
            results.append(Result(c, did.to_numpy(), float(both["c"].mean()), float(both["c"].mean() + did.mean())))
            continue
        paired = pd.concat({"c": control, "t": treated}, axis=1, join="inner")
        results.append(
            Result(c, (paired["t"] - paired["c"]).to_numpy(), float(paired["c"].mean()), float(paired["t"].mean()))
        )
    target_rows = []
    for t in targets():
        if t.arm.cell_id not in cells or t.outcome.key not in outcomes:
            continue
        iv = t_interval(_by_replication(outcomes, t.arm, t.outcome.key).to_numpy())
        target_rows.append(
            {
                "target": t.name,
                "range": f"{t.lo:.1%}-{t.hi:.1%}",
                "measured": iv.mean,
                "ci_low": iv.low,
                "ci_high": iv.high,
                "holds": bool(t.lo <= iv.low and iv.high <= t.hi),
                "source": t.source,
            }
        )
    claim_rows = []
    for c in claims():
        if (
            c.treated.cell_id not in cells
            or (c.control is not None and c.control.cell_id not in cells)
            or c.outcome.key not in outcomes
        ):
            continue
        treated = _by_replication(outcomes, c.treated, c.outcome.key)
        if c.control is None:
            x, claimed = treated.to_numpy(), f"{c.claimed:g}x"
        else:
            control = _by_replication(outcomes, c.control, c.outcome.key)
            x = (treated / control - 1.0).dropna().to_numpy()  # paired relative change
            claimed = f"{c.claimed:+.0%}"
        iv = t_interval(x)
        claim_rows.append(
            {
                "claim": c.claim,
                "claimed": claimed,
                "ratio": c.control is None,
                "model": iv.mean,
                "ci_low": iv.low,
                "ci_high": iv.high,
                "scenario": c.treated.label,
                "note": c.note,
            }
        )
    size = plan.cells[0].config
    effect_rows = _effect_rows(outcomes, cells)
    return Evaluation(
        results,
        pd.DataFrame(target_rows, columns=["target", "range", "measured", "ci_low", "ci_high", "holds", "source"]),
        pd.DataFrame(claim_rows) if claim_rows else None,
        pd.DataFrame(effect_rows) if effect_rows else None,
        plan.replications,
        size.borrowers.count,
        size.months,
        plan.master_seed,
    )


def _effect_rows(outcomes: pd.DataFrame, cells: set[str]) -> list[dict]:
    rows = []
    for e in effects():
        if not {a.cell_id for a in e.arms} <= cells or e.outcome.key not in outcomes:
            continue
        both = pd.concat(
            {
                "c": _by_replication(outcomes, e.control, e.outcome.key),
                "t": _by_replication(outcomes, e.treated, e.outcome.key),
            },
            axis=1,
            join="inner",
        )
        iv = t_interval((both["t"] - both["c"]).to_numpy())
        base = float(both["c"].mean())
        scale = abs(base) if base else float("nan")
        lit = e.literature
        rows.append(
            {
                "policy": e.policy,
                "channel": e.channel,
                "outcome": describe(e.outcome),
                "control": e.control.label,
                "treated": e.treated.label,
                "control_mean": base,
                "treated_mean": float(both["t"].mean()),
                "difference": iv.mean,
                "ci_low": iv.low,
                "ci_high": iv.high,
                "relative": iv.mean / scale,
                "relative_low": iv.low / scale,
                "relative_high": iv.high / scale,
                "literature": lit.text if lit else "",
                "literature_source": lit.source if lit else "",
                "versus_literature": lit.compare(iv.low, iv.high, scale) if lit else "",
                "literature_note": lit.note if lit else "",
            }
        )
    return rows


def evaluate_folder(folder: Path | str) -> Evaluation:
    """The evaluation of a finished validation results folder (from its manifest, outcomes and parts)."""
    from sim.store import read_manifest

    from .engine import read_run_table

    folder = Path(folder)
    plan = Plan.from_record(read_manifest(folder)["plan"])
    outcomes = pd.read_parquet(folder / "outcomes.parquet")
    return evaluate(plan, outcomes, lambda run_id: read_run_table(folder, "model", run_id))


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
        rows.append(
            {
                "fact": c.fact,
                "claim": c.claim,
                "outcome": c.outcome_doc,
                "control": c.control.label,
                "treated": c.treated.label,
                "control_mean": res.control_mean,
                "treated_mean": res.treated_mean,
                "difference": res.mean,
                "ci_low": res.ci[0],
                "ci_high": res.ci[1],
                "relative": res.relative_change if c.paired is None else float("nan"),
                "holds": res.holds,
                "why_not": res.reason,
            }
        )
    return pd.DataFrame(rows)


def report_markdown(ev: Evaluation) -> str:
    """The validation tables as Markdown (printed by ``run.py validate``, written to validation.md)."""
    lines = [
        f"Paired replications: R = {ev.replications}, {ev.borrowers:,} borrowers, {ev.months} months after burn-in, "
        f"master seed {ev.master}; intervals are 95% t-intervals of the mean paired difference.",
        "",
        "| fact | claim | outcome | control | treated | difference (95% CI) | relative | holds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for res in ev.results:
        c = res.contrast
        diff = f"{format_value(c, res.mean)} ({format_value(c, res.ci[0])}, {format_value(c, res.ci[1])})"
        rel = f"{res.relative_change:+.1%}" if c.paired is None and res.control_mean else ""
        verdict = "holds" if res.holds else f"FAILS: {res.reason}"
        lines.append(
            f"| {c.fact} | {c.claim} | {c.outcome_doc} | {c.control.label} | {c.treated.label} | {diff} | "
            f"{rel} | {verdict} |"
        )
    lines += [
        "",
        "| calibration target | range | measured (95% CI) | holds | source |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in ev.targets.itertuples():
        verdict = "holds" if row.holds else "FAILS"
        lines.append(
            f"| {row.target} | {row.range} | {row.measured:.2%} ({row.ci_low:.2%}, {row.ci_high:.2%}) | "
            f"{verdict} | {row.source} |"
        )
    if ev.claims is not None:
        lines += [
            "",
            "| source claim | claimed | in the model (95% CI) | scenario | note |",
            "| --- | --- | --- | --- | --- |",
        ]
        for row in ev.claims.itertuples():
            if row.ratio:
                value = f"{row.model:.1f}x ({row.ci_low:.1f}, {row.ci_high:.1f})"
            else:
                value = f"{row.model:+.1%} ({row.ci_low:+.1%}, {row.ci_high:+.1%})"
            lines.append(f"| {row.claim} | {row.claimed} | {value} | {row.scenario} | {row.note} |")
    if ev.effects is not None:
        lines += [
            "",
            "| policy | channels | outcome | control | treated | control mean | relative change (95% CI) | "
            "literature | model vs literature |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        notes = {}
        for row in ev.effects.itertuples():
            lit = f"{row.literature} ({row.literature_source})" if row.literature else ""
            lines.append(
                f"| {row.policy} | {row.channel} | {row.outcome} | {row.control} | {row.treated} | "
                f"{row.control_mean:.4g} | {row.relative:+.1%} ({row.relative_low:+.1%}, {row.relative_high:+.1%}) | "
                f"{lit} | {row.versus_literature} |"
            )
            if row.literature_note:
                notes.setdefault(f"{row.policy}, {row.outcome}", row.literature_note)
        if notes:
            lines += ["", "How the model's effects compare with the literature:", ""]
            lines += [f"- **{what}**: {note}" for what, note in notes.items()]
    return "\n".join(lines) + "\n"


def validation_files(plan: Plan, outcomes: pd.DataFrame, read_model: ModelReader) -> dict[str, str]:
    """The files a validation results folder adds to a summary: name -> text (facts.csv, targets.csv, ...)."""
    ev = evaluate(plan, outcomes, read_model)
    files = {
        "validation.md": report_markdown(ev),
        "facts.csv": results_table(ev.results).to_csv(index=False, lineterminator="\n"),
        "targets.csv": ev.targets.to_csv(index=False, lineterminator="\n"),
    }
    if ev.claims is not None:
        files["claims.csv"] = ev.claims.to_csv(index=False, lineterminator="\n")
    if ev.effects is not None:
        files["effects.csv"] = ev.effects.to_csv(index=False, lineterminator="\n")
    return files


__all__ = [
    "Arm",
    "Claim",
    "Contrast",
    "Effect",
    "Evaluation",
    "Literature",
    "MASTER_SEED",
    "Result",
    "Target",
    "claims",
    "contrasts",
    "effects",
    "evaluate",
    "evaluate_folder",
    "format_value",
    "report_markdown",
    "results_table",
    "targets",
    "validation_files",
    "validation_plan",
]

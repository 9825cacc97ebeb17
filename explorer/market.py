"""The explorer's levers and the Mesa model that SolaraViz builds from them.

SolaraViz (re)creates a model by calling the model class with the control values as keyword
arguments, so :class:`ExplorerMarket` takes one keyword per lever, writes them into a scenario
with :meth:`~sim.config.ScenarioConfig.with_overrides` and is otherwise a plain
:class:`~sim.model.LendingMarket`: for the same scenario and seed its months are the months of
``run.py run``.

Choices a student should know about (also in ``docs/explorer.md``):

- The burn-in runs when the model is built (at Reset), so Step 1 is month 1 of the scenario and
  the burn-in months appear in the plots, shaded. Mesa's own step counter ("Time") counts all
  model steps, burn-in included: it reads 24 before the first click with the default burn-in.
- By default the policy levers act from month 1 (``levers_from_month_one``): the burn-in runs as
  the scenario file has it, and the levers that differ from the file are scheduled for month 1
  (``regulator.schedule``, ``platforms.schedule``), so two runs with the same seed share their
  burn-in and "before the shock" is the same market. Unticked, the levers set the scenario's
  starting values, burn-in included. Borrowers, seed and shock are the environment and apply from
  the start either way (a shock starts in month 1 at the earliest).
- Changes the scenario file schedules for later months and per-platform overrides still apply on
  top; the explorer lists them in its status panel.
- **A/B mode** (``ab``) runs a second market beside the first: the same seed, borrowers and shock,
  but the policy as the scenario file has it (A). The student's market is B; the page draws both
  and their paired difference B - A month by month. With common random numbers the difference is
  what the levers did, not luck.
- Every borrower's month is recorded (:class:`explorer.borrowers.BorrowerHistory`) for the
  borrower view, in both markets.
- The shock levers edit the scenario's first scheduled shock (its unemployment rise, start and
  length, keeping its other features), or add a U-shaped recession when the file has no shock.
- A run stops (``running`` is false) after the scenario's ``months``.

Nothing here imports Solara: the levers are tested without the ``[explore]`` extra.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sim.config import CollectionConfig, PenaltyConfig, ScenarioConfig, load_scenario
from sim.model import LendingMarket

from .borrowers import BorrowerHistory

PENALTY_RULES = PenaltyConfig.model_fields["rule"].annotation.__args__
# "custom" needs a conduct table from a scenario file, so it is offered only when the file has one.
COLLECTION_REGIMES = tuple(r for r in CollectionConfig.model_fields["regime"].annotation.__args__ if r != "custom")
# The shock a lever adds to a scenario without one: a recession shaped like scenarios/shocks/recession.yaml.
NEW_SHOCK = {"shape": "u"}
NO_SHOCK_START, NO_SHOCK_MONTHS = 12, 24  # where the shock sliders sit when the file has no shock
# The scenario file whose values seed the controls, passed from `run.py explore` to the server process.
SCENARIO_ENV = "LENDSIM_EXPLORER_SCENARIO"


@dataclass(frozen=True)
class Levers:
    """The values of the explorer's controls. Defaults are the baseline's (``ScenarioConfig()``).

    Rates are in the units a student reads them in: the penalty cap in per cent a year, the
    bureau mandate in per cent of platforms, the shock in percentage points of unemployment.
    """

    penalty_rule: str = "flat"
    penalty_cap_pct: float = 100.0
    collection: str = "standard"
    bureau_pct: float = 0.0
    scoring_noise: float = 0.8
    forbearance: bool = False
    shock_pp: float = 0.0
    shock_start: int = NO_SHOCK_START
    shock_months: int = NO_SHOCK_MONTHS
    borrowers: int = 10_000
    seed: int = 0
    levers_from_month_one: bool = True
    ab: bool = False


@dataclass(frozen=True)
class LeverSpec:
    """One control: its SolaraViz input type, label, range and the config key it sets."""

    name: str
    kind: Literal["Select", "SliderFloat", "SliderInt", "Checkbox"]
    label: str
    key: str
    lo: float | None = None
    hi: float | None = None
    step: float | None = None
    values: tuple[str, ...] = ()


LEVERS: tuple[LeverSpec, ...] = (
    LeverSpec("penalty_rule", "Select", "Penalty-rate rule", "platforms.policy.penalty.rule", values=PENALTY_RULES),
    LeverSpec(
        "penalty_cap_pct",
        "SliderFloat",
        "Penalty cap, % a year (100: none)",
        "regulator.penalty_cap_annual x 100",
        0.0,
        100.0,
        1.0,
    ),
    LeverSpec(
        "collection", "Select", "Collection regime", "platforms.policy.collection.regime", values=COLLECTION_REGIMES
    ),
    LeverSpec(
        "bureau_pct",
        "SliderFloat",
        "Bureau mandate, % of platforms",
        "regulator.bureau_mandate_share x 100",
        0.0,
        100.0,
        5.0,
    ),
    LeverSpec(
        "scoring_noise",
        "SliderFloat",
        "Scoring noise (lower: better)",
        "platforms.policy.underwriting.scoring_noise_sd",
        0.0,
        2.0,
        0.05,
    ),
    LeverSpec("forbearance", "Checkbox", "Forbearance in declared shocks", "regulator.forbearance.enabled"),
    LeverSpec(
        "shock_pp",
        "SliderFloat",
        "Shock: unemployment +pp",
        "economy.shocks[0].unemployment_delta x 100",
        0.0,
        15.0,
        0.5,
    ),
    LeverSpec("shock_start", "SliderInt", "Shock: start month", "economy.shocks[0].start", 1, 120, 1),
    LeverSpec("shock_months", "SliderInt", "Shock: length, months", "economy.shocks[0].duration", 1, 60, 1),
    LeverSpec("borrowers", "SliderInt", "Borrowers", "borrowers.count", 1000, 50_000, 1000),
    LeverSpec("seed", "SliderInt", "Random seed", "the model's seed", 0, 999, 1),
    LeverSpec(
        "levers_from_month_one",
        "Checkbox",
        "Policy levers act from month 1 (burn-in as the file)",
        "regulator.schedule and platforms.schedule at month 1",
    ),
    LeverSpec("ab", "Checkbox", "A/B: also run the file's policy (A), same seed", "a second market (A)"),
)
# Levers that are the market's policy (what A/B compares and what can start at month 1); the others -
# shock, borrowers, seed - are the environment both markets share.
POLICY_LEVERS = ("penalty_rule", "penalty_cap_pct", "collection", "bureau_pct", "scoring_noise", "forbearance")


def base_config(scenario_file: str | Path | None = None) -> ScenarioConfig:
    """The scenario the levers start from: a YAML file, or the baseline (the config defaults).

    Raises:
        ConfigError: the file is missing or invalid (one line, as everywhere in lendsim).
    """
    if scenario_file is None:
        return ScenarioConfig(name="baseline")
    return load_scenario(scenario_file)


def levers_from_config(config: ScenarioConfig, seed: int = 0) -> Levers:
    """The lever values that reproduce ``config`` (how a scenario file seeds the controls)."""
    policy, rules = config.platforms.policy, config.regulator
    shocks = config.economy.shocks
    first = shocks[0] if shocks else None
    return Levers(
        penalty_rule=policy.penalty.rule,
        penalty_cap_pct=_clean(100 * rules.penalty_cap_annual),
        collection=policy.collection.regime,
        bureau_pct=_clean(100 * rules.bureau_mandate_share),
        scoring_noise=policy.underwriting.scoring_noise_sd,
        forbearance=rules.forbearance.enabled,
        shock_pp=_clean(100 * first.unemployment_delta) if first else 0.0,
        shock_start=first.start if first else NO_SHOCK_START,
        shock_months=first.duration if first else NO_SHOCK_MONTHS,
        borrowers=config.borrowers.count,
        seed=seed,
    )


def config_with_levers(config: ScenarioConfig, levers: Levers) -> ScenarioConfig:
    """``config`` with the levers written into it, burn-in included (validated; raises :class:`ConfigError`)."""
    overrides: dict[str, Any] = {
        "platforms.policy.penalty.rule": str(levers.penalty_rule),
        "regulator.penalty_cap_annual": _clean(levers.penalty_cap_pct / 100),
        "platforms.policy.collection.regime": str(levers.collection),
        "regulator.bureau_mandate_share": _clean(levers.bureau_pct / 100),
        "platforms.policy.underwriting.scoring_noise_sd": _clean(levers.scoring_noise),
        "regulator.forbearance.enabled": bool(levers.forbearance),
        "economy.shocks": _shocks_with_levers(config, levers),
        "borrowers.count": int(levers.borrowers),
    }
    if levers.collection != "custom":  # the config allows a custom table only with regime "custom"
        overrides["platforms.policy.collection.custom"] = None
    return config.with_overrides(overrides)


def environment_levers(config: ScenarioConfig, levers: Levers) -> Levers:
    """``levers`` with the policy levers put back to the file's values: the A market's levers."""
    mine = levers_from_config(config, levers.seed)
    return dataclasses.replace(levers, **{name: getattr(mine, name) for name in POLICY_LEVERS})


def config_from_month_one(config: ScenarioConfig, levers: Levers) -> ScenarioConfig:
    """``config`` with the environment levers from the start and the policy levers scheduled for month 1.

    Only the policy levers that differ from the file are scheduled, so a market started on a file
    and left alone is exactly the file's (``run.py run`` on it gives the same months). The month-1
    changes come before the file's own later ones, which still apply on top; for platforms they
    come after per-platform overrides (``platforms.schedule`` does), so a moved lever reaches every
    platform.
    """
    start = config_with_levers(config, environment_levers(config, levers))
    whole = config_with_levers(config, levers)
    regulator, platform = {}, {}
    for key in ("penalty_cap_annual", "bureau_mandate_share"):
        if getattr(whole.regulator, key) != getattr(start.regulator, key):
            regulator[key] = getattr(whole.regulator, key)
    if whole.regulator.forbearance.enabled != start.regulator.forbearance.enabled:
        regulator["forbearance"] = {"enabled": whole.regulator.forbearance.enabled}
    new, old = whole.platforms.policy, start.platforms.policy
    if new.penalty.rule != old.penalty.rule:
        platform["penalty"] = {"rule": new.penalty.rule}
    if new.collection.regime != old.collection.regime:
        platform["collection"] = {"regime": new.collection.regime, "custom": new.collection.custom}
    if new.underwriting.scoring_noise_sd != old.underwriting.scoring_noise_sd:
        platform["underwriting"] = {"scoring_noise_sd": new.underwriting.scoring_noise_sd}
    overrides: dict[str, Any] = {}
    if regulator:
        overrides["regulator.schedule"] = [{"month": 1, "set": regulator}] + [
            c.model_dump() for c in start.regulator.schedule
        ]
    if platform:
        overrides["platforms.schedule"] = [{"month": 1, "set": platform}] + [
            c.model_dump() for c in start.platforms.schedule
        ]
    return start.with_overrides(overrides) if overrides else start


def market_config(config: ScenarioConfig, levers: Levers) -> ScenarioConfig:
    """The configuration the explorer runs for these levers (from month 1, or from the start)."""
    return config_from_month_one(config, levers) if levers.levers_from_month_one else config_with_levers(config, levers)


REPO_ROOT = Path(__file__).resolve().parent.parent


def shown_path(scenario_file: str | Path | None) -> str | None:
    """The scenario file as the page shows it: relative to the repository when it is inside it."""
    if scenario_file is None:
        return None
    path = Path(scenario_file).resolve()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def scenario_label(scenario_file: str | Path | None) -> str:
    """How the page names the scenario it was started on: the file's stem, or ``baseline``.

    A scenario's ``name`` is inherited through ``extends:`` (penalty_compounding.yaml is named
    "baseline"), so the file is what tells the student which one is loaded.
    """
    return "baseline" if scenario_file is None else Path(scenario_file).stem


def _clean(x: float) -> float:
    """A slider's float without binary noise (0.1 + 0.2), so range checks at the bounds pass."""
    return round(float(x), 6)


def _shocks_with_levers(config: ScenarioConfig, levers: Levers) -> list[dict]:
    shocks = [s.model_dump() for s in config.economy.shocks]
    if not shocks and levers.shock_pp == 0:
        return []  # no shock in the file and none asked for
    first = shocks[0] if shocks else dict(NEW_SHOCK)
    first.update(
        unemployment_delta=_clean(levers.shock_pp / 100),
        start=int(levers.shock_start),
        duration=int(levers.shock_months),
    )
    return [first] + shocks[1:]


def model_params(scenario_file: str | Path | None = None, seed: int = 0) -> dict[str, dict | str | None]:
    """SolaraViz ``model_params``: one control per lever, seeded from the scenario file.

    A slider's range is widened when the scenario's value lies outside it, so the control can
    show the file's value. ``scenario_file`` is passed through as a fixed parameter, so Reset
    rebuilds from the same file.
    """
    config = base_config(scenario_file)
    values = dataclasses.asdict(levers_from_config(config, seed))
    params: dict[str, dict | str | None] = {}
    for spec in LEVERS:
        value = values[spec.name]
        control: dict[str, Any] = {"type": spec.kind, "value": value, "label": spec.label}
        if spec.kind == "Select":
            choices = list(spec.values)
            if value not in choices:
                choices.append(value)  # e.g. a file's "custom" collection regime
            control["values"] = choices
        elif spec.kind != "Checkbox":
            hi = config.months if spec.name == "shock_start" else spec.hi
            control.update(min=min(spec.lo, value), max=max(hi, value), step=spec.step)
        params[spec.name] = control
    params["scenario_file"] = None if scenario_file is None else str(scenario_file)
    return params


class ExplorerMarket(LendingMarket):
    """A :class:`~sim.model.LendingMarket` built from the explorer's controls.

    Every argument is a keyword with a default, as SolaraViz requires. The burn-in months run
    here, so the first step is month 1; the run stops after the scenario's ``months``.

    Attributes:
        twin: In A/B mode, market A (a plain LendingMarket: the file's policy, the same seed,
            borrowers and shock), stepped with this one; else None.
        history: Every borrower's months in this market (B); ``twin_history`` in A.
        label: The scenario's name on the page (:func:`scenario_label`).

    Args:
        scenario_file: the YAML file the levers are written into; None for the baseline.
        The others: see :class:`Levers` and :data:`LEVERS`.
    """

    def __init__(
        self,
        penalty_rule: str = Levers.penalty_rule,
        penalty_cap_pct: float = Levers.penalty_cap_pct,
        collection: str = Levers.collection,
        bureau_pct: float = Levers.bureau_pct,
        scoring_noise: float = Levers.scoring_noise,
        forbearance: bool = Levers.forbearance,
        shock_pp: float = Levers.shock_pp,
        shock_start: int = Levers.shock_start,
        shock_months: int = Levers.shock_months,
        borrowers: int = Levers.borrowers,
        seed: int = Levers.seed,
        levers_from_month_one: bool = Levers.levers_from_month_one,
        ab: bool = Levers.ab,
        scenario_file: str | None = None,
    ) -> None:
        self.levers = Levers(
            penalty_rule,
            penalty_cap_pct,
            collection,
            bureau_pct,
            scoring_noise,
            forbearance,
            shock_pp,
            shock_start,
            shock_months,
            borrowers,
            int(seed),
            bool(levers_from_month_one),
            bool(ab),
        )
        self.scenario_file = scenario_file
        self.label = scenario_label(scenario_file)
        self.file_config = base = base_config(scenario_file)
        #: the scenario as the levers make it from month 1 (what the page lists as the levers)
        self.lever_config = config_with_levers(base, self.levers)
        config = market_config(base, self.levers)
        super().__init__(config, seed=int(seed))
        self.history = BorrowerHistory(config.borrowers.count, config.platforms.count)
        self.twin: LendingMarket | None = None
        self.twin_history: BorrowerHistory | None = None
        if self.levers.ab:
            self.twin = LendingMarket(config_with_levers(base, environment_levers(base, self.levers)), seed=int(seed))
            self.twin_history = BorrowerHistory(config.borrowers.count, config.platforms.count)
        for _ in range(config.burn_in):
            self.step()

    def step(self) -> None:
        """One month, in both markets in A/B mode; marks the run finished after the scenario's last month."""
        super().step()
        self.history.record(self)
        if self.twin is not None:
            self.twin.step()
            self.twin_history.record(self.twin)
        self.running = self.month < self.config.months

    def run_to(self, month: int) -> int:
        """Step until ``month`` (or the run's last month); returns the months stepped.

        Play steps until paused, so it overshoots the month a student aims for; this stops there.
        """
        target = min(int(month), self.config.months)
        stepped = 0
        while self.month < target:
            self.step()
            stepped += 1
        return stepped

    def scheduled_changes(self) -> list[str]:
        """The scenario file's own rule and policy changes by month, in words for the status panel
        (not the month-1 changes the levers make, which the panel shows as the levers in force)."""
        out = []
        for who, schedule in (
            ("regulator", self.file_config.regulator.schedule),
            ("platforms", self.file_config.platforms.schedule),
        ):
            for change in schedule:
                out.append(f"month {change.month}: {who} sets {_flat(change.set)}")
        for ov in self.file_config.platforms.overrides:
            out.append(f"platforms {ov.platforms}: {_flat(ov.set)}")
        return out


def _flat(tree: dict, prefix: str = "") -> str:
    parts = []
    for key, value in tree.items():
        if isinstance(value, dict):
            parts.append(_flat(value, f"{prefix}{key}."))
        else:
            parts.append(f"{prefix}{key} = {value}")
    return ", ".join(parts)

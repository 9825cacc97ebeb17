"""Sensitivity specs: a sweep whose design is a SALib sample (Sobol or Morris), validated into a Plan.

A sensitivity spec (``scenarios/sensitivity/*.yaml``) reads like a sweep spec with a method::

    description: What drives the overdue peak of a recession?
    base: ../shocks/recession.yaml
    method: sobol                  # sobol (indices S1, ST, optionally S2) | morris (screening)
    samples: 16                    # sobol: base sample N (a power of two); morris: trajectories
    calc_second_order: false       # sobol: also second-order indices (2D + 2 points per N, not D + 2)
    parameters:                    # dotted config keys, min-max ranges (log: true for log-uniform)
      economy.shocks[0].unemployment_delta: {min: 0.0, max: 0.10}
      regulator.bureau_mandate_share: {min: 0.0, max: 1.0}
      platforms.policy.collection.regime: {values: [standard, regulated]}   # sobol only: categories
    replications: 2                # each point is the mean of R seeded runs (common random numbers)
    master_seed: 41
    overrides: {borrowers.count: 3000, months: 48}
    outcomes: [peak_overdue_balance_rate, cum_default_rate]

The design comes from :func:`analysis.sensitivity.unit_sample` (model-free, so the analysis can
regenerate it from the manifest) and is mapped onto each range exactly as sweeps map theirs
(:class:`experiments.design.Axis`). A categorical parameter (listed ``values``) is accepted by the
Sobol method: its coordinate picks one of the k values, each on an interval of width 1/k, so its
indices are those of a variable taking each listed value with equal probability. Morris refuses
it: an elementary effect is a change per unit of range, which categories do not have.

The plan is an ordinary sweep plan (kind ``sweep``), so running, ``--resume``, dask, ``-j`` and
``run.py reproduce`` behave exactly as for sweeps; the manifest records this spec, with its
method, for the analysis.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from analysis.sensitivity import design_size, unit_sample
from sim.config import ConfigError, read_yaml
from sim.keys import set_value

from . import design as designs
from .plan import Cell, Plan
from .spec import (
    MAX_POINTS,
    ExperimentSpec,
    Parameter,
    check_outcome_months,
    check_value,
    scenario_and_changes,
    swept_leaf,
    validate_spec,
    with_overrides,
)

# Beyond this many runs a spec is almost certainly a typo (N = 4096 instead of 64).
MAX_RUNS = 1_000_000


class SensitivitySpec(ExperimentSpec):
    """Global sensitivity of outcomes to ranges of config keys of a base scenario."""

    base: str = Field(description="scenario the analysis varies, relative to the spec file")
    method: Literal["sobol", "morris"] = Field(description="sobol: variance-based indices; morris: screening")
    samples: int = Field(
        ge=2, le=65_536, description="sobol: base sample size N (a power of two); morris: trajectories"
    )
    calc_second_order: bool = Field(False, description="sobol: also second-order (pairwise interaction) indices")
    levels: int = Field(4, ge=2, le=100, description="morris: grid levels of each parameter (even, e.g. 4)")
    design_seed: int | None = Field(None, ge=0, le=2**63 - 1, description="seed of the design (default: master_seed)")
    num_resamples: int = Field(1000, ge=10, le=100_000, description="bootstrap resamples for the confidence intervals")
    conf_level: float = Field(0.95, gt=0.0, lt=1.0, description="confidence level of the intervals")
    parameters: dict[str, Parameter] = Field(
        min_length=2, description="varied keys: min-max ranges, or (sobol) listed values taken with equal probability"
    )

    @model_validator(mode="after")
    def _design(self) -> SensitivitySpec:
        for key, p in self.parameters.items():
            if p.values is not None and self.method == "morris":
                raise ValueError(
                    f"@parameters.{key}: morris needs a 'min'-'max' range (listed values have no elementary effect "
                    "per unit of range); use method: sobol, which takes listed values with equal probability, or "
                    "a grid sweep (run.py sweep) for main effects and a variance decomposition"
                )
            if p.levels is not None:
                raise ValueError(f"@parameters.{key}: 'levels' is for grids; the method samples the range")
        if self.method == "sobol" and self.samples & (self.samples - 1):
            raise ValueError(f"@samples: sobol needs a power of two (e.g. 8, 16, 64), got {self.samples}")
        if self.method != "sobol" and self.calc_second_order:
            raise ValueError("@calc_second_order: second-order indices are for method sobol")
        if self.method == "morris" and self.levels % 2:
            raise ValueError(f"@levels: morris needs an even number of levels (e.g. 4), got {self.levels}")
        overlap = sorted(set(self.parameters) & set(self.overrides))
        if overlap:
            raise ValueError(f"@overrides.{overlap[0]}: also a varied parameter; give it in one place")
        points = design_size(self.method, len(self.parameters), self.samples, self.calc_second_order)
        if points > MAX_POINTS:  # as for sweeps: each point holds a whole scenario, built before any run
            raise ValueError(f"@samples: {points:,} points is more than the {MAX_POINTS:,} a design can hold")
        if points * self.replications > MAX_RUNS:
            raise ValueError(f"@samples: {points} points x {self.replications} replications is over {MAX_RUNS:,} runs")
        return self

    @property
    def seed(self) -> int:
        return self.master_seed if self.design_seed is None else self.design_seed


def load_sensitivity(path: str | Path) -> tuple[SensitivitySpec, Plan]:
    """Read and validate a sensitivity spec, draw its design and resolve every point's config.

    Raises:
        ConfigError: one line naming the file, the key path and what is allowed.
    """
    path = Path(path)
    data = read_yaml(path, str(path))
    for marker, command in (("policies", "compare"), ("design", "sweep")):
        if marker in data:
            raise ConfigError(f"{path}: {marker}: this is not a sensitivity spec; run it with `run.py {command}`")
    spec = validate_spec(SensitivitySpec, data, path)
    _, base, _ = scenario_and_changes(path, spec.base, "base")
    base_data = base.model_dump()

    axes = []
    for key, p in spec.parameters.items():
        where = f"{path}: parameters.{key}"
        leaf = swept_leaf(key, where, base_data)
        if p.values is not None:
            # A categorical parameter (a regime, a rule): the unit coordinate picks one of the listed values,
            # each with probability 1/k, exactly as sweeps map it; Sobol indices of a function of the
            # coordinate are those of the categorical variable itself.
            for n, value in enumerate(p.values):
                check_value(leaf, value, f"{where}.values[{n}]")
            axes.append(designs.Axis(key, tuple(p.values)))
            continue
        if not leaf.is_number:
            raise ConfigError(
                f"{where}: not a number, so it has no range; list its 'values' (categories, with method: sobol)"
            )
        for end in ("min", "max"):
            value = getattr(p, end)
            if leaf.is_integer:
                if value != int(value):
                    raise ConfigError(f"{where}.{end}: {value:g} is not a whole number, and {key} is an integer")
                value = int(value)
            check_value(leaf, value, f"{where}.{end}")
        axes.append(designs.Axis(key, None, p.min, p.max, None, p.log, leaf.is_integer))

    unit = unit_sample(
        spec.method,
        [a.key for a in axes],
        spec.samples,
        spec.seed,
        calc_second_order=spec.calc_second_order,
        levels=spec.levels,
    )
    width = max(3, len(str(len(unit) - 1)))
    cells = []
    for i, row in enumerate(unit):
        cell_id = f"p{i:0{width}d}"
        point = {a.key: a.from_unit(float(u)) for a, u in zip(axes, row)}
        data = copy.deepcopy(base_data)
        for key, value in point.items():
            set_value(data, key, value)
        data["name"] = f"{base.name}-{cell_id}"
        config = with_overrides(data, spec.overrides, path, f"design point {cell_id} {point}")
        cells.append(Cell(cell_id, point, config))
    check_outcome_months(spec, cells, path)
    plan = Plan(
        kind="sweep",
        cells=tuple(cells),
        replications=spec.replications,
        master_seed=spec.master_seed,
        outcomes=tuple(spec.outcomes),
        label_columns=tuple(spec.parameters),
        description=spec.description,
    )
    return spec, plan


def describe(spec: SensitivitySpec, plan: Plan) -> str:
    """One line: the method and how its design turns into runs."""
    d = len(spec.parameters)
    if spec.method == "sobol":
        per = f"{2 * d + 2} (2D + 2, with second order)" if spec.calc_second_order else f"{d + 2} (D + 2)"
        how = f"sobol: N={spec.samples} base samples x {per} for D={d} parameters"
    else:
        how = f"morris: {spec.samples} trajectories x {d + 1} (D + 1) points, {spec.levels} levels"
    return f"{how} = {len(plan.cells)} points; {plan.describe()}"


__all__ = ["SensitivitySpec", "describe", "load_sensitivity"]

"""Comparison and sweep specs: YAML files that declare an experiment, validated into a :class:`Plan`.

A **comparison** (``scenarios/comparisons/*.yaml``) crosses policy scenarios with shock scenarios::

    description: Headline policies under a recession
    policies: [../baseline.yaml, ../policies/penalty_cap.yaml]   # or {file: ..., name: ...}
    shocks: [none, ../shocks/recession.yaml]                      # none = the policy as it is
    reference: baseline                                           # default: the first policy
    replications: 8
    master_seed: 20240601
    overrides: {borrowers.count: 5000, months: 60}                # applied to every cell
    outcomes: [peak_overdue_balance_rate, {name: overdue_balance_rate_at, month: 24}, cum_default_rate]

A **sweep** (``scenarios/sweeps/*.yaml``) varies dotted config keys of one base scenario::

    base: ../shocks/recession.yaml
    design: latin_hypercube          # grid | latin_hypercube | sobol
    samples: 16                      # points, for latin_hypercube and sobol
    parameters:
      regulator.penalty_cap_annual: {min: 0.05, max: 0.5}
      platforms.policy.collection.regime: {values: [standard, regulated]}
    replications: 2
    master_seed: 7
    outcomes: [cum_default_rate, losses]

File paths in a spec are relative to the spec file, as ``extends:`` paths are relative to the
scenario that writes them.

**Combining a policy and a shock.** A shock scenario contributes what it *changes*: every key
whose value in the shock scenario differs from its value in the root of the shock's
``extends:`` chain (normally ``baseline.yaml``), compared after validation. Those keys are set on
the policy's config. If the policy also changes one of them (relative to its own root) to a
different value, the combination is ambiguous and the spec is refused; the policy never silently
wins or loses. Spec ``overrides`` are applied last, to every cell.

Every mistake is a :class:`sim.config.ConfigError` of one line: the file, the dotted key path in
it and what is allowed - the engine's format, printed by ``run.py`` with exit code 2.
"""

from __future__ import annotations

import copy
import math
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from sim.config import ConfigError, ScenarioConfig, Section, format_error, load_scenario, read_yaml, validate_scenario
from sim.keys import KeyPathError, Leaf, resolve, set_value, strip_optional

from . import design as designs
from .outcomes import OutcomeSpec, parse_outcome
from .plan import Cell, Plan

NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
NO_SHOCK = "none"
# Keys of a scenario that label it rather than change the market.
_LABEL_KEYS = frozenset({"name", "description"})


# --------------------------------------------------------------------------- spec models


class ScenarioRef(Section):
    """A scenario file in a comparison, with the name its cells and tables use."""

    file: str | None = Field(description="scenario YAML, relative to the spec file (None: no shock)")
    name: str | None = Field(None, pattern=NAME, description="short name (default: the file's stem)")

    @property
    def label(self) -> str:
        return self.name or (Path(self.file).stem if self.file else NO_SHOCK)


def _ref(item: Any) -> Any:
    if item == NO_SHOCK:
        return {"file": None, "name": NO_SHOCK}
    return {"file": item} if isinstance(item, str) else item


class ExperimentSpec(Section):
    description: str = Field("", description="what the experiment is for")
    replications: int = Field(ge=1, le=100_000, description="runs per cell, with common random numbers")
    master_seed: int = Field(ge=0, le=2**63 - 1, description="entropy the replication seeds are spawned from")
    overrides: dict[str, Any] = Field({}, description="dotted config keys set in every cell, e.g. borrowers.count")
    outcomes: list[OutcomeSpec] = Field(min_length=1, description="what to report, by name")

    @field_validator("outcomes", mode="before")
    @classmethod
    def _bare_names(cls, value: Any) -> Any:
        return [parse_outcome(item) for item in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _unique_outcomes(self) -> ExperimentSpec:
        keys = [o.key for o in self.outcomes]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise ValueError(f"@outcomes: {repeated[0]!r} is listed twice; give one of them a 'label'")
        return self


class ComparisonSpec(ExperimentSpec):
    """Policies x shocks, R replications each, differences paired against a reference policy."""

    policies: list[ScenarioRef] = Field(min_length=1, description="policy scenarios")
    shocks: list[ScenarioRef] = Field(
        [ScenarioRef(file=None, name=NO_SHOCK)],
        min_length=1,
        description="shock scenarios ('none' runs the policies as they are)",
    )
    reference: str | None = Field(None, description="policy the others are compared with (default: the first)")

    @field_validator("policies", "shocks", mode="before")
    @classmethod
    def _refs(cls, value: Any) -> Any:
        return [_ref(item) for item in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _names(self) -> ComparisonSpec:
        for i, ref in enumerate(self.policies):
            if ref.file is None:
                raise ValueError(f"@policies[{i}]: 'none' is for shocks; a policy needs a scenario file")
        for group in ("policies", "shocks"):
            labels = [r.label for r in getattr(self, group)]
            repeated = sorted({x for x in labels if labels.count(x) > 1})
            if repeated:
                raise ValueError(f"@{group}: two entries are named {repeated[0]!r}; give one a 'name'")
        names = [r.label for r in self.policies]
        if self.reference is not None and self.reference not in names:
            raise ValueError(f"@reference: {self.reference!r} is not one of the policies: {', '.join(names)}")
        return self

    @property
    def reference_name(self) -> str:
        return self.reference or self.policies[0].label


class Parameter(Section):
    """One swept key: listed ``values``, or a ``min``-``max`` range (``levels`` of it in a grid)."""

    values: list[Any] | None = Field(None, min_length=1, description="the values to take")
    min: float | None = Field(None, description="low end of the range")
    max: float | None = Field(None, description="high end of the range")
    levels: int | None = Field(None, ge=1, le=10_000, description="grid: evenly spaced values of the range")
    log: bool = Field(False, description="space the range on a log scale (min > 0)")

    @model_validator(mode="after")
    def _shape(self) -> Parameter:
        has_range = self.min is not None or self.max is not None
        if (self.values is None) == (not has_range):
            raise ValueError("give either 'values' or 'min' and 'max'")
        if has_range and (self.min is None or self.max is None):
            raise ValueError("a range needs both 'min' and 'max'")
        if has_range and self.max < self.min:
            raise ValueError(f"max ({self.max:g}) is below min ({self.min:g})")
        if self.values is not None and (self.levels is not None or self.log):
            raise ValueError("'levels' and 'log' go with a 'min'-'max' range, not with 'values'")
        if self.log and self.min <= 0:
            raise ValueError("a log range needs min > 0")
        return self


# The largest sweep a spec may ask for. 20,000 points took 19 s and 0.8 GB to plan on a 2-core
# machine, so 100,000 is minutes and a few GB; 1,000,000 runs of the smallest model are days of work.
MAX_POINTS = 100_000
MAX_RUNS = 1_000_000


class SweepSpec(ExperimentSpec):
    """Design points over dotted config keys of a base scenario, R replications each."""

    base: str = Field(description="scenario the sweep varies, relative to the spec file")
    design: Literal["grid", "latin_hypercube", "sobol"] = Field(description="how points are chosen")
    samples: int | None = Field(None, ge=1, le=1_000_000, description="latin_hypercube and sobol: number of points")
    design_seed: int | None = Field(None, ge=0, le=2**63 - 1, description="seed of the design (default: master_seed)")
    parameters: dict[str, Parameter] = Field(min_length=1, description="swept keys")

    @model_validator(mode="after")
    def _design(self) -> SweepSpec:
        if self.design == "grid":
            if self.samples is not None:
                raise ValueError("@samples: a grid takes every combination; 'samples' is for latin_hypercube and sobol")
            for key, p in self.parameters.items():
                if p.values is None and p.levels is None:
                    raise ValueError(f"@parameters.{key}: a grid over a range needs 'levels'")
        else:
            if self.samples is None:
                raise ValueError(f"@samples: {self.design} needs 'samples', the number of points")
            if self.design == "sobol" and self.samples & (self.samples - 1):
                raise ValueError(f"@samples: sobol needs a power of two (e.g. 16, 32, 64), got {self.samples}")
            for key, p in self.parameters.items():
                if p.levels is not None:
                    raise ValueError(f"@parameters.{key}: 'levels' is for grids; {self.design} samples the range")
        overlap = sorted(set(self.parameters) & set(self.overrides))
        if overlap:
            raise ValueError(f"@overrides.{overlap[0]}: also a swept parameter; give it in one place")
        self._check_size()
        return self

    def _check_size(self) -> None:
        # Counted before the design is built: every point holds a whole scenario (about 40 KB, 1 ms to
        # validate), so a grid of 10,000 levels on three axes (10^12 points) hung until the kernel
        # killed it, before a line of output.
        if self.design == "grid":
            sizes = [len(p.values) if p.values is not None else p.levels for p in self.parameters.values()]
            points, where = math.prod(sizes), "@parameters"
            shape = f"a grid of {' x '.join(f'{n:,}' for n in sizes)} = {points:,} points"
        else:
            points, where, shape = self.samples, "@samples", f"{self.samples:,} points"
        if points > MAX_POINTS:
            raise ValueError(
                f"{where}: {shape} is more than the {MAX_POINTS:,} a sweep can hold; "
                "use fewer levels or samples, or split the sweep into several specs"
            )
        runs = points * self.replications
        if runs > MAX_RUNS:
            raise ValueError(
                f"@replications: {points:,} points x {self.replications:,} replications = {runs:,} runs, more "
                f"than the {MAX_RUNS:,} a sweep can hold; use fewer replications or points"
            )


# --------------------------------------------------------------------------- loading


def load_comparison(path: str | Path) -> tuple[ComparisonSpec, Plan]:
    """Read and validate a comparison spec and resolve every cell's config.

    Raises:
        ConfigError: one line naming the file, the key path and what is allowed.
    """
    path = Path(path)
    spec = validate_spec(ComparisonSpec, _read_spec(path, "comparison"), path)
    shown = str(path)
    reference = spec.reference_name

    policies = [(ref, *scenario_and_changes(path, ref.file, f"policies[{i}]")) for i, ref in enumerate(spec.policies)]
    shocks = [
        (ref, shock_changes(path, ref.file, f"shocks[{j}]") if ref.file else {}) for j, ref in enumerate(spec.shocks)
    ]
    cells = []
    for ref, _, policy_config, policy_changes in policies:
        for shock_ref, changes in shocks:
            cell_id = f"{ref.label}__{shock_ref.label}"
            data = combine(policy_config, policy_changes, changes, ref.file, shock_ref.file, shown)
            data["name"] = cell_id
            config = with_overrides(data, spec.overrides, path, f"cell {cell_id}")
            cells.append(Cell(cell_id, {"policy": ref.label, "shock": shock_ref.label}, config))
    check_outcome_months(spec, cells, path)
    plan = Plan(
        kind="comparison",
        cells=tuple(cells),
        replications=spec.replications,
        master_seed=spec.master_seed,
        outcomes=tuple(spec.outcomes),
        label_columns=("policy", "shock"),
        reference=reference,
        description=spec.description,
    )
    return spec, plan


def load_sweep(path: str | Path) -> tuple[SweepSpec, Plan]:
    """Read and validate a sweep spec, compute its design and resolve every point's config.

    Raises:
        ConfigError: one line naming the file, the key path and what is allowed.
    """
    path = Path(path)
    spec = validate_spec(SweepSpec, _read_spec(path, "sweep"), path)
    shown = str(path)
    _, base, _ = scenario_and_changes(path, spec.base, "base")
    base_data = base.model_dump()

    axes = []
    for key, p in spec.parameters.items():
        where = f"{shown}: parameters.{key}"
        leaf = swept_leaf(key, where, base_data)
        if p.values is not None:
            for n, value in enumerate(p.values):
                check_value(leaf, value, f"{where}.values[{n}]")
        else:
            if not leaf.is_number:
                raise ConfigError(f"{where}: not a number, so it has no range; list its 'values'")
            for end in ("min", "max"):
                value = getattr(p, end)
                if leaf.is_integer:
                    if value != int(value):
                        raise ConfigError(f"{where}.{end}: {value:g} is not a whole number, and {key} is an integer")
                    value = int(value)
                check_value(leaf, value, f"{where}.{end}")
        axes.append(
            designs.Axis(
                key, None if p.values is None else tuple(p.values), p.min, p.max, p.levels, p.log, leaf.is_integer
            )
        )

    seed = spec.master_seed if spec.design_seed is None else spec.design_seed
    if spec.design == "grid":
        points = designs.grid(axes)
    elif spec.design == "latin_hypercube":
        points = designs.latin_hypercube(axes, spec.samples, seed)
    else:
        points = designs.sobol(axes, spec.samples, seed)

    width = max(3, len(str(len(points) - 1)))
    cells = []
    for i, point in enumerate(points):
        cell_id = f"p{i:0{width}d}"
        data = copy.deepcopy(base_data)
        for key, value in point.items():
            set_value(data, key, value)
        data["name"] = f"{base.name}-{cell_id}"
        config = with_overrides(data, spec.overrides, path, f"design point {cell_id} {point}")
        cells.append(Cell(cell_id, dict(point), config))
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


def _read_spec(path: Path, kind: str) -> dict:
    data = read_yaml(path, str(path))
    marker, command = ("parameters", "sweep") if kind == "comparison" else ("policies", "compare")
    if marker in data:
        raise ConfigError(f"{path}: {marker}: this is not a {kind} spec; run it with `run.py {command}`")
    return data


def validate_spec(model: type[Section], data: dict, path: Path) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        # a misspelt required key is both missing and unknown: the unknown one names the typo, so it goes first
        kinds = [e["type"] for e in err.errors()]
        index = kinds.index("extra_forbidden") if "extra_forbidden" in kinds else 0
        message = format_error(err, {}, str(path), index)
        first = err.errors()[index]
        if first["type"] == "extra_forbidden":  # a spec's keys are not model.md's: name the ones allowed here
            allowed = _keys_at(model, list(first["loc"])[:-1])
            if allowed:
                message = message.replace(
                    "see docs/model.md for the allowed keys", "allowed here: " + ", ".join(allowed)
                )
        raise ConfigError(message) from None


def _keys_at(model: type, loc: list) -> list[str]:
    """The keys a spec model allows at ``loc`` (a pydantic error location), or [] where that is not a model."""
    current: Any = model
    for part in loc:
        current = strip_optional(current)
        origin, args = typing.get_origin(current), typing.get_args(current)
        if origin is list and isinstance(part, int) and args:
            current = args[0]
        elif origin is dict and isinstance(part, str) and len(args) == 2:
            current = args[1]
        elif isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = current.model_fields[part].annotation
        else:
            return []
    current = strip_optional(current)
    if not (isinstance(current, type) and issubclass(current, BaseModel)):
        return []
    return [f.alias or name for name, f in current.model_fields.items()]


def scenario_and_changes(spec_path: Path, file: str, where: str) -> tuple[Path, ScenarioConfig, dict[tuple, Any]]:
    """A scenario of a spec, and what it changes relative to the root of its extends: chain."""
    scenario = spec_path.parent / file
    if not scenario.is_file():
        raise ConfigError(f"{spec_path}: {where}: file '{file}' not found (looked for {scenario})")
    config = load_scenario(scenario)
    root = _chain_root(scenario)
    if root == scenario:
        return scenario, config, {}
    mine, theirs = _flatten(config.model_dump()), _flatten(load_scenario(root).model_dump())
    changes = {k: v for k, v in mine.items() if k[0] not in _LABEL_KEYS and theirs.get(k, _MISSING) != v}
    return scenario, config, changes


_MISSING = object()


def shock_changes(spec_path: Path, file: str, where: str) -> dict[tuple, Any]:
    """What a shock scenario changes relative to the root of its extends: chain (refused if nothing)."""
    _, _, changes = scenario_and_changes(spec_path, file, where)
    if not changes:
        raise ConfigError(
            f"{spec_path}: {where}: {file} changes nothing relative to the root of its "
            f"extends: chain; a shock scenario must extend a baseline and change it"
        )
    return changes


def combine(
    policy: ScenarioConfig,
    policy_changes: dict[tuple, Any],
    changes: dict[tuple, Any],
    policy_file: str,
    shock_file: str | None,
    shown: str,
) -> dict:
    """The policy's config with a shock's changes set on it, as a dict; refused where both change a key.

    This is the one way lendsim combines a policy with a shock (comparisons and validation).
    """
    for key, value in changes.items():
        if key in policy_changes and policy_changes[key] != value:
            raise ConfigError(
                f"{shown}: shocks: {shock_file} and policy {policy_file} both set {_dotted(key)}; "
                f"a shock may only change what the policy leaves at its baseline value"
            )
    data = policy.model_dump()
    for key, value in changes.items():
        _set_path(data, key, value)
    return data


def combine_policy_and_shock(
    folder: Path, policy_file: str, shock_file: str | None, overrides: dict[str, Any], name: str
) -> ScenarioConfig:
    """A policy scenario combined with a shock scenario (files relative to ``folder``), with dotted overrides.

    Raises:
        ConfigError: one line, as for a comparison spec.
    """
    anchor = folder / "(validation arms)"  # files are looked up beside it, messages name it
    _, policy, policy_changes = scenario_and_changes(anchor, policy_file, "policy")
    changes = shock_changes(anchor, shock_file, "shock") if shock_file else {}
    data = combine(policy, policy_changes, changes, policy_file, shock_file, f"{anchor}: {name}")
    data["name"] = name
    return with_overrides(data, overrides, anchor, f"cell {name}")


def _chain_root(path: Path) -> Path:
    """The first file of ``path``'s extends: chain (load_scenario has already checked the chain)."""
    while True:
        parent = read_yaml(path, str(path)).get("extends")
        if parent is None:
            return path
        path = path.parent / parent


def _flatten(data: dict, prefix: tuple = ()) -> dict[tuple, Any]:
    """Leaves of a nested dict by key path; lists are leaves (they are replaced whole)."""
    out: dict[tuple, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, prefix + (key,)))
        else:
            out[prefix + (key,)] = value
    return out


def _set_path(data: dict, key: tuple, value: Any) -> None:
    node = data
    for part in key[:-1]:
        node = node[part]
    node[key[-1]] = value


def _dotted(key: tuple) -> str:
    return ".".join(str(k) for k in key)


def leaf_at(key: str, where: str) -> Leaf:
    try:
        return resolve(key)
    except KeyPathError as err:
        raise ConfigError(f"{where}: {err}") from None


def swept_leaf(key: str, where: str, base_data: dict) -> Leaf:
    """The leaf a sweep or sensitivity parameter varies; a list index in it must exist in the base."""
    leaf = leaf_at(key, where)
    try:
        set_value(copy.deepcopy(base_data), key, None)
    except KeyPathError as err:
        raise ConfigError(f"{where}: {err}") from None
    return leaf


def check_value(leaf: Leaf, value: Any, where: str) -> None:
    try:
        leaf.check(value)
    except ValueError as err:
        raise ConfigError(f"{where}: {err}") from None


def with_overrides(data: dict, overrides: dict[str, Any], path: Path, what: str) -> ScenarioConfig:
    """Apply a spec's overrides to a cell's config dict and validate the result."""
    for key, value in overrides.items():
        where = f"{path}: overrides.{key}"
        check_value(leaf_at(key, where), value, where)
        try:
            set_value(data, key, value)
        except KeyPathError as err:
            raise ConfigError(f"{where}: {err}") from None
    return validate_scenario(data, source=f"{path}: {what}")


def check_outcome_months(
    spec: ExperimentSpec, cells: list[Cell], path: Path, keys: list[str] | None = None, unit: str = "cell"
) -> None:
    """Refuse an outcome month or window end beyond the last month of some cell (one line).

    ``keys`` names each outcome's place in the spec (default ``outcomes[n]``) and ``unit`` what a cell is
    called there, so that a calibration's message points at ``moments[n].outcome`` and a setting.
    """
    for n, outcome in enumerate(spec.outcomes):
        key = keys[n] if keys is not None else f"outcomes[{n}]"
        for param, value in (("month", outcome.month), ("from", outcome.from_month), ("to", outcome.to_month)):
            if value is None:
                continue
            for cell in cells:
                if value > cell.config.months:
                    raise ConfigError(
                        f"{path}: {key}.{param}: {value} is after the last month of {unit} "
                        f"{cell.id} (months: {cell.config.months}); allowed: 1 to {cell.config.months}"
                    )


__all__ = [
    "ComparisonSpec",
    "ExperimentSpec",
    "Parameter",
    "ScenarioRef",
    "SweepSpec",
    "check_outcome_months",
    "check_value",
    "leaf_at",
    "load_comparison",
    "load_sweep",
    "scenario_and_changes",
    "swept_leaf",
    "validate_spec",
    "with_overrides",
]

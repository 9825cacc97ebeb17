"""lendsim as a model of the EMA workbench (optional extra ``ema``: ``pip install -e '.[ema]'``).

The `EMA workbench <https://emaworkbench.readthedocs.io>`_ declares an experiment as uncertainties
(what we cannot control: the depth of a recession), levers (what policy controls: a penalty cap,
a collection regime), constants and outcomes, and offers samplers, parallel evaluators and
scenario discovery (PRIM, CART). :func:`lendsim_model` wraps a base scenario as an EMA
``ReplicatorModel``::

    from ema_workbench import perform_experiments
    from experiments.ema import lendsim_model

    model = lendsim_model(
        "scenarios/shocks/recession.yaml",
        uncertainties={"economy.shocks[0].unemployment_delta": (0.0, 0.12)},
        levers={"regulator.penalty_cap_annual": (0.06, 0.36),
                "platforms.policy.collection.regime": ["standard", "aggressive", "regulated"]},
        outcomes=["peak_overdue_balance_rate", "cum_default_rate"],
        replications=3, master_seed=7, overrides={"borrowers.count": 3000, "months": 48})
    experiments, outcomes = perform_experiments(model, scenarios=50, policies=4)

Parameters are dotted config keys, as in sweep specs: a ``(low, high)`` pair is a range (integer
for integer keys), a list is categorical; each is checked against the range the configuration
declares. EMA names must be identifiers, so each parameter is named by the last part of its key
(``unemployment_delta``; ``regime``), made unique when two keys end alike; the ``experiments``
table uses those names and :attr:`ReplicatorModel.lendsim_keys` maps them back.

**Seeded replications.** Each experiment is run ``replications`` times; replication r uses child
r of ``SeedSequence(master_seed).spawn(replications)``, exactly as comparisons and sweeps do
(common random numbers across experiments), and every outcome is the mean over the replications.
Outcomes are the registered outcomes of :mod:`experiments.outcomes`, by name or as dicts.

This module imports the model; ``analysis`` never does.
"""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sim.config import ConfigError, load_scenario, validate_scenario
from sim.keys import KeyPathError, set_value

from .outcomes import OutcomeSpec, parse_outcome
from .spec import check_value, leaf_at


class LendsimFunction:
    """The callable EMA runs: one seeded simulation of the base scenario with some keys set.

    Picklable (a module-level class holding plain data), so EMA's multiprocessing evaluator can
    send it to worker processes.
    """

    def __init__(
        self, base: dict[str, Any], overrides: dict[str, Any], outcomes: Sequence[OutcomeSpec], source: str
    ) -> None:
        self.base = base
        self.overrides = dict(overrides)
        self.outcomes = tuple(outcomes)
        self.source = source

    def __call__(self, seed_entropy: int, seed_spawn_key: int, **params: Any) -> dict[str, float]:
        from .engine import simulate

        data = copy.deepcopy(self.base)
        for key, value in {**params, **self.overrides}.items():
            set_value(data, key, value.item() if isinstance(value, np.generic) else value)
        config = validate_scenario(data, source=f"{self.source}: EMA experiment {params}")
        model = simulate(config, np.random.SeedSequence(seed_entropy, spawn_key=(seed_spawn_key,)))["model"]
        return {o.key: o.compute(model) for o in self.outcomes}


def _names(keys: Sequence[str]) -> dict[str, str]:
    """Identifier names for dotted keys: the last part, widened leftwards until unique."""
    parts = {k: [re.sub(r"\W", "_", p) for p in k.split(".")] for k in keys}
    names = {}
    for key in keys:
        depth = 1
        while True:
            name = "_".join(parts[key][-depth:])
            clash = [k for k in keys if k != key and "_".join(parts[k][-depth:]) == name]
            if not clash or depth == len(parts[key]):
                break
            depth += 1
        names[key] = name if name.isidentifier() else f"p_{name}"
    return names


def _parameter(name: str, key: str, spec: Any, base: dict, where: str):
    from ema_workbench import CategoricalParameter, IntegerParameter, RealParameter

    leaf = leaf_at(key, where)
    try:
        set_value(copy.deepcopy(base), key, None)  # a list index must exist in the base
    except KeyPathError as err:
        raise ConfigError(f"{where}: {err}") from None
    if isinstance(spec, tuple):
        if len(spec) != 2 or not all(isinstance(v, (int, float)) for v in spec):
            raise ConfigError(f"{where}: a range is a (low, high) pair of numbers")
        low, high = spec
        if not leaf.is_number:
            raise ConfigError(f"{where}: not a number, so it has no range; give a list of values")
        if leaf.is_integer:
            low, high = int(low), int(high)
        if high <= low:
            raise ConfigError(f"{where}: the range ({low}, {high}) is empty")
        check_value(leaf, low, f"{where}.low")
        check_value(leaf, high, f"{where}.high")
        cls = IntegerParameter if leaf.is_integer else RealParameter
        return cls(name, low, high, variable_name=key)
    if isinstance(spec, list) and spec:
        for n, value in enumerate(spec):
            check_value(leaf, value, f"{where}[{n}]")
        return CategoricalParameter(name, spec, variable_name=key)
    raise ConfigError(f"{where}: give a (low, high) tuple for a range or a non-empty list of values")


def lendsim_model(
    base: str | Path,
    *,
    uncertainties: Mapping[str, Any],
    levers: Mapping[str, Any] | None = None,
    outcomes: Sequence[str | dict],
    replications: int = 1,
    master_seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
    name: str = "lendsim",
):
    """An EMA ``ReplicatorModel`` running ``base`` with uncertainties and levers set by dotted key.

    Args:
        base: Scenario YAML the experiments vary.
        uncertainties: Dotted key -> ``(low, high)`` or a list of values.
        levers: Dotted key -> ``(low, high)`` or a list of values (policy options).
        outcomes: Registered outcomes (``experiments.outcomes.OUTCOMES``), names or dicts.
        replications: Seeded runs per experiment (common random numbers); outcomes are their mean.
        master_seed: Entropy the replication seeds are spawned from.
        overrides: Dotted keys set in every experiment (e.g. ``borrowers.count``).
        name: The EMA model name (an identifier).

    Raises:
        ConfigError: a key or value the configuration does not allow (one line).
        ImportError: ema_workbench is not installed.
    """
    with warnings.catch_warnings():  # EMA warns on import about an evaluator (ipyparallel) not used here
        warnings.filterwarnings("ignore", message="ipyparallel not installed")
        from ema_workbench import ReplicatorModel, ScalarOutcome

    base = Path(base)
    config = load_scenario(base)
    data = config.model_dump()
    overrides = dict(overrides or {})
    levers = dict(levers or {})
    where = f"{base}: EMA"
    for key, value in overrides.items():
        check_value(leaf_at(key, f"{where} overrides.{key}"), value, f"{where} overrides.{key}")
    both = sorted(set(uncertainties) & set(levers) | (set(uncertainties) | set(levers)) & set(overrides))
    if both:
        raise ConfigError(f"{where}: {both[0]} is given twice (uncertainties, levers, overrides); give it once")
    specs = [OutcomeSpec.model_validate(parse_outcome(o)) for o in outcomes]
    names = _names([*uncertainties, *levers])

    model = ReplicatorModel(name, function=LendsimFunction(data, overrides, specs, str(base)))
    model.uncertainties = [
        _parameter(names[k], k, v, data, f"{where} uncertainties.{k}") for k, v in uncertainties.items()
    ]
    model.levers = [_parameter(names[k], k, v, data, f"{where} levers.{k}") for k, v in levers.items()]
    model.outcomes = [ScalarOutcome(o.key, function=np.mean) for o in specs]
    children = np.random.SeedSequence(master_seed).spawn(replications)
    model.replications = [{"seed_entropy": int(c.entropy), "seed_spawn_key": int(c.spawn_key[-1])} for c in children]
    model.lendsim_keys = {names[k]: k for k in [*uncertainties, *levers]}
    return model


__all__ = ["LendsimFunction", "lendsim_model"]

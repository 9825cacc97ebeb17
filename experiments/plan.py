"""The plan of an experiment: its cells, their configs, and one seeded run per cell and replication.

A comparison's cells are (policy, shock) pairs; a sweep's are design points; a validation's are the
arms of the stylized-fact contrasts (:mod:`experiments.validation`). Every cell is run
``replications`` times with **common random numbers**: replication r of every cell uses the same
seed, child r of ``numpy.random.SeedSequence(master_seed).spawn(replications)``, so differences
between cells are paired and the noise of the simulated economy largely cancels. A child is
rebuilt exactly from its two recorded integers: ``SeedSequence(seed_entropy, spawn_key=(r,))``.

A plan is all that is needed to run an experiment again: it is written to the manifest as plain
JSON (:meth:`Plan.to_record`) and read back by ``run.py reproduce`` (:meth:`Plan.from_record`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np

from sim.config import ScenarioConfig, validate_scenario

from .outcomes import OutcomeSpec

Kind = Literal["comparison", "sweep", "validation"]


@dataclass(frozen=True)
class Cell:
    """One configuration of an experiment.

    Attributes:
        id: Unique, file-name safe identifier (``baseline__recession``, ``p007``).
        labels: What distinguishes the cell: ``policy`` and ``shock`` for comparisons, parameter
            values by dotted key for sweeps.
        config: The complete, validated scenario the cell runs.
    """

    id: str
    labels: dict[str, Any]
    config: ScenarioConfig


@dataclass(frozen=True)
class Run:
    """One simulation: a cell and a replication, with the seed that replication uses."""

    run_id: str
    cell: str
    replication: int
    seed_entropy: int
    seed_spawn_key: int

    def seed(self) -> np.random.SeedSequence:
        """The run's seed, identical to ``SeedSequence(seed_entropy).spawn(R)[replication]``."""
        return np.random.SeedSequence(self.seed_entropy, spawn_key=(self.seed_spawn_key,))


@dataclass(frozen=True)
class Plan:
    """Everything that determines an experiment's outputs.

    Attributes:
        kind: ``comparison``, ``sweep`` or ``validation``.
        cells: In output order.
        replications: Runs per cell.
        master_seed: Entropy of the seed sequence the replication seeds are spawned from.
        outcomes: What the summary reports, in order.
        label_columns: Names of the cell labels, in order (``policy``, ``shock`` or parameter keys).
        reference: The policy others are compared with (comparisons), else None.
        description: Free text from the spec.
    """

    kind: Kind
    cells: tuple[Cell, ...]
    replications: int
    master_seed: int
    outcomes: tuple[OutcomeSpec, ...]
    label_columns: tuple[str, ...]
    reference: str | None = None
    description: str = ""
    runs: tuple[Run, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        children = np.random.SeedSequence(self.master_seed).spawn(self.replications)
        width = max(3, len(str(self.replications - 1)))
        runs = []
        for cell in self.cells:
            for r, child in enumerate(children):
                runs.append(Run(f"{cell.id}__r{r:0{width}d}", cell.id, r, int(child.entropy), int(child.spawn_key[-1])))
        object.__setattr__(self, "runs", tuple(runs))

    def cell(self, cell_id: str) -> Cell:
        """The cell with this id."""
        return self._cells_by_id[cell_id]

    @cached_property
    def _cells_by_id(self) -> dict[str, Cell]:
        return {c.id: c for c in self.cells}

    def run_record(self) -> dict[str, Any]:
        """The part of the record that determines the runs' outputs (cells, configs, seeds)."""
        return {
            "kind": self.kind,
            "replications": self.replications,
            "master_seed": self.master_seed,
            "label_columns": list(self.label_columns),
            "cells": [{"id": c.id, "labels": c.labels, "config": c.config.model_dump(mode="json")} for c in self.cells],
            "runs": [[r.run_id, r.cell, r.replication, r.seed_entropy, r.seed_spawn_key] for r in self.runs],
        }

    def to_record(self) -> dict[str, Any]:
        """The plan as plain JSON, for the manifest."""
        return {
            **self.run_record(),
            "reference": self.reference,
            "description": self.description,
            "outcomes": [o.record() for o in self.outcomes],
            # what readers of the folder (analysis, which never imports the model) need to know of each outcome
            "outcome_info": [{"key": o.key, "is_rate": o.is_rate, "better": o.better} for o in self.outcomes],
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Plan:
        """Rebuild a plan from :meth:`to_record` output (e.g. a manifest's ``plan``)."""
        cells = tuple(
            Cell(c["id"], dict(c["labels"]), validate_scenario(c["config"], source=f"manifest cell {c['id']}"))
            for c in record["cells"]
        )
        plan = cls(
            kind=record["kind"],
            cells=cells,
            replications=int(record["replications"]),
            master_seed=int(record["master_seed"]),
            outcomes=tuple(OutcomeSpec.model_validate(o) for o in record["outcomes"]),
            label_columns=tuple(record["label_columns"]),
            reference=record.get("reference"),
            description=record.get("description", ""),
        )
        recorded = [tuple(r) for r in record.get("runs", [])]
        rebuilt = [(r.run_id, r.cell, r.replication, r.seed_entropy, r.seed_spawn_key) for r in plan.runs]
        if recorded and recorded != rebuilt:
            # Would only happen if numpy changed how SeedSequence spawns: say so rather than rerun other seeds.
            raise ValueError("the recorded runs and seeds differ from those spawned from the master seed")
        return plan

    def describe(self) -> str:
        """One line: how many runs, from how many cells and replications."""
        runs, cells, reps = len(self.runs), len(self.cells), self.replications
        detail = ""
        if self.kind == "comparison":
            policies = len({c.labels["policy"] for c in self.cells})
            shocks = len({c.labels["shock"] for c in self.cells})
            detail = (
                f" ({policies} {_plural(policies, 'policy', 'policies')} x "
                f"{shocks} {_plural(shocks, 'shock', 'shocks')})"
            )
        return (
            f"{runs} {_plural(runs, 'run', 'runs')} = {cells} {_plural(cells, 'cell', 'cells')}{detail}"
            f" x {reps} {_plural(reps, 'replication', 'replications')}"
        )


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


__all__ = ["Cell", "Kind", "Plan", "Run"]

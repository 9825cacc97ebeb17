"""Sweep designs: which parameter values a sweep runs.

``grid`` is the full factorial of each parameter's values (or ``levels`` evenly spaced values of
its range). ``latin_hypercube`` and ``sobol`` draw ``samples`` points of the unit cube with
:mod:`scipy.stats.qmc` (scrambled, seeded from the spec, so a design is reproducible) and map each
coordinate onto the parameter: linearly (or log-linearly) onto a ``min``-``max`` range, uniformly
onto the integers of an integer range, or onto one of its listed ``values``. Latin hypercubes
stratify every parameter's margin; Sobol points fill the cube evenly and are the design Sobol
sensitivity indices expect (their balance needs a power-of-two sample size).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import qmc


@dataclass(frozen=True)
class Axis:
    """One swept parameter: its key, and either listed values or a range."""

    key: str
    values: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    levels: int | None = None
    log: bool = False
    is_integer: bool = False

    def grid_values(self) -> list[Any]:
        """The values a grid takes on this axis."""
        if self.values is not None:
            return list(self.values)
        points = np.linspace(0.0, 1.0, self.levels) if self.levels and self.levels > 1 else np.array([0.0])
        out: list[Any] = []
        for value in (self._from_unit_range(u) for u in points):
            if value not in out:  # rounding to integers can repeat a level
                out.append(value)
        return out

    def from_unit(self, u: float) -> Any:
        """Map a coordinate in [0, 1) onto this axis (a listed value, or a point of the range)."""
        if self.values is not None:
            return self.values[min(int(u * len(self.values)), len(self.values) - 1)]
        if self.is_integer:
            lo, hi = int(self.low), int(self.high)
            return min(lo + int(math.floor(u * (hi - lo + 1))), hi)
        return self._from_unit_range(u)

    def _from_unit_range(self, u: float) -> Any:
        if self.log:
            value = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            value = self.low + u * (self.high - self.low)
        if self.is_integer:
            return int(round(value))
        # Ten significant digits: 0.3, not 0.30000000000000004, in labels and configs.
        return float(f"{value:.10g}")


def grid(axes: list[Axis]) -> list[dict[str, Any]]:
    """Every combination of the axes' grid values, the last axis varying fastest."""
    keys = [a.key for a in axes]
    return [dict(zip(keys, combo)) for combo in itertools.product(*(a.grid_values() for a in axes))]


def latin_hypercube(axes: list[Axis], samples: int, seed: int) -> list[dict[str, Any]]:
    """A scrambled Latin hypercube of ``samples`` points."""
    unit = qmc.LatinHypercube(d=len(axes), rng=np.random.default_rng(seed)).random(samples)
    return _map(axes, unit)


def sobol(axes: list[Axis], samples: int, seed: int) -> list[dict[str, Any]]:
    """The first ``samples`` points (a power of two) of a scrambled Sobol sequence."""
    m = samples.bit_length() - 1
    if samples != 1 << m:
        raise ValueError(f"sobol needs a power-of-two number of samples, got {samples}")
    unit = qmc.Sobol(d=len(axes), scramble=True, rng=np.random.default_rng(seed)).random_base2(m)
    return _map(axes, unit)


def _map(axes: list[Axis], unit: np.ndarray) -> list[dict[str, Any]]:
    return [{a.key: a.from_unit(float(u)) for a, u in zip(axes, row)} for row in unit]


DESIGNS = {"grid", "latin_hypercube", "sobol"}

__all__ = ["Axis", "DESIGNS", "grid", "latin_hypercube", "sobol"]

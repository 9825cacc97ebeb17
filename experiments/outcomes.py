"""Named outcomes of a run: one number per run, computed from its monthly model frame.

A comparison or sweep lists the outcomes it reports, by name, with parameters where an outcome
takes one (``{name: overdue_rate_at, month: 24}``, ``{name: total, column: fines}``). Every
outcome reads only the months after burn-in (``is_burn_in`` false), so the warm-up that builds the
loan book never counts. "Overdue rate" means M1+ by balance (``overdue_balance_rate``), the
figure lenders report; by-count variants are available through the column statistics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pydantic import Field, model_validator

from sim.config import Section
from sim.metrics import MODEL_COLUMNS


@dataclass(frozen=True)
class Outcome:
    """A registered outcome: what it measures and how, and the parameters it takes."""

    description: str
    compute: Callable[[pd.DataFrame, OutcomeSpec], float]
    params: frozenset[str] = frozenset()
    is_rate: bool = False


def _post(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[~frame["is_burn_in"].astype(bool)].sort_values("month")


def _at_month(frame: pd.DataFrame, spec: OutcomeSpec) -> float:
    rows = frame.loc[frame["month"] == spec.month, "overdue_balance_rate"]
    if rows.empty:
        raise ValueError(f"the run has no month {spec.month}")
    return float(rows.iloc[0])


def _losses(frame: pd.DataFrame, _spec: OutcomeSpec) -> float:
    return float((frame["charge_offs"] + frame["writedowns"] - frame["recoveries"]).sum())


def _column_stat(stat: str) -> Callable[[pd.DataFrame, OutcomeSpec], float]:
    def compute(frame: pd.DataFrame, spec: OutcomeSpec) -> float:
        series = frame[spec.column]
        if stat == "final":
            return float(series.iloc[-1])
        return float({"mean": series.mean, "peak": series.max, "total": series.sum}[stat]())

    return compute


OUTCOMES: dict[str, Outcome] = {
    "peak_overdue_rate": Outcome("highest monthly M1+ overdue rate by balance",
                                 lambda f, s: float(f["overdue_balance_rate"].max()), is_rate=True),
    "mean_overdue_rate": Outcome("mean monthly M1+ overdue rate by balance",
                                 lambda f, s: float(f["overdue_balance_rate"].mean()), is_rate=True),
    "overdue_rate_at": Outcome("M1+ overdue rate by balance at month `month` (1 = first after burn-in)",
                               _at_month, frozenset({"month"}), is_rate=True),
    "peak_m3plus_rate": Outcome("highest monthly 90+ (M3+) rate by balance",
                                lambda f, s: float(f["m3plus_balance_rate"].max()), is_rate=True),
    "cum_default_rate": Outcome("cumulative default rate at the horizon (loans that reached 90+ days since month 1)",
                                lambda f, s: float(f["cum_default_rate"].iloc[-1]), is_rate=True),
    "losses": Outcome("net credit losses, CNY: principal charged off plus restructuring write-downs, less recoveries",
                      _losses),
    "credit_supply": Outcome("mean monthly amount originated, CNY", lambda f, s: float(f["origination_amount"].mean())),
    "complaints": Outcome("total complaints", lambda f, s: float(f["complaints"].sum())),
    "mean": Outcome("mean of a model column over the months", _column_stat("mean"), frozenset({"column"})),
    "peak": Outcome("highest monthly value of a model column", _column_stat("peak"), frozenset({"column"})),
    "final": Outcome("value of a model column in the last month", _column_stat("final"), frozenset({"column"})),
    "total": Outcome("sum of a model column over the months", _column_stat("total"), frozenset({"column"})),
}

# Model columns that are not numbers a statistic can be taken of.
_NON_NUMERIC = frozenset({"is_burn_in", "in_declared_shock"})
_PARAMS = ("month", "column")


class OutcomeSpec(Section):
    """One outcome of a comparison or sweep, as written in the spec."""

    name: str = Field(description="a registered outcome (see experiments.outcomes.OUTCOMES)")
    month: int | None = Field(None, ge=1, description="overdue_rate_at: the month (1 = first after burn-in)")
    column: str | None = Field(None, description="mean/peak/final/total: the model column")
    label: str | None = Field(None, pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
                              description="column name in the outputs (default from name and parameters)")

    @model_validator(mode="after")
    def _known(self) -> OutcomeSpec:
        outcome = OUTCOMES.get(self.name)
        if outcome is None:
            raise ValueError(f"unknown outcome {self.name!r}: expected one of {', '.join(OUTCOMES)}")
        for param in _PARAMS:
            given = getattr(self, param) is not None
            if given and param not in outcome.params:
                raise ValueError(f"outcome {self.name!r} takes no {param!r}")
            if not given and param in outcome.params:
                raise ValueError(f"outcome {self.name!r} needs {param!r}")
        if self.column is not None and (self.column not in MODEL_COLUMNS or self.column in _NON_NUMERIC):
            numeric = [c for c in MODEL_COLUMNS if c not in _NON_NUMERIC]
            raise ValueError(f"column {self.column!r} is not a numeric model column: expected one of {', '.join(numeric)}")
        return self

    @property
    def key(self) -> str:
        """The outcome's column name in outcomes.parquet and summaries."""
        if self.label:
            return self.label
        if self.month is not None:
            return f"{self.name}_m{self.month}"
        if self.column is not None:
            return f"{self.name}_{self.column}"
        return self.name

    @property
    def is_rate(self) -> bool:
        """Whether values are shares (shown as percentages)."""
        if self.column is not None:
            return self.column.endswith(("_rate", "_share"))
        return OUTCOMES[self.name].is_rate

    def compute(self, model_frame: pd.DataFrame) -> float:
        """This outcome for one run, from its model frame (post burn-in months only)."""
        return OUTCOMES[self.name].compute(_post(model_frame), self)


def parse_outcome(item: Any) -> Any:
    """Let a spec write a bare name for an outcome without parameters."""
    return {"name": item} if isinstance(item, str) else item


__all__ = ["OUTCOMES", "Outcome", "OutcomeSpec", "parse_outcome"]

"""Named outcomes of a run: one number per run, computed from its monthly model frame (and vintages).

A comparison, sweep or validation lists the outcomes it reports, by name, with parameters where an
outcome takes one (``{name: overdue_balance_rate_at, month: 24}``, ``{name: total, column: fines}``). Every
outcome reads only the months after burn-in (``is_burn_in`` false), so the warm-up that builds the
loan book never counts, and any outcome can be limited to a window of those months with ``from``
and ``to`` (1 = the first month after burn-in; both ends included): a policy that starts at month
24 is then measured from month 24, not diluted by the months before it.

A name says what it measures, as the model's columns do: ``*_balance_rate`` outcomes are shares of
the outstanding balance (``peak_overdue_balance_rate`` reads the column ``overdue_balance_rate``,
M1+ by balance, the figure lenders report), while ``cum_default_rate``, like every ``*_rate`` model
column, counts loans. By-count overdue figures are available through the column statistics
(``{name: peak, column: overdue_rate}``). Names used before the rename are refused with the new one
(:data:`RENAMED`), so an old spec cannot silently measure something else.

This module is the one definition of each outcome: ``run.py compare``, ``sweep``, ``sensitivity``
and ``validate`` all compute them here, so a name means the same number everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
from pydantic import ConfigDict, Field, model_validator

from sim.config import Section
from sim.metrics import MODEL_COLUMNS


@dataclass(frozen=True)
class RunTables:
    """What an outcome is computed from: one run's post-burn-in months (in the window), and its vintages."""

    model: pd.DataFrame
    vintages: pd.DataFrame | None = None


@dataclass(frozen=True)
class Outcome:
    """A registered outcome: what it measures and how, and the parameters it takes.

    ``better`` says which direction is good for borrowers and the market (``lower`` overdue,
    defaults, losses, complaints; ``higher`` credit supply), None where it depends on the reader.
    """

    description: str
    compute: Callable[[RunTables, OutcomeSpec], float]
    params: frozenset[str] = frozenset()
    is_rate: bool = False
    needs_vintages: bool = False
    better: Literal["lower", "higher"] | None = None


def _at_month(run: RunTables, spec: OutcomeSpec) -> float:
    rows = run.model.loc[run.model["month"] == spec.month, "overdue_balance_rate"]
    if rows.empty:
        raise ValueError(f"the run has no month {spec.month}")
    return float(rows.iloc[0])


def _net_losses(frame: pd.DataFrame) -> float:
    return float((frame["charge_offs"] + frame["writedowns"] - frame["recoveries"]).sum())


def _column_stat(stat: str) -> Callable[[RunTables, OutcomeSpec], float]:
    def compute(run: RunTables, spec: OutcomeSpec) -> float:
        series = run.model[spec.column]
        if stat == "final":
            return float(series.iloc[-1])
        return float({"mean": series.mean, "peak": series.max, "total": series.sum}[stat]())

    return compute


def _collection_yield(run: RunTables, _spec: OutcomeSpec) -> float:
    m = run.model
    return float(
        m["collected_overdue"].sum() / max(m["overdue_amount"].shift(1).fillna(m["overdue_amount"]).sum(), 1.0)
    )


def _overdue_to_default(run: RunTables, _spec: OutcomeSpec) -> float:
    m = run.model
    return float(m["roll_m1_m2"].mean() * m["roll_m2_m3"].mean() * m["roll_m3_default"].mean())


def _vintage_default(run: RunTables, spec: OutcomeSpec) -> float:
    v = run.vintages
    sel = (v["months_on_book"] == spec.months_on_book) & (v["vintage"] >= spec.first) & (v["vintage"] <= spec.last)
    rows = v[sel]
    return float(rows["cum_defaults"].sum() / max(rows["loans"].sum(), 1))


def _overdue_amount_ratio(run: RunTables, _spec: OutcomeSpec) -> float:
    m = run.model
    return float(m["overdue_amount"].max() / max(m["overdue_amount"].iloc[0], 1.0))


OUTCOMES: dict[str, Outcome] = {
    "peak_overdue_balance_rate": Outcome(
        "highest monthly M1+ overdue rate by balance",
        lambda r, s: float(r.model["overdue_balance_rate"].max()),
        is_rate=True,
        better="lower",
    ),
    "mean_overdue_balance_rate": Outcome(
        "mean monthly M1+ overdue rate by balance",
        lambda r, s: float(r.model["overdue_balance_rate"].mean()),
        is_rate=True,
        better="lower",
    ),
    "overdue_balance_rate_at": Outcome(
        "M1+ overdue rate by balance at month `month` (1 = first after burn-in)",
        _at_month,
        frozenset({"month"}),
        is_rate=True,
        better="lower",
    ),
    "peak_m3plus_balance_rate": Outcome(
        "highest monthly 90+ (M3+) rate by balance",
        lambda r, s: float(r.model["m3plus_balance_rate"].max()),
        is_rate=True,
        better="lower",
    ),
    "cum_default_rate": Outcome(
        "cumulative default rate at the end of the window (loans that reached 90+ days since "
        "month 1, over loans live at month 1 plus those originated since)",
        lambda r, s: float(r.model["cum_default_rate"].iloc[-1]),
        is_rate=True,
        better="lower",
    ),
    "losses": Outcome(
        "net credit losses, CNY: principal charged off plus restructuring write-downs, less recoveries",
        lambda r, s: _net_losses(r.model),
        better="lower",
    ),
    "losses_with_interest": Outcome(
        "net credit losses with the contract interest given up, CNY: losses (principal), plus contract interest "
        "waived by relief or due at charge-off, less the interest and penalty recovered after charge-off - the "
        "same claims counted in both arms, so relief is read with what it costs the lender",
        lambda r, s: (
            _net_losses(r.model)
            + float(
                (
                    r.model["relief_cost"]
                    - r.model["writedowns"]
                    + r.model["interest_charged_off"]
                    - r.model["recovered_charges"]
                ).sum()
            )
        ),
        better="lower",
    ),
    "loss_rate": Outcome(
        "net credit losses (as `losses`) over the amount lent in the window",
        lambda r, s: _net_losses(r.model) / max(float(r.model["origination_amount"].sum()), 1.0),
        is_rate=True,
        better="lower",
    ),
    "credit_supply": Outcome(
        "mean monthly amount originated, CNY", lambda r, s: float(r.model["origination_amount"].mean()), better="higher"
    ),
    "complaints": Outcome("total complaints", lambda r, s: float(r.model["complaints"].sum()), better="lower"),
    "collection_yield": Outcome(
        "overdue amounts collected over the overdue amount outstanding the month before (summed over the window)",
        _collection_yield,
        is_rate=True,
    ),
    "recovery_ratio": Outcome(
        "principal recovered after charge-off over principal charged off, both summed over the window (the "
        "monthly recovery_rate is cumulative over the whole run)",
        lambda r, s: float(r.model["recoveries"].sum() / max(float(r.model["charge_offs"].sum()), 1.0)),
        is_rate=True,
        better="higher",
    ),
    "overdue_to_default": Outcome(
        "share of loans entering M1 that go on to default: the product of the mean roll rates "
        "M1->M2, M2->M3 and M3->default",
        _overdue_to_default,
        is_rate=True,
        better="lower",
    ),
    "vintage_default_rate": Outcome(
        "default rate `months_on_book` months after origination of the loans originated in "
        "the window (or from month 1)",
        _vintage_default,
        frozenset({"months_on_book"}),
        is_rate=True,
        needs_vintages=True,
        better="lower",
    ),
    "overdue_amount_ratio": Outcome(
        "peak overdue amount over the overdue amount in the first month of the window", _overdue_amount_ratio
    ),
    "mean": Outcome("mean of a model column over the months", _column_stat("mean"), frozenset({"column"})),
    "peak": Outcome("highest monthly value of a model column", _column_stat("peak"), frozenset({"column"})),
    "final": Outcome("value of a model column in the last month", _column_stat("final"), frozenset({"column"})),
    "total": Outcome("sum of a model column over the months", _column_stat("total"), frozenset({"column"})),
}

# Outcomes renamed so that a name by balance says so (the monthly columns overdue_rate and m3plus_rate
# count loans); an old name is refused with its new one rather than kept as an alias, so that a memo
# written from an old spec cannot mislabel what it reports.
RENAMED = {
    "peak_overdue_rate": "peak_overdue_balance_rate",
    "mean_overdue_rate": "mean_overdue_balance_rate",
    "overdue_rate_at": "overdue_balance_rate_at",
    "peak_m3plus_rate": "peak_m3plus_balance_rate",
}

# Which direction is good for a statistic (mean, peak, final, total) of a model column, where it is
# plain for borrowers and the market: fewer loans in arrears, defaults, write-offs, harassment and
# complaints; more credit, cures and platforms. Columns left out (the benchmark rate, APRs, fines,
# recoveries, ...) depend on the reader, and a forest plot draws them without a judgement.
_COLUMN_BETTER: dict[str, Literal["lower", "higher"]] = {
    **dict.fromkeys(
        (
            "overdue_rate",
            "overdue_balance_rate",
            "m1_rate",
            "m2_rate",
            "m3_rate",
            "m3plus_rate",
            "m3plus_balance_rate",
            "new_defaults",
            "default_rate",
            "cum_default_rate",
            "overdue_amount",
            "charge_offs",
            "writedowns",
            "roll_current_m1",
            "roll_m1_m2",
            "roll_m2_m3",
            "roll_m3_default",
            "harassment_incidents",
            "complaints",
            "platform_failures",
            "hardship_share",
        ),
        "lower",
    ),
    **dict.fromkeys(("origination_amount", "originations", "cure_rate", "platforms_active"), "higher"),
}

# Model columns that are not numbers a statistic can be taken of.
_NON_NUMERIC = frozenset({"is_burn_in", "in_declared_shock"})
_PARAMS = ("month", "column", "months_on_book")


class OutcomeSpec(Section):
    """One outcome of a comparison, sweep or validation, as written in the spec."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    name: str = Field(description="a registered outcome (see experiments.outcomes.OUTCOMES)")
    month: int | None = Field(None, ge=1, description="overdue_balance_rate_at: the month (1 = first after burn-in)")
    column: str | None = Field(None, description="mean/peak/final/total: the model column")
    months_on_book: int | None = Field(None, ge=0, description="vintage_default_rate: months after origination")
    from_month: int | None = Field(
        None, ge=1, alias="from", description="first month of the window (1 = first after burn-in; default 1)"
    )
    to_month: int | None = Field(
        None, ge=1, alias="to", description="last month of the window (default: the last month)"
    )
    label: str | None = Field(
        None,
        pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
        description="column name in the outputs (default from name and parameters)",
    )

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        # An outcome's keys are listed in the README's outcome table, not in docs/model.md, where the
        # generic unknown-key message sends a reader; name them here instead.
        if isinstance(data, dict):
            allowed = [f.alias or name for name, f in cls.model_fields.items()]
            unknown = [k for k in data if k not in allowed and k not in cls.model_fields]
            if unknown:
                raise ValueError(
                    f"unknown key {unknown[0]!r} in an outcome: an outcome takes {', '.join(allowed)} "
                    "(README.md, 'Outcomes', says what each means)"
                )
        return data

    @model_validator(mode="after")
    def _known(self) -> OutcomeSpec:
        outcome = OUTCOMES.get(self.name)
        if self.name in RENAMED:
            raise ValueError(
                f"outcome {self.name!r} is now called {RENAMED[self.name]!r} (it is by balance; "
                "README.md, 'Outcomes', lists every outcome)"
            )
        if outcome is None:
            raise ValueError(
                f"unknown outcome {self.name!r}: expected one of {', '.join(OUTCOMES)} "
                "(README.md, 'Outcomes', says what each measures)"
            )
        for param in _PARAMS:
            given = getattr(self, param) is not None
            if given and param not in outcome.params:
                raise ValueError(f"outcome {self.name!r} takes no {param!r}")
            if not given and param in outcome.params:
                raise ValueError(f"outcome {self.name!r} needs {param!r}")
        if self.column is not None and (self.column not in MODEL_COLUMNS or self.column in _NON_NUMERIC):
            numeric = [c for c in MODEL_COLUMNS if c not in _NON_NUMERIC]
            raise ValueError(
                f"column {self.column!r} is not a numeric model column: expected one of {', '.join(numeric)}"
            )
        if self.from_month is not None and self.to_month is not None and self.to_month < self.from_month:
            raise ValueError(f"the window is empty: to ({self.to_month}) is before from ({self.from_month})")
        if self.month is not None and not self.first <= self.month <= self.last:
            end = "" if self.to_month is None else self.to_month
            raise ValueError(f"month {self.month} is outside the window {self.first}-{end}")
        return self

    @property
    def first(self) -> int:
        """First month of the window."""
        return self.from_month if self.from_month is not None else 1

    @property
    def last(self) -> int | float:
        """Last month of the window (infinity: to the end of the run)."""
        return self.to_month if self.to_month is not None else float("inf")

    @property
    def key(self) -> str:
        """The outcome's column name in outcomes.parquet and summaries."""
        if self.label:
            return self.label
        key = self.name
        if self.month is not None:
            key += f"_m{self.month}"
        if self.column is not None:
            key += f"_{self.column}"
        if self.months_on_book is not None:
            key += f"_mob{self.months_on_book}"
        if self.from_month is not None:
            key += f"_from{self.from_month}"
        if self.to_month is not None:
            key += f"_to{self.to_month}"
        return key

    @property
    def is_rate(self) -> bool:
        """Whether values are shares (shown as percentages)."""
        if self.column is not None:
            return self.column.endswith(("_rate", "_share"))
        return OUTCOMES[self.name].is_rate

    @property
    def needs_vintages(self) -> bool:
        return OUTCOMES[self.name].needs_vintages

    @property
    def better(self) -> str | None:
        """Which direction is good (``lower``, ``higher``) or None; for a column statistic, the column's."""
        if self.column is not None:
            return _COLUMN_BETTER.get(self.column)
        return OUTCOMES[self.name].better

    def record(self) -> dict[str, Any]:
        """The spec as plain JSON, with the keys a spec file uses (``from``, ``to``)."""
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)

    def window(self, model_frame: pd.DataFrame) -> pd.DataFrame:
        """The run's months after burn-in within the window, in month order."""
        post = model_frame[~model_frame["is_burn_in"].astype(bool)].sort_values("month")
        if self.from_month is None and self.to_month is None:
            return post
        return post[(post["month"] >= self.first) & (post["month"] <= self.last)]

    def compute(self, model_frame: pd.DataFrame, vintages: pd.DataFrame | None = None) -> float:
        """This outcome for one run, from its model frame (and vintages, for vintage outcomes)."""
        if self.needs_vintages and vintages is None:
            raise ValueError(f"outcome {self.name!r} needs the run's vintages table")
        return OUTCOMES[self.name].compute(RunTables(self.window(model_frame), vintages), self)


def parse_outcome(item: Any) -> Any:
    """Let a spec write a bare name for an outcome without parameters."""
    return {"name": item} if isinstance(item, str) else item


__all__ = ["OUTCOMES", "RENAMED", "Outcome", "OutcomeSpec", "RunTables", "parse_outcome"]

"""Calibration by simulated method of moments: fit scenario parameters to target moments.

A calibration spec (``scenarios/calibration/*.yaml``) names a base scenario, the parameters to fit
(dotted keys, each with a range inside the range the configuration declares), and the target
moments, each a named outcome of the monthly outputs (any outcome of README's table, e.g.
``mean_overdue_balance_rate`` or ``{name: mean, column: roll_m1_m2}``), optionally under a shock
scenario, with a target value, its uncertainty (one standard deviation) and its source::

    base: ../baseline.yaml
    parameters:
      borrowers.essentials_risk_loading: {min: 0.1, max: 0.4}
    moments:
      - {name: m1_plus, outcome: mean_overdue_balance_rate, target: 0.0492, sd: 0.01, source: Lexin Q2 2021}
      - {name: recession_peak, outcome: peak_overdue_balance_rate, shock: ../shocks/recession.yaml,
         target: 0.10, sd: 0.01, source: sources.md}
    replications: 4
    master_seed: 20261202
    overrides: {borrowers.count: 5000, months: 60}
    budget: 48          # candidate points evaluated
    batch: 8            # candidates run together on the executors

**The distance** of a candidate is ``sum_k ((m_k - target_k) / sd_k)^2``, where ``m_k`` is the
mean of the moment over the replications. Every candidate runs on the same seeds (replication r
of every candidate is child r of ``SeedSequence(master_seed)``, as in comparisons and sweeps), so
two candidates differ only by their parameters: the distance is a deterministic, nearly smooth
function of them, not a noisy one, and an optimiser can follow it.

**The optimiser** is optuna's TPE sampler (multivariate, seeded, with the constant-liar strategy
for batches): a batch of candidates is asked for, run as one experiment on the executors of
sweeps (``-j``, dask, progress bar), and the distances told back. TPE needs no gradient, takes
bounds and log scales as they are declared, works from a few dozen evaluations and, being seeded,
asks for the same candidates again on ``--resume``, so finished rounds are read back rather than
rerun. docs/calibration.md says why this rather than black-it or scipy's optimisers.

**Identification.** Around the best point each parameter is moved by ``sensitivity_step`` of its
range up and down (same seeds): the change of each moment, in units of its ``sd``, per such step
is a local Jacobian; a parameter no moment moves is not identified by these moments.

Outputs (one folder): ``evaluations.csv`` (every candidate, its moments and distance),
``fit.csv``/``fit.md`` (moment, target, sd, simulated mean with 95% interval, z, within 2 sd; a
moment with ``fit: false`` is measured and shown but left out of the distance and the verdict),
``sensitivity.csv``, ``calibrated.yaml`` (a scenario that ``extends:`` the base and sets only the
fitted keys), ``calibration.md``, ``calibration.json`` (spec, best point, provenance), figures
(``analysis.calibration``), and ``rounds/``: each round, and the best point with its neighbours,
is an ordinary sweep results folder (``run.py report rounds/best``).
"""

from __future__ import annotations

import copy
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import Field, field_validator, model_validator

from sim.config import ConfigError, ScenarioConfig, Section
from sim.keys import Leaf, get_value, set_value
from sim.store import ResultsExistError, provenance, write_json_atomic

from .outcomes import OutcomeSpec, parse_outcome
from .plan import Cell, Plan
from .spec import (
    NO_SHOCK,
    _read_spec,
    check_outcome_months,
    check_value,
    scenario_and_changes,
    shock_changes,
    swept_leaf,
    validate_spec,
    with_overrides,
)

PER = "__per"  # suffix of the outcome column of a moment's denominator
MARKER = "calibration.json"  # what makes a folder a calibration folder (and --force may replace it)
Z_OK = 2.0  # a moment fits when the simulated mean is within this many sds of its target
# below this change (in sds of the target) per step on every moment, a parameter is not identified: its row is
# mostly seed noise, and the cosine between it and another row means nothing
WEAK_SD = 0.1


# --------------------------------------------------------------------------- spec


class FitParameter(Section):
    """A parameter to fit: a range inside its declared range, optionally log-scaled, and a start."""

    min: float = Field(description="low end of the range searched")
    max: float = Field(description="high end of the range searched")
    log: bool = Field(False, description="search on a log scale (min > 0)")
    start: float | None = Field(None, description="first candidate (default: the base scenario's value)")

    @model_validator(mode="after")
    def _shape(self) -> FitParameter:
        if not self.max > self.min:
            raise ValueError(f"max ({self.max:g}) must be above min ({self.min:g})")
        if self.log and self.min <= 0:
            raise ValueError("a log range needs min > 0")
        if self.start is not None and not self.min <= self.start <= self.max:
            raise ValueError(f"start ({self.start:g}) is outside the range [{self.min:g}, {self.max:g}]")
        return self


class Moment(Section):
    """A target moment: an outcome of the runs (under a shock, or none), its target, sd and source."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", description="short name, the moment's column in the outputs")
    outcome: OutcomeSpec = Field(description="what is measured: an outcome of README's table")
    shock: str = Field(NO_SHOCK, description="shock scenario the moment is measured under (none: the base)")
    per: OutcomeSpec | None = Field(
        None,
        description="if given, the moment is outcome / per, run by run: a share such as strategic defaults "
        "over all defaults ({name: total, column: strategic_defaults} per {name: total, column: new_defaults})",
    )
    target: float = Field(description="target value, in the outcome's unit (rates as fractions)")
    sd: float = Field(gt=0, description="uncertainty of the target (one standard deviation); weight 1/sd^2")
    source: str = Field(min_length=1, description="where the target comes from")
    fit: bool = Field(
        True,
        description="false: measured and reported with its z at every candidate, but left out of the distance "
        "and of the verdict - a target the model's structure is known to miss, kept in view rather than "
        "allowed to pull the fitted parameters away from the moments it can match",
    )

    @field_validator("outcome", "per", mode="before")
    @classmethod
    def _bare_name(cls, value: Any) -> Any:
        return parse_outcome(value) if value is not None else None

    @property
    def is_rate(self) -> bool:
        return self.per is not None or self.outcome.is_rate


class CalibrationSpec(Section):
    description: str = Field("", description="what is calibrated to what")
    base: str = Field(description="scenario the parameters are fitted on (path relative to the spec)")
    parameters: dict[str, FitParameter] = Field(min_length=1, max_length=50, description="dotted keys to fit")
    moments: list[Moment] = Field(min_length=1, max_length=200, description="target moments")
    replications: int = Field(ge=1, le=10_000, description="runs per candidate, on the same seeds for every one")
    master_seed: int = Field(ge=0, le=2**63 - 1, description="entropy the replication seeds are spawned from")
    overrides: dict[str, Any] = Field({}, description="dotted config keys set in every run, e.g. borrowers.count")
    budget: int = Field(ge=1, le=100_000, description="candidate points evaluated in all")
    batch: int = Field(8, ge=1, le=10_000, description="candidates run together as one experiment")
    sampler_seed: int | None = Field(None, ge=0, le=2**32 - 1, description="optimiser's seed (default: master_seed)")
    sensitivity_step: float = Field(
        0.05, gt=0, le=0.5, description="local sensitivity: each parameter moved by this share of its range"
    )

    @model_validator(mode="after")
    def _unique(self) -> CalibrationSpec:
        names = [m.name for m in self.moments]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"@moments: {twice[0]!r} is named twice; every moment needs its own name")
        if not any(m.fit for m in self.moments):
            raise ValueError("@moments: every moment has fit: false; at least one must be fitted")
        return self


@dataclass(frozen=True)
class Calibration:
    """A validated spec with what running it needs: the base, the shocks' changes, the outcomes."""

    spec: CalibrationSpec
    path: Path
    base_path: Path
    base: ScenarioConfig
    leaves: dict[str, Leaf]
    shocks: dict[str, dict[tuple, Any]]  # shock file (as written) -> the keys it changes; "none" -> {}
    outcomes: tuple[OutcomeSpec, ...]  # one a moment, labelled with the moment's name

    @property
    def keys(self) -> list[str]:
        return list(self.spec.parameters)

    def start(self) -> dict[str, float]:
        """The first candidate: each parameter's ``start``, else the base value (clipped into the range)."""
        data = self.base.model_dump()
        out = {}
        for key, p in self.spec.parameters.items():
            value = p.start if p.start is not None else get_value(data, key)
            value = min(max(float(value), p.min), p.max)
            out[key] = int(round(value)) if self.leaves[key].is_integer else value
        return out

    def config(self, point: dict[str, Any], shock: str, name: str) -> ScenarioConfig:
        """The base with ``point`` set, the shock's changes on top, then the spec's overrides."""
        data = copy.deepcopy(self.base.model_dump())
        for key, value in point.items():
            set_value(data, key, value)
        for key, value in self.shocks[shock].items():
            node = data
            for part in key[:-1]:
                node = node[part]
            node[key[-1]] = copy.deepcopy(value)
        data["name"] = name
        return with_overrides(data, self.spec.overrides, self.path, f"candidate {name} {point}")

    def plan(self, points: list[dict[str, Any]], first: int, description: str) -> Plan:
        """One experiment: every point under every shock the moments use, on the spec's seeds."""
        cells = []
        for i, point in enumerate(points, first):
            for s, shock in enumerate(self.shocks):
                cell_id = f"c{i:05d}__s{s}"
                labels = {"candidate": i, "shock": setting_name(shock), **point}
                cells.append(Cell(cell_id, labels, self.config(point, shock, cell_id)))
        return Plan(
            kind="sweep",
            cells=tuple(cells),
            replications=self.spec.replications,
            master_seed=self.spec.master_seed,
            outcomes=self.outcomes,
            label_columns=("candidate", "shock", *self.keys),
            description=description,
        )


def setting_name(shock: str) -> str:
    return shock if shock == NO_SHOCK else Path(shock).stem


def load_calibration(path: str | Path) -> Calibration:
    """Read and validate a calibration spec.

    Raises:
        ConfigError: one line naming the file, the key path and what is allowed.
    """
    path = Path(path)
    data = _read_spec(path, "calibration")
    if "policies" in data or "design" in data:
        raise ConfigError(f"{path}: this is a comparison or sweep spec; run it with `run.py compare` or `run.py sweep`")
    spec = validate_spec(CalibrationSpec, data, path)
    shown = str(path)
    base_path, base, _ = scenario_and_changes(path, spec.base, "base")
    base_data = base.model_dump()
    leaves = {}
    for key, p in spec.parameters.items():
        where = f"{shown}: parameters.{key}"
        leaf = swept_leaf(key, where, base_data)
        if not leaf.is_number:
            raise ConfigError(f"{where}: not a number; a calibration fits numeric parameters")
        for end in ("min", "max"):
            value = getattr(p, end)
            if leaf.is_integer and value != int(value):
                raise ConfigError(f"{where}.{end}: {value:g} is not a whole number, and {key} is an integer")
            check_value(leaf, int(value) if leaf.is_integer else value, f"{where}.{end}")
        leaves[key] = leaf
        # an override is applied after the candidate's values, so it would silently replace every one of them
        overridden = [k for k in spec.overrides if k == key or k.startswith(f"{key}.") or key.startswith(f"{k}.")]
        if overridden:
            raise ConfigError(
                f"{shown}: overrides.{overridden[0]}: {key} is fitted (parameters.{key}); an override would set "
                "every candidate to one value - remove it from one of the two"
            )
    for n, m in enumerate(spec.moments):
        if m.per is None and m.outcome.is_rate and not (0.0 <= m.target <= 1.0 and m.sd <= 1.0):
            end = "target" if not 0.0 <= m.target <= 1.0 else "sd"
            raise ConfigError(
                f"{shown}: moments[{n}].{end}: {getattr(m, end):g} is not a rate; {m.outcome.key} is a fraction "
                "(0.0492 for 4.92%), allowed: 0 to 1"
            )
    shocks: dict[str, dict[tuple, Any]] = {}
    for n, m in enumerate(spec.moments):
        if m.shock in shocks:
            continue
        changes = {} if m.shock == NO_SHOCK else shock_changes(path, m.shock, f"moments[{n}].shock")
        for key in spec.parameters:
            parts = tuple(p for part in key.replace("]", "").split(".") for p in part.split("["))
            fitted = tuple(int(p) if p.isdigit() else p for p in parts)
            if any(fitted[: len(k)] == k or k[: len(fitted)] == fitted for k in changes):
                raise ConfigError(
                    f"{shown}: moments[{n}].shock: {m.shock} changes {key}, which is fitted; a shock may only "
                    "change what the calibration leaves alone"
                )
        shocks[m.shock] = changes
    outcomes = tuple(m.outcome.model_copy(update={"label": m.name}) for m in spec.moments) + tuple(
        m.per.model_copy(update={"label": f"{m.name}{PER}"}) for m in spec.moments if m.per is not None
    )
    cal = Calibration(spec, path, base_path, base, leaves, shocks, outcomes)
    cells = [Cell(repr(setting_name(s)), {}, cal.config(cal.start(), s, f"s{i}")) for i, s in enumerate(shocks)]
    keys = [f"moments[{n}].outcome" for n in range(len(spec.moments))]
    keys += [f"moments[{n}].per" for n, m in enumerate(spec.moments) if m.per is not None]
    check_outcome_months(_OutcomesOnly(outcomes=list(outcomes)), cells, path, keys, unit="setting")
    return cal


@dataclass
class _OutcomesOnly:
    outcomes: list[OutcomeSpec]


# --------------------------------------------------------------------------- evaluating candidates


def moment_table(cal: Calibration, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per candidate and moment: the simulated mean over replications, its 95% interval, z and distance term."""
    from scipy import stats

    rows = []
    shock_index = {s: i for i, s in enumerate(cal.shocks)}
    for m in cal.spec.moments:
        cells = outcomes[outcomes["cell"].str.endswith(f"__s{shock_index[m.shock]}")]
        if m.per is not None:  # a share, run by run (a run with a zero denominator has no share)
            per = cells[f"{m.name}{PER}"].where(cells[f"{m.name}{PER}"] != 0)
            cells = cells.assign(**{m.name: cells[m.name] / per})
        for candidate, values in cells.groupby("candidate")[m.name]:
            x = values.dropna().to_numpy(dtype=float)
            mean = float(x.mean()) if len(x) else math.nan
            half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else 0.0
            z = (mean - m.target) / m.sd
            rows.append(
                {"candidate": int(candidate), "moment": m.name, "simulated": mean, "low": mean - half,
                 "high": mean + half, "n": len(x), "z": z, "fitted": m.fit}
            )  # fmt: skip
    return pd.DataFrame(rows)


def distances(table: pd.DataFrame) -> pd.Series:
    """The SMM distance of each candidate: the sum of squared z of the fitted moments (nan if one is missing)."""
    z = table.loc[table["fitted"], ["candidate", "z"]]
    return z.groupby("candidate")["z"].apply(lambda z: float((z**2).sum()) if z.notna().all() else math.nan)


def simulate_moments(cal: Calibration, point: dict[str, Any], out: Path | str, **run_options) -> dict[str, float]:
    """The moments of one point (mean over the spec's replications, on its seeds), run into ``out``.

    For an identification test: moments made by the model at known values are targets a
    calibration from elsewhere must find its way back to.
    """
    from .engine import run_experiment

    result = run_experiment(cal.plan([point], 0, "moments of one point"), out, **run_options)
    table = moment_table(cal, pd.read_parquet(result.out / "outcomes.parquet"))
    return dict(zip(table["moment"], table["simulated"], strict=True))


@dataclass
class CalibrationResult:
    out: Path
    evaluations: pd.DataFrame
    best: dict[str, Any]
    fit: pd.DataFrame
    sensitivity: pd.DataFrame
    ran: int
    reused: int


def calibrate(
    cal: Calibration,
    out: Path | str,
    *,
    workers: int = 1,
    backend: str = "local",
    scheduler: str | None = None,
    retries: int = 2,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    memory_check: bool = True,
    log=print,
) -> CalibrationResult:
    """Fit ``cal``'s parameters and write the calibration folder ``out`` (see the module docstring)."""
    import optuna

    from .engine import run_experiment

    out = Path(out)
    spec = cal.spec
    if out.exists() and not resume:
        if not force:
            raise ResultsExistError(
                f"results folder {out} already exists; use --resume to continue it or --force to replace it"
            )
        if not (out / MARKER).exists() and any(out.iterdir()):
            raise ResultsExistError(f"--force: {out} is not a calibration folder lendsim wrote; not replacing it")
        shutil.rmtree(out)
    (out / "rounds").mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / MARKER, {"complete": False, "spec_file": str(cal.path), "spec": _spec_record(spec)})

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seed = spec.master_seed % 2**32 if spec.sampler_seed is None else spec.sampler_seed
    sampler = optuna.samplers.TPESampler(
        seed=seed, multivariate=True, constant_liar=True, n_startup_trials=min(spec.budget, max(10, spec.batch))
    )
    study = optuna.create_study(direction="minimize", sampler=sampler)
    study.enqueue_trial(cal.start())

    def run_round(name: str, points: list[dict[str, Any]], first: int, what: str) -> pd.DataFrame:
        nonlocal ran, reused
        plan = cal.plan(points, first, f"{spec.description} - {what}".strip(" -"))
        folder = out / "rounds" / name
        result = run_experiment(
            plan,
            folder,
            spec=_spec_record(spec),
            spec_file=str(cal.path),
            workers=workers,
            backend=backend,
            scheduler=scheduler,
            retries=retries,
            resume=resume and (folder.exists() or _partial(folder).exists()),
            progress=progress,
            command=f"run.py calibrate {cal.path}",
            memory_check=memory_check,
        )
        ran += result.ran
        reused += result.skipped
        outcomes = pd.read_parquet(folder / "outcomes.parquet")
        return moment_table(cal, outcomes)

    ran = reused = 0
    evaluated, rounds, tables = 0, 0, []
    while evaluated < spec.budget:
        k = min(spec.batch, spec.budget - evaluated)
        trials = [study.ask() for _ in range(k)]
        points = [_suggest(cal, t) for t in trials]
        table = run_round(f"r{rounds:03d}", points, evaluated, f"round {rounds}")
        d = distances(table)
        for i, trial in enumerate(trials):
            value = d.get(evaluated + i, math.nan)
            if math.isnan(value):
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, value)
        table["round"] = rounds
        tables.append((points, evaluated, table))
        evaluated += k
        rounds += 1
        best_so_far = np.nanmin([v for v in distances(pd.concat([t for _, _, t in tables])).to_numpy()])
        log(f"round {rounds}: {evaluated}/{spec.budget} candidates, best distance so far {best_so_far:.4g}")

    evaluations = _evaluations(cal, tables)
    finite = evaluations.dropna(subset=["distance"])
    if finite.empty:
        raise ConfigError(f"{cal.path}: every candidate failed; see the runs.parquet of {out / 'rounds'}")
    best_row = finite.loc[finite["distance"].idxmin()]
    best = {key: _native(best_row[key]) for key in cal.keys}

    # The best point again with each parameter moved up and down: the fit's intervals come from the
    # best point's own row of this round, and the local Jacobian from its neighbours.
    neighbours = [best]
    steps = {}
    for key, p in spec.parameters.items():
        h = spec.sensitivity_step * (p.max - p.min)
        if cal.leaves[key].is_integer:
            h = max(1, round(h))
        lo, hi = max(p.min, best[key] - h), min(p.max, best[key] + h)
        steps[key] = (lo, hi)
        neighbours += [{**best, key: _cast(cal, key, lo)}, {**best, key: _cast(cal, key, hi)}]
    table = run_round("best", neighbours, 0, "best point and its neighbours")
    fit = _fit(cal, table[table["candidate"] == 0])
    sensitivity = _sensitivity(cal, table, best, steps)

    _write_outputs(cal, out, evaluations, best, float(best_row["distance"]), fit, sensitivity)
    return CalibrationResult(out, evaluations, best, fit, sensitivity, ran, reused)


def _partial(folder: Path) -> Path:
    from .engine import partial_folder

    return partial_folder(folder)


def _suggest(cal: Calibration, trial) -> dict[str, Any]:
    point = {}
    for key, p in cal.spec.parameters.items():
        if cal.leaves[key].is_integer:
            point[key] = trial.suggest_int(key, int(p.min), int(p.max), log=p.log)
        else:
            point[key] = trial.suggest_float(key, p.min, p.max, log=p.log)
    return point


def _cast(cal: Calibration, key: str, value: float) -> Any:
    return int(round(value)) if cal.leaves[key].is_integer else float(value)


def _native(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _evaluations(cal: Calibration, tables: list) -> pd.DataFrame:
    rows = []
    for points, first, table in tables:
        wide = table.pivot(index="candidate", columns="moment", values="simulated")
        d = distances(table)
        rnd = int(table["round"].iloc[0]) if len(table) else -1
        for i, point in enumerate(points, first):
            row = {"evaluation": i, "round": rnd, **point}
            for m in cal.spec.moments:
                row[m.name] = wide.loc[i, m.name] if i in wide.index else math.nan
            row["distance"] = d.get(i, math.nan)
            rows.append(row)
    frame = pd.DataFrame(rows)
    frame["best_so_far"] = frame["distance"].cummin()
    return frame


def _fit(cal: Calibration, table: pd.DataFrame) -> pd.DataFrame:
    by_name = table.set_index("moment")
    rows = []
    for m in cal.spec.moments:
        r = by_name.loc[m.name]
        rows.append(
            {
                "moment": m.name,
                "outcome": m.outcome.model_copy(update={"label": None}).key
                + ("" if m.per is None else f" / {m.per.model_copy(update={'label': None}).key}"),
                "shock": setting_name(m.shock),
                "target": m.target,
                "sd": m.sd,
                "simulated": r["simulated"],
                "low": r["low"],
                "high": r["high"],
                "z": r["z"],
                "distance": r["z"] ** 2 if m.fit else 0.0,
                "within_2sd": bool(abs(r["z"]) <= Z_OK),
                "fitted": m.fit,
                "is_rate": m.is_rate,
                "source": m.source,
            }
        )
    return pd.DataFrame(rows)


def _sensitivity(cal: Calibration, table: pd.DataFrame, best: dict, steps: dict) -> pd.DataFrame:
    """Change of each moment, in its sds, per ``sensitivity_step`` of each parameter's range (central difference)."""
    sim = table.pivot(index="candidate", columns="moment", values="simulated")
    rows = []
    for j, (key, p) in enumerate(cal.spec.parameters.items()):
        lo, hi = steps[key]
        down, up = 1 + 2 * j, 2 + 2 * j
        width = (hi - lo) / (cal.spec.sensitivity_step * (p.max - p.min))  # in steps (2 unless at a bound)
        for m in cal.spec.moments:
            change = (sim.loc[up, m.name] - sim.loc[down, m.name]) / width if width > 0 else math.nan
            rows.append(
                {"parameter": key, "moment": m.name, "per_step": change, "per_step_sd": change / m.sd,
                 "low_value": lo, "high_value": hi}
            )  # fmt: skip
    return pd.DataFrame(rows)


def _spec_record(spec: CalibrationSpec) -> dict:
    return spec.model_dump(mode="json", by_alias=True)


def calibrated_yaml(cal: Calibration, best: dict[str, Any], out: Path) -> str:
    """A scenario that extends the base (path relative to ``out``) and sets only the fitted keys."""
    base = Path(os.path.relpath(cal.base_path.resolve(), out.resolve()))
    data: dict[str, Any] = {}
    for key, value in best.items():
        if "[" in key:  # a list item: the whole list, as in the base, with the item changed
            top = key.split("[", 1)[0]
            whole = copy.deepcopy(get_value(cal.base.model_dump(), top))
            holder = {"x": whole}
            set_value(holder, "x" + key[len(top) :], value)
            _nest(data, top, holder["x"])
        else:
            _nest(data, key, value)
    head = (
        f"# Calibrated by `run.py calibrate {cal.path}`: only the fitted keys are set; everything else is\n"
        f"# the base scenario's. See calibration.md beside this file for the fit.\n"
    )
    body = {"extends": base.as_posix(), "description": f"{cal.base.name} calibrated ({cal.path.name})", **data}
    return head + yaml.safe_dump(body, sort_keys=False)


def _nest(data: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def fit_markdown(fit: pd.DataFrame) -> str:
    lines = [
        "| moment | outcome | shock | target | sd | simulated (95% interval) | z | within 2 sd | source |",
        "|---|---|---|---:|---:|---:|---:|:---:|---|",
    ]
    for r in fit.itertuples():
        f = (lambda x: f"{x:.2%}") if r.is_rate else (lambda x: f"{x:.4g}")
        lines.append(
            f"| {r.moment} | `{r.outcome}` | {r.shock} | {f(r.target)} | {f(r.sd)} | "
            f"{f(r.simulated)} ({f(r.low)}, {f(r.high)}) | {r.z:+.2f} | {_verdict(r)} | "
            f"{r.source} |"
        )
    return "\n".join(lines) + "\n"


def _verdict(row) -> str:
    ok = "yes" if row.within_2sd else "no"
    return ok if row.fitted else f"{ok} (not fitted)"


def misses(fit: pd.DataFrame) -> list[str]:
    """The fitted moments more than Z_OK sds from their targets (a moment with ``fit: false`` is only reported)."""
    return list(fit.loc[fit["fitted"] & ~fit["within_2sd"], "moment"])


def reported_only(fit: pd.DataFrame) -> frozenset[str]:
    """The moments with ``fit: false``: measured and shown, not fitted."""
    return frozenset(fit.loc[~fit["fitted"], "moment"])


def precision_notes(fit: pd.DataFrame) -> list[str]:
    """A line for each fitted moment whose 95% interval is wider than its target's sd either side.

    Such a moment's verdict says more about the replications than about the parameters: its simulated
    mean could be a sd away on other seeds.
    """
    wide = fit[fit["fitted"] & ((fit["high"] - fit["low"]) / 2 > fit["sd"])]
    return [
        f"{r.moment}: the 95% interval of the simulated mean is wider than the target's sd either side; "
        "more replications (or borrowers) would make its fit meaningful"
        for r in wide.itertuples()
    ]


def sensitivity_markdown(sens: pd.DataFrame, reported: frozenset[str] = frozenset()) -> str:
    """The local Jacobian as a table; ``reported`` moments (``fit: false``) are marked in the header."""
    table = sens.pivot(index="parameter", columns="moment", values="per_step_sd")
    moments = list(dict.fromkeys(sens["moment"]))
    params = list(dict.fromkeys(sens["parameter"]))
    header = [f"{m} (not fitted)" if m in reported else m for m in moments]
    lines = ["| parameter | " + " | ".join(header) + " |", "|---|" + "---:|" * len(moments)]
    for p in params:
        lines.append(f"| `{p}` | " + " | ".join(f"{table.loc[p, m]:+.2f}" for m in moments) + " |")
    return "\n".join(lines) + "\n"


def separation_markdown(sens: pd.DataFrame) -> str:
    """How well the moments separate each pair of parameters: the cosine of their sensitivity rows.

    Near +-1, the two parameters move the moments in the same proportions, so the moments pin down
    only a combination of them (a ridge of equally good fits), however well each moves them alone.
    """
    table = sens.pivot(index="parameter", columns="moment", values="per_step_sd")
    params = list(dict.fromkeys(sens["parameter"]))
    if len(params) < 2:
        return ""
    lines = ["| parameters | cosine of their sensitivity rows |", "|---|---:|"]
    for i, a in enumerate(params):
        for b in params[i + 1 :]:
            x, y = table.loc[a].to_numpy(float), table.loc[b].to_numpy(float)
            weak = [p for p, row in ((a, x), (b, y)) if np.abs(row).max() < WEAK_SD]
            if weak:  # the direction of a row of noise says nothing: no cosine to read
                lines.append(f"| `{a}`, `{b}` | none: `{weak[0]}` moves no moment by {WEAK_SD:g} sd a step |")
                continue
            cos = float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))
            lines.append(f"| `{a}`, `{b}` | {cos:+.2f} |")
    note = (
        "A cosine near +1 or -1: the moments move the two parameters' effects in the same proportions and "
        "identify only a combination of them; add a moment that one moves and the other does not. A parameter "
        f"that moves no moment by {WEAK_SD:g} sd a step is not identified by these moments at all."
    )
    return "\n".join(lines) + "\n\n" + note + "\n"


def _write_outputs(
    cal: Calibration,
    out: Path,
    evaluations: pd.DataFrame,
    best: dict,
    distance: float,
    fit: pd.DataFrame,
    sensitivity: pd.DataFrame,
) -> None:
    evaluations.to_csv(out / "evaluations.csv", index=False)
    fit.to_csv(out / "fit.csv", index=False)
    sensitivity.to_csv(out / "sensitivity.csv", index=False)
    (out / "fit.md").write_text(fit_markdown(fit), encoding="utf-8")
    (out / "calibrated.yaml").write_text(calibrated_yaml(cal, best, out), encoding="utf-8")
    spec = cal.spec
    fitted = fit[fit["fitted"]]
    ok = int(fitted["within_2sd"].sum())
    reported = "" if len(fitted) == len(fit) else f" ({len(fit) - len(fitted)} more only reported, not fitted)"
    text = [
        f"# Calibration: {spec.description or cal.path.stem}",
        "",
        f"Spec `{cal.path}`, base `{spec.base}`; {len(evaluations)} candidates x {spec.replications} "
        f"replications on the same seeds (master seed {spec.master_seed}), optimiser optuna TPE.",
        "",
        f"Best distance {distance:.4g} (sum of squared z over {len(fitted)} fitted moments); {ok} of "
        f"{len(fitted)} within {Z_OK:g} sd of their target{reported}.",
        "",
        "## Best point",
        "",
        "| parameter | range | best | base |",
        "|---|---|---:|---:|",
    ]
    base = cal.base.model_dump()
    for key, p in spec.parameters.items():
        text.append(f"| `{key}` | [{p.min:g}, {p.max:g}] | {best[key]:.4g} | {get_value(base, key):.4g} |")
    text += ["", "## Fit", "", fit_markdown(fit)]
    text += [f"Note: {line}.\n" for line in precision_notes(fit)]
    text += ["## Local sensitivity (identification)", ""]
    text.append(
        f"Change of each moment, in sds of its target, when the parameter moves by {spec.sensitivity_step:g} of "
        "its range around the best point (same seeds). A row of near-zeros: the moments do not identify that "
        "parameter; two proportional rows: they do not separate the two."
    )
    # only the fitted moments identify: the separation is computed over them
    identifying = sensitivity[sensitivity["moment"].isin(fitted["moment"])]
    text += ["", sensitivity_markdown(sensitivity, reported_only(fit)), separation_markdown(identifying)]
    (out / "calibration.md").write_text("\n".join(text), encoding="utf-8")
    try:
        from analysis.calibration import write_figures

        write_figures(out)
    except ImportError:  # matplotlib is a dependency; only a broken install lands here
        pass
    write_json_atomic(
        out / MARKER,
        {
            "complete": True,
            "spec_file": str(cal.path),
            "spec": _spec_record(spec),
            "best": best,
            "distance": distance,
            "evaluations": len(evaluations),
            **provenance(),
        },
    )


__all__ = [
    "Calibration",
    "CalibrationResult",
    "CalibrationSpec",
    "calibrate",
    "load_calibration",
    "moment_table",
    "simulate_moments",
]

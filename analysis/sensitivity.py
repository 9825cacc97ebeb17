"""Global sensitivity analysis with SALib: the design (unit-cube samples) and the indices.

A sensitivity run (``run.py sensitivity SPEC``) is a sweep whose design points are a SALib sample:
Saltelli's extension of a scrambled Sobol sequence for **Sobol indices** (first order S1, total
ST and, when asked, second order S2, with bootstrap confidence intervals), or Morris trajectories
for the cheap **Morris screen** (mu*, the mean absolute elementary effect, and sigma). Each point
is run R times with common random numbers and the indices are computed on the mean over the
replications, so the simulation noise left in a point is that of an R-run average.

Samples are drawn on the unit cube and mapped onto each parameter's range by the experiment
(linearly, log-linearly, or onto the integers), so the indices are those of the parameters with the
distributions the spec declares (uniform, log-uniform). A categorical parameter (Sobol only) is a
coordinate cut into k equal intervals, one per listed value: its indices are those of a variable
taking each value with probability 1/k (they depend on which values are listed, not on their
order). Morris effects are per full range of a parameter (SALib's scaled-delta convention), in the
outcome's own units.

This module is model-free: :func:`unit_sample` is also what ``experiments.sensitivity`` uses to
build the plan, and :func:`analyse_results` recomputes the design from the spec recorded in a
results folder's manifest, so the indices are reproducible from the folder alone.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .tables import AnalysisError, Results, load

METHODS = ("sobol", "morris")
CSV_NAME = "sensitivity.csv"


def _problem(names: list[str]) -> dict[str, Any]:
    return {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}


def unit_sample(
    method: str, names: list[str], samples: int, seed: int, *, calc_second_order: bool = False, levels: int = 4
) -> np.ndarray:
    """The design on the unit cube, one row per point, one column per parameter.

    Args:
        method: ``sobol`` (Saltelli/Sobol sample: ``samples * (D + 2)`` points, or
            ``samples * (2D + 2)`` with second order) or ``morris`` (``samples`` trajectories of
            ``D + 1`` points on a grid of ``levels``).
        names: Parameter names (D of them).
        samples: Sobol base sample size N (a power of two) or the number of Morris trajectories.
        seed: Seed of the scrambling (Sobol) or of the trajectories (Morris).
        calc_second_order: Sobol only: also sample for second-order indices.
        levels: Morris only: grid levels.
    """
    problem = _problem(names)
    if method == "sobol":
        from SALib.sample import sobol

        return sobol.sample(problem, samples, calc_second_order=calc_second_order, scramble=True, seed=seed)
    if method == "morris":
        from SALib.sample import morris

        return morris.sample(problem, samples, num_levels=levels, seed=seed)
    raise ValueError(f"unknown method {method!r}: expected one of {', '.join(METHODS)}")


def design_size(method: str, n_params: int, samples: int, calc_second_order: bool = False) -> int:
    """Number of design points :func:`unit_sample` returns."""
    if method == "sobol":
        return samples * ((2 * n_params + 2) if calc_second_order else (n_params + 2))
    return samples * (n_params + 1)


def sobol_indices(
    y: np.ndarray,
    names: list[str],
    *,
    calc_second_order: bool = False,
    num_resamples: int = 1000,
    conf_level: float = 0.95,
    seed: int | None = None,
) -> pd.DataFrame:
    """Sobol indices of outputs ``y`` of a :func:`unit_sample` ``sobol`` design.

    Returns:
        One row per parameter (``order`` 1) with ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (the
        ``_conf`` columns are half-widths of the ``conf_level`` bootstrap interval), then with
        second order one row per pair (``order`` 2, ``parameter`` ``"a x b"``) with ``S2``,
        ``S2_conf``.
    """
    from SALib.analyze import sobol

    y = np.asarray(y, dtype=float)
    _check_outputs(y)
    si = sobol.analyze(
        _problem(names),
        y,
        calc_second_order=calc_second_order,
        num_resamples=num_resamples,
        conf_level=conf_level,
        seed=seed,
    )
    rows = [
        {
            "parameter": name,
            "order": 1,
            "S1": si["S1"][i],
            "S1_conf": si["S1_conf"][i],
            "ST": si["ST"][i],
            "ST_conf": si["ST_conf"][i],
        }
        for i, name in enumerate(names)
    ]
    if calc_second_order:
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                rows.append(
                    {
                        "parameter": f"{names[i]} x {names[j]}",
                        "order": 2,
                        "S2": si["S2"][i, j],
                        "S2_conf": si["S2_conf"][i, j],
                    }
                )
    return pd.DataFrame(rows)


def morris_indices(
    x: np.ndarray,
    y: np.ndarray,
    names: list[str],
    *,
    levels: int = 4,
    num_resamples: int = 1000,
    conf_level: float = 0.95,
    seed: int | None = None,
) -> pd.DataFrame:
    """Morris elementary-effect statistics of outputs ``y`` of a ``morris`` design ``x`` (unit cube).

    Returns:
        One row per parameter (``order`` 1) with ``mu``, ``mu_star``, ``mu_star_conf`` (half-width
        of the bootstrap interval of mu*) and ``sigma``, in outcome units per full parameter range.
    """
    from SALib.analyze import morris

    y = np.asarray(y, dtype=float)
    _check_outputs(y)
    si = morris.analyze(
        _problem(names),
        np.asarray(x, dtype=float),
        y,
        num_resamples=num_resamples,
        conf_level=conf_level,
        num_levels=levels,
        seed=seed,
    )
    return pd.DataFrame(
        [
            {
                "parameter": name,
                "order": 1,
                "mu": si["mu"][i],
                "mu_star": si["mu_star"][i],
                "mu_star_conf": si["mu_star_conf"][i],
                "sigma": si["sigma"][i],
            }
            for i, name in enumerate(names)
        ]
    )


def _check_outputs(y: np.ndarray) -> None:
    if not np.all(np.isfinite(y)):
        raise AnalysisError(
            "sensitivity: some design points have no finite outcome (failed runs?); rerun them with --resume first"
        )


def spec_of(results: Results) -> dict[str, Any]:
    """The sensitivity spec recorded in a results folder's manifest."""
    spec = results.spec or {}
    if not results.is_sensitivity:
        raise AnalysisError(f"{results.path}: not a sensitivity run (its manifest has no sensitivity spec)")
    return spec


def point_means(results: Results) -> pd.DataFrame:
    """Each design point's outcomes averaged over its successful replications, in plan order."""
    cells = results.cells["cell"].tolist()
    keys = [s["key"] for s in results.outcome_specs]
    means = results.outcomes.groupby("cell")[keys].mean().reindex(cells)
    missing = means.index[means.isna().all(axis=1)].tolist()
    if missing:
        raise AnalysisError(
            f"{results.path}: design points {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
            " have no successful run; rerun them with --resume first"
        )
    return means


def analyse_results(results: Results | str | Path) -> pd.DataFrame:
    """Sensitivity indices of every outcome of a sensitivity run, from its results folder alone.

    The unit-cube design is regenerated from the spec in the manifest (method, sample size, seed)
    and checked against the number of design points; each point's outcome is its mean over the
    replications.

    Returns:
        The rows of ``sensitivity.csv``: ``method``, ``outcome``, ``parameter``, ``order``, the
        indices of the method (see :func:`sobol_indices`, :func:`morris_indices`), and
        ``points``, ``replications``.
    """
    if not isinstance(results, Results):
        results = load(results)
    spec = spec_of(results)
    names = list(spec["parameters"])
    seed = spec.get("design_seed")
    seed = spec["master_seed"] if seed is None else seed
    x = unit_sample(
        spec["method"],
        names,
        spec["samples"],
        seed,
        calc_second_order=spec.get("calc_second_order", False),
        levels=spec.get("levels", 4),
    )
    if len(x) != len(results.cells):
        raise AnalysisError(
            f"{results.path}: {len(results.cells)} design points recorded, but the spec's design has "
            f"{len(x)} (made with another SALib version?)"
        )
    _check_design(results, spec, names, x)
    means = point_means(results)
    frames = []
    options = {
        "num_resamples": spec.get("num_resamples", 1000),
        "conf_level": spec.get("conf_level", 0.95),
        "seed": seed % 2**32,
    }
    for outcome in means.columns:
        y = means[outcome].to_numpy(dtype=float)
        if spec["method"] == "sobol":
            frame = sobol_indices(y, names, calc_second_order=spec.get("calc_second_order", False), **options)
        else:
            frame = morris_indices(x, y, names, levels=spec.get("levels", 4), **options)
        frames.append(frame.assign(method=spec["method"], outcome=outcome))
    table = pd.concat(frames, ignore_index=True)
    table = table.assign(points=len(x), replications=results.replications)
    front = ["method", "outcome", "parameter", "order"]
    return table[front + [c for c in table.columns if c not in front]]


def _from_unit(u: np.ndarray, p: dict[str, Any], integer: bool) -> np.ndarray:
    """Where ``experiments.design.Axis.from_unit`` puts unit coordinates on a range (for the check below)."""
    low, high = float(p["min"]), float(p["max"])
    if integer:
        return np.minimum(low + np.floor(u * (high - low + 1)), high)
    if p.get("log"):
        return np.exp(np.log(low) + u * (np.log(high) - np.log(low)))
    return low + u * (high - low)


def _check_design(results: Results, spec: dict[str, Any], names: list[str], x: np.ndarray) -> None:
    """The regenerated design must be the one that was run (else: another SALib version made it)."""
    for j, name in enumerate(names):
        values = spec["parameters"][name].get("values")
        if values is None:
            continue
        # a categorical parameter: coordinate u picks value k = floor(u * K), as experiments.design.Axis does
        picked = [str(values[min(int(u * len(values)), len(values) - 1)]) for u in x[:, j]]
        if picked != [str(v) for v in results.cells[name]]:
            raise AnalysisError(
                f"{results.path}: the design regenerated from the spec does not match the points that "
                f"were run ({name}); was it made with another SALib version?"
            )
    numeric = [n for n in names if spec["parameters"][n].get("values") is None]
    recorded = results.cells[numeric].to_numpy(dtype=float)
    for j, name in ((names.index(n), n) for n in numeric):
        k = numeric.index(name)
        integer = (
            bool(np.all(recorded[:, k] == np.round(recorded[:, k])))
            and float(spec["parameters"][name]["min"]).is_integer()
            and float(spec["parameters"][name]["max"]).is_integer()
            and not spec["parameters"][name].get("log")
        )
        expected = _from_unit(x[:, j], spec["parameters"][name], integer)
        if not np.allclose(expected, recorded[:, k], rtol=1e-8, atol=1e-12):
            raise AnalysisError(
                f"{results.path}: the design regenerated from the spec does not match the points that "
                f"were run ({name}); was it made with another SALib version?"
            )


def noise_share(results: Results) -> pd.Series:
    """Per outcome, the share of the variance of the point means that replication noise explains.

    The variance of an R-run mean is the within-point variance over R; a share near 1 means the
    design points differ little beyond noise and the indices are not to be trusted.
    """
    keys = [s["key"] for s in results.outcome_specs]
    grouped = results.outcomes.groupby("cell")[keys]
    within = grouped.var(ddof=1).mean() / grouped.count().mean()
    between = grouped.mean().var(ddof=1)
    return (within / between).where(between > 0, math.nan).clip(upper=1.0)


def indices_markdown(table: pd.DataFrame, is_rate: dict[str, bool] | None = None) -> str:
    """The indices as Markdown, one table per outcome (Morris effects of rates in pp)."""
    lines = []
    method = str(table["method"].iloc[0])
    for outcome, part in table.groupby("outcome", sort=False):
        lines += [f"### {outcome}", ""]
        rate = bool(is_rate and is_rate.get(outcome))
        if method == "sobol":
            lines += ["| parameter | S1 | 95% CI | ST | 95% CI |", "|---|---:|---:|---:|---:|"]
            for r in part[part["order"] == 1].to_dict("records"):
                lines.append(
                    f"| {r['parameter']} | {r['S1']:.3f} | ±{r['S1_conf']:.3f} | {r['ST']:.3f} | ±{r['ST_conf']:.3f} |"
                )
            second = part[part["order"] == 2]
            if len(second):
                lines += ["", "| pair | S2 | 95% CI |", "|---|---:|---:|"]
                lines += [
                    f"| {r['parameter']} | {r['S2']:.3f} | ±{r['S2_conf']:.3f} |" for r in second.to_dict("records")
                ]
        else:
            scale, unit = (100.0, " (pp)") if rate else (1.0, "")
            lines += [f"| parameter | mu*{unit} | 95% CI | mu{unit} | sigma{unit} |", "|---|---:|---:|---:|---:|"]
            for r in part.to_dict("records"):
                lines.append(
                    f"| {r['parameter']} | {_num(scale * r['mu_star'])} | ±{_num(scale * r['mu_star_conf'])}"
                    f" | {_num(scale * r['mu'])} | {_num(scale * r['sigma'])} |"
                )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def write_sensitivity(results_dir: str | Path) -> tuple[pd.DataFrame, list[Path]]:
    """Compute the indices of a sensitivity run and write them into its folder.

    Writes ``sensitivity.csv`` and the chart ``sensitivity.png`` / ``sensitivity.svg`` (each
    atomically); nothing else in the folder is touched.

    Returns:
        The indices and the files written.
    """
    from .figures import sensitivity_chart
    from .style import save_figure
    from .tables import write_text_atomic

    results = load(results_dir)
    table = analyse_results(results)
    csv = results.path / CSV_NAME
    write_text_atomic(csv, table.to_csv(index=False, lineterminator="\n", float_format="%.6g"))
    rates = {s["key"]: s["is_rate"] for s in results.outcome_specs}
    figure = sensitivity_chart(table, is_rate=rates)
    return table, [csv, *save_figure(figure, results.path / "sensitivity")]


__all__ = [
    "CSV_NAME",
    "indices_markdown",
    "write_sensitivity",
    "METHODS",
    "analyse_results",
    "design_size",
    "morris_indices",
    "noise_share",
    "point_means",
    "sobol_indices",
    "spec_of",
    "unit_sample",
]

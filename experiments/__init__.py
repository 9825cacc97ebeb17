"""Experiments with the lendsim model: policy comparisons and parameter sweeps, run on this machine or
a dask cluster, resumable, and reproducible from their manifest.

>>> from experiments import load_comparison, run_experiment
>>> spec, plan = load_comparison("scenarios/comparisons/demo.yaml")  # doctest: +SKIP
>>> result = run_experiment(plan, "results/demo", workers=2)          # doctest: +SKIP

Modules: ``spec`` (YAML specs -> plans), ``plan`` (cells, runs, seeds), ``design`` (grid, Latin
hypercube, Sobol), ``outcomes`` (named per-run outcomes), ``executors`` (in-process, process pool,
dask), ``engine`` (results folder, resume, faults), ``summary`` (intervals and paired differences),
``reproduce`` (rerun from a manifest and check hashes), ``calibrate`` (fit parameters to target
moments, ``run.py calibrate``).
"""

from importlib import import_module

# Attributes load their module on first use (PEP 562), so that worker processes, which import
# only experiments.engine, do not pay for the spec and summary machinery (scipy).
_EXPORTS = {
    "ExperimentError": "engine",
    "ExperimentResult": "engine",
    "run_experiment": "engine",
    "Plan": "plan",
    "reproduce": "reproduce",
    "load_comparison": "spec",
    "load_sweep": "spec",
    "load_calibration": "calibrate",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)

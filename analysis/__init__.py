"""Analysis of lendsim results folders: tidy tables, figures, an HTML report, sensitivity indices.

Everything here reads results folders (Parquet, CSV and ``manifest.json``) and never imports the
model (``sim``) or the experiment runner (``experiments``), so it works in a notebook on a copy
of a results folder, without the model installed at the same version::

    import analysis

    res = analysis.load("results/demo")            # tidy pandas tables
    res.model.groupby(["policy", "month"])["overdue_balance_rate"].median()
    fig = analysis.fan_chart(res.model, "overdue_balance_rate", reference="baseline")
    analysis.write_report("results/demo")          # results/demo/report.html and report.md

Modules: ``tables`` (:func:`load`), ``sql`` (:func:`query`: DuckDB SQL over every part, optional extra
``duckdb``), ``figures`` (matplotlib figures from tables), ``style`` (labels, units, deterministic
saving), ``report`` (report.html/report.md),
``sensitivity`` (Sobol and Morris indices with SALib from a sensitivity run's outcomes), ``effects``
(a sweep's main effects, paired contrasts and variance decomposition).
"""

from importlib import import_module

# Loaded on first use (PEP 562): `import analysis` stays cheap, and matplotlib is imported only
# when a figure is drawn.
_EXPORTS = {
    "AnalysisError": "tables",
    "Results": "tables",
    "load": "tables",
    "query": "sql",
    "connect": "sql",
    "fan_chart": "figures",
    "forest_plot": "figures",
    "roll_rate_heatmap": "figures",
    "transition_matrix": "figures",
    "vintage_curves": "figures",
    "sweep_heatmap": "figures",
    "sensitivity_chart": "figures",
    "main_effects_chart": "effects",
    "sweep_effects": "effects",
    "save_figure": "figures",
    "write_report": "report",
    "sobol_indices": "sensitivity",
    "morris_indices": "sensitivity",
    "analyse_results": "sensitivity",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)

"""Figures of a calibration folder (``run.py calibrate``): convergence, fit, local sensitivity.

Reads ``evaluations.csv``, ``fit.csv`` and ``sensitivity.csv``; never imports the model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .style import new_figure, save_figure, styled
from .tables import AnalysisError


def _read(folder: Path, name: str) -> pd.DataFrame:
    path = folder / name
    if not path.is_file():
        raise AnalysisError(f"{folder}: no {name}; is this a finished calibration folder?")
    return pd.read_csv(path)


@styled
def convergence_figure(evaluations: pd.DataFrame):
    """Distance of every candidate (dots, by round) and the best so far (line), log scale."""
    fig = new_figure(7.0, 3.6)
    ax = fig.subplots()
    ev = evaluations.dropna(subset=["distance"])
    ax.scatter(ev["evaluation"], ev["distance"], s=12, c=ev["round"], cmap="viridis", label="candidate (colour: round)")
    ax.step(evaluations["evaluation"], evaluations["best_so_far"], where="post", color="#d95f0e", lw=1.8, label="best")
    ax.set_yscale("log")
    ax.set_xlabel("candidate evaluated")
    ax.set_ylabel("distance (sum of squared z)")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    ax.set_title("Convergence", fontsize=10)
    return fig


@styled
def fit_figure(fit: pd.DataFrame):
    """Each moment's simulated mean (95% interval) against its target, in sds of the target (z)."""
    n = len(fit)
    fig = new_figure(7.0, 1.2 + 0.45 * n)
    ax = fig.subplots()
    y = np.arange(n)[::-1]
    ax.axvspan(-2, 2, color="#cccccc", alpha=0.35, lw=0, label="target +- 2 sd")
    ax.axvline(0, color="#444444", lw=0.8)
    z_low = (fit["low"] - fit["target"]) / fit["sd"]
    z_high = (fit["high"] - fit["target"]) / fit["sd"]
    # a moment with fit: false is only reported: drawn hollow and grey, so a reader sees it pulled nothing
    fitted = fit["fitted"].to_numpy(bool) if "fitted" in fit else np.ones(n, bool)
    for mask, style in (
        (fitted, {"fmt": "o", "color": "#d95f0e", "label": "simulated (95%), fitted"}),
        (~fitted, {"fmt": "o", "color": "#777777", "mfc": "white", "label": "simulated (95%), only reported"}),
    ):
        if mask.any():
            ax.errorbar(fit["z"][mask], y[mask], xerr=[(fit["z"] - z_low)[mask], (z_high - fit["z"])[mask]], **style)
    labels = []
    for r in fit.itertuples():
        fmt = (lambda x: f"{x:.2%}") if r.is_rate else (lambda x: f"{x:.3g}")
        labels.append(f"{r.moment}\n{fmt(r.simulated)} vs {fmt(r.target)}")
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("(simulated - target) / sd")
    lim = max(3.0, float(np.nanmax(np.abs(np.r_[z_low, z_high]))) + 0.5)
    ax.set_xlim(-lim, lim)
    ax.legend(frameon=False, fontsize=8, loc="best")
    ax.set_title("Simulated vs target moments", fontsize=10)
    return fig


@styled
def sensitivity_figure(sensitivity: pd.DataFrame, reported: frozenset[str] = frozenset()):
    """Heatmap: change of each moment (in its sds) per step of each parameter around the best point.

    ``reported``: moments with ``fit: false``, labelled as such (they show what they would identify).
    """
    table = sensitivity.pivot(index="parameter", columns="moment", values="per_step_sd")
    table = table.loc[list(dict.fromkeys(sensitivity["parameter"])), list(dict.fromkeys(sensitivity["moment"]))]
    table.columns = [f"{m} (not fitted)" if m in reported else m for m in table.columns]
    fig = new_figure(1.8 + 1.2 * table.shape[1], 1.2 + 0.5 * table.shape[0])
    ax = fig.subplots()
    lim = float(np.nanmax(np.abs(table.to_numpy()))) or 1.0
    im = ax.imshow(table.to_numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(table.shape[0]), table.index, fontsize=8)
    ax.grid(False)  # the house style's grid would cross the cells
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            value = table.iat[i, j]
            colour = "white" if abs(value) > 0.6 * lim else "black"
            ax.text(j, i, f"{value:+.2f}", ha="center", va="center", fontsize=8, color=colour)
    fig.colorbar(im, ax=ax, label="sd of target per step")
    ax.set_title("Local sensitivity (identification)", fontsize=10)
    return fig


def write_figures(folder: str | Path) -> list[Path]:
    """Write ``figures/convergence``, ``figures/fit`` and ``figures/sensitivity`` (PNG and SVG)."""
    folder = Path(folder)
    files = []
    files += save_figure(convergence_figure(_read(folder, "evaluations.csv")), folder / "figures" / "convergence")
    fit = _read(folder, "fit.csv")
    files += save_figure(fit_figure(fit), folder / "figures" / "fit")
    reported = frozenset(fit.loc[~fit["fitted"], "moment"]) if "fitted" in fit else frozenset()
    files += save_figure(
        sensitivity_figure(_read(folder, "sensitivity.csv"), reported), folder / "figures" / "sensitivity"
    )
    return files

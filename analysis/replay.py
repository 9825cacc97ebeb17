"""A replayed economy beside what was observed: paths, correlation at every lag, and a figure.

Reads a results folder (``run.py run`` or ``run.py compare``) whose scenario drives its economy
from an observed series (``economy.series``): the series' months date the model's months (row i is
month i + 1). The model's delinquency path, the mean over replications with a 90% band, is set
beside an observed delinquency series when one is given (a CSV of ``date,value`` in percent, monthly
or quarterly, ``#`` comments allowed), else beside the unemployment series that drove it, and the
correlation of the two paths is measured at every lag: the lag with the highest correlation says
how many months the model's delinquency trails (positive) or leads (negative) the reference.

Like the rest of :mod:`analysis`, this never imports the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .style import new_figure, save_figure, styled, suptitle
from .tables import AnalysisError, load

MAX_LAG = 24  # months either way: longer than any delinquency cycle the model produces


@dataclass
class Replay:
    """The paths of one replayed cell and how the model's delinquency follows the reference."""

    paths: pd.DataFrame  # date, month, driver, model columns (mean, p05, p95), observed (may be NaN)
    compared: str  # the model path compared: the replay's column, or its paired difference to the counterfactual
    counterfactual: str | None  # the cell held at the first month's economy, if any
    reference: str  # "observed" or "unemployment"
    reference_label: str
    lags: pd.DataFrame  # lag (months, model after reference), correlation, n
    best_lag: int
    best_correlation: float
    correlation_at_zero: float
    column: str
    replications: int


def months_from(first: str, n: int) -> pd.DatetimeIndex:
    """``n`` month-start dates from ``first`` (YYYY-MM)."""
    return pd.date_range(pd.Timestamp(f"{first}-01"), periods=n, freq="MS")


def read_observed(path: str | Path) -> pd.Series:
    """An observed series (percent) by month-start date; quarterly dates become their quarter's last month.

    FRED writes a quarterly end-of-period observation at the quarter's first day (2009-01-01 is
    the rate at the end of March 2009); it is moved to the month it measures.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise AnalysisError(f"{path}: cannot read: {err.strerror}") from None
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if len(lines) < 3:
        raise AnalysisError(f"{path}: needs a header (date,value) and at least two rows")
    rows = []
    for n, line in enumerate(lines[1:], 2):
        cells = [c.strip() for c in line.split(",")]
        try:
            rows.append((pd.Timestamp(cells[0]).to_period("M").to_timestamp(), float(cells[1])))
        except (ValueError, IndexError):
            raise AnalysisError(f"{path}: row {n}: {line!r}; allowed: date,value (e.g. 2009-01-01,6.5)") from None
    series = pd.Series([v for _, v in rows], index=pd.DatetimeIndex([d for d, _ in rows])).sort_index()
    steps = series.index.to_period("M").asi8
    gaps = set(np.diff(steps))
    if gaps == {3}:  # quarterly, end of period
        series.index = series.index + pd.DateOffset(months=2)
    elif gaps != {1}:
        raise AnalysisError(f"{path}: dates are neither monthly nor quarterly without gaps")
    return series


def lagged_correlation(model: pd.Series, reference: pd.Series, max_lag: int = MAX_LAG) -> pd.DataFrame:
    """Pearson correlation of ``model`` at t + lag with ``reference`` at t, for every lag in months.

    Both are indexed by month-start dates; the reference may be quarterly (only its dates count).
    """
    out = []
    for lag in range(-max_lag, max_lag + 1):
        shifted = model.copy()
        shifted.index = shifted.index - pd.DateOffset(months=lag)  # model at t + lag, dated t
        both = pd.concat([shifted.rename("m"), reference.rename("r")], axis=1, join="inner").dropna()
        ok = len(both) >= 4 and both["m"].std() > 0 and both["r"].std() > 0
        out.append({"lag": lag, "correlation": both["m"].corr(both["r"]) if ok else math.nan, "n": len(both)})
    return pd.DataFrame(out)


def replay(
    results_dir: str | Path,
    observed: str | Path | None = None,
    column: str = "overdue_balance_rate",
    cell: str | None = None,
    observed_label: str | None = None,
    counterfactual: str | None = "auto",
) -> Replay:
    """The replay of ``cell`` (default: the only or first cell) of a results folder.

    Args:
        results_dir: A results folder whose scenario has ``economy.series``.
        observed: Optional CSV of the observed delinquency (percent), monthly or quarterly.
        column: The model column compared (default M1+ overdue by balance).
        cell: The cell to read, for a comparison with several.
        observed_label: How the observed series is named in the figure (default: the file's stem).
        counterfactual: A cell (or policy name) with the same market and no series: the correlation
            is then measured on the paired difference replay - counterfactual (replication by
            replication, same seeds), which removes the market's own drift after burn-in. "auto":
            the comparison's reference policy when it has no series; None: the replay's level.
    """
    res = load(results_dir)
    model = res.model
    if model.empty:
        raise AnalysisError(f"{res.path}: no finished runs to read")
    cell = _cell(res, cell) if cell is not None else str(model["cell"].iloc[0])
    series = (res.cell_config(cell).get("economy") or {}).get("series")
    if not series:
        raise AnalysisError(
            f"{res.path}: cell {cell!r} has no economy.series; replay reads a run of a scenario that replays a series"
        )
    if column not in model.columns:
        raise AnalysisError(f"{res.path}: no model column {column!r}")
    runs = model[(model["cell"] == cell) & (model["month"] >= 1)]
    flat = _counterfactual(res, cell, counterfactual)
    if flat is not None:
        base = model[(model["cell"] == flat) & (model["month"] >= 1)].set_index(["replication", "month"])[column]
        runs = runs.assign(level=runs[column])
        runs[column] = (
            runs[column].to_numpy() - base.reindex(pd.MultiIndex.from_frame(runs[["replication", "month"]])).to_numpy()
        )
    by_month = runs.groupby("month")[column]
    stats = pd.DataFrame(
        {"mean": by_month.mean(), "p05": by_month.quantile(0.05), "p95": by_month.quantile(0.95)}
    ).sort_index()
    unemployment = runs.groupby("month")["unemployment_rate"].mean().sort_index()
    driver = np.asarray(series["unemployment_rate"], dtype=float)
    n = min(len(driver), int(stats.index.max()))
    dates = months_from(series["first_month"], n)
    paths = pd.DataFrame(
        {
            "date": dates,
            "month": np.arange(1, n + 1),
            "unemployment_observed": driver[:n],
            "unemployment_model": unemployment.loc[1:n].to_numpy(),
            f"{column}_mean": stats["mean"].loc[1:n].to_numpy(),
            f"{column}_p05": stats["p05"].loc[1:n].to_numpy(),
            f"{column}_p95": stats["p95"].loc[1:n].to_numpy(),
        }
    )
    if flat is not None:
        levels = runs.groupby("month")["level"].mean().sort_index()
        paths[f"{column}_replay"] = levels.loc[1:n].to_numpy()
        paths[f"{column}_counterfactual"] = paths[f"{column}_replay"] - paths[f"{column}_mean"]
    model_path = pd.Series(paths[f"{column}_mean"].to_numpy(), index=dates)
    if observed is not None:
        obs = read_observed(observed) / 100.0
        paths = paths.merge(obs.rename("observed").rename_axis("date").reset_index(), on="date", how="left")
        reference, label, ref = "observed", observed_label or Path(observed).stem, obs
    else:
        reference, label = "unemployment", "unemployment rate (the replayed series)"
        ref = pd.Series(driver[:n], index=dates)
    lags = lagged_correlation(model_path, ref)
    valid = lags.dropna(subset=["correlation"])
    if valid.empty:
        raise AnalysisError(f"{res.path}: the model and reference paths overlap in fewer than 4 dates")
    best = valid.loc[valid["correlation"].idxmax()]
    at_zero = lags.loc[lags["lag"] == 0, "correlation"].iloc[0]
    return Replay(
        paths=paths,
        reference=reference,
        reference_label=label,
        lags=lags,
        best_lag=int(best["lag"]),
        best_correlation=float(best["correlation"]),
        correlation_at_zero=float(at_zero),
        column=column,
        replications=int(runs["run_id"].nunique()),
        compared=f"{column}: replay - {_name(res, flat)} (paired)" if flat is not None else column,
        counterfactual=flat,
    )


def _name(res, cell: str) -> str:
    """A cell's policy name when it has one (what a spec calls it), else its id."""
    cells = res.cells
    if "policy" in cells:
        return str(cells.loc[cells["cell"] == cell, "policy"].iloc[0])
    return cell


def _cell(res, name: str) -> str:
    """The cell id of ``name``, a cell id or a policy name."""
    cells = res.cells
    if name in set(cells["cell"]):
        return name
    if "policy" in cells and name in set(cells["policy"]):
        return str(cells.loc[cells["policy"] == name, "cell"].iloc[0])
    raise AnalysisError(f"{res.path}: no cell or policy {name!r}; there are {', '.join(cells['cell'])}")


def _counterfactual(res, cell: str, which: str | None) -> str | None:
    if which is None:
        return None
    if which == "auto":
        if res.reference is None or "policy" not in res.cells:
            return None
        ref = res.cells.loc[res.cells["policy"] == res.reference, "cell"]
        if ref.empty or ref.iloc[0] == cell:
            return None
        which = str(ref.iloc[0])
    flat = _cell(res, which)
    if (res.cell_config(flat).get("economy") or {}).get("series"):
        raise AnalysisError(f"{res.path}: the counterfactual {which!r} replays a series too; give a cell without one")
    return flat


@styled
def replay_figure(rep: Replay):
    """Two panels: the unemployment series (observed and the model's realised rate); the model's
    delinquency with its 90% band beside the observed delinquency when there is one."""
    from matplotlib.ticker import PercentFormatter

    p = rep.paths
    fig = new_figure(8.0, 6.0)
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(p["date"], p["unemployment_observed"], color="#444444", lw=1.8, label="observed (replayed)")
    top.plot(p["date"], p["unemployment_model"], color="#2c7fb8", lw=1.2, ls="--", label="model: realised")
    top.set_ylabel("unemployment rate")
    top.legend(loc="upper left", frameon=False, fontsize=8)
    c = rep.column
    bottom.fill_between(p["date"], p[f"{c}_p05"], p[f"{c}_p95"], color="#d95f0e", alpha=0.2, lw=0)
    runs = f"mean of {rep.replications} runs, 90% band" if rep.replications > 1 else "one run"
    bottom.plot(p["date"], p[f"{c}_mean"], color="#d95f0e", lw=1.8, label=f"model: {rep.compared} ({runs})")
    if rep.counterfactual is not None:
        bottom.plot(p["date"], p[f"{c}_replay"], color="#d95f0e", lw=1.0, ls=":", label=f"model: {c}, replay")
        flat = p[f"{c}_counterfactual"]
        bottom.plot(p["date"], flat, color="#888888", lw=1.0, ls=":", label=f"model: {c}, counterfactual")
        bottom.axhline(0.0, color="#888888", lw=0.6)
    if rep.reference == "observed":
        obs = p.dropna(subset=["observed"])
        bottom.plot(obs["date"], obs["observed"], color="#444444", lw=1.8, marker="o", ms=3, label=rep.reference_label)
    bottom.set_ylabel("delinquency")
    bottom.legend(loc="upper left", frameon=False, fontsize=8)
    for ax in (top, bottom):
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.grid(alpha=0.3)
    suptitle(
        fig,
        f"Replay: correlation with {rep.reference_label} {rep.correlation_at_zero:.2f} at lag 0, "
        f"highest {rep.best_correlation:.2f} with the model {rep.best_lag:+d} months after it",
    )
    return fig


def replay_markdown(rep: Replay) -> str:
    """The correlation and lag as a short Markdown paragraph and table (every 3rd lag)."""
    p = rep.paths
    c = f"{rep.column}_mean"
    peak = p.loc[p[c].idxmax()]
    u_peak = p.loc[p["unemployment_observed"].idxmax()]
    lines = [
        f"Model `{rep.compared}` ({rep.replications} runs) against {rep.reference_label}: correlation "
        f"{rep.correlation_at_zero:.2f} at lag 0; highest {rep.best_correlation:.2f} with the model "
        f"{abs(rep.best_lag)} months {'after' if rep.best_lag >= 0 else 'before'} the reference.",
        "",
        f"Model peak {peak[c]:.2%} in {peak['date']:%Y-%m}; replayed unemployment peak "
        f"{u_peak['unemployment_observed']:.1%} in {u_peak['date']:%Y-%m}.",
        "",
        "| lag (months, model after reference) | correlation | dates |",
        "|---:|---:|---:|",
    ]
    for _, row in rep.lags[rep.lags["lag"] % 3 == 0].iterrows():
        lines.append(f"| {int(row['lag']):+d} | {row['correlation']:.2f} | {int(row['n'])} |")
    return "\n".join(lines) + "\n"


def write_replay(results_dir: str | Path, observed: str | Path | None = None, **kwargs) -> tuple[Replay, list[Path]]:
    """Write ``replay.csv``, ``replay_lags.csv``, ``replay.md`` and ``figures/replay.png|svg`` in the folder."""
    rep = replay(results_dir, observed, **kwargs)
    folder = Path(results_dir)
    rep.paths.to_csv(folder / "replay.csv", index=False)
    rep.lags.to_csv(folder / "replay_lags.csv", index=False)
    (folder / "replay.md").write_text(replay_markdown(rep), encoding="utf-8")
    (folder / "figures").mkdir(exist_ok=True)
    files = save_figure(replay_figure(rep), folder / "figures" / "replay")
    return rep, [folder / "replay.csv", folder / "replay_lags.csv", folder / "replay.md", *files]

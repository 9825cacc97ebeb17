"""Run one simulation and save it as a results folder.

This is the layer between the command line and the model: it runs a
configured `LendingMarket`, writes its tables with a manifest via
`sim.store`, and renders a short plain-text summary of the outcomes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from sim.store import FolderLock, check_destination, check_writable, provenance, write_results

if TYPE_CHECKING:
    from sim.config import ScenarioConfig


def run_single(
    config: ScenarioConfig,
    seed: int,
    out: Path | str,
    force: bool = False,
    progress: bool = True,
    *,
    scenario_file: Path | str | None = None,
    memory_check: bool = True,
    command: str | None = None,
) -> tuple[Path, pd.DataFrame]:
    """Run one seeded simulation and write its results folder.

    Args:
        config: Validated scenario configuration.
        seed: Random seed for the model.
        out: Results folder to create.
        force: Replace ``out`` if it already exists.
        progress: Show a progress bar on stderr while running.
        scenario_file: Path of the scenario file, recorded in the manifest
            (None when the config did not come from a file).
        memory_check: Refuse a run that would not fit in this machine's memory.
        command: What holds the folder's lock, as another command refused meanwhile is told.

    Returns:
        The results folder and the model-level frame.

    Raises:
        sim.store.ResultsExistError: If ``out`` exists and ``force`` is False;
            checked before the simulation so no run time is wasted.
        sim.store.OutputPathError: If ``out`` cannot be written (checked before, too).
        sim.store.FolderLocked: If another command is writing ``out``.
        experiments.resources.MemoryTooSmall: If the run would not fit in memory.
    """
    out = Path(out)
    if memory_check:
        from .resources import check_memory

        check_memory([config], 1, f"{scenario_file}: borrowers.count" if scenario_file else "borrowers.count")
    check_destination(out, force)
    check_writable(out)
    with FolderLock(out, command or f"run_single({out})"):
        check_destination(out, force)  # again: another command may have written it before the lock was taken
        # Imported here so that `run.py --help` and store-only users don't pay
        # for importing the model and Mesa.
        from .engine import simulate

        tables = simulate(config, seed, progress=progress)
        model_frame = tables["model"]
        manifest = _run_manifest(config, seed, scenario_file)
        return write_results(out, tables, manifest, force=force), model_frame


def _run_manifest(config: ScenarioConfig, seed: int, scenario_file: Path | str | None) -> dict[str, Any]:
    return {
        "kind": "run",
        "scenario_file": None if scenario_file is None else str(scenario_file),
        "config": config.model_dump(mode="json"),
        "seed": seed,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **provenance(),
    }


# (column, statistics to show, whether it is a rate shown as a percentage)
_SUMMARY_ROWS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("overdue_balance_rate", ("mean", "final", "peak"), True),
    ("m3plus_balance_rate", ("mean", "final", "peak"), True),
    ("default_rate", ("mean", "final", "peak"), True),
    ("cum_default_rate", ("final",), True),
    ("originations", ("mean",), False),
    ("credit_outstanding", ("final",), False),
    ("complaints", ("sum",), False),
    ("platforms_active", ("final",), False),
)
_SUMMARY_COLUMNS = ("mean", "final", "peak", "sum")


def summary_table(model_frame: pd.DataFrame) -> str:
    """Render headline outcomes of a run as a plain-text table.

    Only post burn-in months (``is_burn_in == False``) are summarised, so
    the warm-up period does not dilute the averages.

    Args:
        model_frame: The model-level frame from ``LendingMarket.model_frame``.

    Returns:
        A multi-line table; rates are shown as percentages and statistics
        of missing columns as ``n/a``.
    """
    frame = _post_burn_in(model_frame)
    if frame.empty:
        return "No post burn-in months to summarise (months <= burn_in?)."
    header = _months_line(frame)
    rows = [("metric", *_SUMMARY_COLUMNS)]
    for column, stats, is_rate in _SUMMARY_ROWS:
        cells = [
            _format(_statistic(frame, column, stat), is_rate) if stat in stats else "" for stat in _SUMMARY_COLUMNS
        ]
        rows.append((column, *cells))
    return header + "\n" + _render(rows)


def _post_burn_in(model_frame: pd.DataFrame) -> pd.DataFrame:
    if "is_burn_in" not in model_frame.columns:
        return model_frame
    return model_frame[~model_frame["is_burn_in"].astype(bool)]


def _months_line(frame: pd.DataFrame) -> str:
    if "month" not in frame.columns:
        return f"Post burn-in months: {len(frame)}"
    first, last = frame["month"].min(), frame["month"].max()
    return f"Post burn-in months: {len(frame)} (month {first} to {last})"


def _statistic(frame: pd.DataFrame, column: str, stat: str) -> float | None:
    if column not in frame.columns:
        return None
    series = frame[column]
    if stat == "final":
        # Rows are in month order from the model; sort anyway to be safe.
        series = frame.sort_values("month")[column] if "month" in frame else series
        return float(series.iloc[-1])
    return float({"mean": series.mean, "peak": series.max, "sum": series.sum}[stat]())


def _format(value: float | None, is_rate: bool) -> str:
    if value is None or pd.isna(value):
        return "n/a"
    if is_rate:
        return f"{value:.2%}"
    if float(value).is_integer():
        return f"{int(value):,}"
    # Large amounts (e.g. credit outstanding) don't need decimals.
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.1f}"


def _render(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        first = row[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
        lines.append("  ".join([first, *rest]).rstrip())
        if n == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


__all__ = ["run_single", "summary_table"]

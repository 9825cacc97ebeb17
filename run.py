"""lendsim command line.

Usage:
    python run.py run scenarios/baseline.yaml --seed 7 --months 60

Each command is one function; the work happens in the `sim` package so that
everything here is also available from Python.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from sim.config import ConfigError, load_scenario
from sim.store import ResultsExistError

# Errors a user can fix from the message alone: printed as one line, no
# traceback, exit code 2 (the same code click uses for usage errors).
_USER_ERRORS = (ConfigError, ResultsExistError)
_USER_ERROR_EXIT = 2

app = typer.Typer(
    help="lendsim: agent-based simulation of online-lending delinquency.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """lendsim: agent-based simulation of online-lending delinquency."""
    # A callback keeps `run` a named subcommand while it is the only one.


@app.command()
def run(
    scenario: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, help="Scenario YAML file."
    ),
    seed: int = typer.Option(0, help="Random seed."),
    months: Optional[int] = typer.Option(
        None, min=1, help="Override the number of months simulated after burn-in."
    ),
    borrowers: Optional[int] = typer.Option(
        None, min=1, help="Override the number of borrowers (borrowers.count)."
    ),
    out: Optional[Path] = typer.Option(
        None,
        help="Results folder.",
        show_default="results/<scenario stem>-seed<seed>",
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing results folder."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Run one scenario with one seed and save the results folder."""
    from sim.runner import run_single, summary_table

    config = load_scenario(scenario)
    overrides = _overrides(months=months, borrowers=borrowers)
    if overrides:
        config = config.with_overrides(overrides)
    out_dir = out if out is not None else Path("results") / f"{scenario.stem}-seed{seed}"
    out_dir, model_frame = run_single(
        config, seed, out_dir, force=force, progress=progress, scenario_file=scenario
    )
    typer.echo(summary_table(model_frame))
    typer.echo(f"\nResults written to {out_dir}")


@app.command()
def validate(
    replications: int = typer.Option(10, "--replications", "-r", min=2, help="Paired replications per arm."),
    borrowers: int = typer.Option(40_000, min=100, help="Borrowers per run."),
    months: int = typer.Option(60, min=24, help="Months after burn-in (the facts use months 1-60)."),
    workers: int = typer.Option(2, "--workers", "-j", min=1, help="Worker processes."),
    seed: int = typer.Option(20261122, help="Master seed; replication r uses SeedSequence(seed).spawn key r."),
    claims: bool = typer.Option(True, "--claims/--no-claims", help="Also run the source articles' claims (no verdict)."),
    markdown: Optional[Path] = typer.Option(None, help="Also write the tables as Markdown to this file."),
) -> None:
    """Check the nine stylized facts and the calibration targets; exit 1 if any fails."""
    from tqdm import tqdm

    from sim import validation as v

    arms = v.validation_arms(include_claims=claims)
    bar = tqdm(total=len(set(arms)) * replications, unit="run", desc="validate", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.update(done - bar.n)

    runs = v.run_arms(arms, replications, borrowers, months, seed, workers, progress)
    bar.close()
    results = [v.evaluate_contrast(c, v._arm_runs(runs, c.control, replications), v._arm_runs(runs, c.treated, replications))
               for c in v.contrasts()]
    target_df = v.target_table(runs, replications)
    claim_df = v.claim_table(runs, replications) if claims else None
    text = v.report_markdown(results, target_df, claim_df, replications, borrowers, months, seed)
    typer.echo(text)
    if markdown is not None:
        tmp = markdown.with_name(f".{markdown.name}.tmp")
        tmp.write_text(text)
        tmp.replace(markdown)  # atomic: readers see the old file or the new one
    failed = [r.contrast.claim for r in results if not r.holds] + list(target_df.loc[~target_df["holds"], "target"])
    if failed:
        typer.echo(f"{len(failed)} failed: " + "; ".join(failed), err=True)
        raise typer.Exit(1)
    typer.echo(f"all {len(results)} fact checks and {len(target_df)} calibration targets hold")


def _overrides(months: int | None, borrowers: int | None) -> dict[str, Any]:
    """Map the given command-line overrides to dotted config keys."""
    given = {"months": months, "borrowers.count": borrowers}
    return {key: value for key, value in given.items() if value is not None}


def main() -> None:
    """Entry point: run the app, turning user errors into one-line messages."""
    try:
        app()
    except _USER_ERRORS as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        sys.exit(_USER_ERROR_EXIT)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    main()

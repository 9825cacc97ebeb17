"""lendsim command line.

Usage:
    python run.py run scenarios/baseline.yaml --seed 7 --months 60
    python run.py compare scenarios/comparisons/demo.yaml -j 2
    python run.py sweep scenarios/sweeps/recession_severity_lhs.yaml --backend dask
    python run.py reproduce results/demo

Each command is one function; the work happens in the `sim` package so that
everything here is also available from Python.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from experiments.engine import ExperimentError
from sim.config import ConfigError, load_scenario
from sim.store import ResultsExistError

# Errors a user can fix from the message alone: printed as one line, no
# traceback, exit code 2 (the same code click uses for usage errors).
_USER_ERRORS = (ConfigError, ResultsExistError, ExperimentError)
_USER_ERROR_EXIT = 2
# Some runs failed, or a reproduction differs: the command did its work but the
# result is not what was asked for.
_FAILED_EXIT = 1

app = typer.Typer(
    help="lendsim: agent-based simulation of online-lending delinquency.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """lendsim: agent-based simulation of online-lending delinquency."""


@app.command()
def run(
    scenario: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="Scenario YAML file."),
    seed: int = typer.Option(0, help="Random seed."),
    months: int | None = typer.Option(None, min=1, help="Override the number of months simulated after burn-in."),
    borrowers: int | None = typer.Option(None, min=1, help="Override the number of borrowers (borrowers.count)."),
    out: Path | None = typer.Option(
        None,
        help="Results folder.",
        show_default="results/<scenario stem>-seed<seed>",
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing results folder."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Run one scenario with one seed and save the results folder."""
    from experiments.single import run_single, summary_table

    config = load_scenario(scenario)
    overrides = _overrides(months=months, borrowers=borrowers)
    if overrides:
        config = config.with_overrides(overrides)
    out_dir = out if out is not None else Path("results") / f"{scenario.stem}-seed{seed}"
    out_dir, model_frame = run_single(config, seed, out_dir, force=force, progress=progress, scenario_file=scenario)
    typer.echo(summary_table(model_frame))
    typer.echo(f"\nResults written to {out_dir}")


# Options shared by `compare` and `sweep` (typer has no option groups).
_WORKERS = typer.Option(1, "--workers", "-j", min=1, help="Parallel workers; 1 runs in this process.")
_BACKEND = typer.Option(
    None, "--backend", help="local (processes on this machine) or dask.", show_default="local, or dask with --scheduler"
)
_SCHEDULER = typer.Option(
    None, "--scheduler", help="Address of a running dask scheduler, e.g. tcp://10.0.0.5:8786 (implies --backend dask)."
)
_RETRIES = typer.Option(
    2, "--retries", min=0, help="Extra attempts of a run after a lost worker (dask: after any error)."
)
_RESUME = typer.Option(False, "--resume", help="Continue unfinished results: keep finished runs, rerun the rest.")
_FORCE = typer.Option(False, "--force", help="Start over, replacing existing results.")
_DRY_RUN = typer.Option(False, "--dry-run", help="Validate the spec, print the number of runs and exit.")
_PROGRESS = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr.")


@app.command()
def validate(
    replications: int = typer.Option(10, "--replications", "-r", min=2, help="Paired replications per arm."),
    borrowers: int = typer.Option(40_000, min=100, help="Borrowers per run."),
    months: int = typer.Option(60, min=48, help="Months after burn-in (the facts read months 1-60)."),
    seed: int = typer.Option(20261122, min=0, help="Master seed; replication r uses SeedSequence(seed).spawn key r."),
    claims: bool = typer.Option(
        True, "--claims/--no-claims", help="Also run the source articles' claims (no verdict)."
    ),
    markdown: Path | None = typer.Option(None, help="Also write the tables as Markdown to this file."),
    out: Path | None = typer.Option(None, help="Results folder.", show_default="results/validate"),
    workers: int = _WORKERS,
    backend: str | None = _BACKEND,
    scheduler: str | None = _SCHEDULER,
    retries: int = _RETRIES,
    resume: bool = _RESUME,
    force: bool = _FORCE,
    dry_run: bool = _DRY_RUN,
    progress: bool = _PROGRESS,
) -> None:
    """Check the nine stylized facts and the calibration targets; exit 1 if any fails.

    Every arm of every contrast is a cell of one experiment, run like a comparison (same executors,
    seeds, outcomes and results folder; `run.py report` and `reproduce` accept it).
    """
    from experiments.validation import validation_plan

    plan = validation_plan(replications, borrowers, months, seed, include_claims=claims)
    spec = {
        "replications": replications,
        "borrowers": borrowers,
        "months": months,
        "master_seed": seed,
        "claims": claims,
    }
    result = _run_plan(
        Path("validate"),
        spec,
        plan,
        out,
        workers,
        backend,
        scheduler,
        retries,
        resume,
        force,
        dry_run,
        progress,
        echo_summary=False,
    )
    if result is None:
        return
    import pandas as pd

    text = (result.out / "validation.md").read_text(encoding="utf-8")
    typer.echo(text)
    if markdown is not None:
        from sim.store import write_text_atomic

        write_text_atomic(markdown, text)
    facts = pd.read_csv(result.out / "facts.csv")
    targets = pd.read_csv(result.out / "targets.csv")
    failed = list(facts.loc[~facts["holds"], "claim"]) + list(targets.loc[~targets["holds"], "target"])
    if failed:
        typer.echo(f"{len(failed)} failed: " + "; ".join(failed), err=True)
        raise typer.Exit(_FAILED_EXIT)
    typer.echo(f"all {len(facts)} fact checks and {len(targets)} calibration targets hold")


@app.command()
def compare(
    spec: Path = typer.Argument(..., dir_okay=False, help="Comparison spec (scenarios/comparisons/*.yaml)."),
    out: Path | None = typer.Option(None, help="Results folder.", show_default="results/<spec stem>"),
    workers: int = _WORKERS,
    backend: str | None = _BACKEND,
    scheduler: str | None = _SCHEDULER,
    retries: int = _RETRIES,
    resume: bool = _RESUME,
    force: bool = _FORCE,
    dry_run: bool = _DRY_RUN,
    progress: bool = _PROGRESS,
) -> None:
    """Compare policies across shocks: every policy x shock, R replications with common random numbers."""
    from experiments.spec import load_comparison

    loaded, plan = load_comparison(spec)
    _run_plan(spec, loaded, plan, out, workers, backend, scheduler, retries, resume, force, dry_run, progress)


@app.command()
def sweep(
    spec: Path = typer.Argument(..., dir_okay=False, help="Sweep spec (scenarios/sweeps/*.yaml)."),
    out: Path | None = typer.Option(None, help="Results folder.", show_default="results/<spec stem>"),
    workers: int = _WORKERS,
    backend: str | None = _BACKEND,
    scheduler: str | None = _SCHEDULER,
    retries: int = _RETRIES,
    resume: bool = _RESUME,
    force: bool = _FORCE,
    dry_run: bool = _DRY_RUN,
    progress: bool = _PROGRESS,
) -> None:
    """Sweep config parameters over a grid, Latin hypercube or Sobol design, R replications a point."""
    from experiments.spec import load_sweep

    loaded, plan = load_sweep(spec)
    _run_plan(spec, loaded, plan, out, workers, backend, scheduler, retries, resume, force, dry_run, progress)


@app.command()
def reproduce(
    results: Path = typer.Argument(..., file_okay=False, help="Results folder with a manifest.json."),
    out: Path | None = typer.Option(
        None, help="Keep the rerun in this (new) folder.", show_default="a temporary folder"
    ),
    workers: int = _WORKERS,
    backend: str | None = _BACKEND,
    scheduler: str | None = _SCHEDULER,
    progress: bool = _PROGRESS,
) -> None:
    """Rerun a run, comparison or sweep from its manifest alone and check every output's hash."""
    from experiments.reproduce import checked_manifest, version_warnings
    from experiments.reproduce import reproduce as rerun

    backend = _backend(backend, scheduler)
    for line in version_warnings(checked_manifest(results)):
        typer.echo(f"warning: {line}; outputs may differ", err=True)
    outcome = rerun(results, out, workers=workers, backend=backend, scheduler=scheduler, progress=progress)
    if outcome.reproduced:
        typer.echo(f"reproduced: {outcome.checked} outputs match their recorded hashes")
        return
    typer.echo(f"not reproduced: {len({name for name, _ in outcome.differences})} of {outcome.checked} outputs differ")
    for name, why in outcome.differences:
        typer.echo(f"  {name}: {why}")
    raise typer.Exit(_FAILED_EXIT)


@app.command()
def report(
    results: Path = typer.Argument(
        ..., file_okay=False, help="Results folder (of run, compare, sweep or sensitivity)."
    ),
) -> None:
    """Write RESULTS/report.html (one self-contained page) and report.md, with figures in RESULTS/figures."""
    from analysis.report import write_report
    from analysis.tables import AnalysisError

    try:
        written = write_report(results)
    except AnalysisError as err:
        typer.echo(f"error: {_one_line(err)}", err=True)
        raise typer.Exit(_USER_ERROR_EXIT) from None
    typer.echo(f"Report written to {written.html} and {written.markdown} ({len(written.figures)} figures)")


@app.command()
def sensitivity(
    spec: Path = typer.Argument(..., dir_okay=False, help="Sensitivity spec (scenarios/sensitivity/*.yaml)."),
    out: Path | None = typer.Option(None, help="Results folder.", show_default="results/<spec stem>"),
    workers: int = _WORKERS,
    backend: str | None = _BACKEND,
    scheduler: str | None = _SCHEDULER,
    retries: int = _RETRIES,
    resume: bool = _RESUME,
    force: bool = _FORCE,
    dry_run: bool = _DRY_RUN,
    progress: bool = _PROGRESS,
) -> None:
    """Global sensitivity with SALib: Sobol indices or Morris screening, each point averaged over R runs."""
    from experiments.engine import run_experiment
    from experiments.sensitivity import describe, load_sensitivity

    loaded, plan = load_sensitivity(spec)
    out_dir = out if out is not None else Path("results") / spec.stem
    if dry_run:
        typer.echo(f"{describe(loaded, plan)}; results would go to {out_dir}")
        return
    backend = _backend(backend, scheduler)
    try:
        result = run_experiment(
            plan,
            out_dir,
            spec=loaded.model_dump(mode="json"),
            spec_file=str(spec),
            workers=workers,
            backend=backend,
            scheduler=scheduler,
            retries=retries,
            resume=resume,
            force=force,
            progress=progress,
        )
    except KeyboardInterrupt:
        typer.echo(f"interrupted: finished runs are kept; continue with --resume --out {out_dir}", err=True)
        raise typer.Exit(130) from None
    reused = f", {result.skipped} kept from before" if result.skipped else ""
    typer.echo(f"Runs written to {result.out} ({result.ran} runs{reused})")
    if result.failed:
        typer.echo(
            f"error: {len(result.failed)} of {result.ran + result.skipped} runs failed, so no indices "
            "(recorded in runs.parquet; rerun them with --resume):",
            err=True,
        )
        for run_id, error in result.failed:
            typer.echo(f"  {run_id}: {error}", err=True)
        raise typer.Exit(_FAILED_EXIT)

    from analysis.sensitivity import indices_markdown, write_sensitivity
    from analysis.tables import AnalysisError
    from analysis.tables import load as load_results

    try:
        table, files = write_sensitivity(result.out)
    except AnalysisError as err:
        typer.echo(f"error: {_one_line(err)}", err=True)
        raise typer.Exit(_USER_ERROR_EXIT) from None
    rates = {o["key"]: o["is_rate"] for o in load_results(result.out).outcome_specs}
    typer.echo(f"# Sensitivity ({loaded.method}): {describe(loaded, plan)}\n")
    typer.echo(indices_markdown(table, rates))
    typer.echo(
        f"Indices written to {', '.join(str(f) for f in files)}; `run.py report {result.out}` adds them to the report"
    )


def _backend(backend: str | None, scheduler: str | None) -> str:
    """The backend to use: as given, else dask when a scheduler is given, else local."""
    if backend is None:
        return "dask" if scheduler else "local"
    if backend not in ("local", "dask"):
        raise ExperimentError(f"--backend: {backend!r} is not allowed: expected 'local' or 'dask'")
    if scheduler and backend == "local":
        raise ExperimentError("--scheduler: a dask scheduler needs --backend dask (or no --backend)")
    return backend


def _run_plan(
    spec_path,
    spec,
    plan,
    out,
    workers,
    backend,
    scheduler,
    retries,
    resume,
    force,
    dry_run,
    progress,
    echo_summary: bool = True,
):
    """Run a plan into its results folder (``results/<spec stem>`` by default); the result, or None on --dry-run."""
    from experiments.engine import run_experiment

    backend = _backend(backend, scheduler)
    out_dir = out if out is not None else Path("results") / spec_path.stem
    if dry_run:
        typer.echo(f"{plan.describe()}; results would go to {out_dir}")
        return None
    try:
        result = run_experiment(
            plan,
            out_dir,
            spec=spec if isinstance(spec, dict) else spec.model_dump(mode="json"),
            spec_file=None if isinstance(spec, dict) else str(spec_path),
            workers=workers,
            backend=backend,
            scheduler=scheduler,
            retries=retries,
            resume=resume,
            force=force,
            progress=progress,
        )
    except KeyboardInterrupt:
        typer.echo(f"interrupted: finished runs are kept; continue with --resume --out {out_dir}", err=True)
        raise typer.Exit(130) from None
    if echo_summary:
        typer.echo(result.summary_md)
    reused = f", {result.skipped} kept from before" if result.skipped else ""
    typer.echo(f"Results written to {result.out} ({result.ran} runs{reused})")
    if result.failed:
        typer.echo(
            f"error: {len(result.failed)} of {result.ran + result.skipped} runs failed "
            "(recorded in runs.parquet; rerun them with --resume):",
            err=True,
        )
        for run_id, error in result.failed:
            typer.echo(f"  {run_id}: {error}", err=True)
        raise typer.Exit(_FAILED_EXIT)
    return result


@app.command()
def explore(
    scenario: Path | None = typer.Argument(
        None, dir_okay=False, help="Scenario YAML file whose values seed the controls.", show_default="the baseline"
    ),
    port: int = typer.Option(8765, min=1, max=65535, help="Port to serve on."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on; 0.0.0.0 opens the explorer to the network."),
) -> None:
    # Rich reads help text as markup, where "[explore]" is a tag and vanishes; a backslash escapes it.
    r"""Serve the interactive explorer (Mesa SolaraViz) in the browser; needs the \[explore] extra."""
    from explorer.serve import ExtraMissing, serve

    try:
        serve(scenario, host=host, port=port)  # replaces this process with the server
    except ExtraMissing as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


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

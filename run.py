"""lendsim command line.

Usage:
    python run.py run scenarios/baseline.yaml --seed 7 --months 60
    python run.py compare scenarios/comparisons/demo.yaml -j 2
    python run.py sweep scenarios/sweeps/recession_severity_lhs.yaml --backend dask
    python run.py reproduce results/demo
    python run.py replay results/replay_us_2006_2012
    python run.py calibrate scenarios/calibration/market_2021_23.yaml -j 2

Each command is one function; the work happens in the `sim` package so that
everything here is also available from Python.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Any

import typer

from experiments.engine import ExperimentError
from experiments.resources import MemoryTooSmall
from sim.config import ConfigError, load_scenario
from sim.store import FolderLock, FolderLocked, OutputPathError, ResultsExistError

# Errors a user can fix from the message alone: printed as one line, no
# traceback, exit code 2 (the same code click uses for usage errors).
_USER_ERRORS = (ConfigError, ResultsExistError, ExperimentError, FolderLocked, OutputPathError, MemoryTooSmall)
_USER_ERROR_EXIT = 2
_INTERRUPTED_EXIT = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
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
    seed: int = typer.Option(0, min=0, max=2**63 - 1, help="Random seed (0 or more)."),
    months: int | None = typer.Option(None, min=1, help="Override the number of months simulated after burn-in."),
    borrowers: int | None = typer.Option(None, min=1, help="Override the number of borrowers (borrowers.count)."),
    out: Path | None = typer.Option(
        None,
        help="Results folder.",
        show_default="results/<scenario stem>-seed<seed>",
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing results folder."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    memory_check: bool = typer.Option(
        True, "--memory-check/--no-memory-check", help="Refuse a run estimated not to fit in memory."
    ),
) -> None:
    """Run one scenario with one seed and save the results folder."""
    from experiments.single import run_single, summary_table

    config = load_scenario(scenario)
    overrides = _overrides(months=months, borrowers=borrowers)
    if overrides:
        config = config.with_overrides(overrides)
    out_dir = out if out is not None else Path("results") / f"{scenario.stem}-seed{seed}"
    try:
        out_dir, model_frame = run_single(
            config,
            seed,
            out_dir,
            force=force,
            progress=progress,
            scenario_file=scenario,
            memory_check=memory_check,
            command=_command_line(),
        )
    except KeyboardInterrupt:
        typer.echo(f"interrupted: nothing was written to {out_dir}", err=True)
        raise typer.Exit(_INTERRUPTED_EXIT) from None
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
    2, "--retries", min=0, max=100, help="Extra attempts of a run after a lost worker (dask: after any error)."
)
_RESUME = typer.Option(False, "--resume", help="Continue unfinished results: keep finished runs, rerun the rest.")
_FORCE = typer.Option(False, "--force", help="Start over, replacing existing results.")
_DRY_RUN = typer.Option(False, "--dry-run", help="Validate the spec, print the number of runs and exit.")
_PROGRESS = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr.")
_MEMORY_CHECK = typer.Option(
    True, "--memory-check/--no-memory-check", help="Refuse runs estimated not to fit in this machine's memory."
)


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
    memory_check: bool = _MEMORY_CHECK,
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
        memory_check,
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
    memory_check: bool = _MEMORY_CHECK,
) -> None:
    """Compare policies across shocks: every policy x shock, R replications with common random numbers."""
    from experiments.spec import load_comparison

    loaded, plan = load_comparison(spec)
    _run_plan(
        spec, loaded, plan, out, workers, backend, scheduler, retries, resume, force, dry_run, progress, memory_check
    )


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
    memory_check: bool = _MEMORY_CHECK,
) -> None:
    """Sweep config parameters over a grid, Latin hypercube or Sobol design, R replications a point."""
    from experiments.spec import load_sweep

    loaded, plan = load_sweep(spec)
    _run_plan(
        spec, loaded, plan, out, workers, backend, scheduler, retries, resume, force, dry_run, progress, memory_check
    )


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
    _check_workers(workers, backend, scheduler)
    try:
        # Locked while it reads: a `compare --resume` of the same folder would move its files meanwhile.
        with FolderLock(results, _command_line()):
            for line in version_warnings(checked_manifest(results)):
                typer.echo(f"warning: {line}; outputs may differ", err=True)
            outcome = rerun(results, out, workers=workers, backend=backend, scheduler=scheduler, progress=progress)
    except KeyboardInterrupt:
        typer.echo(f"interrupted: {results} is unchanged", err=True)
        raise typer.Exit(_INTERRUPTED_EXIT) from None
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
    from analysis.tables import MANIFEST, AnalysisError

    # Checked before the lock, which is written beside the folder: a folder that is not results (or a
    # path such as /sys/kernel) is named as such, not by the lock's temporary file that could not be made.
    if results.is_dir() and not (results / MANIFEST).is_file():
        if (results / "calibration.json").is_file():  # experiments.calibrate.MARKER, without importing it
            _fail(
                f"{results}: a calibration folder, whose report run.py calibrate has written: calibration.md, "
                f"fit.md and figures/; each round under rounds/ (rounds/best: the best point and its neighbours) "
                f"is a sweep folder run.py report reads"
            )
        _fail(f"{results}: no {MANIFEST}; not a results folder")
    try:
        with FolderLock(results, _command_line()):
            written = write_report(results)
    except AnalysisError as err:
        typer.echo(f"error: {_one_line(err)}", err=True)
        raise typer.Exit(_USER_ERROR_EXIT) from None
    except OSError as err:
        if err.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        # The report goes into the results folder: `--out` (the general advice) is not an option here.
        _fail(
            f"{results}: the report is written into the results folder, which cannot be written here "
            f"({err.strerror}); copy the folder somewhere writable and report the copy"
        )
    except KeyboardInterrupt:
        typer.echo(f"interrupted: the report in {results} may be incomplete; run the command again", err=True)
        raise typer.Exit(_INTERRUPTED_EXIT) from None
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
    memory_check: bool = _MEMORY_CHECK,
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
    _check_workers(workers, backend, scheduler)
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
            command=_command_line(),
            memory_check=memory_check,
        )
    except KeyboardInterrupt:
        typer.echo(f"interrupted: finished runs are kept; continue with --resume --out {out_dir}", err=True)
        raise typer.Exit(_INTERRUPTED_EXIT) from None
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


@app.command()
def calibrate(
    spec: Path = typer.Argument(..., dir_okay=False, help="Calibration spec (scenarios/calibration/*.yaml)."),
    out: Path | None = typer.Option(None, help="Results folder.", show_default="results/<spec stem>"),
    workers: int = _WORKERS,
    backend: str | None = _BACKEND,
    scheduler: str | None = _SCHEDULER,
    retries: int = _RETRIES,
    resume: bool = typer.Option(False, "--resume", help="Continue: finished rounds are read back, not rerun."),
    force: bool = _FORCE,
    dry_run: bool = _DRY_RUN,
    progress: bool = _PROGRESS,
    memory_check: bool = _MEMORY_CHECK,
) -> None:
    """Fit parameters to target moments (simulated method of moments, optuna TPE, common random numbers)."""
    from experiments.calibrate import calibrate as run_calibration
    from experiments.calibrate import (
        fit_markdown,
        load_calibration,
        misses,
        precision_notes,
        reported_only,
        sensitivity_markdown,
        setting_name,
    )

    cal = load_calibration(spec)
    out_dir = out if out is not None else Path("results") / spec.stem
    s = cal.spec
    runs = (s.budget + 1 + 2 * len(s.parameters)) * len(cal.shocks) * s.replications
    if dry_run:
        typer.echo(
            f"{s.budget} candidates + {1 + 2 * len(s.parameters)} around the best, x {len(cal.shocks)} "
            f"{'setting' if len(cal.shocks) == 1 else 'settings'} ({', '.join(setting_name(k) for k in cal.shocks)}) "
            f"x {s.replications} replications = {runs} runs; "
            f"results would go to {out_dir}"
        )
        return
    backend = _backend(backend, scheduler)
    _check_workers(workers, backend, scheduler)
    try:
        result = run_calibration(
            cal,
            out_dir,
            workers=workers,
            backend=backend,
            scheduler=scheduler,
            retries=retries,
            resume=resume,
            force=force,
            progress=progress,
            memory_check=memory_check,
            log=lambda line: typer.echo(line, err=True),
        )
    except KeyboardInterrupt:
        typer.echo(f"interrupted: finished rounds are kept; continue with --resume --out {out_dir}", err=True)
        raise typer.Exit(_INTERRUPTED_EXIT) from None
    typer.echo("best point: " + ", ".join(f"{k} = {v:.4g}" for k, v in result.best.items()) + "\n")
    typer.echo(fit_markdown(result.fit))
    typer.echo("Local sensitivity (sd of each target per step of each parameter):\n")
    typer.echo(sensitivity_markdown(result.sensitivity, reported_only(result.fit)))
    for line in precision_notes(result.fit):
        typer.echo(f"note: {line}", err=True)
    typer.echo(f"Results written to {result.out} ({result.ran} runs, {result.reused} kept from before)")
    missed = misses(result.fit)
    if missed:
        typer.echo(f"error: not within 2 sd of the target: {', '.join(missed)}", err=True)
        raise typer.Exit(_FAILED_EXIT)


@app.command()
def replay(
    results: Path = typer.Argument(..., file_okay=False, help="Results folder of a scenario with economy.series."),
    observed: Path | None = typer.Option(
        None, dir_okay=False, help="Observed delinquency CSV (date,value in percent; monthly or quarterly)."
    ),
    column: str = typer.Option("overdue_balance_rate", help="Model column compared with the reference."),
    cell: str | None = typer.Option(None, help="Cell or policy of a comparison to read.", show_default="the first"),
    counterfactual: str | None = typer.Option(
        "auto",
        help="Cell or policy without the series: compare the paired difference replay - it ('none': the level).",
        show_default="the comparison's reference policy, if it replays no series",
    ),
) -> None:
    """Set a replayed economy's delinquency path beside the observed one: correlation, lag and a figure."""
    from analysis.replay import replay_markdown, write_replay
    from analysis.tables import AnalysisError

    if observed is not None and not observed.is_file():
        _fail(f"--observed: {observed}: file not found")
    try:
        which = None if counterfactual == "none" else counterfactual
        rep, files = write_replay(results, observed, column=column, cell=cell, counterfactual=which)
    except AnalysisError as err:
        _fail(_one_line(err))
    typer.echo(replay_markdown(rep))
    typer.echo(f"Written: {', '.join(str(f) for f in files)}")


def _backend(backend: str | None, scheduler: str | None) -> str:
    """The backend to use: as given, else dask when a scheduler is given, else local."""
    if backend is None:
        backend = "dask" if scheduler else "local"
    if backend not in ("local", "dask"):
        raise ExperimentError(f"--backend: {backend!r} is not allowed: expected 'local' or 'dask'")
    if scheduler and backend == "local":
        raise ExperimentError("--scheduler: a dask scheduler needs --backend dask (or no --backend)")
    if scheduler:
        _check_scheduler(scheduler)
    return backend


def _check_scheduler(address: str) -> None:
    """Refuse an address dask cannot parse: dask raised it as a traceback from inside Client(), after the
    results folder's working copy had been made."""
    try:
        from distributed.comm.addressing import parse_address, parse_host_port
    except ImportError:
        return  # the dask extra is missing: the executor says so, with how to install it
    try:
        scheme, location = parse_address(address)
        if scheme in ("tcp", "tls", "ws", "wss", "ucx"):
            host, port = parse_host_port(location)
            if not host or not 1 <= int(port) <= 65535:
                raise ValueError("a host and a port from 1 to 65535 are needed")
    except (ValueError, TypeError) as err:
        raise ExperimentError(
            f"--scheduler: {address!r} is not a dask scheduler address ({_one_line(err)}); "
            "expected e.g. tcp://10.0.0.5:8786, as `dask scheduler` prints"
        ) from None


def _check_workers(workers: int, backend: str, scheduler: str | None) -> None:
    """Refuse more local worker processes than the machine could run (each is a whole simulation)."""
    if scheduler:
        return  # the cluster's workers, not this machine's
    cpus = os.cpu_count() or 1
    if workers > 4 * cpus:
        raise ExperimentError(
            f"--workers: {workers} is more than 4 x the {cpus} CPUs of this machine; allowed: 1 to {4 * cpus} "
            "(with a dask cluster, give --scheduler)"
        )


def _command_line() -> str:
    """This command as typed (for the lock file, so a second command is told who holds a folder)."""
    return " ".join(["run.py", *sys.argv[1:]])[:500]


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
    memory_check,
    echo_summary: bool = True,
):
    """Run a plan into its results folder (``results/<spec stem>`` by default); the result, or None on --dry-run."""
    from experiments.engine import run_experiment

    backend = _backend(backend, scheduler)
    _check_workers(workers, backend, scheduler)
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
            command=_command_line(),
            memory_check=memory_check,
        )
    except KeyboardInterrupt:
        typer.echo(f"interrupted: finished runs are kept; continue with --resume --out {out_dir}", err=True)
        raise typer.Exit(_INTERRUPTED_EXIT) from None
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


# typer vendors click; its exception base is reached through the one it exports.
_ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def main() -> None:
    """Entry point: run the app, turning user errors into one-line messages.

    Besides the errors above: a command-line value outside its domain (click's usage errors, shown
    by typer as a framed panel) is one line too, an operating-system error (a full disk, a read-only
    or special file system) is one line naming the path, and Ctrl-C ends with exit code 130 and no
    traceback (each command first says what it kept).
    """
    try:
        code = app(standalone_mode=False)
    except _USER_ERRORS as exc:
        _fail(_one_line(exc))
    except _ClickException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `run.py` alone: the help, as before
            exc.show()
            sys.exit(exc.exit_code)
        command = exc.ctx.command_path if getattr(exc, "ctx", None) is not None else "run.py"
        _fail(f"{_one_line(exc.format_message())} (see {command} --help)", exc.exit_code)
    except typer.Abort:
        print("interrupted", file=sys.stderr)
        sys.exit(_INTERRUPTED_EXIT)
    except OSError as exc:
        _fail(_os_error(exc))
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int = _USER_ERROR_EXIT) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def _os_error(exc: OSError) -> str:
    """``PATH: reason`` for an operating-system error, with what to do about a full disk."""
    where = f"{exc.filename}: " if exc.filename else ""
    reason = exc.strerror or _one_line(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason += "; free some space (unfinished comparisons keep their finished runs: continue with --resume)"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        reason += "; choose a writable folder with --out"
    return where + reason


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    main()

"""Rerun a results folder from its manifest alone and check every output against its recorded hash.

Works for single runs (``run.py run``, kind ``run``), comparisons, sweeps and validations. The rerun goes to a
fresh folder; nothing is read from the scenario or spec files, which may have changed since - the
manifest holds every cell's full config and every run's seed. An output differs when its bytes
differ from the hash recorded at the time, either in the rerun or in the folder itself (a file
edited or corrupted since).
"""

from __future__ import annotations

import platform
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.config import validate_scenario
from sim.store import MANIFEST_NAME, check_destination, provenance, read_manifest, sha256_file

from .engine import ExperimentError, run_experiment
from .executors import Backend
from .plan import Plan


@dataclass(frozen=True)
class Reproduction:
    """The outcome of :func:`reproduce`.

    Attributes:
        differences: ``(file, why)`` for every output that does not match its record.
        checked: Number of recorded outputs compared.
        kept: The rerun folder, when it was kept (``out`` given), else None.
    """

    differences: tuple[tuple[str, str], ...]
    checked: int
    kept: Path | None

    @property
    def reproduced(self) -> bool:
        return not self.differences


def version_warnings(manifest: dict[str, Any]) -> list[str]:
    """One line per package (or Python) whose version differs from the one recorded."""
    now = provenance()
    lines = []
    recorded_python = manifest.get("python")
    if recorded_python and recorded_python != platform.python_version():
        lines.append(f"recorded with Python {recorded_python}, this is Python {platform.python_version()}")
    for name, version in sorted((manifest.get("packages") or {}).items()):
        current = now["packages"].get(name)
        if version != current:
            lines.append(f"recorded with {name} {version}, this is {name} {current}")
    git, here = manifest.get("git") or {}, now["git"] or {}
    if git.get("commit") and here.get("commit") and git["commit"] != here["commit"]:
        lines.append(f"recorded at git commit {git['commit'][:12]}, this checkout is at {here['commit'][:12]}")
    if git.get("dirty"):
        lines.append("recorded from a checkout with uncommitted changes")
    return lines


def reproduce(
    results: Path | str,
    out: Path | str | None = None,
    *,
    workers: int = 1,
    backend: Backend = "local",
    scheduler: str | None = None,
    progress: bool = True,
) -> Reproduction:
    """Rerun ``results`` from its manifest into a fresh folder and compare every output.

    Args:
        results: A results folder with a ``manifest.json``.
        out: Folder for the rerun (must not exist; kept). Default: a temporary folder, removed.
        workers, backend, scheduler: Where to run (comparisons and sweeps); never affects outputs.
        progress: Show a progress bar.

    Raises:
        ExperimentError: if ``results`` has no usable manifest.
    """
    results = Path(results)
    manifest = checked_manifest(results)
    recorded: dict[str, str] = manifest["files"]
    if out is not None:
        check_destination(out, force=False)
        target, scratch = Path(out), None
    else:
        scratch = Path(tempfile.mkdtemp(prefix="lendsim-reproduce-"))
        target = scratch / results.name
    try:
        _rerun(manifest, target, workers, backend, scheduler, progress)
        differences = _compare(recorded, results, target)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return Reproduction(tuple(differences), len(recorded), None if scratch is not None else target)


def checked_manifest(results: Path | str) -> dict[str, Any]:
    """The manifest of a finished results folder.

    Raises:
        ExperimentError: if there is none, it is not JSON, or the experiment did not finish.
    """
    results = Path(results)
    try:
        manifest = read_manifest(results)
    except FileNotFoundError:
        raise ExperimentError(f"{results}: no {MANIFEST_NAME}; not a results folder") from None
    except ValueError as err:
        raise ExperimentError(f"{results / MANIFEST_NAME}: not valid JSON ({err})") from None
    if manifest.get("kind") not in ("run", "comparison", "sweep", "validation") or "files" not in manifest:
        raise ExperimentError(f"{results / MANIFEST_NAME}: no kind and files recorded; cannot reproduce it")
    if manifest.get("complete") is False:
        raise ExperimentError(f"{results}: the experiment did not finish; finish it with --resume first")
    return manifest


def _rerun(
    manifest: dict[str, Any], target: Path, workers: int, backend: Backend, scheduler: str | None, progress: bool
) -> None:
    if manifest["kind"] == "run":
        from .single import run_single

        config = validate_scenario(manifest["config"], source=f"{MANIFEST_NAME} config")
        run_single(config, manifest["seed"], target, progress=progress, scenario_file=manifest.get("scenario_file"))
        return
    try:
        plan = Plan.from_record(manifest["plan"])
    except (KeyError, TypeError, ValueError) as err:
        raise ExperimentError(f"{MANIFEST_NAME}: plan: cannot rebuild the runs ({err})") from None
    run_experiment(
        plan,
        target,
        spec=manifest.get("spec"),
        spec_file=manifest.get("spec_file"),
        workers=workers,
        backend=backend,
        scheduler=scheduler,
        progress=progress,
    )


def _compare(recorded: dict[str, str], results: Path, rerun: Path) -> list[tuple[str, str]]:
    differences = []
    for name, digest in sorted(recorded.items()):
        here, again = results / name, rerun / name
        if not here.is_file():
            differences.append((name, f"missing from {results}"))
        elif sha256_file(here) != digest:
            differences.append((name, f"changed in {results} since it was recorded"))
        if not again.is_file():
            differences.append((name, "not produced by the rerun"))
        elif sha256_file(again) != digest:
            differences.append((name, "the rerun produced different bytes"))
    produced = read_manifest(rerun).get("files", {})
    for name in sorted(set(produced) - set(recorded)):
        differences.append((name, "produced by the rerun but not recorded"))
    return differences


__all__ = ["Reproduction", "checked_manifest", "reproduce", "version_warnings"]

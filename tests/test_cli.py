"""End-to-end tests of `run.py run`, run as a user would, in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sim.store import read_manifest, sha256_file

REPO_ROOT = Path(__file__).resolve().parent.parent
BASELINE = REPO_ROOT / "scenarios" / "baseline.yaml"
# Small enough to keep the suite quick, large enough to exercise the model.
SMALL = ("--months", "6", "--borrowers", "300")
RESULT_FILES = ["manifest.json", "model.parquet", "platforms.parquet", "vintages.parquet"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `python run.py ARGS` from the repository root."""
    return subprocess.run(
        [sys.executable, "run.py", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def run_small(out: Path, seed: int, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli("run", str(BASELINE), "--seed", str(seed), *SMALL, "--out", str(out), *extra)


def file_hashes(out: Path) -> dict[str, str]:
    return {name: sha256_file(out / name) for name in ("model.parquet", "platforms.parquet", "vintages.parquet")}


def assert_one_line_error(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """One small seeded run shared by the tests; returns folder and hashes."""
    out = tmp_path_factory.mktemp("cli") / "run"
    done = run_small(out, 1, "--no-progress")
    assert done.returncode == 0, done.stderr
    return out, file_hashes(out)


def test_run_writes_results_folder(first_run) -> None:
    out, _ = first_run
    assert sorted(p.name for p in out.iterdir()) == RESULT_FILES
    manifest = read_manifest(out)
    assert manifest["kind"] == "run"
    assert manifest["seed"] == 1
    assert manifest["config"]["months"] == 6
    assert manifest["config"]["borrowers"]["count"] == 300
    assert manifest["scenario_file"].endswith("baseline.yaml")
    for name, digest in manifest["files"].items():
        assert sha256_file(out / name) == digest


def test_run_prints_summary_and_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = run_small(out, 3, "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "overdue_balance_rate" in done.stdout
    assert str(out) in done.stdout


def test_existing_folder_without_force_is_refused(first_run) -> None:
    out, hashes = first_run
    done = run_small(out, 1)
    assert_one_line_error(done)
    assert "--force" in done.stderr
    assert file_hashes(out) == hashes


def test_force_replaces_folder(first_run) -> None:
    out, hashes = first_run
    done = run_small(out, 1, "--force", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == RESULT_FILES
    assert file_hashes(out) == hashes  # same seed, same bytes


def test_same_seed_is_byte_identical(first_run, tmp_path: Path) -> None:
    out, hashes = first_run
    again = tmp_path / "again"
    done = run_small(again, 1, "--no-progress")
    assert done.returncode == 0, done.stderr
    assert (again / "model.parquet").read_bytes() == (out / "model.parquet").read_bytes()
    assert file_hashes(again) == hashes


def test_different_seed_differs(first_run, tmp_path: Path) -> None:
    out, _ = first_run
    other = tmp_path / "other"
    done = run_small(other, 2, "--no-progress")
    assert done.returncode == 0, done.stderr
    assert sha256_file(other / "model.parquet") != sha256_file(out / "model.parquet")


def test_invalid_scenario_is_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("months: [1, 2\n", encoding="utf-8")  # not valid YAML
    done = run_cli("run", str(bad), "--out", str(tmp_path / "run"))
    assert_one_line_error(done)
    assert not (tmp_path / "run").exists()


def test_missing_scenario_is_usage_error(tmp_path: Path) -> None:
    done = run_cli("run", str(tmp_path / "nope.yaml"))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


def test_unknown_option_is_usage_error() -> None:
    done = run_cli("run", str(BASELINE), "--no-such-option")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


def test_help_names_the_explore_extra_rich_markup_does_not_eat_it():
    done = run_cli("--help")
    assert done.returncode == 0, done.stderr
    assert "needs the [explore] extra" in " ".join(done.stdout.replace("│", " ").split())


def test_the_lendsim_console_script_is_run_py_from_any_folder(tmp_path):
    from importlib.metadata import entry_points

    import run

    (script,) = entry_points(group="console_scripts", name="lendsim")
    assert script.load() is run.main
    lendsim = Path(sys.executable).with_name("lendsim")
    assert lendsim.is_file(), "the console script is not installed: make install"
    spec = REPO_ROOT / "scenarios" / "comparisons" / "demo.yaml"
    done = subprocess.run(
        [str(lendsim), "compare", str(spec), "--dry-run"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("36 runs = 6 cells")
    missing = tmp_path / "nope.yaml"
    bad = subprocess.run([str(lendsim), "compare", str(missing)], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr == f"error: {missing}: file not found\n"

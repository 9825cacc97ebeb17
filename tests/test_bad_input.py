"""What a user can get wrong, tried as a user would: every mistake is one line and exit code 2.

Classes (issue 19): bytes and YAML the loader does not expect; constraints between fields;
command-line values outside their domain; output paths that cannot be written; a population too
large for the machine; two commands on one results folder; an empty scenario file; Ctrl-C during
``run``, ``compare`` and ``report``; a full disk; a results folder edited by hand. Each check says
what the user sees (one ``error:`` line, exit code 2, no traceback) and that nothing the user owns
is deleted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from experiments import engine
from experiments.engine import partial_folder, run_experiment
from experiments.resources import MemoryTooSmall, check_memory
from experiments.spec import load_comparison, load_sweep
from sim.config import ConfigError, ScenarioConfig, load_scenario
from sim.store import FolderLock, FolderLocked, lock_path, read_manifest, sha256_file
from tests.inprocess import run_in_process

REPO_ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = REPO_ROOT / "scenarios"
BASELINE = SCENARIOS / "baseline.yaml"
TINY = {"borrowers.count": 200, "months": 12, "burn_in": 3}


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "run.py", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=timeout
    )


def one_line_error(done: subprocess.CompletedProcess[str], *words: str, code: int = 2) -> str:
    """The single ``error:`` line of a refused command (fails unless exactly that, with ``words`` in it)."""
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def comparison_spec(folder: Path, name: str = "c.yaml", **changes) -> Path:
    spec = {
        "policies": [str(BASELINE), str(SCENARIOS / "policies" / "penalty_cap.yaml")],
        "shocks": ["none"],
        "replications": 3,
        "master_seed": 3,
        "overrides": dict(TINY),
        "outcomes": ["peak_overdue_balance_rate", "cum_default_rate"],
        **changes,
    }
    return write(folder / name, yaml.safe_dump(spec, sort_keys=False))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A small finished comparison (2 policies x 3 replications), made once; tests work on copies."""
    folder = tmp_path_factory.mktemp("finished")
    spec = comparison_spec(folder)
    loaded, plan = load_comparison(spec)
    out = folder / "results"
    run_experiment(plan, out, spec=loaded.model_dump(mode="json"), spec_file=str(spec), progress=False)
    return spec, plan, out


def copy_of(folder: Path, to: Path) -> Path:
    shutil.copytree(folder, to)
    return to


# --------------------------------------------------------------------------- bytes and YAML

BAD_FILES = {
    # id: (file content, words expected in the one line)
    "latin1": ("name: caf\xe9\nmonths: 12\n".encode("latin-1"), ["not UTF-8 text", "0xe9", "line 1"]),
    "utf16": ("months: 12\n".encode("utf-16"), ["not UTF-8 text"]),
    "binary": (bytes(range(256)) * 4, ["not UTF-8 text"]),
    "nul_bytes": (b"months: 12\x00\n", ["YAML syntax error"]),
    "nested_lists": ("months: " + "[" * 10_000 + "]" * 10_000 + "\n", ["nested more than 64 levels"]),
    "nested_maps": ("".join(f"{'  ' * i}k{i}:\n" for i in range(200)) + "  " * 200 + "x: 1\n", ["nested more"]),
    "alias_bomb": (
        "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
        + "".join(f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdef", "bcdefg")),
        ["expands to more than 200,000 values"],
    ),
    "duplicate_top_key": ("months: 12\nburn_in: 3\nmonths: 24\n", ["months: set twice, on lines 1 and 3"]),
    "duplicate_nested_key": (
        "borrowers:\n  count: 100\n  demand_monthly: 0.1\n  count: 200\n",
        ["borrowers.count: set twice, on lines 2 and 4"],
    ),
    "duplicate_in_flow_mapping": (
        "platforms: {policy: {penalty: {rule: flat, rule: none}}}\n",
        ["penalty.rule", "line 1"],
    ),
    "duplicate_in_list_item": (
        "economy:\n  shocks:\n    - {start: 2, start: 3}\n",
        ["economy.shocks[0].start: set twice"],
    ),
    "empty": ("", ["the file is empty", "extends: baseline.yaml"]),
    "only_comments": ("# a scenario\n# to be written\n", ["the file is empty"]),
    "only_document_marker": ("---\n...\n", ["the file is empty"]),
    "top_level_list": ("- months\n- 12\n", ["top level must be a mapping"]),
    "top_level_scalar": ("12\n", ["top level must be a mapping"]),
    "unhashable_key": ("? [a, b]\n: 1\n", ["YAML syntax error"]),
    "python_tag": ("months: !!python/object:os.system 1\n", ["YAML syntax error"]),
}


@pytest.mark.parametrize("content, words", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_scenario_file_the_loader_does_not_expect_is_one_line(tmp_path, content, words):
    path = write(tmp_path / "bad.yaml", content)
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    for word in words:
        assert word in message, message


def test_a_merge_key_may_repeat_what_it_merges(tmp_path):
    # '<<' merges defaults that later keys override: that is YAML's design, not a key set twice.
    text = "economy:\n  shocks:\n    - <<: {start: 2, duration: 3}\n      start: 4\n"
    path = write(tmp_path / "merge.yaml", text)
    assert load_scenario(path).economy.shocks[0].start == 4


def test_a_byte_order_mark_is_not_content(tmp_path):
    path = write(tmp_path / "bom.yaml", b"\xef\xbb\xbfmonths: 12\n")
    assert load_scenario(path).months == 12


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/null", "directory", "fifo", "huge"])
def test_special_and_oversized_files_are_refused_without_reading_them(tmp_path, special):
    if special == "directory":
        path = tmp_path / "dir.yaml"
        path.mkdir()
    elif special == "fifo":
        path = tmp_path / "pipe.yaml"
        os.mkfifo(path)  # opening it to read would block for ever
    elif special == "huge":
        path = tmp_path / "huge.yaml"
        with open(path, "wb") as fh:
            fh.truncate(11 * 2**20)
    else:
        path = Path(special)
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert str(info.value).startswith(f"{path}: ")
    assert ("not a regular file" if special != "huge" else "larger than 10 MB") in str(info.value)


@pytest.mark.parametrize("parent", ["/dev/zero", "", "folder"])
def test_extends_naming_something_that_is_not_a_file_says_so(tmp_path, parent):
    (tmp_path / "folder").mkdir()
    path = write(tmp_path / "child.yaml", f"extends: '{parent}'\nmonths: 12\n")
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert str(info.value).startswith(f"{path}: extends: '{parent}' is not a regular file"), str(info.value)


def test_duplicate_keys_in_a_spec_are_refused_too(tmp_path):
    spec = write(
        tmp_path / "dup.yaml",
        f"policies: [{BASELINE}]\nreplications: 2\nmaster_seed: 1\noutcomes: [losses]\nreplications: 3\n",
    )
    with pytest.raises(ConfigError, match=r"dup\.yaml: replications: set twice, on lines 2 and 5"):
        load_comparison(spec)


SWEEP_SIZES = {
    # id: (design keys, key path, words)
    "grid_of_10^12_points": (
        {"design": "grid", "parameters": {f"behaviour.{k}": {"min": 0.0, "max": 1.0, "levels": 10_000} for k in "abc"}},
        "parameters",
        ["a grid of 10,000 x 10,000 x 10,000 = 1,000,000,000,000 points is more than the 100,000"],
    ),
    "grid_of_listed_values": (
        {"design": "grid", "parameters": {"months": {"values": list(range(1, 401))}, "burn_in": {"values": [0] * 300}}},
        "parameters",
        ["300 x 400 = 120,000 points"],
    ),
    "too_many_samples": (
        {"design": "latin_hypercube", "samples": 100_001, "parameters": {"months": {"min": 1, "max": 9}}},
        "samples",
        ["100,001 points is more than the 100,000"],
    ),
    "too_many_runs": (
        {"design": "sobol", "samples": 65_536, "replications": 16, "parameters": {"months": {"min": 1, "max": 9}}},
        "replications",
        ["65,536 points x 16 replications = 1,048,576 runs"],
    ),
}


@pytest.mark.parametrize("design, key_path, words", SWEEP_SIZES.values(), ids=SWEEP_SIZES.keys())
def test_a_sweep_too_large_to_plan_is_refused_before_it_is_built(tmp_path, design, key_path, words):
    spec = {"base": str(BASELINE), "replications": 2, "master_seed": 1, "outcomes": ["losses"], **design}
    path = write(tmp_path / "s.yaml", yaml.safe_dump(spec))
    start = time.monotonic()
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    assert time.monotonic() - start < 5  # counted, not built
    assert str(info.value).startswith(f"{path}: {key_path}: "), str(info.value)
    for word in words:
        assert word in str(info.value), str(info.value)


def test_a_sensitivity_design_too_large_to_plan_is_refused(tmp_path):
    from experiments.sensitivity import load_sensitivity

    # sobol, N = 65,536, 2 parameters: 65,536 x 4 = 262,144 points (each a whole scenario), 1 replication
    spec = {"base": str(BASELINE), "method": "sobol", "samples": 65_536, "replications": 1, "master_seed": 1}
    spec |= {
        "outcomes": ["losses"],
        "parameters": {"behaviour.herding": {"min": 0, "max": 1}, "months": {"min": 1, "max": 9}},
    }
    path = write(tmp_path / "s.yaml", yaml.safe_dump(spec))
    start = time.monotonic()
    with pytest.raises(ConfigError, match=r"s\.yaml: samples: 262,144 points is more than the 100,000"):
        load_sensitivity(path)
    assert time.monotonic() - start < 5


def test_the_largest_sweep_is_allowed(tmp_path):
    spec = {"base": str(BASELINE), "design": "grid", "replications": 10, "master_seed": 1, "outcomes": ["losses"]}
    spec["parameters"] = {"months": {"values": list(range(1, 11))}}
    _, plan = load_sweep(write(tmp_path / "s.yaml", yaml.safe_dump(spec)))
    assert len(plan.runs) == 100
    from experiments.spec import MAX_POINTS, MAX_RUNS, SweepSpec

    edge = {**spec, "parameters": {"months": {"values": list(range(1, 101))}, "burn_in": {"values": [0] * 1000}}}
    assert SweepSpec.model_validate({**edge, "replications": MAX_RUNS // MAX_POINTS})  # exactly both limits


def test_cli_refuses_a_duplicate_key_and_an_empty_file_in_one_line(tmp_path):
    dup = write(tmp_path / "dup.yaml", "months: 12\nmonths: 13\n")
    one_line_error(run_cli("run", str(dup), "--out", str(tmp_path / "o")), "dup.yaml: months: set twice")
    empty = write(tmp_path / "empty.yaml", "")
    one_line_error(run_in_process("run", str(empty), "--out", str(tmp_path / "o")), "empty.yaml: the file is empty")
    spec = write(tmp_path / "latin.yaml", "description: caf\xe9\n".encode("latin-1"))
    one_line_error(run_in_process("compare", str(spec), "--dry-run"), "latin.yaml: not UTF-8 text")
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- constraints between fields

CROSS_FIELD = {
    # id: (YAML, key path, words)
    "loan_income_min_above_max": (
        "borrowers: {loan_income_min: 5.0, loan_income_max: 1.0}\n",
        "borrowers.loan_income_max",
        ["1.0 is below loan_income_min (5.0)"],
    ),
    "restructuring_window_reversed": (
        "platforms: {policy: {restructuring: {enabled: true, min_dpd: 90, max_dpd: 60}}}\n",
        "platforms.policy.restructuring.max_dpd",
        ["60 is below min_dpd (90)"],
    ),
    "min_cutoff_above_max_cutoff": (
        "platforms: {policy: {underwriting: {min_cutoff: 2.0, max_cutoff: 1.5, cutoff: 1.0}}}\n",
        "platforms.policy.underwriting.max_cutoff",
        ["1.5 is below min_cutoff (2.0)"],
    ),
    "cutoff_below_min_cutoff": (
        "platforms: {policy: {underwriting: {cutoff: -4.0}}}\n",
        "platforms.policy.underwriting.cutoff",
        ["-4.0 is below min_cutoff (-3.0)"],
    ),
    "cutoff_above_max_cutoff": (
        "platforms: {policy: {underwriting: {cutoff: 2.0}}}\n",
        "platforms.policy.underwriting.cutoff",
        ["2.0 is above max_cutoff (1.0)"],
    ),
    "scheduled_cutoff_above_max": (
        "platforms: {schedule: [{month: 3, set: {underwriting: {cutoff: 2.0}}}]}\n",
        "platforms.schedule[0].set.underwriting.cutoff",
        ["above max_cutoff"],
    ),
    "override_window_reversed": (
        "platforms: {overrides: [{platforms: [0], set: {restructuring: {min_dpd: 120}}}]}\n",
        "platforms.overrides[0].set.restructuring.max_dpd",
        ["below min_dpd (120)"],
    ),
    "penalty_tiers_share_a_threshold": (
        "platforms: {policy: {penalty: {rule: tiered, tiers: [{min_dpd: 0}, {min_dpd: 30}, {min_dpd: 30}]}}}\n",
        "platforms.policy.penalty.tiers[2].min_dpd",
        ["also the min_dpd of tiers[1]"],
    ),
    "amount_tiers_share_a_threshold": (
        "platforms: {policy: {penalty: {amount_tiers: [{min_amount: 0.0}, {min_amount: 0.0, factor: 2.0}]}}}\n",
        "platforms.policy.penalty.amount_tiers[1].min_amount",
        ["also the min_amount"],
    ),
    "shock_after_the_run": (
        "months: 24\neconomy: {shocks: [{start: 30}]}\n",
        "economy.shocks[0].start",
        ["30 is after the last month of the run (months: 24)", "allowed: 1 to 24"],
    ),
    "second_shock_after_the_run": (
        "months: 24\neconomy: {shocks: [{start: 3}, {start: 25}]}\n",
        "economy.shocks[1].start",
        ["after the last month"],
    ),
    "rule_change_after_the_run": (
        "months: 24\nregulator: {schedule: [{month: 25, set: {apr_cap_annual: 0.24}}]}\n",
        "regulator.schedule[0].month",
        ["would never apply"],
    ),
    "rule_change_in_the_burn_in": (
        "regulator: {schedule: [{month: 0, set: {apr_cap_annual: 0.24}}]}\n",
        "regulator.schedule[0].month",
        ["before month 1", "set in regulator itself"],
    ),
    "platform_change_before_month_1": (
        "platforms: {schedule: [{month: -5, set: {reports_to_bureau: true}}]}\n",
        "platforms.schedule[0].month",
        ["before month 1"],
    ),
}


@pytest.mark.parametrize("text, key_path, words", CROSS_FIELD.values(), ids=CROSS_FIELD.keys())
def test_fields_that_must_agree_are_one_line_at_the_key(tmp_path, text, key_path, words):
    path = write(tmp_path / "bad.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: {key_path}: "), message
    for word in words:
        assert word in message, message


def test_the_edges_of_each_constraint_are_allowed():
    config = ScenarioConfig().with_overrides(
        {
            "borrowers.loan_income_min": 2.0,
            "borrowers.loan_income_max": 2.0,
            "platforms.policy.underwriting.cutoff": 1.0,  # = max_cutoff
            "months": 12,
        }
    )
    assert config.borrowers.loan_income_max == 2.0
    data = config.model_dump()
    data["economy"]["shocks"] = [{"start": 12}]
    data["regulator"]["schedule"] = [{"month": 1, "set": {"apr_cap_annual": 0.2}}, {"month": 12, "set": {}}]
    assert ScenarioConfig.model_validate(data).economy.shocks[0].start == 12


def test_a_shorter_run_than_the_scenarios_shock_is_refused_on_the_command_line(tmp_path):
    # recession.yaml's shock starts at month 12: a 6-month run would silently be a baseline run.
    done = run_in_process(
        "run", str(SCENARIOS / "shocks" / "recession.yaml"), "--months", "6", "--out", str(tmp_path / "o")
    )
    one_line_error(done, "economy.shocks[0].start: 12 is after the last month of the run (months: 6)")
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- command-line values

CLI_VALUES = {
    "negative_seed": (["run", str(BASELINE), "--seed", "-1"], ["--seed", "greater than or equal to 0"]),
    "seed_beyond_64_bits": (["run", str(BASELINE), "--seed", str(2**64)], ["--seed"]),
    "zero_months": (["run", str(BASELINE), "--months", "0"], ["--months"]),
    "months_beyond_range": (["run", str(BASELINE), "--months", "5000"], ["override: months", "out of range"]),
    "too_few_borrowers": (["run", str(BASELINE), "--borrowers", "5"], ["borrowers.count", "out of range"]),
    "seed_not_a_number": (["run", str(BASELINE), "--seed", "abc"], ["--seed"]),
    "zero_workers": (["compare", str(SCENARIOS / "comparisons" / "demo.yaml"), "-j", "0"], ["--workers"]),
    "workers_beyond_the_machine": (
        ["compare", str(SCENARIOS / "comparisons" / "demo.yaml"), "-j", "1000", "--dry-run"],
        ["--workers: 1000 is more than 4 x the"],
    ),
    "negative_retries": (["compare", str(SCENARIOS / "comparisons" / "demo.yaml"), "--retries", "-1"], ["--retries"]),
    "unknown_backend": (
        ["compare", str(SCENARIOS / "comparisons" / "demo.yaml"), "--backend", "slurm"],
        ["--backend: 'slurm' is not allowed"],
    ),
    "scheduler_with_local_backend": (
        ["sweep", str(SCENARIOS / "sweeps" / "recession_severity_lhs.yaml"), "--backend", "local", "--scheduler", "x"],
        ["--scheduler"],
    ),
    # an address dask cannot parse was a traceback from inside dask's Client, after the working folder was made
    "scheduler_without_a_port": (
        [
            "compare",
            str(SCENARIOS / "comparisons" / "demo.yaml"),
            "--scheduler",
            "not a url",
            "--out",
            "/nonexistent/x",
        ],
        ["--scheduler: 'not a url' is not a dask scheduler address", "missing port number", "tcp://10.0.0.5:8786"],
    ),
    "scheduler_port_out_of_range": (
        ["sweep", str(SCENARIOS / "sweeps" / "recession_severity_lhs.yaml"), "--scheduler", "tcp://h:99999"],
        ["--scheduler: 'tcp://h:99999' is not a dask scheduler address"],
    ),
    "validate_one_replication": (["validate", "-r", "1", "--dry-run"], ["--replications"]),
    "explore_port_zero": (["explore", "--port", "0"], ["--port"]),
    "unknown_option": (["run", str(BASELINE), "--no-such-option"], ["No such option"]),
    "missing_argument": (["compare"], ["Missing argument"]),
    "unknown_command": (["simulate"], ["No such command"]),
}


@pytest.mark.parametrize("args, words", CLI_VALUES.values(), ids=CLI_VALUES.keys())
def test_a_command_line_value_outside_its_domain_is_one_line(args, words):
    one_line_error(run_in_process(*args), *words)


def test_no_arguments_still_shows_the_help():
    done = run_cli()
    assert "Traceback" not in done.stderr and "compare" in done.stdout + done.stderr


# --------------------------------------------------------------------------- output paths


@pytest.fixture
def mount(tmp_path):
    """Mount a small tmpfs (root only): ``mount(size, *options)`` returns its folder."""
    mounted = []

    def make(size: str, *options: str) -> Path:
        where = tmp_path / f"mnt{len(mounted)}"
        where.mkdir()
        opts = ",".join([f"size={size}", *options])
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], capture_output=True, check=False
        )
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
        mounted.append(where)
        return where

    yield make
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], check=False)


SMALL_RUN = ("--months", "3", "--borrowers", "200", "--no-progress")


@pytest.mark.parametrize("where", ["/proc/lendsim-results", "/sys/lendsim/results", "/dev/null", "/dev/null/sub"])
def test_an_output_path_on_a_special_file_system_is_one_line_before_any_work(where):
    start = time.monotonic()
    done = run_in_process("run", str(BASELINE), *SMALL_RUN, "--out", where)
    line = one_line_error(done)
    assert where.split("/")[1] in line
    assert time.monotonic() - start < 60


def test_an_output_path_under_a_file_is_one_line(tmp_path):
    blocker = write(tmp_path / "a_file", "mine\n")
    line = one_line_error(run_in_process("run", str(BASELINE), *SMALL_RUN, "--out", str(blocker / "sub" / "run")))
    assert "a_file" in line and "Not a directory" in line
    assert blocker.read_text() == "mine\n"


@pytest.mark.parametrize("command", ["run", "compare"])
@pytest.mark.parametrize("manifest", [None, '{"name": "my web app", "icons": []}'], ids=["plain", "other_manifest"])
def test_force_never_replaces_a_folder_lendsim_did_not_write(tmp_path, command, manifest):
    # `--out ~/thesis --force` (or `--out . --force`) replaced, that is deleted, the user's folder.
    mine = write(tmp_path / "thesis" / "chapter1.tex", "mine\n").parent
    if manifest is not None:
        write(mine / "manifest.json", manifest)
    before = {p.name: p.read_text() for p in mine.iterdir()}
    args = [str(BASELINE), *SMALL_RUN] if command == "run" else [str(comparison_spec(tmp_path)), "--no-progress"]
    line = one_line_error(run_in_process(command, *args, "--out", str(mine), "--force"))
    assert f"{mine}: not a results folder lendsim wrote" in line and "--force will not replace it" in line
    assert {p.name: p.read_text() for p in mine.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_read_only_file_system_is_one_line_for_run_and_compare(tmp_path, mount):
    ro = mount("1m", "ro")
    one_line_error(run_cli("run", str(BASELINE), *SMALL_RUN, "--out", str(ro / "run")), "Read-only file system")
    spec = comparison_spec(tmp_path)
    one_line_error(run_cli("compare", str(spec), "--out", str(ro / "cmp"), "--no-progress"), "Read-only file system")


def test_report_of_a_read_only_or_non_results_folder_names_the_folder(tmp_path, mount, finished):
    _, _, out = finished
    disk = mount("8m")
    copy = copy_of(out, disk / "results")
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    line = one_line_error(run_in_process("report", str(copy)), f"{copy}: the report is written into the results")
    assert "Read-only file system" in line and "copy the folder somewhere writable" in line
    # A folder that is not results, where the lock cannot be written either: named as not results.
    one_line_error(run_in_process("report", "/sys/kernel"), "/sys/kernel: no manifest.json; not a results folder")


def test_a_full_disk_is_one_line_and_keeps_what_was_finished(tmp_path, mount, finished):
    # A tmpfs of 96 KB: room for the working folder and a few runs, not for the whole comparison.
    spec, _, reference = finished
    disk = mount("96k")
    out = disk / "cmp"
    done = run_in_process("compare", str(spec), "--out", str(out), "--no-progress")
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (1, 2), done.stderr  # failed runs (1) or the folder could not be finished (2)
    assert "No space left on device" in done.stderr
    if done.returncode == 2:
        assert len(done.stderr.strip().splitlines()) == 1
    assert not out.exists()
    kept = partial_folder(out)
    assert kept.is_dir() and (kept / "manifest.json").is_file()
    # With room again, --resume finishes it with the bytes of an uninterrupted run.
    subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
    done = run_in_process("compare", str(spec), "--out", str(out), "--resume", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert read_manifest(out)["files"] == read_manifest(reference)["files"]


def test_a_full_disk_during_a_single_run_leaves_no_folder_behind(mount):
    disk = mount("48k")
    done = run_cli(
        "run", str(BASELINE), "--months", "24", "--borrowers", "2000", "--no-progress", "--out", str(disk / "r")
    )
    one_line_error(done, "No space left on device")
    assert list(disk.iterdir()) == []


# --------------------------------------------------------------------------- memory


def test_a_population_too_large_for_the_machine_is_refused_before_anything_is_built(tmp_path):
    start = time.monotonic()
    done = run_in_process("run", str(BASELINE), "--borrowers", "50000000", "--out", str(tmp_path / "big"))
    line = one_line_error(done, "baseline.yaml: borrowers.count: 50,000,000 borrowers need about", "available")
    assert "use at most about" in line and "--no-memory-check" in line
    assert time.monotonic() - start < 30  # refused from the configuration, not after allocating
    assert not (tmp_path / "big").exists()


def test_the_memory_estimate_counts_the_workers_and_names_the_spec(monkeypatch, tmp_path):
    from experiments import resources

    monkeypatch.setattr(resources, "available_bytes", lambda: 2 * 10**9)
    config = ScenarioConfig().with_overrides({"borrowers.count": 1_000_000})
    check_memory([config], workers=1)  # 1.3 GB fits in 2 GB
    with pytest.raises(MemoryTooSmall, match=r"x 2 workers need about 2\.6 GB .* 2\.0 GB available"):
        check_memory([config], workers=2)
    spec = comparison_spec(tmp_path, overrides={**TINY, "borrowers.count": 3_000_000})
    _, plan = load_comparison(spec)
    with pytest.raises(MemoryTooSmall, match=rf"^{spec}: borrowers.count: 3,000,000 borrowers"):
        run_experiment(plan, tmp_path / "out", spec_file=str(spec), progress=False)
    assert not (tmp_path / "out").exists() and not partial_folder(tmp_path / "out").exists()


# --------------------------------------------------------------------------- two commands, one folder


def test_a_second_command_on_a_locked_folder_is_told_who_holds_it(tmp_path, finished):
    spec, plan, out = finished
    copy = copy_of(out, tmp_path / "results")
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = lock_path(copy)
        lock.write_text(
            json.dumps(
                {
                    "pid": holder.pid,
                    "host": os.uname().nodename,
                    "start": None,
                    "command": "run.py compare c.yaml --resume",
                    "since": "2026-01-01T00:00:00+00:00",
                }
            )
        )
        for args in (["compare", str(spec), "--out", str(copy), "--resume"], ["report", str(copy)]):
            line = one_line_error(run_in_process(*args), f"{copy} is in use by `run.py compare c.yaml --resume`")
            assert f"pid {holder.pid}" in line and str(lock) in line
        with pytest.raises(FolderLocked):
            run_experiment(plan, copy, resume=True, progress=False)
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone: its lock is stale and no longer blocks
    assert run_in_process("compare", str(spec), "--out", str(copy), "--resume", "--no-progress").returncode == 0
    assert not lock.exists()
    assert read_manifest(copy)["files"] == read_manifest(out)["files"]


def test_two_commands_on_one_folder_at_once_one_is_refused_and_nothing_breaks(tmp_path):
    spec = comparison_spec(tmp_path, replications=4, overrides={**TINY, "borrowers.count": 3000, "months": 24})
    out = tmp_path / "cmp"
    first = subprocess.Popen(
        [sys.executable, "run.py", "compare", str(spec), "--out", str(out), "--no-progress"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not lock_path(out).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        second = run_in_process("compare", str(spec), "--out", str(out), "--resume", "--no-progress")
    finally:
        stdout, stderr = first.communicate(timeout=300)
    one_line_error(second, "is in use by `run.py compare", "--out", str(out))
    assert first.returncode == 0, stderr
    assert read_manifest(out)["complete"] and not lock_path(out).exists()


def test_a_stale_lock_from_a_killed_process_does_not_block(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    folder = tmp_path / "results"
    lock_path(folder).write_text(json.dumps({"pid": gone.pid, "host": os.uname().nodename, "command": "x"}))
    with FolderLock(folder, "test"):
        assert json.loads(lock_path(folder).read_text())["pid"] == os.getpid()
    assert not lock_path(folder).exists()
    # a lock from another host cannot be checked from here: it blocks, and says how to clear it
    lock_path(folder).write_text(json.dumps({"pid": 1, "host": "elsewhere", "command": "run.py sweep s.yaml"}))
    with pytest.raises(FolderLocked, match="in use by `run.py sweep s.yaml` .* on elsewhere"):
        FolderLock(folder, "test").acquire()


# --------------------------------------------------------------------------- Ctrl-C


def interrupt_when(args: list[str], ready, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Start ``run.py ARGS`` in its own process group; when ``ready()``, send SIGINT to the group (as Ctrl-C)."""
    proc = subprocess.Popen(
        [sys.executable, "run.py", *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while proc.poll() is None and not ready() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def test_ctrl_c_during_run_leaves_nothing_half_written(tmp_path):
    out = tmp_path / "run"
    started = time.monotonic()
    done = interrupt_when(
        ["run", str(BASELINE), "--borrowers", "200000", "--months", "120", "--out", str(out), "--no-progress"],
        lambda: time.monotonic() - started > 6,
    )
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and "interrupted" in done.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_ctrl_c_during_compare_keeps_finished_runs_and_resume_completes(tmp_path, finished):
    spec, _, reference = finished
    out = tmp_path / "cmp"
    journal = partial_folder(out) / engine.JOURNAL
    done = interrupt_when(
        ["compare", str(spec), "--out", str(out), "-j", "2", "--no-progress"],
        lambda: journal.is_file() and journal.read_text().count("\n") >= 1,
    )
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert (
        done.stderr.strip().splitlines()[-1].startswith("interrupted: finished runs are kept; continue with --resume")
    )
    assert partial_folder(out).is_dir() and not lock_path(out).exists()
    resumed = run_in_process("compare", str(spec), "--out", str(out), "--resume", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert read_manifest(out)["files"] == read_manifest(reference)["files"]


def test_ctrl_c_during_report_deletes_nothing(tmp_path, finished):
    _, _, out = finished
    copy = copy_of(out, tmp_path / "results")
    before = {p.relative_to(copy): sha256_file(p) for p in copy.rglob("*") if p.is_file()}
    figures = copy / "figures"
    done = interrupt_when(["report", str(copy)], lambda: figures.is_dir() and any(figures.iterdir()))
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and "interrupted" in done.stderr
    after = {p.relative_to(copy): sha256_file(p) for p in copy.rglob("*") if p.is_file()}
    assert {k: after.get(k) for k in before} == before  # every file of the results is still there, unchanged
    assert not [p for p in copy.rglob(".*") if p.is_file()] and not lock_path(copy).exists()


# --------------------------------------------------------------------------- results edited by hand


def test_a_missing_or_damaged_part_file_is_named_by_reproduce_and_rerun_by_resume(tmp_path, finished):
    spec, plan, out = finished
    reference = read_manifest(out)["files"]
    edited = copy_of(out, tmp_path / "edited")
    (edited / "model" / "part-00001.parquet").unlink()
    with open(edited / "vintages" / "part-00002.parquet", "r+b") as fh:
        fh.seek(20)
        fh.write(b"\xff" * 64)
    done = run_in_process("reproduce", str(edited), "--no-progress")
    assert done.returncode == 1, done.stderr
    assert "model/part-00001.parquet: missing from" in done.stdout
    assert "vintages/part-00002.parquet: changed in" in done.stdout
    # report and analysis.load name the damage in one line
    line = one_line_error(run_in_process("report", str(edited)))
    assert "cannot read" in line or "cannot draw" in line
    # --resume reruns the runs whose tables are missing or damaged and restores the same bytes
    done = run_in_process("compare", str(spec), "--out", str(edited), "--resume", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert read_manifest(edited)["files"] == reference


def test_a_damaged_batch_of_unfinished_work_is_run_again(tmp_path, finished, monkeypatch):
    spec, plan, out = finished
    monkeypatch.setattr(engine, "MAX_BATCHES", 2)  # batches of 3 runs: a rerun must rewrite its batch
    reference = tmp_path / "reference"
    run_experiment(plan, reference, progress=False)
    real, calls = engine.simulate, []

    def killed_after_four(config, seed):
        calls.append(config.name)
        if len(calls) > 4:
            raise KeyboardInterrupt  # as Ctrl-C in the fifth run: batch 0 written, batch 1 part staged
        return real(config, seed)

    monkeypatch.setattr(engine, "simulate", killed_after_four)
    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        run_experiment(plan, out, progress=False)
    work = partial_folder(out)
    assert (work / "model" / "part-00000.parquet").is_file() and len(list((work / "staging").iterdir())) == 3
    write(work / "platforms" / "part-00000.parquet", b"PAR1 not really")  # damaged meanwhile
    monkeypatch.setattr(engine, "simulate", real)
    again = run_experiment(plan, out, resume=True, progress=False)
    assert (again.ran, again.skipped) == (5, 1)  # batch 0 ran again; the staged run of batch 1 was kept
    assert read_manifest(out)["files"] == read_manifest(reference)["files"]
    assert not (out / "staging").exists() and not (out / engine.JOURNAL).exists()


def test_resuming_a_comparison_into_a_single_runs_folder_says_what_the_folder_holds(tmp_path):
    import pandas as pd

    from sim.store import write_results

    single = write_results(tmp_path / "r1", {"model": pd.DataFrame({"month": [1]})}, {"kind": "run"})
    spec = comparison_spec(tmp_path)
    line = one_line_error(run_in_process("compare", str(spec), "--out", str(single), "--resume", "--no-progress"))
    # It said "has no readable manifest.json" of a manifest that is there and reads fine.
    assert f"{single} holds the results of a single run, not a comparison; cannot resume it" in line
    assert sorted(p.name for p in single.iterdir()) == ["manifest.json", "model.parquet"]


EDITED_MANIFESTS = {
    "not_json": (lambda m: "{not json", ["manifest.json", "not valid JSON"]),
    "no_kind": (lambda m: json.dumps({k: v for k, v in m.items() if k != "kind"}), ["unknown kind None"]),
    "no_plan": (lambda m: json.dumps({k: v for k, v in m.items() if k != "plan"}), ["no plan of cells"]),
    "plan_not_a_mapping": (lambda m: json.dumps({**m, "plan": [1, 2]}), ["no plan of cells"]),
    "unfinished": (lambda m: json.dumps({**m, "complete": False}), ["did not finish"]),
    "bad_cell_config": (
        lambda m: json.dumps(
            {**m, "plan": {**m["plan"], "cells": [{**m["plan"]["cells"][0], "config": {"months": -1}}]}}
        ),
        [],
    ),
}


@pytest.mark.parametrize("edit, words", EDITED_MANIFESTS.values(), ids=EDITED_MANIFESTS.keys())
def test_an_edited_manifest_is_one_line_for_every_command(tmp_path, finished, edit, words):
    import analysis

    spec, _, out = finished
    edited = copy_of(out, tmp_path / "edited")
    manifest = json.loads((edited / "manifest.json").read_text())
    (edited / "manifest.json").write_text(edit(manifest))
    if words:
        with pytest.raises(analysis.AnalysisError) as info:
            analysis.load(edited)
        for word in words:
            assert word in str(info.value)
    for args in (
        ["report", str(edited)],
        ["reproduce", str(edited), "--no-progress"],
        ["compare", str(spec), "--out", str(edited), "--resume", "--no-progress"],
    ):
        done = run_in_process(*args)
        assert "Traceback" not in done.stderr, (args, done.stderr)
        if done.returncode == 0:  # an edit the command does not need (a report reads no cell config)
            continue
        assert done.returncode in (1, 2), (args, done.returncode)
        if done.returncode == 2:  # one error line (reproduce may first warn of other versions)
            lines = [line for line in done.stderr.strip().splitlines() if not line.startswith("warning: ")]
            assert len(lines) == 1 and lines[0].startswith("error: "), (args, done.stderr)
    assert (edited / "manifest.json").is_file()  # nothing the user owns is deleted

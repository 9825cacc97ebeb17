"""Replaying an observed economy (``economy.series``): the CSV is read relative to the scenario,
checked (monthly, no gaps, values in range) with one-line errors, and drives the economy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sim.config import ConfigError, load_scenario
from sim.draws import Draws
from sim.economy import Economy

REPO_ROOT = Path(__file__).resolve().parent.parent
BASELINE = REPO_ROOT / "scenarios" / "baseline.yaml"
REPLAY = REPO_ROOT / "scenarios" / "shocks" / "replay_us_2006_2012.yaml"


def scenario(tmp_path: Path, csv: str, series: str = "s.csv", extra: str = "") -> Path:
    (tmp_path / "s.csv").write_text(csv, encoding="utf-8")
    path = tmp_path / "replay.yaml"
    path.write_text(f"extends: {BASELINE}\nmonths: 12\neconomy:\n  series: {series}\n{extra}", encoding="utf-8")
    return path


def test_the_shipped_replay_reads_84_months_of_the_bls_series():
    s = load_scenario(REPLAY).economy.series
    assert s.first_month == "2006-01" and len(s.unemployment_rate) == 84
    assert s.unemployment_rate[0] == pytest.approx(0.047) and max(s.unemployment_rate) == pytest.approx(0.10)


def test_the_series_drives_the_target_and_holds_its_ends(tmp_path):
    csv = "# a comment\nmonth,unemployment_rate,income_index,benchmark_rate\n"
    csv += "2020-01,5.0,100,4.0\n2020-02,7.0,90,3.0\n2020-03-01,6.0,95,2.0\n"
    config = load_scenario(scenario(tmp_path, csv))
    econ = Economy(config.economy, Draws(np.random.SeedSequence(0)))
    change = {m: econ._compose(m, advance_growth=False) for m in (-3, 1, 2, 3, 9)}
    base = config.economy.unemployment_rate
    assert change[-3].unemployment_target == pytest.approx(base)  # burn-in: the first row
    assert change[2].unemployment_target == pytest.approx(base + 0.02)
    assert change[9].unemployment_target == pytest.approx(base + 0.01)  # after the end: the last row
    assert change[2].income_level == pytest.approx(0.9)
    assert change[3].benchmark_rate == pytest.approx(config.economy.benchmark_rate_annual - 0.02)


def test_level_mode_replays_the_levels_and_must_start_at_the_rate(tmp_path):
    csv = "month,unemployment_rate\n2020-01,5.0\n2020-02,9.0\n"
    config = load_scenario(scenario(tmp_path, csv, "{file: s.csv, mode: level}"))
    econ = Economy(config.economy, Draws(np.random.SeedSequence(0)))
    assert econ._compose(2, advance_growth=False).unemployment_target == pytest.approx(0.09)
    with pytest.raises(ConfigError, match=r"replay.yaml: economy.series.mode: level .* allowed: set economy"):
        load_scenario(scenario(tmp_path, csv.replace("5.0", "4.0"), "{file: s.csv, mode: level}"))


@pytest.mark.parametrize(
    ("csv", "words"),
    [
        ("month,unemployment_rate\n2020-01,5\n2020-03,5\n", "line 3, month: 2020-03 follows 2020-01; allowed: 2020-02"),
        ("month,unemployment_rate\n2020-01,5\n2020-01,5\n", "line 3, month: 2020-01 follows 2020-01"),
        ("month,unemployment_rate\n2020-13,5\n", "line 2, month: '2020-13' is not a month"),
        ("month,unemployment_rate\n2020-01,abc\n", "line 2, unemployment_rate: 'abc' is not allowed; allowed: percent"),
        ("month,unemployment_rate\n2020-01,60\n", "allowed: percent from 0 to 50"),
        ("month,unemployment_rate\n2020-01,\n", "line 2, unemployment_rate: ''"),
        ("month,unemployment_rate\n2020-01,0.05\n", "looks like fractions"),
        ("month,unemployment_rate,income_index\n2020-01,5,0\n", "income_index: '0' is not allowed"),
        ("month,unemployment_rate,gdp\n2020-01,5,1\n", "column 'gdp' is unknown"),
        ("date,unemployment_rate\n2020-01,5\n", "line 1: header"),
        ("month,unemployment_rate\n2020-01,5,6\n", "line 2: 3 fields"),
        ("month,unemployment_rate\n", "no data rows"),
    ],
)
def test_a_bad_series_is_one_line_naming_the_file_the_row_and_what_is_allowed(tmp_path, csv, words):
    with pytest.raises(ConfigError) as err:
        load_scenario(scenario(tmp_path, csv))
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{tmp_path / 'replay.yaml'}: economy.series: s.csv: ")
    assert words in message


def test_a_missing_series_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"economy.series: nope.csv: file not found"):
        load_scenario(scenario(tmp_path, "", "nope.csv"))


def test_the_command_line_refuses_a_bad_series_with_exit_code_2(tmp_path):
    path = scenario(tmp_path, "month,unemployment_rate\n2020-01,5\n2020-03,5\n")
    done = subprocess.run(
        [sys.executable, "run.py", "run", str(path), "--out", str(tmp_path / "out")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and done.stderr.startswith("error: ") and "follows 2020-01" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_series_survives_a_dump_and_reload(tmp_path):
    config = load_scenario(REPLAY)
    again = config.with_overrides({"borrowers.count": 100})  # dumps and validates the embedded series
    assert again.economy.series == config.economy.series

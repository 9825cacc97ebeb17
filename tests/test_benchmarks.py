"""The benchmark harness works end to end at toy sizes (speed itself is measured only by
``python -m benchmarks``, never asserted here)."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks import measure
from benchmarks.__main__ import main
from benchmarks.reference_mesa import MarketSnapshot
from benchmarks.suite import Plan, format_report


def _positive(x: float) -> bool:
    return math.isfinite(x) and x > 0


@pytest.fixture(scope="module")
def market():
    return measure.burned_in_market(1000, burn_in=3)


def test_throughputs_of_lendsim_and_the_reference_are_positive_and_finite(market):
    month = market.month
    ref, builds = measure.reference_throughput(MarketSnapshot.of(market), months_per_rep=1, reps=3)
    lend = measure.lendsim_throughput(market, months_per_rep=2, reps=3)
    for t in (ref, lend):
        assert t.borrowers == 1000 and len(t.reps) == 3
        assert all(map(_positive, t.reps)) and _positive(t.median)
    assert len(builds) == 3 and all(map(_positive, builds))
    assert market.month == month + 6  # the reference's months leave the market alone


def test_datacollection_overhead_leaves_the_market_collecting_again(market):
    rows_before = len(market.model_frame())
    d = measure.datacollection_overhead(market, months_per_block=1, blocks=3)
    assert len(d["month_on_s"]) == len(d["month_off_s"]) == 3
    assert math.isfinite(d["overhead"]) and 0 < d["share_timed_inside"] < 1
    assert len(market.model_frame()) == rows_before + 3  # only the "on" months were collected
    market.step()
    assert len(market.model_frame()) == rows_before + 4  # and collection is back on


def test_the_comparison_benchmark_runs_the_experiments_engine():
    # 12 months: penalty_cap.yaml's cap starts in month 12, and a run that ends before it is refused.
    plan = measure.comparison_plan(runs=4, borrowers=300, burn_in=1, months=12)
    assert len(plan.runs) == 4 and plan.kind == "comparison"
    seeds = {(r.replication, r.seed_entropy, r.seed_spawn_key) for r in plan.runs}
    assert len(seeds) == 2  # common random numbers: replication r of both scenarios shares a seed
    result = measure.run_comparison(plan, workers=2)
    assert result.ran == 4 and not result.failed and "cum_default_rate" in result.summary_md


def test_suite_reports_every_target_and_writes_json(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(Plan, "full", classmethod(lambda cls: Plan.tiny()))
    out_file = tmp_path / "bench.json"
    assert main(["--json", str(out_file)]) == 0
    printed = capsys.readouterr().out
    results = json.loads(out_file.read_text())
    assert set(results) >= {"plan", "machine", "measurements", "ratios", "targets", "elapsed_s"}
    assert {"cpu_model", "cpus_usable", "ram_gb", "python", "numpy", "mesa", "git_commit"} <= set(results["machine"])
    meas = results["measurements"]
    assert set(meas["lendsim"]) == {"1000", "2000", "3000"} and set(meas["reference"]) == {"1000", "2000"}
    assert _positive(meas["large"]["peak_rss_bytes"]) and _positive(meas["large"]["setup_median_s"])
    assert len(meas["large"]["setup_reps_s"]) == 2  # the run's own set-up and a setup-only child
    assert set(results["ratios"]) >= {"speedup_vs_reference_2000", "cost_3000_over_1000", "datacollection_overhead"}
    assert all(_positive(v) for k, v in results["ratios"].items() if k != "datacollection_overhead")
    statuses = {t["target"]: t["status"] for t in results["targets"]}
    assert len(statuses) == 8
    assert statuses["comparison throughput, 2 workers / 1 worker"] == "not measured (tiny)"
    pairing = results["measurements"]["pairing"]
    assert set(pairing["by_policy"]) == {
        "penalty_cap",
        "penalty_compounding",
        "education",
        "collection_regulated",
        "better_scoring",
    }
    assert "VRF cumulative default" in printed and _positive(results["ratios"]["pairing_median_vrf"])
    assert all(s.split()[0] in ("PASS", "MISS") for t, s in statuses.items() if not t.startswith("comparison"))
    assert printed.startswith(format_report(results).splitlines()[0])
    assert "speedup_vs_reference_2000" in printed

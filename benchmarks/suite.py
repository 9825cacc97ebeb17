"""The benchmark suite: what is measured at which size (a :class:`Plan`), the targets of issue 5,
and the printed report.

Everything runs in one process, side by side, except the largest market (set-up time, throughput
and peak memory come from a fresh child process, so that its memory is its own) and the
comparison's worker processes.
"""

from __future__ import annotations

import gc
import math
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from . import measure, pairing
from .reference_mesa import MarketSnapshot


@dataclass(frozen=True)
class Plan:
    """Sizes and repetitions of one benchmark run."""

    name: str
    small: int  # borrowers
    medium: int
    large: int | None  # None: not measured
    burn_in: int
    lendsim_small: tuple[int, int]  # (repetitions, months per repetition)
    lendsim_medium: tuple[int, int]
    reference_small: tuple[int, int]
    reference_medium: tuple[int, int]
    like_for_like_medium: tuple[int, int]
    datacollection: tuple[int, int]  # (blocks on and off, months per block)
    large_months: int  # months timed after burn-in in the large run
    large_setups: int  # set-ups timed (the run's own plus setup-only children)
    comparison: tuple[int, int, int, int] | None  # (runs, borrowers, burn-in, months), None: not measured
    comparison_reps: int
    pairing: tuple[int, int, int] | None = None  # (replications, borrowers, months) of the pairing benchmark

    @classmethod
    def full(cls) -> Plan:
        return cls(
            "full",
            small=10_000,
            medium=100_000,
            large=1_000_000,
            burn_in=24,
            lendsim_small=(5, 12),
            lendsim_medium=(5, 6),
            reference_small=(5, 2),
            reference_medium=(5, 1),
            like_for_like_medium=(3, 2),
            datacollection=(6, 2),
            large_months=12,
            large_setups=3,
            comparison=(40, 10_000, 24, 36),
            comparison_reps=3,
            pairing=(16, 5000, 60),
        )

    @classmethod
    def quick(cls) -> Plan:
        """Within a minute: the small and medium sizes only, with the 100k speed-up."""
        return cls(
            "quick",
            small=10_000,
            medium=100_000,
            large=None,
            burn_in=24,
            lendsim_small=(3, 6),
            lendsim_medium=(3, 3),
            reference_small=(3, 1),
            reference_medium=(3, 1),
            like_for_like_medium=(3, 1),
            datacollection=(3, 2),
            large_months=0,
            large_setups=0,
            comparison=None,
            comparison_reps=0,
        )

    @classmethod
    def tiny(cls) -> Plan:
        """Toy sizes, for the harness's own test: says nothing about speed. The comparison is left
        out (its worker processes take seconds to start); its jobs are tested on their own."""
        return cls(
            "tiny",
            small=1000,
            medium=2000,
            large=3000,
            burn_in=3,
            lendsim_small=(3, 1),
            lendsim_medium=(3, 1),
            reference_small=(3, 1),
            reference_medium=(3, 1),
            like_for_like_medium=(3, 1),
            datacollection=(3, 1),
            large_months=2,
            large_setups=2,
            comparison=None,
            comparison_reps=0,
            pairing=(3, 300, 12),  # 12: penalty_cap.yaml caps from month 12, and a shorter run is refused
        )


STARVED = 0.9  # cpu/wall below which a measurement lost a tenth of its time to other processes


def _log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def run_benchmarks(plan: Plan) -> dict:
    """Measure everything in ``plan``; return the numbers, ratios, targets and machine as one dict."""
    started = time.perf_counter()
    out: dict = {
        "plan": asdict(plan),
        "machine": measure.machine_info(),
        "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "measurements": {"lendsim": {}, "reference": {}},
    }
    meas = out["measurements"]

    if plan.large:
        _log(
            f"{plan.large:,} borrowers in a child process: set-up, {plan.burn_in} burn-in + {plan.large_months} months"
        )
        run = measure.large_run_in_child(plan.large, plan.burn_in, plan.large_months)
        setups = [run["setup_s"]] + [
            measure.large_run_in_child(plan.large, plan.burn_in, 0, setup_only=True)["setup_s"]
            for _ in range(plan.large_setups - 1)
        ]
        meas["large"] = {**run, "setup_reps_s": setups, "setup_median_s": statistics.median(setups)}
        meas["lendsim"][str(plan.large)] = measure.Throughput(
            plan.large, 1, run["month_s"], run["month_cpu_s"], "each month after burn-in in the child process"
        ).as_dict()
        meas["lendsim_large_burn_in"] = measure.Throughput(
            plan.large,
            plan.burn_in,
            [sum(run["burn_in_month_s"])],
            [sum(run["burn_in_month_cpu_s"])],
            "the burn-in months right after set-up",
        ).as_dict()

    for size, lend_plan, ref_plan in (
        (plan.small, plan.lendsim_small, plan.reference_small),
        (plan.medium, plan.lendsim_medium, plan.reference_medium),
    ):
        _log(
            f"{size:,} borrowers: burn-in, reference {ref_plan[0]} x {ref_plan[1]} months, "
            f"lendsim {lend_plan[0]} x {lend_plan[1]} months"
        )
        market = measure.burned_in_market(size, burn_in=plan.burn_in)
        snapshot = MarketSnapshot.of(market)
        ref, builds = measure.reference_throughput(snapshot, ref_plan[1], ref_plan[0])
        meas["reference"][str(size)] = {**ref.as_dict(), "build_s": builds}
        del snapshot
        gc.collect()
        meas["lendsim"][str(size)] = measure.lendsim_throughput(market, lend_plan[1], lend_plan[0]).as_dict()
        if size == plan.medium:
            _log(f"{size:,} borrowers: data collection on/off, then new lending off")
            meas["datacollection"] = measure.datacollection_overhead(
                market, plan.datacollection[1], plan.datacollection[0]
            )
            meas["like_for_like"] = measure.like_for_like_throughput(
                market, plan.like_for_like_medium[1], plan.like_for_like_medium[0]
            ).as_dict()
        del market
        gc.collect()

    if plan.comparison:
        runs, borrowers, burn_in, months = plan.comparison
        _log(f"comparison: {runs} runs of {borrowers:,} borrowers x {burn_in}+{months} months, 1 and 2 workers")
        meas["comparison"] = measure.comparison_throughput(
            runs, borrowers, burn_in, months, (1, 2), plan.comparison_reps
        )

    if plan.pairing:
        reps, borrowers, months = plan.pairing
        _log(
            f"pairing: baseline and {len(pairing.POLICIES)} policies, {borrowers:,} borrowers x {months} months, "
            f"R={reps}"
        )
        meas["pairing"] = pairing.measure(reps, 2, borrowers, months)

    out["ratios"] = ratios(out, plan)
    out["targets"] = targets(out, plan)
    out["machine"]["load_average_at_end"] = list(os.getloadavg())
    out["elapsed_s"] = time.perf_counter() - started
    return out


def ratios(out: dict, plan: Plan) -> dict:
    """The ratios the targets are stated in (missing measurements are left out)."""
    meas, r = out["measurements"], {}
    lend = {int(k): v["borrower_months_per_s"] for k, v in meas["lendsim"].items()}
    ref = {int(k): v["borrower_months_per_s"] for k, v in meas["reference"].items()}
    for size in (plan.small, plan.medium):
        if size in lend and size in ref:
            r[f"speedup_vs_reference_{size}"] = lend[size] / ref[size]
    if "like_for_like" in meas and plan.medium in ref:
        r[f"speedup_like_for_like_{plan.medium}"] = meas["like_for_like"]["borrower_months_per_s"] / ref[plan.medium]
    if plan.large in lend:
        r[f"cost_{plan.large}_over_{plan.small}"] = lend[plan.small] / lend[plan.large]
    if "datacollection" in meas:
        r["datacollection_overhead"] = meas["datacollection"]["overhead"]
    if "comparison" in meas:
        rps = meas["comparison"]["runs_per_s"]
        r["comparison_2_over_1_workers"] = rps["2"] / rps["1"]
    if "pairing" in meas:
        r["pairing_median_vrf"] = meas["pairing"]["target_median_vrf"]
    return r


def targets(out: dict, plan: Plan) -> list[dict]:
    """The targets (speed, scale, memory, parallelism, pairing), each PASS, MISS or not measured."""
    meas, r = out["measurements"], out["ratios"]
    large = meas.get("large", {})
    lend_large = meas["lendsim"].get(str(plan.large), {}).get("borrower_months_per_s")

    def cpu(*parts: dict | None) -> float | None:
        shares = [p["cpu_share"] for p in parts if p and "cpu_share" in p]
        return min(shares) if shares else None

    lend, ref = meas["lendsim"], meas["reference"]
    small, medium, big = lend.get(str(plan.small)), lend.get(str(plan.medium)), lend.get(str(plan.large))
    comparison = meas.get("comparison")
    rows = [
        (
            f"lendsim / plain-Mesa reference, borrower-months per s, {plan.medium:,} borrowers",
            r.get(f"speedup_vs_reference_{plan.medium}"),
            ">=",
            50.0,
            "{:.1f}x",
            cpu(medium, ref.get(str(plan.medium))),
        ),
        (
            f"lendsim borrower-months per s at {plan.large or 1_000_000:,} borrowers",
            lend_large,
            ">=",
            2e6,
            "{:,.0f}",
            cpu(big),
        ),
        (
            f"set-up time at {plan.large or 1_000_000:,} borrowers (s)",
            large.get("setup_median_s"),
            "<",
            10.0,
            "{:.2f}",
            None,
        ),
        (
            f"peak memory at {plan.large or 1_000_000:,} borrowers (GB)",
            large["peak_rss_bytes"] / 1e9 if large else None,
            "<",
            3.0,
            "{:.2f}",
            None,
        ),
        (
            f"cost per borrower-month, {plan.large or 1_000_000:,} / {plan.small:,} borrowers",
            r.get(f"cost_{plan.large}_over_{plan.small}"),
            "<=",
            1.5,
            "{:.2f}",
            cpu(small, big),
        ),
        ("data collection, added to a month", r.get("datacollection_overhead"), "<", 0.05, "{:+.1%}", None),
        (
            "comparison throughput, 2 workers / 1 worker",
            r.get("comparison_2_over_1_workers"),
            ">=",
            1.7,
            "{:.2f}x",
            min(comparison["cpu_share"].values()) if comparison else None,
        ),
        (
            "common random numbers: median variance-reduction factor (benchmarks/pairing.py)",
            r.get("pairing_median_vrf"),
            ">=",
            10.0,
            "{:.1f}",
            None,
        ),
    ]
    out_rows = []
    for label, value, op, threshold, fmt, cpu_share in rows:
        if value is None or not math.isfinite(value):
            status, shown = f"not measured ({plan.name})", "-"
        else:
            ok = value >= threshold if op == ">=" else value < threshold if op == "<" else value <= threshold
            status, shown = ("PASS" if ok else "MISS"), fmt.format(value)
            if cpu_share is not None and cpu_share < STARVED:
                status += f" (starved: cpu/wall {cpu_share:.2f}, measure again on a quiet machine)"
        out_rows.append(
            {
                "target": label,
                "measured": value,
                "shown": shown,
                "op": op,
                "threshold": threshold,
                "threshold_shown": fmt.format(threshold),
                "status": status,
                "cpu_share": cpu_share,
            }
        )
    return out_rows


# --------------------------------------------------------------------------- report


def _bm(x: float) -> str:
    return f"{x / 1e6:.3f} M" if x >= 1e5 else f"{x / 1e3:.1f} k"


def _spread(reps: list[float]) -> str:
    return f"{_bm(min(reps))} .. {_bm(max(reps))}"


def format_report(out: dict) -> str:
    """The table of measurements, then the targets with PASS/MISS."""
    m, meas = out["machine"], out["measurements"]
    lines = [
        f"lendsim benchmark ({out['plan']['name']}), {out['started_utc']}, {out['elapsed_s']:.0f} s",
        f"machine: {m.get('cpu_model', '?')}, {m['cpus_usable']} usable cores, {m.get('ram_gb', '?')} GB RAM, "
        f"{m['platform']}; load average at start {m['load_average_1_5_15'][0]:.2f}",
        f"software: Python {m['python']}, numpy {m['numpy']}, mesa {m['mesa']}, pandas {m['pandas']}; "
        f"commit {m['git_commit'][:10]}{' (dirty)' if m['git_dirty'] else ''}",
        "",
    ]
    rows = [("measurement", "median", "cpu/wall", "repetitions (min .. max)")]

    def share(t: dict) -> str:
        return f"{t['cpu_share']:.2f}"

    for size, t in sorted(meas["lendsim"].items(), key=lambda kv: int(kv[0])):
        rows.append(
            (
                f"lendsim full month, {int(size):,} borrowers",
                f"{_bm(t['borrower_months_per_s'])} bm/s",
                share(t),
                f"{len(t['seconds'])} x {t['months_per_rep']} month(s): {_spread(t['reps_borrower_months_per_s'])}",
            )
        )
    if "lendsim_large_burn_in" in meas:
        t = meas["lendsim_large_burn_in"]
        rows.append(
            (
                f"  same, first {t['months_per_rep']} months after set-up",
                f"{_bm(t['borrower_months_per_s'])} bm/s",
                share(t),
                "book still growing",
            )
        )
    for size, t in sorted(meas["reference"].items(), key=lambda kv: int(kv[0])):
        rows.append(
            (
                f"plain-Mesa reference, {int(size):,} borrowers",
                f"{_bm(t['borrower_months_per_s'])} bm/s",
                share(t),
                f"{len(t['seconds'])} x {t['months_per_rep']} month(s): {_spread(t['reps_borrower_months_per_s'])}; "
                f"build {statistics.median(t['build_s']):.2f} s",
            )
        )
    if "like_for_like" in meas:
        t = meas["like_for_like"]
        rows.append(
            (
                f"lendsim, new lending off, {t['borrowers']:,} borrowers",
                f"{_bm(t['borrower_months_per_s'])} bm/s",
                share(t),
                f"{len(t['seconds'])} x {t['months_per_rep']} month(s): {_spread(t['reps_borrower_months_per_s'])}",
            )
        )
    if "large" in meas:
        g = meas["large"]
        rows.append(
            (
                f"set-up, {g['borrowers']:,} borrowers",
                f"{g['setup_median_s']:.2f} s",
                "",
                ", ".join(f"{s:.2f}" for s in g["setup_reps_s"]),
            )
        )
        rows.append(
            (
                f"peak memory, {g['borrowers']:,} borrowers",
                f"{g['peak_rss_bytes'] / 1e9:.2f} GB",
                "",
                f"ru_maxrss of a child after set-up + {len(g['burn_in_month_s']) + len(g['month_s'])} months; "
                f"{g['live_loans']:,} live loans",
            )
        )
    if "datacollection" in meas:
        d = meas["datacollection"]
        rows.append(
            (
                f"data collection, {d['borrowers']:,} borrowers",
                f"{d['overhead']:+.1%} of a month",
                "",
                f"{d['blocks']} x {d['months_per_block']} months on/off: "
                f"{statistics.median(d['month_on_s']) * 1e3:.1f} vs "
                f"{statistics.median(d['month_off_s']) * 1e3:.1f} ms; timed inside {d['share_timed_inside']:.1%}",
            )
        )
    if "comparison" in meas:
        c = meas["comparison"]
        for w, rps in c["runs_per_s"].items():
            rows.append(
                (
                    f"comparison, {c['runs']} runs x {c['borrowers']:,} borrowers, {w} worker(s)",
                    f"{rps:.2f} runs/s",
                    f"{c['cpu_share'][w]:.2f}",
                    f"{c['burn_in']}+{c['months']} months a run; " + ", ".join(f"{s:.1f} s" for s in c["seconds"][w]),
                )
            )
    lines += _table(rows)
    if "pairing" in meas:
        lines += ["", pairing.format_table(meas["pairing"])]
    lines += [
        "",
        "cpu/wall: CPU time the process (or, for comparisons, each worker) got over wall time; well below 1 means",
        "other processes took the CPU during the measurement, and its numbers are low.",
        "",
    ]
    lines += ["ratios: " + ", ".join(f"{k} = {v:.3g}" for k, v in out["ratios"].items()), ""]
    lines += _table(
        [("target", "measured", "needed", "")]
        + [(t["target"], t["shown"], f"{t['op']} {t['threshold_shown']}", t["status"]) for t in out["targets"]]
    )
    return "\n".join(lines)


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        out.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out

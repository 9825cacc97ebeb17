"""Where the time of a lendsim month goes: ``python -m benchmarks.profile_month [--borrowers N]``.

Two views of the same burned-in baseline market:

1. each phase of ``LendingMarket.step`` timed with ``perf_counter`` (no profiler running, so the
   shares are not distorted by profiling overhead), as milliseconds and % of the month;
2. ``cProfile`` over further months: the functions with the largest cumulative and own time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import time

import sim.model

from .measure import burned_in_market

# The phases of LendingMarket.step, in order: most are functions that sim.model calls by name
# (timed by replacing that name), three are methods of the market or its parts.
MODULE_PHASES = (
    "apply_regulation",
    "update_employment",
    "set_platform_terms",
    "originate_loans",
    "collect_repayments",
    "account_delinquency",
    "collect_overdue",
    "restructure_and_charge_off",
    "close_platform_accounts",
)
PHASES = ("advance_economy", "open_month", *MODULE_PHASES, "supervise_platforms", "collect_data")


def phase_times(market, months: int) -> tuple[dict[str, list[float]], list[float]]:
    """Per-phase and whole-month wall times over ``months`` months (advances the market)."""
    spent: dict[str, list[float]] = {name: [] for name in PHASES}

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            spent[name].append(time.perf_counter() - start)
            return out

        return wrapper

    owners = {
        "advance_economy": (market.economy, "advance"),
        "open_month": (market, "open_month"),
        "supervise_platforms": (market.regulator, "supervise"),
        "collect_data": (market, "collect_data"),
        **{name: (sim.model, name) for name in MODULE_PHASES},
    }
    saved = {name: getattr(owner, attr) for name, (owner, attr) in owners.items()}
    for name, (owner, attr) in owners.items():
        setattr(owner, attr, timed(name, saved[name]))
    month_s = []
    try:
        for _ in range(months):
            start = time.perf_counter()
            market.step()
            month_s.append(time.perf_counter() - start)
    finally:
        for name, (owner, attr) in owners.items():
            if owner is sim.model:
                setattr(owner, attr, saved[name])
            else:
                delattr(owner, attr)  # the instance attribute shadowed the method
    return spent, month_s


def phase_table(spent: dict[str, list[float]], month_s: list[float]) -> str:
    month = statistics.median(month_s)
    rows = sorted(((statistics.median(v), name) for name, v in spent.items()), reverse=True)
    lines = ["| phase | ms (median) | % of month |", "|---|---:|---:|"]
    for t, name in rows:
        lines.append(f"| {PHASES.index(name) + 1}. `{name}` | {t * 1e3:.1f} | {t / month:.1%} |")
    lines.append(f"| whole month | {month * 1e3:.1f} | 100% |")
    return "\n".join(lines)


def profile(market, months: int, top: int) -> str:
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(months):
        market.step()
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--borrowers", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=12, help="months timed per phase (and profiled)")
    parser.add_argument("--top", type=int, default=30, help="functions listed by cProfile")
    args = parser.parse_args(argv)
    market = burned_in_market(args.borrowers)
    spent, month_s = phase_times(market, args.months)
    print(f"{args.borrowers:,} borrowers, baseline, after a 24-month burn-in; {args.months} months\n")
    print(phase_table(spent, month_s))
    print()
    print(profile(market, args.months, args.top))


if __name__ == "__main__":
    main()

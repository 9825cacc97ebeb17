"""Set up and run one large baseline market, for ``measure.large_run_in_child``.

Run as ``python -m benchmarks.large_run --borrowers 1000000 --burn-in 24 --months 12``; prints one
JSON object: set-up time, the time of every month, and this process's peak resident memory
(``ru_maxrss``), which is why it runs in its own process: the parent's memory does not count and
NumPy's allocations (which ``tracemalloc`` would miss in part) do.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

RU_MAXRSS_UNIT = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--borrowers", type=int, required=True)
    parser.add_argument("--burn-in", type=int, default=24)
    parser.add_argument("--months", type=int, default=12, help="months timed after burn-in")
    parser.add_argument("--setup-only", action="store_true", help="only time the set-up")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from sim.model import LendingMarket

    from .measure import scenario

    config = scenario(args.borrowers, args.burn_in, max(args.months, 1))  # months only sets the run length
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    market = LendingMarket(config, seed=args.seed)
    setup_s = time.perf_counter() - start
    wall, cpu = [], []
    if not args.setup_only:
        for _ in range(args.burn_in + args.months):
            start, start_cpu = time.perf_counter(), time.process_time()
            market.step()
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    out = {
        "borrowers": args.borrowers,
        "burn_in": args.burn_in,
        "setup_s": setup_s,
        "burn_in_month_s": wall[: args.burn_in],
        "burn_in_month_cpu_s": cpu[: args.burn_in],
        "month_s": wall[args.burn_in :],
        "month_cpu_s": cpu[args.burn_in :],
        "live_loans": int(market.metrics.get("live_loans", 0)) if market.metrics else 0,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * RU_MAXRSS_UNIT,
        "rss_before_setup_bytes": rss_before * RU_MAXRSS_UNIT,
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()

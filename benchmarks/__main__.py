"""``python -m benchmarks [--quick] [--json FILE]``: measure lendsim against its targets.

Prints a table of measurements and the targets of issue 5 with PASS/MISS; ``--json`` also writes
every number, the plan and the machine. ``--quick`` (under a minute) measures 10k and 100k
borrowers only, with the 100k speed-up over the plain-Mesa reference.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .suite import Plan, format_report, run_benchmarks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k borrowers only, under a minute")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write all numbers to FILE")
    args = parser.parse_args(argv)
    results = run_benchmarks(Plan.quick() if args.quick else Plan.full())
    print(format_report(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Per-module mutation score from a mutmut run: ``python -m tests.mutation_report [--write docs/testing.md]``.

Reads mutmut's results (``mutants/sim/*.py.meta``, written by ``make mutation``) and the surviving mutants
judged equivalent (``tests/mutation_equivalent.toml``: each group says why), and prints the table of
docs/testing.md: per module, mutants killed, survived (not judged equivalent), equivalent, timed out and
not yet checked, and killed as a share of the non-equivalent mutants. ``--write`` replaces the table
between the ``<!-- mutation-table -->`` markers of a Markdown file, and the list of equivalent mutants
between the ``<!-- mutation-equivalent -->`` markers if it has them.

Mutant names number the mutations within a function, so a change to a function renumbers its mutants:
after changing a mutated module, rerun ``make mutation`` and check the equivalent list (the script
names listed mutants that no longer survive).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT_FILE = ROOT / "tests" / "mutation_equivalent.toml"
MARK_BEGIN, MARK_END = "<!-- mutation-table -->", "<!-- /mutation-table -->"
EQUIV_BEGIN, EQUIV_END = "<!-- mutation-equivalent -->", "<!-- /mutation-equivalent -->"

# mutmut's exit codes (mutmut/stats.py, 3.8): anything else is "suspicious"
STATUS = {
    None: "not checked",
    0: "survived",
    1: "killed",
    3: "killed",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    36: "timeout",
    24: "timeout",
    -24: "timeout",
    152: "timeout",
    255: "timeout",
    37: "type check",
    -11: "segfault",
    -9: "segfault",
}


def results(mutants_dir: Path) -> dict[str, str]:
    """Status of every mutant, by mutmut's name (``sim.policies.x_penalty_accrual__mutmut_3``)."""
    out = {}
    for meta in sorted(mutants_dir.glob("**/*.py.meta")):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            out[name] = STATUS.get(code, "suspicious")
    return out


def equivalent(path: Path = EQUIVALENT_FILE) -> dict[str, str]:
    """Mutants judged equivalent, with why."""
    if not path.exists():
        return {}
    groups = tomllib.loads(path.read_text())["equivalent"]
    return {name: group["why"] for group in groups for name in group["mutants"]}


def equivalent_list(path: Path = EQUIVALENT_FILE) -> str:
    """The equivalent mutants as a Markdown list, one item per reason."""
    if not path.exists():
        return ""
    items = []
    for group in tomllib.loads(path.read_text())["equivalent"]:
        names = ", ".join(f"`{name.removeprefix('sim.')}`" for name in group["mutants"])
        items.append(f"- {group['why']} ({len(group['mutants'])}: {names})")
    return "\n".join(items)


def replace_between(doc: str, begin: str, end: str, text: str) -> str:
    i, j = doc.index(begin) + len(begin), doc.index(end)
    return doc[:i] + "\n" + text + "\n" + doc[j:]


def module_of(name: str) -> str:
    """``sim.policies.x_f__mutmut_3`` -> ``sim/policies.py``."""
    dotted = re.split(r"\.x[_ǁ]", name, maxsplit=1)[0]
    return dotted.replace(".", "/") + ".py"


def table(status: dict[str, str], equiv: dict[str, str]) -> tuple[str, list[str]]:
    """The Markdown table, and equivalent-list entries that are stale (not surviving mutants)."""
    counts: dict[str, Counter] = {}
    for name, s in status.items():
        if s == "survived" and name in equiv:
            s = "equivalent"
        counts.setdefault(module_of(name), Counter())[s] += 1
    stale = sorted(n for n in equiv if status.get(n) != "survived")
    rows = [
        "| module | mutants | killed | survived | equivalent | timeout | not checked | killed / non-equivalent |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    total: Counter = Counter()
    for module in sorted(counts):
        c = counts[module]
        total.update(c)
        rows.append(_row(f"`{module}`", c))
    rows.append(_row("**all**", total))
    return "\n".join(rows), stale


def _row(label: str, c: Counter) -> str:
    n = sum(c.values())
    killed = c["killed"] + c["type check"]
    other = n - killed - c["survived"] - c["equivalent"] - c["timeout"] - c["not checked"]
    decided = killed + c["survived"] + c["timeout"] + other  # checked and not equivalent
    score = f"{100.0 * killed / decided:.0f}%" if decided else "-"
    cells = [n, killed, c["survived"] + other, c["equivalent"], c["timeout"], c["not checked"]]
    return f"| {label} | " + " | ".join(str(x) for x in cells) + f" | {score} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=Path, default=ROOT / "mutants", help="mutmut's folder (default: mutants/)")
    parser.add_argument("--write", type=Path, help="replace the table between the markers of this Markdown file")
    args = parser.parse_args(argv)
    status = results(args.mutants)
    if not status:
        print(f"no mutmut results under {args.mutants}: run `make mutation` first", file=sys.stderr)
        return 1
    text, stale = table(status, equivalent())
    if args.write:
        doc = replace_between(args.write.read_text(), MARK_BEGIN, MARK_END, text)
        if EQUIV_BEGIN in doc:
            doc = replace_between(doc, EQUIV_BEGIN, EQUIV_END, equivalent_list())
        args.write.write_text(doc)
    print(text)
    for name in stale:
        print(f"listed as equivalent but not a surviving mutant: {name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

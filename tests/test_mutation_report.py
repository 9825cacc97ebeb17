"""The mutation-score table of docs/testing.md is computed from mutmut's results (tests/mutation_report.py)."""

from __future__ import annotations

import json

from tests import mutation_report


def write_meta(root, module: str, codes: dict) -> None:
    path = root / "sim" / f"{module}.py.meta"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"exit_code_by_key": codes}))


def test_the_table_counts_each_status_and_scores_killed_over_non_equivalent(tmp_path):
    write_meta(
        tmp_path,
        "policies",
        {
            "sim.policies.x_f__mutmut_1": 1,
            "sim.policies.x_f__mutmut_2": 1,
            "sim.policies.x_f__mutmut_3": 1,
            "sim.policies.x_f__mutmut_4": 0,  # survived, judged equivalent below
            "sim.policies.x_f__mutmut_5": 0,
            "sim.policies.x_f__mutmut_6": None,
        },
    )
    write_meta(tmp_path, "loans", {"sim.loans.xǁLoanBookǁbill__mutmut_1": 36, "sim.loans.xǁLoanBookǁbill__mutmut_2": 1})
    status = mutation_report.results(tmp_path)
    assert mutation_report.module_of("sim.loans.xǁLoanBookǁbill__mutmut_1") == "sim/loans.py"
    equivalent = {"sim.policies.x_f__mutmut_4": "why", "sim.policies.x_f__mutmut_1": "killed, so stale"}
    text, stale = mutation_report.table(status, equivalent)
    rows = {line.split(" | ")[0].strip("| `*"): line for line in text.splitlines()[2:]}
    assert rows["sim/policies.py"] == "| `sim/policies.py` | 6 | 3 | 1 | 1 | 0 | 1 | 75% |"
    assert rows["sim/loans.py"] == "| `sim/loans.py` | 2 | 1 | 0 | 0 | 1 | 0 | 50% |"
    assert rows["all"] == "| **all** | 8 | 4 | 1 | 1 | 1 | 1 | 67% |"
    assert stale == ["sim.policies.x_f__mutmut_1"]


def test_the_equivalent_list_parses_and_says_why_for_each_mutant():
    equivalent = mutation_report.equivalent()
    assert equivalent and all(why.strip() for why in equivalent.values())
    assert all(name.startswith("sim.") and "__mutmut_" in name for name in equivalent)


def test_the_equivalent_list_of_the_docs_has_one_item_per_reason():
    text = mutation_report.equivalent_list()
    groups = mutation_report.tomllib.loads(mutation_report.EQUIVALENT_FILE.read_text())["equivalent"]
    assert text.count("\n- ") + 1 == len(groups)
    doc = mutation_report.replace_between("a <!-- x --> old <!-- /x --> b", "<!-- x -->", "<!-- /x -->", "new")
    assert doc == "a <!-- x -->\nnew\n<!-- /x --> b"

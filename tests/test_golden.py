"""Every scenario file reproduces its golden outputs (tests/golden.py): behaviour changes only on purpose.

A failure here after a change meant to keep behaviour is a bug in that change. After a change
meant to alter behaviour, rerun ``make golden`` and commit the new tests/golden_outputs.json with
it, saying why outputs moved.
"""

from __future__ import annotations

import warnings

import pytest

from tests import golden
from tests.scenario_files import scenario_files

GOLDEN = golden.load_golden()


def test_golden_file_covers_every_scenario_file():
    assert GOLDEN["seed"] == golden.SEED and GOLDEN["size"] == golden.SIZE
    assert sorted(GOLDEN["scenarios"]) == sorted(golden.key(p) for p in scenario_files())


@pytest.mark.parametrize("path", scenario_files(), ids=golden.key)
def test_scenario_reproduces_its_golden_outputs(path):
    identical, problems = golden.compare(GOLDEN["scenarios"][golden.key(path)], golden.record(path))
    assert not problems, (
        f"{golden.key(path)} changed: "
        + "; ".join(problems)
        + " (if on purpose: make golden, and commit the file with the change)"
    )
    if not identical:
        warnings.warn(f"{golden.key(path)}: outputs differ from the golden file only in the last bits", stacklevel=1)

"""Which YAML files under scenarios/ are scenarios (the others are comparison, sweep and
sensitivity specs), shared by the tests that run every scenario."""

from __future__ import annotations

from pathlib import Path

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
SPEC_FOLDERS = ("comparisons", "sweeps", "sensitivity", "calibration")


def scenario_files() -> list[Path]:
    skip = [SCENARIOS / name for name in SPEC_FOLDERS]
    return sorted(p for p in SCENARIOS.glob("**/*.yaml") if not any(d in p.parents for d in skip))

"""Golden outputs: what every scenario file produces at a fixed seed and size.

A change meant to keep behaviour (a refactoring, an optimisation) must reproduce these exactly;
a change meant to alter behaviour updates them on purpose, in its own commit::

    .venv/bin/python -m tests.golden --update     # or: make golden

For each scenario file the three output tables (model, platforms, vintages) are written as
Parquet with the results folder's writer and hashed (SHA-256 of the bytes). Beside each hash the
file keeps a fingerprint of the table (per column: the sum of its values and of its values
weighted by row number), so that a mismatch can say *which* columns changed and so that a
difference confined to the last bits of floating-point results (another CPU's vector maths) can
be told apart from a change of behaviour: the test accepts that only within a relative 1e-9.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tests.scenario_files import SCENARIOS, scenario_files

GOLDEN_FILE = Path(__file__).resolve().parent / "golden_outputs.json"
SEED = 20261201
SIZE = {"borrowers.count": 1500, "months": 24, "burn_in": 12}
TABLES = ("model", "platforms", "vintages")
FINGERPRINT_RTOL = 1e-9


def run_tables(path: Path) -> dict[str, pd.DataFrame]:
    """The three output tables of a scenario file at the golden seed and size."""
    from sim.config import load_scenario
    from sim.model import LendingMarket

    model = LendingMarket(load_scenario(path).with_overrides(SIZE), seed=SEED).run()
    return {"model": model.model_frame(), "platforms": model.platform_frame(), "vintages": model.vintage_frame()}


def parquet_sha256(frame: pd.DataFrame) -> str:
    """SHA-256 of the frame written as results folders write it (snappy Parquet, no index)."""
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer, compression="snappy")
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def fingerprint(frame: pd.DataFrame) -> dict[str, list[float]]:
    """Per numeric column: (sum, sum weighted by row number), as floats."""
    out = {}
    weights = np.arange(1, len(frame) + 1, dtype=np.float64)
    for column in frame.columns:
        values = frame[column]
        if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
            values = values.astype(str).map(lambda s: int(hashlib.sha256(s.encode()).hexdigest()[:8], 16))
        x = values.to_numpy(dtype=np.float64)
        out[column] = [float(x.sum()), float((x * weights).sum())]
    return out


def record(path: Path) -> dict:
    tables = run_tables(path)
    return {
        name: {"sha256": parquet_sha256(frame), "shape": list(frame.shape), "fingerprint": fingerprint(frame)}
        for name, frame in tables.items()
    }


def key(path: Path) -> str:
    return path.relative_to(SCENARIOS).as_posix()


def load_golden() -> dict:
    return json.loads(GOLDEN_FILE.read_text(encoding="utf-8"))


def compare(expected: dict, actual: dict) -> tuple[bool, list[str]]:
    """(bit-identical, differences beyond the tolerance) of one scenario's record."""
    identical = True
    problems = []
    for table in TABLES:
        e, a = expected[table], actual[table]
        if e["sha256"] == a["sha256"]:
            continue
        identical = False
        if e["shape"] != a["shape"] or set(e["fingerprint"]) != set(a["fingerprint"]):
            problems.append(f"{table}: shape or columns changed ({e['shape']} -> {a['shape']})")
            continue
        changed = [
            c
            for c in e["fingerprint"]
            if not all(
                math.isclose(x, y, rel_tol=FINGERPRINT_RTOL, abs_tol=1e-9)
                for x, y in zip(e["fingerprint"][c], a["fingerprint"][c])
            )
        ]
        if changed:
            problems.append(f"{table}: {', '.join(changed[:8])}" + (" ..." if len(changed) > 8 else ""))
    return identical, problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="rewrite tests/golden_outputs.json")
    args = parser.parse_args()
    records = {key(p): record(p) for p in scenario_files()}
    if args.update:
        data = {"seed": SEED, "size": SIZE, "scenarios": records}
        GOLDEN_FILE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {GOLDEN_FILE} ({len(records)} scenarios)")
        return
    golden = load_golden()["scenarios"]
    bad = 0
    for name, rec in records.items():
        if name not in golden:
            print(f"{name}: not in the golden file")
            bad += 1
            continue
        identical, problems = compare(golden[name], rec)
        status = "identical" if identical else ("last-bit differences only" if not problems else "CHANGED")
        print(f"{name}: {status}" + "".join(f"\n    {p}" for p in problems))
        bad += bool(problems)
    raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()

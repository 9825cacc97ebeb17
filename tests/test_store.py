"""Tests for sim.store: atomic, deterministic results folders."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import store
from sim.store import (
    ResultsExistError,
    provenance,
    read_manifest,
    sha256_file,
    write_results,
    write_text_atomic,
)

REPO_ROOT = Path(__file__).resolve().parent.parent


def _frame(seed: int = 0, months: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "month": np.arange(months),
            "is_burn_in": np.arange(months) < 3,
            "overdue_rate": rng.random(months),
            "originations": rng.integers(0, 100, months),
            "label": [f"m{i}" for i in range(months)],
        }
    )
    # A non-default index, which must not be written.
    return frame[frame["month"] >= 2]


def _tables(seed: int = 0) -> dict[str, pd.DataFrame]:
    return {"model": _frame(seed), "platforms": _frame(seed + 100, months=4)}


def _siblings(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


class _Unconvertible:
    """An object pyarrow cannot store, so writing its table fails midway."""


def _broken_frame() -> pd.DataFrame:
    return pd.DataFrame({"x": [_Unconvertible(), _Unconvertible()]})


def test_writes_tables_and_manifest(tmp_path: Path) -> None:
    out = tmp_path / "run"
    tables = _tables()
    result = write_results(out, tables, {"kind": "run", "seed": 3})

    assert result == out
    assert _siblings(out) == ["manifest.json", "model.parquet", "platforms.parquet"]
    manifest = read_manifest(out)
    assert manifest["kind"] == "run" and manifest["seed"] == 3
    assert set(manifest["files"]) == {"model.parquet", "platforms.parquet"}
    for name, frame in tables.items():
        back = pd.read_parquet(out / f"{name}.parquet")
        pd.testing.assert_frame_equal(back, frame.reset_index(drop=True), check_dtype=False)
        assert list(back.columns) == list(frame.columns)  # no index column


def test_manifest_hashes_match_files(tmp_path: Path) -> None:
    out = write_results(tmp_path / "run", _tables(), {"kind": "run"})
    files = read_manifest(out)["files"]
    for name, digest in files.items():
        assert re.fullmatch(r"[0-9a-f]{64}", digest)
        assert sha256_file(out / name) == digest


def test_manifest_is_plain_json(tmp_path: Path) -> None:
    out = write_results(tmp_path / "run", _tables(), {"kind": "run"})
    text = (out / "manifest.json").read_text(encoding="utf-8")
    assert json.loads(text) == read_manifest(out)


def test_creates_missing_parent(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "run"
    write_results(out, _tables(), {})
    assert (out / "manifest.json").is_file()


def test_refuses_existing_folder_without_force(tmp_path: Path) -> None:
    out = write_results(tmp_path / "run", _tables(seed=1), {"seed": 1})
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    with pytest.raises(ResultsExistError) as excinfo:
        write_results(out, _tables(seed=2), {"seed": 2})

    message = str(excinfo.value)
    assert str(out) in message and "--force" in message
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert _siblings(tmp_path) == ["run"]


def test_force_replaces_existing_folder(tmp_path: Path) -> None:
    out = write_results(tmp_path / "run", _tables(seed=1), {"seed": 1})
    (out / "stale.txt").write_text("from an older run")

    write_results(out, _tables(seed=2), {"seed": 2}, force=True)

    assert read_manifest(out)["seed"] == 2
    assert not (out / "stale.txt").exists()
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "model.parquet"),
        _frame(2).reset_index(drop=True),
        check_dtype=False,
    )
    assert _siblings(tmp_path) == ["run"]


def test_no_temp_dirs_left_behind(tmp_path: Path) -> None:
    write_results(tmp_path / "a", _tables(), {})
    write_results(tmp_path / "b", _tables(), {})
    write_results(tmp_path / "a", _tables(seed=5), {}, force=True)
    assert _siblings(tmp_path) == ["a", "b"]


def test_failing_table_leaves_no_folder(tmp_path: Path) -> None:
    tables = {"model": _frame(), "broken": _broken_frame()}
    with pytest.raises(Exception):  # noqa: B017 - whatever pyarrow raises for an unwritable column
        write_results(tmp_path / "run", tables, {})
    assert _siblings(tmp_path) == []


def test_failing_table_with_force_keeps_old_results(tmp_path: Path) -> None:
    out = write_results(tmp_path / "run", _tables(seed=1), {"seed": 1})
    tables = {"model": _frame(), "broken": _broken_frame()}
    with pytest.raises(Exception):  # noqa: B017 - whatever pyarrow raises for an unwritable column
        write_results(out, tables, {"seed": 2}, force=True)
    assert read_manifest(out)["seed"] == 1
    assert _siblings(tmp_path) == ["run"]


def test_interrupt_mid_write_cleans_up(tmp_path: Path, monkeypatch) -> None:
    real_write = store.write_parquet
    calls = []

    def interrupted_write(frame, path):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C after the first file is done
        real_write(frame, path)

    monkeypatch.setattr(store, "write_parquet", interrupted_write)
    with pytest.raises(KeyboardInterrupt):
        write_results(tmp_path / "run", _tables(), {})
    assert _siblings(tmp_path) == []


def test_failed_swap_restores_old_results(tmp_path: Path, monkeypatch) -> None:
    out = write_results(tmp_path / "run", _tables(seed=1), {"seed": 1})
    real_rename = os.rename

    def rename(src, dst):
        # Let the old folder move aside, then fail to move the new one in.
        if ".tmp-" in Path(src).name:
            raise OSError("simulated failure")
        real_rename(src, dst)

    monkeypatch.setattr(store.os, "rename", rename)
    with pytest.raises(OSError, match="simulated"):
        write_results(out, _tables(seed=2), {"seed": 2}, force=True)
    assert read_manifest(out)["seed"] == 1
    assert _siblings(tmp_path) == ["run"]


def test_killed_process_never_leaves_complete_looking_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    # SIGKILL runs no cleanup at all: only the rename-at-the-end protects us.
    script = textwrap.dedent(
        f"""
        import os, signal
        import pandas as pd
        from sim import store

        real_write = store.write_parquet
        def write_then_die(frame, path):
            real_write(frame, path)
            os.kill(os.getpid(), signal.SIGKILL)
        store.write_parquet = write_then_die
        frame = pd.DataFrame({{"a": [1, 2, 3]}})
        store.write_results({str(out)!r}, {{"model": frame, "platforms": frame}}, {{}})
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, check=False)
    assert done.returncode == -9, done.stderr.decode()
    assert not out.exists()
    # Only the hidden temp folder, which is documented as safe to delete.
    assert all(name.startswith(".run.tmp-") for name in _siblings(tmp_path))


def test_parquet_bytes_are_deterministic(tmp_path: Path) -> None:
    write_results(tmp_path / "a", _tables(), {"n": 1})
    # pyarrow would embed nothing time-dependent; wait so a timestamp would show.
    time.sleep(1.1)
    write_results(tmp_path / "b", _tables(), {"n": 2})
    for name in ("model.parquet", "platforms.parquet"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert read_manifest(tmp_path / "a")["files"] == read_manifest(tmp_path / "b")["files"]


def test_parquet_bytes_differ_for_different_frames(tmp_path: Path) -> None:
    write_results(tmp_path / "a", _tables(seed=1), {})
    write_results(tmp_path / "b", _tables(seed=2), {})
    assert sha256_file(tmp_path / "a" / "model.parquet") != sha256_file(tmp_path / "b" / "model.parquet")


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "../escape"])
def test_rejects_bad_table_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        write_results(tmp_path / "run", {name: _frame()}, {})
    assert _siblings(tmp_path) == []


def test_rejects_files_key_in_manifest(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_results(tmp_path / "run", _tables(), {"files": {}})


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc")
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_file(path) == expected


def test_provenance_fields() -> None:
    info = provenance()
    assert info["python"] == ".".join(map(str, sys.version_info[:3]))
    assert isinstance(info["platform"], str)
    assert set(info["packages"]) == {
        "lendsim",
        "mesa",
        "numpy",
        "numba",
        "scipy",
        "pandas",
        "pyarrow",
        "pydantic",
        "SALib",
        "matplotlib",
    }
    assert info["packages"]["numpy"] == np.__version__
    assert info["packages"]["pandas"] == pd.__version__
    git = info["git"]
    if git is not None:
        assert re.fullmatch(r"[0-9a-f]{40}", git["commit"])
        assert git["dirty"] in (True, False)
    json.dumps(info)  # must be storable in a manifest


def test_provenance_without_git(monkeypatch) -> None:
    # No git executable at all: provenance still works and says so.
    monkeypatch.setenv("PATH", "")
    assert provenance()["git"] is None


def test_atomic_single_file_writes_replace_whole_files(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "part.parquet"
    store.write_parquet_atomic(_frame(1), path)
    store.write_parquet_atomic(_frame(2), path)  # replaces, never appends or mixes
    pd.testing.assert_frame_equal(pd.read_parquet(path), _frame(2).reset_index(drop=True), check_dtype=False)
    store.write_json_atomic(tmp_path / "record.json", {"a": 1})
    assert json.loads((tmp_path / "record.json").read_text(encoding="utf-8")) == {"a": 1}
    with pytest.raises(ValueError):
        store.write_json_atomic(tmp_path / "record.json", {"a": float("nan")})
    assert json.loads((tmp_path / "record.json").read_text(encoding="utf-8")) == {"a": 1}
    assert _siblings(tmp_path) == ["deep", "record.json"] and _siblings(tmp_path / "deep") == ["part.parquet"]


def test_publish_folder_refuses_then_replaces_with_force(tmp_path: Path) -> None:
    out = write_results(tmp_path / "run", _tables(seed=1), {"seed": 1})
    work = tmp_path / ".run.partial"
    work.mkdir()
    (work / "new.txt").write_text("new")
    with pytest.raises(ResultsExistError):
        store.publish_folder(work, out)
    assert work.is_dir() and read_manifest(out)["seed"] == 1
    store.publish_folder(work, out, force=True)
    assert _siblings(tmp_path) == ["run"] and _siblings(out) == ["new.txt"]


def test_write_text_atomic_replaces_the_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "table.md"
    target.write_text("old\n")
    write_text_atomic(target, "new\r\nline\n")
    assert target.read_bytes() == b"new\r\nline\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.md"]


def test_write_text_atomic_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "table.md"
    target.write_text("old\n")
    with pytest.raises(TypeError):
        write_text_atomic(target, None)  # type: ignore[arg-type]
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.md"]

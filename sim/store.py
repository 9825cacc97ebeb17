"""Writing and reading run-results folders.

A results folder holds one Parquet file per table plus ``manifest.json``,
which records the run's metadata and the SHA-256 of every table file.

Folders are written atomically: everything goes into a hidden sibling
temp folder that is renamed into place only once complete, so a crashed or
killed run never leaves a folder at the target path that looks finished.
Parquet output is byte-deterministic for identical frames (pyarrow embeds
no timestamps), which lets identical runs be compared by hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import secrets
import shutil
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

MANIFEST_NAME = "manifest.json"

# Recorded in every manifest: every package whose version can change an output: the model (numpy, numba kernels), files
# (pandas, pyarrow), designs (scipy, SALib) and report bytes (matplotlib).
_TRACKED_PACKAGES = (
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
)

# Fixed explicitly so output bytes don't change if pyarrow's default does.
_PARQUET_COMPRESSION = "snappy"


class ResultsExistError(Exception):
    """Raised when the output folder already exists and ``force`` is off."""


def sha256_file(path: Path | str) -> str:
    """Return the hex SHA-256 digest of a file's contents.

    Args:
        path: File to hash.

    Returns:
        The lowercase hex digest.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(directory: Path | str) -> dict[str, Any]:
    """Load ``manifest.json`` from a results folder.

    Args:
        directory: The results folder.

    Returns:
        The parsed manifest.

    Raises:
        FileNotFoundError: If the folder has no manifest.
    """
    with open(Path(directory) / MANIFEST_NAME, encoding="utf-8") as fh:
        return json.load(fh)


def check_destination(out_dir: Path | str, force: bool = False) -> None:
    """Fail early if ``out_dir`` exists and may not be replaced.

    Callers use this before a long simulation so that a refusal comes
    before the work, not after it; `write_results` checks again.

    Args:
        out_dir: Intended results folder.
        force: Whether replacing an existing folder is allowed.

    Raises:
        ResultsExistError: If ``out_dir`` exists and ``force`` is False, or
            if it exists but is not a directory.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ResultsExistError(f"{out_dir} exists and is not a folder; choose another --out")
    if out_dir.exists() and not force:
        raise ResultsExistError(f"results folder {out_dir} already exists; use --force to replace it")
    if out_dir.exists() and not is_replaceable(out_dir):
        # --force deletes the old folder once the new one is in place: `--out . --force` or a
        # mistyped `--out ~/thesis --force` would otherwise delete a folder lendsim never wrote.
        raise ResultsExistError(
            f"{out_dir}: not a results folder lendsim wrote (no lendsim manifest.json), so --force will not "
            "replace it; choose another --out, or empty or remove the folder yourself"
        )


# What a manifest.json lendsim wrote says it is (run.py run, compare, sweep, sensitivity, validate).
RESULT_KINDS = ("run", "comparison", "sweep", "validation")


def is_replaceable(folder: Path) -> bool:
    """Whether ``--force`` may delete ``folder``: it is empty, or a results folder lendsim wrote.

    A damaged manifest counts as not lendsim's: the user can remove such a folder by hand, while
    deleting a folder that only happens to hold some other ``manifest.json`` cannot be undone.
    """
    try:
        if not any(folder.iterdir()):
            return True
        with open(folder / MANIFEST_NAME, encoding="utf-8") as fh:
            manifest = json.load(fh)
    except (OSError, ValueError):
        return False
    # Every manifest lendsim writes has a known kind (commands) or the file hashes of write_results.
    return isinstance(manifest, dict) and (
        manifest.get("kind") in RESULT_KINDS or isinstance(manifest.get("files"), dict)
    )


def write_results(
    out_dir: Path | str,
    tables: dict[str, pd.DataFrame],
    manifest: dict[str, Any],
    force: bool = False,
) -> Path:
    """Atomically write tables and a manifest into a results folder.

    Each table becomes ``<name>.parquet`` (no index). ``manifest.json`` holds
    every key of ``manifest`` plus ``"files"``, a map from file name to its
    SHA-256.

    Args:
        out_dir: Results folder to create; its parent is created if needed.
        tables: Table name to frame. Names must be plain file stems.
        manifest: JSON-serialisable metadata; must not contain ``"files"``.
        force: Replace ``out_dir`` if it already exists.

    Returns:
        ``out_dir`` as a Path.

    Raises:
        ResultsExistError: If ``out_dir`` exists and ``force`` is False.
        ValueError: On a bad table name or a ``"files"`` key in ``manifest``.
    """
    out_dir = Path(out_dir)
    _validate_inputs(tables, manifest)
    check_destination(out_dir, force)
    out_dir.parent.mkdir(parents=True, exist_ok=True)

    tmp_dir = _sibling(out_dir, "tmp")
    tmp_dir.mkdir()
    try:
        files = {}
        for name, frame in tables.items():
            path = tmp_dir / f"{name}.parquet"
            write_parquet(frame, path)
            files[path.name] = sha256_file(path)
        full_manifest = {**manifest, "files": files}
        _write_json(tmp_dir / MANIFEST_NAME, full_manifest)
        _fsync_dir(tmp_dir)
        _move_into_place(tmp_dir, out_dir, force)
    except BaseException:
        # BaseException too: Ctrl-C mid-write must not leave the temp folder.
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return out_dir


def write_parquet(
    frame: pd.DataFrame, path: Path, *, durable: bool = True, metadata: dict[bytes, bytes] | None = None
) -> None:
    """Write a frame as Parquet, deterministically and without its index.

    Args:
        frame: Frame to write.
        path: Destination file.
        durable: fsync the file (off only for scratch files that need not survive a power cut).
        metadata: Extra key-value metadata for the file's schema (deterministic bytes).
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    pq.write_table(table, path, compression=_PARQUET_COMPRESSION)
    if durable:
        _fsync_file(path)


def _replace_atomically(path: Path, write) -> None:
    """Call ``write(tmp)`` on a hidden temp file beside ``path``, then rename it over ``path``.

    A reader sees the old file or the new one, never half a file; a process killed midway leaves
    only the temp file (safe to delete), and an error removes it.
    """
    tmp = _sibling(path, "tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_parquet_atomic(
    frame: pd.DataFrame, path: Path | str, *, durable: bool = True, metadata: dict[bytes, bytes] | None = None
) -> None:
    """Write a frame as Parquet at ``path`` so that a reader never sees half a file.

    Args:
        frame: Frame to write (its index is dropped).
        path: Destination file; its folder is created if needed.
        durable: fsync the file before it is renamed into place.
        metadata: Extra key-value metadata for the file's schema.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _replace_atomically(path, lambda tmp: write_parquet(frame, tmp, durable=durable, metadata=metadata))


def write_text_atomic(path: Path | str, text: str) -> None:
    """Write UTF-8 text with ``\\n`` line ends at ``path`` atomically (temp file, fsync, rename).

    Args:
        path: Destination file; its folder must exist.
        text: The file's content.
    """

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    _replace_atomically(Path(path), write)


def write_json_atomic(path: Path | str, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON at ``path`` atomically (temp file, then rename).

    Args:
        path: Destination file; its folder must exist.
        data: JSON-serialisable mapping (NaN is refused, as in manifests).
    """
    _replace_atomically(Path(path), lambda tmp: _write_json(tmp, data))


def publish_folder(tmp_dir: Path | str, out_dir: Path | str, force: bool = False) -> Path:
    """Rename a finished folder to ``out_dir``, replacing an existing one only if ``force``.

    This is the last step of `write_results`, for callers that fill a folder over a long
    time (comparisons, sweeps). A previous ``out_dir`` is kept until the new one is in place.

    Args:
        tmp_dir: The complete folder, a sibling of ``out_dir``.
        out_dir: Final location.
        force: Whether an existing ``out_dir`` may be replaced.

    Returns:
        ``out_dir`` as a Path.

    Raises:
        ResultsExistError: If ``out_dir`` exists and ``force`` is False.
    """
    tmp_dir, out_dir = Path(tmp_dir), Path(out_dir)
    check_destination(out_dir, force)
    _fsync_dir(tmp_dir)
    _move_into_place(tmp_dir, out_dir, force)
    return out_dir


def provenance() -> dict[str, Any]:
    """Describe the software environment of this run; never raises.

    Returns:
        ``python`` (version), ``platform``, ``packages`` (name to version, or
        None if not installed) and ``git`` (``{"commit", "dirty"}`` for the
        checkout holding this package, or None when it is not one).
    """
    return {
        "python": platform.python_version(),
        "platform": _safe(platform.platform, None),
        "packages": {name: _package_version(name) for name in _TRACKED_PACKAGES},
        "git": _safe(_git_state, None),
    }


def _validate_inputs(tables: dict[str, pd.DataFrame], manifest: dict[str, Any]) -> None:
    if "files" in manifest:
        raise ValueError('manifest must not contain "files"; write_results fills it in')
    for name in tables:
        if not name or name.startswith(".") or "/" in name or os.sep in name:
            raise ValueError(f"bad table name {name!r}: must be a plain file stem")


def _sibling(out_dir: Path, kind: str) -> Path:
    """Name a hidden sibling of ``out_dir``, unique to this process and call."""
    token = secrets.token_hex(4)
    return out_dir.parent / f".{out_dir.name}.{kind}-{os.getpid()}-{token}"


def _move_into_place(tmp_dir: Path, out_dir: Path, force: bool) -> None:
    """Rename the finished temp folder to ``out_dir``, replacing it if forced."""
    if not (force and out_dir.exists()):
        # Fails (rather than merging) if a non-empty out_dir appeared meanwhile.
        os.rename(tmp_dir, out_dir)
        return
    old_dir = _sibling(out_dir, "old")
    os.rename(out_dir, old_dir)
    try:
        os.rename(tmp_dir, out_dir)
    except BaseException:
        # Put the previous results back rather than lose both.
        os.rename(old_dir, out_dir)
        raise
    shutil.rmtree(old_dir, ignore_errors=True)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, allow_nan=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    # Makes the directory entries durable before the rename publishes them.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git_state() -> dict[str, Any] | None:
    """Commit and dirtiness of the git checkout that contains this package."""
    root = Path(__file__).resolve().parent.parent
    toplevel = _git(root, "rev-parse", "--show-toplevel")
    # A non-editable install can sit inside some unrelated repository
    # (e.g. a venv within a checkout); only trust git if it is ours.
    if toplevel is None or Path(toplevel).resolve() != root:
        return None
    commit = _git(root, "rev-parse", "HEAD")
    status = _git(root, "status", "--porcelain")
    if commit is None:
        return None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _safe(func, default):
    """Call ``func``; on any error return ``default`` (provenance never fails)."""
    try:
        return func()
    except Exception:  # noqa: BLE001 - provenance is best-effort by design
        return default


# --------------------------------------------------------------------------- output paths


class OutputPathError(Exception):
    """An output folder that cannot be written (read-only or special file system, a file in the way)."""


def check_writable(out_dir: Path | str) -> None:
    """Fail early, in one line, if a results folder cannot be created at ``out_dir``.

    Creates the parent folder if needed and a hidden probe file in it (removed at once), so a
    read-only, full or special file system (``/proc``, ``/sys``) is found before hours of
    simulation rather than at the end.

    Raises:
        OutputPathError: saying which path and why.
    """
    out_dir = Path(out_dir)
    parent = out_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        if not parent.is_dir():
            raise OutputPathError(f"{parent} is not a folder; choose another --out")
        probe = _sibling(out_dir, "probe")
        probe.mkdir()
        probe.rmdir()
    except OutputPathError:
        raise
    except OSError as err:
        where = err.filename or parent
        raise OutputPathError(
            f"cannot write results to {out_dir}: {where}: {err.strerror}; choose another --out"
        ) from None


# --------------------------------------------------------------------------- locks


class FolderLocked(Exception):
    """Another command is working on a results folder; ``str`` says which and since when."""


def lock_path(folder: Path | str) -> Path:
    """The lock file of a results folder: a hidden sibling, since the folder itself is renamed."""
    folder = Path(folder)
    return folder.parent / f".{folder.name}.lock"


def _process_start(pid: int) -> str | None:
    """The start time of ``pid`` (clock ticks since boot, from /proc), None if it is not running."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return "?"  # alive, start time unknown (no /proc)


def _holder_is_gone(holder: dict[str, Any]) -> bool:
    """Whether a lock's holder is a process on this host that has ended (or whose pid was reused)."""
    if holder.get("host") != platform.node():
        return False  # another machine: it cannot be checked from here
    try:
        pid = int(holder["pid"])
    except (KeyError, TypeError, ValueError):
        return False
    start = _process_start(pid)
    recorded = holder.get("start")
    return start is None or (start != "?" and recorded not in (None, "?") and start != recorded)


class FolderLock:
    """Exclusive use of a results folder by one command, with a lock file beside it.

    The lock file holds the pid, host, start time of the process, the command and when it began.
    A lock whose process has ended on this host (killed, crashed) is stale and taken over; a live
    one makes :meth:`acquire` raise :class:`FolderLocked` naming the command that holds it. Use as
    a context manager.
    """

    def __init__(self, folder: Path | str, command: str) -> None:
        self.path = lock_path(folder)
        self.folder = Path(folder)
        self.command = command
        self.held = False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {
            "pid": os.getpid(),
            "host": platform.node(),
            "start": _process_start(os.getpid()),
            "command": self.command,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        tmp = _sibling(self.path, "tmp")
        _write_json(tmp, me)
        try:
            for _ in range(3):
                try:
                    os.link(tmp, self.path)  # atomic: fails if a lock exists
                    self.held = True
                    return
                except FileExistsError:
                    holder = self._holder()
                    if holder is None:
                        continue  # released meanwhile
                    if not _holder_is_gone(holder):
                        raise FolderLocked(self._message(holder)) from None
                    self._remove_stale(holder)
            raise FolderLocked(self._message(self._holder()))
        finally:
            tmp.unlink(missing_ok=True)

    def _holder(self) -> dict[str, Any] | None:
        try:
            with open(self.path, encoding="utf-8") as fh:
                holder = json.load(fh)
            return holder if isinstance(holder, dict) else {}
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # unreadable: treated as held, the message says how to clear it

    def _remove_stale(self, holder: dict[str, Any]) -> None:
        # Moved aside first, then checked: two commands finding the same stale lock must not
        # remove a fresh lock the other has just taken.
        aside = _sibling(self.path, "stale")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        try:
            with open(aside, encoding="utf-8") as fh:
                same = json.load(fh) == holder
        except (OSError, ValueError):
            same = False
        if same:
            aside.unlink(missing_ok=True)
        else:
            try:
                os.link(aside, self.path)
            except FileExistsError:
                pass
            aside.unlink(missing_ok=True)

    def _message(self, holder: dict[str, Any] | None) -> str:
        holder = holder or {}
        who = holder.get("command") or "another command"
        pid, host, since = holder.get("pid", "?"), holder.get("host", "?"), holder.get("since", "?")
        return (
            f"{self.folder} is in use by `{who}` (pid {pid} on {host}, since {since}); wait for it to finish, "
            f"or delete {self.path} if that process is gone"
        )

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        try:
            with open(self.path, encoding="utf-8") as fh:
                mine = json.load(fh).get("pid") == os.getpid()
        except (OSError, ValueError):
            mine = False
        if mine:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


__all__ = [
    "MANIFEST_NAME",
    "FolderLock",
    "FolderLocked",
    "OutputPathError",
    "ResultsExistError",
    "check_writable",
    "lock_path",
    "check_destination",
    "provenance",
    "publish_folder",
    "read_manifest",
    "sha256_file",
    "write_json_atomic",
    "write_parquet",
    "write_parquet_atomic",
    "write_text_atomic",
    "write_results",
]

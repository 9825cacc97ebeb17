"""``run.py`` called in this process, for checks that end before any model is built (a second each saved)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _load_run_py():
    spec = importlib.util.spec_from_file_location("lendsim_run_cli_inprocess", REPO_ROOT / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_CLI = _load_run_py()


def run_in_process(*args: str) -> subprocess.CompletedProcess[str]:
    """``python run.py ARGS`` as :func:`subprocess.run` would report it, without starting Python again."""
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["run.py", *args]
    code = 0
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            _CLI.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = argv
    return subprocess.CompletedProcess(["run.py", *args], code, out.getvalue(), err.getvalue())

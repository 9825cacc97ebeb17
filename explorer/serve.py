"""Start the explorer's Solara server (``python run.py explore``), offline and on loopback.

Offline: Solara's page loads its JavaScript from a CDN unless the server proxies it; with the
``solara-assets`` package installed, the proxy (``SOLARA_ASSETS_PROXY``, on here) serves those
files from ``<venv>/share/solara/cdn`` and never fetches. The server's other outbound calls are
switched off: the PyPI version check (``--no-check-version``) and usage telemetry
(``SOLARA_TELEMETRY_MIXPANEL_ENABLE``). So the explorer works on a machine with no network.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from sim.config import load_scenario

from .market import SCENARIO_ENV

REPO_ROOT = Path(__file__).resolve().parent.parent
APP = "explorer.app:Page"
LOOPBACK = "127.0.0.1"
EXTRA_HINT = "the explorer needs the [explore] extra: make explore installs it (or pip install -e '.[explore]')"


class ExtraMissing(Exception):
    """The ``[explore]`` extra is not installed. ``str(err)`` is one line saying how to install it."""


def check_extra() -> None:
    """Raise :class:`ExtraMissing` unless Mesa's visualisation, Solara and its local assets import."""
    try:
        import mesa.visualization  # noqa: F401  (needs solara and altair: mesa[rec])
        import solara  # noqa: F401
        import solara_assets  # noqa: F401
    except ImportError as err:
        raise ExtraMissing(f"{EXTRA_HINT} ({err.name} is not installed)") from None


def server_command(host: str = LOOPBACK, port: int = 8765) -> list[str]:
    """The command that serves the explorer (production mode: no auto-reload, no dev checks)."""
    return [
        sys.executable,
        "-m",
        "solara",
        "run",
        APP,
        "--host",
        host,
        "--port",
        str(port),
        "--production",
        "--no-open",
        "--no-check-version",
        "--log-level",
        "warning",
    ]


def server_env(scenario: Path | None) -> dict[str, str]:
    """The server's environment: the scenario that seeds the controls, and no network use."""
    env = dict(os.environ)
    env[SCENARIO_ENV] = str(scenario.resolve()) if scenario is not None else ""
    env["SOLARA_ASSETS_PROXY"] = "True"
    env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] = "False"
    # the cookie warning is for https deployments embedding the app in an iframe, not for a local server
    quiet = "ignore:Cookies with samesite=none:UserWarning"
    env["PYTHONWARNINGS"] = ",".join(w for w in (env.get("PYTHONWARNINGS", ""), quiet) if w)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def serve(scenario: Path | None, host: str = LOOPBACK, port: int = 8765) -> None:
    """Check the scenario and the extra, then replace this process with the Solara server.

    The server runs in this process (``os.execve``), so Ctrl-C or a signal reaches it directly and
    no child is left behind.

    Raises:
        ConfigError: the scenario file is missing or invalid (checked before anything starts).
        ExtraMissing: the ``[explore]`` extra is not installed.
    """
    if scenario is not None:
        load_scenario(scenario)
    check_extra()
    print(f"lendsim explorer: http://{host}:{port}  (Ctrl-C to stop)", flush=True)
    if host not in (LOOPBACK, "localhost", "::1"):
        print(
            f"warning: listening on {host}: anyone who can reach this machine can use the explorer",
            file=sys.stderr,
            flush=True,
        )
    cmd = server_command(host, port)
    os.execve(cmd[0], cmd, server_env(scenario))

"""lendsim: an agent-based model of online-lending delinquency, built on Mesa.

>>> from sim import LendingMarket, load_scenario
>>> model = LendingMarket(load_scenario("scenarios/baseline.yaml"), seed=7).run()
>>> model.model_frame()[["month", "overdue_balance_rate"]]  # doctest: +SKIP

``import sim.config`` (scenarios, validation) loads neither Mesa nor the model: the model is
imported on first use of :class:`LendingMarket` (PEP 562).
"""

from importlib import import_module

from .config import ConfigError, ScenarioConfig, load_scenario


def __getattr__(name: str):
    if name == "LendingMarket":
        return import_module(".model", __name__).LendingMarket
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ConfigError", "LendingMarket", "ScenarioConfig", "load_scenario"]

"""lendsim: an agent-based model of online-lending delinquency, built on Mesa.

>>> from sim import LendingMarket, load_scenario
>>> model = LendingMarket(load_scenario("scenarios/baseline.yaml"), seed=7).run()
>>> model.model_frame()[["month", "overdue_balance_rate"]]  # doctest: +SKIP
"""

from .config import ConfigError, ScenarioConfig, load_scenario
from .model import LendingMarket

__all__ = ["ConfigError", "LendingMarket", "ScenarioConfig", "load_scenario"]

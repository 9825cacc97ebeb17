"""The interactive explorer: the model in a browser, with Mesa's SolaraViz.

``explorer.market`` holds what needs only the model (the levers, how a scenario seeds them, and
:class:`~explorer.market.ExplorerMarket`, the Mesa model SolaraViz builds from them), so it is
importable and tested without the ``[explore]`` extra. ``explorer.app`` is the Solara page and
``explorer.serve`` starts the server (``python run.py explore``); both need the extra.
"""

from .market import LEVERS, ExplorerMarket, Levers, base_config, config_with_levers, levers_from_config, model_params

__all__ = [
    "LEVERS",
    "ExplorerMarket",
    "Levers",
    "base_config",
    "config_with_levers",
    "levers_from_config",
    "model_params",
]

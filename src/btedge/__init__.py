"""btedge: adaptive and machine-learning plugins for backtrader.

Subpackages:
  - ``btedge.indicators``: Laguerre family, anomaly scores, levels (and ML indicators)
  - ``btedge.strategies``: strategies on one shared risk/sizing base, found by name in a registry
  - ``btedge.analyzers``: performance and trade statistics that agree with quantstats
  - ``btedge.feeds``: fast DataFrame feed, CSV loader with validation, cached Yahoo download
  - ``btedge.models`` / ``btedge.training``: ML models and walk-forward training (no backtrader)
  - ``btedge.live``: Interactive Brokers store, feed and broker (the only IB client import)
"""
from __future__ import annotations

__version__ = "0.1.0"

#: Version of the plugin interface (strategy base, registry, indicator conventions).
PLUGIN_API = 1

__all__ = ["__version__", "PLUGIN_API"]

"""One import surface: every class the README names imports from its package, lazily."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

import btedge.analyzers
import btedge.feeds
import btedge.indicators
import btedge.strategies

#: Heavy optional dependencies that importing the packages must not load.
HEAVY = ("torch", "xgboost", "sklearn", "statsmodels")

SURFACE = {
    btedge.indicators: ("AdaptiveLaguerreFilter", "LaguerreChannel", "LaguerreFilter", "LaguerreRSI", "RollingStd",
                        "LorentzianDistance", "LorentzianScore", "SupportResistance", "HedgeRatio", "Spread",
                        "ZScore", "Cointegration", "EnsembleSignal", "LagNet", "IsolationForestAnomaly"),
    btedge.strategies: ("BaseStrategy", "BuyAndHold", "LaguerreCross", "LaguerreTrend", "LaguerreChannelBreakout",
                        "PairsTrading", "DualMomentum", "LagNetForecast", "EnsembleStrategy", "AnomalyBreakout",
                        "available", "get_strategy"),
    btedge.analyzers: ("Performance", "TradeStats", "SignalQuality"),
    btedge.feeds: ("FrameData", "YahooFeed", "load_csv", "sample_data"),
}


@pytest.mark.slow  # a fresh interpreter importing backtrader and pandas: ~5 s
def test_importing_the_packages_loads_no_heavy_dependency():
    code = (
        "import json, sys\n"
        "import btedge.indicators, btedge.strategies, btedge.analyzers, btedge.feeds\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
        "from btedge.indicators import LaguerreFilter, HedgeRatio\n"
        "from btedge.strategies import LaguerreCross, PairsTrading\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    after_packages, after_light_classes = (json.loads(line) for line in out.stdout.splitlines())
    assert after_packages == [] and after_light_classes == []


@pytest.mark.parametrize("package", list(SURFACE), ids=lambda p: p.__name__)
def test_every_named_class_imports_from_its_package(package):
    for name in SURFACE[package]:
        assert getattr(package, name).__name__ == name
        assert name in dir(package)


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="NoSuchIndicator"):
        btedge.indicators.NoSuchIndicator  # noqa: B018
    with pytest.raises(ImportError):
        from btedge.strategies import NoSuchStrategy  # noqa: F401

"""Strategy registry: the names that ``run_backtest.py`` and ``run_live.py`` accept.

A strategy module registers its class with ``@register("name")``; the entry points resolve
``--strategy NAME`` and coerce ``--param key=value`` strings to the type of each default, so a
misspelt name or an unknown parameter fails before any data is loaded.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, TypeVar

import backtrader as bt

T = TypeVar("T", bound=type)

_REGISTRY: dict[str, type[bt.Strategy]] = {}

#: Modules imported on first lookup so their ``@register`` decorators run. Modules whose optional
#: dependencies are missing (torch, xgboost, ...) are skipped and their strategies are absent.
STRATEGY_MODULES = (
    "btedge.strategies.benchmark",
    "btedge.strategies.laguerre",
    "btedge.strategies.ml",
    "btedge.strategies.pairs",
    "btedge.strategies.momentum",
)


def register(name: str) -> Callable[[T], T]:
    """Class decorator adding a strategy under ``name`` (lower-case, snake_case)."""

    def deco(cls: T) -> T:
        existing = _REGISTRY.get(name)
        if existing is not None and existing is not cls:
            raise ValueError(f"strategy name {name!r} already registered by {existing.__qualname__}")
        _REGISTRY[name] = cls
        cls.registry_name = name
        return cls

    return deco


def _load_all() -> None:
    for mod in STRATEGY_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name is not None and mod.startswith(exc.name):
                continue  # that strategy module does not exist (yet)
            if exc.name in {"torch", "xgboost", "sklearn", "statsmodels", "dtaidistance"}:
                continue  # optional extra not installed
            raise


def available() -> dict[str, type[bt.Strategy]]:
    """All registered strategies, by name."""
    _load_all()
    return dict(sorted(_REGISTRY.items()))


def get_strategy(name: str) -> type[bt.Strategy]:
    """Look a strategy up by name; the error lists the valid names."""
    strategies = available()
    try:
        return strategies[name]
    except KeyError:
        raise ValueError(
            f"unknown strategy {name!r}; available: {', '.join(strategies) or '(none)'}"
        ) from None


def param_defaults(cls: type[bt.Strategy]) -> dict[str, Any]:
    """The strategy's params and defaults, in declaration order."""
    return dict(cls.params._getitems())


def _coerce(key: str, text: str, default: Any) -> Any:
    if isinstance(default, bool):
        low = text.strip().lower()
        if low in {"1", "true", "yes", "on"}:
            return True
        if low in {"0", "false", "no", "off"}:
            return False
        raise ValueError(f"param {key}: expected true/false, got {text!r}")
    if default is None:
        for conv in (int, float):
            try:
                return conv(text)
            except ValueError:
                pass
        return None if text.lower() == "none" else text
    if isinstance(default, (int, float, str)):
        try:
            return type(default)(text)
        except ValueError:
            raise ValueError(
                f"param {key}: expected {type(default).__name__}, got {text!r}"
            ) from None
    raise ValueError(f"param {key} (a {type(default).__name__}) cannot be set from the command line")


def parse_params(cls: type[bt.Strategy], items: list[str] | None) -> dict[str, Any]:
    """Turn ``["key=value", ...]`` into typed kwargs for ``cls``; unknown keys are an error."""
    defaults = param_defaults(cls)
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--param expects key=value, got {item!r}")
        if key not in defaults:
            raise ValueError(
                f"unknown param {key!r} for {cls.__name__}; valid: {', '.join(defaults)}"
            )
        out[key] = _coerce(key, value, defaults[key])
    return out

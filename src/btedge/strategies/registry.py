"""Strategy registry: the names that ``run_backtest.py`` and ``run_live.py`` accept.

A strategy module registers its class with ``@register("name")``; the entry points resolve
``--strategy NAME`` and coerce ``--param key=value`` strings to the type of each default, so a
misspelt name or an unknown parameter fails before any data is loaded.
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import backtrader as bt

T = TypeVar("T", bound=type)

_REGISTRY: dict[str, type[bt.Strategy]] = {}

#: Modules imported on first lookup so their ``@register`` decorators run. Modules whose optional
#: dependencies are missing (torch, xgboost, ...) are skipped and their strategies are absent.
#: :func:`get_strategy` imports them in this order and stops at the one that registers the name,
#: so the heavy ML module (torch) comes last.
STRATEGY_MODULES = (
    "btedge.strategies.benchmark",
    "btedge.strategies.laguerre",
    "btedge.strategies.pairs",
    "btedge.strategies.momentum",
    "btedge.strategies.ml",
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


def _load(mod: str) -> None:
    try:
        importlib.import_module(mod)
    except ModuleNotFoundError as exc:
        if exc.name is not None and mod.startswith(exc.name):
            return  # that strategy module does not exist (yet)
        if exc.name in {"torch", "xgboost", "sklearn", "statsmodels", "dtaidistance"}:
            return  # optional extra not installed
        raise


def _load_all() -> None:
    for mod in STRATEGY_MODULES:
        _load(mod)


def available() -> dict[str, type[bt.Strategy]]:
    """All registered strategies, by name."""
    _load_all()
    return dict(sorted(_REGISTRY.items()))


def get_strategy(name: str) -> type[bt.Strategy]:
    """Look a strategy up by name, importing strategy modules only until it is found (a Laguerre
    strategy does not load torch); the error lists the valid names."""
    for mod in STRATEGY_MODULES:
        if name in _REGISTRY:
            return _REGISTRY[name]
        _load(mod)
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


# --- metadata for the command line: how many datas, what each param means ---------------------

#: Datas a strategy needs, (min, max); strategies not listed trade one data (data0).
DATAS_NEEDED: dict[str, tuple[int, int | None]] = {"pairs": (2, 2), "dual_momentum": (2, None)}

#: Indicators whose docstrings describe params a strategy passes on to them ("module:Class"),
#: read after the strategy's own classes.
DOC_SOURCES: dict[str, tuple[str, ...]] = {
    "laguerre_channel": ("btedge.indicators.laguerre:LaguerreChannel", "btedge.indicators.laguerre:LaguerreFilter"),
    "ensemble": ("btedge.indicators.ml:EnsembleSignal", "btedge.indicators.ml:WalkForwardIndicator"),
    "lagnet_forecast": ("btedge.indicators.ml:LagNet", "btedge.indicators.ml:WalkForwardIndicator"),
    "anomaly_breakout": ("btedge.indicators.anomaly_ml:IsolationForestAnomaly",
                         "btedge.indicators.ml:WalkForwardIndicator"),
    "pairs": ("btedge.indicators.pairs:HedgeRatio",),
}

#: Meanings of params that no docstring above describes ("strategy:param" before "param").
PARAM_NOTES: dict[str, str] = {
    "dual_momentum:seed": "random seed of the XGBoost score model",
    "laguerre_trend:seed": "seeded filter (no start-up transient)",
    "n_estimators": "trees in the model",
    "max_depth": "maximum depth of each tree",
    "contamination": "share of training bars the isolation forest flags as anomalous",
    "epochs": "training epochs per fold",
    "min_samples": "fewest training samples before a first model is fitted",
    "max_samples": "most training samples per fold, the most recent (0: all)",
    "pretrained": "live: use the newest fold models a backtest with the same params cached",
    "cost": "round-trip cost as a fraction (2 x (commission + slippage))",
    "cost_mult": "how many round-trip costs the forecast must clear",
}

_BULLET = re.compile(r"^\s*-\s+(.*)$")
_PARAMS_HEAD = re.compile(r"^\s*Params\b")
_DESC_START = re.compile(r"(?:\)|``)\s*:\s+")
_QUOTED = re.compile(r"``('[^'`]*')``")
_RANGE = re.compile(r"(in [\[(][^\])]*[\])]|[<>]=? ?-?\d[\d.]*)")


@dataclass(frozen=True)
class ParamDoc:
    """One param as ``--list-params`` shows it."""

    name: str
    default: Any
    type: str
    description: str
    allowed: str


def datas_needed(name: str) -> tuple[int, int | None]:
    """(min, max) datas the registered strategy ``name`` trades (max None: any number)."""
    return DATAS_NEEDED.get(name, (1, 1))


def first_sentence(text: str | None) -> str:
    """The docstring's first sentence, whole (its first paragraph up to the first '. ')."""
    paragraph = " ".join((text or "").strip().split("\n\n", 1)[0].split())
    for match in re.finditer(r"(?<=[.!?])\s+(?=[A-Z(`])", paragraph):
        if not re.search(r"\b(?:e\.g|i\.e|vs|cf|etc)\.$", paragraph[: match.start()]):
            return paragraph[: match.start()]
    return paragraph


def _param_bullets(doc: str) -> list[str]:
    """The bullets of a docstring's ``Params`` section, continuation lines joined."""
    bullets: list[str] = []
    inside = False
    for line in doc.splitlines():
        if _PARAMS_HEAD.match(line):
            inside = True
            continue
        if not inside:
            continue
        if not line.strip() or (not line.startswith(" " * 6) and not _BULLET.match(line)):
            if bullets and not line.strip():
                inside = False
            continue
        bullet = _BULLET.match(line)
        if bullet:
            bullets.append(bullet.group(1).strip())
        elif bullets:
            bullets[-1] += " " + line.strip()
    return bullets


def _doc_classes(cls: type) -> list[type]:
    """``cls``, its bases, then the indicators of :data:`DOC_SOURCES` it passes params to."""
    sources = []
    for spec in DOC_SOURCES.get(getattr(cls, "registry_name", ""), ()):
        module, _, name = spec.partition(":")
        sources.append(getattr(importlib.import_module(module), name))
    return [*cls.__mro__, *sources]


def _described(cls: type) -> dict[str, list[str]]:
    """Param name -> its descriptions in the Params sections of :func:`_doc_classes`, in that
    order (the first is shown, unless it is a bare "as :class:`X`"; all give allowed values)."""
    names = set(param_defaults(cls))
    out: dict[str, list[str]] = {}
    for klass in _doc_classes(cls):
        for bullet in _param_bullets(klass.__dict__.get("__doc__") or ""):
            split = _DESC_START.search(bullet)
            head, text = (bullet[: split.start() + 1], bullet[split.end():]) if split else (bullet, "")
            for name in re.findall(r"``(\w+)``", head):
                if name in names and text.strip():
                    out.setdefault(name, []).append(text.strip())
    return out


def _shown(texts: list[str]) -> str:
    return next((t for t in texts if not t.startswith("as :class:")), texts[0] if texts else "")


def _allowed(default: Any, description: str) -> str:
    if isinstance(default, bool):
        return "true, false"
    if isinstance(default, str):
        values = list(dict.fromkeys([repr(default), *_QUOTED.findall(description)]))
        return ", ".join(v.strip("'") for v in values) if len(values) > 1 else "any text"
    found = _RANGE.search(description)
    return found.group(1) if found else ""


def param_docs(cls: type[bt.Strategy]) -> list[ParamDoc]:
    """Every param of ``cls`` with its meaning (docstrings, else :data:`PARAM_NOTES`), type,
    default and allowed values, in declaration order."""
    described = _described(cls)
    docs = []
    for name, default in param_defaults(cls).items():
        registry_name = getattr(cls, "registry_name", "")
        texts = described.get(name, [])
        text = _shown(texts) or PARAM_NOTES.get(f"{registry_name}:{name}") or PARAM_NOTES.get(name, "")
        kind = "any (None default)" if default is None else type(default).__name__
        docs.append(ParamDoc(name, default, kind, text, _allowed(default, " ".join([text, *texts]))))
    return docs

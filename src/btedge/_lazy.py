"""Lazy package surfaces: ``from btedge.indicators import LagNet`` imports ``btedge.indicators.ml``
(and torch) only when ``LagNet`` is asked for, so ``import btedge.indicators`` stays light.

A package calls :func:`lazy_surface` with ``{name: module}`` and binds the two functions it
returns as its module ``__getattr__`` and ``__dir__`` (PEP 562).
"""
from __future__ import annotations

import importlib
import sys
import types
from typing import Any, Callable, Mapping


class _Surface(types.ModuleType):
    """A package whose exported function may share its name with the submodule defining it
    (``btedge.analyzers.signal_quality``): importing the submodule binds the function, not the
    module, to that name on the package."""

    _exports: Mapping[str, str] = {}

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and self._exports.get(name) == value.__name__ and hasattr(value, name):
            value = getattr(value, name)
        super().__setattr__(name, value)


def lazy_surface(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` exporting each ``name`` from ``exports[name]``."""
    module = sys.modules[package]
    module.__class__ = _Surface
    module._exports = dict(exports)

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        setattr(module, name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(module)) | set(exports))

    return __getattr__, __dir__

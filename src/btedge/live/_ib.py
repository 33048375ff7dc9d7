"""The one place that imports the IB client library.

``ib_async`` (the maintained continuation of ib_insync) is used when installed, otherwise
``ib_insync``. ``BTEDGE_IB_CLIENT=ib_insync`` or ``=ib_async`` forces one; the tests use it to
run everything against both. Both expose the same names (``IB``, ``Stock``, ``Trade``, ...), so
the rest of ``btedge.live`` takes the module returned by :func:`client` and never imports either.
"""
from __future__ import annotations

import importlib
import os
from types import ModuleType

ENV_VAR = "BTEDGE_IB_CLIENT"
CLIENTS = ("ib_async", "ib_insync")


def client(name: str | None = None) -> ModuleType:
    """The IB client module: ``name``, else ``$BTEDGE_IB_CLIENT``, else the first installed.

    Raises:
        ValueError: ``name`` (or the env var) is not one of ``ib_async`` / ``ib_insync``.
        ImportError: the requested (or any) client library is not installed.
    """
    wanted = name or os.environ.get(ENV_VAR) or None
    if wanted is not None:
        if wanted not in CLIENTS:
            source = "client" if name else ENV_VAR
            raise ValueError(f"{source} must be one of {CLIENTS}, got {wanted!r}")
        return importlib.import_module(wanted)
    for candidate in CLIENTS:
        try:
            return importlib.import_module(candidate)
        except ImportError:
            continue
    raise ImportError("btedge.live needs ib_async or ib_insync: pip install 'btedge[live]'")

"""Safe model persistence: torch state_dicts with ``weights_only=True``; nothing is unpickled."""
from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

log = logging.getLogger(__name__)


class UnsafeModelFile(ValueError):
    """A model file holds something other than plain tensors (a pickled object): refused."""


def save_state_dict(module, path: str | os.PathLike) -> None:
    import torch

    torch.save(module.state_dict(), Path(path))


def load_state_dict(path: str | os.PathLike) -> dict:
    """Load a state_dict with ``weights_only=True``; a pickled object raises UnsafeModelFile."""
    import torch

    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeModelFile(
            f"{path}: refused to load: the file contains pickled Python objects, not a plain "
            f"state_dict (weights_only=True rejected it: {str(exc).splitlines()[0]}). "
            "btedge never unpickles model files; delete it and let btedge retrain the fold."
        ) from None
    except (RuntimeError, EOFError) as exc:
        raise UnsafeModelFile(f"{path}: not a readable torch state_dict ({exc}); delete it to retrain") from None
    if not isinstance(state, dict):
        raise UnsafeModelFile(f"{path}: expected a state_dict (dict of tensors), got {type(state).__name__}")
    return state

"""Safe model persistence: torch state_dicts with ``weights_only=True``; nothing is unpickled.

Every failure to read a cached model file is a :class:`ModelFileError` (a ``ValueError``) that
names the file and the fix; a file holding pickled objects is an :class:`UnsafeModelFile`, and a
file that is simply corrupt or truncated says so (not "pickled objects").
"""
from __future__ import annotations

import logging
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: First bytes of a pickle stream (protocol 2 and later).
_PICKLE_MAGIC = b"\x80"
#: First bytes of an ``.npy`` file.
NPY_MAGIC = b"\x93NUMPY"


class ModelFileError(ValueError):
    """A cached model file that cannot be used; the message names the file and the fix."""


class UnsafeModelFile(ModelFileError):
    """A model file holds something other than plain tensors (a pickled object): refused."""


def retrain_hint(path: Path) -> str:
    return (f"delete the folder {path.parent} to retrain that fold (or pass another cache_dir)")


def corrupt(path: Path, what: str, detail: object = "") -> ModelFileError:
    """The error for an unreadable (corrupt, truncated or foreign) model file."""
    why = f" ({str(detail).splitlines()[0]})" if str(detail) else ""
    return ModelFileError(f"{path}: not a readable {what}: the file is corrupt or truncated{why}; {retrain_hint(path)}")


def read_head(path: Path, n: int) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read the model file ({exc.strerror}); {retrain_hint(path)}") from None


def save_state_dict(module, path: str | os.PathLike) -> None:
    import torch

    torch.save(module.state_dict(), Path(path))


def load_state_dict(path: str | os.PathLike) -> dict:
    """Load a state_dict with ``weights_only=True``; a pickled object raises UnsafeModelFile,
    a corrupt file a :class:`ModelFileError` that says so."""
    import torch

    path = Path(path)
    head = read_head(path, 4)
    if not zipfile.is_zipfile(path) and not head.startswith(_PICKLE_MAGIC):
        raise corrupt(path, "torch state_dict", "neither a torch zip archive nor a pickle stream")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeModelFile(
            f"{path}: refused to load: the file contains pickled Python objects, not a plain "
            f"state_dict (weights_only=True rejected it: {str(exc).splitlines()[0]}). "
            f"btedge never unpickles model files; {retrain_hint(path)}."
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise corrupt(path, "torch state_dict", exc) from None
    if not isinstance(state, dict):
        raise UnsafeModelFile(f"{path}: expected a state_dict (dict of tensors), got {type(state).__name__}; "
                              f"{retrain_hint(path)}")
    return state


def load_into(module, state: dict, path: Path) -> None:
    """``module.load_state_dict(state)``; a state of another architecture is a ModelFileError."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError) as exc:
        raise corrupt(path, "state_dict for this model (another architecture or size)", exc) from None


class StateDictFile:
    """Fold-model files of a model whose weights are ``self.net``: ``model.pt``, a state_dict
    saved and loaded weights-only; loading drops the model's inference copy (``_infer``)."""

    net: Any
    _infer: Any

    def save(self, folder: Path) -> None:
        save_state_dict(self.net, Path(folder) / "model.pt")

    def load(self, folder: Path) -> None:
        path = Path(folder) / "model.pt"
        load_into(self.net, load_state_dict(path), path)
        self.net.eval()
        self._infer = None

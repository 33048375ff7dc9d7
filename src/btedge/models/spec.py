"""Model specifications and the fold-model contract (no backtrader import).

A :class:`ModelSpec` names a model kind and its hyper-parameters; it is hashed into the cache
key. ``build_model(spec, n_features)`` returns an untrained object with the contract::

    fit(X, y, X_val, y_val) -> dict       # X: (m, seq_len, F) scaled windows; y: classes or targets;
                                          # early-stops on (X_val, y_val) when given: info["epochs"]
    refit(X, y, epochs) -> dict           # supervised models: a fresh fit for exactly ``epochs``
    predict(X) -> np.ndarray              # (m, k) float64
    save(folder) / load(folder)           # state_dict / UBJ / training slice; never pickle
"""
from __future__ import annotations

import hashlib
import importlib
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

#: Version of the model code (architectures, training loop, validation): part of every cache key,
#: so a change of code or defaults never returns a model trained by older code. Bump on change.
MODEL_CODE_VERSION = 2
TORCH_CLASSIFIERS = ("cnn", "lstm", "tcn", "cnn_lstm")
#: Second-generation members (docs/models.md): window models read ``seq_len`` bars, the rest one row.
WINDOW_KINDS = ("s4d", "minmax_cnn", "minmax_cnn2d", "mamba")
KINDS = TORCH_CLASSIFIERS + ("xgb", "iforest", "lagnet") + WINDOW_KINDS + ("kan", "online")
_BUILDERS = {
    **{k: "btedge.models.torch_models:TorchClassifier" for k in TORCH_CLASSIFIERS},
    "xgb": "btedge.models.xgb_model:XGBClassifierModel",
    "iforest": "btedge.models.anomaly:IsolationForestModel",
    "lagnet": "btedge.models.lagnet:LagNetModel",
    "s4d": "btedge.models.s4d:S4DClassifier",
    "minmax_cnn": "btedge.models.minmax:MinMaxCNN",
    "minmax_cnn2d": "btedge.models.minmax:MinMaxImageCNN",
    "mamba": "btedge.models.mamba:MambaClassifier",
    "kan": "btedge.models.kan:KANClassifier",
    "online": "btedge.models.online:OnlineClassifier",
}


@dataclass(frozen=True)
class ModelSpec:
    """Kind and hyper-parameters of one model (one ensemble member).

    Args:
      kind: one of ``KINDS``
      seed: RNG seed (torch, xgboost, scikit-learn)
      seq_len: bars per input window (sequence models; xgb and iforest use the last row)
      hidden: channels / LSTM units; layers: conv or TCN levels
      epochs: most torch epochs; early stopping on the purged validation tail picks fewer
        (``patience`` epochs without a better validation loss end it), then the model is
        refit on the whole training window for the chosen number
      lr, batch_size: torch training
      patience: epochs (torch) or 5 x rounds (xgboost) without improvement before stopping
      n_estimators: most xgboost rounds (early-stopped like ``epochs``) / isolation forest trees
      max_depth: xgboost tree depth
      contamination: isolation forest share of training rows flagged
      max_lag, smoothing: LagNet lag range 1..max_lag and EMA factor of the lag
    """

    kind: str
    seed: int = 0
    seq_len: int = 32
    hidden: int = 16
    layers: int = 2
    epochs: int = 40
    lr: float = 3e-3
    batch_size: int = 64
    patience: int = 4
    n_estimators: int = 200
    max_depth: int = 3
    contamination: float = 0.02
    max_lag: int = 32
    smoothing: float = 0.2

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        for name in ("seq_len", "hidden", "layers", "epochs", "batch_size", "patience", "n_estimators", "max_depth"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not 0.0 < self.contamination < 0.5:
            raise ValueError(f"contamination must be in (0, 0.5), got {self.contamination!r}")
        if not 0.0 < self.smoothing <= 1.0:
            raise ValueError(f"smoothing must be in (0, 1], got {self.smoothing!r}")
        if self.kind == "lagnet" and not 2 <= self.max_lag <= self.seq_len:
            raise ValueError(f"max_lag must be in [2, seq_len={self.seq_len}], got {self.max_lag!r}")

    def key(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def window(self) -> int:
        """Bars of feature rows a sample needs."""
        return self.seq_len if self.kind in TORCH_CLASSIFIERS + ("lagnet",) + WINDOW_KINDS else 1


class FoldModel(Protocol):
    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray) -> dict: ...
    def refit(self, X: np.ndarray, y: np.ndarray, epochs: int) -> dict: ...
    def predict(self, X: np.ndarray) -> np.ndarray: ...
    def save(self, folder) -> None: ...
    def load(self, folder) -> None: ...


def build_model(spec: ModelSpec, n_features: int) -> FoldModel:
    """An untrained model of ``spec.kind`` (imports torch / xgboost / sklearn lazily)."""
    module, _, name = _BUILDERS[spec.kind].partition(":")
    cls = getattr(importlib.import_module(module), name)
    return cls(spec, n_features)


def member_seed(seed: int, index: int, kind: str, member: int = 0) -> int:
    """Independent seed of ensemble member ``index`` (of ``kind``, its own ``kind:member`` seed)
    under the run's ``seed``: a hash, so seed 1 shares no member with seed 0."""
    digest = hashlib.sha256(f"{int(seed)}:{int(index)}:{kind}:{int(member)}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def parse_members(text: str, **common: Any) -> tuple[ModelSpec, ...]:
    """``"lstm,lstm,cnn:1,xgb"`` -> specs; ``kind:seed``, a repeated kind gets seed = its count."""
    specs, seen = [], {}
    for item in (s.strip() for s in text.split(",") if s.strip()):
        kind, _, seed = item.partition(":")
        seen[kind] = seen.get(kind, -1) + 1
        specs.append(ModelSpec(kind=kind, seed=int(seed) if seed else seen[kind], **common))
    if not specs:
        raise ValueError(f"members must name at least one model kind of {KINDS}, got {text!r}")
    return tuple(specs)

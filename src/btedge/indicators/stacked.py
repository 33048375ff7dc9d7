"""Stacked ensemble: a meta-learner over the members' out-of-fold walk-forward probabilities,
beside :class:`~btedge.indicators.ml.EnsembleSignal`'s soft vote (see
:mod:`btedge.models.stacking`)."""
from __future__ import annotations

import logging

import numpy as np

from btedge.indicators.ml import EnsembleSignal
from btedge.models.labels import CLASS_SIDE
from btedge.models.stacking import METHODS, fit_meta, meta_features, meta_proba, stack_walk_forward

__all__ = ["StackedSignal"]
log = logging.getLogger(__name__)


class StackedSignal(EnsembleSignal):
    """
    The members of :class:`~btedge.indicators.ml.EnsembleSignal`, combined by a meta-learner
    (logistic regression or a small random forest) instead of the soft vote.

    Every member output from the first fold boundary on is out of sample. At each later member
    boundary b the meta-learner is fitted on the members' log-probabilities of the bars
    ``[first boundary, b - horizon)`` (their labels were known before b) and scores the fold;
    the members' own training bars are never read. Lines are NaN until a meta-learner exists
    (the second fold at the earliest) and on bars where any member has no output.

    Formula:
      - z_t = (log p^(1)_t, ..., log p^(M)_t); p_t = meta_b(z_t) for the fold b of bar t
      - signal = +1 / 0 / -1 for argmax long / neutral / short; confidence = max p

    Params (plus :class:`~btedge.indicators.ml.EnsembleSignal`'s; ``weights`` unused):
      - ``meta`` (default: ``'logistic'``): ``'logistic'`` or ``'forest'``
      - ``meta_min_samples`` (default: ``100``): out-of-fold bars a meta-learner needs

    See:
      - Wolpert (1992), "Stacked generalization"; Lopez de Prado (2018), ch. 7 (purging)
    """

    alias = ("Stacked",)
    params = (("meta", "logistic"), ("meta_min_samples", 100))

    def __init__(self) -> None:
        super().__init__()
        if self.p.meta not in METHODS:
            raise ValueError(f"meta must be one of {METHODS}, got {self.p.meta!r}")
        if self.p.pretrained:
            raise ValueError("StackedSignal has no pretrained (live-only) mode: its meta-learner is refit from the "
                             "members' out-of-fold outputs of this run; use pretrained=False")
        self._captured: list[list[np.ndarray]] = []
        self._z: dict[int, np.ndarray] = {}  # next(): bar -> meta-features
        self._metas: dict[int, object] = {}
        self._in_next = False

    def _combine(self, fitted, outputs) -> np.ndarray:
        if not self._in_next:  # runonce: keep the members' outputs; stacked in _compute_batch
            self._captured.append(outputs)
            return np.full((len(outputs[0]), self.lines.size()), np.nan)
        t = len(self._rows) - 1
        self._z[t] = meta_features(outputs)[0]
        b = self.schedule.boundary_at(t)
        if b not in self._metas:
            self._metas[b] = self._fit_meta_next(b)
        meta, z = self._metas[b], self._z[t]
        if meta is None or not np.isfinite(z).all():
            return np.full((1, self.lines.size()), np.nan)
        return self._lines_of(meta_proba(meta, z[None]))

    def _fit_meta_next(self, b: int):
        first = self.schedule.train_bars
        if b == first:
            return None
        Z = np.full((b, len(self._z[max(self._z)])), np.nan)
        for r, z in self._z.items():
            if r < b:
                Z[r] = z
        labels = self._labels([np.asarray(h[:b]) for h in self._hist])
        return fit_meta(Z, labels, b, first, self.schedule.horizon, self.p.meta,
                        int(self.p.meta_min_samples), int(self.p.seed))

    def _compute_batch(self, n: int) -> np.ndarray:
        self._captured = []
        super()._compute_batch(n)
        arrays, times = self._arrays(n)
        segments = self._segments(times)
        members = [np.full((n, 3), np.nan) for _ in self.walkers]
        for (_, rows), outputs in zip(segments, self._captured):
            for m, o in zip(members, outputs):
                m[rows] = o
        if not segments:
            return np.full((n, self.lines.size()), np.nan)
        stacked = stack_walk_forward(members, self._labels(arrays), [b for b, _ in segments],
                                     self.schedule.horizon, self.p.meta, int(self.p.meta_min_samples),
                                     int(self.p.seed))
        return self._lines_of(stacked)

    def next(self) -> None:
        self._in_next = True
        try:
            super().next()
        finally:
            self._in_next = False

    def _lines_of(self, probs: np.ndarray) -> np.ndarray:
        out = np.full((len(probs), self.lines.size()), np.nan)
        ok = np.isfinite(probs).all(axis=1)
        out[:, 0], out[:, 1], out[:, 2] = probs[:, 2], probs[:, 1], probs[:, 0]
        out[ok, 3] = CLASS_SIDE[probs[ok].argmax(axis=1)]
        out[:, 4] = probs.max(axis=1)
        return out

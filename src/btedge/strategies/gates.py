"""Entry gates added to any :class:`~btedge.strategies.base.BaseStrategy` subclass.

``regime_gated(LaguerreCross)`` returns a subclass whose new entries wait until the walk-forward
regime indicator (:class:`~btedge.indicators.regime.HMMRegime` or
:class:`~btedge.indicators.regime.MarkovRegime`) puts the bar in one of the allowed regimes.
Exits are never gated, and the strategy's own gates (anomaly, confidence) still apply.
"""
from __future__ import annotations

import math

from btedge.indicators.regime import HMMRegime, MarkovRegime

_REGIMES = {"hmm": HMMRegime, "markov": MarkovRegime}

#: Params the gate adds (names prefixed ``regime``).
REGIME_PARAMS = (
    ("regime", "hmm"), ("regime_states", 2), ("regime_allowed", "0"),
    ("regime_train_bars", 1000), ("regime_retrain_every", 500), ("regime_window", "expanding"),
)


def allowed_regimes(text: str, n_states: int) -> frozenset[int]:
    """``"0,2"`` -> {0, 2}; each must be a state number below ``n_states`` (0 = calmest)."""
    try:
        states = frozenset(int(s) for s in str(text).split(",") if s.strip())
    except ValueError:
        states = frozenset()
    if not states or not all(0 <= s < n_states for s in states):
        raise ValueError(f"regime_allowed must list states in 0..{n_states - 1} (0 = calmest), "
                         f"comma-separated, e.g. regime_allowed='0'; got {text!r}")
    return states


def regime_gated(strategy: type) -> type:
    """A subclass of ``strategy`` that enters only in the regimes ``regime_allowed``.

    Params added:
      - ``regime`` (default: ``'hmm'``): ``'hmm'`` (hmmlearn) or ``'markov'`` (statsmodels)
      - ``regime_states`` (default: ``2``): hidden states, sorted calm (0) to volatile
      - ``regime_allowed`` (default: ``'0'``): comma-separated states in which entries may open
      - ``regime_train_bars`` (default: ``1000``), ``regime_retrain_every`` (default: ``500``),
        ``regime_window`` (default: ``'expanding'``): the regime model's walk-forward schedule

    No entry opens before the first regime fold (the regime is unknown there).
    """

    class Gated(strategy):
        params = REGIME_PARAMS

        def __init__(self) -> None:
            super().__init__()
            p = self.p
            if p.regime not in _REGIMES:
                raise ValueError(f"regime must be one of {tuple(_REGIMES)}, got {p.regime!r}")
            self._allowed_regimes = allowed_regimes(p.regime_allowed, int(p.regime_states))
            self.regime_ind = _REGIMES[p.regime](
                self.data, n_states=int(p.regime_states), train_bars=int(p.regime_train_bars),
                retrain_every=int(p.regime_retrain_every), window=p.regime_window,
            )

        def entry_allowed(self, side: int) -> bool:
            state = float(self.regime_ind.regime[0])
            if not math.isfinite(state) or int(state) not in self._allowed_regimes:
                return False
            return super().entry_allowed(side)

    Gated.__name__ = Gated.__qualname__ = f"{strategy.__name__}RegimeGated"
    Gated.__doc__ = f"{strategy.__name__} with a regime entry gate (see btedge.strategies.gates.regime_gated)."
    return Gated

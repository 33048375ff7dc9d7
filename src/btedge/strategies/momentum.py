"""Dual momentum over many datas, with an optional walk-forward XGBoost momentum score."""
from __future__ import annotations

import datetime as dt
import logging
import math

import backtrader as bt
import numpy as np

from btedge.models.momentum import FEATURES, MomentumRanker, RankerSpec, momentum_features
from btedge.strategies.registry import register

log = logging.getLogger(__name__)

SCORES = ("momentum", "xgboost")
WEIGHTINGS = ("equal", "inverse_vol")
ANCHORS = ("auto", "start", "time")
#: A Monday: weekdays (daily bars) and weeks are counted from it.
ANCHOR_DAY = dt.date(1970, 1, 5)
#: Seconds per bar period of the intraday timeframes.
UNIT_SECONDS = {bt.TimeFrame.Seconds: 1, bt.TimeFrame.Minutes: 60}


@register("dual_momentum")
class DualMomentum(bt.Strategy):
    """
    Dual momentum (relative + absolute) rotation over all datas, rebalanced every ``rebalance`` bars.

    When (``anchor``): ``'start'`` counts bars from the first bar with enough history, so the
    dates depend on where the data starts; ``'time'`` rebalances on the first bar of each block
    of ``rebalance`` bar periods of the clock, counted from a fixed date (weekdays from Monday
    1970-01-05 for daily bars, weeks, months, or seconds since the epoch intraday), so the same
    bar times rebalance whatever the first bar is: a live restart's backfill length or a
    backtest's start date does not move them. ``'auto'`` (default) is ``'time'`` when a data is
    live (a live run knows nothing before its backfill) and ``'start'`` otherwise (backtests
    unchanged). Live, an order decided on a backfill bar is refused by the broker (history is
    not traded); that is logged at INFO, not as a failed order.

    At each rebalance (bar closes, ``[0]`` and past values only; orders fill at the next open):

      1. score every asset of the universe (all datas except ``cash_proxy`` and ``exclude``):
         ``score='momentum'`` is the ``lookback``-bar return; ``score='xgboost'`` is a walk-forward
         XGBoost probability that the asset beats the universe median over the next ``horizon``
         rebalances (:class:`btedge.models.momentum.MomentumRanker`, features
         :data:`~btedge.models.momentum.FEATURES`), the plain momentum until the first model exists
      2. keep the ``top`` best scores (relative momentum)
      3. absolute momentum: a pick whose ``lookback`` return is not above ``threshold`` (and not
         above the cash proxy's return, when one is named) gives its slot to the cash proxy, or
         to cash without one
      4. slot weights are equal or proportional to 1/volatility of the picks, scaled to
         ``fraction`` of the portfolio; ``order_target_percent`` sells first, then buys

    The XGBoost model is retrained every ``retrain_every`` rebalances once ``train_min``
    rebalances exist, walk-forward with an embargo of ``horizon + 1`` rebalances: the model used
    at rebalance k only saw labels whose horizon ended before k. Each fold model is cached as
    xgboost UBJ in ``cache_dir`` and re-runs load it (nothing pickled).

    Params:
      - ``lookback`` (default: ``252``): momentum window in bars (>= 20)
      - ``top`` (default: ``3``): number of assets held (>= 1)
      - ``rebalance`` (default: ``21``): bars between rebalances (>= 1)
      - ``anchor`` (default: ``'auto'``): ``'start'``, ``'time'`` or ``'auto'`` (see above)
      - ``threshold`` (default: ``0.0``): minimum lookback return to hold a risky asset
      - ``cash_proxy`` (default: ``''``): name of the data held instead of cash (e.g. ``CSJ``)
      - ``exclude`` (default: ``''``): comma-separated data names left out of the universe
      - ``weighting`` (default: ``'equal'``): ``'equal'`` or ``'inverse_vol'``
      - ``vol_period`` (default: ``63``): bars of log returns for the volatility (>= 5)
      - ``fraction`` (default: ``0.95``): share of the portfolio invested, (0, 1]
      - ``score`` (default: ``'momentum'``): ``'momentum'`` or ``'xgboost'``
      - ``horizon`` (default: ``1``): label horizon in rebalances
      - ``train_min`` (default: ``12``): rebalances before the first model
      - ``retrain_every`` (default: ``3``): rebalances between retrains
      - ``n_estimators`` (default: ``60``), ``max_depth`` (default: ``3``), ``seed`` (default: ``0``)
      - ``cache_dir`` (default: ``''``): fold-model cache folder; '' = ``.cache/btedge-models``
        (the same meaning as in the ML indicators)
      - ``verbose`` (default: ``False``): log rebalances at INFO instead of DEBUG

    See:
      - Antonacci, *Dual Momentum Investing*, McGraw-Hill, 2014
      - Jegadeesh, Titman, "Returns to buying winners and selling losers", J. Finance 48 (1993)
    """

    params = (
        ("lookback", 252),
        ("top", 3),
        ("rebalance", 21),
        ("anchor", "auto"),
        ("threshold", 0.0),
        ("cash_proxy", ""),
        ("exclude", ""),
        ("weighting", "equal"),
        ("vol_period", 63),
        ("fraction", 0.95),
        ("score", "momentum"),
        ("horizon", 1),
        ("train_min", 12),
        ("retrain_every", 3),
        ("n_estimators", 60),
        ("max_depth", 3),
        ("seed", 0),
        ("cache_dir", ""),
        ("verbose", False),
    )

    def __init__(self) -> None:
        self._validate()
        names = [d._name for d in self.datas]
        excluded = {s.strip() for s in self.p.exclude.split(",") if s.strip()}
        for name in excluded | ({self.p.cash_proxy} if self.p.cash_proxy else set()):
            if name not in names:
                raise ValueError(f"dual_momentum: no data named {name!r}; datas are {', '.join(names)}")
        self.proxy = self.getdatabyname(self.p.cash_proxy) if self.p.cash_proxy else None
        self.universe = [d for d in self.datas if d is not self.proxy and d._name not in excluded]
        if len(self.universe) < self.p.top:
            raise ValueError(f"top={self.p.top} but the universe has {len(self.universe)} datas")
        self.need = max(self.p.lookback, self.p.vol_period) + 1
        self.ml = MomentumRanker(RankerSpec(
            lookback=self.p.lookback, horizon=self.p.horizon, train_min=self.p.train_min,
            retrain_every=self.p.retrain_every, n_estimators=self.p.n_estimators, max_depth=self.p.max_depth,
            seed=self.p.seed), self.p.cache_dir) if self.p.score == "xgboost" else None
        self.rebalances: list[dict[str, float]] = []  # target weights per rebalance
        self.rebalance_bars: list[int] = []  # the bar (0-based) of each rebalance
        self._history: set[int] = set()  # refs of orders decided on a bar a live feed delivered as history
        self._block: int | None = None  # anchor='time': the block of the previous bar

    def _validate(self) -> None:
        p = self.p
        for name, low in (("lookback", 20), ("top", 1), ("rebalance", 1), ("vol_period", 5), ("horizon", 1),
                          ("retrain_every", 1), ("n_estimators", 1), ("max_depth", 1)):
            value = getattr(p, name)
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if p.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {p.weighting!r}")
        if p.anchor not in ANCHORS:
            raise ValueError(f"anchor must be one of {ANCHORS}, got {p.anchor!r}")
        if p.score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {p.score!r}")
        if not 0.0 < p.fraction <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {p.fraction!r}")
        if not isinstance(p.train_min, int) or p.train_min <= p.horizon + 1:
            raise ValueError(f"train_min must be an integer > horizon + 1 = {p.horizon + 1}, got {p.train_min!r}")

    # -- schedule ---------------------------------------------------------------------------
    def start(self) -> None:
        anchor = self.p.anchor
        if anchor == "auto":
            anchor = "time" if any(d.islive() for d in self.datas) else "start"
        self.anchor = anchor

    def next(self) -> None:
        i = len(self) - 1
        if not self._due(i):
            return
        weights = self.target_weights(len(self.rebalances))
        self.rebalances.append(weights)
        self.rebalance_bars.append(i)
        self._order(weights)

    def _due(self, i: int) -> bool:
        """Whether bar ``i`` (0-based) rebalances."""
        if self.anchor == "start":
            return i >= self.need - 1 and not (i - (self.need - 1)) % self.p.rebalance
        block = self._period() // self.p.rebalance
        previous, self._block = self._block, block
        return i >= self.need - 1 and block != previous

    def _period(self) -> int:
        """The bar's period number counted from a fixed date, in units of the clock's bars."""
        clock = self.datas[0]
        when = self.datetime.datetime(0)  # the feed's own time zone: its trading date
        frame, compression = clock._timeframe, max(1, clock._compression)
        if frame == bt.TimeFrame.Days:
            return int(np.busday_count(ANCHOR_DAY, when.date())) // compression
        if frame == bt.TimeFrame.Weeks:
            return (when.date() - ANCHOR_DAY).days // 7 // compression
        if frame == bt.TimeFrame.Months:
            return (when.year * 12 + when.month - 1) // compression
        if frame == bt.TimeFrame.Years:
            return when.year // compression
        seconds = (bt.num2date(self.datetime[0]) - dt.datetime(1970, 1, 1)).total_seconds()  # UTC: no DST jump
        return int(seconds // (UNIT_SECONDS.get(frame, 1) * compression))

    prenext = next  # trade before late-listed datas start; they are not ranked until ready

    # -- decisions ---------------------------------------------------------------------------
    def _closes(self, d: bt.feeds.DataBase) -> np.ndarray:
        return np.asarray(d.close.get(size=self.need), dtype=float)

    def _ready(self, d: bt.feeds.DataBase) -> bool:
        """Enough history for every feature (a data listed later than the others may not have it)."""
        return len(d) >= self.need

    def qbuffer(self, savemem: int = 0, replaying: bool = False) -> None:
        """With ``exactbars`` backtrader keeps only what indicators declared; the scores read
        ``need`` bars of each close directly, so keep that many."""
        super().qbuffer(savemem, replaying)
        for d in self.datas:
            d.minbuffer(self.need)

    def _lookback_return(self, d: bt.feeds.DataBase) -> float:
        """The ``lookback``-bar return; ``-inf`` for a data without enough history yet."""
        if not self._ready(d):
            return -math.inf
        return d.close[0] / d.close[-self.p.lookback] - 1.0

    def target_weights(self, k: int) -> dict[str, float]:
        """{data name: target fraction of the portfolio} for rebalance ``k``."""
        scores = self.scores(k)
        ranked = sorted(range(len(self.universe)), key=lambda n: (-scores[n], n))[: self.p.top]
        picks = [self.universe[n] for n in ranked]
        slots = self._slot_weights(picks)
        hurdle = self.p.threshold
        if self.proxy is not None and self._ready(self.proxy):
            hurdle = max(hurdle, self._lookback_return(self.proxy))
        weights: dict[str, float] = {}
        for d, w in zip(picks, slots):
            ret = self._lookback_return(d)
            holder = d if ret > hurdle else self.proxy
            if holder is not None:
                weights[holder._name] = weights.get(holder._name, 0.0) + w * self.p.fraction
        self._log("rebalance %d: %s", k, ", ".join(f"{n}={w:.3f}" for n, w in weights.items()) or "all cash")
        return weights

    def _slot_weights(self, picks: list) -> list[float]:
        if self.p.weighting == "equal":
            return [1.0 / len(picks)] * len(picks)
        vols = []
        for d in picks:
            if not self._ready(d):
                vols.append(math.nan)
                continue
            r = np.diff(np.log(self._closes(d)[-(self.p.vol_period + 1):]))
            vols.append(float(r.std()))
        inv = np.array([1.0 / v if v > 0 else 0.0 for v in vols])
        return (inv / inv.sum()).tolist() if inv.sum() > 0 else [1.0 / len(picks)] * len(picks)

    def scores(self, k: int) -> np.ndarray:
        """Ranking score of each universe asset at rebalance ``k`` (higher is better)."""
        momentum = np.array([self._lookback_return(d) for d in self.universe])
        if self.ml is None:
            return momentum
        blank = np.full(len(FEATURES), np.nan)
        feats = np.vstack([momentum_features(self._closes(d), self.p.lookback) if self._ready(d) else blank
                           for d in self.universe])
        prices = np.array([d.close[0] if self._ready(d) else np.nan for d in self.universe])
        proba = self.ml.update(k, feats, prices)
        if proba is None:
            return momentum
        return np.where(np.isfinite(momentum), proba, -math.inf)

    # -- orders ------------------------------------------------------------------------------
    def _order(self, weights: dict[str, float]) -> None:
        value = self.broker.getvalue()
        moves = []
        for d in self.datas:
            target = weights.get(d._name, 0.0)
            size = self.getposition(d).size
            current = size * d.close[0] / value if size and value > 0 else 0.0
            if target or current:
                moves.append((target - current, d, target))
        for _, d, target in sorted(moves, key=lambda m: m[0]):  # sells first, then buys
            order = self.order_target_percent(data=d, target=target)
            if order is not None and d.islive() and d._laststatus != d.LIVE:  # a live broker refuses it
                self._history.add(order.ref)

    def notify_order(self, order: bt.Order) -> None:
        if order.alive():
            return
        decided_on_history = order.ref in self._history
        self._history.discard(order.ref)
        if order.status not in (order.Margin, order.Rejected):
            return
        side = "BUY" if order.isbuy() else "SELL"
        if decided_on_history and order.status == order.Rejected:
            log.info("%s: %s order on %s refused: decided on a bar that is not live (history)", self._now(), side,
                     order.data._name)
            return
        log.warning("%s: %s order on %s was %s (not enough cash at the fill price?)", self._now(), side,
                    order.data._name, order.getstatusname())

    def _now(self) -> str:
        started = [d for d in self.datas if len(d)]
        return bt.num2date(max(d.datetime[0] for d in started)).isoformat(sep=" ") if started else "-"

    def _log(self, msg: str, *args: object) -> None:
        level = logging.INFO if self.p.verbose else logging.DEBUG
        if log.isEnabledFor(level):
            log.log(level, "%s " + msg, self._now(), *args)

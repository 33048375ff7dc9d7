"""Checks every btedge indicator passes, usable on your own indicators too.

- :func:`indicator_lines` runs an indicator inside cerebro in one engine mode and records each of
  its lines at every bar, from inside the strategy (so it works with ``exactbars`` too).
- :func:`assert_modes_agree`: ``runonce``, ``next``, streaming (no preload, as live) and
  ``exactbars`` give the same lines.
- :func:`assert_no_lookahead`: the truncation test. Output up to bar t is the same whether bars
  after t are absent or altered.

``make`` is a callable that receives the strategy and returns the indicator, e.g.
``lambda s: LaguerreFilter(s.data, gamma=0.5)``; ``frames`` is one OHLCV DataFrame or a list
of them (one feed each) indexed by timestamp.
"""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

import backtrader as bt
import numpy as np
import pandas as pd

MakeIndicator = Callable[[bt.Strategy], bt.Indicator]

#: Engine modes compared by :func:`assert_modes_agree`.
MODES: dict[str, dict] = {
    "runonce": dict(runonce=True, preload=True),
    "next": dict(runonce=False, preload=True),
    "stream": dict(runonce=False, preload=False),  # what a live feed forces
    "exactbars": dict(runonce=False, preload=False, exactbars=1),
}


def _as_list(frames: pd.DataFrame | Sequence[pd.DataFrame]) -> list[pd.DataFrame]:
    return [frames] if isinstance(frames, pd.DataFrame) else list(frames)


def _feed(df: pd.DataFrame) -> bt.feeds.DataBase:
    from btedge.feeds import FrameData

    return FrameData(dataname=df)


class _Recorder(bt.Strategy):
    params = (("make", None),)

    def __init__(self) -> None:
        self.ind = self.p.make(self)
        self.rows: list[tuple[float, ...]] = []

    def _record(self) -> None:
        self.rows.append(tuple(float(line[0]) for line in self.ind.lines))

    prenext = nextstart = next = _record


def indicator_lines(
    frames: pd.DataFrame | Sequence[pd.DataFrame], make: MakeIndicator, mode: str = "runonce"
) -> dict[str, np.ndarray]:
    """Run ``make`` over ``frames`` in one engine ``mode``; return {line name: values}."""
    cerebro = bt.Cerebro(stdstats=False, **MODES[mode])
    for df in _as_list(frames):
        cerebro.adddata(_feed(df))
    cerebro.addstrategy(_Recorder, make=make)
    strat = cerebro.run()[0]
    names = strat.ind.lines.getlinealiases()
    values = np.array(strat.rows, dtype=float).reshape(len(strat.rows), len(names))
    return {name: values[:, i] for i, name in enumerate(names)}


#: Relative tolerance on top of ``atol``: backtrader's own StdDev (mean of squares minus squared
#: mean) differs between its once and next paths by ~1e-13 relative on index-level prices.
RTOL = 1e-12


def _assert_close(a: np.ndarray, b: np.ndarray, atol: float, what: str, rtol: float = RTOL) -> None:
    if a.shape != b.shape:
        raise AssertionError(f"{what}: {a.shape[0]} bars vs {b.shape[0]} bars")
    same = np.isclose(a, b, atol=atol, rtol=rtol, equal_nan=True)
    if not same.all():
        i = int(np.argmin(same))
        raise AssertionError(f"{what}: first difference at bar {i}: {a[i]!r} vs {b[i]!r}")


def assert_modes_agree(
    frames: pd.DataFrame | Sequence[pd.DataFrame],
    make: MakeIndicator,
    modes: Iterable[str] = tuple(MODES),
    atol: float = 1e-9,
    rtol: float = RTOL,
) -> dict[str, np.ndarray]:
    """Every mode gives the same lines as ``runonce`` (``atol=rtol=0``: bit-identical);
    returns the runonce lines."""
    modes = list(modes)
    ref = indicator_lines(frames, make, modes[0])
    for mode in modes[1:]:
        got = indicator_lines(frames, make, mode)
        for name, values in ref.items():
            _assert_close(got[name], values, atol, f"line {name!r}, {mode} vs {modes[0]}", rtol)
    return ref


def alter_after(df: pd.DataFrame, cut: int, factor: float = 1.5, seed: int = 0) -> pd.DataFrame:
    """A copy whose rows from ``cut`` on are scaled and shuffled (still valid OHLCV)."""
    out = df.copy()
    rng = np.random.default_rng(seed)
    tail = out.iloc[cut:]
    scale = factor * (1.0 + 0.05 * rng.standard_normal(len(tail)))
    scale = np.clip(scale, 0.1, None)
    for col in ("open", "high", "low", "close"):
        if col in out.columns:
            out.iloc[cut:, out.columns.get_loc(col)] = tail[col].to_numpy()[::-1] * scale
    if {"high", "low", "open", "close"} <= set(out.columns):
        body = out.iloc[cut:][["open", "close"]]
        out.iloc[cut:, out.columns.get_loc("high")] = np.maximum(out.iloc[cut:]["high"], body.max(axis=1))
        out.iloc[cut:, out.columns.get_loc("low")] = np.minimum(out.iloc[cut:]["low"], body.min(axis=1))
    if "volume" in out.columns:
        out.iloc[cut:, out.columns.get_loc("volume")] = tail["volume"].to_numpy()[::-1]
    return out


def assert_no_lookahead(
    frames: pd.DataFrame | Sequence[pd.DataFrame],
    make: MakeIndicator,
    cuts: Sequence[int] | None = None,
    mode: str = "runonce",
    atol: float = 1e-9,
) -> None:
    """Truncation test: lines up to each cut are unchanged when later bars are removed or altered."""
    frames = _as_list(frames)
    n = min(len(df) for df in frames)
    cuts = list(cuts) if cuts is not None else sorted({n // 4, n // 2, (3 * n) // 4, n - 1})
    full = indicator_lines(frames, make, mode)
    for cut in cuts:
        if not 0 < cut < n:
            raise ValueError(f"cut {cut} outside (0, {n})")
        short = indicator_lines([df.iloc[:cut] for df in frames], make, mode)
        altered = indicator_lines([alter_after(df, cut) for df in frames], make, mode)
        for name, values in full.items():
            _assert_close(short[name], values[:cut], atol, f"line {name!r} truncated at {cut}")
            _assert_close(altered[name][:cut], values[:cut], atol, f"line {name!r} altered after {cut}")


class OrderLog(bt.Analyzer):
    """Records every order event as (bar time, data name, side, type, status, size, price)."""

    def start(self) -> None:
        self.events: list[tuple] = []

    def notify_order(self, order: bt.Order) -> None:
        if order.status in (order.Submitted, order.Accepted):
            return
        self.events.append((
            self.strategy.datetime.datetime(0), order.data._name, "buy" if order.isbuy() else "sell",
            order.getordername(), order.getstatusname(), round(order.executed.size or order.created.size, 9),
            round(order.executed.price, 9) if order.executed.price else None,
        ))

    def get_analysis(self) -> list[tuple]:
        return self.events


def order_log(
    strategy: type[bt.Strategy],
    frames: pd.DataFrame | Sequence[pd.DataFrame],
    params: dict | None = None,
    mode: str = "runonce",
    cash: float | None = None,
    commission: float | None = None,
) -> list[tuple]:
    """Run ``strategy`` in one engine ``mode`` and return its order events (see :class:`OrderLog`).

    ``cash`` and ``commission`` default to :class:`btedge.engine.BacktestConfig`'s."""
    from btedge.engine import BacktestConfig

    defaults = BacktestConfig()
    cash = defaults.cash if cash is None else cash
    commission = defaults.commission if commission is None else commission
    cerebro = bt.Cerebro(stdstats=False, **MODES[mode])
    for i, df in enumerate(_as_list(frames)):
        cerebro.adddata(_feed(df), name=f"data{i}")
    cerebro.broker.setcash(cash)
    cerebro.broker.setcommission(commission=commission)
    cerebro.addstrategy(strategy, **(params or {}))
    cerebro.addanalyzer(OrderLog, _name="orders")
    return cerebro.run()[0].analyzers.orders.get_analysis()


def assert_orders_agree_and_no_lookahead(
    strategy: type[bt.Strategy],
    frames: pd.DataFrame | Sequence[pd.DataFrame],
    params: dict | None = None,
    cuts: Sequence[int] | None = None,
) -> list[tuple]:
    """A strategy's orders are the same in every engine mode, and those before bar t do not
    change when bars from t on are removed or altered. Returns the runonce order log."""
    frames = _as_list(frames)
    ref = order_log(strategy, frames, params, "runonce")
    for mode in list(MODES)[1:]:
        got = order_log(strategy, frames, params, mode)
        if got != ref:
            diff = next((i for i, (a, b) in enumerate(zip(got, ref)) if a != b), min(len(got), len(ref)))
            raise AssertionError(f"orders differ in {mode} mode from event {diff}: "
                                 f"{got[diff:diff + 1]} vs {ref[diff:diff + 1]}")
    n = min(len(df) for df in frames)
    for cut in cuts or (n // 3, (2 * n) // 3):
        # events stamped before bar cut-1 are decided and filled on bars the truncated run also has
        stop = frames[0].index[cut - 1]
        before = [e for e in ref if e[0] < stop]
        for variant in ([df.iloc[:cut] for df in frames], [alter_after(df, cut) for df in frames]):
            got = [e for e in order_log(strategy, variant, params, "runonce") if e[0] < stop]
            if got != before:
                raise AssertionError(f"orders before {stop} change with the bars after it")
    return ref

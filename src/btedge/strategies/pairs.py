"""Statistical-arbitrage pairs trading on the z-score of a cointegrated spread."""
from __future__ import annotations

import logging
import math

import backtrader as bt

from btedge.indicators.pairs import Cointegration, HedgeRatio, ZScore
from btedge.strategies.registry import register

log = logging.getLogger(__name__)

NEUTRALS = ("dollar", "beta")


@register("pairs")
class PairsTrading(bt.Strategy):
    """
    Trade the spread ``y - beta * x - alpha`` of two datas (y = data0, x = data1) back to its mean.

    On each bar's close (``[0]`` values only; market orders fill at the next bar's open):

      - flat, the pair cointegrated (Engle-Granger p-value < ``pvalue``), ``beta > 0`` and
        ``entry <= |z| < stop``: z <= -entry buys the spread (long y, short x), z >= entry
        sells it (short y, long x)
      - in a position: both legs are closed together when z crosses back inside ``exit``
        (z >= -exit for a long spread, z <= exit for a short one), when ``|z| >= stop``, after
        ``max_hold`` bars, or (``exit_on_break``) when the p-value rises to ``pvalue`` or above

    Each leg is its own broker order (two orders to enter, two to exit). With
    ``neutral='dollar'`` both legs get ``gross / 2`` of the portfolio value (dollar-neutral);
    with ``neutral='beta'`` the x leg is ``beta`` units per unit of y (hedge-ratio neutral),
    scaled to a gross exposure of ``gross`` times the value. The side held is read from the
    broker's positions on every bar: legs out of balance (a leg rejected, one leg alone, both on
    one side) are both flattened on the next bar, and an entry refused whole leaves it flat. The
    two datas must share their timestamps (``btedge.feeds.align_frames``).

    Live (``btedge.live.IBBroker``): orders decided on backfill bars are refused by the broker
    (logged here at INFO, not as a failed leg), so a restarted session resumes the spread its
    journal holds and decides again on its first live bar (its ``max_hold`` count starts there).

    Params:
      - ``hedge_period`` (default: ``60``), ``mode`` (``'ols'``), ``delta`` (``1e-4``),
        ``obs_var`` (``1e-3``): the hedge ratio (:class:`btedge.indicators.pairs.HedgeRatio`)
      - ``zperiod`` (default: ``20``): z-score window
      - ``entry`` (default: ``2.0``), ``exit`` (default: ``0.5``), ``stop`` (default: ``4.0``):
        z-score thresholds, ``0 <= exit < entry < stop``
      - ``max_hold`` (default: ``30``): bars before a forced exit; 0 disables it
      - ``coint_period`` (default: ``120``), ``retest`` (default: ``20``): cointegration window
        and bars between tests
      - ``pvalue`` (default: ``0.05``): trade only while the test's p-value is below this
      - ``exit_on_break`` (default: ``False``): also exit when cointegration is lost
      - ``neutral`` (default: ``'dollar'``): ``'dollar'`` or ``'beta'`` sizing (see above)
      - ``gross`` (default: ``1.0``): gross exposure (both legs) as a multiple of value, (0, 4]
      - ``integer`` (default: ``True``): whole units
      - ``verbose`` (default: ``False``): log orders at INFO instead of DEBUG

    See:
      - Gatev, Goetzmann, Rouwenhorst, "Pairs trading", Review of Financial Studies 19 (2006)
      - Vidyamurthy, *Pairs Trading: Quantitative Methods and Analysis*, Wiley, 2004
    """

    params = (
        ("hedge_period", 60),
        ("mode", "ols"),
        ("delta", 1e-4),
        ("obs_var", 1e-3),
        ("zperiod", 20),
        ("entry", 2.0),
        ("exit", 0.5),
        ("stop", 4.0),
        ("max_hold", 30),
        ("coint_period", 120),
        ("retest", 20),
        ("pvalue", 0.05),
        ("exit_on_break", False),
        ("neutral", "dollar"),
        ("gross", 1.0),
        ("integer", True),
        ("verbose", False),
    )

    def __init__(self) -> None:
        self._validate()
        p = self.p
        self.y, self.x = self.datas[0], self.datas[1]
        self.z = ZScore(self.y, self.x, period=p.zperiod, hedge_period=p.hedge_period, mode=p.mode,
                        delta=p.delta, obs_var=p.obs_var)
        # its own instance: lines of indicators nested in ZScore are not advanced for the strategy
        self.hedge = HedgeRatio(self.y, self.x, period=p.hedge_period, mode=p.mode, delta=p.delta,
                                obs_var=p.obs_var)
        self.coint = Cointegration(self.y, self.x, period=p.coint_period, retest=p.retest)
        self._pending: list[bt.Order] = []
        self._side = 0  # +1 long spread, -1 short spread, 0 flat
        self._held = 0
        self._history: set[int] = set()  # refs of orders decided on a bar a live feed marked as history
        self.entries = 0

    def _validate(self) -> None:
        p = self.p
        if len(self.datas) != 2:
            raise ValueError(f"pairs needs exactly two datas (y, x), got {len(self.datas)}")
        if not 0.0 <= p.exit < p.entry < p.stop:
            raise ValueError(f"need 0 <= exit < entry < stop, got exit={p.exit}, entry={p.entry}, stop={p.stop}")
        if not 0.0 < p.pvalue <= 1.0:
            raise ValueError(f"pvalue must be in (0, 1], got {p.pvalue!r}")
        if p.neutral not in NEUTRALS:
            raise ValueError(f"neutral must be one of {NEUTRALS}, got {p.neutral!r}")
        if not 0.0 < p.gross <= 4.0:
            raise ValueError(f"gross must be in (0, 4], got {p.gross!r}")
        if p.max_hold < 0:
            raise ValueError(f"max_hold must be >= 0 (0 disables it), got {p.max_hold!r}")

    # -- decisions ---------------------------------------------------------------------------
    def next(self) -> None:
        self._check_aligned()
        if self._pending:
            return
        held = self._held_side()
        if held is None:
            log.warning("%s: the legs are out of balance (%s %g, %s %g): both legs will be flattened", self._now(),
                        self.y._name or "y", self.getposition(self.y).size, self.x._name or "x",
                        self.getposition(self.x).size)
            self._flatten("a leg failed")
            return
        if held != self._side:  # an entry refused whole, or a restart holding the spread it traded
            self._side, self._held = held, 0
        if self._side:
            self._held += 1
            reason = self.exit_reason()
            if reason:
                self._flatten(reason)
            return
        side = self.entry_side()
        if side:
            self._enter(side)

    def entry_side(self) -> int:
        """+1 to buy the spread, -1 to sell it, 0 to stay flat (this bar's values only)."""
        z, pv, beta = self.z[0], self.coint.pvalue[0], self.hedge.beta[0]
        if not (math.isfinite(z) and math.isfinite(beta) and pv < self.p.pvalue and beta > 0.0):
            return 0
        if self.p.entry <= abs(z) < self.p.stop:
            return -1 if z > 0 else 1
        return 0

    def exit_reason(self) -> str:
        """Why the open spread position should close now ('' to keep it)."""
        p, z = self.p, self.z[0]
        if not math.isfinite(z):
            return "z-score undefined"
        if abs(z) >= p.stop:
            return f"stop |z|={abs(z):.2f}"
        if self._side * z >= -p.exit:
            return f"reverted z={z:.2f}"
        if p.max_hold and self._held >= p.max_hold:
            return f"held {self._held} bars"
        if p.exit_on_break and not self.coint.pvalue[0] < p.pvalue:
            return f"cointegration lost p={self.coint.pvalue[0]:.3f}"
        return ""

    # -- orders ------------------------------------------------------------------------------
    def leg_sizes(self) -> tuple[float, float]:
        """Units of y and x for one spread position (both >= 0; sign comes from the side)."""
        py, px, beta = self.y.close[0], self.x.close[0], self.hedge.beta[0]
        value = self.broker.getvalue()
        if not (py > 0.0 and px > 0.0 and value > 0.0 and beta > 0.0):
            return 0.0, 0.0
        if self.p.neutral == "dollar":
            ny, nx = self.p.gross * value / 2.0 / py, self.p.gross * value / 2.0 / px
        else:
            ny = self.p.gross * value / (py + beta * px)
            nx = beta * ny
        if self.p.integer:
            ny, nx = math.floor(ny), math.floor(nx)
        return ny, nx

    def _enter(self, side: int) -> None:
        ny, nx = self.leg_sizes()
        if ny <= 0 or nx <= 0:
            return
        buy_y = side > 0
        self._pending = [
            self.buy(data=self.y, size=ny) if buy_y else self.sell(data=self.y, size=ny),
            self.sell(data=self.x, size=nx) if buy_y else self.buy(data=self.x, size=nx),
        ]
        self._side, self._held = side, 0
        self._mark_history()
        self.entries += 1
        self._log("enter %s spread z=%.2f beta=%.4f p=%.3f: %g y, %g x", "long" if buy_y else "short",
                  self.z[0], self.hedge.beta[0], self.coint.pvalue[0], ny, nx)

    def _flatten(self, reason: str) -> None:
        self._log("exit (%s)", reason)
        orders = [self.close(data=d) for d in (self.y, self.x)]
        self._pending = [o for o in orders if o is not None]
        self._side, self._held = 0, 0
        self._mark_history()

    def notify_order(self, order: bt.Order) -> None:
        if order.status in (order.Submitted, order.Accepted):
            return
        self._log("%s %s size=%.6g status=%s", order.data._name or "data",
                  "BUY" if order.isbuy() else "SELL", order.executed.size or order.created.size,
                  order.getstatusname())
        if order in self._pending:
            self._pending.remove(order)
        if order.ref in self._history and not order.alive():
            self._history.discard(order.ref)
            if order.status == order.Rejected:
                log.info("%s: %s order on %s refused: decided on a bar that is not live (history)", self._now(),
                         "BUY" if order.isbuy() else "SELL", order.data._name)
                return
        if order.status in (order.Margin, order.Rejected, order.Canceled, order.Expired):
            log.warning("%s: %s order on %s was %s", self._now(), "BUY" if order.isbuy() else "SELL",
                        order.data._name, order.getstatusname())

    def _held_side(self) -> int | None:
        """The spread the positions hold: +1 long y / short x, -1 the reverse, 0 flat, None when
        the legs are out of balance (one leg alone, or both on one side). Read from the broker,
        so an entry refused whole leaves the strategy flat and a restarted live session resumes
        the spread its journal holds instead of trading it away."""
        y, x = self.getposition(self.y).size, self.getposition(self.x).size
        if y == 0 and x == 0:
            return 0
        if y > 0 > x:
            return 1
        if y < 0 < x:
            return -1
        return None

    # -- helpers -----------------------------------------------------------------------------
    def _mark_history(self) -> None:
        """Remember the pending orders decided on a bar that a live feed delivers as history
        (not LIVE): a live broker refuses them, which is no failed leg. Backtests: never."""
        if any(d.islive() and d._laststatus != d.LIVE for d in (self.y, self.x)):
            self._history.update(o.ref for o in self._pending)

    def _check_aligned(self) -> None:
        if self.y.datetime[0] != self.x.datetime[0]:
            raise ValueError(
                f"pairs: the legs are at different timestamps ({self.y.datetime.datetime(0)} vs "
                f"{self.x.datetime.datetime(0)}). Fix: align them with btedge.feeds.align_frames"
            )

    def _now(self) -> str:
        return self.y.datetime.datetime(0).isoformat(sep=" ")

    def _log(self, msg: str, *args: object) -> None:
        log.log(logging.INFO if self.p.verbose else logging.DEBUG, "%s " + msg, self._now(), *args)

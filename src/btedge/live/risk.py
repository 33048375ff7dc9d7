"""Risk gates in front of every live order, and the paper/live account guard.

Pure logic with an injectable clock, so each gate is unit-tested without a connection. The
broker asks :meth:`RiskGate.check` before sending anything; every decision is logged, and
account numbers only ever appear masked (:func:`mask_account`).
"""
from __future__ import annotations

import collections
import datetime as dt
import logging
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger(__name__)

PAPER_PREFIX = "DU"


class LiveTradingRefused(RuntimeError):
    """A live (non-paper) account was found without ``--live`` and an explicit confirmation."""


def mask_account(account: str) -> str:
    """``'DU1234567'`` -> ``'DU*****67'``: enough to tell accounts apart, never the number."""
    account = str(account or "")
    if len(account) <= 4:
        return "*" * len(account)
    return account[:2] + "*" * (len(account) - 4) + account[-2:]


_ACCOUNT_ID = re.compile(r"\b(?:DU|DF|U|F|I)\d{5,9}\b")


class MaskAccounts(logging.Filter):
    """Logging filter that masks IB account ids (``DU1234567`` -> ``DU*****67``) in every record,
    including the client library's own logs (which print positions and trades with the account).
    Install it on the handlers: ``handler.addFilter(MaskAccounts())``."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        masked = _ACCOUNT_ID.sub(lambda m: mask_account(m.group(0)), text)
        if masked != text:
            record.msg, record.args = masked, ()
        return True


def is_paper(account: str) -> bool:
    """IB paper-trading accounts start with ``DU``."""
    return str(account).upper().startswith(PAPER_PREFIX)


def check_accounts(accounts: Iterable[str], *, live: bool = False, confirmed: bool = False) -> None:
    """Refuse a live account unless both ``live`` and ``confirmed`` are set.

    Raises:
        LiveTradingRefused: a non-paper account without both flags, or no account at all.
    """
    accounts = list(accounts)
    if not accounts:
        raise LiveTradingRefused("IB reported no managed account; refusing to trade")
    real = [a for a in accounts if not is_paper(a)]
    if not real:
        log.info("paper account(s) %s: trading allowed", ", ".join(map(mask_account, accounts)))
        return
    masked = ", ".join(map(mask_account, real))
    if not (live and confirmed):
        raise LiveTradingRefused(
            f"account(s) {masked} are LIVE (not DU paper accounts): pass --live and confirm "
            "(prompt or --i-understand-live-trading) to trade real money"
        )
    log.warning("LIVE account(s) %s: trading real money (--live confirmed)", masked)


@dataclass(frozen=True)
class RiskLimits:
    """Hard limits; ``inf`` disables a limit.

    Args:
        max_position: largest absolute position, in units, per instrument.
        max_order_size: largest absolute size of one order.
        max_daily_loss: loss from the trading day's first portfolio value (account currency)
            that flattens everything and halts new entries until the next trading day (the
            date in the exchange's time zone: :meth:`RiskGate.set_time_zone`).
        kill_switch: a file whose existence halts new entries and flattens.
        reject_cooldown: seconds without new entries after a rejected order.
    """

    max_position: float = math.inf
    max_order_size: float = math.inf
    max_daily_loss: float = math.inf
    kill_switch: Path | None = None
    reject_cooldown: float = 60.0

    def __post_init__(self) -> None:
        for name in ("max_position", "max_order_size", "max_daily_loss"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 (inf disables it), got {getattr(self, name)!r}")
        if not self.reject_cooldown >= 0:
            raise ValueError(f"reject_cooldown must be >= 0 seconds, got {self.reject_cooldown!r}")


@dataclass(frozen=True)
class Decision:
    """The answer of a gate: ``allowed``, why, and the signed ``size`` that may go out (the
    request, or the request clipped to a limit)."""

    allowed: bool
    reason: str
    size: float = 0.0

    def __bool__(self) -> bool:
        return self.allowed


class RiskRecord(Protocol):
    """Where the gate persists its state (the live :class:`~btedge.live.journal.Journal`)."""

    def set_daily_baseline(self, day: str, value: float) -> float: ...
    def set_risk(self, key: str, value: str) -> None: ...
    def risk_value(self, key: str) -> str: ...


ACTIVE, REDUCING, HALTED = "active", "reducing", "halted"
_NUMBER = re.compile(r"[-+]?\d[\d.e+-]*")


class RiskGate:
    """Checks every strategy order against :class:`RiskLimits` and keeps the trading state.

    Trading states (as Nautilus Trader's): ``active``; ``reducing`` (after a reject, for
    ``reject_cooldown`` seconds: only orders that reduce the projected position go out);
    ``halted`` (kill switch, daily loss, account change: no strategy order goes out at all; the
    broker cancels and flattens by itself when :attr:`flatten_required`).

    The projected position is the position plus every working order. An order that would take it
    beyond ``max_position`` is clipped to reach the limit exactly; one larger than
    ``max_order_size`` is clipped to it (bracket legs are refused instead: a partial leg is wrong).
    An order left with nothing is refused. Each kind of refusal or clip is logged once at WARNING,
    then at DEBUG, and counted (:meth:`status`). With :meth:`attach`, the daily-loss baseline
    (one per trading day, the first value seen that day) and the halt persist across restarts.
    The trading day is the calendar date in :attr:`time_zone` (the broker sets the exchange's,
    IB's ``timeZoneId``; UTC until then).
    """

    def __init__(self, limits: RiskLimits | None = None, clock: Callable[[], float] = time.time) -> None:
        self.limits = limits or RiskLimits()
        self._clock = clock
        self._cooldown_until = -math.inf
        self._day: str | None = None
        self._day_start_value = math.nan
        self._record: RiskRecord | None = None
        self._zone: dt.tzinfo = dt.timezone.utc
        self.time_zone = "UTC"
        self.halted = False
        self.halt_reason = ""
        self.flatten_required = False
        self.counters: collections.Counter[str] = collections.Counter()
        self._warned: set[str] = set()
        self.last_message = ""

    # -- persistence ---------------------------------------------------------------------------
    def attach(self, record: RiskRecord) -> None:
        """Persist to ``record`` from now on, and take up a halt it holds from an earlier process."""
        self._record = record
        self._day = None
        reason = record.risk_value("halt")
        if reason and not self.halted:
            self.halted, self.halt_reason = True, reason
            self.flatten_required = record.risk_value("halt_flatten") == "1"
            log.error("risk: still HALTED from an earlier run (%s); see docs/live_trading.md to resume", reason)

    def set_time_zone(self, name: str) -> bool:
        """Count trading days in the time zone ``name`` (IB's ``timeZoneId``, e.g.
        ``'US/Eastern'``); an unknown name keeps UTC (logged). True if the zone was taken."""
        try:
            self._zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("risk: unknown exchange time zone %r: the trading day stays the UTC date", name)
            return False
        self.time_zone = name
        log.info("risk: the trading day (daily-loss baseline) is the date in %s", name)
        return True

    def trading_day(self) -> str:
        """Today's trading day (ISO date in :attr:`time_zone`)."""
        return dt.datetime.fromtimestamp(self._clock(), self._zone).date().isoformat()

    # -- state -----------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """``'active'``, ``'reducing'`` or ``'halted'``."""
        if self.halted:
            return HALTED
        return REDUCING if self._clock() < self._cooldown_until else ACTIVE

    def status(self) -> dict[str, object]:
        """State, halt reason, and the counts of refused and clipped orders, for a status line."""
        return {"state": self.state, "reason": self.halt_reason, "refused": self.counters["refused"],
                "clipped": self.counters["clipped"], "last": self.last_message}

    def kill_switch_on(self) -> bool:
        """True when the kill-switch file exists."""
        path = self.limits.kill_switch
        return path is not None and Path(path).exists()

    def resume_requested(self) -> bool:
        """True when ``<kill_switch>.resume`` exists (the documented way to resume a halt)."""
        path = self.limits.kill_switch
        return path is not None and Path(f"{path}.resume").exists()

    # -- orders ----------------------------------------------------------------------------------
    def check(self, name: str, size: float, position: float, working: float = 0.0,
              clip: bool = True) -> Decision:
        """May a strategy order of signed ``size`` go out with ``position`` held and ``working``
        (signed, unfilled) in orders already sent? ``clip=False`` refuses instead of clipping."""
        decision = self._decide(size, position + working, clip)
        if decision.allowed and decision.size == size:
            log.info("risk ALLOW %s size=%+g projected=%+g: %s", name, size, position + working, decision.reason)
            return decision
        kind = "clipped" if decision.allowed else "refused"
        self.counters[kind] += 1
        self.last_message = (f"{name} order {size:+g} {kind}" + (f" to {decision.size:+g}" if decision.allowed else "")
                             + f": {decision.reason}")
        key = f"{kind}:{_NUMBER.sub('#', decision.reason)}"  # one WARNING per kind of message
        first = key not in self._warned
        self._warned.add(key)
        log.log(logging.WARNING if first else logging.DEBUG, "risk: %s (%d %s so far%s)", self.last_message,
                self.counters[kind], kind, "; repeats are logged at DEBUG" if first else "")
        return decision

    def _decide(self, size: float, projected: float, clip: bool) -> Decision:
        if size == 0:
            return Decision(False, "zero size")
        if self.kill_switch_on():
            self.halt(f"kill-switch file {self.limits.kill_switch} exists")
        if self.halted:
            return Decision(False, f"halted: {self.halt_reason}")
        after = projected + size
        reduces = abs(after) <= abs(projected) and after * projected >= 0
        if self.state == REDUCING and not reduces:
            return Decision(False, f"reducing only: cooling down after a reject for "
                                   f"{self._cooldown_until - self._clock():.0f} s")
        allowed, reasons = size, []
        limit = self.limits.max_position
        if abs(after) > limit and not reduces:
            allowed = max(-limit, min(limit, after)) - projected
            reasons.append(f"position would be {after:+g}, beyond max_position {limit:g}")
        if abs(allowed) > self.limits.max_order_size:
            allowed = math.copysign(self.limits.max_order_size, allowed)
            reasons.append(f"order size {abs(size):g} > max_order_size {self.limits.max_order_size:g}")
        if not reasons:
            return Decision(True, "within limits", size)
        if not clip or allowed * size <= 0:
            return Decision(False, "; ".join(reasons))
        return Decision(True, "; ".join(reasons), allowed)

    def split(self, size: float) -> list[float]:
        """A broker order (a flatten) as orders no larger than ``max_order_size``."""
        cap = self.limits.max_order_size
        parts, left = [], abs(size)
        while left > 1e-9:
            part = min(cap, left)
            parts.append(math.copysign(part, size))
            left -= part
        return parts

    def record_reject(self) -> None:
        """Start the cooldown (reducing only) after a rejected order."""
        self._cooldown_until = self._clock() + self.limits.reject_cooldown
        log.warning("risk: order rejected, reducing only for %.0f s", self.limits.reject_cooldown)

    # -- halts -------------------------------------------------------------------------------------
    def update_value(self, value: float) -> bool:
        """Feed the portfolio value; True exactly once when a halt that flattens starts."""
        day = self.trading_day()
        if day != self._day and math.isfinite(value):
            self._new_day(day, value)
        if self.kill_switch_on():
            return self.halt(f"kill-switch file {self.limits.kill_switch} exists")
        if self.halted:
            return False
        loss = self._day_start_value - value
        if loss > self.limits.max_daily_loss:
            return self.halt(f"daily loss {loss:.2f} > max_daily_loss {self.limits.max_daily_loss:g}")
        return False

    def _new_day(self, day: str, value: float) -> None:
        if self._day is not None and self.halt_reason.startswith("daily loss"):
            log.info("risk: new trading day %s (%s), daily-loss halt lifted", day, self.time_zone)
            self._clear_halt()
        self._day = day
        self._day_start_value = self._record.set_daily_baseline(day, value) if self._record else value
        if self._record is not None and self.halt_reason.startswith("daily loss") \
                and self._record.risk_value("halt_day") not in ("", day):
            log.info("risk: the daily-loss halt was for an earlier day: lifted")
            self._clear_halt()

    def halt(self, reason: str, flatten: bool = True, persist: bool = True) -> bool:
        """Halt trading; True if this call started the halt and it flattens.

        ``persist=False`` keeps the halt out of the journal: a halt about one connection (the
        account changed across a reconnect) ends with the process, and the account guard runs
        again on the next start."""
        if self.halted:
            return False
        self.halted, self.halt_reason, self.flatten_required = True, reason, flatten
        if self._record is not None and persist:
            self._record.set_risk("halt", reason)
            self._record.set_risk("halt_flatten", "1" if flatten else "")
            self._record.set_risk("halt_day", self._day or "")
        log.error("risk: HALT (%s): %s", reason, "cancelling, flattening and refusing every strategy order"
                  if flatten else "refusing every order")
        return flatten

    def resume(self) -> bool:
        """Lift a halt (refused while the kill-switch file exists); True if trading resumes."""
        if self.kill_switch_on():
            log.error("risk: cannot resume: the kill-switch file %s still exists", self.limits.kill_switch)
            return False
        if self.halted:
            log.warning("risk: trading resumed (was halted: %s)", self.halt_reason)
            self._clear_halt()
        return True

    def _clear_halt(self) -> None:
        self.halted, self.halt_reason, self.flatten_required = False, "", False
        self._warned.clear()
        if self._record is not None:
            for key in ("halt", "halt_flatten", "halt_day"):
                self._record.set_risk(key, "")

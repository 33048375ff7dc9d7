"""Risk gates in front of every live order, and the paper/live account guard.

Pure logic with an injectable clock, so each gate is unit-tested without a connection. The
broker asks :meth:`RiskGate.check` before sending anything; every decision is logged, and
account numbers only ever appear masked (:func:`mask_account`).
"""
from __future__ import annotations

import datetime as dt
import logging
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

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
        max_daily_loss: loss from the day's first portfolio value (account currency) that
            flattens everything and halts new entries until the next UTC day.
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
    """The answer of a gate: ``allowed`` and why."""

    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


class RiskGate:
    """Checks every order against :class:`RiskLimits` and tracks the halt state.

    Orders that only reduce a position are always allowed (a halt must be able to flatten);
    everything else passes, in order: kill switch, daily-loss halt, reject cooldown, order
    size, resulting position.
    """

    def __init__(self, limits: RiskLimits | None = None, clock: Callable[[], float] = time.time) -> None:
        self.limits = limits or RiskLimits()
        self._clock = clock
        self._cooldown_until = -math.inf
        self._day: dt.date | None = None
        self._day_start_value = math.nan
        self.halted = False
        self.halt_reason = ""

    def kill_switch_on(self) -> bool:
        """True when the kill-switch file exists."""
        path = self.limits.kill_switch
        return path is not None and Path(path).exists()

    def check(self, name: str, size: float, position: float) -> Decision:
        """May an order of signed ``size`` go out while holding ``position`` of ``name``?"""
        decision = self._decide(size, position)
        level = logging.INFO if decision.allowed else logging.WARNING
        log.log(level, "risk %s: %s size=%+g position=%+g: %s", "ALLOW" if decision else "DENY",
                name, size, position, decision.reason)
        return decision

    def _decide(self, size: float, position: float) -> Decision:
        if size == 0:
            return Decision(False, "zero size")
        after = position + size
        if abs(after) <= abs(position) and after * position >= 0:
            return Decision(True, "reduces the position")
        if self.kill_switch_on():
            self._halt(f"kill-switch file {self.limits.kill_switch} exists")
            return Decision(False, f"kill switch: {self.limits.kill_switch} exists")
        if self.halted:
            return Decision(False, f"halted: {self.halt_reason}")
        if self._clock() < self._cooldown_until:
            return Decision(False, f"cooling down after a reject for {self._cooldown_until - self._clock():.0f} s")
        if abs(size) > self.limits.max_order_size:
            return Decision(False, f"order size {abs(size):g} > max_order_size {self.limits.max_order_size:g}")
        if abs(after) > self.limits.max_position:
            return Decision(False, f"position would be {after:+g}, beyond max_position {self.limits.max_position:g}")
        return Decision(True, "within limits")

    def record_reject(self) -> None:
        """Start the cooldown after a rejected order."""
        self._cooldown_until = self._clock() + self.limits.reject_cooldown
        log.warning("risk: order rejected, no new entries for %.0f s", self.limits.reject_cooldown)

    def update_value(self, value: float) -> bool:
        """Feed the portfolio value; True exactly once when a halt starts (flatten now)."""
        today = dt.datetime.fromtimestamp(self._clock(), dt.timezone.utc).date()
        if today != self._day and math.isfinite(value):
            if self._day is not None and self.halt_reason.startswith("daily loss"):
                self.halted, self.halt_reason = False, ""
                log.info("risk: new UTC day %s, daily-loss halt lifted", today)
            self._day, self._day_start_value = today, value
        if self.halted:
            return False
        if self.kill_switch_on():
            return self._halt(f"kill-switch file {self.limits.kill_switch} exists")
        loss = self._day_start_value - value
        if loss > self.limits.max_daily_loss:
            return self._halt(f"daily loss {loss:.2f} > max_daily_loss {self.limits.max_daily_loss:g}")
        return False

    def _halt(self, reason: str) -> bool:
        if self.halted:
            return False
        self.halted, self.halt_reason = True, reason
        log.error("risk: HALT (%s): flattening and refusing new entries", reason)
        return True

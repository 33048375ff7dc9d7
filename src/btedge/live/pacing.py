"""One scheduler for IB's historical-data pacing rules, shared by every feed of a store.

IB answers error 162 ("pacing violation") and may disconnect a client that makes an identical
historical request within 15 seconds, more than 60 historical requests within 10 minutes, or
six or more requests for the same contract and bar type within 2 seconds. Feeds ask
:meth:`HistoricalPacer.wait` before each request and record it with :meth:`HistoricalPacer.sent`;
a request that must wait is retried later, never sent early. The clock is injectable so the
rules are unit-tested without sleeping.

See: https://interactivebrokers.github.io/tws-api/historical_limitations.html
"""
from __future__ import annotations

import collections
import time
from typing import Callable, Hashable

IDENTICAL_GAP = 15.0
WINDOW_SECONDS = 600.0
WINDOW_MAX = 60
BURST_SECONDS = 2.0
BURST_MAX = 5


class HistoricalPacer:
    """Spaces historical requests so none breaks IB's pacing rules.

    Args:
        clock: seconds, monotonic (default :func:`time.monotonic`).
        identical_gap: least seconds between two identical requests.
        window, window_max: at most ``window_max`` requests in any ``window`` seconds.
        burst, burst_max: at most ``burst_max`` requests for one contract in ``burst`` seconds.

    A request's ``key`` is everything that makes two requests identical (contract, end time,
    duration, bar size, what to show, RTH flag, keepUpToDate); ``contract`` is its contract part.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, identical_gap: float = IDENTICAL_GAP,
                 window: float = WINDOW_SECONDS, window_max: int = WINDOW_MAX,
                 burst: float = BURST_SECONDS, burst_max: int = BURST_MAX) -> None:
        if window_max < 1 or burst_max < 1:
            raise ValueError(f"window_max and burst_max must be >= 1, got {window_max}, {burst_max}")
        self.clock = clock
        self.identical_gap, self.window, self.window_max = identical_gap, window, window_max
        self.burst, self.burst_max = burst, burst_max
        self._last_identical: dict[Hashable, float] = {}
        self._sent: collections.deque[tuple[float, Hashable]] = collections.deque()
        self.sent_count = 0
        self.deferred_count = 0

    def wait(self, key: Hashable, contract: Hashable = None) -> float:
        """Seconds until a request ``key`` may be sent (0: now)."""
        now = self.clock()
        self._forget(now)
        waits = [0.0]
        last = self._last_identical.get(key)
        if last is not None:
            waits.append(last + self.identical_gap - now)
        if len(self._sent) >= self.window_max:
            waits.append(self._sent[len(self._sent) - self.window_max][0] + self.window - now)
        if contract is not None:
            recent = [t for t, c in self._sent if c == contract and t > now - self.burst]
            if len(recent) >= self.burst_max:
                waits.append(recent[len(recent) - self.burst_max] + self.burst - now)
        wait = max(waits)
        if wait > 0:
            self.deferred_count += 1
        return wait

    def sent(self, key: Hashable, contract: Hashable = None) -> None:
        """Record that request ``key`` (for ``contract``) was sent now."""
        now = self.clock()
        self._last_identical[key] = now
        self._sent.append((now, contract))
        self.sent_count += 1

    def _forget(self, now: float) -> None:
        while self._sent and self._sent[0][0] <= now - self.window:
            self._sent.popleft()
        stale = [k for k, t in self._last_identical.items() if t <= now - self.identical_gap]
        for key in stale:
            del self._last_identical[key]

"""IBConfig: every setting of a live session's connection, watchdogs and state, in one frozen value.

The CLI (``btedge-live``) builds it from its flags, the benchmarks and tests build it directly,
and :func:`btedge.live.session.build_session` hands it to the store, the feeds and the broker, so
no caller sets a connection detail anywhere else. ``dataclasses.replace(config, port=4002)``
makes a changed copy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class IBConfig:
    """
    Connection, watchdog and state settings of one live session.

    Params:
      - ``host``, ``port``, ``client_id``: where TWS / IB Gateway listens (7497 paper TWS,
        4002 paper Gateway) and this program's API client id
      - ``client``: ``'ib_async'`` or ``'ib_insync'``; None: ib_async if installed
      - ``timeout`` (default ``10``): seconds for a connect and for each request's answer
      - ``connect_attempts`` (default ``3``): tries for the FIRST connection (a wrong port fails
        fast); a lost connection is retried without a limit
      - ``backoff``, ``backoff_max`` (default ``1``, ``30``): first and largest wait between
        connection tries, in seconds (doubling)
      - ``max_outage`` (default ``None``: never): seconds without a connection after which the
        session ends with :class:`~btedge.live.store.OutageExceeded` (CLI exit code 4)
      - ``request_retries`` (default ``2``): an unanswered request is sent again this many times
        (each after ``timeout`` s, logged at WARNING) before the connection counts as broken
      - ``ack_timeout`` (default ``10``): seconds an order may stay unacknowledged before a
        WARNING and an open-orders status query
      - ``stall_periods`` (default ``3``): bar periods without any update of a live stream,
        while the market is open, before a WARNING and a resubscription
      - ``stale_periods`` (default ``2``): a live bar older than this many bar periods when it
        reaches the strategy is not traded (the feed reports DELAYED for it)
      - ``lag_periods`` (default ``1``): a strategy whose bars reach it later than this many
        bar periods after they completed is logged at WARNING with its lag
      - ``coalesce_seconds`` (default ``5``): connectivity events (1100/1101/1102/2110) within
        this window of a resubscription send nothing new
      - ``identical_gap`` (default ``15``): least seconds between two identical historical
        requests (IB's pacing rule; lower it only against a fake gateway)
      - ``state_dir``, ``run_name``: where the order journal lives and the run it belongs to
        (None: the broker's documented defaults)
    """

    host: str = "127.0.0.1"
    port: int = 7497
    client_id: int = 1
    client: str | None = None
    timeout: float = 10.0
    connect_attempts: int = 3
    backoff: float = 1.0
    backoff_max: float = 30.0
    max_outage: float | None = None
    request_retries: int = 2
    ack_timeout: float = 10.0
    stall_periods: float = 3.0
    stale_periods: float = 2.0
    lag_periods: float = 1.0
    coalesce_seconds: float = 5.0
    identical_gap: float = 15.0
    state_dir: Path | None = None
    run_name: str | None = None

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port (--port) must be in 1..65535, got {self.port}")
        if not 0 <= self.client_id < 2**31:
            raise ValueError(f"client_id (--client-id) must be a non-negative integer, got {self.client_id}")
        if not self.timeout > 0:
            raise ValueError(f"timeout (--timeout) must be > 0 seconds, got {self.timeout}")
        if self.connect_attempts < 1:
            raise ValueError(f"connect_attempts must be >= 1, got {self.connect_attempts}")
        if not (self.backoff > 0 and self.backoff_max >= self.backoff):
            raise ValueError(f"need 0 < backoff <= backoff_max, got backoff={self.backoff}, "
                             f"backoff_max={self.backoff_max}")
        if self.max_outage is not None and not (self.max_outage > 0 and math.isfinite(self.max_outage)):
            raise ValueError(f"max_outage (--max-outage) must be a positive number of seconds, got {self.max_outage}")
        if self.request_retries < 0:
            raise ValueError(f"request_retries must be >= 0, got {self.request_retries}")
        for name in ("ack_timeout", "stall_periods", "stale_periods", "lag_periods"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.coalesce_seconds < 0 or self.identical_gap < 0:
            raise ValueError(f"coalesce_seconds and identical_gap must be >= 0, got {self.coalesce_seconds}, "
                             f"{self.identical_gap}")
        if self.run_name is not None and (not self.run_name or "/" in self.run_name or ":" in self.run_name):
            raise ValueError(f"run_name (--run-name) must be a non-empty name without '/' or ':', got {self.run_name!r}")

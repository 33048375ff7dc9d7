"""Public test kit: the checks every btedge indicator and strategy passes, usable on your own.

- :func:`assert_modes_agree`: ``runonce``, ``next``, streaming (no preload, as live) and
  ``exactbars`` give the same lines.
- :func:`assert_no_lookahead`: the truncation test (output up to bar t is the same whether the
  bars after t are absent or altered).
- :func:`assert_orders_agree_and_no_lookahead`, :func:`order_log`: the same at the order level.
"""
from btedge.testkit.checks import (
    MODES,
    OrderLog,
    alter_after,
    assert_modes_agree,
    assert_no_lookahead,
    assert_orders_agree_and_no_lookahead,
    indicator_lines,
    order_log,
)

__all__ = [
    "MODES",
    "OrderLog",
    "alter_after",
    "assert_modes_agree",
    "assert_no_lookahead",
    "assert_orders_agree_and_no_lookahead",
    "indicator_lines",
    "order_log",
]

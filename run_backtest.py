"""Shim: see ``btedge.run_backtest`` (installed as ``btedge-backtest``)."""
from btedge.run_backtest import main

raise SystemExit(main())

"""Shim: see ``btedge.run_live`` (installed as ``btedge-live``)."""
from btedge.run_live import main

raise SystemExit(main())

"""python -m btedge.universe: see btedge.universe.main."""
from btedge.universe import main

raise SystemExit(main())

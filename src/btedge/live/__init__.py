"""btedge.live."""

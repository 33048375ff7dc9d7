"""btedge.indicators."""

"""btedge.analyzers."""

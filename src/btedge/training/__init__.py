"""btedge.training."""

"""btedge.models."""

"""Use cases. They depend on ports only."""

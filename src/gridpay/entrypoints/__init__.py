"""Entry points: the CLI (and later the API and workers)."""

"""Pure domain: no I/O, no frameworks. Fast to test."""

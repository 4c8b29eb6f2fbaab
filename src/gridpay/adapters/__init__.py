"""Adapters: the SQL store, file I/O, gateways."""

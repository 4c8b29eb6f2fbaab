"""Ports: what the services need from the world, as Protocols, one module per feature.

The SQL store implements the repositories over one transaction (``ports.store.UnitOfWork``);
tests may use fakes. Bulk repositories speak Polars frames, because the daily batch is set-based;
single rows cross as the domain's frozen dataclasses. Nothing is re-exported here: each import
names the feature it depends on.
"""

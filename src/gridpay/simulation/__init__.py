"""The simulation wing: what imitates the world or measures the system.

The synthetic city, the lifecycle simulation, the demo and its HTML report, the benches, the
simulated clock and the simulated head-end. It uses the system as a deployment would (through
``bootstrap``, the services and the adapters); nothing in ``domain``, ``services``, ``adapters``
or ``bootstrap`` imports it back, which an import-linter contract checks.
"""

"""The HTTP app (``gridpay serve``): one FastAPI application for every web surface.

``app.py`` builds it: the error table, the health check, metrics, the access log and the security
headers every response carries. Each surface (the households' pages, the staff console, the
partner API, the wallet's callbacks) is a router module of its own in this package, mounted there
with one line.
"""

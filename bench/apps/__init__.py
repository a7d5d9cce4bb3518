"""ASGI apps for the benchmark scenarios: one module per scenario, so no server pays for routing.

Every server is started on the same ``bench.apps.<module>:app`` target.
"""

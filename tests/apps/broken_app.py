"""Fails at import time, as an app with a bug would."""

raise RuntimeError("broken at import")

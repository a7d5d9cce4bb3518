"""pounce's benchmark harness: ``python -m bench`` (or ``bench/run``); see bench/README.md."""

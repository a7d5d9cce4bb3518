"""What every protocol shares between the wire and the app: the one request/response cycle
(``cycle``, built from ``_cycle.py``), how an app's task is started (``tasks``), the scope's
common parts (``scope``), the response rules (``response``), the request limits
(``limits``), and the types of an ASGI app and its callables (``types``)."""

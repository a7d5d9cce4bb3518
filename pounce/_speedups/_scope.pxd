# cython: language_level=3
# The C declarations of pounce/asgi/scope.py, compiled a second time as this module
# (pounce/_speedups/_scope.py links to it). Cython's pure-Python mode, as _cycle.pxd: the .py
# stays the one source of the scope; compiled, the HTTP/1.1 protocol (_http1.pxd) cimports
# the two builders and calls them as C functions: http_request_scope per request, with no
# Python call; HTTP/2 calls the same compiled http_request_scope from Python (cpdef; scope.py
# picks it). (A dict literal compiled by Cython is presized with a keys table of the
# "general" kind, which stores each key's hash: copying it and setting a request's keys costs
# about 160 fewer instructions per request than CPython's str-only kind, see
# bench/RESULTS.md "One scope builder".)

cimport cython


cdef dict http_connection_scope(
    str http_version, object server, object client, str scheme, str root_path
)


@cython.locals(scope=dict)
cpdef dict http_request_scope(
    dict connection, object state, str http_version, bint forwarded, str method, str path,
    bytes raw_path, bytes query_string, list headers, dict lifespan_state, dict extensions
)

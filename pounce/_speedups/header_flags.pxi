# The REQ_*/RESP_* flags of pounce/header_flags.py (their one definition) as C ints, for the
# compiled modules that include this file: the same values, tested without a Python lookup.

from pounce import header_flags as _header_flags

cdef int RESP_CHUNKED = _header_flags.RESP_CHUNKED
cdef int RESP_CONNECTION_CLOSE = _header_flags.RESP_CONNECTION_CLOSE
cdef int RESP_HAS_DATE = _header_flags.RESP_HAS_DATE
cdef int RESP_HAS_SERVER = _header_flags.RESP_HAS_SERVER

cdef int REQ_CHUNKED = _header_flags.REQ_CHUNKED
cdef int REQ_CONNECTION_CLOSE = _header_flags.REQ_CONNECTION_CLOSE
cdef int REQ_CONNECTION_KEEP_ALIVE = _header_flags.REQ_CONNECTION_KEEP_ALIVE
cdef int REQ_CONNECTION_UPGRADE = _header_flags.REQ_CONNECTION_UPGRADE
cdef int REQ_EXPECT_CONTINUE = _header_flags.REQ_EXPECT_CONTINUE
cdef int REQ_HAS_UPGRADE = _header_flags.REQ_HAS_UPGRADE

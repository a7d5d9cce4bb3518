# cython: language_level=3
# HPACK (RFC 7541) codec, cimportable: `from pounce._speedups._hpack cimport Decoder, Encoder`.
# The exceptions (HPACKError, OversizedHeaderListError) are Python classes from pounce.errors,
# re-exported by _hpack.pyx.


cdef class Decoder:
    cdef list _ring            # dynamic table: entry number `seq` lives at _ring[seq & _mask]
    cdef Py_ssize_t _mask
    cdef Py_ssize_t _inserted  # entries ever inserted (the newest has seq == _inserted)
    cdef Py_ssize_t _count     # entries in the table now
    cdef Py_ssize_t _size      # their size, RFC 7541 §4.1
    cdef Py_ssize_t _max_size  # current maximum, set by the peer's size updates (§6.3)
    cdef Py_ssize_t _allowed   # the SETTINGS_HEADER_TABLE_SIZE we advertise (§4.2)
    cdef Py_ssize_t _max_list  # max header list size (RFC 9113 §6.5.2); -1: no limit
    cdef bint _update_required  # _allowed dropped below _max_size: the next block must resize
    cdef unsigned char* _scratch  # Huffman output buffer
    cdef Py_ssize_t _scratch_cap

    cpdef list decode(self, bytes data)
    # The same over a buffer the caller owns (a frame reader's buffer, no copy).
    cdef list decode_ptr(self, const unsigned char* data, Py_ssize_t n)
    cdef object _string(self, const unsigned char* data, Py_ssize_t* pos, Py_ssize_t end)
    cdef tuple _lookup(self, Py_ssize_t index)
    cdef int _add(self, tuple field) except -1
    cdef int _evict_to(self, Py_ssize_t limit) except -1
    cdef int _resize(self, Py_ssize_t new_max) except -1


cdef class Encoder:
    cdef list _ring
    cdef Py_ssize_t _mask
    cdef Py_ssize_t _inserted
    cdef Py_ssize_t _count
    cdef Py_ssize_t _size
    cdef Py_ssize_t _max_size      # the table size we use: min(peer setting, our cap)
    cdef Py_ssize_t _peer_setting  # the peer's SETTINGS_HEADER_TABLE_SIZE
    cdef bint _update_pending
    cdef Py_ssize_t _pending_min   # smallest size since the last block (§4.2)
    cdef dict _fields             # (name, value) -> seq of the newest entry with that field
    cdef dict _names              # name -> seq of the newest entry with that name
    cdef unsigned char* _buf
    cdef Py_ssize_t _cap
    cdef Py_ssize_t _len
    # The table's generation: bumped whenever an entry is added or evicted, or its size set.
    cdef Py_ssize_t _generation
    # encode_response's last block, reused while the status, the headers and the table are the
    # same (a block that added nothing to the table encodes the same way again).
    cdef bytes _last_block
    cdef list _last_headers
    cdef int _last_status
    cdef Py_ssize_t _last_generation

    cpdef bytes encode(self, list headers)
    cpdef bytes encode_status(self, int status)
    cpdef bytes encode_response(self, int status, list headers)
    cdef int _reserve(self, Py_ssize_t n) except -1
    cdef int _put_pending_update(self) except -1
    cdef int _put_headers(self, list headers) except -1
    cdef int _put_field(self, object name, object value, object field) except -1
    cdef int _put_string(self, bytes s) except -1
    cdef int _add(self, tuple field, Py_ssize_t size) except -1
    cdef int _evict_to(self, Py_ssize_t limit) except -1

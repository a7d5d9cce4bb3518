# cython: language_level=3, boundscheck=False, wraparound=False
"""Compiled twin of wsproto's ``XorMaskerSimple``: unmasks client frames (RFC 6455 §5.3)
eight bytes at a time. Same interface: ``process(data) -> bytearray``, the key rotating so that
the next call continues where this one stopped (a frame's payload arrives in pieces)."""

from cpython.bytearray cimport PyByteArray_AS_STRING
from libc.stdint cimport uint64_t
from libc.string cimport memcpy


cdef class XorMasker:
    cdef unsigned char key[4]

    def __init__(self, masking_key):
        cdef bytes key = bytes(masking_key)
        if len(key) != 4:
            raise ValueError("a masking key is 4 bytes")
        cdef int i
        for i in range(4):
            self.key[i] = key[i]

    def process(self, data):
        cdef bytearray out = bytearray(data)
        cdef Py_ssize_t n = len(out)
        if n == 0:
            return out
        cdef unsigned char* p = <unsigned char*>PyByteArray_AS_STRING(out)
        cdef unsigned char kb[8]
        cdef unsigned char rotated[4]
        cdef uint64_t k8, word
        cdef Py_ssize_t i, words = n >> 3
        for i in range(8):
            kb[i] = self.key[i & 3]
        memcpy(&k8, kb, 8)
        for i in range(words):
            memcpy(&word, p + (i << 3), 8)
            word ^= k8
            memcpy(p + (i << 3), &word, 8)
        for i in range(words << 3, n):
            p[i] ^= self.key[i & 3]
        cdef int r = n & 3
        if r:
            for i in range(4):
                rotated[i] = self.key[(i + r) & 3]
            for i in range(4):
                self.key[i] = rotated[i]
        return out

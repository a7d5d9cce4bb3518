# Header-field helpers shared by the compiled modules (inlined into each: no runtime import).


cdef inline bint immutable_fields(list headers):
    """Every field is a tuple of two bytes objects: nothing in the list's items can change, so
    the list may be kept (copied) and compared with a later one."""
    cdef object item
    for item in headers:
        if type(item) is not tuple or len(<tuple>item) != 2:
            return False
        if type((<tuple>item)[0]) is not bytes or type((<tuple>item)[1]) is not bytes:
            return False
    return True

"""HTTP/1.1: the ``asyncio.Protocol`` (``protocol`` picks the build of ``_protocol.py``), the
h11 parser driver used in place of httptools (``h11_parser``), and its constants and error
responses (``support``)."""

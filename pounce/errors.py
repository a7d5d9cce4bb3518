"""Exception classes shared by the pure and compiled twins (defined once, in Python)."""

from __future__ import annotations

# Process exit codes, the same from the CLI, the server, a worker and the supervisor (and as
# uvicorn's): a usage or configuration error; an app that cannot start (import error, failed
# lifespan startup, a socket that cannot be bound: uvicorn's STARTUP_FAILURE).
EXIT_USAGE = 2
EXIT_APP = 3


class PounceError(Exception):
    """Base class of pounce's own errors."""


class InvalidHeader(PounceError, ValueError):
    """A header an application tried to send is not valid HTTP (RFC 9110 §5.1, §5.5)."""


class BadRequest(PounceError):
    """A client sent a request that must be refused before it reaches the application.

    ``status`` is the response code to send (400, 413, 414, 431, 505, ...); the connection is
    closed after that response.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ConfigError(PounceError):
    """A configuration value is invalid; the message names the option."""


class BindError(ConfigError):
    """The listening socket cannot be bound (address in use, no permission, unknown host).

    A start-up failure: exit code 3 as uvicorn's, where other ``ConfigError``s exit with 2."""


class AppLoadError(PounceError):
    """The application could not be imported or created."""


class ClientDisconnected(PounceError, OSError):
    """``send()`` on a WebSocket that is already closed (ASGI spec: a subclass of OSError)."""


class ParserUpgrade(PounceError):
    """The h11 parser backend stopped at an Upgrade/CONNECT request, as httptools'
    ``HttpParserUpgrade`` does: ``args[0]`` is the offset of the first byte after it in the
    data just fed."""


class HPACKError(PounceError):
    """A header block that cannot be decoded (RFC 7541): the connection answers with a
    connection error of type COMPRESSION_ERROR (RFC 9113 §4.3)."""


class OversizedHeaderListError(HPACKError):
    """A decoded header list larger than the SETTINGS_MAX_HEADER_LIST_SIZE we advertise
    (RFC 9113 §6.5.2: each field counts name + value + 32).

    The whole block was still decoded, so the dynamic table stays in sync: a connection can
    refuse only that stream (431, or RST_STREAM) instead of closing the connection.
    """

"""Creating the listening socket from ``--host/--port``, ``--uds`` or ``--fd`` (or adopting
one systemd passed: ``pounce/socket_activation.py``), and the ``--metrics-bind`` one.

The socket is made here rather than by ``loop.create_server`` so that the same socket can be
bound once and shared by forked workers.
"""

from __future__ import annotations

import os
import socket
import stat

from .config import Config, parse_host_port
from .errors import BindError, ConfigError

# The metrics listener's accept queue: scrapers and probes, a few at a time.
METRICS_BACKLOG = 64


def bind_socket(config: Config, listen: bool = True) -> socket.socket:
    """Bind (or adopt) the listening socket described by ``config``.

    With ``--reuse-port`` the socket gets ``SO_REUSEPORT``, so that every worker can bind its
    own on the same port. ``listen=False`` only reserves the address: the supervisor does that
    with ``--reuse-port`` to fail early and learn the port, without a queue of its own that
    nobody would accept from.
    """
    if config.fd is not None:
        return adopt_socket(config.fd, config, "--fd")
    if config.uds:
        sock = _bind_unix(config.uds)
    else:
        sock = _bind_tcp(config.host, config.port, config.reuse_port)
    if not listen:
        return sock
    return _listen(sock, config, config.bind_description())


def adopt_socket(fd: int, config: Config, source: str) -> socket.socket:
    """A socket already bound by someone else (``--fd``, or systemd's socket activation), made
    ready to serve as a socket bound here would be. ``source`` names where ``fd`` came from in
    the error for an fd that is not a stream socket."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise ConfigError(f"{source}: {fd} is not a usable socket ({exc.strerror})") from exc
    if sock.type != socket.SOCK_STREAM:
        sock.detach()  # not ours to close
        raise ConfigError(f"{source}: {fd} is not a stream socket")
    return _listen(sock, config, f"the socket from {source} (fd {fd})")


def _listen(sock: socket.socket, config: Config, where: str) -> socket.socket:
    try:
        sock.listen(config.backlog)
    except OSError as exc:
        raise BindError(f"cannot listen on {where}: {exc.strerror}") from exc
    sock.setblocking(False)
    sock.set_inheritable(True)
    return sock


def bind_metrics_socket(value: str) -> socket.socket:
    """``--metrics-bind HOST:PORT``: the supervisor's listening socket for /metrics, /livez
    and /readyz (blocking calls are never made on it: it is non-blocking)."""
    host, port = parse_host_port(value)
    sock = _bind_tcp(host, port, option="--metrics-bind")
    try:
        sock.listen(METRICS_BACKLOG)
    except OSError as exc:  # pragma: no cover - listen() after a successful bind
        sock.close()
        raise BindError(f"--metrics-bind: cannot listen on {value} ({exc.strerror})") from exc
    sock.setblocking(False)
    return sock


def _bind_tcp(
    host: str, port: int, reuse_port: bool = False, option: str | None = None
) -> socket.socket:
    """``option``: the option named in errors (default: ``--host`` and ``--port``)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise BindError(f"{option or '--host'}: cannot resolve {host!r} ({exc.strerror})") from exc
    family, socktype, proto, _, addr = infos[0]
    sock = socket.socket(family, socktype, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        if not hasattr(socket, "SO_REUSEPORT"):  # pragma: no cover - Linux and BSDs have it
            sock.close()
            raise ConfigError("--reuse-port: SO_REUSEPORT is not available on this platform")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if family == socket.AF_INET6 and host in ("::", ""):
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    try:
        sock.bind(addr)
    except OSError as exc:
        sock.close()
        raise BindError(
            f"{option or '--port'}: cannot bind {host}:{port} ({exc.strerror})"
        ) from exc
    return sock


def _bind_unix(path: str) -> socket.socket:
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)  # a stale socket from a previous run
        else:
            raise ConfigError(f"--uds: {path} exists and is not a socket")
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        os.chmod(path, 0o666)
    except OSError as exc:
        sock.close()
        raise BindError(f"--uds: cannot bind {path} ({exc.strerror})") from exc
    return sock


def describe_socket(sock: socket.socket, config: Config) -> str:
    """The address a bound socket really listens on (port 0 becomes the chosen port)."""
    name = sock.getsockname()
    if isinstance(name, tuple):
        host, port = name[0], name[1]
        host = f"[{host}]" if ":" in host else host
        scheme = "https" if config.is_ssl else "http"
        return f"{scheme}://{host}:{port}"
    return f"unix socket {name}" if name else config.bind_description()

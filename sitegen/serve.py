"""Preview server for a built site (`sitegen serve site/`).

Standard library only. It serves the files under the site folder and nothing else: no directory
listings, nothing outside the folder (symlinks included), single byte ranges (the runtime may
fetch shards in parts), and `Cache-Control: no-cache` so that a rebuilt site shows on reload.
"""

from __future__ import annotations

import errno
import ipaddress
import re
import socket
import sys
import threading
import webbrowser
from contextlib import suppress
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

from .errors import SitegenError
from .marker import MARKER

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    # RFC 9239; module scripts refuse to run under anything but a JavaScript type.
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    # WebAssembly.instantiateStreaming requires exactly this type.
    ".wasm": "application/wasm",
    # The media type the WGSL specification registers. The runtime fetches kernels as text, so
    # the type only matters to people opening a kernel directly.
    ".wgsl": "text/wgsl; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}
# Shards (.bin) and anything unknown are opaque bytes (never sniffed, see nosniff below).
_BINARY = "application/octet-stream"
_RANGE = re.compile(r"bytes\s*=\s*(\d*)\s*-\s*(\d*)", re.IGNORECASE)


LOCALHOST = "localhost"  # sitegen serve's default --host: both loopback addresses, see listen_on
# What a bind raises when this machine has no IPv6 (no ::1), or no such address at all.
_NOT_HERE = (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT)


class Listen(NamedTuple):
    """Where a --host says to listen (see `listen_on`)."""

    addresses: list[tuple[int, tuple]]  # (family, socket address with port 0), the first one always listened on
    url_host: str  # the host of the URL that opens the site from this machine
    loopback: bool  # whether a browser reaches it through loopback: a secure context over plain http


def listen_on(host: str) -> Listen:
    """The addresses that `host`, the text of --host, says to listen on, and the URL host to print.

    host: "localhost" in any case (127.0.0.1 and ::1, as browsers may try either address for
    http://localhost:PORT/; ::1 only where this machine has it, see `make_servers`); an IPv4 or
    IPv6 address in any spelling ("0" is 0.0.0.0), IPv6 optionally in brackets and with a zone
    (fe80::1%eth0); or another name, listened on at its first address. The URL host of a wildcard
    address (0.0.0.0, ::) is the loopback one of its family; a zone's % is written %25 (RFC 6874).
    Raises SitegenError when host is empty, a name that does not resolve, something other than an
    IPv6 address in brackets, or a link-local IPv6 address without its interface.
    """
    text = host.strip()
    if not text:  # getaddrinfo would take it for 0.0.0.0: every IPv4 network
        raise SitegenError("--host is empty; leave --host out to serve this machine only (localhost), or give "
                           "--host 0.0.0.0 (IPv4) or :: (IPv6 and IPv4) to serve every network it is on.")
    if text.lower() == LOCALHOST:
        return Listen([(socket.AF_INET, ("127.0.0.1", 0)), (socket.AF_INET6, ("::1", 0, 0, 0))], LOCALHOST, True)
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
        if ":" not in text:
            raise SitegenError(f"--host {host}: brackets are for an IPv6 address only, such as [::1]; "
                               f"give --host {text} without them.")
    try:
        family, _, _, _, address = socket.getaddrinfo(text, 0, type=socket.SOCK_STREAM,
                                                      flags=socket.AI_PASSIVE | socket.AI_NUMERICHOST)[0]
    except socket.gaierror:  # a name: the URL keeps it, and only localhost is a secure context
        try:
            family, _, _, _, address = socket.getaddrinfo(text, 0, type=socket.SOCK_STREAM,
                                                          flags=socket.AI_PASSIVE)[0]
        except OSError as err:
            raise _bind_error(err, host, 0) from None
        return Listen([(family, address)], f"[{text}]" if ":" in text else text, False)
    ip = ipaddress.ip_address(address[0])
    if family == socket.AF_INET6 and ip.is_link_local and not address[3]:
        raise SitegenError(f"--host {host} is a link-local IPv6 address, which needs the interface to listen on "
                           "after a %, such as --host fe80::1%eth0 (`ip address` lists them).")
    if ip.is_unspecified:
        url_host = "127.0.0.1" if family == socket.AF_INET else "[::1]"
    elif family == socket.AF_INET6:
        zone = f"%25{text.partition('%')[2]}" if address[3] else ""
        url_host = f"[{ip}{zone}]"
    else:
        url_host = str(ip)
    return Listen([(family, address)], url_host, ip.is_loopback or ip.is_unspecified)


def make_servers(
    site_dir: Path, *, host: str = LOCALHOST, port: int = 8000, cors: bool = False
) -> list[ThreadingHTTPServer]:
    """The bound, not yet running servers for `site_dir` at `host` (see `listen_on`), on one port.

    One server per address of `listen_on(host)`: localhost gets two, on 127.0.0.1 and ::1 (only
    the first where this machine has no IPv6). port 0 picks a port free on all of them.
    cors: let pages of any origin read the files, as a weights host for `--weights-url` must
    (a `sitegen build --weights-url` writes that folder, OUT-weights/, beside the site).
    Raises SitegenError when `site_dir` is no site, `host` is refused by `listen_on`, or an
    address cannot be listened on: the port is in use or privileged, or the host is no address
    of this machine.
    """
    return _servers(_site_root(Path(site_dir)), listen_on(host), port, cors)


def _servers(root: Path, listen: Listen, port: int, cors: bool) -> list[ThreadingHTTPServer]:
    """`make_servers`'s servers for the site at `root`, at the addresses of `listen` (of `listen_on`)."""
    (family, address), *others = listen.addresses
    attempts_left = 10 if port == 0 else 1  # port 0: the port free on 127.0.0.1 may be taken on ::1
    while True:
        attempts_left -= 1
        first = _bound(root, family, address, port, cors)
        servers = [first]
        try:
            for other_family, other in others:
                servers.append(_PreviewServer((other[0], first.server_address[1], *other[2:]), other_family,
                                              root, cors=cors))
            return servers
        except OSError as err:
            if err.errno in _NOT_HERE:  # this machine has no such address (no IPv6): serve the ones it has
                return servers
            for server in servers:
                server.server_close()
            if err.errno != errno.EADDRINUSE or not attempts_left:
                raise _bind_error(err, other[0], port) from None


def make_server(
    site_dir: Path, *, host: str = "127.0.0.1", port: int = 8000, cors: bool = False
) -> ThreadingHTTPServer:
    """A bound, not yet running server for `site_dir` on the first address of `host` (see
    `listen_on`; "::" serves IPv4 too where the system allows, as 0.0.0.0 does IPv4 only);
    port 0 picks a free port. cors and the SitegenErrors raised: as `make_servers`.
    """
    root = _site_root(Path(site_dir))
    family, address = listen_on(host).addresses[0]
    return _bound(root, family, address, port, cors)


def _bound(root: Path, family: int, address: tuple, port: int, cors: bool) -> ThreadingHTTPServer:
    """A server for `root` bound to `address` (of `listen_on`) with `port` in place of its 0.

    Raises SitegenError (of `_bind_error`) when it cannot be listened on."""
    address = (address[0], port, *address[2:])
    try:
        return _PreviewServer(address, family, root, cors=cors)
    except OSError as err:
        raise _bind_error(err, _printable(family, address), port) from None


def _printable(family: int, address: tuple) -> str:
    """The host of a socket address as an error message names it (an IPv6 one with its zone)."""
    if family == socket.AF_INET6 and address[3]:
        with suppress(OSError):
            return f"{address[0]}%{socket.if_indextoname(address[3])}"
    return address[0]


def _bind_error(err: OSError, host: str, port: int) -> SitegenError:
    """The SitegenError that says why listening on `host`:`port` failed with `err`, and what to do."""
    if err.errno == errno.EADDRINUSE:
        return SitegenError(f"port {port} on {host} is already in use; choose another one with --port")
    if err.errno in (errno.EACCES, errno.EPERM):
        if 0 < port < 1024:
            return SitegenError(
                f"port {port} is a privileged port (below 1024): only root, or a program with the "
                "CAP_NET_BIND_SERVICE capability, may listen on it; choose --port 1024 or above, "
                "such as the default 8000")
        return SitegenError(f"this system does not let sitegen listen on port {port} of {host} ({err.strerror}: "
                            "a firewall or security policy, or a port range the system reserves); "
                            "choose another one with --port")
    # The lookup of a host that is no address or name (999.1.1.1), or an address of another machine.
    if isinstance(err, socket.gaierror) or err.errno in _NOT_HERE:
        return SitegenError(f"--host {host} is not an address or name this machine can listen on ({err.strerror}); "
                            "use --host localhost to serve this machine only, or --host 0.0.0.0 (IPv4) or :: "
                            "(IPv6 and IPv4) to serve every network it is on.")
    return SitegenError(f"cannot listen on port {port} of {host}: {err.strerror or err}")


def serve_site(
    site_dir: Path, *, host: str = LOCALHOST, port: int = 8000, open_browser: bool = False,
    cors: bool = False,
) -> None:
    """Serve `site_dir` at `host` (see `make_servers`) until interrupted (Ctrl+C).

    Raises SitegenError as `make_servers` does."""
    listen = listen_on(host)  # once: a name's lookup may answer differently a second time
    servers = _servers(_site_root(Path(site_dir)), listen, port, cors)
    url = f"http://{listen.url_host}:{servers[0].server_address[1]}/"
    print(f"Serving {site_dir} at {url} (Ctrl+C to stop)")
    # Browsers only give service workers and WebGPU to secure contexts: https, or loopback.
    if not listen.loopback:
        print("Note: over plain http, only localhost, 127.0.0.1 or [::1] get WebGPU and service workers.")
    if open_browser:
        webbrowser.open(url)
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        servers[0].serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers[1:]:
            server.shutdown()
        for server in servers:
            server.server_close()


def _site_root(site_dir: Path) -> Path:
    if not site_dir.exists():
        raise SitegenError(f"{site_dir} does not exist; build a site first with `sitegen build`")
    if not site_dir.is_dir():
        raise SitegenError(f"{site_dir} is not a folder; give the folder `sitegen build` wrote")
    # A site has index.html; the weights folder of a --weights-url build has only the marker.
    if not (site_dir / "index.html").is_file() and not (site_dir / MARKER).is_file():
        raise SitegenError(
            f"{site_dir} is not a sitegen site (it has no index.html); "
            "give the folder `sitegen build --out` wrote"
        )
    return site_dir.resolve()


class _PreviewServer(ThreadingHTTPServer):
    def __init__(self, address: tuple, family: int, root: Path, *, cors: bool) -> None:
        """Bound to `address`, (host, port) or IPv6's (host, port, flowinfo, scope_id), of `family`
        (socket.AF_INET or AF_INET6). Raises OSError if it cannot bind."""
        self.address_family = family
        self.root = root
        self.cors = cors
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6 and ipaddress.ip_address(self.server_address[0]).is_unspecified:
            # "::" takes IPv4 too, as 0.0.0.0 would (where the system lets a socket do both)
            with suppress(OSError):
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


class _Refused(Exception):
    def __init__(self, status: HTTPStatus) -> None:
        super().__init__(status.phrase)
        self.status = status


class _Unsatisfiable(Exception):
    """A well-formed range that lies outside the file."""


class _Handler(BaseHTTPRequestHandler):
    server: _PreviewServer
    protocol_version = "HTTP/1.1"  # keep-alive: the page fetches many small shell files
    server_version = "sitegen-preview"
    sys_version = ""

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def log_message(self, format: str, *args) -> None:
        # One short line per request, without the client address and timestamp.
        sys.stderr.write(format % args + "\n")

    def _serve(self, send_body: bool) -> None:
        try:
            file = _resolve(self.server.root, urlsplit(self.path).path)
        except _Refused as refused:
            self.send_error(refused.status)
            return
        size = file.stat().st_size
        try:
            span = _requested_range(self.headers.get("Range"), size)
        except _Unsatisfiable:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self._end_headers()
            return
        first, last = span or (0, size - 1)
        length = last - first + 1
        self.send_response(HTTPStatus.PARTIAL_CONTENT if span else HTTPStatus.OK)
        self.send_header("Content-Type", _CONTENT_TYPES.get(file.suffix.lower(), _BINARY))
        self.send_header("Content-Length", str(length))
        if span:
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self._end_headers()
        if send_body and length:
            try:
                with file.open("rb") as body:
                    self.connection.sendfile(body, first, length)
            except (BrokenPipeError, ConnectionResetError):
                # The browser gave up on the response (e.g. an aborted shard fetch): nothing to do.
                self.close_connection = True

    def _end_headers(self) -> None:
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        if self.server.cors:
            self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()


def _resolve(root: Path, url_path: str) -> Path:
    """The file under `root` that `url_path` names (a URL ending in `/` names its index.html)."""
    relative = unquote(url_path).lstrip("/")
    if relative == "" or relative.endswith("/"):
        relative += "index.html"
    if "\0" in relative:
        raise _Refused(HTTPStatus.NOT_FOUND)
    # Resolving first also follows symlinks, so one pointing out of the site is refused too.
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        raise _Refused(HTTPStatus.FORBIDDEN)
    if not target.is_file():  # folders without a trailing slash included: no listings
        raise _Refused(HTTPStatus.NOT_FOUND)
    return target


def _requested_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The single byte range asked for, as (first, last) inclusive; None means the whole file.

    Malformed and multi-range headers are ignored and get the whole file, as RFC 9110 (14.2)
    allows; a well-formed range that misses the file raises _Unsatisfiable (416).
    """
    match = _RANGE.fullmatch(header.strip()) if header else None
    if not match or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if first == "":  # suffix range: the last N bytes
        if int(last) == 0 or size == 0:
            raise _Unsatisfiable
        return max(size - int(last), 0), size - 1
    if last and int(last) < int(first):
        return None
    if int(first) >= size:
        raise _Unsatisfiable
    return int(first), min(int(last), size - 1) if last else size - 1

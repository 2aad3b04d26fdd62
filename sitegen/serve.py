"""Preview server for a built site (`sitegen serve site/`).

Standard library only. It serves the files under the site folder and nothing else: no directory
listings, nothing outside the folder (symlinks included), single byte ranges (the runtime may
fetch shards in parts), and `Cache-Control: no-cache` so that a rebuilt site shows on reload.
"""

from __future__ import annotations

import errno
import re
import socket
import sys
import webbrowser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
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


def make_server(
    site_dir: Path, *, host: str = "127.0.0.1", port: int = 8000, cors: bool = False
) -> ThreadingHTTPServer:
    """A bound, not yet running server for `site_dir`; port 0 picks a free port.

    cors: let pages of any origin read the files, as a weights host for `--weights-url` must
    (a `sitegen build --weights-url` writes that folder, OUT-weights/, beside the site).
    """
    root = _site_root(Path(site_dir))
    try:
        return _PreviewServer((host, port), root, cors=cors)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise SitegenError(
                f"port {port} on {host} is already in use; choose another one with --port"
            ) from err
        # The lookup of a host that is no address or name (999.1.1.1), or an address of another machine.
        if isinstance(err, socket.gaierror) or err.errno == errno.EADDRNOTAVAIL:
            if err.errno == getattr(socket, "EAI_ADDRFAMILY", None):  # ::1
                problem = f"--host {host} is not an IPv4 address or name, and sitegen serve listens on IPv4 only"
            else:
                problem = f"--host {host} is not an address or name this machine can listen on ({err.strerror})"
            raise SitegenError(f"{problem}; use --host 127.0.0.1 to serve this machine only, or --host 0.0.0.0 to "
                               "serve every network it is on.") from None
        raise SitegenError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err


def serve_site(
    site_dir: Path, *, host: str = "127.0.0.1", port: int = 8000, open_browser: bool = False,
    cors: bool = False,
) -> None:
    """Serve `site_dir` until interrupted (Ctrl+C)."""
    server = make_server(site_dir, host=host, port=port, cors=cors)
    # Browsers only give service workers and WebGPU to secure contexts: https, or loopback.
    browser_host = "127.0.0.1" if host in ("", "0.0.0.0") else host
    url = f"http://{browser_host}:{server.server_address[1]}/"
    print(f"Serving {site_dir} at {url} (Ctrl+C to stop)")
    if browser_host not in ("127.0.0.1", "localhost"):
        print("Note: over plain http, only 127.0.0.1 or localhost get WebGPU and service workers.")
    if open_browser:
        webbrowser.open(url)
    with server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


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
    def __init__(self, address: tuple[str, int], root: Path, *, cors: bool) -> None:
        self.root = root
        self.cors = cors
        super().__init__(address, _Handler)


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

"""A local HTTP server for the benchmarks that run pages in headless Chromium: the repository root,
cross-origin isolated (COOP same-origin, COEP require-corp: a page may start threads and its
performance.now is precise to 5 µs rather than 100), uncached, quiet (the benchmark's table is the
output)."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class IsolatedHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files below its directory with the isolating, uncaching headers; subclasses add routes."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".wasm": "application/wasm"}

    def end_headers(self) -> None:
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args) -> None:
        pass


def serve(handler: type[IsolatedHandler] = IsolatedHandler) -> http.server.ThreadingHTTPServer:
    """Start `handler` over the repository root on a free 127.0.0.1 port (a daemon thread); the
    server's server_port says which; shutdown() stops it."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(ROOT)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server

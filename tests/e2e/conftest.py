"""Fixtures of the end-to-end tests: the SmolLM2 demo site, built once and served on 127.0.0.1,
and Debian's Chromium driven by Playwright with WebGPU on (SwiftShader on machines without a GPU),
or off (the site then runs on its CPU backend).

Fixtures (names are what other e2e tests use):
- `e2e_site` (session): Path of the built demo site.
- `site_url` (session): "http://127.0.0.1:PORT/" serving `e2e_site`.
- `browser` (module): Chromium with --enable-unsafe-webgpu, the site on its WebGPU backend
  (SwiftShader here); in a module marked `pytestmark = pytest.mark.cpu_backend`, Chromium without
  it, the site on its CPU backend. The CPU backend decodes SmolLM2-135M many times as fast as
  SwiftShader, so modules that need *a* working engine (issue 14), not the WebGPU path or the
  service worker's engine (which runs on WebGPU only), take it. One Chromium of each kind per session.
- `launch_chromium` (session): launch_chromium(webgpu=True, wasm=True, bfcache=False) starts another
  Chromium (the caller closes it); webgpu=False gives Chromium as Linux users get it by default, without WebGPU
  (the site then runs on the CPU backend); wasm=False hides WebAssembly as well (V8's --jitless,
  in pages and workers alike, as browsers' hardened modes such as Edge's enhanced security do; Blink
  ignores --noexpose-wasm): a browser that can run neither backend. bfcache=True keeps the
  back/forward cache that Playwright turns off (--disable-back-forward-cache): a page left and gone
  back to is restored as it was (pageshow's `persisted`), as in the browsers visitors use; Playwright's
  go_back then needs wait_until="commit" (a restored page fires no load event).
- `request_log` (function): every URL the browser context requests, service workers' and
  workers' requests included, in order; tests clear it (`request_log.clear()`) between phases.
- `context` (function): a fresh browser context (its own Cache Storage and service workers) that
  records into `request_log`; its console errors are printed when the test fails.
- `page` (function): a new page in `context`.
- `split_site` (session): (site URL, weights URL) of a demo site built with --weights-url, its
  shards served from another origin with CORS (Access-Control-Allow-Origin: *), as the README asks.
- `serve_mounted(mounts)`: serve folders at URL prefixes of one origin (a site under a GitHub
  Pages-like sub-path, npm packages the tests import beside it); a context giving the origin's URL.

Never `playwright install`: its download host is unreachable and the system Chromium is the one
under test. Without /usr/bin/chromium every test here is skipped.
"""

from __future__ import annotations

import os
import socket
import threading
from contextlib import contextmanager
from pathlib import Path

from http import HTTPStatus
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import sync_playwright

from sitegen.commands.build import build
from sitegen.config import load_build_config
from sitegen.serve import make_server

CHROMIUM = Path("/usr/bin/chromium")
DEMO_MODEL = "smollm2-135m"


@pytest.fixture(scope="session", autouse=True)
def _chromium_present() -> None:
    if not CHROMIUM.is_file():
        pytest.skip(f"end-to-end tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)")


_REPORTS = pytest.StashKey[dict]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # Keeps each phase's report on the test item, so fixtures can tell whether the test failed.
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def e2e_site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("e2e") / "site"
    build(load_build_config(None, {"models": (DEMO_MODEL,), "out": out}), log=lambda line: None)
    return out


@contextmanager
def serving(server):
    """Run a server of sitegen.serve.make_server on a daemon thread; yields its URL."""
    # One line per request on stderr would drown a failure's output.
    server.RequestHandlerClass = type(
        "QuietHandler", (server.RequestHandlerClass,), {"log_message": lambda self, *args: None}
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def serve_folder(folder: Path):
    """Serve a built site (`sitegen serve`'s server) on a free port; a context giving its URL."""
    return serving(make_server(folder, port=0))


def serve_mounted(mounts: dict[str, Path]):
    """Serve each folder at its URL prefix ("/project/": a site, "/node_modules/openai/": a package),
    with `sitegen serve`'s request handling, on one origin; a context giving "http://127.0.0.1:PORT/".

    The first folder must be a site (sitegen.serve checks it). Other paths get 404.
    """
    roots = {prefix: folder.resolve() for prefix, folder in mounts.items()}
    server = make_server(next(iter(roots.values())), port=0)

    class Mounted(server.RequestHandlerClass):
        def _serve(self, send_body: bool) -> None:
            path = urlsplit(self.path).path
            prefix = next((prefix for prefix in roots if path.startswith(prefix)), None)
            if prefix is None:
                self.send_error(HTTPStatus.NOT_FOUND)
                return
            # sitegen.serve resolves the path against server.root: give this request its mount's.
            self.path = self.path[len(prefix) - 1 :]
            self.server = SimpleNamespace(root=roots[prefix], cors=False)
            super()._serve(send_body)

    server.RequestHandlerClass = Mounted
    return serving(server)


@pytest.fixture(scope="session")
def site_url(e2e_site):
    with serve_folder(e2e_site) as url:
        yield url


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def split_site(tmp_path_factory):
    """A demo site whose shards live on another origin; yields (site URL, weights URL)."""
    port = free_port()
    weights_url = f"http://127.0.0.1:{port}/{DEMO_MODEL}/"
    out = tmp_path_factory.mktemp("split") / "site"
    build(load_build_config(None, {"models": (DEMO_MODEL,), "out": out, "weights_url": weights_url}), log=lambda _: None)
    weights = make_server(out.with_name("site-weights"), port=port, cors=True)
    with serving(weights), serve_folder(out) as site_url:
        yield site_url, weights_url


@pytest.fixture(scope="session")
def launch_chromium():
    """launch_chromium(webgpu=True, wasm=True, bfcache=False) -> a new Chromium browser; the caller closes it."""
    with sync_playwright() as playwright:

        def launch(webgpu: bool = True, wasm: bool = True, bfcache: bool = False):
            return playwright.chromium.launch(
                executable_path=str(CHROMIUM),
                ignore_default_args=["--disable-back-forward-cache"] if bfcache else None,
                args=[*(["--enable-unsafe-webgpu"] if webgpu else []), *([] if wasm else ["--js-flags=--jitless"])],
                env={**os.environ, "XDG_RUNTIME_DIR": "/tmp"},  # silences a Vulkan loader warning
            )

        yield launch


def pytest_configure(config):
    config.addinivalue_line("markers", "cpu_backend: the module's `browser` has no WebGPU: the site runs on its CPU backend")


@pytest.fixture(scope="session")
def shared_chromium(launch_chromium):
    """shared_chromium(webgpu) -> the session's Chromium with or without WebGPU, launched on first use."""
    launched = {}

    def shared(webgpu: bool):
        if webgpu not in launched:
            launched[webgpu] = launch_chromium(webgpu=webgpu)
        return launched[webgpu]

    yield shared
    for browser in launched.values():
        browser.close()


@pytest.fixture(scope="module")
def browser(shared_chromium, request):
    return shared_chromium(webgpu=request.node.get_closest_marker("cpu_backend") is None)


@pytest.fixture
def request_log() -> list[str]:
    return []


@pytest.fixture
def context(browser, request_log, request):
    context = browser.new_context()
    context.on("request", lambda sent: request_log.append(sent.url))
    console: list[str] = []
    context.on(
        "console",
        lambda message: message.type == "error" and console.append(f"{message.location.get('url')}: {message.text}"),
    )
    context.on("weberror", lambda error: console.append(f"uncaught: {error.error}"))
    yield context
    context.close()
    call = request.node.stash.get(_REPORTS, {}).get("call")
    if call is not None and call.failed and console:
        print("Browser console errors:", *console, sep="\n  ")


@pytest.fixture
def page(context):
    return context.new_page()

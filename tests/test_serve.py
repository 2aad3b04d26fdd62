"""Preview server over real HTTP on 127.0.0.1: types, ranges, HEAD, containment, errors."""

import http.client
import socket
import threading

import pytest
from click.testing import CliRunner

from sitegen.__main__ import cli
from sitegen.errors import SitegenError
from sitegen.marker import MARKER
from sitegen.serve import make_server

SHARD = bytes(range(256)) * 4  # 1024 bytes, every offset distinguishable
SHARD_URL = "/models/m/shard-00000.bin"


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("serve")
    root = tmp_path / "site"
    files = {
        "index.html": b"<!doctype html><title>t</title>",
        "about.html": b"<p>about</p>",
        "runtime/app.js": b"export {};",
        "runtime/engine.mjs": b"export {};",
        "runtime/engine.wasm": b"\0asm\1\0\0\0",
        "kernels/matmul.wgsl": b"fn main() {}",
        "models/m/manifest.json": b"{}",
        "models/m/shard-00000.bin": SHARD,
        "manifest.webmanifest": b"{}",
        "theme.css": b"body{}",
        "icon-192.png": b"\x89PNG",
        "logo.svg": b"<svg/>",
        "notes.xyz": b"?",
        "empty/keep.txt": b"",
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (tmp_path / "secret.txt").write_bytes(b"TOP SECRET")
    (root / "escape.txt").symlink_to(tmp_path / "secret.txt")
    return root


@pytest.fixture(scope="module")
def server(site_dir):
    srv = make_server(site_dir, port=0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


def fetch(server, path, method="GET", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
    try:
        conn.request(method, path, headers=headers or {})  # path is sent as is, unnormalised
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("path, content_type", [
    ("/", "text/html; charset=utf-8"),
    ("/about.html", "text/html; charset=utf-8"),
    ("/runtime/app.js", "text/javascript; charset=utf-8"),
    ("/runtime/engine.mjs", "text/javascript; charset=utf-8"),
    ("/runtime/engine.wasm", "application/wasm"),
    ("/kernels/matmul.wgsl", "text/wgsl; charset=utf-8"),
    ("/models/m/manifest.json", "application/json"),
    ("/models/m/shard-00000.bin", "application/octet-stream"),
    ("/manifest.webmanifest", "application/manifest+json"),
    ("/theme.css", "text/css; charset=utf-8"),
    ("/icon-192.png", "image/png"),
    ("/logo.svg", "image/svg+xml"),
    ("/notes.xyz", "application/octet-stream"),
])
def test_content_types(server, site_dir, path, content_type):
    status, headers, body = fetch(server, path)
    assert status == 200
    assert headers["Content-Type"] == content_type
    assert headers["Cache-Control"] == "no-cache"
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["X-Content-Type-Options"] == "nosniff"
    file = site_dir / (path.lstrip("/") or "index.html")
    assert body == file.read_bytes()
    assert int(headers["Content-Length"]) == len(body)


@pytest.mark.parametrize("range_header, first, last", [
    ("bytes=100-199", 100, 199),
    ("bytes=1000-", 1000, 1023),
    ("bytes=-24", 1000, 1023),
    ("bytes=1020-5000", 1020, 1023),  # the end is clamped to the file
    ("bytes=-5000", 0, 1023),
    ("bytes=0-0", 0, 0),
])
def test_single_range(server, range_header, first, last):
    status, headers, body = fetch(server, SHARD_URL, headers={"Range": range_header})
    assert status == 206
    assert headers["Content-Range"] == f"bytes {first}-{last}/1024"
    assert int(headers["Content-Length"]) == last - first + 1
    assert body == SHARD[first:last + 1]


@pytest.mark.parametrize("range_header", ["bytes=1024-", "bytes=5000-6000", "bytes=-0"])
def test_unsatisfiable_range(server, range_header):
    status, headers, body = fetch(server, SHARD_URL, headers={"Range": range_header})
    assert status == 416
    assert headers["Content-Range"] == "bytes */1024"
    assert body == b""


@pytest.mark.parametrize("range_header", ["bytes=0-1,5-6", "items=0-1", "bytes=9-2", "bytes=x"])
def test_multi_and_malformed_ranges_get_the_whole_file(server, range_header):
    status, headers, body = fetch(server, SHARD_URL, headers={"Range": range_header})
    assert status == 200
    assert "Content-Range" not in headers
    assert body == SHARD


def test_head(server):
    status, headers, body = fetch(server, SHARD_URL, method="HEAD")
    assert (status, headers["Content-Length"], body) == (200, "1024", b"")
    assert headers["Content-Type"] == "application/octet-stream"
    status, headers, body = fetch(server, SHARD_URL, method="HEAD",
                                  headers={"Range": "bytes=10-19"})
    assert (status, headers["Content-Length"], headers["Content-Range"], body) == (
        206, "10", "bytes 10-19/1024", b"")


def test_head_sends_no_body_on_the_wire(server):
    # http.client never reads a body after HEAD, so look at the raw bytes instead.
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=5) as conn:
        conn.sendall(b"HEAD /about.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        reply = b"".join(iter(lambda: conn.recv(65536), b""))
    head, _, rest = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"Content-Length: 12" in head
    assert rest == b""


@pytest.mark.parametrize("path", [
    "/../secret.txt",
    "/%2e%2e/secret.txt",
    "/models/../../secret.txt",
    "/models/%2E%2E/%2e%2e/secret.txt",
    "/escape.txt",  # a symlink out of the site
    "/..%2fsecret.txt",
])
def test_nothing_outside_the_site_is_served(server, path):
    status, _, body = fetch(server, path)
    assert status in (403, 404)
    assert b"TOP SECRET" not in body


@pytest.mark.parametrize(
    "path", ["/runtime/", "/runtime", "/empty/", "/missing.js", "/index.html%00.js"]
)
def test_no_listings_and_missing_files(server, path):
    status, _, body = fetch(server, path)
    assert status == 404
    assert b"app.js" not in body and b"keep.txt" not in body


def test_post_is_not_allowed(server):
    status, _, _ = fetch(server, "/index.html", method="POST")
    assert status == 501


def test_missing_site_dir(tmp_path):
    with pytest.raises(SitegenError, match="does not exist"):
        make_server(tmp_path / "nope", port=0)


def test_folder_that_is_not_a_site(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(SitegenError, match="not a sitegen site .*no index.html"):
        make_server(tmp_path, port=0)


def test_port_in_use(site_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        expected = rf"port {port} on 127.0.0.1 is already in use.*--port"
        with pytest.raises(SitegenError, match=expected):
            make_server(site_dir, port=port)


HOST_FIX = "; use --host 127.0.0.1 to serve this machine only, or --host 0.0.0.0 to serve every network it is on.\n"


@pytest.mark.parametrize("host, problem", [
    ("999.1.1.1", "--host 999.1.1.1 is not an address or name this machine can listen on (Name or service not known)"),
    # TEST-NET-1 (RFC 5737): an address, but never one of this machine's
    ("192.0.2.1", "--host 192.0.2.1 is not an address or name this machine can listen on (Cannot assign requested "
                  "address)"),
    ("::1", "--host ::1 is not an IPv4 address or name, and sitegen serve listens on IPv4 only"),
])
def test_a_host_this_machine_cannot_listen_on_is_one_line_with_the_fix(site_dir, host, problem):
    result = CliRunner().invoke(cli, ["serve", str(site_dir), "--host", host, "--port", "0"])
    assert result.exit_code == 1 and result.exception.__class__ is SystemExit  # no traceback
    assert result.output == f"Error: {problem}{HOST_FIX}"


def test_cors_only_when_asked(server, tmp_path):
    _, headers, _ = fetch(server, SHARD_URL)
    assert "Access-Control-Allow-Origin" not in headers
    # The weights folder of a --weights-url build: shards and the marker, no index.html.
    (tmp_path / MARKER).write_text("built by sitegen\n")
    (tmp_path / "shard-00000.bin").write_bytes(b"\0" * 16)
    weights = make_server(tmp_path, port=0, cors=True)
    thread = threading.Thread(target=weights.serve_forever, daemon=True)
    thread.start()
    try:
        status, headers, body = fetch(weights, "/shard-00000.bin")
        assert (status, headers["Access-Control-Allow-Origin"], body) == (200, "*", b"\0" * 16)
    finally:
        weights.shutdown()
        weights.server_close()

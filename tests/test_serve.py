"""Preview server over real HTTP on 127.0.0.1 and ::1: types, ranges, HEAD, containment, hosts, errors."""

import errno
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from sitegen.__main__ import cli
from sitegen.errors import SitegenError
from sitegen.marker import MARKER
from sitegen import serve
from sitegen.serve import make_server, make_servers

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


def fetch(server, path, method="GET", headers=None, host="127.0.0.1"):
    conn = http.client.HTTPConnection(host, server.server_address[1], timeout=5)
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


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


needs_ipv6 = pytest.mark.skipif(not _has_ipv6(), reason="this machine has no IPv6 loopback (::1)")


@contextmanager
def running(servers):
    """Run each server of `servers` on a daemon thread for the block; shut down and closed after it."""
    threads = [threading.Thread(target=server.serve_forever, daemon=True) for server in servers]
    for thread in threads:
        thread.start()
    try:
        yield servers
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


@pytest.mark.parametrize("host", ["127.0.0.1", pytest.param("::1", marks=needs_ipv6)])
def test_port_in_use(site_dir, host):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as taken:
        taken.bind((host, 0))
        taken.listen()
        port = taken.getsockname()[1]
        expected = rf"^port {port} on {host} is already in use; choose another one with --port$"
        with pytest.raises(SitegenError, match=expected):
            make_server(site_dir, host=host, port=port)
        # localhost is both addresses: the one taken is named, whichever it is
        with pytest.raises(SitegenError, match=expected):
            make_servers(site_dir, host="localhost", port=port)


def without_low_ports() -> list[str]:
    """The command prefix that runs a command without the right to listen on ports below 1024 (root's
    CAP_NET_BIND_SERVICE dropped by setpriv); skips the test where every user has it."""
    first_free = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start")
    if not first_free.is_file() or int(first_free.read_text()) <= 80:
        pytest.skip("this system lets every user listen on port 80")
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("root here, and no setpriv (util-linux) to drop CAP_NET_BIND_SERVICE")
    return ["setpriv", "--inh-caps=-net_bind_service", "--bounding-set=-net_bind_service"]


def test_a_privileged_port_says_so_and_what_to_do(site_dir):
    command = [*without_low_ports(), sys.executable, "-m", "sitegen", "serve", str(site_dir), "--port", "80"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == ("Error: port 80 is a privileged port (below 1024): only root, or a program with the "
                             "CAP_NET_BIND_SERVICE capability, may listen on it; choose --port 1024 or above, such as "
                             "the default 8000\n")


HOST_FIX = ("; use --host localhost to serve this machine only, or --host 0.0.0.0 (IPv4) or :: (IPv6 and IPv4) to "
            "serve every network it is on.\n")


@pytest.mark.parametrize("host, problem", [
    ("999.1.1.1", "--host 999.1.1.1 is not an address or name this machine can listen on (Name or service not known)"),
    # TEST-NET-1 (RFC 5737): an address, but never one of this machine's
    ("192.0.2.1", "--host 192.0.2.1 is not an address or name this machine can listen on (Cannot assign requested "
                  "address)"),
    # IPv6's documentation prefix (RFC 3849)
    pytest.param("2001:db8::1", "--host 2001:db8::1 is not an address or name this machine can listen on (Cannot "
                 "assign requested address)", marks=needs_ipv6),
])
def test_a_host_this_machine_cannot_listen_on_is_one_line_with_the_fix(site_dir, host, problem):
    result = CliRunner().invoke(cli, ["serve", str(site_dir), "--host", host, "--port", "0"])
    assert result.exit_code == 1 and result.exception.__class__ is SystemExit  # no traceback
    assert result.output == f"Error: {problem}{HOST_FIX}"


EMPTY_HOST = ("--host is empty; leave --host out to serve this machine only (localhost), or give --host 0.0.0.0 "
              "(IPv4) or :: (IPv6 and IPv4) to serve every network it is on.")


def link_local(host):
    return (f"--host {host} is a link-local IPv6 address, which needs the interface to listen on after a %, such as "
            "--host fe80::1%eth0 (`ip address` lists them).")


@pytest.mark.parametrize("host, problem", [
    # refused rather than serving every IPv4 network, as getaddrinfo takes "" for 0.0.0.0
    ("", EMPTY_HOST), (" ", EMPTY_HOST), ("\t", EMPTY_HOST),
    ("fe80::1", link_local("fe80::1")), ("[fe80::1]", link_local("[fe80::1]")),
    ("[127.0.0.1]", "--host [127.0.0.1]: brackets are for an IPv6 address only, such as [::1]; give --host "
                    "127.0.0.1 without them."),
])
def test_a_host_that_cannot_be_used_as_given_says_what_to_give(site_dir, host, problem):
    result = CliRunner().invoke(cli, ["serve", str(site_dir), "--host", host, "--port", "0"])
    assert result.exit_code == 1 and result.exception.__class__ is SystemExit  # no traceback
    assert result.output == f"Error: {problem}\n"


@pytest.mark.parametrize("host, url_host, loopback", [
    ("localhost", "localhost", True),
    ("LocalHost", "localhost", True),
    ("0", "127.0.0.1", True),
    ("0.0.0.0", "127.0.0.1", True),
    ("127.1", "127.0.0.1", True),
    ("192.0.2.1", "192.0.2.1", False),
    ("::", "[::1]", True),
    ("0:0::0", "[::1]", True),
    ("[::1]", "[::1]", True),
    ("[0::1]", "[::1]", True),
    # RFC 6874: a zone's % is %25 in a URL
    ("fe80::1%lo", "[fe80::1%25lo]", False),
    ("[fe80::1%lo]", "[fe80::1%25lo]", False),
])
def test_listen_on_gives_every_spelling_of_an_address_its_canonical_url(host, url_host, loopback):
    listen = serve.listen_on(host)
    assert (listen.url_host, listen.loopback) == (url_host, loopback)


@needs_ipv6
def test_ipv6_hosts(site_dir):
    with running([make_server(site_dir, host="::1", port=0)]) as (server,):
        assert server.address_family == socket.AF_INET6
        assert fetch(server, "/about.html", host="::1")[::2] == (200, b"<p>about</p>")
    # "::" is every network, IPv4 included, as `python -m http.server --bind ::` is
    with running([make_server(site_dir, host="::", port=0)]) as (server,):
        for host in ("::1", "127.0.0.1"):
            assert fetch(server, "/about.html", host=host)[::2] == (200, b"<p>about</p>")


@needs_ipv6
@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "LocalHost"])  # host names ignore case
def test_localhost_is_both_loopback_addresses_on_one_port(site_dir, host):
    with running(make_servers(site_dir, host=host, port=0)) as servers:
        assert [server.server_address[0] for server in servers] == ["127.0.0.1", "::1"]
        assert servers[0].server_address[1] == servers[1].server_address[1]
        for server, host in zip(servers, ("127.0.0.1", "::1")):
            assert fetch(server, "/about.html", host=host)[::2] == (200, b"<p>about</p>")


def test_localhost_without_ipv6_is_127_0_0_1_alone(site_dir, monkeypatch):
    def no_ipv6(server):
        if server.address_family == socket.AF_INET6:
            raise OSError(errno.EADDRNOTAVAIL, os.strerror(errno.EADDRNOTAVAIL))  # as where ::1 is missing
        bind(server)
    bind = serve._PreviewServer.server_bind
    monkeypatch.setattr(serve._PreviewServer, "server_bind", no_ipv6)
    with running(make_servers(site_dir, port=0)) as servers:
        assert [server.server_address[0] for server in servers] == ["127.0.0.1"]
        assert fetch(servers[0], "/about.html")[::2] == (200, b"<p>about</p>")


@pytest.mark.parametrize("host, url_host", [
    ((), "localhost"),  # the default
    (("--host", "127.0.0.1"), "127.0.0.1"),
    (("--host", "0.0.0.0"), "127.0.0.1"),
    pytest.param(("--host", "::1"), "[::1]", marks=needs_ipv6),
    pytest.param(("--host", "::"), "[::1]", marks=needs_ipv6),
    (("--host", "LOCALHOST"), "localhost"),
    (("--host", "0"), "127.0.0.1"),  # 0.0.0.0 spelt otherwise: the URL of its canonical form
    pytest.param(("--host", "[::1]"), "[::1]", marks=needs_ipv6),  # as the URL writes it
])
def test_sitegen_serve_prints_a_url_that_opens_the_site(site_dir, host, url_host):
    command = [sys.executable, "-m", "sitegen", "serve", str(site_dir), *host, "--port", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"}) as serving:
        try:
            line = serving.stdout.readline()
            prefix, _, rest = line.partition(f" at http://{url_host}:")
            assert prefix == f"Serving {site_dir}" and rest.endswith("/ (Ctrl+C to stop)\n"), line
            url = line.split()[3]
            with urllib.request.urlopen(url + "about.html", timeout=5) as response:
                assert response.read() == b"<p>about</p>"
        finally:
            serving.send_signal(signal.SIGINT)
            stdout, _ = serving.communicate(timeout=30)
    assert serving.returncode == 0 and stdout == ""  # no note: every one of these hosts is loopback


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

"""What the chat page tells the visitor when the model cannot run, in real Chromium: neither WebGPU
nor WebAssembly (without WebGPU alone the model runs on the CPU: test_cpu_backend.py), not enough storage, a damaged download. (A full context is in test_chat_page.py; a lost GPU
device is tested in Node, tests/js/engine_host.test.js: a browser cannot be made to lose one.)
What is tested is the page's problem boxes, not a backend: the `page` runs on the CPU backend,
which loads the model faster than SwiftShader (conftest.py `browser`).
"""

import shutil
from urllib.parse import urlsplit

import pytest

from .chat import LOAD_TIMEOUT_MS, save_screenshot, wait_until_ready
from .conftest import serve_folder

pytestmark = pytest.mark.cpu_backend


def problem_of(page, timeout=LOAD_TIMEOUT_MS):
    problem = page.locator(".problem")
    problem.wait_for(state="visible", timeout=timeout)
    return problem


def test_with_neither_backend_the_page_says_which_browsers_work(launch_chromium, site_url):
    # Chromium on Linux without --enable-unsafe-webgpu: navigator.gpu exists but gives no adapter,
    # in the page, its workers and its service worker alike; and with WebAssembly hidden, the CPU
    # backend cannot run either.
    plain = launch_chromium(webgpu=False, wasm=False)
    try:
        page = plain.new_page()
        page.goto(site_url)
        problem = problem_of(page, timeout=60_000)
        assert problem.get_attribute("data-error") == "NoBackendAvailableError"
        assert problem.locator(".problem-title").inner_text() == "This browser cannot run the model"
        text = problem.locator(".problem-text").inner_text()
        assert "WebGPU" in text and "WebAssembly" in text and len(text) < 200, text  # one short sentence, no internals
        browsers = problem.locator(".problem-list li").all_inner_texts()
        assert any(line.startswith("Chrome or Edge 113") for line in browsers), browsers
        assert any("enable-unsafe-webgpu" in line for line in browsers), browsers
        # The runtime's reasons (which host tried what) are there, folded away.
        details = problem.locator(".problem-details")
        assert not details.evaluate("element => element.open")
        assert "Details:" in details.locator(".problem-details-text").text_content()
        assert "Details:" not in problem.inner_text()
        # Reloading cannot bring either: no button offers it (nor anything else).
        assert problem.locator("button").count() == 0
        assert page.locator("#prompt").is_disabled() and page.locator(".loader").is_hidden()
        save_screenshot(page, "chat-problem-no-backend")
    finally:
        plain.close()


def test_not_enough_storage_says_how_much_is_needed(context, page, site_url):
    # Chromium's own quota override (DevTools protocol): the origin may store 5 MB.
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(site_url))
    session = context.new_cdp_session(page)
    session.send("Storage.overrideQuotaForOrigin", {"origin": origin, "quotaSize": 5_000_000})
    page.goto(site_url)
    problem = problem_of(page)
    assert problem.get_attribute("data-error") == "QuotaExceededError"
    text = problem.inner_text()
    assert "Not enough storage for the model" in text
    assert "The model needs" in text and "this site may use" in text
    assert problem.locator("button[data-action=retry]").is_visible()


@pytest.fixture
def damaged_site(e2e_site, tmp_path):
    """A copy of the demo site whose last shard has flipped bytes; yields (url, shard path, good bytes)."""
    site = tmp_path / "site"
    shutil.copytree(e2e_site, site)
    # The last one: loading stops at the damaged shard, and every shard before it is cached by then.
    shard = sorted(site.glob("models/*/*.bin"))[-1]
    good = shard.read_bytes()
    damaged = bytearray(good)
    damaged[1000:1016] = bytes(16)
    shard.write_bytes(bytes(damaged))
    with serve_folder(site) as url:
        yield url, shard, good


def test_a_damaged_shard_is_downloaded_again_alone(context, page, request_log, damaged_site):
    url, shard, good = damaged_site
    page.goto(url)
    problem = problem_of(page)
    assert problem.get_attribute("data-error") == "IntegrityError"
    assert f"The model file {shard.name} did not match its checksum" in problem.inner_text()
    shard.write_bytes(good)  # the host serves the right bytes again
    request_log.clear()
    problem.locator("button[data-action=retry]").click()
    wait_until_ready(page)
    assert problem.is_hidden()
    # The shards that arrived intact came from the cache: only the damaged one was fetched again.
    assert [u.rsplit("/", 1)[-1] for u in request_log if u.endswith(".bin")] == [shard.name]

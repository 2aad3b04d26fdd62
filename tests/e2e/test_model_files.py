"""Where the site and the model's files come from and what stays cached, in real Chromium:
shards from another origin (`sitegen build --weights-url`, served with CORS), the site under a
sub-path (GitHub Pages project sites), a rebuilt site's update, and old cached files cleaned up.
"""

import re
import shutil

import pytest

from sitegen.marker import MARKER

from .chat import LOAD_TIMEOUT_MS, ask, set_settings, wait_for_reply_end, wait_until_ready
from .conftest import DEMO_MODEL, serve_folder


def test_shards_come_from_the_weights_url(page, request_log, split_site):
    site_url, weights_url = split_site
    page.goto(site_url)
    wait_until_ready(page)
    shards = [url for url in request_log if url.endswith(".bin")]
    assert shards and all(url.startswith(weights_url) for url in shards)
    assert f"{site_url}models/{DEMO_MODEL}/manifest.json" in request_log  # the manifest is the site's
    set_settings(page, temperature=0, max_tokens=2)
    ask(page, "Hi")
    assert wait_for_reply_end(page).locator(".message-body").inner_text().strip()


def test_cached_files_the_manifest_no_longer_names_are_deleted(page, site_url):
    # A shard of an earlier build of the model, left in the model's cache.
    folder = f"{site_url}models/{DEMO_MODEL}/"
    stale = f"{folder}shard-99999.bin"
    page.goto(f"{site_url}about.html")
    page.evaluate("""async ([folder, stale]) => {
        const cache = await caches.open(`sitegen-model:${folder}`);
        await cache.put(stale, new Response(new Uint8Array(64)));
    }""", [folder, stale])
    page.goto(site_url)
    wait_until_ready(page)
    cached = page.evaluate("""async (folder) => {
        const cache = await caches.open(`sitegen-model:${folder}`);
        return (await cache.keys()).map((request) => request.url);
    }""", folder)
    assert stale not in cached
    assert any(url.endswith(".bin") for url in cached) and f"{folder}manifest.json" in cached


def test_a_project_sub_path_works_like_github_pages(page, request_log, e2e_site, tmp_path):
    # GitHub Pages serves a project site at https://<user>.github.io/<project>/: every URL of the
    # site must be relative, and its service worker's scope is that folder.
    host = tmp_path / "pages"
    shutil.copytree(e2e_site, host / "project")
    (host / MARKER).write_text("the user's Pages root\n")
    with serve_folder(host) as root_url:
        url = f"{root_url}project/"
        page.goto(url)
        wait_until_ready(page)
        assert page.evaluate("document.body.dataset.engineHost") == "service-worker"
        scope = page.evaluate("async () => (await navigator.serviceWorker.ready).scope")
        assert scope == url
        outside = [u for u in request_log if u.startswith(root_url) and not u.startswith(url)]
        assert outside == []


def test_a_rebuilt_site_offers_to_update_and_keeps_the_model_cached(page, request_log, e2e_site, tmp_path):
    site = tmp_path / "site"
    shutil.copytree(e2e_site, site)
    with serve_folder(site) as url:
        page.goto(url)
        wait_until_ready(page)
        assert page.locator(".update").is_hidden()
        # A redeploy: the shell changed (a new title), so sw.js names a new shell version.
        index = (site / "index.html").read_text()
        (site / "index.html").write_text(index.replace("<title>", "<title>v2 "))
        sw = (site / "sw.js").read_text()
        (site / "sw.js").write_text(re.sub(r'const VERSION = "(\w+)"', 'const VERSION = "0000000000000002"', sw))
        page.reload()  # the browser checks sw.js on navigation and installs the new one beside the old
        update = page.locator(".update")
        update.wait_for(state="visible", timeout=LOAD_TIMEOUT_MS)
        request_log.clear()
        update.locator("button").click()
        page.wait_for_function("() => document.title.startsWith('v2 ')", timeout=LOAD_TIMEOUT_MS)
        wait_until_ready(page)
        assert page.locator(".update").is_hidden()
        # The new version's worker loaded the model again, from the cache: no shard was downloaded.
        assert not [u for u in request_log if u.endswith(".bin")]

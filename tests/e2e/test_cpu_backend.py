"""The site on the CPU backend (runtime/wasm/), in real Chromium without WebGPU (no
--enable-unsafe-webgpu: what Linux users get by default): the chat answers and says it runs on the
CPU, and that a reload would add threads; once the service worker controls the page, a reload makes
it cross-origin isolated (the service worker adds COOP and COEP, which a static host cannot send), so
the CPU backend runs on threads (and Stop reaches it there), while the weights still come from their --weights-url host
under COEP require-corp; and it answers offline after a reload.
(A browser with neither backend: test_chat_problems.py.)
"""

import re

from playwright.sync_api import expect

from .chat import ask, set_settings, wait_for_reply_end, wait_for_reply_text, wait_until_ready

QUESTION = "What is the capital of France?"


def answer(page) -> str:
    """A greedy answer to QUESTION in a new chat (the page reopens the last conversation after a reload)."""
    page.click(".new-chat")
    set_settings(page, temperature=0, max_tokens=8)  # "The capital of France is Paris."
    ask(page, QUESTION)
    return wait_for_reply_end(page).locator(".message-body").inner_text()


def shards_from(requests: list[str], weights_url: str) -> list[str]:
    shards = [url for url in requests if url.endswith(".bin")]
    assert all(url.startswith(weights_url) for url in shards), shards
    return shards


def test_without_webgpu_the_site_runs_on_the_cpu_isolated_then_offline(launch_chromium, split_site):
    site_url, weights_url = split_site
    plain = launch_chromium(webgpu=False)
    try:
        context = plain.new_context()
        requests: list[str] = []
        context.on("request", lambda sent: requests.append(sent.url))
        page = context.new_page()

        # First visit: no service worker controls the page yet, so it is not isolated (one thread).
        page.goto(site_url)
        wait_until_ready(page)
        body = page.locator("body")
        assert (body.get_attribute("data-engine-backend"), body.get_attribute("data-engine-host")) == ("wasm", "worker")
        note = page.locator(".backend-note")
        assert note.is_visible()
        # (after the reload sentence, where the service worker is ready already: see below)
        assert "Running on the CPU (WebAssembly): this browser has no usable WebGPU." in note.inner_text()
        assert shards_from(requests, weights_url)
        assert page.evaluate("() => crossOriginIsolated") is False
        # One thread now; once the service worker is active, the note says what a reload gives: a thread
        # per core up to 4 (runtime/cpu_threads.js), where that is more than one.
        threads = min(page.evaluate("() => navigator.hardwareConcurrency"), 4)
        reload_note = f"Reload the page to run it on {threads} threads instead of 1, for faster replies."
        page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
        if threads > 1:
            # the reload first, in sight where the note scrolls inside itself (a phone held sideways)
            expect(note.locator(".backend-note-text")).to_have_text(re.compile(rf"^{re.escape(reload_note)} Running on the CPU"))
        else:
            expect(note).not_to_contain_text("Reload the page")
        assert "Paris" in answer(page)
        # Read once, the note can be hidden (on a phone it takes room from the chat): it stays hidden.
        note.locator(".hide-backend-note").click()
        assert note.is_hidden()

        # Reloaded under the service worker: isolated. The model's cache is emptied first, so that the
        # shards come again from the weights host, now under COEP require-corp (CORS mode, its
        # Access-Control-Allow-Origin is what lets them in).
        page.evaluate("""async () => {
            for (const key of await caches.keys()) if (key.startsWith('sitegen-model:')) await caches.delete(key);
        }""")
        requests.clear()
        page.reload()
        wait_until_ready(page)
        assert page.locator(".backend-note").is_hidden(), "hidden by the visitor before the reload"
        assert page.evaluate("() => crossOriginIsolated") is True
        assert page.evaluate("() => typeof SharedArrayBuffer") == "function"
        assert "Reload the page" not in note.locator(".backend-note-text").text_content(), "the threads run now"
        # The engine's worker too: its script came through the service worker with the same headers.
        (engine_worker,) = [worker for worker in page.workers if worker.url.endswith("/runtime/worker.js")]
        assert engine_worker.evaluate("() => crossOriginIsolated") is True
        # Isolated, the CPU backend splits its work over threads: one per core up to 4 (runtime/wasm/threads.js
        # defaultThreads), the engine's worker taking the first share and a thread worker each of the others.
        assert threads == min(engine_worker.evaluate("() => navigator.hardwareConcurrency"), 4)
        thread_workers = [worker for worker in page.workers if worker.url.endswith("/runtime/wasm/thread_worker.js")]
        assert len(thread_workers) == threads - 1, [worker.url for worker in page.workers]
        assert shards_from(requests, weights_url)
        assert "Paris" in answer(page)
        # Stop reaches a reply on threads (the backend yields to the worker's events between steps).
        set_settings(page, temperature=0.8, max_tokens=400)
        ask(page, "Write a long story about a lighthouse keeper.")
        wait_for_reply_text(page)
        page.click(".composer .stop")
        stopped = wait_for_reply_end(page)
        assert "stopped" in stopped.locator(".message-stats").inner_text()
        assert stopped.locator(".message-body").inner_text().strip()

        # Offline: the shell (the wasm kernels included) from the service worker's cache, the model from its own.
        context.set_offline(True)
        page.reload()
        wait_until_ready(page)
        assert page.evaluate("() => crossOriginIsolated") is True
        assert body.get_attribute("data-engine-backend") == "wasm" and note.is_hidden()
        assert "Paris" in answer(page)
    finally:
        plain.close()

"""A site of two models (the real SmolLM2 and a tiny random Qwen2) in Chromium: the picker shows
both with what each has downloaded and whether the engine holds it; the visitor picks one, chats,
switches, deletes the other's download, and an offline reload still serves the one cached;
/v1/models lists both and a request's `model` names one, loading it beside the tab's (both fit);
offline, a model not downloaded is said to be so, on the page and by /v1; without WebGPU the picker
says the model runs on the CPU, in memory, not in GPU memory."""

import time

import pytest

from sitegen.commands.build import build
from sitegen.config import load_build_config

from .chat import ask, set_settings, wait_for_reply_end, wait_until_ready
from .conftest import DEMO_MODEL, serve_folder

TINY_NAME = "Tiny Qwen"


@pytest.fixture(scope="module")
def two_model_site(tmp_path_factory, tiny_qwen2):
    """(URL of the served site, the tiny model's id)."""
    out = tmp_path_factory.mktemp("two-models") / "site"
    models = (DEMO_MODEL, {"model": str(tiny_qwen2[0]), "name": TINY_NAME})
    build(load_build_config(None, {"models": models, "out": out}), log=lambda line: None)
    with serve_folder(out) as url:
        yield url, tiny_qwen2[0].name


def chosen(page) -> str:
    return page.locator(".model-picker input[name=model]:checked").get_attribute("value")


def wait_for_stored(page, model_id, text):
    """Wait until the picker says `text` (a prefix) of what `model_id` has downloaded."""
    page.wait_for_function("([id, text]) => document.querySelector(`[data-model-id='${id}'] .model-stored`)"
                           "?.textContent.startsWith(text)", arg=[model_id, text], timeout=60_000)


def post_chat(page, model):
    return page.evaluate("""async (model) => {
      const response = await fetch('v1/chat/completions', { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 }) });
      return { status: response.status, retryAfter: response.headers.get('Retry-After'), body: await response.json() };
    }""", model)


def wait_for_held(page, model_id, held):
    """Wait until the picker says the engine holds `model_id` as `held` ('ready', 'loading', '')."""
    page.wait_for_selector(f".model-picker [data-model-id='{model_id}'][data-held='{held}']", timeout=120_000)


def test_pick_chat_switch_delete_and_reload_offline(context, two_model_site):
    url, tiny = two_model_site
    page = context.new_page()
    page.goto(url)
    wait_until_ready(page)
    assert chosen(page) == DEMO_MODEL  # a first visit loads the site's first model
    wait_for_stored(page, DEMO_MODEL, "Downloaded")
    wait_for_stored(page, tiny, "Not downloaded; ")  # with the room the browser leaves, cached models counted
    assert "persistent storage" in page.locator(".storage-status").text_content()
    ids = page.evaluate("async () => (await (await fetch('v1/models')).json()).data.map((model) => model.id)")
    assert ids == [DEMO_MODEL, tiny]
    assert page.locator(".site-header nav a[href='about.html']").text_content() == "About the models"

    # Pick the tiny model, on a phone, in the Chats drawer: the drawer closes, uncovering the
    # usual loading progress; both fit, so the engine keeps SmolLM2 for other tabs and API
    # requests, and the picker says so.
    desktop = page.viewport_size
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator(".toggle-sidebar").click()
    page.wait_for_selector("#conversations.open")
    page.locator(f".model-picker input[value='{tiny}']").check()
    assert page.locator(".toggle-sidebar").get_attribute("aria-expanded") == "false"
    assert page.locator(".drawer-backdrop").is_hidden()
    page.set_viewport_size(desktop)
    page.wait_for_selector(f".model-picker[data-running='{tiny}']", timeout=120_000)
    wait_until_ready(page)
    wait_for_stored(page, tiny, "Downloaded")
    wait_for_held(page, tiny, "ready")
    wait_for_held(page, DEMO_MODEL, "ready")
    assert "loaded in GPU memory" in page.locator(f"[data-model-id='{DEMO_MODEL}'] .model-stored").text_content()
    # The composer and the settings' defaults are the tiny model's now, not the site's first model's.
    assert page.locator("#prompt").get_attribute("placeholder") == f"Message {TINY_NAME}"
    sampling = page.evaluate(f"""() => JSON.parse(document.querySelector('.chat-app').dataset.models)
                                   .find((model) => model.id === '{tiny}').chatSampling""")
    temperature = page.locator("#setting-temperature")
    assert temperature.get_attribute("placeholder") == (str(sampling["temperature"]) if sampling else "default")
    assert temperature.get_attribute("data-chat-default") == (str(sampling["temperature"]) if sampling else None)
    set_settings(page, max_tokens=3)
    ask(page, "Hello")
    wait_for_reply_end(page)
    assert page.locator(".message.assistant").count() == 1
    # The endpoint runs a request for the loaded model, and refuses a model the site lacks.
    assert post_chat(page, tiny)["status"] == 200
    assert post_chat(page, "nope")["status"] == 404

    # Delete SmolLM2's download (the running model's own delete is hidden: switch first).
    assert page.locator(f"[data-model-id='{tiny}'] .delete-model").is_hidden()
    confirmations = []
    page.once("dialog", lambda dialog: (confirmations.append(dialog.message), dialog.accept()))
    page.locator(f"[data-model-id='{DEMO_MODEL}'] .delete-model").click()
    wait_for_stored(page, DEMO_MODEL, "Not downloaded")
    caches = page.evaluate("async () => (await caches.keys()).filter((key) => key.startsWith('sitegen-model:'))")
    assert len(caches) == 1 and f"/models/{tiny}/" in caches[0]
    # A page cannot tell whether another tab or the API runs that model: the confirmation says what deleting does then.
    assert "another tab of this site, or a program using its API" in confirmations[0]

    # Offline, a reload remembers the choice and serves the cached model.
    context.set_offline(True)
    try:
        page.reload()
        wait_until_ready(page)
        assert chosen(page) == tiny
        wait_for_held(page, tiny, "ready")  # the service worker still holds it: the reloaded picker hears so
        ask(page, "Again")
        wait_for_reply_end(page)
        assert page.locator(".message.assistant").count() == 2
    finally:
        context.set_offline(False)


def test_a_request_for_the_other_model_loads_it_beside_the_tabs_and_the_picker_shows_it(context, two_model_site):
    url, tiny = two_model_site
    page = context.new_page()
    page.goto(url)
    wait_until_ready(page)  # the site's first model, SmolLM2
    set_settings(page, max_tokens=2)
    wait_for_stored(page, tiny, "Not downloaded")
    # An API request names the tiny model: 503 with Retry-After naming it while it loads, then runs.
    first = post_chat(page, tiny)
    assert first["status"] == 503 and first["body"]["error"]["code"] == "model_not_loaded"
    assert f"The model {tiny} is loading" in first["body"]["error"]["message"] and int(first["retryAfter"]) > 0
    deadline = time.monotonic() + 120
    while post_chat(page, tiny)["status"] != 200:
        assert time.monotonic() < deadline, "the tiny model did not load for the API in 120 s"
        page.wait_for_timeout(1000)
    # The picker heard it without a reload: downloaded, and held beside the tab's own.
    wait_for_stored(page, tiny, "Downloaded; loaded in GPU memory")
    wait_for_held(page, DEMO_MODEL, "ready")
    assert page.locator(".model-picker").get_attribute("data-running") == DEMO_MODEL
    # Both fit: the tab's next message is answered by its own model, with no switch.
    ask(page, "Hello")
    wait_for_reply_end(page)
    assert page.locator(".problem").is_hidden()
    assert page.locator(".message.assistant").count() == 1


def test_offline_a_model_not_downloaded_is_said_to_be_so_on_the_page_and_by_the_endpoint(context, two_model_site):
    url, tiny = two_model_site
    page = context.new_page()
    page.goto(url)
    wait_until_ready(page)
    context.set_offline(True)
    try:
        page.locator(f".model-picker input[value='{tiny}']").check()
        page.wait_for_selector(".problem:visible", timeout=60_000)
        assert page.locator(".problem-title").text_content() == "The model could not be downloaded"
        assert "offline" in page.locator(".problem-text").text_content()
        answer = post_chat(page, tiny)
        assert (answer["status"], answer["body"]["error"]["code"]) == (503, "network_error")
        assert "offline" in answer["body"]["error"]["message"] and int(answer["retryAfter"]) > 0
    finally:
        context.set_offline(False)
    # Back online, "Try again" goes through the picker (busy meanwhile, then running it).
    page.locator(".problem-actions button", has_text="Try again").click()
    page.wait_for_selector(f".model-picker[data-running='{tiny}']", timeout=120_000)
    wait_for_stored(page, tiny, "Downloaded")


def test_without_webgpu_the_picker_says_the_model_is_loaded_in_memory_on_the_cpu(launch_chromium, two_model_site):
    url, tiny = two_model_site
    plain = launch_chromium(webgpu=False)  # the page's own worker runs the models, on the CPU backend
    try:
        page = plain.new_page()
        page.goto(url)
        wait_until_ready(page)
        assert page.locator("body").get_attribute("data-engine-backend") == "wasm"
        wait_for_stored(page, DEMO_MODEL, "Downloaded; loaded in memory (CPU)")
        assert "GPU" not in page.locator(f"[data-model-id='{DEMO_MODEL}'] .model-stored").text_content()
        # A switch ends the page's worker with its model: the picker says the new one is held, the old one not.
        page.locator(f".model-picker input[value='{tiny}']").check()
        page.wait_for_selector(f".model-picker[data-running='{tiny}']", timeout=120_000)
        wait_for_stored(page, tiny, "Downloaded; loaded in memory (CPU)")
        wait_for_held(page, DEMO_MODEL, "")
        assert page.locator(f"[data-model-id='{DEMO_MODEL}'] .model-stored").text_content() == "Downloaded"
    finally:
        plain.close()

"""The completion page of a base model (the real Gemma 3 270M, manifest chat_template null) in real
Chromium: the page says it continues text, the settings dialog sets greedy decoding, the France
question is continued with Paris as plain text, screen readers hear only the continuation, Stop
ends a longer one (saying "Stopping…" while the prompt is still read), "Continue the text" is offered
only with a text to continue, an empty or too long text is refused without losing it, "Continue from
here" never overwrites an edit, the page fits a phone, and it works offline without ever loading the
chat page's code.
Nothing here is about WebGPU: the page runs on the CPU backend (conftest.py `browser`), which
reads and continues text several times as fast as SwiftShader (a 262k-row LM head per token); Gemma 3
270M on WebGPU is tests/js/gemma3_270m.test.js's.
"""

import json
import time

import pytest
from playwright.sync_api import expect

from .chat import ARTIFACTS, REPLY_TIMEOUT_MS, assert_kept_as_typed, save_screenshot, set_settings, wait_until_ready
from .conftest import serve_folder
from .test_accessibility import AXE, axe_violations

pytestmark = pytest.mark.cpu_backend

PROMPT = "Question: What is the capital of France?\nAnswer:"


# What only the chat page loads (tests/test_site.py checks the site does not carry it at all).
CHAT_ONLY = ("runtime/app.js", "runtime/ui/chat_view.js", "runtime/ui/markdown.js", "runtime/vendor/markdown-it.mjs")


@pytest.fixture(scope="module")
def requests() -> list[str]:
    """Every URL the page's context requested (service worker and workers included)."""
    return []


@pytest.fixture(scope="module")
def completion_page(gemma3_270m_site, browser, requests):
    assert gemma3_270m_site.build.returncode == 0, gemma3_270m_site.build.stderr
    with serve_folder(gemma3_270m_site.site) as url:
        context = browser.new_context()
        context.on("request", lambda sent: requests.append(sent.url))
        page = context.new_page()
        started = time.perf_counter()
        page.goto(url)
        wait_until_ready(page)
        print(f"the Gemma 3 270M site loaded in {time.perf_counter() - started:.0f} s")
        yield page
        context.close()


def complete(page, text):
    page.fill("#prompt", text)
    page.press("#prompt", "Control+Enter")


def wait_for_end(page):
    page.wait_for_selector(".completion-form .send:visible", timeout=REPLY_TIMEOUT_MS)


def context_length(site):
    (manifest,) = site.glob("models/*/manifest.json")
    return json.loads(manifest.read_text())["architecture"]["context_length"]


def test_the_page_says_it_continues_text(completion_page):
    page = completion_page
    expect(page.locator(".base-model-note")).to_contain_text("gemma3-270m is a base model")
    expect(page.locator(".site-header [aria-current=page]")).to_have_text("Text completion")
    expect(page.locator(".conversations")).to_have_count(0)
    expect(page.locator("#system-prompt")).to_have_count(0)  # no chat, so no system prompt


def test_continues_the_france_question_with_paris_as_plain_text(completion_page):
    page = completion_page
    set_settings(page, temperature=0, max_tokens=8)
    complete(page, PROMPT)
    wait_for_end(page)
    expect(page.locator(".completion-prompt")).to_have_text(PROMPT)
    text = page.locator(".completion-text")
    expect(text).to_contain_text("Paris")
    assert text.evaluate("element => element.children.length") == 0  # text, never markup
    expect(page.locator(".completion .message-stats")).to_contain_text("8 tokens")
    save_screenshot(page, "completion-gemma3-270m")
    assert (ARTIFACTS / "completion-gemma3-270m.png").is_file()


def test_screen_readers_hear_the_continuation_not_the_prompt_again(completion_page):
    page = completion_page
    # The one live region of the result is the model's text (busy while it streams, so it is read
    # once, whole); the status line is a polite status; the prompt is in neither.
    live = page.locator(".completion [aria-live], .completion [role=status]")
    expect(live).to_have_count(2)
    expect(page.locator(".completion-text")).to_have_attribute("aria-live", "polite")
    expect(page.locator(".completion-text")).to_have_attribute("aria-busy", "false")
    expect(page.locator(".completion-status")).to_have_attribute("role", "status")
    assert page.locator(".completion-prompt").evaluate("element => !element.closest('[aria-live], [role=status]')")


def test_continue_from_here_never_overwrites_an_edit(completion_page):
    page = completion_page
    full = page.locator(".completion-prompt").text_content() + page.locator(".completion-text").text_content()
    button, note = page.locator(".continue-further"), page.locator("#continue-note")
    expect(button).to_be_enabled()
    page.fill("#prompt", PROMPT + " (edited)")
    expect(button).to_be_disabled()
    expect(note).to_be_visible()
    expect(note).to_contain_text("continues your version")
    assert page.locator("#prompt").input_value() == PROMPT + " (edited)"
    page.fill("#prompt", PROMPT)  # back to the text that was continued
    expect(button).to_be_enabled()
    expect(note).to_be_hidden()
    set_settings(page, max_tokens=2)
    button.click()
    expect(page.locator("#prompt")).to_have_value(full)
    wait_for_end(page)
    expect(page.locator(".completion-prompt")).to_have_text(full)
    expect(page.locator(".completion .message-stats")).to_contain_text("2 tokens")


def test_an_empty_text_is_refused_with_a_message_at_the_field(completion_page):
    page = completion_page
    page.fill("#prompt", "  \n ")
    page.press("#prompt", "Control+Enter")
    error = page.locator("#prompt-error")
    expect(error).to_have_text("Write the start of a text first: the model continues it.")
    expect(error).to_have_attribute("role", "alert")
    expect(page.locator("#prompt")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#prompt")).to_be_focused()
    assert "prompt-error" in page.locator("#prompt").get_attribute("aria-describedby").split()
    expect(page.locator(".completion-form .send")).to_be_visible()  # nothing started
    page.locator("#prompt").press_sequentially("Once")
    expect(error).to_be_empty()
    assert page.locator("#prompt").get_attribute("aria-invalid") is None


def test_continue_is_offered_only_with_a_text_to_continue(completion_page):
    """While the box holds nothing but white space, "Continue the text" is disabled, as the
    accessibility tree says (the engine refuses an empty prompt and the page sends none); it follows
    what is typed and the text kept across a reload. Ctrl+Enter there starts nothing (the field says
    why); Stop still takes the button's place while a completion runs."""
    page = completion_page
    prompt = page.locator("#prompt")
    send = page.get_by_role("button", name="Continue the text", exact=True)
    disabled_send = page.get_by_role("button", name="Continue the text", exact=True, disabled=True)
    for text in ("", "  \n\t "):
        prompt.fill(text)
        expect(send).to_be_disabled()
        expect(disabled_send).to_have_count(1)
        prompt.press("Control+Enter")
        expect(prompt).to_have_value(text)
        expect(page.locator(".completion-form .stop")).to_be_hidden()  # nothing started
    prompt.fill("Once")
    expect(send).to_be_enabled()
    expect(disabled_send).to_have_count(0)
    prompt.fill("")
    expect(send).to_be_disabled()
    # The text kept across a reload: the button follows it.
    prompt.fill("Once upon a time")
    page.reload()
    wait_until_ready(page)
    expect(prompt).to_have_value("Once upon a time")
    expect(send).to_be_enabled()
    prompt.fill(" ")
    page.reload()
    wait_until_ready(page)
    expect(prompt).to_have_value(" ")
    expect(send).to_be_disabled()
    # Sent by the button: Stop in its place, then the button back, enabled for the text still there.
    set_settings(page, temperature=0, max_tokens=2)
    prompt.fill("Once upon a time")
    # Pressed and read back in one task: the page shows the completion under way before its first await.
    shown = page.evaluate("""() => {
      document.querySelector('.completion-form .send').click();
      const form = document.querySelector('.completion-form');
      return { send: !form.querySelector('.send').hidden, stop: !form.querySelector('.stop').hidden };
    }""")
    assert shown == {"send": False, "stop": True}
    wait_for_end(page)
    expect(send).to_be_enabled()
    prompt.fill("")
    expect(send).to_be_disabled()


def test_a_text_too_long_is_refused_and_kept_not_echoed(completion_page, gemma3_270m_site):
    page = completion_page
    long_text = "word " * (context_length(gemma3_270m_site.site) + 50)
    page.fill("#prompt", long_text)
    page.press("#prompt", "Control+Enter")
    problem = page.locator(".problem")
    problem.wait_for(state="visible", timeout=REPLY_TIMEOUT_MS)
    assert problem.get_attribute("data-error") == "ContextWindowExceededError"
    expect(problem.locator(".problem-title")).to_have_text("This text is too long")
    expect(problem.locator(".problem-text")).to_contain_text("Shorten it (your text stays in the box)")
    expect(page.locator(".completion")).to_be_hidden()  # nothing of the refused text is echoed
    assert page.locator("#prompt").input_value() == long_text  # the visitor's text stays
    assert "conversation" not in problem.inner_text().lower()
    problem.locator("button[data-action=dismiss]").click()
    expect(problem).to_be_hidden()
    expect(page.locator("#prompt")).to_be_focused()


def test_stop_while_the_prompt_is_read_says_stopping_until_it_ends(completion_page):
    page = completion_page
    set_settings(page, max_tokens=8)
    complete(page, "The history of the city, told street by street: " + "north, south, east, west; " * 120)
    page.wait_for_function("() => document.querySelector('.completion-status').textContent.startsWith('Reading your text')",
                           timeout=REPLY_TIMEOUT_MS)
    # Pressed and read back in one task: what the button says at once, before the engine answers.
    pressed = page.evaluate("""() => {
      const stop = document.querySelector('.completion-form .stop');
      stop.click();
      return { label: stop.textContent, disabled: stop.disabled, status: document.querySelector('.completion-status').textContent };
    }""")
    assert pressed == {"label": "Stopping…", "disabled": True, "status": "Stopping…"}
    wait_for_end(page)
    expect(page.locator(".completion-form .stop")).to_be_hidden()
    expect(page.locator(".completion-form .stop")).to_have_text("Stop")  # ready for the next one
    status = page.locator(".completion-status")
    if page.locator(".completion-output").is_visible():  # the last slice ran into the first token
        expect(page.locator(".completion .message-stats")).to_contain_text("stopped")
    else:
        expect(status).to_have_text("Stopped before the model wrote anything.")
    expect(page.locator("#prompt")).to_be_enabled()


def test_stop_ends_a_completion_and_keeps_its_text(completion_page):
    page = completion_page
    set_settings(page, max_tokens=64)
    complete(page, "Once upon a time")
    page.wait_for_function("() => document.querySelector('.completion-text')?.textContent.length > 0",
                           timeout=REPLY_TIMEOUT_MS)
    page.click(".completion-form .stop")
    wait_for_end(page)
    expect(page.locator(".completion .message-stats")).to_contain_text("stopped")
    assert page.locator(".completion-text").text_content()
    expect(page.locator("#prompt")).to_be_enabled()


def test_the_text_is_kept_without_a_write_per_keystroke(completion_page):
    # The key of runtime/completion_app.js PROMPT, for the site at the server's root.
    assert_kept_as_typed(completion_page, "sitegen-prompt:/", "Once upon a time")


def test_fits_a_phone(completion_page):
    page = completion_page
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        # Nothing wider than the screen: no sideways scrolling, every control reachable.
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        for selector in ("#prompt", ".completion-form .send", ".open-settings", ".theme-toggle"):
            box = page.locator(selector).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, selector
        assert page.locator("#prompt").bounding_box()["width"] >= 300
        expect(page.locator(".base-model-note")).to_be_visible()
        save_screenshot(page, "completion-gemma3-270m-phone")
        # axe-core's WCAG rules, with a completion shown and the field's empty-text message.
        assert axe_violations(page, AXE.read_text()) == []
        page.fill("#prompt", "")
        page.press("#prompt", "Control+Enter")  # the button is disabled: the shortcut says why
        expect(page.locator("#prompt-error")).not_to_be_empty()
        assert axe_violations(page, AXE.read_text()) == []
    finally:
        page.set_viewport_size({"width": 1280, "height": 720})


def test_works_offline_after_the_first_load(completion_page, requests):
    page = completion_page
    page.fill("#prompt", "Once upon a time")
    page.context.set_offline(True)
    try:
        page.reload()
        wait_until_ready(page)  # the page from the service worker's shell, the model from Cache Storage
        expect(page.locator(".base-model-note")).to_be_visible()
        expect(page.locator("#prompt")).to_have_value("Once upon a time")  # the text typed is kept
        set_settings(page, temperature=0, max_tokens=2)
        complete(page, "Once upon a time")
        wait_for_end(page)
        expect(page.locator(".completion .message-stats")).to_contain_text("2 tokens")
        expect(page.locator(".problem")).to_be_hidden()
    finally:
        page.context.set_offline(False)
    # Not one request, online or offline, for what only the chat page loads.
    assert not [url for url in requests if url.endswith(CHAT_ONLY)]


def test_with_neither_backend_the_problem_speaks_of_this_page_not_a_chat(launch_chromium, gemma3_270m_site):
    plain = launch_chromium(webgpu=False, wasm=False)  # no GPU adapter, no WebAssembly: nothing runs the model
    try:
        with serve_folder(gemma3_270m_site.site) as url:
            page = plain.new_page()
            page.goto(url)
            problem = page.locator(".problem")
            problem.wait_for(state="visible", timeout=60_000)
            assert problem.get_attribute("data-error") == "NoBackendAvailableError"
            text = problem.locator(".problem-text").inner_text()
            assert text.startswith("This page runs the model on your device's GPU through WebGPU, or else on its "
                                   "processor through WebAssembly; this browser offers neither"), text
            assert "chat" not in problem.inner_text().lower()
    finally:
        plain.close()

"""The completion page of a base model (the real Gemma 3 270M, manifest chat_template null) in real
Chromium (SwiftShader WebGPU): the page says it continues text, the settings dialog sets greedy
decoding, the France question is continued with Paris as plain text, Stop ends a longer one, and
the page works offline.
Measured on a 2-core machine: the module takes about 70 s, the build included; the page loads the
model in about 9 s and decodes a few tokens per second (a 262k-row LM head per token).
"""

import time

import pytest
from playwright.sync_api import expect

from .chat import ARTIFACTS, REPLY_TIMEOUT_MS, save_screenshot, set_settings, wait_until_ready
from .conftest import serve_folder

PROMPT = "Question: What is the capital of France?\nAnswer:"


@pytest.fixture(scope="module")
def completion_page(gemma3_270m_site, browser):
    assert gemma3_270m_site.build.returncode == 0, gemma3_270m_site.build.stderr
    with serve_folder(gemma3_270m_site.site) as url:
        context = browser.new_context()
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


def test_works_offline_after_the_first_load(completion_page):
    page = completion_page
    page.context.set_offline(True)
    try:
        page.reload()
        wait_until_ready(page)  # the page from the service worker's shell, the model from Cache Storage
        expect(page.locator(".base-model-note")).to_be_visible()
        expect(page.locator("#prompt")).to_have_value("Once upon a time")  # the text typed is kept
    finally:
        page.context.set_offline(False)

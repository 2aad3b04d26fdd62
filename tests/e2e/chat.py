"""Driving the chat page (templates/index.html) from Playwright, as a visitor would."""

import json
from pathlib import Path

# Screenshots of the page's states, for people to look at (build/e2e-artifacts/).
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "e2e-artifacts"

# SwiftShader loads the model in tens of seconds and decodes about one token per second.
LOAD_TIMEOUT_MS = 240_000
REPLY_TIMEOUT_MS = 120_000


def wait_until_ready(page):
    page.wait_for_selector("#prompt:enabled", timeout=LOAD_TIMEOUT_MS)


def open_settings(page):
    """Open the settings dialog from the header (a modal: the rest of the page is inert meanwhile)."""
    if not page.locator("#settings-dialog").evaluate("dialog => dialog.open"):
        page.click(".open-settings")


def close_settings(page):
    page.locator("#settings-dialog .close-settings").click()


def set_settings(page, close=True, **values):
    """Fill the settings form; `close`: close the dialog afterwards, so the chat can be used."""
    open_settings(page)
    for name, value in values.items():
        page.fill(f".settings-form [name={name}]", str(value))
    if close:
        close_settings(page)


def ask(page, text):
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")


# Predicates are functions, not expressions: Playwright evaluates an expression with eval, which
# the page's CSP (no 'unsafe-eval') refuses.
def wait_for_reply_text(page):
    page.wait_for_function(
        "() => document.querySelector('.message.assistant.streaming .message-body')?.textContent.length > 0",
        timeout=REPLY_TIMEOUT_MS)


def wait_for_reply_end(page):
    page.wait_for_selector(".composer .send:visible", timeout=REPLY_TIMEOUT_MS)
    return page.locator(".message.assistant").last


def open_imported(page, folder, conversation, drawer=False):
    """Import `conversation` as the page's Import button takes it (an export file), and open it.

    Imported conversations are untrusted and rendered like replies: the way to put exact text on
    the page without making the model say it. `drawer`: open the phone drawer first (where the
    Import button and the list are).
    """
    file = folder / f"{conversation['id']}.json"
    file.write_text(json.dumps({"format": "sitegen-conversations", "version": 1, "conversations": [conversation]}))
    if drawer:
        page.click(".toggle-sidebar")
    page.set_input_files(".import-chats input", str(file))
    page.locator(".conversation", has_text=conversation["title"]).locator(".open-conversation").click()


def read_local(page, key):
    """The page's localStorage value of `key` (None: no such key)."""
    return page.evaluate("(key) => localStorage.getItem(key)", key)


def assert_kept_as_typed(page, key, text):
    """The text typed in the page's #prompt is kept under localStorage `key` as keptText
    (runtime/ui/site_storage.js) keeps it: `text` typed key by key, as fast as keys come, makes at most
    three writes; cleared, the key goes; typed just before its tab closes, it is kept all the same.
    `key`: the key, or a function of a page giving that page's (the chat page keeps each chat's
    text under a key of its own). Leaves the page's #prompt empty."""
    key_of = key if callable(key) else lambda _page: key
    key = key_of(page)
    prompt = page.locator("#prompt")
    prompt.fill("")
    # Counts the page's writes of `key`: localStorage itself, each call passed on to it.
    page.evaluate("""(key) => {
        const setItem = Storage.prototype.setItem;
        window.keptWrites = 0;
        Storage.prototype.setItem = function (name, value) {
            if (name === key) window.keptWrites += 1;
            return setItem.call(this, name, value);
        };
    }""", key)
    prompt.press_sequentially(text)
    page.wait_for_function("([key, text]) => localStorage.getItem(key) === text", arg=[key, text])
    writes = page.evaluate("() => window.keptWrites")
    assert writes <= 3, f"{writes} writes of {key} for {len(text)} keystrokes"
    # Cleared by hand, it is forgotten, not kept as an empty text.
    prompt.fill("")
    page.wait_for_function("(key) => localStorage.getItem(key) === null", arg=key)
    # Written as the page goes away.
    other = page.context.new_page()
    other.goto(page.url)
    wait_until_ready(other)
    other.locator("#prompt").fill("Written, then the tab closed")
    other_key = key_of(other)
    other.close()
    assert read_local(page, other_key) == "Written, then the tab closed"


def save_screenshot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # The viewport only: the chat page is one screen tall (its panes scroll), and a full-page
    # capture resizes the view, which drops a color scheme emulated with page.emulate_media.
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))

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


def save_screenshot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # The viewport only: the chat page is one screen tall (its panes scroll), and a full-page
    # capture resizes the view, which drops a color scheme emulated with page.emulate_media.
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))

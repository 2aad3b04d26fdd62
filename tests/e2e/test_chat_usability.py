"""The chat page's settings, keyboard and problem boxes as a visitor meets them, in real Chromium
on the SmolLM2 site: invalid settings are shown and block sending, the composer has focus when it
can be used, Enter sends from the edit box, a bad import is a problem the visitor can dismiss.
Nothing here is about WebGPU: the page runs on the CPU backend, many times as fast as SwiftShader
(conftest.py `browser`; tabs sharing the service worker's engine, which runs on WebGPU only, are
test_chat_page.py's). The tests share one visit (the model loads once), in order; replies are two
tokens long.
"""

import re

import pytest
from playwright.sync_api import expect

from .chat import (ask, assert_kept_as_typed, close_settings, open_imported, open_settings, read_local, save_screenshot,
                   set_settings, wait_for_reply_end, wait_for_reply_text, wait_until_ready)

pytestmark = pytest.mark.cpu_backend


@pytest.fixture(scope="module")
def chat(browser, site_url):
    """One visitor's page for the module: the model loads once."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(site_url)
    yield page
    context.close()


def test_the_composer_has_focus_once_the_model_is_ready(chat):
    wait_until_ready(chat)
    expect(chat.locator("#prompt")).to_be_focused()
    save_screenshot(chat, "chat-ready-composer-focused")


def test_send_is_offered_only_with_a_message_to_send(chat, tmp_path):
    """While the message box holds nothing but white space, Send is disabled, as the accessibility
    tree says (screen readers announce it so), and Enter does nothing (sends nothing, adds no line).
    The button follows what is typed, and a chat's unsent text shown again: after a reload, and on
    going back to that chat."""
    prompt = chat.locator("#prompt")
    send = chat.get_by_role("button", name="Send", exact=True)
    disabled_send = chat.get_by_role("button", name="Send", exact=True, disabled=True)
    expect(prompt).to_have_value("")
    expect(disabled_send).to_have_count(1)
    for text in ("", "  \n\t "):
        prompt.fill(text)
        expect(send).to_be_disabled()
        prompt.press("Enter")
        expect(prompt).to_have_value(text)
        expect(chat.locator(".message")).to_have_count(0)
    prompt.fill("Hi")
    expect(send).to_be_enabled()
    expect(disabled_send).to_have_count(0)
    save_screenshot(chat, "chat-send-enabled")
    prompt.fill("")
    expect(send).to_be_disabled()
    save_screenshot(chat, "chat-send-disabled")
    # A draft shown again: Send follows it too.
    prompt.fill("Half a thought")
    chat.reload()
    wait_until_ready(chat)
    expect(send).to_be_enabled()
    prompt.fill("")
    open_imported(chat, tmp_path, {"id": "draft-send", "title": "A chat with a draft", "created": 1, "updated": 1,
                                   "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]})
    expect(send).to_be_disabled()  # its own draft: none yet
    prompt.fill("A second thought")
    chat.click(".new-chat")
    expect(prompt).to_have_value("")
    expect(send).to_be_disabled()
    chat.locator(".conversation", has_text="A chat with a draft").locator(".open-conversation").click()
    expect(prompt).to_have_value("A second thought")
    expect(send).to_be_enabled()
    prompt.fill("")
    chat.click(".new-chat")


@pytest.mark.parametrize(
    ("name", "text", "allowed"),
    [
        ("temperature", "5", "Temperature must be a number from 0 to 2"),
        ("temperature", "warm", "Temperature must be a number from 0 to 2"),
        ("top_p", "0", "Top p must be a number greater than 0 and at most 1."),
        ("top_p", "1.5", "Top p must be a number greater than 0 and at most 1."),
        ("max_tokens", "0", "Max tokens must be an integer >= 1."),
        ("max_tokens", "-3", "Max tokens must be an integer >= 1."),
        ("max_tokens", "2.5", "Max tokens must be an integer >= 1."),
    ],
)
def test_an_invalid_setting_is_shown_with_what_is_allowed(chat, name, text, allowed):
    set_settings(chat, close=False, **{name: text})
    field = chat.locator(f".settings-form [name={name}]")
    expect(field).to_have_value(text)  # kept as typed, not replaced
    expect(field).to_have_attribute("aria-invalid", "true")
    error = chat.locator(f"#{field.get_attribute('aria-describedby')}")
    expect(error).to_be_visible()
    expect(error).to_contain_text(allowed)
    assert field.evaluate("input => input.validity.customError && input.matches(':invalid')")
    chat.click(".reset-settings")
    expect(field).to_have_attribute("aria-invalid", "false")
    expect(field).to_have_value("")
    expect(error).to_be_hidden()
    close_settings(chat)


def test_a_message_is_not_sent_with_an_invalid_setting(chat):
    set_settings(chat, close=False, temperature=5)
    save_screenshot(chat, "chat-settings-invalid")
    chat.reload()  # a saved invalid value comes back as typed, still flagged
    wait_until_ready(chat)
    field = chat.locator(".settings-form [name=temperature]")
    expect(field).to_have_value("5")
    expect(field).to_have_attribute("aria-invalid", "true")
    messages = chat.locator(".message").count()
    ask(chat, "Hi")
    problem = chat.locator(".problem")
    expect(problem).to_be_visible()
    assert problem.get_attribute("data-error") == "InvalidRequestError"
    expect(problem.locator(".problem-title")).to_have_text("Check the settings")
    expect(problem.locator(".problem-text")).to_contain_text(
        "Your message was not sent. Temperature must be a number from 0 to 2")
    expect(chat.locator(".message")).to_have_count(messages)
    expect(chat.locator("#prompt")).to_have_value("Hi")  # nothing the visitor typed is lost
    # The settings open at the field; closing them goes back to the message.
    expect(chat.locator("#settings-dialog")).to_be_visible()
    expect(field).to_be_focused()
    save_screenshot(chat, "chat-settings-invalid-not-sent")
    chat.keyboard.press("Escape")
    expect(chat.locator("#prompt")).to_be_focused()
    problem.locator("button[data-action=dismiss]").click()
    expect(problem).to_be_hidden()
    open_settings(chat)
    chat.click(".reset-settings")
    close_settings(chat)


def test_the_composer_keeps_focus_after_sending(chat):
    chat.click(".new-chat")
    set_settings(chat, temperature=0, max_tokens=2)
    ask(chat, "Name a colour.")
    expect(chat.locator("#prompt")).to_be_focused()
    wait_for_reply_end(chat)
    expect(chat.locator("#prompt")).to_be_focused()
    expect(chat.locator(".composer .send")).to_be_disabled()  # the box is empty: nothing to send yet


def test_the_settings_show_the_sampling_the_models_authors_recommend(chat):
    # The demo GGUF ships no generation defaults; SmolLM2's model card samples at 0.2 / 0.9.
    open_settings(chat)
    expect(chat.locator("#setting-temperature")).to_have_attribute("placeholder", "0.2")
    expect(chat.locator("#setting-top_p")).to_have_attribute("placeholder", "0.9")
    expect(chat.locator(".settings-note")).to_contain_text(
        "Empty fields use the defaults: temperature 0.2 and top p 0.9, as the model's authors recommend.")
    save_screenshot(chat, "chat-settings-chat-defaults")
    close_settings(chat)


def test_the_reply_says_the_prompt_is_read_before_its_first_words(chat):
    chat.click(".new-chat")
    set_settings(chat, max_tokens=1)
    # Every text the reply's status shows, as the page shows it.
    chat.evaluate("""() => {
        window.replyStatusTexts = [];
        new MutationObserver(() => {
            const text = document.querySelector('.message.streaming .reply-status')?.textContent;
            if (text && window.replyStatusTexts.at(-1) !== text) window.replyStatusTexts.push(text);
        }).observe(document.querySelector('.messages'), { subtree: true, childList: true, characterData: true });
    }""")
    ask(chat, "What is the capital of France?")
    wait_for_reply_end(chat)
    texts = chat.evaluate("() => window.replyStatusTexts")
    assert texts and all(re.fullmatch(r"Reading your message… [\d,]+ of [\d,]+ tokens", text) for text in texts), texts
    assert re.fullmatch(r"Reading your message… 0 of [\d,]+ tokens", texts[0]), texts
    set_settings(chat, max_tokens=2)  # as the tests before it left them


def test_enter_sends_from_the_edit_box(chat):
    chat.locator(".message.user .edit-message").click()
    editor = chat.locator(".message.user .message-editor textarea")
    expect(editor).to_be_focused()
    editor.fill("Name a")
    editor.press("Shift+Enter")  # a new line, as in the composer
    expect(editor).to_have_value("Name a\n")
    save_screenshot(chat, "chat-edit-box")
    editor.fill("Name a fruit.")
    editor.press("Enter")
    expect(chat.locator(".message.user .message-body")).to_have_text("Name a fruit.")
    expect(chat.locator("#prompt")).to_be_focused()
    wait_for_reply_end(chat)
    expect(chat.locator(".message")).to_have_count(2)


def test_a_bad_import_is_a_problem_to_dismiss(chat, tmp_path):
    bad = tmp_path / "notes.json"
    bad.write_text('{"format": "something-else"}')
    count = chat.locator(".conversation").count()
    chat.set_input_files(".import-chats input", str(bad))
    problem = chat.locator(".problem")
    expect(problem).to_be_visible()
    expect(problem.locator(".problem-title")).to_have_text("The file was not imported")
    expect(problem.locator(".problem-text")).to_contain_text(
        "Nothing from notes.json was added; your conversations are unchanged.")
    # The raw error is there for whoever asks, folded away.
    details = problem.locator(".problem-details")
    expect(details).to_be_visible()
    assert not details.evaluate("element => element.open")
    expect(details.locator(".problem-details-text")).to_be_hidden()
    assert "This is not a conversations file" in details.locator(".problem-details-text").text_content()
    assert [b.get_attribute("data-action") for b in problem.locator("button").all()] == ["dismiss"]
    save_screenshot(chat, "chat-problem-bad-import")
    details.locator("summary").click()
    expect(details.locator(".problem-details-text")).to_be_visible()
    save_screenshot(chat, "chat-problem-bad-import-details")
    problem.locator("button[data-action=dismiss]").click()
    expect(problem).to_be_hidden()
    expect(chat.locator("#prompt")).to_be_focused()
    expect(chat.locator(".conversation")).to_have_count(count)
    expect(chat.locator("#prompt")).to_be_enabled()  # the chat goes on working: the model stays loaded


LONG_TEXT = " ".join(["word"] * 9000)  # more than the model's 4,096-token context on its own


def test_cancelling_a_refused_edit_dismisses_its_problem(chat):
    """The edit box keeps a text too long; Cancel discards it, and with it the problem that says it is kept."""
    message = chat.locator(".message.user").first
    before = message.locator(".message-body").inner_text()
    message.locator(".edit-message").click()
    message.locator(".message-editor textarea").fill(LONG_TEXT)
    message.locator(".message-editor textarea").press("Enter")
    problem = chat.locator(".problem")
    expect(problem.locator(".problem-title")).to_have_text("This message is too long")
    expect(message.locator(".message-editor textarea")).to_have_value(LONG_TEXT)
    message.locator(".cancel-edit").click()
    expect(problem).to_be_hidden()
    expect(message.locator(".message-body")).to_have_text(before)


def test_a_new_chat_from_a_full_conversation_takes_its_last_message_along(chat, tmp_path):
    # three messages that each fit the 4096-token context, and together do not
    turns = [" ".join(f"word{i}" for i in range(start, start + 600)) for start in (0, 600, 1200)]
    messages = [message for text in turns for message in ({"role": "user", "content": text},
                                                          {"role": "assistant", "content": "Hm."})]
    open_imported(chat, tmp_path, {"id": "full", "title": "Full chat", "created": 1, "updated": 3, "messages": messages})
    chat.locator(".message.assistant .regenerate").last.click()
    problem = chat.locator(".problem")
    expect(problem.locator(".problem-title")).to_have_text("This conversation is full")
    problem.locator("button[data-action=new-chat]").click()
    expect(chat.locator(".message")).to_have_count(0)
    expect(chat.locator("#prompt")).to_have_value(turns[-1])
    expect(chat.locator("#prompt")).to_be_focused()
    chat.locator(".conversation", has_text="Full chat").locator(".open-conversation").click()
    expect(chat.locator(".message.user .message-body")).to_have_text(turns)  # the old chat as it was
    chat.fill("#prompt", "")


# The localStorage key of the open chat's unsent text (runtime/app.js draftName, runtime/ui/site_storage.js):
# one per chat, a new chat's under the id this tab gave it (sessionStorage).
DRAFT_KEY = "() => `sitegen-draft:${sessionStorage.getItem('sitegen-chat:/')}:/`"


def test_the_composers_text_is_kept_without_a_write_per_keystroke(chat):
    wait_until_ready(chat)
    assert_kept_as_typed(chat, lambda page: page.evaluate(DRAFT_KEY), "Half a thought")


def test_the_composers_text_survives_a_reload_until_sent(chat):
    prompt = chat.locator("#prompt")
    prompt.fill("Half a thought")
    chat.reload()  # at once: the text is written as the page goes away
    wait_until_ready(chat)
    expect(prompt).to_have_value("Half a thought")
    # A message refused as too long goes back to the composer ("Your text is kept"), across a reload too.
    chat.click(".new-chat")
    ask(chat, LONG_TEXT)
    expect(chat.locator(".problem .problem-title")).to_have_text("This message is too long")
    expect(prompt).to_have_value(LONG_TEXT)
    expect(chat.locator(".composer .send")).to_be_enabled()  # given back: to shorten and send again
    chat.reload()
    wait_until_ready(chat)
    expect(prompt).to_have_value(LONG_TEXT)
    # Sent, it is gone from the composer for good, and from the site's storage.
    key = chat.evaluate(DRAFT_KEY)
    ask(chat, "Name a colour.")
    wait_for_reply_end(chat)
    assert read_local(chat, key) is None
    chat.reload()
    wait_until_ready(chat)
    expect(prompt).to_have_value("")


# The open conversation's last message as the page saved it (runtime/ui/store.js, runtime/app.js).
SAVED_LAST_MESSAGE = """async () => {
    const { ConversationStore } = await import('./runtime/ui/store.js');
    const store = await ConversationStore.open('sitegen-chats:/');
    const conversation = await store.get(localStorage.getItem('sitegen-current:/'));
    return conversation?.messages.at(-1) ?? null;
}"""


def test_a_reply_cut_off_by_a_reload_says_it_was_interrupted(chat):
    """A reload while a reply streams keeps what the reply's last periodic save had: shown as
    interrupted, with Regenerate. A tab opened while another writes the reply does not call it so,
    nor is a reply ended with Stop (it says "stopped")."""
    wait_until_ready(chat)
    chat.click(".new-chat")
    set_settings(chat, temperature=0, max_tokens="")  # greedy, this story runs for a minute or more
    ask(chat, "Tell me a story about a lighthouse.")
    wait_for_reply_text(chat)
    chat.wait_for_function(f"async () => ({SAVED_LAST_MESSAGE})().then((message) => message?.role === 'assistant' && message.content.length > 0)")
    other = chat.context.new_page()
    other.goto(chat.url)
    expect(other.locator(".message.assistant .message-body")).not_to_be_empty()
    expect(other.locator(".message-interrupted:visible")).to_have_count(0)
    other.close()
    expect(chat.locator(".message.assistant.streaming")).to_have_count(1)  # still being written
    chat.reload()
    reply = chat.locator(".message.assistant").last
    label = reply.locator(".message-interrupted")
    expect(label).to_be_visible()
    expect(label).to_have_text("Interrupted")
    expect(reply.locator(".message-body")).not_to_be_empty()
    expect(reply.locator(".regenerate")).to_be_visible()
    save_screenshot(chat, "chat-reply-interrupted")
    # Written again and stopped: "stopped", not interrupted, across a reload too.
    wait_until_ready(chat)
    reply.locator(".regenerate").click()
    wait_for_reply_text(chat)
    chat.click(".composer .stop")
    expect(wait_for_reply_end(chat).locator(".message-stats")).to_contain_text("stopped")
    chat.reload()
    expect(chat.locator(".message.assistant").last.locator(".message-stats")).to_contain_text("stopped")
    expect(chat.locator(".message-interrupted:visible")).to_have_count(0)
    open_settings(chat)
    chat.click(".reset-settings")
    close_settings(chat)


# The open conversation's last reply as rendered from what the page saved, and as it is on screen
# (both as the DOM serialises them).
SAVED_AND_SHOWN_REPLY = f"""async () => {{
    const {{ renderMarkdown }} = await import('./runtime/ui/markdown.js');
    const saved = document.createElement('div');
    saved.innerHTML = renderMarkdown((await ({SAVED_LAST_MESSAGE})()).content);
    const shown = [...document.querySelectorAll('.message.assistant .message-body')].at(-1);
    return {{ saved: saved.innerHTML, shown: shown.innerHTML }};
}}"""
# The length of the page's last reply on screen (live or not).
SHOWN_REPLY_LENGTH = "() => [...document.querySelectorAll('.message.assistant .message-body')].at(-1).textContent.length"
# Whether that reply grew past `length` while it is still being written (Send is back once it ends).
GREW_WHILE_WRITTEN = f"(length) => ({SHOWN_REPLY_LENGTH})() > length && document.querySelector('.composer .send').hidden"


def story_under_way(chat, max_tokens):
    """A new chat whose greedy reply (a story that runs past `max_tokens`) has begun on screen; its
    item in the conversation list."""
    wait_until_ready(chat)
    chat.click(".new-chat")
    set_settings(chat, temperature=0, max_tokens=max_tokens)
    ask(chat, "Tell me a story about a lighthouse.")
    wait_for_reply_text(chat)
    return chat.locator(".conversation[aria-current=true]")


def test_renaming_the_conversation_while_its_reply_streams_keeps_the_reply_live(chat):
    """A rename re-renders the open conversation: the reply being written stays live (once, still
    growing, Stop beside the composer) and ends showing what was saved."""
    current = story_under_way(chat, max_tokens=200)
    current.locator(".rename-conversation").click()
    current.locator(".rename-form input").fill("The lighthouse story")
    current.locator(".rename-form input").press("Enter")
    expect(current.locator(".open-conversation")).to_have_text("The lighthouse story")
    reply = chat.locator(".message.assistant")
    expect(reply).to_have_count(1)
    expect(reply).to_have_class(re.compile(r"\bstreaming\b"))
    expect(chat.locator(".composer .stop")).to_be_visible()
    length = chat.evaluate(SHOWN_REPLY_LENGTH)
    chat.wait_for_function(GREW_WHILE_WRITTEN, arg=length, timeout=30_000)
    wait_for_reply_end(chat)
    expect(chat.locator(".message")).to_have_count(2)
    shown = chat.evaluate(SAVED_AND_SHOWN_REPLY)
    assert shown["saved"] and shown["shown"] == shown["saved"], shown
    open_settings(chat)
    chat.click(".reset-settings")
    close_settings(chat)


def test_a_title_typed_while_the_reply_ends_is_kept_until_enter(chat):
    """The list is drawn again as a reply ends: a rename under way goes on through it (the field
    keeps focus, what was typed and the caret), and only Enter saves the title, all of it."""
    current = story_under_way(chat, max_tokens=60)
    title = current.locator(".open-conversation").text_content()
    current.locator(".rename-conversation").click()
    field = current.locator(".rename-form input")
    # Any blur of the field counts, even one focus given back at once would hide.
    field.evaluate("input => { window.renameBlurs = 0; input.addEventListener('blur', () => { window.renameBlurs += 1; }); }")
    chat.keyboard.press("Control+A")
    chat.keyboard.type("Half-typed new tit")
    expect(chat.locator(".message.assistant")).to_have_class(re.compile(r"\bstreaming\b"))  # typed before the end
    wait_for_reply_end(chat)
    expect(field).to_be_focused()
    expect(field).to_have_value("Half-typed new tit")
    expect(current.locator(".open-conversation")).to_have_text(title)  # nothing saved yet
    chat.keyboard.type("le")
    assert chat.evaluate("() => window.renameBlurs") == 0
    chat.keyboard.press("Enter")
    expect(current.locator(".open-conversation")).to_have_text("Half-typed new title")
    chat.reload()
    expect(chat.locator(".conversation[aria-current=true] .open-conversation")).to_have_text("Half-typed new title")
    wait_until_ready(chat)
    open_settings(chat)
    chat.click(".reset-settings")
    close_settings(chat)

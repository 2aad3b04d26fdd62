"""The chat page as a full-height chat app, measured in real Chromium at a desktop size (1280x800),
a phone size (390x844) and short ones (a phone held sideways, or upright with its keyboard open):
the document never scrolls, the conversation list and the message pane scroll by themselves, the
composer stays at the bottom (compact on a short screen), a conversation opens at its latest
message, a streaming reply is followed until the reader scrolls up ("Jump to latest" brings them
back), the settings are a dialog and the conversations a drawer on phones, both usable from the
keyboard.

Nothing here is about WebGPU: the page runs on the CPU backend, many times as fast as SwiftShader
(conftest.py `browser`). Long conversations are imported (as a visitor's export file), not
generated; one real reply, stopped, shows the scrolling while it streams. The tests share one visit
(the model loads once), in order.
"""

import json
import re

import pytest
from playwright.sync_api import expect

from .chat import (ask, close_settings, open_imported, open_settings, save_screenshot, set_settings,
                   wait_for_reply_end, wait_for_reply_text, wait_until_ready)

pytestmark = pytest.mark.cpu_backend

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SIZES = {"desktop": DESKTOP, "phone": PHONE}
SIDEWAYS = {"width": 844, "height": 390}  # a phone held sideways
SHORT_PHONE = {"width": 390, "height": 420}  # upright, its on-screen keyboard open

# Imports keep titles up to 200 characters: this one fits, and is far wider than the sidebar.
LONG_TITLE = ("A very long conversation title about lighthouses, bakeries, the history of typesetting, "
              "migratory birds and compilers, told at length")
PARAGRAPH = ("The keeper climbed the spiral stairs each evening, trimmed the wick, and wrote the weather "
             "in a ledger that nobody would read for a hundred years. ") * 4
LONG_CONVERSATION = {
    "id": "long-read", "title": LONG_TITLE, "created": 1, "updated": 10,
    "messages": [{"role": "user" if i % 2 == 0 else "assistant", "content": f"Part {i}. {PARAGRAPH}"}
                 for i in range(30)] + [{"role": "assistant", "content": "The last words of the conversation."}],
}
# Taller than the pane (a user message keeps its line breaks) yet about 150 tokens, which the model
# reads (two prefill chunks with the template) before it replies.
TALL_CONVERSATION = {
    "id": "tall", "title": "Numbered lines", "created": 1, "updated": 9,
    "messages": [{"role": "user", "content": "\n".join(str(i) for i in range(1, 41))},
                 {"role": "assistant", "content": "\n".join(f"- Item {i}" for i in range(1, 11))}],
}
SHORT_CONVERSATIONS = [
    {"id": f"short-{i}", "title": f"Short chat {i}", "created": 1, "updated": i,
     "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}
    for i in range(1, 9)
]

# Geometry read in the page: functions, as the page's CSP refuses evaluated expressions.
DOCUMENT_SCROLLS = "() => document.scrollingElement.scrollHeight > innerHeight"
PANE_AT_BOTTOM = """() => {
    const pane = document.querySelector('.message-scroll');
    return pane.scrollTop + pane.clientHeight >= pane.scrollHeight - 2;
}"""
# How many of an element's first characters it shows, with room for the ellipsis (1em) after them:
# the part of a title cut short (text-overflow: ellipsis) that a reader sees.
CHARACTERS_SHOWN = """(element) => {
    const text = element.firstChild, range = document.createRange();
    const room = element.clientWidth - parseFloat(getComputedStyle(element).fontSize);
    range.setStart(text, 0);
    for (let count = 1; count <= text.length; count += 1) {
        range.setEnd(text, count);
        if (range.getBoundingClientRect().width > room) return count - 1;
    }
    return text.length;
}"""
BOX = "element => { const r = element.getBoundingClientRect(); return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width, height: r.height}; }"
# The problem box scrolled (each box in it that scrolls) to its start or end (arg): its text's lines
# in sight, that is inside every box between the text and the problem box that clips it, as
# {lines, whole (lines wholly in sight), covered (lines under one of its buttons), last (whether the
# text's last line is in sight)}.
PROBLEM_TEXT_IN_SIGHT = """([problem, where]) => {
    for (const element of [problem, ...problem.querySelectorAll('*')]) {
        if (element.scrollHeight > element.clientHeight) element.scrollTop = where === 'end' ? element.scrollHeight : 0;
    }
    const text = problem.querySelector('.problem-text');
    let top = -Infinity, bottom = Infinity;
    for (let box = text.parentElement; box && problem.contains(box); box = box.parentElement) {
        if (getComputedStyle(box).overflowY === 'visible') continue;
        const r = box.getBoundingClientRect();
        top = Math.max(top, r.top + box.clientTop);
        bottom = Math.min(bottom, r.top + box.clientTop + box.clientHeight);
    }
    const range = document.createRange();
    range.selectNodeContents(text);
    const all = [...range.getClientRects()];
    const inSight = (r) => r.bottom > top + 1 && r.top < bottom - 1;
    const lines = all.filter(inSight);
    const buttons = [...problem.querySelectorAll('.problem-actions button')].map((b) => b.getBoundingClientRect());
    // A line's part that its box clips away (a line cut at the box's edge) is out of sight: not covered.
    const covered = lines.filter((l) => buttons.some((b) => l.left < b.right && b.left < l.right
        && Math.max(l.top, top) < b.bottom && b.top < Math.min(l.bottom, bottom)));
    const whole = (r) => r.top >= top - 1 && r.bottom <= bottom + 1;
    return { lines: lines.length, whole: all.filter(whole).length, covered: covered.length, last: whole(all.at(-1)) };
}"""


@pytest.fixture(scope="module")
def chat(browser, site_url, tmp_path_factory):
    """One visitor's page, with the conversations above imported."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(site_url)
    file = tmp_path_factory.mktemp("layout") / "conversations.json"
    file.write_text(json.dumps({"format": "sitegen-conversations", "version": 1,
                                "conversations": [LONG_CONVERSATION, TALL_CONVERSATION, *SHORT_CONVERSATIONS]}))
    page.set_input_files(".import-chats input", str(file))
    expect(page.locator(".conversation")).to_have_count(2 + len(SHORT_CONVERSATIONS))
    yield page
    context.close()


def at_size(page, size):
    page.set_viewport_size(SIZES[size])
    # The drawer slides when the width crosses the breakpoint: measure without motion.
    page.emulate_media(reduced_motion="reduce")


def box(locator):
    return locator.evaluate(BOX)


def assert_app_layout(page, size):
    """The document does not scroll and the composer sits at the bottom of the viewport."""
    assert not page.evaluate(DOCUMENT_SCROLLS)
    assert box(page.locator(".site-header"))["top"] == 0
    composer = box(page.locator(".composer"))
    assert SIZES[size]["height"] - 24 <= composer["bottom"] <= SIZES[size]["height"], composer


def open_drawer(page):
    page.click(".toggle-sidebar")
    page.wait_for_function("() => document.querySelector('#conversations').getBoundingClientRect().left >= 0")


def open_long_conversation(page, size):
    if size == "phone":
        open_drawer(page)
    page.locator(".conversation", has_text=LONG_TITLE).locator(".open-conversation").click()
    expect(page.locator(".message")).to_have_count(len(LONG_CONVERSATION["messages"]))


@pytest.mark.parametrize("size", SIZES)
def test_an_empty_chat_fills_the_viewport(chat, size):
    at_size(chat, size)
    if size == "phone":
        open_drawer(chat)
    chat.click(".new-chat")
    expect(chat.locator(".message")).to_have_count(0)
    assert_app_layout(chat, size)
    sidebar, column = box(chat.locator("#conversations")), box(chat.locator(".chat"))
    if size == "desktop":
        assert 0 <= sidebar["left"] and sidebar["right"] <= column["left"] + 1 and column["right"] <= DESKTOP["width"]
        assert not chat.locator("#conversations").evaluate("element => element.inert")
    else:
        assert sidebar["right"] <= 0 or chat.locator("#conversations").is_hidden()
        assert chat.locator("#conversations").evaluate("element => element.inert")
        assert column["left"] >= 0 and column["right"] <= PHONE["width"]
    # The CPU note (this Chromium has no WebGPU) keeps a gap from the header and stays in the column,
    # above the messages; nothing scrolls sideways.
    wait_until_ready(chat)
    expect(chat.locator(".backend-note")).to_be_visible()
    note, header = box(chat.locator(".backend-note")), box(chat.locator(".site-header"))
    assert note["top"] >= header["bottom"] + 8, (note, header)
    assert column["left"] <= note["left"] and note["right"] <= column["right"], (note, column)
    assert note["bottom"] <= box(chat.locator(".message-pane"))["top"]
    assert not chat.evaluate("() => document.scrollingElement.scrollWidth > innerWidth")
    save_screenshot(chat, f"layout-{size}-empty")


@pytest.mark.parametrize("size", SIZES)
def test_a_long_conversation_opens_at_its_latest_message(chat, size):
    at_size(chat, size)
    open_long_conversation(chat, size)
    chat.wait_for_function(PANE_AT_BOTTOM)
    expect(chat.locator(".message").last).to_be_in_viewport()
    assert_app_layout(chat, size)
    assert chat.locator(".message-scroll").evaluate("pane => pane.scrollHeight > 2 * pane.clientHeight")
    expect(chat.locator(".jump-to-latest")).to_be_hidden()
    save_screenshot(chat, f"layout-{size}-long")


@pytest.mark.parametrize("size", SIZES)
def test_titles_stay_on_one_line_and_keep_their_full_text(chat, size):
    at_size(chat, size)
    if size == "phone":
        open_drawer(chat)
    title = chat.locator(".conversation", has_text=LONG_TITLE).locator(".open-conversation")
    short = chat.locator(".conversation", has_text="Short chat 1").locator(".open-conversation")
    assert title.evaluate("button => button.scrollWidth > button.clientWidth")  # cut with an ellipsis
    assert title.evaluate("button => getComputedStyle(button).textOverflow") == "ellipsis"
    assert abs(box(title)["height"] - box(short)["height"]) < 1  # one line, as a short title
    sidebar, own = box(chat.locator("#conversations")), box(title)
    assert sidebar["left"] <= own["left"] and own["right"] <= sidebar["right"]
    assert title.get_attribute("title") == LONG_TITLE
    expect(title).to_have_accessible_name(LONG_TITLE)
    save_screenshot(chat, f"layout-{size}-titles")
    if size == "phone":
        chat.keyboard.press("Escape")
    # The list scrolls inside the sidebar, not the page.
    chat.set_viewport_size({**SIZES[size], "height": 420})
    if size == "phone":
        open_drawer(chat)
    assert chat.locator(".conversation-list").evaluate("list => list.scrollHeight > list.clientHeight")
    assert not chat.evaluate(DOCUMENT_SCROLLS)
    if size == "phone":
        chat.keyboard.press("Escape")
    chat.set_viewport_size(SIZES[size])


def test_a_reader_at_the_latest_message_stays_there_across_a_resize(chat):
    at_size(chat, "desktop")
    open_long_conversation(chat, "desktop")
    chat.wait_for_function(PANE_AT_BOTTOM)
    at_size(chat, "phone")  # the text reflows taller and the sidebar becomes a drawer
    chat.wait_for_function(PANE_AT_BOTTOM)
    expect(chat.locator(".jump-to-latest")).to_be_hidden()
    at_size(chat, "desktop")
    chat.wait_for_function(PANE_AT_BOTTOM)


def test_a_wide_table_scrolls_sideways_with_its_words_whole(chat, tmp_path):
    at_size(chat, "phone")
    header = " | ".join(f"column {i}" for i in range(25))
    table = f"| {header} |\n|{'---|' * 25}\n| {' | '.join('value' for _ in range(25))} |"
    open_imported(chat, tmp_path, {"id": "wide-table", "title": "A wide table", "created": 1, "updated": 20,
                                   "messages": [{"role": "user", "content": "A table?"},
                                                {"role": "assistant", "content": table}]},
                  drawer=True)
    wrap = chat.locator(".message.assistant .table-wrap")
    assert wrap.evaluate("wrap => wrap.scrollWidth > wrap.clientWidth")  # it scrolls, the page does not
    # "column 0" may take two lines, not one letter per line
    cell = chat.locator(".message.assistant th").first
    assert cell.evaluate("cell => cell.getBoundingClientRect().height < 3 * parseFloat(getComputedStyle(cell).lineHeight)")
    assert not chat.evaluate(DOCUMENT_SCROLLS)
    save_screenshot(chat, "layout-phone-wide-table")


def test_deleting_a_conversation_moves_focus_to_the_next_one(chat):
    at_size(chat, "desktop")
    chat.once("dialog", lambda dialog: dialog.accept())
    chat.locator(".conversation", has_text="A wide table").locator(".delete-conversation").click()
    expect(chat.locator(".conversation", has_text="A wide table")).to_have_count(0)
    focused = chat.evaluate("() => document.activeElement.closest('.conversation')?.dataset.id")
    assert focused is not None  # a neighbour in the list, not the page's body


def test_reloading_shows_the_latest_message_of_the_open_conversation(chat):
    at_size(chat, "desktop")
    open_long_conversation(chat, "desktop")
    chat.reload()
    expect(chat.locator(".message")).to_have_count(len(LONG_CONVERSATION["messages"]))
    chat.wait_for_function(PANE_AT_BOTTOM)
    expect(chat.locator(".message").last).to_be_in_viewport()


def test_the_settings_dialog_opens_from_the_header_and_esc_closes_it(chat):
    at_size(chat, "desktop")
    button = chat.locator(".open-settings")
    expect(button).to_have_attribute("aria-haspopup", "dialog")
    button.click()
    dialog = chat.locator("#settings-dialog")
    expect(dialog).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "true")
    assert dialog.evaluate("dialog => dialog.contains(document.activeElement)")
    expect(dialog.get_by_role("button", name="Close")).to_be_visible()
    save_screenshot(chat, "layout-desktop-settings")
    chat.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(button).to_be_focused()
    expect(button).to_have_attribute("aria-expanded", "false")
    at_size(chat, "phone")
    button.click()
    expect(dialog).to_be_visible()
    shown = box(dialog)
    assert shown["left"] >= 0 and shown["right"] <= PHONE["width"]
    save_screenshot(chat, "layout-phone-settings")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    expect(button).to_be_focused()


def test_the_phone_drawer_is_out_of_reach_closed_and_modal_open(chat):
    at_size(chat, "phone")
    drawer, toggle = chat.locator("#conversations"), chat.locator(".toggle-sidebar")
    # Closed: Tab walks the header and the chat, never the drawer's buttons.
    chat.locator(".site-title").focus()
    reached = []
    for _ in range(12):
        chat.keyboard.press("Tab")
        reached.append(chat.evaluate("() => document.activeElement.closest('#conversations') !== null"))
    assert not any(reached)
    # Open: focus moves in, the chat is inert behind a backdrop; Esc closes, back to the toggle.
    toggle.focus()
    chat.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(chat.locator(".new-chat")).to_be_focused()
    expect(chat.locator(".drawer-backdrop")).to_be_visible()
    assert chat.locator(".chat").evaluate("column => column.inert")
    save_screenshot(chat, "layout-phone-drawer-open")
    chat.keyboard.press("Escape")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_be_focused()
    assert drawer.evaluate("element => element.inert")
    assert not chat.locator(".chat").evaluate("column => column.inert")
    # The backdrop closes it too (a tap beside the drawer).
    open_drawer(chat)
    chat.mouse.click(PHONE["width"] - 10, PHONE["height"] / 2)
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(drawer).to_be_hidden()
    # Opening a conversation from it closes it.
    open_drawer(chat)
    chat.locator(".conversation", has_text="Short chat 2").locator(".open-conversation").click()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(chat.locator(".message.user .message-body")).to_have_text("Hi")
    # Across the breakpoint: a desktop sidebar is never inert, the chat neither.
    open_drawer(chat)
    at_size(chat, "desktop")
    assert not drawer.evaluate("element => element.inert")
    assert not chat.locator(".chat").evaluate("column => column.inert")
    expect(chat.locator(".drawer-backdrop")).to_be_hidden()


# The start of an async function that makes a ChatView of the page's code on a list of its own
# (`view`, `list`), for tests of the view alone; `remove()` takes it off the page again.
VIEW_OF_ITS_OWN = """async () => {
        const { ChatView } = await import('./runtime/ui/chat_view.js');
        const { PaneScroll } = await import('./runtime/ui/pane_scroll.js');
        const pane = document.createElement('div');
        const list = document.createElement('ol');
        const jump = document.createElement('button');
        pane.append(list);
        document.body.append(pane, jump);
        const view = new ChatView(list, document.querySelector('#message-template'), {}, new PaneScroll(pane, jump));
        const remove = () => { pane.remove(); jump.remove(); };"""


def test_the_reply_status_takes_the_place_of_the_dots(chat):
    """ChatView.setReplyStatus, on a list of its own: what the engine's progress will show there."""
    shown = chat.evaluate(VIEW_OF_ITS_OWN + """
        const dots = () => getComputedStyle(list.querySelector('.message-body'), '::after').content;
        const status = () => list.querySelector('.message.streaming [role=status]');
        const visible = (element) => element.checkVisibility();
        view.startReply();
        const seen = { before: dots(), live: status()?.getAttribute('role') };
        view.setReplyStatus('Loading the model: 40%');
        Object.assign(seen, { text: status().textContent, shown: visible(status()), dotsWithText: dots() });
        view.setReplyStatus(null);
        Object.assign(seen, { cleared: visible(status()), dotsAgain: dots() });
        view.setReplyStatus('Reading your message');
        view.updateReply('Hello');
        await new Promise(requestAnimationFrame);
        view.setReplyStatus('too late');
        Object.assign(seen, { afterText: visible(status()), body: list.querySelector('.message-body').textContent.trim() });
        view.endReply();
        remove();
        return seen;
    }""")
    assert shown == {"before": '"…"', "live": "status", "text": "Loading the model: 40%", "shown": True,
                     "dotsWithText": "none", "cleared": False, "dotsAgain": '"…"', "afterText": False,
                     "body": "Hello"}


def test_a_re_render_keeps_the_reply_being_written_live(chat):
    """ChatView.render while a reply is written (the page re-renders on a rename, an import): before
    its first words the reply keeps its status line, after them its live item, once, in its message's
    place; endReply lets the next render show the message as saved."""
    shown = chat.evaluate(VIEW_OF_ITS_OWN + """
        const replies = () => [...list.querySelectorAll('.message.assistant')].map((item) => ({
            streaming: item.classList.contains('streaming'),
            status: item.querySelector('.reply-status')?.textContent ?? null,
            body: item.querySelector('.message-body').textContent.trim(),
        }));
        const messages = [{ role: 'user', content: 'Hi' }];
        const message = { role: 'assistant', content: '', streaming: true };
        view.render(messages, { busy: true });
        view.startReply(message);
        view.setReplyStatus('Reading your message… 3 of 9 tokens');
        view.render(messages, { busy: true });
        const seen = { waiting: replies() };
        messages.push(message);
        message.content = 'Hello';
        view.updateReply(message.content);
        view.render(messages, { busy: true });
        message.content = 'Hello there';
        view.updateReply(message.content);
        await new Promise(requestAnimationFrame);
        seen.writing = replies();
        view.endReply();
        view.render(messages);
        seen.ended = replies();
        remove();
        return seen;
    }""")
    assert shown == {
        "waiting": [{"streaming": True, "status": "Reading your message… 3 of 9 tokens", "body": ""}],
        "writing": [{"streaming": True, "status": "", "body": "Hello there"}],
        "ended": [{"streaming": False, "status": None, "body": "Hello there"}],
    }


def test_a_streaming_reply_is_followed_until_the_reader_scrolls_up(chat):
    at_size(chat, "desktop")
    wait_until_ready(chat)
    chat.locator(".conversation", has_text="Numbered lines").locator(".open-conversation").click()
    chat.wait_for_function(PANE_AT_BOTTOM)
    # Greedy, this story runs past 400 tokens (measured to 1,500): still streaming, on a fast backend
    # too, when the steps below scroll and Stop ends it.
    set_settings(chat, temperature=0, max_tokens=400)
    ask(chat, "Tell me a story about a lighthouse.")
    jump = chat.locator(".jump-to-latest")
    wait_for_reply_text(chat)
    chat.wait_for_function(PANE_AT_BOTTOM)  # sending went to the bottom, and it follows
    expect(jump).to_be_hidden()
    pane = chat.locator(".message-scroll")
    pane.hover()
    chat.mouse.wheel(0, -600)  # the reader scrolls up to read
    expect(jump).to_be_visible()
    expect(jump).to_have_accessible_name("Jump to latest")
    top = pane.evaluate("pane => pane.scrollTop")
    length = chat.locator(".message.streaming .message-body").evaluate("body => body.textContent.length")
    chat.wait_for_function(
        "(length) => document.querySelector('.message.streaming .message-body')?.textContent.length > length",
        arg=length, timeout=60_000)
    assert pane.evaluate("pane => pane.scrollTop") == top  # it stayed where the reader is
    save_screenshot(chat, "layout-desktop-jump-to-latest")
    jump.focus()
    chat.keyboard.press("Enter")  # keyboard reachable
    chat.wait_for_function(PANE_AT_BOTTOM)
    expect(jump).to_be_hidden()
    expect(chat.locator("#prompt")).to_be_focused()
    chat.click(".composer .stop")
    wait_for_reply_end(chat)
    chat.wait_for_function(PANE_AT_BOTTOM)
    assert_app_layout(chat, "desktop")
    open_settings(chat)
    chat.click(".reset-settings")
    close_settings(chat)


def test_a_problem_and_the_cpu_note_leave_the_composer_on_screen(chat):
    """A phone held sideways (844x390) with the CPU note and a problem: the notices shrink and scroll
    inside themselves, the composer and Send stay on screen, some of the conversation too, the
    problem's Dismiss in sight and clear of its text. The note steps aside while the problem shows,
    which leaves the conversation room upright (390x844) too."""
    chat.set_viewport_size(SIDEWAYS)
    chat.emulate_media(reduced_motion="reduce")
    chat.click(".new-chat")
    wait_until_ready(chat)
    note, problem = chat.locator(".backend-note"), chat.locator(".problem")
    expect(note).to_be_visible()
    if "Reload the page" in note.inner_text():  # where a reload adds threads, that comes first
        expect(note.locator(".backend-note-text")).to_have_text(re.compile(r"^Reload the page"))
    ask(chat, "word " * 9000)
    expect(problem.locator(".problem-title")).to_have_text("This message is too long")

    def assert_on_screen(height):
        assert not chat.evaluate(DOCUMENT_SCROLLS)
        for selector in ("#prompt", ".composer .send"):
            assert box(chat.locator(selector))["bottom"] <= height, selector
        shown, dismiss = box(problem), box(problem.locator("button[data-action=dismiss]"))
        assert shown["top"] <= dismiss["top"] and dismiss["bottom"] <= shown["bottom"] <= height, (dismiss, shown)
        # Some of the conversation stays in sight (three lines of text and the pane's padding), the
        # problem taking only a share of the column.
        assert box(chat.locator(".message-pane"))["height"] >= 90
        # Its buttons never cover its text: wherever it is scrolled, the lines in sight are clear of
        # them, and scrolled to its end the last line is in sight.
        end = chat.evaluate(PROBLEM_TEXT_IN_SIGHT, [problem.element_handle(), "end"])
        start = chat.evaluate(PROBLEM_TEXT_IN_SIGHT, [problem.element_handle(), "start"])
        assert start["lines"] >= 1 and start["covered"] == 0, start
        assert end["covered"] == 0 and end["last"], end

    expect(note).to_be_hidden()  # back once the problem goes
    assert_on_screen(SIDEWAYS["height"])
    save_screenshot(chat, "layout-sideways-problem")
    chat.set_viewport_size(PHONE)
    assert_on_screen(PHONE["height"])
    assert box(chat.locator(".message-pane"))["height"] >= 150
    # Where it fits, the problem is whole: nothing to scroll.
    assert not problem.evaluate("box => [box, ...box.querySelectorAll('*')].some((e) => e.scrollHeight > e.clientHeight + 1)")
    save_screenshot(chat, "layout-phone-problem")
    problem.locator("button[data-action=dismiss]").click()
    expect(note).to_be_visible()
    chat.fill("#prompt", "")


def test_a_phone_with_its_keyboard_open_keeps_room_for_the_conversation(browser, site_url):
    """Upright with the on-screen keyboard open (390x420) the header is one row and the composer is
    compact (Send beside a text box of two lines): the conversation keeps 40% of the screen and the
    composer and Send stay whole on it and work. A problem shows its title and two lines of its text
    above its buttons, and leaves the conversation a few lines. A page of its own, as hiding the CPU
    note is for good on that site."""
    context = browser.new_context(viewport=SHORT_PHONE)
    try:
        page = context.new_page()
        page.goto(site_url)
        wait_until_ready(page)
        page.click(".hide-backend-note")  # one who types on a phone has read it, and put it away
        expect(page.locator(".backend-note")).to_be_hidden()
        assert not page.evaluate(DOCUMENT_SCROLLS)
        pane, composer = box(page.locator(".message-pane")), box(page.locator(".composer"))
        assert pane["height"] >= 0.4 * SHORT_PHONE["height"], (pane, composer)
        for selector in ("#prompt", ".composer .send"):
            shown = box(page.locator(selector))
            assert pane["bottom"] <= shown["top"] and shown["bottom"] <= SHORT_PHONE["height"], (selector, shown)
            assert 0 <= shown["left"] and shown["right"] <= SHORT_PHONE["width"], (selector, shown)
        prompt = page.locator("#prompt")
        assert prompt.evaluate("box => box.clientHeight >= 2 * parseFloat(getComputedStyle(box).lineHeight)")
        assert box(prompt)["width"] >= 0.6 * SHORT_PHONE["width"]
        save_screenshot(page, "layout-phone-keyboard-open")
        set_settings(page, max_tokens=2)
        prompt.fill("Hi")
        page.locator(".composer .send").click()  # not covered by anything: Playwright would wait
        wait_for_reply_end(page)
        expect(page.locator(".message")).to_have_count(2)
        assert box(page.locator(".composer"))["bottom"] <= SHORT_PHONE["height"]
        # One row: the title (cut short) beside the tools; the site's links wait in the drawer.
        title, tools = box(page.locator(".site-title")), box(page.locator(".header-tools"))
        assert title["right"] <= tools["left"] and title["top"] < tools["bottom"] and tools["top"] < title["bottom"], (title, tools)
        assert box(page.locator(".site-header"))["bottom"] <= tools["bottom"] + 10
        expect(page.locator(".site-header nav")).to_be_hidden()
        # Cut short, the title still shows the start of the model's name ("Chat with smol…"), not only
        # "Chat w…"; the theme toggle that made room for it keeps its whole name.
        shown = page.locator(".site-title").evaluate(CHARACTERS_SHOWN)
        assert shown >= len("Chat with smol"), page.locator(".site-title").inner_text()[:shown]
        expect(page.get_by_role("button", name="Dark theme", exact=True)).to_be_visible()
        open_drawer(page)
        expect(page.locator(".drawer-links a[href='about.html']")).to_be_visible()
        page.keyboard.press("Escape")
        ask(page, "word " * 9000)
        problem = page.locator(".problem")
        expect(problem.locator(".problem-title")).to_have_text("This message is too long")
        start = page.evaluate(PROBLEM_TEXT_IN_SIGHT, [problem.element_handle(), "start"])
        end = page.evaluate(PROBLEM_TEXT_IN_SIGHT, [problem.element_handle(), "end"])
        assert start["whole"] >= 2 and start["covered"] == 0, start
        assert end["covered"] == 0 and end["last"], end
        shown, pane = box(problem), box(page.locator(".message-pane"))
        assert pane["bottom"] <= shown["top"] and shown["bottom"] <= box(page.locator(".composer"))["top"], (pane, shown)
        assert pane["height"] >= 85, pane  # its padding and three lines of the conversation
        assert not page.evaluate(DOCUMENT_SCROLLS)
        save_screenshot(page, "layout-phone-keyboard-open-problem")
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", SIZES)
def test_screenshots(chat, size, scheme):
    """For people to look at (build/e2e-artifacts/), both schemes at both sizes."""
    at_size(chat, size)
    chat.emulate_media(color_scheme=scheme, reduced_motion="reduce")
    if size == "phone":
        open_drawer(chat)
    chat.locator(".conversation", has_text=LONG_TITLE).locator(".open-conversation").click()
    chat.wait_for_function(PANE_AT_BOTTOM)
    save_screenshot(chat, f"layout-{size}-{scheme}")
    if size == "phone":
        open_drawer(chat)
        save_screenshot(chat, f"layout-{size}-{scheme}-drawer")
        chat.keyboard.press("Escape")
    chat.emulate_media(color_scheme="light")

"""Two tabs of the chat page on one site, in one browser context, as a visitor uses them: what one
tab saves or deletes, the other shows and never undoes with its older copy (runtime/ui/store.js,
conversations.js toStore, app.js takeChange), and each chat keeps its own unsent text (its draft).
Real Chromium, the SmolLM2 demo site on its CPU backend (nothing here is about WebGPU, and each tab
then runs its own engine, so one tab's reply never waits for the other's), with the back/forward cache
on (`browser` below). The tests share the two tabs (the model loads once in each), in order.
"""

import json
import re
from urllib.parse import urljoin

import pytest
from playwright.sync_api import expect

from .chat import ask, open_imported, set_settings, wait_for_reply_end, wait_for_reply_text, wait_until_ready

pytestmark = pytest.mark.cpu_backend

# The last message of conversation `id` as stored in IndexedDB (runtime/ui/store.js).
STORED_LAST_MESSAGE = """async (id) => {
    const { ConversationStore } = await import('./runtime/ui/store.js');
    const store = await ConversationStore.open('sitegen-chats:/');
    return (await store.get(id))?.messages.at(-1) ?? null;
}"""


@pytest.fixture(scope="module")
def browser(launch_chromium):
    """Chromium without WebGPU (the CPU backend), its back/forward cache on, as in visitors' browsers
    (Playwright turns it off): a tab left and gone back to is the same page, restored."""
    browser = launch_chromium(webgpu=False, bfcache=True)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def tabs(browser, site_url):
    """Tabs A and B of one visitor (one browser context), at the size of a laptop's screen."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.on("dialog", lambda dialog: dialog.accept())  # "Delete the conversation …?"
    a, b = context.new_page(), context.new_page()
    for page in (a, b):
        page.goto(site_url)
    for page in (a, b):
        wait_until_ready(page)
    yield a, b
    context.close()


def titles(page):
    return page.locator(".conversation-list .open-conversation")


def open_titled(page, title):
    page.locator(".conversation", has_text=title).locator(".open-conversation").click()


def current_id(page):
    return page.locator(".conversation[aria-current=true]").get_attribute("data-id")


def ask_for_a_story(page, question, max_tokens):
    """`page` asks `question` in a new chat, greedy, and waits until its reply is stored half written
    (its first periodic save)."""
    set_settings(page, temperature=0, max_tokens=max_tokens)
    page.click(".new-chat")
    ask(page, question)
    wait_for_reply_text(page)
    chat_id = current_id(page)
    page.wait_for_function(f"(id) => ({STORED_LAST_MESSAGE})(id).then((m) => m?.role === 'assistant' && m.content.length > 0)",
                           arg=chat_id)


def test_a_new_chat_in_one_tab_shows_in_the_others_list(tabs):
    a, b = tabs
    set_settings(a, temperature=0, max_tokens=4)  # settings are per site: B's too
    a.click(".new-chat")
    ask(a, "Name a colour.")
    # B lists it while A writes its reply, without a reload, and shows the reply once it ends.
    expect(titles(b).filter(has_text="Name a colour.")).to_have_count(1)
    reply = wait_for_reply_end(a).locator(".message-body").text_content()
    open_titled(b, "Name a colour.")
    expect(b.locator(".message.assistant .message-body")).to_have_text(reply)
    expect(b.locator(".message.user .message-body")).to_have_text("Name a colour.")


def test_a_tab_that_saw_a_reply_half_written_keeps_it_whole_on_rename(tabs):
    """Defect: tab B, loaded while A wrote a reply, renamed the chat and stored its copy of the reply,
    cut off ("Interrupted") at what B had seen."""
    a, b = tabs
    ask_for_a_story(a, "Tell me a story about a lighthouse.", max_tokens=120)  # a story longer than that
    b.reload()  # B reads the reply half written
    open_titled(b, "Tell me a story about a lighthouse.")
    expect(b.locator(".message.assistant .message-body")).not_to_be_empty()
    expect(a.locator(".message.assistant.streaming")).to_have_count(1)  # A still writes it
    full = wait_for_reply_end(a).locator(".message-body").text_content()
    item = b.locator(".conversation", has_text="Tell me a story about a lighthouse.")
    item.locator(".rename-conversation").click()
    item.locator(".rename-form input").fill("The lighthouse story")
    item.locator(".rename-form input").press("Enter")
    expect(titles(b).filter(has_text="The lighthouse story")).to_have_count(1)
    a.reload()
    wait_until_ready(a)
    open_titled(a, "The lighthouse story")
    reply = a.locator(".message.assistant")
    expect(reply.locator(".message-body")).to_have_text(full)
    expect(reply.locator(".message-interrupted")).to_be_hidden()
    expect(reply.locator(".message-stats")).not_to_contain_text("stopped")
    set_settings(a, max_tokens=4)


def test_a_delete_in_one_tab_is_not_undone_by_the_other(tabs, tmp_path):
    a, b = tabs
    conversation = {"id": "deleted-in-a", "title": "Chat deleted in A", "created": 1, "updated": 2,
                    "messages": [{"role": "user", "content": "Hi."}, {"role": "assistant", "content": "Hello."}]}
    open_imported(b, tmp_path, conversation)
    open_titled(a, "Chat deleted in A")  # A lists what B imported
    b.fill("#prompt", "Half a thought in B")
    a.locator(".conversation", has_text="Chat deleted in A").locator(".delete-conversation").click()
    # B, which had it open, is on a new chat, the text it was writing kept.
    expect(titles(b).filter(has_text="Chat deleted in A")).to_have_count(0)
    expect(b.locator(".message")).to_have_count(0)
    expect(b.locator("#prompt")).to_have_value("Half a thought in B")
    # B's next save is a new chat of its own, not the deleted one back.
    ask(b, "Name a fruit.")
    wait_for_reply_end(b)
    expect(titles(a).filter(has_text="Name a fruit.")).to_have_count(1)
    for page in (a, b):
        page.reload()
        wait_until_ready(page)
        expect(titles(page).filter(has_text="Name a fruit.")).to_have_count(1)
        expect(titles(page).filter(has_text="Chat deleted in A")).to_have_count(0)


def test_each_chat_keeps_its_own_draft_in_each_tab(tabs, tmp_path):
    a, b = tabs
    for page in (a, b):
        page.click(".new-chat")
    a.fill("#prompt", "draft typed in A")
    b.fill("#prompt", "draft typed in B")
    for page, text in ((a, "draft typed in A"), (b, "draft typed in B")):
        page.reload()
        wait_until_ready(page)
        expect(page.locator("#prompt")).to_have_value(text)
    # In one tab, each conversation its own: switching chats shows each one's.
    open_imported(a, tmp_path, {"id": "with-draft", "title": "Chat with a draft", "created": 1, "updated": 3,
                                "messages": [{"role": "user", "content": "Hi."}]})
    expect(a.locator("#prompt")).to_have_value("")
    a.fill("#prompt", "about the chat with a draft")
    a.click(".new-chat")
    expect(a.locator("#prompt")).to_have_value("")
    open_titled(a, "Chat with a draft")
    expect(a.locator("#prompt")).to_have_value("about the chat with a draft")
    # Deleted, its draft goes with it.
    a.locator(".conversation", has_text="Chat with a draft").locator(".delete-conversation").click()
    expect(a.locator("#prompt")).to_have_value("")
    keys = a.evaluate("() => Object.keys(localStorage)")
    assert not [key for key in keys if re.search("with-draft", key)], keys
    assert "about the chat with a draft" not in a.evaluate("() => Object.values(localStorage)")


def test_a_reply_whose_tab_goes_away_shows_interrupted_in_the_others(tabs):
    """Defect: B showed a reply that tab C was writing as still written after C had closed, until B
    was reloaded. Now B waits on C's lock on the reply (app.js watchReply) and, C gone with the reply
    unfinished in the store, shows it interrupted."""
    a, b = tabs
    c = b.context.new_page()
    c.goto(b.url)
    wait_until_ready(c)
    ask_for_a_story(c, "Tell me a story about a lighthouse keeper.", max_tokens="")  # runs for a minute or more
    open_titled(b, "Tell me a story about a lighthouse keeper.")
    reply = b.locator(".message.assistant")
    expect(reply.locator(".message-body")).not_to_be_empty()
    expect(reply.locator(".message-interrupted")).to_be_hidden()  # C is still writing it
    c.close()
    expect(reply.locator(".message-interrupted")).to_be_visible()
    expect(reply.locator(".message-interrupted")).to_have_text("Interrupted")
    expect(reply.locator(".regenerate")).to_be_visible()
    # A, which never opened it, lists it and shows it so too.
    open_titled(a, "Tell me a story about a lighthouse keeper.")
    expect(a.locator(".message.assistant .message-interrupted")).to_be_visible()
    set_settings(b, max_tokens=4)


def duplicate(page):
    """A new tab made as the browser's "Duplicate tab" makes one: the same page, its sessionStorage a
    copy of `page`'s (the open chat's id and the rest) as it is now. Loaded and ready."""
    copied = page.evaluate("() => JSON.stringify(Object.entries(sessionStorage))")
    copy = page.context.new_page()
    # On its first load only (its own values are there from then on).
    copy.add_init_script(f"""if (location.protocol.startsWith('http') && !sessionStorage.length) {{
        for (const [key, value] of JSON.parse({json.dumps(copied)})) sessionStorage.setItem(key, value);
    }}""")
    copy.goto(page.url)
    wait_until_ready(copy)
    return copy


def tab_id(page):
    """The id the page holds for its tab (runtime/app.js claimTab)."""
    return page.evaluate("() => sessionStorage.getItem('sitegen-tab:/')")


def kept_draft(page, text):
    """Waits until `page`'s composer text `text` is written to the site's storage (a moment after typing)."""
    page.wait_for_function("(text) => Object.values(localStorage).includes(text)", arg=text)


def test_a_duplicated_tab_keeps_its_own_draft_and_chat(tabs, tmp_path):
    """Defect: a tab made with "Duplicate tab" (which copies sessionStorage, the open chat's id with it)
    was the same chat as the original: what was typed in one became the other's unsent text after a
    reload, and a new chat's first message sent in one was the other's conversation too. Now the
    duplicate finds its tab id held by the live original (app.js claimTab) and takes its own: a new
    chat gets an id of its own, and a stored chat, open in both, keeps this tab's text as its own."""
    a, _ = tabs
    set_settings(a, temperature=0, max_tokens=4)
    a.click(".new-chat")
    a.fill("#prompt", "typed in A")
    kept_draft(a, "typed in A")
    d = duplicate(a)
    expect(d.locator("#prompt")).to_have_value("typed in A")  # the page as it was, a copy of its own
    d.fill("#prompt", "typed in the duplicate")
    ids = {page: tab_id(page) for page in (a, d)}
    assert ids[a] != ids[d]
    for page, text in ((d, "typed in the duplicate"), (a, "typed in A")):
        page.reload()
        wait_until_ready(page)
        expect(page.locator("#prompt")).to_have_value(text)
        assert tab_id(page) == ids[page]  # a reload is the same tab, not a duplicate
    # The duplicate's first message makes a conversation of its own, not the original's chat.
    ask(d, "Name a bird.")
    wait_for_reply_end(d)
    expect(titles(a).filter(has_text="Name a bird.")).to_have_count(1)
    a.reload()
    wait_until_ready(a)
    expect(a.locator(".message")).to_have_count(0)
    expect(a.locator("#prompt")).to_have_value("typed in A")
    d.close()
    # A stored chat: the duplicate shows it too, and each tab keeps the text it types.
    open_imported(a, tmp_path, {"id": "open-in-both", "title": "Chat open in both tabs", "created": 1, "updated": 2,
                                "messages": [{"role": "user", "content": "Hi."}, {"role": "assistant", "content": "Hello."}]})
    a.fill("#prompt", "about it, in A")
    kept_draft(a, "about it, in A")
    d = duplicate(a)
    expect(d.locator(".message.assistant .message-body")).to_have_text("Hello.")
    expect(d.locator("#prompt")).to_have_value("about it, in A")
    d.fill("#prompt", "about it, in the duplicate")
    for page, text in ((d, "about it, in the duplicate"), (a, "about it, in A"), (d, "about it, in the duplicate")):
        page.reload()
        wait_until_ready(page)
        expect(page.locator(".message.assistant .message-body")).to_have_text("Hello.")
        expect(page.locator("#prompt")).to_have_value(text)
    d.close()
    a.fill("#prompt", "")


def test_a_tab_back_from_the_back_forward_cache_shows_what_it_missed(tabs, tmp_path):
    """Defect: a tab restored from the back/forward cache (left for another page, then Back) showed the
    conversations as they were when it was left: what other tabs added, renamed and deleted meanwhile
    was missing until a reload. Chromium evicts a cached page that a BroadcastChannel message is sent
    to (notRestoredReasons 'broadcastchannel-message'), so here B's announcements are dropped, as a
    browser that keeps the page and not its messages does; the restore itself is real (pageshow's
    `persisted`). Now the page reads the conversations again on such a pageshow (app.js resync)."""
    a, b = tabs
    for chat_id, title in (("to-rename", "Chat renamed while A was away"), ("to-delete", "Chat deleted while A was away")):
        open_imported(b, tmp_path, {"id": chat_id, "title": title, "created": 1, "updated": 2,
                                    "messages": [{"role": "user", "content": "Hi."}]})
    open_titled(a, "Chat deleted while A was away")
    a.fill("#prompt", "Half a thought in A")
    a.evaluate("() => addEventListener('pageshow', (event) => { window.restored = event.persisted; })")
    a.goto(urljoin(a.url, "about.html"))
    b.evaluate("() => { BroadcastChannel.prototype.postMessage = () => {}; }")  # what A will not hear
    item = b.locator(".conversation", has_text="Chat renamed while A was away")
    item.locator(".rename-conversation").click()
    item.locator(".rename-form input").fill("Renamed in B")
    item.locator(".rename-form input").press("Enter")
    b.locator(".conversation", has_text="Chat deleted while A was away").locator(".delete-conversation").click()
    open_imported(b, tmp_path, {"id": "added", "title": "Chat added in B", "created": 1, "updated": 2,
                                "messages": [{"role": "user", "content": "Hi."}]})
    expect(titles(b).filter(has_text="Chat deleted while A was away")).to_have_count(0)
    a.go_back(wait_until="commit")
    a.wait_for_function("() => 'restored' in window || document.readyState === 'complete'")
    reasons = a.evaluate("() => JSON.stringify(performance.getEntriesByType('navigation')[0].notRestoredReasons)")
    assert a.evaluate("() => window.restored") is True, f"not restored from the back/forward cache: {reasons}"
    expect(titles(a).filter(has_text="Renamed in B")).to_have_count(1)
    expect(titles(a).filter(has_text="Chat added in B")).to_have_count(1)
    expect(titles(a).filter(has_text="Chat renamed while A was away")).to_have_count(0)
    expect(titles(a).filter(has_text="Chat deleted while A was away")).to_have_count(0)
    # Its open chat was deleted: A is on a new chat, the text it was writing kept.
    expect(a.locator(".message")).to_have_count(0)
    expect(a.locator("#prompt")).to_have_value("Half a thought in A")
    b.reload()  # its announcements again
    wait_until_ready(b)
    a.fill("#prompt", "")

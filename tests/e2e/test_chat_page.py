"""The chat page as a visitor uses it, in real Chromium (SwiftShader WebGPU) on the SmolLM2 site.

The visitor's session is shared by the tests of this module, in order, as one visit would be:
the model loads once (with progress), a question gets the Node engine's greedy answer, Stop,
reload, offline, and at the end a second tab's reply waits for the first's (the service worker's
one engine serves every tab). Other tests open their own contexts (fresh profiles) when they need one.
Replies are kept a few tokens long: SwiftShader runs the model at a few tokens per second.
"""

import json
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from .chat import (ARTIFACTS, REPLY_TIMEOUT_MS, ask, open_imported, save_screenshot, set_settings,
                   wait_for_reply_end, wait_for_reply_text, wait_until_ready)

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "What is the capital of France?"
ANSWER_TOKENS = 12

# Records how far the loading bar got (its value attribute reflects the engine's progress).
RECORD_PROGRESS = """
window.__loadProgress = [];
new MutationObserver(() => {
  const bar = document.querySelector('.load-progress');
  if (bar) window.__loadProgress.push(bar.value);
}).observe(document, { subtree: true, attributes: true, attributeFilter: ['value'] });
"""


def node_greedy_answer(manifest: Path, question: str, max_tokens: int) -> str:
    """The in-thread engine's greedy reply in Node (Dawn on SwiftShader), for the same request."""
    script = ROOT / "tests" / "e2e" / "node_answer.js"
    request = {"messages": [{"role": "user", "content": question}], "temperature": 0, "max_tokens": max_tokens}
    env = {"VK_ICD_FILENAMES": "/usr/lib/chromium/vk_swiftshader_icd.json", "XDG_RUNTIME_DIR": "/tmp",
           "PATH": "/usr/bin:/bin:/usr/local/bin"}
    done = subprocess.run(["node", str(script), str(manifest), json.dumps(request)], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def visit(browser, site_url):
    """One visitor's context and page for the whole module, with every request URL logged."""
    context = browser.new_context()
    requests = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    page.add_init_script(RECORD_PROGRESS)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    page.goto(site_url)
    yield {"context": context, "page": page, "requests": requests, "dialogs": dialogs}
    context.close()


def test_model_loads_with_progress_to_the_end(visit):
    page = visit["page"]
    wait_until_ready(page)
    progress = page.evaluate("window.__loadProgress")
    assert progress and max(progress) == 1 and progress == sorted(progress)
    assert page.locator(".loader").is_hidden()
    assert page.evaluate("document.body.dataset.engineHost") == "service-worker"
    # On the GPU the page has nothing to say about the backend (the CPU's note: test_cpu_backend.py).
    assert page.evaluate("document.body.dataset.engineBackend") == "webgpu"
    assert page.locator(".backend-note").is_hidden()


def test_question_gets_the_node_engines_greedy_answer(visit, e2e_site):
    page = visit["page"]
    wait_until_ready(page)
    set_settings(page, temperature=0, max_tokens=ANSWER_TOKENS)
    ask(page, QUESTION)
    page.wait_for_selector(".composer .stop:visible")  # the reply streams: Stop shows while it runs
    reply = wait_for_reply_end(page)
    manifest = next((e2e_site / "models").glob("*/manifest.json"))
    expected = node_greedy_answer(manifest, QUESTION, ANSWER_TOKENS)
    assert expected.strip()
    # Through the browser's own parser, which writes text back in its way (' not &#39;).
    rendered = page.evaluate("""async (text) => {
        const template = document.createElement('template');
        template.innerHTML = (await import('./runtime/ui/markdown.js')).renderMarkdown(text);
        return template.innerHTML;
    }""", expected)
    assert reply.locator(".message-body").inner_html() == rendered
    assert "tokens/s" in reply.locator(".message-stats").inner_text()
    assert page.locator(".message.user .message-body").first.inner_text() == QUESTION
    assert page.locator(".conversation .open-conversation").first.inner_text() == QUESTION


def test_stop_ends_the_reply_and_keeps_what_was_written(visit):
    page = visit["page"]
    set_settings(page, temperature=0.8, max_tokens=400)
    ask(page, "Write a long story about a lighthouse keeper.")
    reply = page.locator(".message.assistant.streaming .message-body")
    wait_for_reply_text(page)
    # With no Max tokens a reply may run until the context is full: Stop, in Send's place, is a filled
    # button as Send is (the page's main action while a reply runs), not an outlined one.
    background = "button => getComputedStyle(button).backgroundColor"
    assert page.locator(".composer .stop").evaluate(background) == page.locator(".new-chat").evaluate(background)
    page.click(".composer .stop")
    last = wait_for_reply_end(page)
    assert "stopped" in last.locator(".message-stats").inner_text()
    assert last.locator(".message-body").inner_text().strip()
    assert reply.count() == 0
    # Esc stops too.
    ask(page, "Tell me another long story, about a baker.")
    wait_for_reply_text(page)
    page.keyboard.press("Escape")
    assert "stopped" in wait_for_reply_end(page).locator(".message-stats").inner_text()
    assert page.locator("#prompt").is_enabled()


def test_reload_keeps_the_conversation_and_the_loaded_model(visit):
    page, requests = visit["page"], visit["requests"]
    before = page.locator(".messages").inner_text()
    requests.clear()
    page.reload()
    wait_until_ready(page)
    assert page.locator(".messages").inner_text() == before
    # The model stayed loaded in the service worker: no shard was read again.
    assert not [url for url in requests if url.endswith(".bin")]


def test_offline_reload_still_answers(visit, site_url):
    page, context, requests = visit["page"], visit["context"], visit["requests"]
    context.set_offline(True)
    try:
        page.reload()
        wait_until_ready(page)
        page.click(".new-chat")
        set_settings(page, temperature=0, max_tokens=4)
        ask(page, "Say hello.")
        reply = wait_for_reply_end(page)
        assert reply.locator(".message-body").inner_text().strip()
        assert page.locator(".problem").is_hidden()
    finally:
        context.set_offline(False)
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(site_url))
    others = {url for url in requests if not url.startswith(origin + "/") and not url.startswith(("blob:", "data:"))}
    assert others == set()


def test_conversations_rename_delete_export_import(visit, tmp_path):
    page = visit["page"]
    first = page.locator(".conversation").first
    title = first.locator(".open-conversation").inner_text()
    first.locator(".rename-conversation").click()
    first.locator(".rename-form input").fill("Renamed chat")
    first.locator(".rename-form input").press("Enter")
    expect(page.locator(".conversation .open-conversation").first).to_have_text("Renamed chat")
    count = page.locator(".conversation").count()
    with page.expect_download() as download_info:
        page.click(".export-chats")
    exported = tmp_path / "export.json"
    download_info.value.save_as(exported)
    data = json.loads(exported.read_text())
    assert data["format"] == "sitegen-conversations" and len(data["conversations"]) == count
    assert "Renamed chat" in [c["title"] for c in data["conversations"]]
    # Delete (after the confirmation dialog), then import the export: it comes back.
    page.locator(".conversation").first.locator(".delete-conversation").click()
    expect(page.locator(".conversation")).to_have_count(count - 1)
    assert visit["dialogs"][-1].startswith("Delete the conversation “Renamed chat”")
    page.set_input_files(".import-chats input", str(exported))
    expect(page.locator(".conversation")).to_have_count(count)
    assert title != "Renamed chat"


def test_edit_and_regenerate(visit):
    page = visit["page"]
    page.click(".new-chat")
    set_settings(page, temperature=0, max_tokens=3)
    ask(page, "Name a colour.")
    wait_for_reply_end(page)
    page.locator(".message.assistant .regenerate").click()
    wait_for_reply_end(page)
    assert page.locator(".message").count() == 2
    page.locator(".message.user .edit-message").click()
    page.locator(".message.user .message-editor textarea").fill("Name a fruit.")
    page.locator(".message.user .message-editor button[type=submit]").click()
    wait_for_reply_end(page)
    assert page.locator(".message.user .message-body").inner_text() == "Name a fruit."
    assert page.locator(".message").count() == 2


# Put on the page by open_imported: imported conversations render as replies do.
INJECTIONS = [
    "<script>window.__pwned = 'script'</script>",
    "<img src=x onerror=\"window.__pwned = 'img'\">",
    "<svg onload=\"window.__pwned = 'svg'\"></svg>",
    "<iframe src=\"javascript:parent.__pwned = 'iframe'\"></iframe>",
    "[click](javascript:window.__pwned='link')",
    "[click](JaVaScRiPt:window.__pwned='case')",
    "[click](java&#x73;cript:window.__pwned='entity')",
    "[click](data:text/html,<script>parent.__pwned='data'</script>)",
    "![pixel](https://evil.example/pixel.png)",
    "[x](https://a.example/\"onmouseover=\"window.__pwned='quote')",
    "```\"><img src=x onerror=\"window.__pwned='lang'\">\ncode\n```",
    "<a href=\"javascript:window.__pwned='a'\">a</a> <b onmouseover=\"window.__pwned='b'\">b</b>",
    "| a | b |\n|---|---|\n| <img src=x onerror=\"window.__pwned='cell'\"> | [c](javascript:alert(1)) |",
]


def test_markdown_payloads_render_inert(visit, tmp_path):
    page = visit["page"]
    conversation = {
        "id": "injections", "title": "Injections", "created": 1, "updated": 2,
        "messages": [{"role": "user", "content": "<img src=x onerror=\"window.__pwned='user'\">"},
                     {"role": "assistant", "content": "\n\n".join(INJECTIONS + ["[safe](https://example.org/)"])}],
    }
    open_imported(page, tmp_path, conversation)
    body = page.locator(".message.assistant .message-body")
    body.hover()
    for link in body.locator("a").all():
        link.hover()
    page.wait_for_timeout(500)  # let any handler that got through run
    assert page.evaluate("window.__pwned") is None
    assert visit["dialogs"] == [d for d in visit["dialogs"] if d.startswith("Delete")]  # no alert()
    messages = page.locator(".messages")
    rendered = ", ".join(f".message-body {tag}" for tag in ("script", "iframe", "img", "svg", "object", "embed", "form", "style"))
    assert page.locator(rendered).count() == 0
    handlers = messages.evaluate("""list => [...list.querySelectorAll('*')].flatMap(element =>
        [...element.attributes].map(a => a.name).filter(name => name.startsWith('on')))""")
    assert handlers == []
    hrefs = body.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert hrefs and all(href.startswith(("https://", "http://")) for href in hrefs)
    assert "https://example.org/" in hrefs
    assert body.locator("a[href='https://example.org/']").get_attribute("rel") == "noopener noreferrer nofollow"
    # The payloads are shown as text, not lost.
    assert "<script>window.__pwned = 'script'</script>" in body.inner_text()


def test_phone_width_is_usable(visit):
    page = visit["page"]
    page.set_viewport_size({"width": 400, "height": 800})
    try:
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 400
        for selector in ("#prompt", ".composer .send", ".toggle-sidebar", ".theme-toggle"):
            box = page.locator(selector).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 400, selector
        # The conversations are in a drawer, off screen until opened (it slides: wait for the end).
        drawer_closed = "() => document.querySelector('.conversations').getBoundingClientRect().right <= 0"
        page.wait_for_function(drawer_closed)
        page.click(".toggle-sidebar")
        page.wait_for_function("() => document.querySelector('.conversations').getBoundingClientRect().left >= 0")
        assert page.locator(".toggle-sidebar").get_attribute("aria-expanded") == "true"
        page.keyboard.press("Escape")
        page.wait_for_function(drawer_closed)
    finally:
        page.set_viewport_size({"width": 1280, "height": 720})


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots_of_both_schemes(visit, scheme):
    """Saved for people to look at (build/e2e-artifacts/); the test checks the scheme applied."""
    page = visit["page"]
    page.locator(".conversation", has_text="Renamed chat").first.locator(".open-conversation").click()
    page.emulate_media(color_scheme=scheme, reduced_motion="reduce")  # no drawer sliding mid-shot
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == ("rgb(255, 255, 255)" if scheme == "light" else "rgb(18, 20, 23)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width, name in ((1280, "desktop"), (400, "phone")):
        page.set_viewport_size({"width": width, "height": 800})
        page.screenshot(path=str(ARTIFACTS / f"chat-{scheme}-{name}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 720})
    page.emulate_media(color_scheme="light", reduced_motion="no-preference")


def test_theme_toggle_overrides_the_system_and_is_remembered(visit):
    page = visit["page"]
    page.emulate_media(color_scheme="light")
    toggle = page.locator(".theme-toggle")
    expect(toggle).to_have_attribute("aria-pressed", "false")  # follows the system's scheme
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(18, 20, 23)"
    page.goto(page.url.split("#")[0] + "about.html")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(18, 20, 23)"
    page.locator(".theme-toggle").click()  # back to light, for the tests after this one
    page.go_back()
    wait_until_ready(page)


def test_a_full_context_offers_a_new_chat(visit, tmp_path):
    page = visit["page"]
    # three messages that each fit the 4096-token context, and together do not
    turns = [" ".join(f"word{i}" for i in range(start, start + 600)) for start in (0, 600, 1200)]
    messages = [message for text in turns for message in ({"role": "user", "content": text},
                                                          {"role": "assistant", "content": "Hm."})]
    conversation = {"id": "long", "title": "Too long", "created": 1, "updated": 3, "messages": messages}
    wait_until_ready(page)
    open_imported(page, tmp_path, conversation)
    page.locator(".message.assistant .regenerate").last.click()
    problem = page.locator(".problem")
    problem.wait_for(state="visible", timeout=REPLY_TIMEOUT_MS)
    assert problem.get_attribute("data-error") == "ContextWindowExceededError"
    assert "This conversation is full" in problem.inner_text()
    assert page.locator(".message.user .message-body").all_inner_texts() == turns  # nothing lost
    problem.locator("button[data-action=new-chat]").click()
    expect(page.locator(".message")).to_have_count(0)
    expect(problem).to_be_hidden()


def test_a_message_too_long_for_the_model_is_given_back_not_kept(visit, tmp_path):
    """A message the model cannot read on its own (more than the 4096-token context) is not kept as sent,
    or every later message of the chat would fail: its text goes back where it was written, and the chat
    goes on with a shorter one."""
    page = visit["page"]
    wait_until_ready(page)
    long_text = " ".join(f"word{i}" for i in range(2000))  # about 6,000 tokens
    problem = page.locator(".problem")
    prompt = page.locator("#prompt")
    user_texts = page.locator(".message.user .message-body")

    def refused():
        problem.wait_for(state="visible", timeout=REPLY_TIMEOUT_MS)
        assert problem.get_attribute("data-error") == "ContextWindowExceededError"
        expect(problem.locator(".problem-title")).to_have_text("This message is too long")
        expect(problem.locator(".problem-text")).to_contain_text("so it was not sent. Your text is kept where you wrote it")
        expect(page.locator(".composer .send")).to_be_visible()

    # The first message of a new chat: no conversation is made of it.
    page.click(".new-chat")
    conversations = page.locator(".conversation").count()
    ask(page, long_text)
    refused()
    expect(prompt).to_have_value(long_text)
    expect(page.locator(".message")).to_have_count(0)
    expect(page.locator(".conversation")).to_have_count(conversations)
    page.locator(".problem button[data-action=dismiss]").click()

    # In a conversation: it stays as it was, and a shorter message gets its reply.
    hello = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    open_imported(page, tmp_path, {"id": "short", "title": "Short chat", "created": 1, "updated": 5, "messages": hello})
    ask(page, long_text)
    refused()
    expect(prompt).to_have_value(long_text)
    expect(user_texts).to_have_text(["Hi"])
    set_settings(page, temperature=0, max_tokens=2)
    ask(page, QUESTION)
    wait_for_reply_end(page)
    expect(problem).to_be_hidden()
    expect(user_texts).to_have_text(["Hi", QUESTION])
    expect(page.locator(".message.assistant")).to_have_count(2)

    # An edit to a text too long is not made: the conversation as it was, the new text in the editor.
    first = page.locator(".message.user").first
    first.locator(".edit-message").click()
    first.locator(".message-editor textarea").fill(long_text)
    first.locator(".message-editor textarea").press("Enter")
    refused()
    expect(first.locator(".message-editor textarea")).to_be_visible()
    expect(first.locator(".message-editor textarea")).to_be_focused()
    expect(first.locator(".message-editor textarea")).to_have_value(long_text)
    expect(page.locator(".message")).to_have_count(4)
    first.locator(".cancel-edit").click()
    expect(user_texts).to_have_text(["Hi", QUESTION])

    # A conversation saved with such a message last (before the page gave them back): Reply takes it out.
    stuck = [*hello, {"role": "user", "content": long_text}]
    open_imported(page, tmp_path, {"id": "stuck", "title": "Stuck chat", "created": 1, "updated": 6, "messages": stuck})
    reply = page.locator(".message.user").last.locator(".regenerate")
    expect(reply).to_have_text("Reply")
    reply.click()
    refused()
    expect(prompt).to_have_value(long_text)
    expect(user_texts).to_have_text(["Hi"])

    # What was saved is what the page shows.
    page.reload()
    wait_until_ready(page)
    expect(user_texts).to_have_text(["Hi"])
    page.locator(".conversation", has_text="Short chat").locator(".open-conversation").click()
    expect(user_texts).to_have_text(["Hi", QUESTION])


def test_code_blocks_copy_to_the_clipboard(visit, tmp_path):
    page, context = visit["page"], visit["context"]
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    code = "def greet(name):\n    return f'<b>{name}</b>'"
    conversation = {"id": "code", "title": "Code", "created": 1, "updated": 4, "messages": [
        {"role": "user", "content": "Show code"},
        {"role": "assistant", "content": f"Here:\n\n```python\n{code}\n```"}]}
    open_imported(page, tmp_path, conversation)
    block = page.locator(".message.assistant .code-block")
    assert block.locator(".code-lang").inner_text() == "python"
    block.locator(".copy-code").click()
    expect(block.locator(".copy-code")).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == code


def test_the_site_is_installable(visit):
    """Chromium's own installability check (web app manifest, icons, service worker)."""
    page = visit["page"]
    session = visit["context"].new_cdp_session(page)
    errors = session.send("Page.getInstallabilityErrors")["installabilityErrors"]
    # Playwright's contexts are incognito profiles, where Chromium installs nothing: that aside, none.
    assert [error["errorId"] for error in errors if error["errorId"] != "in-incognito"] == []
    manifest = session.send("Page.getAppManifest")
    assert not manifest.get("errors") and manifest["url"].endswith("/manifest.webmanifest")


def test_a_second_tab_says_it_waits_for_the_first_tabs_reply(visit):
    page = visit["page"]
    # The service worker hosts one engine for every tab of the site: replies take turns.
    assert page.evaluate("() => document.body.dataset.engineHost") == "service-worker"
    other = page.context.new_page()
    try:
        other.goto(page.url)
        wait_until_ready(other)
        set_settings(other, max_tokens=2)  # settings are per site: this tab's are the first tab's too
        set_settings(page, max_tokens=64)
        page.click(".new-chat")
        ask(page, "Count from one to fifty in words.")
        wait_for_reply_text(page)  # the first tab's reply runs
        other.click(".new-chat")
        ask(other, "Name a colour.")
        status = other.locator(".message.streaming .reply-status")
        expect(status).to_have_text("Waiting for the reply in another tab to finish…")
        save_screenshot(other, "chat-waiting-for-another-tab")
        page.click(".composer .stop")
        wait_for_reply_end(other)
        expect(other.locator(".message.assistant .message-body").last).not_to_be_empty()
    finally:
        other.close()
        set_settings(page, max_tokens=2)  # short replies again: the next test's second tab reads them


def test_stop_in_a_second_tab_ends_its_waiting_reply_at_once(visit):
    page = visit["page"]
    # Stop while the reply waits for another tab's: this tab's request leaves the queue and ends
    # as a stopped reply with no words (nothing kept); the other tab's reply goes on.
    other = page.context.new_page()
    try:
        other.goto(page.url)
        wait_until_ready(other)
        set_settings(page, max_tokens=64)
        page.click(".new-chat")
        ask(page, "Count from one to fifty in words.")
        wait_for_reply_text(page)
        other.click(".new-chat")
        ask(other, "Name a colour.")
        status = other.locator(".message.streaming .reply-status")
        expect(status).to_have_text("Waiting for the reply in another tab to finish…")
        other.click(".composer .stop")
        expect(other.locator(".composer .send")).to_be_visible(timeout=5_000)
        expect(status).to_have_count(0)
        expect(other.locator("#prompt")).to_be_enabled()
        expect(other.locator(".message.assistant")).to_have_count(0)
        expect(other.locator(".message.user .message-body")).to_have_text("Name a colour.")
        # the question says it has no reply, and offers one
        expect(other.locator(".message.user .message-stats")).to_have_text("No reply yet.")
        expect(other.locator(".message.user .regenerate")).to_have_text("Reply")
        expect(page.locator(".message.assistant.streaming")).to_have_count(1)  # the first tab's reply still streams
        page.click(".composer .stop")
        wait_for_reply_end(page)
        other.click(".message.user .regenerate")
        expect(other.locator(".message.assistant")).to_have_count(1)  # the reply, streaming
        wait_for_reply_end(other)
        expect(other.locator(".message.assistant")).to_have_count(1)
        expect(other.locator(".message.user .regenerate")).to_be_hidden()
    finally:
        other.close()

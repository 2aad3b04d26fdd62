"""The site as an OpenAI endpoint (runtime/openai_endpoint.js) in real Chromium: the official
`openai` npm package and plain fetch() talk to `<site>/v1`, served by the site's service worker,
while the chat page keeps working on the same engine.

The demo site is served under a sub-path, /project/, as GitHub Pages serves a project site; the
`openai` package from the repository's node_modules beside it (never part of the site). The tests
of the first group share one browser context, so the model loads once (its first request loads
it); they run in order. WebGPU is SwiftShader here (about a second a token): replies stay short.
"""

from __future__ import annotations

import importlib.util
import json
import re
import time
from pathlib import Path

import pytest

from .chat import ask, set_settings, wait_for_reply_end, wait_until_ready
from .conftest import serve_mounted
from .test_engine_hosts import MANIFEST, REGISTER, run

NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"
MODEL = "smollm2-135m"
QUESTION = "What is the capital of France?"
LONG_TOKENS = 200  # minutes here, unless stopped

# Statements of async page functions (run()'s `arg` is their argument), on a page of the site.
IMPORT_OPENAI = """
  const { OpenAI } = await import('/node_modules/openai/index.mjs');
  const client = new OpenAI({ baseURL: new URL('v1', location.href).href, apiKey: 'unused', dangerouslyAllowBrowser: true });
"""
# fetch() of the endpoint, its status, Retry-After and JSON body.
FETCH = """
  const response = await fetch(new URL(arg.path, location.href), arg.body == null ? { method: arg.method }
    : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(arg.body) });
  return { status: response.status, retryAfter: response.headers.get('Retry-After'), allow: response.headers.get('Allow'),
           body: await response.json() };
"""
# A streamed chat completion read with fetch and a plain SSE parser: its events' data, in order
# (comment lines, the endpoint's keep-alive heartbeats, skipped as every SSE client skips them).
FETCH_STREAM = """
  const response = await fetch(new URL('v1/chat/completions', location.href), {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(arg) });
  const text = await response.text();
  return { type: response.headers.get('Content-Type'),
           events: text.split('\\n\\n').filter((event) => event && !event.startsWith(':'))
             .map((event) => event.replace(/^data: /, '')) };
"""


def chat_body(tokens: int, **fields) -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": QUESTION}], "temperature": 0,
            "max_tokens": tokens, **fields}


@pytest.fixture(scope="module")
def project_url(e2e_site):
    """The demo site at http://127.0.0.1:PORT/project/, the openai package at /node_modules/openai/."""
    with serve_mounted({"/project/": e2e_site, "/node_modules/openai/": NODE_MODULES / "openai"}) as origin:
        yield origin + "project/"


@pytest.fixture(scope="module")
def api_page(browser, project_url):
    """The About page of the site with its service worker running, no model loaded yet."""
    context, page = open_controlled_about_page(browser, project_url)
    yield page
    context.close()


def open_controlled_about_page(browser, site_url):
    """(context, page): a new browser context on the site's About page, its service worker registered
    and controlling the page (claimed on activation: from then on the page's fetches go through it)."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(site_url + "about.html")
    run(page, REGISTER, "sw.js")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    return context, page


def fetch(page, path: str, body=None, method: str = "GET") -> dict:
    return run(page, FETCH, {"path": path, "body": body, "method": method})


def fetch_when_ready(page, path: str, body, timeout_s: int = 240) -> dict:
    """fetch() as a client that honours Retry-After does: again after each 503's Retry-After."""
    deadline = time.monotonic() + timeout_s
    while (answer := fetch(page, path, body))["status"] == 503:
        assert time.monotonic() < deadline, answer
        page.wait_for_timeout(1000 * int(answer["retryAfter"]))
    return answer


def test_the_first_request_loads_the_model_and_gets_503_with_retry_after_meanwhile(api_page):
    # Checked before any 503: a client retries a 503, and an invalid request would never pass.
    invalid = fetch(api_page, "v1/chat/completions", chat_body(2, temperature="hot"))
    assert (invalid["status"], invalid["body"]["error"]["param"]) == (400, "temperature")
    loading = fetch(api_page, "v1/chat/completions", chat_body(2))
    assert loading["status"] == 503
    assert int(loading["retryAfter"]) >= 1
    assert loading["body"]["error"]["code"] == "model_not_loaded"
    assert f"The model {MODEL} is loading" in loading["body"]["error"]["message"]
    assert fetch(api_page, "v1/models")["body"] == {
        "object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "sitegen"}]}
    answer = fetch_when_ready(api_page, "v1/chat/completions", chat_body(6))
    assert answer["status"] == 200
    assert "Paris" in answer["body"]["choices"][0]["message"]["content"]


def test_the_openai_package_lists_completes_streams_and_aborts(api_page):
    result = run(api_page, IMPORT_OPENAI + """
      const models = (await client.models.list()).data.map((model) => model.id);
      const reply = await client.chat.completions.create(arg.short);
      const stream = await client.chat.completions.create({ ...arg.short, stream: true });
      let streamed = '';
      for await (const chunk of stream) streamed += chunk.choices[0]?.delta.content ?? '';
      // A long stream, left after its first chunk: the SDK aborts the request.
      const long = await client.chat.completions.create({ ...arg.long, stream: true });
      for await (const chunk of long) break;
      const started = Date.now();
      const next = await client.chat.completions.create({ ...arg.short, max_tokens: 1 });
      let status = null;
      try {
        await client.chat.completions.create({ ...arg.short, model: 'gpt-4o' });
      } catch (error) {
        status = [error.status, error.code];
      }
      return { models, reply: reply.choices[0].message.content, streamed, next: next.choices[0].finish_reason,
               afterAbortS: (Date.now() - started) / 1000, status };
    """, {"short": chat_body(3), "long": chat_body(LONG_TOKENS, ignore_eos=True)}, timeout_s=120)
    assert result["models"] == [MODEL]
    assert result["reply"] and result["streamed"] == result["reply"]
    assert result["next"] == "length"
    assert result["afterAbortS"] < 60, "the aborted stream gave the engine back"
    assert result["status"] == [404, "model_not_found"]


def test_plain_fetch_with_server_sent_events(api_page):
    streamed = run(api_page, FETCH_STREAM, chat_body(3, stream=True))
    assert streamed["type"] == "text/event-stream; charset=utf-8"
    assert streamed["events"][-1] == "[DONE]"
    chunks = [json.loads(event) for event in streamed["events"][:-1]]
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks if chunk["choices"])
    whole = fetch(api_page, "v1/chat/completions", chat_body(3))["body"]["choices"][0]["message"]["content"]
    assert text == whole
    # Aborted with an AbortController after the first chunk: the next request runs at once.
    took = run(api_page, """
      const stop = new AbortController();
      const response = await fetch(new URL('v1/chat/completions', location.href), { method: 'POST', signal: stop.signal,
        headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(arg) });
      await response.body.getReader().read();
      stop.abort();
      const started = Date.now();
      const next = await fetch(new URL('v1/chat/completions', location.href), { method: 'POST',
        headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ ...arg, stream: false, max_tokens: 1 }) });
      return [(await next.json()).choices[0].finish_reason, (Date.now() - started) / 1000];
    """, chat_body(LONG_TOKENS, ignore_eos=True, stream=True), timeout_s=120)
    assert took[0] == "length" and took[1] < 60


def test_aborting_a_json_request_stops_it_while_it_waits_or_runs(api_page):
    # Chromium never fires a service worker's request.signal: the abort reaches the worker as the
    # cancel of the JSON body, which is out at once.
    result = run(api_page, """
      const post = (body, signal) => fetch(new URL('v1/chat/completions', location.href), { method: 'POST', signal,
        headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      const pause = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });
      const running = new AbortController();
      const waiting = new AbortController();
      const first = post(arg, running.signal).then((response) => response.text()).catch((error) => error.name);
      await pause(300);
      const second = post(arg, waiting.signal).then((response) => response.text()).catch((error) => error.name);
      await pause(300);
      waiting.abort(); // queued behind the first
      running.abort();
      const aborted = await Promise.all([first, second]);
      const started = Date.now();
      const next = await (await post({ ...arg, max_tokens: 1 })).json();
      return { aborted, next: next.choices[0].finish_reason, afterAbortS: (Date.now() - started) / 1000 };
    """, chat_body(LONG_TOKENS, ignore_eos=True), timeout_s=120)
    assert result["aborted"] == ["AbortError", "AbortError"]
    assert result["next"] == "length"
    assert result["afterAbortS"] < 30, "neither aborted request kept the engine"


def test_a_stream_that_waits_gets_keep_alive_comments_and_its_abort_takes_it_out_of_the_queue(api_page):
    # Behind a long reply, a stream's headers come after 5 s, then a comment every 5 s: aborting it
    # then reaches the service worker (as the cancel of its body), and it leaves the queue.
    result = run(api_page, """
      const post = (body, signal) => fetch(new URL('v1/chat/completions', location.href), { method: 'POST', signal,
        headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      const running = new AbortController();
      const first = post(arg.long, running.signal).then((response) => response.text()).catch((error) => error.name);
      await new Promise((resolve) => { setTimeout(resolve, 300); });
      const dropped = new AbortController();
      const queued = await post({ ...arg.long, stream: true }, dropped.signal);
      const heard = new TextDecoder().decode((await queued.body.getReader().read()).value);
      dropped.abort();
      const waiting = await post({ ...arg.short, stream: true });
      running.abort();
      const started = Date.now();
      const text = await waiting.text();
      return { heard, type: waiting.headers.get('Content-Type'), text, first: await first,
               afterAbortS: (Date.now() - started) / 1000 };
    """, {"long": chat_body(LONG_TOKENS, ignore_eos=True), "short": chat_body(3)}, timeout_s=150)
    assert result["heard"] == ": keep-alive\n\n"
    assert result["type"] == "text/event-stream; charset=utf-8"
    assert result["first"] == "AbortError"
    assert result["text"].startswith(": keep-alive\n\n"), result["text"][:80]
    assert result["text"].endswith("data: [DONE]\n\n")
    # Had the aborted stream stayed queued, its 200 tokens would have run before this one's 3.
    assert result["afterAbortS"] < 60


def test_a_json_reply_is_whitespace_while_it_runs_then_the_completion_and_the_openai_package_reads_it(api_page):
    result = run(api_page, IMPORT_OPENAI + """
      const raw = await (await fetch(new URL('v1/chat/completions', location.href), { method: 'POST',
        headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(arg.slow) })).text();
      const reply = await client.chat.completions.create(arg.slow);
      // Aborted through the SDK's signal while it runs: it stops, and the next one runs at once. (The
      // SDK's own `timeout` covers the time to the headers only, which now come at once.)
      let aborted = null;
      try {
        await client.chat.completions.create(arg.long, { signal: AbortSignal.timeout(1000), maxRetries: 0 });
      } catch (error) {
        aborted = error.constructor.name;
      }
      const started = Date.now();
      const next = await client.chat.completions.create({ ...arg.slow, max_tokens: 1 });
      return { raw, reply: reply.choices[0].message.content, aborted, next: next.choices[0].finish_reason,
               afterAbortS: (Date.now() - started) / 1000 };
    """, {"slow": chat_body(20, ignore_eos=True), "long": chat_body(LONG_TOKENS, ignore_eos=True)}, timeout_s=150)
    # 2.5 tokens/s at most on SwiftShader: longer than the 5 s before the headers and first space.
    assert result["raw"].startswith(" ") and result["raw"].strip().startswith("{")
    assert json.loads(result["raw"])["choices"][0]["message"]["content"] == result["reply"]
    assert result["aborted"] == "APIUserAbortError"  # before the headers: the SDK says so
    assert result["next"] == "length"
    assert result["afterAbortS"] < 30, "the aborted request gave the engine back"


def test_errors_in_openai_shape(api_page):
    invalid = fetch(api_page, "v1/chat/completions", chat_body(3, temperature="hot"))
    assert invalid["status"] == 400
    assert invalid["body"]["error"]["param"] == "temperature"
    assert invalid["body"]["error"]["type"] == "invalid_request_error"
    unknown = fetch(api_page, "v1/chat/completions", chat_body(3, model="gpt-4o"))
    assert (unknown["status"], unknown["body"]["error"]["code"]) == (404, "model_not_found")
    wrong = fetch(api_page, "v1/chat/completions")
    assert (wrong["status"], wrong["allow"]) == (405, "POST")
    assert fetch(api_page, "v1/embeddings", {"input": "x"})["status"] == 404


def test_a_json_request_refused_while_another_runs_gets_its_400_at_once_and_the_openai_package_throws_it(api_page):
    # Behind a reply of more than 5 s, a request too long for the context is refused as such, at once:
    # the host checks it before it waits (before, it waited, got status 200 with the heartbeat, then a
    # body {"error": ...} that the SDK returned as the completion).
    result = run(api_page, IMPORT_OPENAI + """
      const running = client.chat.completions.create(arg.slow);
      await new Promise((resolve) => { setTimeout(resolve, 500); });
      const started = Date.now();
      let refused;
      try {
        refused = ['returned', await client.chat.completions.create(arg.long, { maxRetries: 0 })];
      } catch (error) {
        refused = [error.constructor.name, error.status, error.code, error.param];
      }
      return { refused, afterS: (Date.now() - started) / 1000, running: (await running).choices[0].finish_reason };
    """, {"slow": chat_body(10, ignore_eos=True),
          "long": chat_body(2, messages=[{"role": "user", "content": "word " * 10000}])}, timeout_s=120)
    assert result["refused"] == ["BadRequestError", 400, "context_length_exceeded", "messages"]
    assert result["afterS"] < 5, "refused before the headers a wait would send"
    assert result["running"] == "length"


def test_the_chat_page_keeps_working_meanwhile(api_page):
    chat = api_page.context.new_page()
    chat.goto(api_page.url.replace("about.html", ""))
    wait_until_ready(chat)  # the model the API loaded: shared, not loaded again
    streaming = run(api_page, """
      window.apiReply = fetch(new URL('v1/chat/completions', location.href), { method: 'POST',
        headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(arg) }).then((r) => r.text());
      return true;
    """, chat_body(4, stream=True))
    assert streaming
    set_settings(chat, max_tokens=16, temperature=0)  # the answer, greedy; a slow machine need not run a long reply
    ask(chat, QUESTION)
    reply = wait_for_reply_end(chat)
    assert "Paris" in reply.inner_text()
    events = run(api_page, "return (await window.apiReply).split('\\n\\n').filter(Boolean);")
    assert events[-1] == "data: [DONE]"
    chat.close()


@pytest.fixture
def service_worker_without_webgpu(e2e_site):
    """The site's service worker in a browser whose service workers have no WebGPU."""
    script = e2e_site / "sw-openai-without-webgpu.js"
    script.write_text(
        "import { startServiceWorker } from './runtime/service_worker.js';\n"
        "Object.defineProperty(WorkerNavigator.prototype, 'gpu', { get: () => undefined });\n"
        f"startServiceWorker({{ version: 'without-webgpu', shell: [], models: [{{ id: '{MODEL}', "
        f"manifestUrl: '{MANIFEST}', weightsUrl: null }}] }});\n",
        encoding="utf-8",
    )
    yield script.name
    script.unlink()


def test_without_webgpu_in_the_service_worker_a_page_answers(context, project_url, service_worker_without_webgpu):
    page = context.new_page()
    page.goto(project_url + "about.html")
    run(page, REGISTER, service_worker_without_webgpu)
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    nobody = fetch(page, "v1/chat/completions", chat_body(2))
    assert nobody["status"] == 503 and nobody["retryAfter"]
    assert "No page of this site runs the model" in nobody["body"]["error"]["message"]
    assert "no WebGPU" in nobody["body"]["error"]["message"]

    host = run(page, """
      const { CreateServiceWorkerEngine } = await import('./runtime/sw_client.js');
      window.engine = await CreateServiceWorkerEngine(arg);
      return window.engine.host;
    """, MANIFEST)
    assert host == "worker"
    answer = fetch(page, "v1/chat/completions", chat_body(6))
    assert answer["status"] == 200
    assert "Paris" in answer["body"]["choices"][0]["message"]["content"]
    streamed = run(page, FETCH_STREAM, chat_body(2, stream=True))
    assert streamed["events"][-1] == "[DONE]" and len(streamed["events"]) > 2

    # The page unloads its model (a switch to another ends its worker): it withdraws its offer, so
    # the next request is told at once that no page runs the model, rather than forwarded to nobody.
    run(page, "await window.engine.unload();")
    withdrawn = fetch(page, "v1/chat/completions", chat_body(2))
    assert withdrawn["status"] == 503 and withdrawn["retryAfter"]
    assert f"No page of this site runs the model {MODEL}" in withdrawn["body"]["error"]["message"]


README = Path(__file__).resolve().parents[2] / "README.md"
README_SECTION = "### The site's OpenAI endpoint"


def readme_page() -> str:
    """The page of README's endpoint section, as written there."""
    section = README.read_text(encoding="utf-8").split(README_SECTION, 1)[1]
    return re.search(r"```html\n(.*?)```", section, re.S).group(1)


def test_the_readme_page_runs_as_written_on_a_first_visit(browser, e2e_site, project_url):
    # A page of the developer's beside the site's: a first visit, so the page is not controlled yet and
    # the model not loaded. Only the openai package's URL is this test server's.
    page_file = e2e_site / "readme-endpoint-page.html"
    page_file.write_text(readme_page().replace("'./openai/index.mjs'", "'/node_modules/openai/index.mjs'"), encoding="utf-8")
    context = browser.new_context()
    try:
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(project_url + page_file.name)
        page.wait_for_function("() => document.querySelector('#out').dataset.done || null", timeout=240_000)
        assert not errors
        # The JSON reply's line, then the streamed reply's.
        assert len([line for line in page.inner_text("#out").split("\n") if line.strip()]) >= 2, page.inner_text("#out")
        assert page.evaluate("() => navigator.serviceWorker.controller !== null")
    finally:
        context.close()
        page_file.unlink()


# Tool calling through /v1 (issue 11) with the openai package's own helpers: a site of a tiny random
# Qwen2 carrying Qwen2.5's real template (Hermes <tool_call> syntax, tests/js/fixtures/make_model_fixtures.py).
# Its random weights write garbage unless constrained, so the named tool choice shows the grammar at work.
# (The city is bounded, by a pattern: an unbounded string could outlast max_tokens.)
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "pattern": "^[A-Za-z ]{1,20}$"},
                                                    "unit": {"type": "string", "enum": ["c", "f"]}},
                   "required": ["city", "unit"], "additionalProperties": False}}}
TOOL_MODEL = "tiny-qwen2-tools"
CALL_TOKENS = 160  # a call is ~80 characters, about as many tokens of the tiny vocabulary


def _model_fixtures():
    path = Path(__file__).resolve().parents[1] / "js" / "fixtures" / "make_model_fixtures.py"
    spec = importlib.util.spec_from_file_location("make_model_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tool_site_url(tmp_path_factory):
    """A site of TOOL_MODEL served at http://127.0.0.1:PORT/tools/, the openai package beside it."""
    from sitegen.commands.build import build
    from sitegen.config import BuildConfig
    root = tmp_path_factory.mktemp("tools")
    checkpoint = _model_fixtures().write_tool_model(root / TOOL_MODEL, TOOL_MODEL)
    build(BuildConfig(model=str(checkpoint), out=root / "site"), log=lambda *_: None)
    with serve_mounted({"/tools/": root / "site", "/node_modules/openai/": NODE_MODULES / "openai"}) as origin:
        yield origin + "tools/"


def test_the_openai_package_runs_a_tool_call(browser, tool_site_url):
    context, page = open_controlled_about_page(browser, tool_site_url)
    result = run(page, IMPORT_OPENAI + """
      const model = (await client.models.list()).data[0].id;
      const request = { model, messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: [arg.tool],
                        tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: arg.tokens,
                        temperature: 1, seed: 5 };
      // The first request loads the model: 503 with Retry-After, which the SDK's retries wait out.
      const slow = client.withOptions({ maxRetries: 30 });
      const reply = await slow.chat.completions.create(request);
      // The SDK's stream helper joins the delta.tool_calls chunks into the final message.
      const streamed = await slow.chat.completions.stream(request).finalChatCompletion();
      // runTools: calls the function with the parsed arguments and sends its result back.
      const seen = [];
      const runner = slow.chat.completions.runTools({ ...request, tools: [{ type: 'function', function: {
        ...arg.tool.function, parse: JSON.parse, function: (args) => { seen.push(args); return { celsius: 21 }; } } }] });
      const messages = [];
      runner.on('message', (message) => messages.push(message.role));
      await runner.done();
      return { reply: reply.choices[0], streamed: streamed.choices[0], seen, messages };
    """, {"tool": WEATHER_TOOL, "tokens": CALL_TOKENS}, timeout_s=300)
    context.close()
    for choice in (result["reply"], result["streamed"]):
        assert choice["finish_reason"] == "tool_calls", choice
        [call] = choice["message"]["tool_calls"]
        assert call["type"] == "function" and call["id"].startswith("call_")
        assert call["function"]["name"] == "get_weather"
        arguments = json.loads(call["function"]["arguments"])
        assert set(arguments) == {"city", "unit"} and arguments["unit"] in ("c", "f") and re.fullmatch("[A-Za-z ]{1,20}", arguments["city"])
    assert result["streamed"]["message"]["tool_calls"][0]["function"] == result["reply"]["message"]["tool_calls"][0]["function"]
    assert len(result["seen"]) == 1 and set(result["seen"][0]) == {"city", "unit"}
    assert result["messages"] == ["assistant", "tool"]


def test_tools_on_a_model_without_tool_support_are_a_400_naming_tools(api_page):
    answer = fetch_when_ready(api_page, "v1/chat/completions", chat_body(2, tools=[WEATHER_TOOL]))
    assert answer["status"] == 400
    assert answer["body"]["error"]["param"] == "tools"
    assert "no tool support" in answer["body"]["error"]["message"]

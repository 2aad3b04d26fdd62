"""The engine hosts in real Chromium: CreateServiceWorkerEngine (runtime/sw_client.js) with the
site's service worker, its Cache Storage, offline use, and the fallback to a dedicated worker (where
the service worker has no WebGPU, or its adapter refuses a device: it never runs the CPU backend).

The pages are the site's about.html, which loads no app script: each test registers the service
worker and drives the runtime with page.evaluate. Every test gets a fresh browser context (empty
caches, no service worker). WebGPU runs on SwiftShader here: a reply token takes about a second
and a first prompt about ten, so replies stay a few tokens long.
"""

from __future__ import annotations

import pytest

MANIFEST = "models/smollm2-135m/manifest.json"
SHARDS = ["shard-00000.bin", "shard-00001.bin", "shard-00002.bin"]
QUESTION = "What is the capital of France?"

# Statements of the async page functions below; `arg` is their argument.
REGISTER = """
  await navigator.serviceWorker.register(arg, { type: 'module' });
  await navigator.serviceWorker.ready;
"""
OPEN_ENGINE = """
  const { CreateServiceWorkerEngine } = await import('./runtime/sw_client.js');
  const reports = [];
  window.engine = await CreateServiceWorkerEngine(arg,
    { maxContext: 256, initProgressCallback: (report) => reports.push(report) });
  return { host: window.engine.host, reports };
"""
ASK = """
  const reply = await window.engine.chat.completions.create({
    messages: [{ role: 'user', content: arg.question }], temperature: 0, max_tokens: arg.tokens });
  return reply.choices[0].message.content;
"""
# Starts a long reply and reads its first chunk; the generation goes on in the engine.
START_LONG_STREAM = """
  const stream = await window.engine.chat.completions.create({
    messages: [{ role: 'user', content: arg }], temperature: 0, max_tokens: 200, ignore_eos: true, stream: true });
  window.longStream = stream[Symbol.asyncIterator]();
  return (await window.longStream.next()).done;
"""
UNLOAD = "await window.engine.unload();"


def run(page, body: str, arg=None, timeout_s: int = 180):
    """Run `body` as an async function of `arg` in the page; fail after `timeout_s`, never hang."""
    source = f"""async (arg) => {{
      let timer;
      const timeout = new Promise((_, reject) => {{
        timer = setTimeout(() => reject(new Error('timed out after {timeout_s} s')), {timeout_s * 1000});
      }});
      try {{
        return await Promise.race([(async () => {{ {body} }})(), timeout]);
      }} finally {{
        clearTimeout(timer);
      }}
    }}"""
    return page.evaluate(source, arg)


def open_site(page, site_url: str, service_worker: str = "sw.js") -> None:
    page.goto(site_url + "about.html")
    run(page, REGISTER, service_worker)


def open_engine(page) -> tuple[str, list[dict]]:
    result = run(page, OPEN_ENGINE, MANIFEST)
    return result["host"], result["reports"]


def ask(page, tokens: int, timeout_s: int = 180) -> str:
    return run(page, ASK, {"question": QUESTION, "tokens": tokens}, timeout_s)


def shards_fetched(request_log: list[str]) -> list[str]:
    return [url.rsplit("/", 1)[1] for url in request_log if url.endswith(".bin")]


def weights_reports(reports: list[dict]) -> list[dict]:
    return [report for report in reports if report["stage"] == "weights"]


def test_the_service_worker_hosts_the_engine(page, site_url, request_log):
    open_site(page, site_url)
    host, reports = open_engine(page)
    assert host == "service-worker"
    progress = [report["progress"] for report in reports]
    assert progress == sorted(progress) and progress[-1] == 1
    assert [r["stage"] for r in reports if r["progress"] == 1] == ["ready"]
    weights = weights_reports(reports)
    assert weights[-1]["loaded"] == weights[-1]["total"] > 70e6
    assert all(report["fromCache"] == 0 for report in weights)
    assert any(report["bytesPerSecond"] and report["secondsLeft"] is not None for report in weights)
    assert any(report["text"].startswith("Downloading weights: ") for report in weights)
    assert shards_fetched(request_log) == SHARDS

    answer = ask(page, tokens=6)
    assert "Paris" in answer  # greedy SmolLM2-135M-Instruct: "The capital of France is Paris"
    assert ask(page, tokens=6) == answer
    assert all(url.startswith(site_url) for url in request_log), "only the site itself was contacted"


def test_a_reload_keeps_the_model_loaded_and_frees_its_stream(page, site_url, request_log):
    open_site(page, site_url)
    assert open_engine(page)[0] == "service-worker"
    assert run(page, START_LONG_STREAM, QUESTION) is False
    request_log.clear()
    page.reload()  # mid-stream: the page says 'close' on pagehide
    host, reports = open_engine(page)
    assert host == "service-worker"
    assert [(r["stage"], r["progress"]) for r in reports] == [("ready", 1)]
    assert not [url for url in request_log if "/models/" in url], "nothing of the model was read again"
    # Had the stream kept the engine, this would wait for its 200 tokens (minutes here).
    assert ask(page, tokens=2, timeout_s=90)


def test_a_page_that_vanishes_mid_stream_does_not_wedge_the_engine(context, page, site_url):
    open_site(page, site_url)
    open_engine(page)
    other = context.new_page()  # a second tab, connected before the first one vanishes
    other.goto(site_url + "about.html")
    host, reports = open_engine(other)
    assert host == "service-worker"
    assert [r["stage"] for r in reports] == ["ready"], "the tabs share the loaded model"
    assert run(page, START_LONG_STREAM, QUESTION) is False
    # As if the tab were killed: its 'close' on pagehide never reaches the service worker, which
    # must notice by itself that the page is gone.
    page.evaluate("() => { ServiceWorker.prototype.postMessage = () => {}; }")
    page.close()
    assert ask(other, tokens=2, timeout_s=90)


def test_a_stopped_service_worker_fails_the_requests_in_flight(context, page, site_url):
    open_site(page, site_url)
    open_engine(page)
    assert run(page, START_LONG_STREAM, QUESTION) is False
    devtools = context.new_cdp_session(page)
    devtools.send("ServiceWorker.enable")
    devtools.send("ServiceWorker.stopAllWorkers")  # as the browser may do; the model goes with it
    # The next keep-alive ping (every 10 s) meets a restarted worker.
    failures = run(page, """
      const names = [];
      try {
        while (!(await window.longStream.next()).done);
      } catch (error) {
        names.push(error.name);
      }
      await window.engine.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }] })
        .catch((error) => names.push(error.name));
      return names;
    """, timeout_s=60)
    assert failures == ["EngineLostError", "EngineLostError"]


def test_offline_the_model_loads_from_the_cache(context, page, site_url, request_log):
    open_site(page, site_url)
    open_engine(page)
    run(page, UNLOAD)  # so that the next engine loads the model again
    failed: list[str] = []
    context.on("requestfailed", lambda request: failed.append(request.url))
    context.set_offline(True)
    page.reload()
    host, reports = open_engine(page)
    assert host == "service-worker"
    last = weights_reports(reports)[-1]
    assert last["fromCache"] == last["loaded"] == last["total"]
    assert last["text"].startswith("Loading weights from the cache")
    assert site_url + MANIFEST in failed, "the manifest was asked of the network first, and that failed"
    assert ask(page, tokens=2)


def test_a_corrupted_cached_shard_is_downloaded_again_alone(page, site_url, request_log):
    open_site(page, site_url)
    open_engine(page)
    run(page, UNLOAD)
    corrupted = site_url + MANIFEST.replace("manifest.json", SHARDS[1])
    run(page, """
      const name = (await caches.keys()).find((key) => key.startsWith('sitegen-model:'));
      await (await caches.open(name)).put(arg, new Response(new Uint8Array(1024)));
    """, corrupted)
    request_log.clear()
    _, reports = open_engine(page)
    assert shards_fetched(request_log) == [SHARDS[1]]
    last = weights_reports(reports)[-1]
    assert 0 < last["fromCache"] < last["total"]
    cached = run(page, """
      const name = (await caches.keys()).find((key) => key.startsWith('sitegen-model:'));
      return (await (await (await caches.open(name)).match(arg)).arrayBuffer()).byteLength;
    """, corrupted)
    assert cached == last["total"] - last["fromCache"], "the verified download replaced the bad copy"


def service_worker_script(site, name: str, setup: str):
    """A service worker like the site's, `name`.js in `site`, whose `setup` (JavaScript) runs first
    in its global scope; a context giving the script's name."""
    script = site / f"{name}.js"
    script.write_text(
        "import { startServiceWorker } from './runtime/service_worker.js';\n"
        f"{setup}\n"
        f"startServiceWorker({{ version: '{name}', shell: [], models: [{{ id: 'smollm2-135m', "
        "manifestUrl: 'models/smollm2-135m/manifest.json', weightsUrl: null }] });\n",
        encoding="utf-8",
    )
    return script


@pytest.fixture
def service_worker_without_webgpu(e2e_site):
    """A service worker like the site's, in a browser whose service workers have no WebGPU."""
    script = service_worker_script(
        e2e_site, "sw-without-webgpu", "Object.defineProperty(WorkerNavigator.prototype, 'gpu', { get: () => undefined });"
    )
    yield script.name
    script.unlink()


@pytest.fixture
def service_worker_refused_a_device(e2e_site):
    """A service worker like the site's whose GPU adapter refuses every device, as a browser's may
    while it gives an adapter: each request asks for more than the adapter's maxBufferSize, which
    Chromium refuses (OperationError). The pages' adapters are left as they are."""
    script = service_worker_script(
        e2e_site,
        "sw-refused-a-device",
        "const requestDevice = GPUAdapter.prototype.requestDevice;\n"
        "GPUAdapter.prototype.requestDevice = function (descriptor = {}) {\n"
        "  const requiredLimits = { ...descriptor.requiredLimits, maxBufferSize: this.limits.maxBufferSize * 2 };\n"
        "  return requestDevice.call(this, { ...descriptor, requiredLimits });\n"
        "};",
    )
    yield script.name
    script.unlink()


def test_a_dedicated_worker_runs_the_model_when_the_service_worker_cannot(
    page, site_url, service_worker_without_webgpu
):
    open_site(page, site_url, service_worker_without_webgpu)
    host, reports = open_engine(page)
    assert host == "worker"
    assert reports[-1]["stage"] == "ready"
    assert ask(page, tokens=2)


def test_a_service_worker_refused_a_gpu_device_gives_the_model_to_the_pages_worker_not_the_cpu(
    page, site_url, service_worker_refused_a_device
):
    open_site(page, site_url, service_worker_refused_a_device)
    # Its adapter looks fine, so the service worker loads first; with no device it must fail the load
    # (the CPU backend there would stall every tab's fetches), and the page's worker, whose GPU works, runs it.
    host, reports = open_engine(page)
    assert (host, run(page, "return window.engine.backend;"), reports[-1]["stage"]) == ("worker", "webgpu", "ready")
    assert run(page, "return window.engine.gpuFailure;") is None
    # The service worker now knows: its endpoint forwards the request to this page, which runs it on its GPU.
    reply = run(page, """
      const response = await fetch('v1/chat/completions', { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ messages: [{ role: 'user', content: arg }], temperature: 0, max_tokens: 2 }) });
      return { status: response.status, body: await response.json() };
    """, QUESTION)
    assert reply["status"] == 200, reply
    assert reply["body"]["usage"]["extra"]["backend"] == "webgpu"


def test_without_webgpu_the_dedicated_worker_runs_the_model_on_the_cpu(launch_chromium, site_url):
    plain = launch_chromium(webgpu=False)  # as Chrome on Linux comes by default: no adapter
    try:
        page = plain.new_page()
        open_site(page, site_url)
        # Not the service worker, which could run the CPU backend too: only a page's worker can start threads.
        host, reports = open_engine(page)
        backend = run(page, "return window.engine.backend;")
        gpu_failure = run(page, "return window.engine.gpuFailure;")
        answer = run(page, """
          const reply = await window.engine.chat.completions.create({
            messages: [{ role: 'user', content: arg }], temperature: 0, max_tokens: 7 });
          return { content: reply.choices[0].message.content, backend: reply.usage.extra.backend };
        """, QUESTION)
    finally:
        plain.close()
    assert (host, backend, reports[-1]["stage"]) == ("worker", "wasm", "ready")
    assert gpu_failure == "WebGPUNotAvailableError"
    assert "Paris" in answer["content"] and answer["backend"] == "wasm"


def test_with_neither_backend_the_error_says_where_it_runs(launch_chromium, site_url):
    plain = launch_chromium(webgpu=False, wasm=False)  # no adapter, and no WebAssembly for the CPU backend
    try:
        page = plain.new_page()
        open_site(page, site_url)
        error = run(page, """
          const { CreateServiceWorkerEngine } = await import('./runtime/sw_client.js');
          return await CreateServiceWorkerEngine(arg).then(() => null, (error) => ({ name: error.name, message: error.message }));
        """, MANIFEST)
        # The site's endpoint says the same: no page can run the model.
        answer = run(page, """
          if (!navigator.serviceWorker.controller) {
            await new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true }));
          }
          const response = await fetch('v1/chat/completions', { method: 'POST', headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 }) });
          return { status: response.status, body: await response.json() };
        """)
    finally:
        plain.close()
    assert error["name"] == "NoBackendAvailableError"
    for message in (error["message"], answer["body"]["error"]["message"]):
        assert "neither on its GPU (WebGPU is not available) nor on its CPU (WebAssembly with SIMD" in message
        assert "Open the site in a browser with WebGPU, or turn WebAssembly back on" in message
        for where in ("Chrome or Edge 113+", "chrome://flags/#enable-unsafe-webgpu", "Safari 26+", "Firefox 141+"):
            assert where in message
    assert (answer["status"], answer["body"]["error"]["code"]) == (503, "no_backend_available")

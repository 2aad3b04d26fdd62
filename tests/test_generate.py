import numpy as np
import pytest
from click.testing import CliRunner
from tokenizers import Tokenizer

from sitegen.__main__ import cli
from sitegen.commands.build import build
from sitegen.commands.generate import find_model_dir, generate, generate_ids, prompt_ids
from sitegen.config import BuildConfig
from sitegen.errors import SitegenError
from sitegen.reference import ReferenceModel, sample


@pytest.fixture(scope="module")
def tiny_llama_site(tiny_llama, tmp_path_factory):
    site = tmp_path_factory.mktemp("gen") / "site"
    build(BuildConfig(model=str(tiny_llama[0]), out=site), log=lambda *_: None)
    return site


def _run(site, **overrides):
    options = dict(system=None, raw=False, model_id=None, max_tokens=12, temperature=0.0, top_p=1.0, top_k=0, seed=0)
    return generate(site, "Hello there", echo=lambda *a, **k: None, **{**options, **overrides})


def test_seeded_sampling_repeats_and_seeds_differ(tiny_llama_site):
    first = _run(tiny_llama_site, temperature=1.0, seed=7)
    assert first == _run(tiny_llama_site, temperature=1.0, seed=7)
    assert first != _run(tiny_llama_site, temperature=1.0, seed=8)
    assert _run(tiny_llama_site) == _run(tiny_llama_site, temperature=1.0, top_k=1, seed=3)  # top-1 is greedy


def test_prompts_raw_and_chat(tiny_llama_site):
    model_dir = find_model_dir(tiny_llama_site, None)
    model = ReferenceModel(model_dir)
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    bos = model.manifest["tokenizer"]["bos_token_id"]
    raw = prompt_ids(model, tokenizer, "Paris", system=None, raw=True)
    assert raw[0] == bos and tokenizer.decode(raw[1:]) == "Paris"
    chat = prompt_ids(model, tokenizer, "Paris", system="Be brief.", raw=False)
    text = tokenizer.decode(chat, skip_special_tokens=False)
    assert text.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>")
    assert text.endswith("<|start_header_id|>user<|end_header_id|>\n\nParis<|eot_id|>"
                         "<|start_header_id|>assistant<|end_header_id|>\n\n")


@pytest.mark.parametrize("prompt, what", [("", "empty"), (" \n\t", "white space only")])
def test_an_empty_chat_prompt_is_refused_in_one_line(tiny_llama_site, prompt, what):
    result = CliRunner().invoke(cli, ["generate", str(tiny_llama_site), "-p", prompt])
    assert result.exit_code == 1 and result.exception.__class__ is SystemExit  # no traceback
    assert result.output == (f"Error: --prompt is {what}: a chat model answers a user message. Give one, e.g. "
                             '--prompt "What is the capital of France?".\n')


def test_an_empty_text_to_continue_starts_from_bos_or_is_refused_without_one(tiny_llama_site, smollm2_gguf,
                                                                             tmp_path):
    # A text to continue may be empty where the model starts texts with a BOS token: it writes from there.
    model_dir = find_model_dir(tiny_llama_site, None)
    model = ReferenceModel(model_dir)
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    assert prompt_ids(model, tokenizer, "", system=None, raw=True) == [model.manifest["tokenizer"]["bos_token_id"]]
    result = CliRunner().invoke(cli, ["generate", str(tiny_llama_site), "--raw", "-p", "", "--max-tokens", "3"])
    assert result.exit_code == 0, result.output
    # SmolLM2 adds no BOS token: an empty text is no token at all (was a numpy traceback).
    build(BuildConfig(model=str(smollm2_gguf), out=tmp_path / "site"), log=lambda *_: None)
    result = CliRunner().invoke(cli, ["generate", str(tmp_path / "site"), "--raw", "-p", ""])
    assert result.exit_code == 1 and result.exception.__class__ is SystemExit
    assert result.output == ("Error: --prompt is empty, and smollm2-135m-instruct.q4_1 starts a text with no BOS token: "
                             'there is nothing to continue. Give the start of a text, e.g. --prompt "Once upon a time".\n')


def test_context_window_is_enforced(tiny_llama_site):
    model = ReferenceModel(find_model_dir(tiny_llama_site, None))
    with pytest.raises(SitegenError, match="prompt is 256 tokens; the model's context window is 256"):
        generate_ids(model, [5] * 256, max_tokens=1)
    assert len(generate_ids(model, [5] * 250, max_tokens=50)) <= 6


def test_missing_or_ambiguous_site(tmp_path, tiny_llama_site):
    with pytest.raises(SitegenError, match="holds no built model"):
        find_model_dir(tmp_path, None)
    with pytest.raises(SitegenError, match="holds no built model 'other'"):
        find_model_dir(tiny_llama_site, "other")


def test_sampler_filters():
    logits = np.array([1.0, 3.0, 2.0, -1.0], dtype=np.float32)
    rng = np.random.default_rng(0)
    assert sample(logits, temperature=0, top_p=1, top_k=0, rng=rng) == 1
    assert {sample(logits, temperature=5, top_p=1, top_k=2, rng=rng) for _ in range(200)} == {1, 2}
    assert {sample(logits, temperature=1, top_p=0.01, top_k=0, rng=rng) for _ in range(50)} == {1}

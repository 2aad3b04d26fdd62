import json
import re
import shutil
import struct

import ml_dtypes
import numpy as np
import pytest
import tokenizers
from safetensors.numpy import save_file

from sitegen.errors import SitegenError
from sitegen.loaders.hf_folder import load_hf_folder
from sitegen.loaders.safetensors import open_safetensors
from sitegen.tokenizer_export import load_tokenizer


@pytest.mark.parametrize("dtype", [np.float32, np.float16, ml_dtypes.bfloat16])
def test_rows_read_back_exactly(tmp_path, dtype):
    x = np.random.default_rng(0).standard_normal((50, 64)).astype(dtype)
    save_file({"w": x, "b": x[0]}, str(tmp_path / "m.safetensors"))
    entries = open_safetensors(tmp_path / "m.safetensors")
    assert entries["w"].shape == (50, 64) and entries["b"].shape == (64,)
    assert entries["w"].source_dtype == {np.float32: "f32", np.float16: "f16"}.get(dtype, "bf16")
    np.testing.assert_array_equal(entries["w"].read_rows(7, 19), x[7:19].astype(np.float32))
    np.testing.assert_array_equal(entries["b"].read(), x[0].astype(np.float32))


def test_truncated_file_is_reported(tmp_path):
    save_file({"w": np.ones((100, 100), np.float32)}, str(tmp_path / "m.safetensors"))
    data = (tmp_path / "m.safetensors").read_bytes()
    (tmp_path / "m.safetensors").write_bytes(data[:-1000])
    with pytest.raises(SitegenError, match="outside the file .truncated"):
        open_safetensors(tmp_path / "m.safetensors")
    (tmp_path / "m.safetensors").write_bytes(data[:5])
    with pytest.raises(SitegenError, match="not a valid safetensors file"):
        open_safetensors(tmp_path / "m.safetensors")


def test_garbage_header_and_unsupported_dtype(tmp_path):
    (tmp_path / "a.safetensors").write_bytes(struct.pack("<Q", 4) + b"{{{{")
    with pytest.raises(SitegenError, match="header is not JSON"):
        open_safetensors(tmp_path / "a.safetensors")
    header = json.dumps({"w": {"dtype": "I8", "shape": [4], "data_offsets": [0, 4]}}).encode()
    (tmp_path / "b.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)
    with pytest.raises(SitegenError, match="stored as I8"):
        open_safetensors(tmp_path / "b.safetensors")


def test_hf_folder_sharded_index_and_missing_pieces(tiny_llama, tmp_path):
    folder, weights = tiny_llama
    checkpoint = load_hf_folder(folder)
    assert set(checkpoint.tensors) == set(weights)
    np.testing.assert_array_equal(checkpoint.tensors["lm_head.weight"].read(), weights["lm_head.weight"])
    assert checkpoint.tokenizer_config["add_bos_token"] is True
    assert checkpoint.model_card.startswith("---\nlicense: apache-2.0")
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in folder.iterdir():
        if f.name != "model-00002-of-00002.safetensors":
            (broken / f.name).write_bytes(f.read_bytes())
    with pytest.raises(SitegenError, match="model-00002-of-00002.safetensors but the file"):
        load_hf_folder(broken)
    (broken / "tokenizer.json").unlink()
    with pytest.raises(SitegenError, match="no tokenizer.json"):
        load_hf_folder(broken)


def test_a_damaged_tokenizer_is_named_with_its_fix_and_a_latin1_model_card_is_read(tiny_llama, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_llama[0], folder)
    (folder / "README.md").write_bytes(b"# Mod\xe8le\n")  # a model card saved as Latin-1: shown, never refused
    assert load_hf_folder(folder).model_card == "# Mod\ufffdle\n"
    (folder / "tokenizer.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(SitegenError, match=f"^{re.escape(str(folder / 'tokenizer.json'))} is not UTF-8 text "
                                           r"\('utf-8' codec .*\); download it again\.$"):
        load_hf_folder(folder)
    with pytest.raises(SitegenError, match=r"^The tokenizer.json of org/model@main cannot be loaded by `tokenizers` "
                                           rf"{re.escape(tokenizers.__version__)} \(expected .*\): download it again, "
                                           r"or upgrade tokenizers \(pip install -U tokenizers\) if the model is newer "
                                           r"than it\.$"):
        load_tokenizer('{"bad": 1}', "org/model@main")


@pytest.mark.parametrize("name, text", [("config.json", "[1, 2]"), ("tokenizer_config.json", "[]"),
                                        ("generation_config.json", '"x"')])
def test_a_json_file_that_is_not_an_object_is_named(tiny_llama, tmp_path, name, text):
    folder = tmp_path / "model"
    shutil.copytree(tiny_llama[0], folder)
    (folder / name).write_text(text)
    with pytest.raises(SitegenError, match=f"^{re.escape(str(folder / name))} holds a JSON "
                                           f"{'list' if text.startswith('[') else 'string'}, not an object "
                                           r"\(\{\"key\": value, ...\}\); download it again or fix it\.$"):
        load_hf_folder(folder)

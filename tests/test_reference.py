"""The numpy reference forward pass against an independent implementation: Hugging Face
transformers (PyTorch, CPU) loading the same source checkpoint.

The artifacts are built with --quant f16 so both sides see the same weights up to f16 rounding;
the q4g32 path is covered by the quantiser tests and by the SmolLM2 answer test.
"""

import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType as Q
from transformers import AutoModelForCausalLM

from sitegen.commands.build import build
from sitegen.commands.generate import generate_ids
from sitegen.config import BuildConfig
from sitegen.loaders.gguf import load_gguf
from sitegen.manifest import read_manifest
from sitegen.reference import ReferenceModel, load_weights
from tests.gguf_fixtures import write_tiny_gguf


def _built_model(source, tmp_path, quant="f16", context_length=None):
    manifest = build(BuildConfig(model=str(source), out=tmp_path / "site", quant=quant), log=lambda *_: None)
    return ReferenceModel(tmp_path / "site" / "models" / manifest["model_id"], context_length)


def _torch_logits(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].numpy()


@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_qwen2", "tiny_qwen3", "tiny_gemma2", "tiny_gemma3",
                                     "tiny_limit_low", "tiny_limit_high"])
def test_reference_matches_transformers_step_by_step(fixture, request, tmp_path):
    folder, _ = request.getfixturevalue(fixture)
    ours = _built_model(folder, tmp_path)
    theirs = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager")
    ids = [5, 17, 200, 3, 99, 150, 42, 7, 250, 11]
    expected = _torch_logits(theirs, ids)
    # prefill a chunk, then one token at a time through the KV cache, as generation does
    got = [ours.forward(ids[:6])]
    assert got[0].dtype == np.float32  # the runtime computes in f32 (or f16): so does the oracle
    got += [ours.forward([token]) for token in ids[6:]]
    np.testing.assert_allclose(np.stack(got), expected[5:], atol=2e-3, rtol=1e-3)


@pytest.mark.parametrize("fixture, original", [("tiny_phi3", 64), ("tiny_phi4_mini", 512), ("tiny_phi3_head24", 64)])
def test_longrope_takes_the_factors_transformers_takes_for_a_prompt_within_and_beyond_the_original_context(
        fixture, original, request, tmp_path):
    """transformers picks LongRoPE's factors per call, by the prompt's length; the reference by the
    context it runs (sitegen/rope.py): the same factors for a prompt within the original context
    run in a context within it, and for one beyond it (in a longer context)."""
    folder, _ = request.getfixturevalue(fixture)
    theirs = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager")
    ids = np.random.default_rng(0).integers(0, 380, original + 8).tolist()
    for context, prompt in ((original, ids[:original]), (original + 8, ids)):  # short factors, then long
        ours = _built_model(folder, tmp_path / str(context), context_length=context)
        np.testing.assert_allclose(ours.forward(prompt, every_position=True), _torch_logits(theirs, prompt),
                                   atol=2e-3, rtol=1e-3)


def test_gemma3_270m_gguf_reference_answers_paris_as_transformers_does(gemma3_270m_gguf, tmp_path):
    """The real Gemma 3 270M (a base model: a plain template that only joins the text stands in for the
    chat template it lacks), f16 weights: the reference completes the question with " Paris", token for
    token as transformers on the GGUF's dequantised weights (a few tokens: numpy is slow at 262k vocab)."""
    template = tmp_path / "plain.jinja"
    template.write_text("{{ bos_token }}{% for message in messages %}{{ message['content'] }}{% endfor %}")
    manifest = build(BuildConfig(model=str(gemma3_270m_gguf), out=tmp_path / "site", quant="f16",
                                 chat_template=template), log=lambda *_: None)
    ours = ReferenceModel(tmp_path / "site" / "models" / manifest["model_id"])
    # <bos>Question: What is the capital of France?\nAnswer:
    prompt = [2, 14977, 236787, 2900, 563, 506, 5279, 529, 7001, 236881, 107, 7925, 236787]
    generated = generate_ids(ours, prompt, max_tokens=3)
    assert generated[0] == 9079  # " Paris"
    theirs = AutoModelForCausalLM.from_pretrained(gemma3_270m_gguf.parent, gguf_file=gemma3_270m_gguf.name,
                                                  dtype=torch.float32, attn_implementation="eager")
    with torch.no_grad():
        reference = theirs.generate(torch.tensor([prompt]), max_new_tokens=len(generated), do_sample=False)
    assert generated == reference[0, len(prompt):].tolist()


def test_smollm2_gguf_reference_matches_transformers(smollm2_gguf, tmp_path):
    ours = _built_model(smollm2_gguf, tmp_path)
    theirs = AutoModelForCausalLM.from_pretrained(smollm2_gguf.parent, gguf_file=smollm2_gguf.name,
                                                  dtype=torch.float32, attn_implementation="eager")
    prompt = [1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 2]  # chat-formatted ids from the model's vocab
    np.testing.assert_allclose(ours.forward(prompt), _torch_logits(theirs, prompt)[-1], atol=5e-2, rtol=1e-3)  # f16-rounded weights
    generated = generate_ids(ours, prompt, max_tokens=32)
    with torch.no_grad():
        reference = theirs.generate(torch.tensor([prompt]), max_new_tokens=len(generated), do_sample=False)
    assert generated == reference[0, len(prompt):].tolist()


@pytest.mark.parametrize("qtype, scheme", [("Q8_0", "q8g32"), ("Q4_1", "q4g32m"), ("Q4_0", "q4g32"), ("Q5_0", "q8g32")])
def test_gguf_blocks_kept_exactly_under_q4g32(tmp_path, qtype, scheme):
    """A GGUF's Q8_0 / Q4_1 / Q4_0 / Q5_0 matrices convert to q8g32 / q4g32m / q4g32 / q8g32, and the reference
    reads back every one bit for bit as the loader dequantises it (Llama: Q/K rows un-permuted)."""
    write_tiny_gguf(tmp_path / "m.gguf", "llama", Q[qtype])
    manifest = build(BuildConfig(model=str(tmp_path / "m.gguf"), out=tmp_path / "site"), log=lambda *_: None)
    model_dir = tmp_path / "site" / "models" / manifest["model_id"]
    decoded = load_weights(model_dir, read_manifest(model_dir))
    for name, entry in load_gguf(tmp_path / "m.gguf").tensors.items():
        assert manifest["tensors"][name]["scheme"] == (scheme if len(entry.shape) == 2 else "f32"), name
        assert decoded[name].tobytes() == entry.read().tobytes(), name
    assert manifest["quantization"]["scheme"] == "q4g32" and set(manifest["quantization"]["schemes"]) == {scheme}

"""Perplexity of a model's conversions on a fixed public-domain text, with the numpy reference.

A GGUF source is already quantised (Q4_1, Q4_K, Q6_K...); requantising it to q4g32 stacks a second
error on the first. This measures what that costs. Three variants of one model share one forward
pass (sitegen/reference.py) and differ only in their weights:
- source: the checkpoint's tensors as the loader reads them (a GGUF's blocks dequantised to float32);
- q4g32: our conversion (`--quant q4g32`: a GGUF's blocks kept or transcoded where
  sitegen/quantize.py's tensor_schemes says so, the rest q4g32), read back from the shards of a
  site `sitegen build` wrote;
- f16: the same with `--quant f16`.
Each build's line also gives its weight bytes and how many matrices each scheme holds.

The text (benchmarks/data/coriolanus.txt, see its README) is cut into windows of --window tokens;
each window starts from an empty cache, after the BOS token where the tokenizer adds one, and
every token of the window but the first is scored. Perplexity = exp(mean negative log-likelihood).

    python benchmarks/perplexity.py --model smollm2-135m [--window 512] [--windows 4]

--model takes anything `sitegen build --model` does (alias, .gguf file, HF folder, Hub repo id).
At the defaults SmolLM2-135M takes about three minutes on a 2-core VM (two builds, three passes).
"""

import argparse
import math
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from sitegen.commands.build import build
from sitegen.config import BuildConfig
from sitegen.reference import ReferenceModel, runtime_weights
from sitegen.sources import resolve

TEXT = Path(__file__).parent / "data" / "coriolanus.txt"
VARIANTS = ("source", "q4g32", "f16")


def windows(tokenizer: Tokenizer, window: int, count: int) -> list[list[int]]:
    """Up to `count` token windows of the text, each [BOS] + `window` tokens (no BOS where the
    tokenizer adds none). Raises ValueError if the text holds fewer than one window."""
    ids = tokenizer.encode(TEXT.read_text(encoding="utf-8"), add_special_tokens=False).ids
    prefix = tokenizer.encode("", add_special_tokens=True).ids
    chunks = [prefix + ids[at:at + window] for at in range(0, len(ids) - window + 1, window)][:count]
    if not chunks:
        raise ValueError(f"{TEXT.name} holds {len(ids)} tokens, fewer than one window of {window}")
    return chunks


def negative_log_likelihoods(model: ReferenceModel, chunks: list[list[int]]) -> np.ndarray:
    """float64 [scored tokens]: -log p(token | the tokens before it in its window)."""
    out = []
    for ids in chunks:
        model.reset()
        logits = model.forward(ids[:-1], every_position=True).astype(np.float64)  # [T - 1, vocab]
        logits -= logits.max(-1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        out.append(-log_probs[np.arange(len(ids) - 1), ids[1:]])
    return np.concatenate(out)


def built_model(spec: str, quant: str, folder: Path) -> ReferenceModel:
    manifest = build(BuildConfig(model=spec, out=folder / quant, quant=quant), log=lambda *_: None)
    return ReferenceModel(folder / quant / "models" / manifest["model_id"])


def weights_line(manifest: dict) -> str:
    """', 123.4 MB of weights: q8g32 x 120, q4g32m x 27' for a built model's manifest."""
    schemes = Counter(record["scheme"] for record in manifest["tensors"].values() if len(record["shape"]) == 2)
    return (f", {manifest['total_bytes'] / 1e6:.1f} MB of weights: "
            + ", ".join(f"{scheme} x {count}" for scheme, count in sorted(schemes.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="what `sitegen build --model` takes")
    parser.add_argument("--window", type=int, default=512, help="tokens per window (default 512)")
    parser.add_argument("--windows", type=int, default=4, help="at most this many windows (default 4)")
    args = parser.parse_args()

    checkpoint = resolve(args.model).load()
    chunks = windows(Tokenizer.from_str(checkpoint.tokenizer_json), args.window, args.windows)
    perplexity, started = {}, time.monotonic()

    def measure(variant: str, model: ReferenceModel) -> int:
        nll = negative_log_likelihoods(model, chunks)
        perplexity[variant] = math.exp(nll.mean())
        print(f"{variant}: {len(nll)} tokens, perplexity {perplexity[variant]:.4f} "
              f"({time.monotonic() - started:.0f} s){'' if variant == 'source' else weights_line(model.manifest)}",
              flush=True)
        return len(nll)

    with tempfile.TemporaryDirectory() as folder:
        model = built_model(args.model, "q4g32", Path(folder))
        tokens = measure("q4g32", model)
        model.w = runtime_weights(model.manifest, {name: checkpoint.tensors[name].read()  # same pass, source weights
                                                   for name in model.manifest["tensors"]})
        measure("source", model)
        del model
        measure("f16", built_model(args.model, "f16", Path(folder)))

    print(f"\n| model | variant | tokens | perplexity | ratio to source |\n| --- | --- | ---: | ---: | ---: |")
    for variant in VARIANTS:
        print(f"| {args.model} | {variant} | {tokens} | {perplexity[variant]:.3f} | "
              f"{perplexity[variant] / perplexity['source']:.4f} |")


if __name__ == "__main__":
    main()

"""What every model loader yields: one in-memory description of a checkpoint, in HF terms.

Loaders (safetensors folders, GGUF files) differ in how they store things; everything after them
(quantizer, manifest, tokenizer export, reference forward pass) sees only this. Tensors are
named and laid out as in Hugging Face's Llama/Qwen2 checkpoints (`model.layers.0.self_attn.q_proj.weight`,
`[out_features, in_features]`) and are read lazily, a block of rows at a time, so converting a
model never needs more memory than a few blocks.
"""

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class TensorEntry:
    """One tensor: its HF-layout shape and a reader for rows [start, stop) as float32.

    For a 1-D tensor (norm weights, biases) "rows" are elements.
    """

    shape: tuple[int, ...]
    read_rows: Callable[[int, int], np.ndarray]
    source_dtype: str  # as stored in the checkpoint: "bf16", "f16", "f32", "q4_1", ...
    # A GGUF's 2-D tensors: rows [start, stop) as stored, uint8 [rows, row bytes] of whole blocks
    # (HF row order), for schemes that transcode the blocks (sitegen/quantize.py's TRANSCODES).
    read_blocks: Callable[[int, int], np.ndarray] | None = None

    def read(self) -> np.ndarray:
        return self.read_rows(0, self.shape[0])


@dataclass
class Checkpoint:
    source: str  # what the user gave, for messages: a path, "repo@revision", ...
    config: dict  # HF config.json semantics (architectures, hidden_size, rope_scaling, ...)
    tensors: dict[str, TensorEntry]  # HF names
    tokenizer_json: str  # the text of a `tokenizers` tokenizer.json
    tokenizer_config: dict  # HF tokenizer_config.json semantics: chat_template, bos_token, eos_token, add_bos_token
    generation_config: dict = field(default_factory=dict)  # HF generation_config.json semantics
    model_card: str | None = None  # README.md (markdown, may carry YAML front matter)

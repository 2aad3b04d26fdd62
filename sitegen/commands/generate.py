"""`sitegen generate`: chat with (or continue text on) a built model with the numpy reference."""

from pathlib import Path

import jinja2
import numpy as np
from tokenizers import Tokenizer

from sitegen.chat_template import render_template
from sitegen.errors import SitegenError
from sitegen.manifest import FILE as MANIFEST
from sitegen.reference import ReferenceModel, sample


def find_model_dir(site: Path, model_id: str | None) -> Path:
    """A model folder given directly, or the one (or the named one) under site/models/."""
    if (site / MANIFEST).is_file():
        return site
    models = sorted(p.parent for p in (site / "models").glob(f"*/{MANIFEST}"))
    if model_id is not None:
        models = [p for p in models if p.name == model_id]
    if len(models) == 1:
        return models[0]
    if not models:
        what = f"model {model_id!r}" if model_id else "model"
        raise SitegenError(f"{site} holds no built {what} (no models/*/{MANIFEST}); build one with `sitegen build`.")
    raise SitegenError(f"{site} holds several models ({', '.join(p.name for p in models)}); choose one with --model-id.")


def prompt_ids(model: ReferenceModel, tokenizer: Tokenizer, prompt: str, *, system: str | None, raw: bool) -> list[int]:
    """The prompt's token ids. Raises SitegenError for a chat prompt that is empty or white space (no
    message to answer, which the site's chat never sends either), and for a text to continue that
    gives no token at all. An empty text where the model starts texts with a BOS token is kept: the
    model then writes a text from its start (unconditional sampling)."""
    manifest = model.manifest
    if raw or manifest["chat_template"] is None:  # a base model has no chat format: it continues the text
        bos = manifest["tokenizer"]["bos_token_id"]
        prefix = [bos] if manifest["tokenizer"]["add_bos_token"] else []
        ids = prefix + tokenizer.encode(prompt, add_special_tokens=False).ids
        if not ids:
            raise SitegenError(f"--prompt is empty, and {manifest['model_id']} starts a text with no BOS token: there "
                               "is nothing to continue. Give the start of a text, e.g. --prompt \"Once upon a time\".")
        return ids
    if not prompt.strip():
        raise SitegenError(f"--prompt is {'empty' if not prompt else 'white space only'}: a chat model answers a "
                           "user message. Give one, e.g. --prompt \"What is the capital of France?\".")
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    template = manifest["chat_template"]
    try:
        text = render_template(template["template"], messages, add_generation_prompt=True,
                               special_tokens=template["special_tokens"])
    except jinja2.TemplateError as err:  # e.g. its raise_exception: the model takes no system message
        raise SitegenError(f"The model's chat template refuses this conversation: {err}") from None
    return tokenizer.encode(text, add_special_tokens=False).ids  # any BOS is in the text, as in transformers


def generate_ids(model: ReferenceModel, ids: list[int], *, max_tokens: int, temperature: float = 0.0,
                 top_p: float = 1.0, top_k: int = 0, seed: int = 0, on_token=None) -> list[int]:
    """Generated ids (stop token excluded), at most max_tokens and within the context window."""
    context = model.arch.context_length
    if len(ids) >= context:
        raise SitegenError(f"The prompt is {len(ids)} tokens; the model's context window is {context}.")
    stops, rng, out = set(model.manifest["stop_token_ids"]), np.random.default_rng(seed), []
    model.reset()
    logits = model.forward(ids)
    for _ in range(min(max_tokens, context - len(ids))):
        token = sample(logits, temperature=temperature, top_p=top_p, top_k=top_k, rng=rng)
        if token in stops:
            break
        out.append(token)
        if on_token:
            on_token(out)
        logits = model.forward([token])
    return out


class _StreamPrinter:
    """Prints decoded text as it grows, holding back a half-finished UTF-8 character."""

    def __init__(self, tokenizer: Tokenizer, echo):
        self.tokenizer, self.echo, self.shown = tokenizer, echo, ""

    def __call__(self, ids: list[int]) -> None:
        text = self.tokenizer.decode(ids)
        if not text.endswith("\ufffd") and text.startswith(self.shown):
            self.echo(text[len(self.shown):], nl=False)
            self.shown = text


def generate(site: Path, prompt: str, *, system: str | None, raw: bool, model_id: str | None, max_tokens: int,
             temperature: float, top_p: float, top_k: int, seed: int, echo=print) -> str:
    model_dir = find_model_dir(site, model_id)
    model = ReferenceModel(model_dir)
    tokenizer = Tokenizer.from_file(str(model_dir / model.manifest["tokenizer"]["file"]))
    ids = prompt_ids(model, tokenizer, prompt, system=system, raw=raw)
    printer = _StreamPrinter(tokenizer, echo)
    out = generate_ids(model, ids, max_tokens=max_tokens, temperature=temperature, top_p=top_p, top_k=top_k,
                       seed=seed, on_token=printer)
    text = tokenizer.decode(out)
    echo(text[len(printer.shown):])
    return text

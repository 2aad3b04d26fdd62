"""`sitegen build`: convert the model and assemble the static site, atomically.

Everything is written into a temporary folder beside the output and renamed into place at the
end, so a failed or interrupted build leaves the previous site (or nothing) behind, never half
a site. An existing output folder is replaced only if it is a previous sitegen build.

With --weights-url the shards are not part of the site: they go to a second folder beside it,
`<out>-weights/<model id>/` (with a copy of the manifest), to be uploaded to that URL; the
site keeps the manifest and tokenizer and fetches the shards from there.
"""

import shutil
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

from sitegen import sources
from sitegen.artifact import write_model
from sitegen.config import BuildConfig
from sitegen.errors import SitegenError
from sitegen.marker import MARKER
from sitegen.site import assemble_site



def _check_replaceable(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise SitegenError(f"--out {out} is a file; give a folder path.")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise SitegenError(f"--out {out} exists and is not a sitegen site; refusing to replace it. "
                           "Choose another --out, or empty/remove that folder yourself.")


@contextmanager
def atomic_folder(out: Path):
    """Yield a temporary folder that becomes `out` if the block succeeds, and vanishes if not."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        yield tmp
        (tmp / MARKER).write_text("built by sitegen\n", encoding="utf-8")
        old = out.with_name(f".{out.name}.old-{tmp.name.rsplit('-', 1)[-1]}")
        if out.exists():
            out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def weights_folder(out: Path) -> Path:
    """Where a --weights-url build puts the shards: beside the site, never inside it."""
    return out.with_name(f"{out.name}-weights")


def build(config: BuildConfig, log=print) -> dict:
    """Build the site described by `config`; returns the model manifest."""
    out = config.out.resolve()
    weights_out = weights_folder(out) if config.weights_url else None
    for folder in filter(None, (out, weights_out)):
        _check_replaceable(folder)
    source = sources.resolve(config.model)
    log(f"Loading {source.public_name()} ({source.kind})")
    checkpoint = source.load()
    template = config.chat_template.read_text(encoding="utf-8") if config.chat_template else None
    started = time.perf_counter()
    # The site's folder is entered last, so it is renamed into place only after the weights' one.
    with ExitStack() as folders:
        weights_tmp = folders.enter_context(atomic_folder(weights_out)) if weights_out else None
        tmp = folders.enter_context(atomic_folder(out))
        model_dir = tmp / "models" / source.model_id
        manifest = write_model(checkpoint, model_dir, model_id=source.model_id,
                               source=source.public_name(), quant=config.quant, shard_mb=config.shard_mb,
                               chat_template=template, log=log)
        if weights_tmp:
            _move_shards(manifest, model_dir, weights_tmp / source.model_id)
        assemble_site(tmp, model_id=source.model_id, manifest=manifest, model_card=checkpoint.model_card,
                      config=config)
    mb = manifest["total_bytes"] / 1e6
    log(f"Built {out} in {time.perf_counter() - started:.1f} s: {source.model_id}, {config.quant}, "
        f"{len(manifest['shards'])} shard(s), {mb:.1f} MB of weights")
    if weights_out:
        log(f"Upload the files in {weights_out / source.model_id} to {config.weights_url} "
            "(the site fetches the shards from there, with CORS).")
    return manifest


def _move_shards(manifest: dict, model_dir: Path, target: Path) -> None:
    target.mkdir(parents=True)
    for shard in manifest["shards"]:
        (model_dir / shard["file"]).rename(target / shard["file"])
    # The manifest travels with the shards, so the uploaded folder says what its files are.
    shutil.copyfile(model_dir / "manifest.json", target / "manifest.json")

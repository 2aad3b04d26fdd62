"""`sitegen build`: convert the model and assemble the static site, atomically.

Everything is written into a temporary folder beside the output and renamed into place at the
end, so a failed or interrupted build leaves the previous site (or nothing) behind, never half
a site. An existing output folder is replaced only if it is a previous sitegen build.

With --weights-url the shards are not part of the site: they go to a second folder beside it,
`<out>-weights/<model id>/` (with a copy of the manifest), to be uploaded to that URL; the
site keeps the manifest and tokenizer and fetches the shards from there.
"""

import os
import shutil
import tempfile
import time
from contextlib import contextmanager, suppress
from pathlib import Path

from sitegen import sources
from sitegen.artifact import write_model
from sitegen.config import BuildConfig, read_user_text
from sitegen.errors import SitegenError
from sitegen.marker import MARKER
from sitegen.site import assemble_site


def _check_replaceable(out: Path, name: str, if_file: str) -> None:
    """`name`: how the error calls the folder `out`; `if_file`: the fix when `out` is a file."""
    if out.exists() and not out.is_dir():
        raise SitegenError(f"{name} is a file; {if_file}.")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise SitegenError(f"{name} exists and is not a sitegen site; refusing to replace it. "
                           "Choose another --out, or empty/remove that folder yourself.")


@contextmanager
def atomic_folders(*outs: Path):
    """Yield one temporary folder per `out`; they become the `outs` if the block succeeds.

    They are renamed into place one by one, in the order of `outs`. If the block or any rename
    fails, the renames already done are undone: every `out` is left as it was (its previous
    version, or nothing), and the temporary folders vanish.
    """
    tmps = []
    try:
        for out in outs:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
            # mkdtemp makes it private (0700); the site is for a web server to read: the mode a
            # plain mkdir would give, so copying it to a server (rsync -a, scp -p) keeps it readable
            tmp.chmod(0o777 & ~_umask())
            tmps.append(tmp)
        yield tmps
        for tmp in tmps:
            (tmp / MARKER).write_text("built by sitegen\n", encoding="utf-8")
        _rename_into_place(list(zip(tmps, outs)))
    finally:
        for tmp in tmps:
            shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


def _rename_into_place(pairs: list[tuple[Path, Path]]) -> None:
    """Rename each (tmp, out) tmp to out, in order, moving the previous out aside; all or none."""
    done = []  # the renames made so far, (from, to), to undo on failure
    olds = []
    try:
        for tmp, out in pairs:
            if out.exists():
                old = out.with_name(f".{out.name}.old-{tmp.name.rsplit('-', 1)[-1]}")
                out.rename(old)
                done.append((out, old))
                olds.append(old)
            tmp.rename(out)
            done.append((tmp, out))
    except BaseException as err:
        for source, target in reversed(done):  # the new folders back to tmp (then removed), the old back
            with suppress(OSError):
                target.rename(source)
        if isinstance(err, OSError):
            raise SitegenError(f"Cannot rename {err.filename} to {err.filename2} ({err.strerror}); the previous "
                               "output was left as it was: check that folder's permissions and build again.") from None
        raise
    for old in olds:
        shutil.rmtree(old, ignore_errors=True)


def weights_folder(out: Path) -> Path:
    """Where a --weights-url build puts the shards: beside the site, never inside it."""
    return out.with_name(f"{out.name}-weights")


def build(config: BuildConfig, log=print) -> dict:
    """Build the site described by `config`; returns the model manifest."""
    out = config.out.resolve()
    _check_replaceable(out, f"--out {out}", if_file="give a folder path")
    weights_out = weights_folder(out) if config.weights_url else None
    if weights_out:
        _check_replaceable(weights_out, f"The weights folder {weights_out} (beside --out, for --weights-url)",
                           if_file="choose another --out, or move that file away")
    # Read before the model, which may take minutes: a bad file is reported at once.
    template = read_user_text(config.chat_template) if config.chat_template else None
    source = sources.resolve(config.model)
    log(f"Loading {source.public_name()} ({source.kind})")
    checkpoint = source.load()
    started = time.perf_counter()
    # The weights' folder is renamed into place before the site's (atomic_folders keeps the order
    # given), so even a build killed between the two renames leaves no new site without its
    # shards; a failure of the build or of either rename leaves both folders as they were.
    with atomic_folders(*filter(None, (weights_out, out))) as tmps:
        weights_tmp, tmp = tmps if weights_out else (None, *tmps)
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

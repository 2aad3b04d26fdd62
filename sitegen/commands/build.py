"""`sitegen build`: convert the model and assemble the static site, atomically.

Everything is written into temporary folders renamed into place at the end
(sitegen/output_folders.py): a failed or interrupted build leaves the previous site (or nothing) behind, never half a site,
and the files its owner added to the site folder are kept.

With --weights-url the shards are not part of the site: they go to a second folder beside it,
`<out>-weights/<model id>/` (with a copy of the manifest), to be uploaded to that URL; the
site keeps the manifest and tokenizer and fetches the shards from there.
"""

import shutil
import time
from pathlib import Path

from sitegen import sources
from sitegen.artifact import write_model
from sitegen.config import THEME_TEXT_PAIRS, BuildConfig, read_user_text
from sitegen.contrast import check_text_contrast
from sitegen.manifest import matrix_schemes
from sitegen.marker import file_digest, recorded_files
from sitegen.output_folders import atomic_folders, check_replaceable
from sitegen.site import assemble_site, theme_schemes
from sitegen.units import format_bytes


CNAME = "CNAME"


def weights_folder(out: Path) -> Path:
    """Where a --weights-url build puts the shards: beside the site, never inside it."""
    return out.with_name(f"{out.name}-weights")


def build(config: BuildConfig, log=print) -> dict:
    """Build the site described by `config`; returns the model manifest."""
    out = config.out.resolve()
    check_replaceable(out, f"--out {out}", if_file="give a folder path")
    weights_out = weights_folder(out) if config.weights_url else None
    if weights_out:
        check_replaceable(weights_out, f"The weights folder {weights_out} (beside --out, for --weights-url)",
                          if_file="choose another --out, or move that file away")
    # Checked before the model is read, which may take minutes: a bad file or colour is reported at once.
    check_text_contrast(theme_schemes(config.theme, config.colors), THEME_TEXT_PAIRS,
                        overridden={name for name, _ in config.colors})
    template = read_user_text(config.chat_template) if config.chat_template else None
    source = sources.resolve(config.model)
    log(f"Loading {source.public_name()} ({source.kind})")
    checkpoint = source.load()
    started = time.perf_counter()
    # The weights' folder is renamed into place before the site's (atomic_folders keeps the order
    # given), so even a build killed between the two renames leaves no new site without its
    # shards; a failure of the build or of either rename leaves both folders as they were.
    with atomic_folders(*filter(None, (weights_out, out)), keep_user_files_of=out, log=log) as tmps:
        weights_tmp, tmp = tmps if weights_out else (None, *tmps)
        model_dir = tmp / "models" / source.model_id
        manifest = write_model(checkpoint, model_dir, model_id=source.model_id,
                               source=source.public_name(), quant=config.quant, shard_mb=config.shard_mb,
                               chat_template=template, published_sampling=source.chat_sampling, log=log)
        if weights_tmp:
            _move_shards(manifest, model_dir, weights_tmp / source.model_id)
        assemble_site(tmp, model_id=source.model_id, manifest=manifest, model_card=checkpoint.model_card,
                      config=config)
        cname = config.cname or _previous_builds_cname(out)
        if cname:
            # GitHub Pages reads the custom domain from this file, one host name on one line.
            (tmp / CNAME).write_text(cname + "\n", encoding="utf-8")
            if not config.cname:
                log(f"Kept the custom domain {cname} of the previous build's --cname (CNAME); "
                    "pass --cname to change it, or delete the file to drop it.")
    log(f"Built {out} in {time.perf_counter() - started:.1f} s: {source.model_id}, {matrix_schemes(manifest)}, "
        f"{len(manifest['shards'])} shard(s), {format_bytes(manifest['total_bytes'])} of weights")
    if weights_out:
        log(f"Upload the files in {weights_out / source.model_id} to {config.weights_url} "
            "(the site fetches the shards from there, with CORS).")
    return manifest


def _previous_builds_cname(out: Path) -> str | None:
    """The host name in `out`'s CNAME when the build that made `out` wrote it (--cname) and nobody
    edited it since: a rebuild without --cname keeps the site's custom domain. (A CNAME the owner
    wrote is theirs and kept as any file of theirs is.)"""
    path = out / CNAME
    recorded = recorded_files(out) or {}
    try:
        if CNAME not in recorded or path.is_symlink() or file_digest(path) != recorded[CNAME]:
            return None
        return path.read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def _move_shards(manifest: dict, model_dir: Path, target: Path) -> None:
    target.mkdir(parents=True)
    for shard in manifest["shards"]:
        (model_dir / shard["file"]).rename(target / shard["file"])
    # The manifest travels with the shards, so the uploaded folder says what its files are.
    shutil.copyfile(model_dir / "manifest.json", target / "manifest.json")

"""`sitegen build`: convert the models and assemble the static site, atomically.

A site may hold several models (--model repeated, `models:` in sitegen.yml), each in its own
folder `models/<model id>/`; one site and one service worker offer them all. A rebuild with fewer
models drops the others' folders (the new site replaces the old one whole).

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
from sitegen.config import THEME_TEXT_PAIRS, BuildConfig, ModelEntry, read_user_text
from sitegen.contrast import check_text_contrast
from sitegen.manifest import matrix_schemes
from sitegen.marker import MARKER, file_digest, recorded_files
from sitegen.output_folders import atomic_folders, check_replaceable
from sitegen.errors import SitegenError
from sitegen.site import SiteModel, assemble_site, check_one_mode, theme_schemes
from sitegen.units import format_bytes


CNAME = "CNAME"


def weights_folder(out: Path) -> Path:
    """Where a --weights-url build puts the shards: beside the site, never inside it."""
    return out.with_name(f"{out.name}-weights")


def build(config: BuildConfig, log=print) -> dict:
    """Build the site described by `config`: each of `config.models` in its folder `models/<model id>/`,
    and one site (pages, one service worker) that offers them all. Returns the manifest of the
    first model (the one a first visit loads); the others are in their folders.

    Raises SitegenError before anything is converted for two models with the same id (their folder
    and their name in /v1/models), and for --weights-url or --chat-template with several models
    (each names one model's files); as soon as a converted model makes a base model beside chat
    models (`check_one_mode`).
    """
    out = config.out.resolve()
    check_replaceable(out, f"--out {out}", if_file="give a folder path")
    weights_out = weights_folder(out) if config.weights_url else None
    if weights_out:
        check_replaceable(weights_out, f"The weights folder {weights_out} (beside --out, for --weights-url)",
                          if_file="choose another --out, or move that file away")
    # Checked before the model is read, which may take minutes: a bad file or colour is reported at once.
    check_text_contrast(theme_schemes(config.theme, config.colors), THEME_TEXT_PAIRS,
                        overridden={name for name, _ in config.colors})
    _check_single_model_options(config)
    template = read_user_text(config.chat_template) if config.chat_template else None
    outputs = {"site": out, "weights folder": weights_out} if weights_out else {"site": out}
    before = {path: _state(path) for path in outputs.values()}
    try:
        sources_ = [sources.resolve(entry.model) for entry in config.models]
        _check_unique_ids(config.models, sources_)
        started = time.perf_counter()
        models = _convert_and_assemble(config, sources_, out, weights_out, template, log)
    except KeyboardInterrupt:  # Ctrl+C: atomic_folders has left every output as it was
        raise SitegenError("Build interrupted (Ctrl+C): " + "; ".join(
            _untouched(what, path, before[path]) for what, path in outputs.items()) + ".") from None
    log(f"Built {out} in {time.perf_counter() - started:.1f} s: " + "; ".join(
        f"{model.model_id}, {matrix_schemes(model.manifest)}, {len(model.manifest['shards'])} shard(s), "
        f"{format_bytes(model.manifest['total_bytes'])} of weights" for model in models))
    for model in models:
        if weights_out:
            log(f"Upload the files in {weights_out / model.model_id} to {config.weights_url} "
                "(the site fetches the shards from there, with CORS).")
    return models[0].manifest


def _state(path: Path) -> str:
    """What is at an output path before the build: "build" (a previous build's folder), "folder" or "none"."""
    return "build" if (path / MARKER).is_file() else "folder" if path.exists() else "none"


def _untouched(what: str, path: Path, state: str) -> str:
    """How an interrupted build left an output, as `_state` found it."""
    return {"build": f"the previous {what} at {path} was left as it was",
            "folder": f"{path} was left as it was",
            "none": f"nothing was written to {path}"}[state]


def _convert_and_assemble(config: BuildConfig, sources_: list, out: Path, weights_out: Path | None,
                          template: str | None, log) -> list[SiteModel]:
    """The models of `sources_` (resolved from config.models, in order) converted and the site
    assembled into `out` (the shards into `weights_out` for --weights-url), atomically; their
    SiteModels, the first the one a first visit loads."""
    # The weights' folder is renamed into place before the site's (atomic_folders keeps the order
    # given), so even a build killed between the two renames leaves no new site without its
    # shards; a failure of the build or of either rename leaves both folders as they were.
    with atomic_folders(*filter(None, (weights_out, out)), keep_user_files_of=out, log=log) as tmps:
        weights_tmp, tmp = tmps if weights_out else (None, *tmps)
        models = []
        for entry, source in zip(config.models, sources_):
            models.append(_write_model(entry, source, tmp, weights_tmp, config, template, log))
            check_one_mode(models)  # after each model: a mix is refused before the next conversion
        assemble_site(tmp, models=models, config=config)
        cname = config.cname or _previous_builds_cname(out)
        if cname:
            # GitHub Pages reads the custom domain from this file, one host name on one line.
            (tmp / CNAME).write_text(cname + "\n", encoding="utf-8")
            if not config.cname:
                log(f"Kept the custom domain {cname} of the previous build's --cname (CNAME); "
                    "pass --cname to change it, or delete the file to drop it.")
    return models


def _write_model(entry: ModelEntry, source, tmp: Path, weights_tmp: Path | None, config: BuildConfig,
                 template: str | None, log) -> SiteModel:
    """Convert one model of the site into tmp/models/<id>/ (its shards into weights_tmp/<id>/ for
    --weights-url); its SiteModel for the assembler."""
    log(f"Loading {source.public_name()} ({source.kind})")
    checkpoint = source.load()
    model_dir = tmp / "models" / source.model_id
    manifest = write_model(checkpoint, model_dir, model_id=source.model_id, source=source.public_name(),
                           quant=entry.quant or config.quant, shard_mb=config.shard_mb, chat_template=template,
                           published_sampling=source.chat_sampling, log=log)
    if weights_tmp:
        _move_shards(manifest, model_dir, weights_tmp / source.model_id)
    return SiteModel(model_id=source.model_id, name=entry.name or source.model_id, manifest=manifest,
                     model_card=checkpoint.model_card)


def _check_single_model_options(config: BuildConfig) -> None:
    """--weights-url and --chat-template each name one model's files: refused with several models."""
    if len(config.models) < 2:
        return
    for name, flag, what in (("weights_url", "--weights-url", "the folder URL of one model's shards"),
                             ("chat_template", "--chat-template", "one model's chat template")):
        if getattr(config, name) is not None:
            raise SitegenError(f"{flag} is {what}, and this site has {len(config.models)} models; build the site "
                               f"with one model to use {flag}, or leave it out.")


def _check_unique_ids(entries, sources_) -> None:
    """Each model's id names its folder models/<id>/, its cache and its name in /v1/models: one per model."""
    seen = {}
    for entry, source in zip(entries, sources_):
        if source.model_id in seen:
            raise SitegenError(f"Two models of the site have the id {source.model_id!r} ({seen[source.model_id]!r} and "
                               f"{entry.model!r}): each model needs its own id (its folder models/<id>/ and its name "
                               "in /v1/models); give each model once, and rename the folder or .gguf file of one of two "
                               "different models that share a name.")
        seen[source.model_id] = entry.model


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

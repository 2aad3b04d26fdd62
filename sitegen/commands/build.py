"""`sitegen build`: convert the model and assemble the static site, atomically.

Everything is written into a temporary folder beside the output and renamed into place at the
end, so a failed or interrupted build leaves the previous site (or nothing) behind, never half
a site. An existing output folder is replaced only if it is a previous sitegen build, and the
files its owner added there (a CNAME, robots.txt, 404.html, ...: whatever that build did not
write, as its marker records) are copied into the new site before the rename.

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
from sitegen.config import THEME_TEXT_PAIRS, BuildConfig, read_user_text
from sitegen.contrast import check_text_contrast
from sitegen.errors import SitegenError
from sitegen.marker import MARKER, file_digest, recorded_files, write_marker
from sitegen.site import assemble_site, theme_schemes
from sitegen.units import format_bytes


def _check_replaceable(out: Path, name: str, if_file: str) -> None:
    """`name`: how the error calls the folder `out`; `if_file`: the fix when `out` is a file."""
    if out.exists() and not out.is_dir():
        raise SitegenError(f"{name} is a file; {if_file}.")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise SitegenError(f"{name} exists and is not a sitegen site; refusing to replace it. "
                           "Choose another --out, or empty/remove that folder yourself.")


@contextmanager
def atomic_folders(*outs: Path, keep_user_files_of: Path | None = None, log=print):
    """Yield one temporary folder per `out`; they become the `outs` if the block succeeds.

    Each gets the marker, recording the files the block wrote into it. The files of the previous
    `keep_user_files_of` (one of `outs`) that its build did not write are then copied into the
    new one (see `_keep_user_files`, which reports them through `log`). The folders are renamed
    into place one by one, in the order of `outs`. If the block, the copy or any rename fails,
    the renames already done are undone: every `out` is left as it was (its previous version, or
    nothing), and the temporary folders vanish.
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
        for tmp, out in zip(tmps, outs):
            written = _files_in(tmp)
            write_marker(tmp, written)
            if out == keep_user_files_of and out.is_dir():
                _keep_user_files(out, tmp, written, log)
        _rename_into_place(list(zip(tmps, outs)))
    finally:
        for tmp in tmps:
            shutil.rmtree(tmp, ignore_errors=True)


# What a sitegen from before the marker's record always wrote (besides the pages): folders only
# the build owns, so nothing a user added inside them is kept when rebuilding such a site.
_LEGACY_FOLDERS = ("models", "runtime", "kernels")


def _files_in(folder: Path) -> set[str]:
    """The paths of the files (and symlinks) under `folder`, relative and '/'-separated."""
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*")
            if path.is_symlink() or not path.is_dir()}


def _leaves(folder: Path) -> list[str]:
    """Like `_files_in`, plus the empty folders (which a user may have made on purpose); sorted."""
    leaves = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_dir() or not any(path.iterdir()):
            leaves.append(path.relative_to(folder).as_posix())
    return leaves


def _keep_user_files(old: Path, new: Path, written: set[str], log) -> None:
    """Copy into `new` what is in `old` (the previous site) that its build did not write.

    `written`: the paths the new build wrote into `new`. The previous build's marker records its
    files and their SHA-256: one no longer holding those bytes was edited by the owner, and is
    theirs. For a site from a sitegen that recorded nothing, sitegen's are the marker, every path
    the new build writes and all of models/, runtime/ and kernels/. A user's file at a path the
    new build writes (an edited index.html) is replaced by the build's. Logs one line naming
    what was kept and what was replaced; silent when there is neither. Raises SitegenError if a
    file cannot be copied (the caller then leaves `old` as it was).
    """
    previous = recorded_files(old)

    def is_sitegens(rel: str) -> bool:
        if previous is None:
            return rel == MARKER or rel in written or rel.split("/", 1)[0] in _LEGACY_FOLDERS
        if rel == MARKER:
            return True
        try:
            return rel in previous and not (old / rel).is_symlink() and file_digest(old / rel) == previous[rel]
        except OSError:  # unreadable: the owner's doing; copying it says what is wrong
            return False

    kept, replaced = [], []
    for rel in _leaves(old):
        if is_sitegens(rel):
            continue
        source, target = old / rel, new / rel
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):  # the build wrote a file where the user has a folder
            replaced.append(rel)
            continue
        if target.exists() or target.is_symlink():
            replaced.append(rel)
        elif source.is_dir() and not source.is_symlink():
            target.mkdir()
            kept.append(rel)
        else:
            try:
                shutil.copy2(source, target, follow_symlinks=False)
            except OSError as err:
                raise SitegenError(f"Cannot copy {source} into the new site ({err.strerror}); the previous site "
                                   "was left as it was: make that file readable and build again.") from None
            kept.append(rel)
    parts = []
    if kept:
        parts.append(f"kept {_listing(kept, old)}, which the build does not write")
    if replaced:
        parts.append(f"replaced {', '.join(replaced)} with the build's own")
    if parts:
        log(f"In {old}: {'; '.join(parts)}.")


def _listing(paths: list[str], folder: Path) -> str:
    """`paths` (under `folder`) for a log line: a top-level folder that is kept whole is one item."""
    by_top: dict[str, list[str]] = {}
    for rel in paths:
        by_top.setdefault(rel.split("/", 1)[0], []).append(rel)
    items = []
    for top, under in by_top.items():
        whole = (folder / top).is_dir() and not (folder / top).is_symlink() and \
            len(under) == len(_leaves(folder / top)) and under != [top]
        items.append(f"{top}/ ({len(under)} item(s))" if whole else ", ".join(under))
    return ", ".join(items)


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
                               chat_template=template, log=log)
        if weights_tmp:
            _move_shards(manifest, model_dir, weights_tmp / source.model_id)
        assemble_site(tmp, model_id=source.model_id, manifest=manifest, model_card=checkpoint.model_card,
                      config=config)
        if config.cname:
            # GitHub Pages reads the custom domain from this file, one host name on one line.
            (tmp / "CNAME").write_text(config.cname + "\n", encoding="utf-8")
    log(f"Built {out} in {time.perf_counter() - started:.1f} s: {source.model_id}, {config.quant}, "
        f"{len(manifest['shards'])} shard(s), {format_bytes(manifest['total_bytes'])} of weights")
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

"""The output folders of a build, replaced atomically, keeping what their owner added.

A build writes into temporary folders beside its outputs and renames them into place at the
end, so a failed or interrupted build leaves the previous folders (or nothing) behind, never half
a site. A folder is replaced only if it is a previous sitegen build (its marker, sitegen/marker.py),
and the files its owner added to the site (a CNAME, robots.txt, 404.html, ...: whatever that build
did not write, as its marker records) are copied into the new one before the rename.
"""

import errno
import os
import shutil
import signal
import tempfile
import threading
from contextlib import contextmanager, suppress
from pathlib import Path

from sitegen.errors import SitegenError
from sitegen.marker import MARKER, file_digest, recorded_files, write_marker


def check_replaceable(out: Path, name: str, if_file: str) -> None:
    """`name`: how the error calls the folder `out`; `if_file`: the fix when `out` is a file."""
    if out.exists() and not out.is_dir():
        raise SitegenError(f"{name} is a file; {if_file}.")
    file_above = next((parent for parent in out.parents if parent.exists() and not parent.is_dir()), None)
    if file_above:
        raise SitegenError(f"{name} lies inside {file_above}, which is a file; {if_file}.")
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
    nothing), and the temporary folders vanish, with the folders above an `out` made for it; a
    Ctrl+C during that cleanup (a second one, as a rule) does not cut it short.
    Raises SitegenError when a folder cannot be made there (a read-only disk, no permission) or
    the disk fills up.
    """
    tmps = []
    made = []  # the folders above the outs that the build made, removed again if it fails
    built = False
    try:
        for out in outs:
            tmps.append(_temporary_folder(out, made))
        try:
            yield tmps
            for tmp, out in zip(tmps, outs):
                written = _files_in(tmp)
                write_marker(tmp, written)
                if out == keep_user_files_of and out.is_dir():
                    _keep_user_files(out, tmp, written, log)
        except OSError as err:
            if err.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            raise SitegenError(f"No space left on the disk while writing {outs[-1]}; the previous output was left as "
                               "it was: free space on that disk, or choose an --out on another one.") from None
        olds = _rename_into_place(list(zip(tmps, outs)))
        built = True
        try:
            for old in olds:
                shutil.rmtree(old, ignore_errors=True)
        except KeyboardInterrupt:  # Ctrl+C now: the new folders are in place, a previous one half deleted
            raise SitegenError(f"Interrupted (Ctrl+C) after the build was in place at {', '.join(map(str, outs))}; "
                               f"delete {', '.join(str(old) for old in olds if old.exists())}, what is left of "
                               "the previous version.") from None
    finally:
        if not built:  # stopping on an error or Ctrl+C (once built, the temporary folders are the outs)
            with _ctrl_c_ignored(f"Ctrl+C: removing the unfinished build ({', '.join(map(str, tmps))}) first."):
                for tmp in tmps:
                    shutil.rmtree(tmp, ignore_errors=True)
                for folder in reversed(made):
                    with suppress(OSError):
                        folder.rmdir()


@contextmanager
def _ctrl_c_ignored(note: str):
    """Run the block with Ctrl+C (SIGINT) ignored, but for writing `note` on stderr (once): for the
    cleanup of a build that is stopping already (on an error, or a first Ctrl+C), which a second
    Ctrl+C must not cut short. Off the main thread, which gets no signals, the block runs as is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted = False

    def note_once(signum, frame):
        nonlocal noted
        if not noted:  # os.write: a print would raise if it interrupted a print
            noted = True
            with suppress(OSError):
                os.write(2, f"{note}\n".encode())

    previous = signal.signal(signal.SIGINT, note_once)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _temporary_folder(out: Path, made: list[Path]) -> Path:
    """A new empty folder beside `out` (its missing parents made, and added to `made`, outermost first)."""
    missing = [parent for parent in reversed(out.parents) if not parent.exists()]
    try:
        for folder in missing:
            folder.mkdir()
            made.append(folder)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    except OSError as err:
        raise SitegenError(f"Cannot create a folder in {Path(err.filename or out).parent} ({err.strerror}); choose an "
                           "--out in a folder you can write to.") from None
    # mkdtemp makes it private (0700); the site is for a web server to read: the mode a
    # plain mkdir would give, so copying it to a server (rsync -a, scp -p) keeps it readable
    tmp.chmod(0o777 & ~_umask())
    return tmp


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


def _rename_into_place(pairs: list[tuple[Path, Path]]) -> list[Path]:
    """Rename each (tmp, out) tmp to out, in order, moving the previous out aside; all or none.
    Returns where the previous outs were moved, for the caller to delete."""
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
        with _ctrl_c_ignored(f"Ctrl+C: putting the previous {', '.join(str(out) for _, out in pairs)} back first."):
            for source, target in reversed(done):  # the new folders back to tmp (then removed), the old back
                with suppress(OSError):
                    target.rename(source)
        if isinstance(err, OSError):
            raise SitegenError(f"Cannot rename {err.filename} to {err.filename2} ({err.strerror}); the previous "
                               "output was left as it was: check that folder's permissions and build again.") from None
        raise
    return olds

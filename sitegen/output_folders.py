"""The output folders of a build, replaced atomically, keeping what their owner added.

A build writes into temporary folders beside its outputs and renames them into place at the
end, so a failed or interrupted build leaves the previous folders (or nothing) behind, never half
a site. A folder is replaced only if it is a previous sitegen build (its marker, sitegen/marker.py),
and the files its owner added to the site (a CNAME, robots.txt, 404.html, ...: whatever that build
did not write, as its marker records) are copied into the new one before the rename.
"""

import errno
import fcntl
import os
import re
import shutil
import signal
import tempfile
import threading
from contextlib import contextmanager, suppress
from pathlib import Path

from sitegen.errors import SitegenError
from sitegen.marker import MARKER, file_digest, is_marked, recorded_files, write_marker


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
    Ctrl+C during that cleanup (a second one, as a rule) does not cut it short. Once the new
    folders are in place, the previous ones (moved aside) are deleted, and so is what is left of
    previous versions of the `outs` whose deletion an earlier build did not finish (see
    `_stale_previous_versions`), which it reports through `log`.
    Raises SitegenError when a folder cannot be made there (a read-only disk, no permission),
    the disk fills up, or a Ctrl+C stops the deletion of a previous version (the new folders are
    complete then; what is left of it is the next build's to delete).
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
        stale = []
        # A Ctrl+C while deleting them stops the deletion there, rather than finishing it with Ctrl+C
        # ignored: a large model's previous version is GBs, which can take long to delete, and who
        # presses Ctrl+C wants sitegen to stop now. The new site is complete by then, and what is left
        # keeps its marker (deleted last), so the next build into the same --out recognises and deletes it.
        try:
            stale = [folder for out in outs for folder in _stale_previous_versions(out) if folder not in olds]
            for old in olds:
                _delete_previous_version(old)
            if stale:
                for folder in stale:
                    _delete_previous_version(folder)
                log(f"Deleted {', '.join(map(str, stale))}: what was left of a previous version, whose deletion "
                    "an earlier build did not finish (interrupted).")
        except KeyboardInterrupt:  # Ctrl+C now: the new folders are in place, a previous one half deleted
            left = ", ".join(str(folder) for folder in [*olds, *stale] if folder.exists())
            if not left:  # all deleted already: the build is done
                return
            raise SitegenError(f"Interrupted (Ctrl+C) while deleting the previous version; the new site at "
                               f"{', '.join(map(str, outs))} is complete. What is left of the previous version "
                               f"({left}) is deleted by the next build into the same --out, or delete it yourself."
                               ) from None
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


# The folder a previous version of `out` is moved to while it is deleted (see `_rename_into_place`): the
# name mkdtemp gave its build's temporary folder ends in 8 of these characters, which it keeps.
_OLD_SUFFIX = r"[a-z0-9_]{8}"


def _stale_previous_versions(out: Path) -> list[Path]:
    """The folders beside `out` that are what is left of previous versions of it, whose deletion a
    build did not finish (a Ctrl+C): named `.{out.name}.old-XXXXXXXX` as `_rename_into_place` names
    them, a real folder (not a symlink) and holding a sitegen marker. Anything else, a user's folder of
    a similar name or a build's `.building-` folder, is left alone. Sorted; [] if `out`'s folder
    cannot be read."""
    pattern = re.compile(rf"\.{re.escape(out.name)}\.old-{_OLD_SUFFIX}")
    try:
        beside = sorted(out.parent.iterdir())
    except OSError:
        return []
    return [folder for folder in beside if pattern.fullmatch(folder.name) and folder.is_dir()
            and not folder.is_symlink() and is_marked(folder)]


def _delete_previous_version(old: Path) -> None:
    """Delete `old`, a previous version moved aside, its marker last: if this is cut short (Ctrl+C,
    a kill), what is left is still marked as sitegen's, for the next build to delete. While deleting
    it holds a lock on that marker; if another build holds it (deleting `old` already), it returns
    without deleting anything. Errors (a file it may not delete) are ignored: what is left stays."""
    marker = old / MARKER
    try:
        lock = marker.open("rb")
    except OSError:  # no marker (a folder from an older sitegen, or gone already): delete it as it is
        shutil.rmtree(old, ignore_errors=True)
        return
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # another build is deleting it
            return
        for path in old.iterdir():
            if path.name == MARKER:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with suppress(OSError):
                    path.unlink()
        with suppress(OSError):
            marker.unlink()
        with suppress(OSError):
            old.rmdir()


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

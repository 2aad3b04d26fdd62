"""`sitegen deploy --gh-pages`: publish a built site as the whole tree of a GitHub Pages branch.

Like `mkdocs gh-deploy`, but with git plumbing only: the site's files are staged into a
temporary index (`GIT_INDEX_FILE`) with the site folder as the work tree, written as a tree,
committed on top of the branch's previous tip (so the branch keeps its history), and the
branch ref is moved with `update-ref`. The user's working tree, index and current branch are
never touched, and nothing is written into the site folder. Then the branch is pushed.

Limits checked before anything is written, from GitHub's documentation: git pushes refuse
files over 100 MiB (and warn above 50 MiB), and a published GitHub Pages site may be at most
1 GB. Messages state them exactly in sitegen's one size convention (sitegen/units.py, decimal):
104.8576 MB, 52.4288 MB, 1 GB.
"""

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sitegen import __version__
from sitegen.marker import MARKER
from sitegen.errors import SitegenError
from sitegen.units import format_bytes, format_limit

MiB = 1024 * 1024
FILE_LIMIT = 100 * MiB  # GitHub rejects pushes containing a larger file
FILE_WARN = 50 * MiB  # GitHub accepts, but warns about, larger files
# GitHub Pages' largest published site, "1 GB" in its documentation: read as 10^9 bytes, the
# stricter reading, so a site that passes here is within the limit whichever GitHub means.
SITE_LIMIT = 10**9
NOJEKYLL = ".nojekyll"  # empty file: Pages then serves `_*` files as is, without running Jekyll


@dataclass
class Deployment:
    branch: str
    commit: str  # the branch tip after the deploy (the previous tip if nothing changed)
    changed: bool  # False: the tree equalled the previous tip's, no commit was made
    files: int  # files in the published tree, .nojekyll included
    total_bytes: int


def _git(*args: str, cwd: Path | None = None, env: dict | None = None, check: bool = True,
         fail: str | None = None) -> str | None:
    """Run git; its stdout, stripped. On failure: None if not `check`, else SitegenError with git's stderr."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                              encoding="utf-8", errors="replace", stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise SitegenError("git is not installed (or not on PATH); deploying needs it: install git and "
                           "run this again.") from None
    if done.returncode == 0:
        return done.stdout.strip()
    if not check:
        return None
    said = (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"
    raise SitegenError(f"{fail or 'git ' + ' '.join(args) + ' failed'}\ngit said:\n{said}")


def _check_site(site: Path) -> None:
    if not site.is_dir():
        raise SitegenError(f"{site} is not a folder; build the site first with `sitegen build --out {site}`.")
    if not (site / MARKER).is_file():
        raise SitegenError(f"{site} is not a sitegen site (no {MARKER} file in it); build it first with "
                           f"`sitegen build --out {site}`, then deploy that folder.")


def _site_files(site: Path) -> dict[str, int]:
    """Every file git will publish -> its size (lstat: sparse files count at their full size)."""
    sizes = {}
    for folder, dirs, files in os.walk(site):
        dirs[:] = [d for d in dirs if d != ".git"]  # git never adds a .git folder's contents
        for name in files:
            path = Path(folder, name)
            sizes[path.relative_to(site).as_posix()] = path.lstat().st_size
    return sizes


def _check_sizes(sizes: dict[str, int], log) -> int:
    """Refuse what GitHub would refuse, before any object is written; warn about the rest. Total bytes."""
    problems = []
    big = sorted((rel, n) for rel, n in sizes.items() if n > FILE_LIMIT)
    if big:
        listed = "\n".join(f"  {rel} ({format_bytes(n)})" for rel, n in big)
        problems.append(f"GitHub refuses files over {format_limit(FILE_LIMIT)}; these are larger:\n{listed}\n"
                        "Rebuild with smaller shards, e.g. `sitegen build --shard-mb 32`.")
    total = sum(sizes.values())
    if total > SITE_LIMIT:
        problems.append(f"The site is {format_bytes(total)}; GitHub Pages publishes at most {format_limit(SITE_LIMIT)} "
                        "per site. Host the model weights elsewhere and rebuild with "
                        "`sitegen build --weights-url URL`, or use a smaller model or quantisation.")
    if problems:
        raise SitegenError("Not deploying: " + "\n".join(problems))
    for rel, n in sorted(sizes.items()):
        if n > FILE_WARN:
            log(f"warning: {rel} is {format_bytes(n)}; GitHub warns about files over {format_limit(FILE_WARN)} "
                "(a smaller `sitegen build --shard-mb` avoids it)")
    return total


def _check_repo(remote: str, branch: str) -> str:
    """The current repository's git folder, after checking the remote and the branch name."""
    git_dir = _git("rev-parse", "--absolute-git-dir", check=False)
    if git_dir is None:
        raise SitegenError(f"{Path.cwd()} is not inside a git repository; run `sitegen deploy` from the "
                           "repository whose GitHub Pages should serve the site.")
    remotes = (_git("remote") or "").split()
    if remote not in remotes:
        known = f"its remotes: {', '.join(remotes)}" if remotes else "it has none"
        raise SitegenError(f"This repository has no remote {remote!r} ({known}); choose one with --remote, "
                           f"or add it with `git remote add {remote} URL`.")
    _git("check-ref-format", "--branch", branch, fail=f"--branch {branch!r} is not a valid branch name.")
    return git_dir


def _check_not_checked_out(branch: str) -> None:
    """Moving a branch that a checkout has open would make its files look changed: refuse."""
    lines = (_git("worktree", "list", "--porcelain") or "").splitlines()
    where = None
    for line in lines:
        if line.startswith("worktree "):
            where = line[len("worktree "):]
        elif line == f"branch refs/heads/{branch}":
            raise SitegenError(f"Branch {branch} is checked out in {where}; deploying would move it under "
                               "that checkout. Switch it to another branch (e.g. `git switch main`) and "
                               "deploy again, or deploy to another --branch.")


def _commit_of(ref: str) -> str | None:
    return _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)


def _parent(remote: str, branch: str) -> tuple[str | None, str | None]:
    """(local tip, commit to build on). The local branch, unless the fetched remote branch is newer."""
    local = _commit_of(f"refs/heads/{branch}")
    fetched = _commit_of(f"refs/remotes/{remote}/{branch}")
    if fetched is None or local == fetched:
        return local, local
    # An unpushed local deploy is ahead of the fetched branch: keep building on it. Otherwise the
    # fetched branch has deploys made elsewhere: build on it, so the push is a fast-forward.
    ahead = local is not None and _git("merge-base", "--is-ancestor", fetched, local, check=False) is not None
    return local, local if ahead else fetched


def _write_tree(site: Path, git_dir: str, index: Path) -> tuple[str, int]:
    """Stage the site's contents plus an empty .nojekyll into `index`; (tree id, file count)."""
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    # -c core.autocrlf=false: publish the bytes as they are; --force: the user's ignore rules
    # (global excludes, info/exclude) must not drop site files. cwd is the site, so `.` is all of it.
    _git("--git-dir", git_dir, "--work-tree", str(site), "-c", "core.autocrlf=false",
         "add", "--all", "--force", ".", cwd=site, env=env)
    empty = _git("hash-object", "-w", "--stdin")  # stdin is empty: the empty blob
    _git("update-index", "--add", "--cacheinfo", f"100644,{empty},{NOJEKYLL}", env=env)
    files = len([p for p in (_git("ls-files", "-z", env=env) or "").split("\0") if p])
    return _git("write-tree", env=env), files


def _push(remote: str, branch: str, commit: str) -> None:
    try:
        _git("push", remote, f"refs/heads/{branch}:refs/heads/{branch}",
             fail=f"Pushing {branch} to {remote} failed.")
    except SitegenError as err:
        hint = (f"The commit {commit[:12]} stays on your local branch {branch}: fix the cause, then "
                f"`git push {remote} {branch}` (or deploy again).")
        if "non-fast-forward" in str(err) or "fetch first" in str(err):
            hint += (f" The remote branch has commits this repository lacks (a deploy from elsewhere?): "
                     f"`git fetch {remote} {branch}`, then deploy again.")
        raise SitegenError(f"{err}\n{hint}") from None


def deploy_gh_pages(site: Path, *, remote: str, branch: str, message: str | None, log=print) -> Deployment:
    """Commit the built `site` folder's contents as the whole tree of `branch`, and push it to `remote`."""
    site = Path(site).resolve()
    _check_site(site)
    log(f"Deploying {site} to branch {branch} of {remote}")
    sizes = _site_files(site)
    total = _check_sizes(sizes, log)
    git_dir = _check_repo(remote, branch)
    _check_not_checked_out(branch)
    local, parent = _parent(remote, branch)

    with tempfile.TemporaryDirectory(prefix="sitegen-deploy-") as tmp:
        tree, files = _write_tree(site, git_dir, Path(tmp) / "index")
    changed = parent is None or _git("rev-parse", f"{parent}^{{tree}}") != tree
    if changed:
        message = message or f"Deploy {site.name} with sitegen {__version__}"
        commit = _git("commit-tree", tree, *(["-p", parent] if parent else []), "-m", message)
        log(f"Committed {commit[:12]} on {branch}")
    else:
        commit = parent
        log(f"Nothing changed since {commit[:12]} on {branch}; no new commit")
    if commit != local:
        # The old value makes this a compare-and-swap: a concurrent change to the branch fails here.
        _git("update-ref", "-m", "sitegen deploy", f"refs/heads/{branch}", commit, local or "0" * len(commit))

    log(f"Pushing {branch} to {remote} ...")
    _push(remote, branch, commit)
    log(f"Deployed {files} files ({format_bytes(total)}) as {branch} {commit[:12]}, pushed to {remote}.")
    log(f"GitHub Pages must serve this branch: in the repository's Settings > Pages, choose "
        f"\"Deploy from a branch\", branch {branch}, folder / (root).")
    return Deployment(branch=branch, commit=commit, changed=changed, files=files, total_bytes=total)

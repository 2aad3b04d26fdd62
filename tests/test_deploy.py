"""`sitegen deploy --gh-pages` against a real local bare repository standing in for GitHub."""

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from sitegen.__main__ import cli
from sitegen.marker import MARKER
from sitegen.commands.deploy import MiB, deploy_gh_pages
from sitegen.errors import SitegenError

SITE_FILES = {
    MARKER: b"built by sitegen\n",
    "index.html": b"<!doctype html><title>chat</title>",
    "_underscore.js": b"export {};",  # served only because of .nojekyll
    "runtime/engine.js": b"export const x = 1;\n",
    "models/x/manifest.json": b"{}",
    "models/x/shard.bin": bytes(range(256)) * 8,
}


def git(*args, cwd) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.rstrip("\n")


def sparse(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)


@pytest.fixture(autouse=True)
def git_env(monkeypatch, tmp_path):
    # The machine may have no git identity, and the user's config must not change the results.
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "Test Deployer")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "deployer@example.com")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # tmp_path/* is never inside another repo


@pytest.fixture
def bare(tmp_path) -> Path:
    bare = tmp_path / "remote.git"
    git("init", "--bare", "-q", str(bare), cwd=tmp_path)
    return bare


@pytest.fixture
def work(tmp_path, bare, monkeypatch) -> Path:
    """The user's repository: a commit on main, an uncommitted change, remote origin; cwd is it."""
    work = tmp_path / "work"
    git("init", "-q", "-b", "main", str(work), cwd=tmp_path)
    (work / "README.md").write_text("hello\n")
    git("add", "README.md", cwd=work)
    git("commit", "-q", "-m", "first", cwd=work)
    (work / "README.md").write_text("hello, edited\n")
    (work / ".git" / "info" / "exclude").write_text("*.bin\n")  # the user's ignores must not drop shards
    git("remote", "add", "origin", str(bare), cwd=work)
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def site(work) -> Path:
    site = work / "site"
    for rel, data in SITE_FILES.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_bytes(data)
    return site


def deploy(site, **kwargs):
    lines = []
    result = deploy_gh_pages(site, **{"remote": "origin", "branch": "gh-pages", "message": None, **kwargs},
                             log=lines.append)
    return result, "\n".join(lines)


def published(bare, ref="gh-pages") -> dict[str, bytes]:
    names = git("ls-tree", "-r", "--name-only", ref, cwd=bare).splitlines()
    return {name: subprocess.run(["git", "show", f"{ref}:{name}"], cwd=bare, check=True,
                                 capture_output=True).stdout for name in names}


def refs(repo) -> str:
    return git("for-each-ref", "--format=%(refname) %(objectname)", cwd=repo)


def test_publishes_the_folder_contents_plus_nojekyll(site, bare):
    result, out = deploy(site)
    assert published(bare) == {**SITE_FILES, ".nojekyll": b""}
    assert git("rev-parse", "gh-pages", cwd=bare) == result.commit == git("rev-parse", "gh-pages", cwd=site.parent)
    assert git("log", "-1", "--format=%s", "gh-pages", cwd=bare) == "Deploy site with sitegen 0.1.0"
    assert (result.changed, result.files, result.total_bytes) == (True, 7, sum(map(len, SITE_FILES.values())))
    assert not (site / ".nojekyll").exists()  # the site folder itself is never written to
    assert "gh-pages" in out and result.commit[:12] in out and "7 files" in out and "origin" in out
    assert "Settings > Pages" in out


def test_site_outside_the_repository_and_custom_branch_and_message(site, bare, tmp_path):
    outside = tmp_path / "elsewhere"
    site.rename(outside)
    result, _ = deploy(outside, branch="pages", message="Publish v2")
    assert set(published(bare, "pages")) == {*SITE_FILES, ".nojekyll"}
    assert git("log", "-1", "--format=%s", "pages", cwd=bare) == "Publish v2"


def test_leaves_working_tree_index_and_branch_alone(site, work):
    def state():
        return (git("rev-parse", "HEAD", cwd=work), git("symbolic-ref", "HEAD", cwd=work),
                git("status", "--porcelain", cwd=work), git("ls-files", "--stage", cwd=work),
                git("diff", cwd=work), git("diff", "--cached", cwd=work), (work / "README.md").read_text())
    before = state()
    deploy(site)
    assert state() == before
    assert before[2].splitlines() == [" M README.md", "?? site/"]


def test_redeploy_adds_a_child_commit(site, bare):
    first, _ = deploy(site)
    (site / "index.html").write_bytes(b"<!doctype html><title>v2</title>")
    second, _ = deploy(site)
    assert second.changed and second.commit != first.commit
    assert git("rev-parse", f"{second.commit}^", cwd=bare) == first.commit
    assert git("rev-parse", "gh-pages", cwd=bare) == second.commit
    assert published(bare)["index.html"] == b"<!doctype html><title>v2</title>"


def test_unchanged_redeploy_makes_no_commit(site, bare):
    first, _ = deploy(site)
    second, out = deploy(site)
    assert not second.changed and second.commit == first.commit
    assert "nothing changed" in out.lower()
    assert git("rev-list", "--count", "gh-pages", cwd=bare) == "1"


def test_removed_files_disappear_from_the_branch(site, bare):
    deploy(site)
    (site / "runtime" / "engine.js").unlink()
    deploy(site)
    assert "runtime/engine.js" not in published(bare)


def test_builds_on_the_fetched_remote_branch_when_there_is_no_local_one(site, bare, work):
    first, _ = deploy(site)
    git("branch", "-D", "gh-pages", cwd=work)  # e.g. a fresh clone that fetched gh-pages
    git("fetch", "-q", "origin", "gh-pages:refs/remotes/origin/gh-pages", cwd=work)
    (site / "index.html").write_bytes(b"v3")
    second, _ = deploy(site)
    assert git("rev-parse", f"{second.commit}^", cwd=bare) == first.commit


def test_deploy_from_elsewhere_needs_a_fetch_then_builds_on_it(site, bare, work, tmp_path):
    deploy(site)
    other = tmp_path / "other"
    git("clone", "-q", "-b", "gh-pages", str(bare), str(other), cwd=tmp_path)
    (other / "index.html").write_text("from another machine")
    git("commit", "-q", "-am", "other deploy", cwd=other)
    git("push", "-q", "origin", "gh-pages", cwd=other)
    theirs = git("rev-parse", "HEAD", cwd=other)

    (site / "index.html").write_bytes(b"mine")
    with pytest.raises(SitegenError, match=r"git fetch origin gh-pages"):
        deploy(site)
    assert git("rev-parse", "gh-pages", cwd=bare) == theirs
    git("fetch", "-q", "origin", cwd=work)
    result, _ = deploy(site)  # the unpushed local commit is superseded; the push is a fast-forward
    assert git("rev-parse", f"{result.commit}^", cwd=bare) == theirs
    assert published(bare)["index.html"] == b"mine"


def test_refuses_a_file_over_100_mib_before_writing_anything(site, bare, work):
    sparse(site / "models" / "x" / "huge.bin", 101 * MiB)
    objects = git("count-objects", cwd=work)
    with pytest.raises(SitegenError) as err:
        deploy(site)
    assert "GitHub refuses files over 104.8576 MB; these are larger:\n  models/x/huge.bin (105.9 MB)" in str(err.value)
    assert "--shard-mb" in str(err.value)
    assert refs(bare) == "" and "gh-pages" not in refs(work)
    assert git("count-objects", cwd=work) == objects


def test_refuses_a_site_over_1_gib(site, bare, work):
    for i in range(11):  # 11 x 99 MiB: every file allowed, the site not
        sparse(site / "models" / "x" / f"big-{i}.bin", 99 * MiB)
    with pytest.raises(SitegenError) as err:
        deploy(site)
    assert "The site is 1.14 GB; GitHub Pages publishes at most 1 GB per site" in str(err.value)
    assert "--weights-url" in str(err.value)
    assert "--shard-mb" not in str(err.value)
    assert refs(bare) == "" and "gh-pages" not in refs(work)


def test_warns_about_files_over_50_mib(site, bare):
    sparse(site / "models" / "x" / "large.bin", 60 * MiB)
    result, out = deploy(site)
    assert "warning: models/x/large.bin is 62.9 MB; GitHub warns about files over 52.4288 MB" in out
    assert "models/x/large.bin" in published(bare)


def test_refuses_a_folder_that_is_not_a_sitegen_site(site):
    (site / MARKER).unlink()
    with pytest.raises(SitegenError, match="not a sitegen site.*sitegen build"):
        deploy(site)


def test_refuses_outside_a_git_repository(site, tmp_path, monkeypatch):
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.chdir(plain)
    with pytest.raises(SitegenError, match="not inside a git repository"):
        deploy(site)


def test_says_when_git_is_missing(site, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    with pytest.raises(SitegenError, match="git is not installed"):
        deploy(site)


def test_refuses_an_unknown_remote(site, bare):
    with pytest.raises(SitegenError, match="no remote 'upstream' .*origin"):
        deploy(site, remote="upstream")
    assert refs(bare) == ""


def test_refuses_a_bad_branch_name(site):
    with pytest.raises(SitegenError, match="not a valid branch name"):
        deploy(site, branch="bad..name")


def test_refuses_the_checked_out_branch(site, work):
    git("switch", "-q", "-c", "gh-pages", cwd=work)
    with pytest.raises(SitegenError, match="checked out in"):
        deploy(site)
    assert git("rev-parse", "HEAD", cwd=work) == git("rev-parse", "main", cwd=work)


def test_rejected_push_gives_git_error_and_keeps_the_local_commit(site, bare, work):
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'deploys are frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(SitegenError) as err:
        deploy(site)
    message = str(err.value)
    assert "Pushing gh-pages to origin failed" in message and "deploys are frozen" in message
    local = git("rev-parse", "gh-pages", cwd=work)
    assert f"{local[:12]} stays on your local branch gh-pages" in message
    assert refs(bare) == ""


def test_cli_deploys(site, bare):
    result = CliRunner().invoke(cli, ["deploy", "site", "--gh-pages", "-m", "from the CLI"])
    assert result.exit_code == 0, result.output
    assert "pushed to origin" in result.output
    assert git("log", "-1", "--format=%s", "gh-pages", cwd=bare) == "from the CLI"


def test_cli_needs_a_target(site, bare):
    result = CliRunner().invoke(cli, ["deploy", "site"])
    assert result.exit_code == 1
    assert "choose where to deploy: --gh-pages is the only target so far" in result.output
    assert refs(bare) == ""


def test_cli_reports_errors_without_traceback(site):
    (site / MARKER).unlink()
    result = CliRunner().invoke(cli, ["deploy", "site", "--gh-pages"])
    assert result.exit_code == 1
    assert "not a sitegen site" in result.output and "Traceback" not in result.output

"""tools/lib.sh's find_odoo when no Odoo 18.0 tree is found: the offer to clone one, ODOO_FETCH=1
and --yes, and the errors (no git, no network, a folder in the way). No database, no network: a
copy of lib.sh runs in a temporary repo/tools/ with a stub `git` first on the PATH."""

import os
import pty
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASH = shutil.which("bash")
URL = "https://example.invalid/odoo.git"
STUB_GIT = """#!/bin/bash
printf '%s\\n' "$@" >"$GIT_ARGS"
dest="${@: -1}"
mkdir -p "$dest/odoo"
if [ "${STUB_GIT_FAIL:-}" = 1 ]; then
    echo "fatal: unable to access '$6': Could not resolve host: github.com" >&2
    exit 128
fi
touch "$dest/odoo-bin"
echo "version_info = (18, 0, 0, FINAL, 0)" >"$dest/odoo/release.py"
"""
FIND = 'source tools/lib.sh; find_odoo; echo "ODOO_HOME=$ODOO_HOME"'


def fake_odoo(path, version="18, 0"):
    os.makedirs(os.path.join(path, "odoo"))
    open(os.path.join(path, "odoo-bin"), "w").close()
    with open(os.path.join(path, "odoo", "release.py"), "w") as f:
        f.write(f"version_info = ({version}, 0, FINAL, 0)\n")


@pytest.fixture
def box(tmp_path):
    """tmp/repo/tools/lib.sh, tmp/bin/git (the stub), and where the clone would go."""
    os.makedirs(tmp_path / "repo" / "tools")
    shutil.copy(os.path.join(REPO, "tools", "lib.sh"), tmp_path / "repo" / "tools")
    os.makedirs(tmp_path / "bin")
    git = tmp_path / "bin" / "git"
    git.write_text(STUB_GIT)
    git.chmod(0o755)
    return tmp_path


def run(box, script=FIND, stdin=subprocess.DEVNULL, path=None, **env):
    env = {
        "PATH": path or f"{box / 'bin'}:{os.environ['PATH']}",
        "HOME": str(box),
        "ODOO_SEARCH": "",  # not this machine's /opt/odoo18
        "ODOO_GIT_URL": URL,
        "GIT_ARGS": str(box / "git-args"),
        **env,
    }
    return subprocess.run(
        [BASH, "-c", script],
        cwd=box / "repo",
        env=env,
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=30,
    )


def git_args(box):
    path = box / "git-args"
    return path.read_text().split("\n")[:-1] if path.exists() else None


def test_odoo_fetch_clones_shallow_18(box):
    proc = run(box, ODOO_FETCH="1")
    assert proc.returncode == 0, proc.stderr
    dest = str(box / "odoo")
    assert git_args(box) == ["clone", "--branch", "18.0", "--depth", "1", URL, dest]
    assert proc.stdout == f"ODOO_HOME={dest}\n"


def test_yes_flag_is_stripped_and_means_odoo_fetch(box):
    script = 'source tools/lib.sh; strip_yes -k x --yes -x; echo "$ODOO_FETCH" "${ARGS[*]}"'
    proc = run(box, script)
    assert proc.stdout == "1 -k x -x\n", proc.stderr
    proc = run(box, 'source tools/lib.sh; strip_yes; echo "${ODOO_FETCH:-unset}" "${#ARGS[@]}"')
    assert proc.stdout == "unset 0\n", proc.stderr


def test_no_terminal_no_flag_says_how(box):
    proc = run(box)
    assert proc.returncode != 0
    assert "ODOO_HOME=" in proc.stderr and "ODOO_FETCH=1" in proc.stderr, proc.stderr
    assert git_args(box) is None
    assert not (box / "odoo").exists()


def test_network_failure_leaves_no_partial_folder(box):
    proc = run(box, ODOO_FETCH="1", STUB_GIT_FAIL="1")
    assert proc.returncode != 0
    assert "Could not resolve host" in proc.stderr  # git's own words
    assert "cloning https://example.invalid/odoo.git failed (no network?)" in proc.stderr
    assert "ODOO_HOME=" in proc.stderr
    assert git_args(box) is not None
    assert not (box / "odoo").exists()


def test_git_missing(box):
    """A PATH holding only what lib.sh needs besides git."""
    tools = box / "path"
    os.makedirs(tools)
    for name in ("dirname", "grep", "rm", "mkdir", "cat", "touch"):
        os.symlink(shutil.which(name), tools / name)
    proc = run(box, path=str(tools), ODOO_FETCH="1")
    assert proc.returncode != 0
    assert "git is not installed: sudo apt-get install git" in proc.stderr, proc.stderr
    assert "ODOO_HOME=" in proc.stderr
    assert not (box / "odoo").exists()


@pytest.mark.parametrize("version", [None, "17, 0"])
def test_folder_in_the_way_is_left_untouched(box, version):
    dest = box / "odoo"
    if version:
        fake_odoo(dest, version)
    else:
        os.makedirs(dest)
        (dest / "notes.txt").write_text("mine")
    before = sorted(p.relative_to(dest) for p in dest.rglob("*"))
    proc = run(box, ODOO_FETCH="1")
    assert proc.returncode != 0
    assert f"{dest} exists but is not an Odoo 18.0 source tree" in proc.stderr, proc.stderr
    assert git_args(box) is None
    assert sorted(p.relative_to(dest) for p in dest.rglob("*")) == before


def test_valid_odoo_home_skips_the_clone(box):
    fake_odoo(box / "elsewhere")
    proc = run(box, ODOO_HOME=str(box / "elsewhere"), ODOO_FETCH="1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"ODOO_HOME={box / 'elsewhere'}\n"
    assert git_args(box) is None


def test_invalid_odoo_home_is_an_error_not_a_clone(box):
    os.makedirs(box / "nothing")
    proc = run(box, ODOO_HOME=str(box / "nothing"), ODOO_FETCH="1")
    assert proc.returncode != 0
    assert f"ODOO_HOME={box / 'nothing'} is not an Odoo 18.0 source tree" in proc.stderr
    assert git_args(box) is None


@pytest.mark.parametrize("answer", ["y", "n", ""])
def test_terminal_prompt(box, answer):
    """stdin a pseudo-terminal: the question is asked, y clones, anything else does not."""
    master, slave = pty.openpty()
    try:
        os.write(master, answer.encode() + b"\n")
        proc = run(box, stdin=slave)
    finally:
        os.close(slave)
        os.close(master)
    assert "Clone Odoo 18.0 (shallow" in proc.stderr, proc.stderr
    assert f"into {box / 'odoo'} now? [y/N]" in proc.stderr
    assert "ODOO_HOME=" in proc.stderr  # how to use an existing tree instead
    if answer == "y":
        assert proc.returncode == 0, proc.stderr
        assert git_args(box)[:5] == ["clone", "--branch", "18.0", "--depth", "1"]
        assert proc.stdout == f"ODOO_HOME={box / 'odoo'}\n"
    else:
        assert proc.returncode != 0
        assert git_args(box) is None
        assert not (box / "odoo").exists()

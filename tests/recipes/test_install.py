"""Installing agent-vault and its SDKs as the README says, from a copy of this checkout.

* The two blocks of the README's Install section run verbatim with bash, with a temporary HOME, in a directory
  where ``git clone https://github.com/agent-vault/agent-vault`` is served from a copy of this checkout (a
  ``git`` stand-in on PATH passes every other command to the real git); the Go caches of this machine are
  used, so nothing is downloaded. The installed programs must report the copy's commit.
* The Python SDK's sdist and wheel are built (``python -m build``) and pass ``twine check --strict``, with the
  licence in their metadata.
* ``npm install`` of sdk/node from a copy with no node_modules and no dist (as in a fresh clone) builds the
  package, and both ``import`` and ``require`` load it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from actionrunner import go_env
from test_recipes import CLONE_URL, ROOT, clean_env, recipes, system_path

LICENSE = (ROOT / "LICENSE").read_text()


def tracked_copy(dest: Path, *paths: str) -> None:
    """Copy the tracked files of this checkout (as they are in the working tree) under ``paths`` to ``dest``."""
    files = subprocess.run(["git", "ls-files", "-z", "--", *paths], cwd=ROOT, capture_output=True, check=True).stdout
    for rel in files.decode().split("\0"):
        if rel and (ROOT / rel).exists():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel, follow_symlinks=False)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A repository holding this checkout's files, one commit; returns it and the commit."""
    src = tmp_path_factory.mktemp("install") / "agent-vault-source"
    src.mkdir()
    tracked_copy(src, ".")
    env = clean_env(GIT_CONFIG_GLOBAL="/dev/null", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid",
                    GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid")
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "copy of the checkout"]):
        subprocess.run(["git", *cmd], cwd=src, env=env, check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=src, env=env, capture_output=True, text=True, check=True).stdout.strip()
    return src, commit


def user_env(tmp_path: Path, source: Path) -> dict[str, str]:
    """A user's shell: temporary HOME, the git stand-in first on PATH, then Go and the system."""
    shims = tmp_path / "shims"
    shims.mkdir()
    real_git = shutil.which("git")
    (shims / "git").write_text(
        "#!/bin/bash\n"
        f'if [ "$1" = clone ] && [ "$2" = {CLONE_URL} ]; then exec {real_git} clone -q {source} "${{3:-agent-vault}}"; fi\n'
        f'exec {real_git} "$@"\n'
    )
    (shims / "git").chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    go_dir = str(Path(shutil.which("go") or "go").resolve().parent)
    return clean_env(HOME=str(home), PATH=os.pathsep.join([str(shims), go_dir, system_path()]), **go_env())


def run_block(block: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = cwd / "block.sh"
    script.write_text(block)
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900, check=False)


def test_readme_make_install(source: tuple[Path, str], tmp_path: Path) -> None:
    src, commit = source
    env = user_env(tmp_path, src)
    block = recipes()["install"]
    assert f"git clone {CLONE_URL}" in block
    res = run_block(block, tmp_path, env)
    assert res.returncode == 0, res.stdout + res.stderr
    home = Path(env["HOME"])
    bindir = home / ".local" / "bin"
    for program in ("agent-vault", "agent-vault-mcp"):
        out = subprocess.run([str(bindir / program), "--version"], capture_output=True, text=True, check=True, env=env).stdout
        assert out.startswith(f"{program} version dev\n"), out
        assert f"commit: {commit}\n" in out, out
        assert "built:  20" in out
    man = home / ".local" / "share" / "man" / "man1"
    assert (man / "agent-vault.1").is_file() and (man / "agent-vault-get.1").is_file() and (man / "agent-vault-mcp-config.1").is_file()
    share = home / ".local" / "share"
    assert "__start_agent-vault" in (share / "bash-completion" / "completions" / "agent-vault").read_text()
    assert (share / "zsh" / "site-functions" / "_agent-vault").is_file()
    assert (share / "fish" / "vendor_completions.d" / "agent-vault.fish").is_file()
    # agent-vault mcp finds the agent-vault-mcp installed beside it (a usage error of the server itself).
    mcp = subprocess.run([str(bindir / "agent-vault"), "mcp", "--pull-interval", "0"], capture_output=True, text=True, env=env, check=False)
    assert mcp.returncode == 2 and "--pull-interval must be positive" in mcp.stderr, mcp.stderr


def test_readme_go_install(source: tuple[Path, str], tmp_path: Path) -> None:
    src, _ = source
    env = user_env(tmp_path, src)
    subprocess.run(["git", "clone", CLONE_URL], cwd=tmp_path, env=env, check=True)
    gobin = tmp_path / "gobin"
    env["GOBIN"] = str(gobin)
    res = run_block(recipes()["install-go"], tmp_path, env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert sorted(p.name for p in gobin.iterdir()) == ["agent-vault", "agent-vault-mcp"]
    out = subprocess.run([str(gobin / "agent-vault"), "--version"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("agent-vault version ")


def test_python_sdist_and_wheel(tmp_path: Path) -> None:
    tracked_copy(tmp_path, "sdk/python")
    out = tmp_path / "dist"
    res = subprocess.run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(tmp_path / "sdk" / "python")],
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    built = sorted(p.name for p in out.iterdir())
    assert len(built) == 2 and {Path(b).suffix for b in built} == {".gz", ".whl"}, built
    res = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, out.iterdir())], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    with zipfile.ZipFile(next(out.glob("*.whl"))) as whl:
        names = whl.namelist()
        meta = whl.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        assert "agent_vault/py.typed" in names
        licence = next(n for n in names if n.endswith(".dist-info/licenses/LICENSE"))
        assert whl.read(licence).decode() == LICENSE
    assert "License-Expression: MIT" in meta and "License-File: LICENSE" in meta


def test_python_and_node_licence_files_match_the_repository() -> None:
    assert (ROOT / "sdk" / "python" / "LICENSE").read_text() == LICENSE
    assert (ROOT / "sdk" / "node" / "LICENSE").read_text() == LICENSE
    assert LICENSE.startswith("MIT License")
    assert json.loads((ROOT / "sdk" / "node" / "package.json").read_text())["license"] == "MIT"


def test_npm_install_from_a_checkout(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    tracked_copy(clone, "sdk/node")
    pkg = clone / "sdk" / "node"
    assert not (pkg / "dist").exists() and not (pkg / "node_modules").exists()
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text('{"name": "app", "version": "1.0.0", "private": true}\n')
    env = clean_env(HOME=str(tmp_path / "home"), npm_config_cache=str(Path.home() / ".npm"))
    res = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", str(pkg)], cwd=app, env=env,
                         capture_output=True, text=True, timeout=900, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (pkg / "dist" / "src" / "index.js").is_file() and (pkg / "dist" / "src" / "index.d.ts").is_file()
    esm = subprocess.run(["node", "--input-type=module", "-e",
                          'import { Vault, IntegrityError } from "agent-vault"; console.log(typeof Vault, typeof IntegrityError)'],
                         cwd=app, env=env, capture_output=True, text=True, check=False)
    assert (esm.returncode, esm.stdout, esm.stderr) == (0, "function function\n", ""), esm
    cjs = subprocess.run(["node", "-e",
                          'const av = require("agent-vault"); console.log(typeof av.Vault, typeof av.IntegrityError)'],
                         cwd=app, env=env, capture_output=True, text=True, check=False)
    assert (cjs.returncode, cjs.stdout, cjs.stderr) == (0, "function function\n", ""), cjs

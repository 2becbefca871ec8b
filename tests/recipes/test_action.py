"""The GitHub Action of this repository (action.yml), its steps run on this machine against a real vault.

The install step really builds agent-vault from this checkout (with this machine's Go, which is the version
setup-go would install); the export step reads a vault made by the CLI with an agent key, as a job would.
``$GITHUB_ENV``, ``$GITHUB_PATH`` and ``$GITHUB_OUTPUT`` are real files, consumed as the runner consumes them,
and the runner's log masking is emulated from the ``::add-mask::`` commands (see actionrunner.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from actionrunner import Runner, StepRun, action, run_action
from test_recipes import VALUE, Project, agent_vault_bin, clean_env, masked_log, project, system_path  # noqa: F401

MULTILINE = "-----BEGIN KEY-----\nline%0Atwo\n-----END KEY-----"


@pytest.fixture(scope="module")
def vault(project: Project) -> Project:  # noqa: F811
    """The recipes' project plus a multi-line secret for ci, and a secret nobody but the owner reads."""
    env = clean_env(HOME=str(project.owner_home), GIT_CONFIG_GLOBAL=str(project.gitcfg))
    for path, value in (("stripe/pem", MULTILINE), ("ops/root", "owner-only-value")):
        subprocess.run([str(agent_vault_bin()), "set", path], input=value.encode(), cwd=project.repo, env=env,
                       check=True, capture_output=True)
    return project


def job(tmp_path: Path, vault: Project) -> Runner:
    r = Runner(tmp_path / "work" / "project", tmp_path / "temp", tmp_path / "home")
    r.workspace.parent.mkdir(parents=True)
    subprocess.run(["git", "clone", "-q", str(vault.repo), str(r.workspace)], check=True, env=clean_env(HOME=str(tmp_path)))
    r.setup()
    return r


def later_step(r: Runner, script: str) -> StepRun:
    run, _ = r.run_bash("later step", script, r.base_env(system_path()), r.workspace)
    return run


def test_action_metadata() -> None:
    doc = action()
    assert doc["runs"]["using"] == "composite"
    assert set(doc["inputs"]) == {"secrets", "key", "repo", "setup-go"}
    assert set(doc["outputs"]) == {"path", "version", "exported"}
    export = next(s for s in doc["runs"]["steps"] if s.get("id") == "export")
    assert export["env"]["AGENT_VAULT_KEY"] == "${{ inputs.key }}", "the key reaches the export step only"
    for s in doc["runs"]["steps"]:
        assert "AGENT_VAULT_KEY" not in str(s.get("run", "")), "never on a command line"
        if s.get("id") != "export":
            assert "AGENT_VAULT_KEY" not in (s.get("env") or {})


def test_installs_and_exports_masked_secrets(vault: Project, tmp_path: Path) -> None:
    r = job(tmp_path, vault)
    results, outputs = run_action(r, {
        "key": vault.key("ci"),
        "secrets": "STRIPE_API_KEY=stripe/api-key\n  PEM = stripe/pem \n# a comment\n\n",
    }, system_path())
    assert [x.returncode for x in results] == [0, 0, 0], results
    # Installed from this checkout, on PATH for later steps, with its version.
    assert outputs["path"] == str(r.runner_temp / "agent-vault" / "bin" / "agent-vault")
    assert Path(outputs["path"]).is_file() and (Path(outputs["path"]).parent / "agent-vault-mcp").is_file()
    assert str(Path(outputs["path"]).parent) in r.paths
    assert outputs["version"] == "dev"
    assert outputs["exported"] == "STRIPE_API_KEY PEM"
    # Every line of every value is masked before anything else could print it.
    out = results[-1].stdout
    masks = [line for line in out.splitlines() if line.startswith("::add-mask::")]
    assert f"::add-mask::{VALUE}" in masks
    assert "::add-mask::line%250Atwo" in masks, "workflow-command data is escaped ('%' as %25)"
    assert "::add-mask::-----BEGIN KEY-----" in masks
    assert any(m.startswith("::add-mask::AGE-SECRET-KEY-1") for m in masks), "the key line is masked too"
    log = masked_log(results)
    assert VALUE not in log and "line%0Atwo" not in log
    assert "AGE-SECRET-KEY-1" not in log
    # Later steps see the values; the key is not exported to them.
    assert r.added_env["STRIPE_API_KEY"] == VALUE
    assert r.added_env["PEM"] == MULTILINE
    assert "AGENT_VAULT_KEY" not in r.added_env
    check = later_step(r, 'test "$STRIPE_API_KEY" = "$EXPECTED" && test -z "${AGENT_VAULT_KEY:-}" && agent-vault --version | head -1'.replace(
        "$EXPECTED", VALUE))
    assert check.returncode == 0, check
    assert check.stdout.startswith("agent-vault version dev")


def test_install_only(vault: Project, tmp_path: Path) -> None:
    r = job(tmp_path, vault)
    results, outputs = run_action(r, {}, system_path())
    assert [x.name for x in results] == ["Set up Go", "Install agent-vault"]
    assert outputs["exported"] == "" and Path(outputs["path"]).is_file()
    assert later_step(r, "agent-vault --version").returncode == 0


@pytest.mark.parametrize(
    ("case", "with_", "code", "message"),
    [
        ("no key", {"secrets": "A=stripe/api-key"}, 3, "no agent key: pass the key input"),
        ("not granted", {"secrets": "A=stripe/api-key", "key": "intruder"}, 5, "cannot read stripe/api-key for A"),
        ("no such secret", {"secrets": "A=stripe/api-key\nB=stripe/api-kye", "key": "ci"}, 4, "did you mean stripe/api-key?"),
        ("owner-only secret", {"secrets": "A=stripe/api-key\nB=ops/root", "key": "ci"}, 5, "cannot read ops/root for B"),
        ("bad name", {"secrets": "1A=stripe/api-key", "key": "ci"}, 2, "is not a valid environment variable name"),
        ("reserved name", {"secrets": "GITHUB_TOKEN=stripe/api-key", "key": "ci"}, 2, "may not be set by this action"),
        ("no path", {"secrets": "A=", "key": "ci"}, 2, "no secret path for A"),
        ("not NAME=PATH", {"secrets": "stripe/api-key", "key": "ci"}, 2, "is not NAME=PATH"),
    ],
)
def test_a_failed_read_exports_nothing(vault: Project, tmp_path: Path, case: str, with_: dict[str, str], code: int, message: str) -> None:
    r = job(tmp_path, vault)
    if "key" in with_:
        with_ = dict(with_, key=vault.key(with_["key"]))
    results, outputs = run_action(r, with_, system_path())
    assert results[-1].name == "Export secrets" and results[-1].returncode == code, results[-1]
    assert message in results[-1].stdout + results[-1].stderr
    assert "::error title=agent-vault::" in results[-1].stdout
    assert r.added_env == {}, "nothing is exported when a read fails"
    assert (r.runner_temp / "github_env").read_text() == ""
    assert VALUE not in masked_log(results) and "owner-only-value" not in results[-1].stdout + results[-1].stderr
    assert outputs["exported"] == ""

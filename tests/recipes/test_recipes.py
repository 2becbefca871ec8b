"""The Docker and GitHub Actions recipes of README.md, extracted from the README and run as far as this machine allows.

Each recipe block in README.md is preceded by ``<!-- recipe: NAME -->``; the tests below read those blocks, so the
README cannot drift from what is tested. What runs, and what stands in for what cannot run here:

Docker (no Docker engine runs where these tests run, so **no image is built**):
  * The Dockerfile is checked statically: multi-stage, ``go install`` of the real main package of this module in a
    build stage only, the binary copied from that stage, no key file copied, no ARG/ENV holding a key, a non-root
    user, and the entrypoint it installs is the ``docker-entrypoint.sh`` block.
  * The build context is emulated: a project made by the CLI, with stray key files lying around, is copied through
    the ``.dockerignore`` block (Docker's matching rules for the patterns it uses) into the image's ``/app``.
  * The ``docker-run`` block runs with bash, as written, with a stand-in ``docker`` on PATH: ``build`` is a no-op,
    ``run`` starts the ``docker-entrypoint.sh`` block with ``/bin/sh`` in the emulated ``/app`` (WORKDIR), with
    only the environment ``docker run`` would pass (each ``-e NAME`` from the caller's environment), the CLI under
    test on PATH in place of ``/usr/local/bin/agent-vault``, and the Dockerfile's CMD, whose ``/app/...`` program
    is a stand-in application of the test project that reports what it received (a hash of the value, never the
    value). The stand-in records every ``docker`` command line, so the test checks that no key was on one.

GitHub Actions (**the workflow does not run on GitHub** here):
  * The workflow is parsed with PyYAML and its structure checked.
  * Its steps run in order, in a temporary workspace, with the environment the workflow declares plus the
    variables a runner sets (GITHUB_WORKSPACE, GITHUB_ENV, GITHUB_PATH, RUNNER_TEMP, ...), as real files.
    ``${{ secrets.X }}`` is replaced by test values: AGENT_VAULT_KEY is an agent key made by the CLI for a local
    vault. ``run:`` steps are executed with ``bash --noprofile --norc -eo pipefail`` as GitHub does;
    ``actions/checkout`` is emulated by a ``git clone`` of the test project, and this repository's action
    (``agent-vault/agent-vault@REF``) runs its own steps from action.yml (see actionrunner.py: its install step
    really builds agent-vault from this checkout).
  * The runner's log masking is emulated from the ``::add-mask::`` commands the steps print, and the test checks
    that the value never reaches the log unmasked.

Docker's build stage clones this repository and installs the CLI with ``go install ./cmd/agent-vault``: the test
checks the URL and the package statically; tests/recipes/test_install.py runs the same kind of install in a copy
of this checkout.

A missing ``$AGENT_VAULT_BIN`` fails every test here (run them with ``make test-recipes``); nothing is skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from actionrunner import EXPR, Runner, StepRun, run_action

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
VALUE = "sk_test_recipe_51HqLyjWDarjtT1zdp7dc"
EXPECTED_IMPORT = "github.com/agent-vault/agent-vault/cmd/agent-vault"


# -- extraction --------------------------------------------------------------------------------------------------


def recipes() -> dict[str, str]:
    """NAME -> content of the fenced block that follows ``<!-- recipe: NAME -->`` in README.md."""
    text = README.read_text(encoding="utf-8")
    found = re.findall(r"<!-- recipe: (\S+) -->\n```[^\n]*\n(.*?)^```$", text, re.DOTALL | re.MULTILINE)
    out: dict[str, str] = {}
    for name, body in found:
        assert name not in out, f"recipe {name} appears twice in README.md"
        out[name] = body
    return out


def test_readme_has_every_recipe() -> None:
    assert sorted(recipes()) == sorted(["install", "install-go", "Dockerfile", "docker-entrypoint.sh", ".dockerignore", "docker-run", "github-actions"])


# -- fixtures: the CLI and a project made with it ----------------------------------------------------------------


def agent_vault_bin() -> Path:
    value = os.environ.get("AGENT_VAULT_BIN", "")
    if not value or not os.access(value, os.X_OK):
        pytest.fail(
            f"AGENT_VAULT_BIN={value!r} is not an executable agent-vault binary; run `make test-recipes`.",
            pytrace=False,
        )
    return Path(value).resolve()


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without agent-vault or Git variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_VAULT_", "GIT_"))}
    env.update(GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
    env.update(extra)
    return env


def system_path() -> str:
    """PATH without any directory that holds an ``agent-vault`` or ``docker`` command, so that the recipes find
    only what the test puts there."""
    dirs = [d for d in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep) if d]
    keep = [d for d in dirs if not any(os.path.exists(os.path.join(d, c)) for c in ("agent-vault", "docker", "go"))]
    for d in ("/usr/bin", "/bin"):
        if d not in keep:
            keep.append(d)
    return os.pathsep.join(keep)


@dataclass
class Project:
    """A project repository with a vault, made by the CLI as its owner (whose HOME is ``owner_home``)."""

    repo: Path
    owner_home: Path
    gitcfg: Path

    def key(self, agent: str) -> str:
        return (self.owner_home / ".agent-vault" / "agents" / f"{agent}.key").read_text()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The project: ``.agent-vault/`` with ``stripe/api-key`` readable by agents ``my-app`` and ``ci`` (``intruder``
    is granted nothing), a stand-in ``deploy.sh`` and ``bin/server`` that report what they receive, committed."""
    bin_ = agent_vault_bin()
    base = tmp_path_factory.mktemp("recipes")
    p = Project(base / "project", base / "owner-home", base / "gitconfig")
    p.owner_home.mkdir()
    p.gitcfg.write_text(
        "[user]\n\tname = Vault Owner\n\temail = owner@example.invalid\n[init]\n\tdefaultBranch = main\n"
        "[commit]\n\tgpgsign = false\n"
    )
    env = clean_env(HOME=str(p.owner_home), GIT_CONFIG_GLOBAL=str(p.gitcfg))

    def cli(*args: str, stdin: bytes = b"") -> None:
        subprocess.run([str(bin_), *args], input=stdin, cwd=p.repo, env=env, check=True, capture_output=True)

    p.repo.mkdir()
    cli("init")
    for agent in ("my-app", "ci", "intruder"):
        cli("add-agent", agent)
    cli("set", "stripe/api-key", stdin=VALUE.encode())
    cli("grant", "my-app", "stripe")
    cli("grant", "ci", "stripe")
    # The stand-in application: reports a hash of the value it got and whether it can see the key.
    report = (
        f"#!{sys.executable}\n"
        "import hashlib, json, os, sys\n"
        "v = os.environ.get('STRIPE_API_KEY')\n"
        "json.dump({'argv0': os.path.basename(sys.argv[0]),\n"
        "           'value_sha256': v and hashlib.sha256(v.encode()).hexdigest(),\n"
        "           'sees_key': 'AGENT_VAULT_KEY' in os.environ},\n"
        "          open(os.environ.get('REPORT') or os.path.join(os.environ['RUNNER_TEMP'], 'report.json'), 'w'))\n"
    )
    for rel in ("deploy.sh", "bin/server"):
        f = p.repo / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(report)
        f.chmod(0o755)
    subprocess.run(["git", "add", "deploy.sh", "bin/server"], cwd=p.repo, env=env, check=True)
    subprocess.run(["git", "commit", "-qm", "app"], cwd=p.repo, env=env, check=True)
    return p


CLONE_URL = "https://" + EXPECTED_IMPORT.removesuffix("/cmd/agent-vault")


def check_clone_and_install(text: str) -> None:
    """``text`` clones this repository from its canonical URL and installs the CLI's main package from the clone
    with ``go install ./cmd/agent-vault`` (no ``module@version``: the module is installed from its source)."""
    m = re.search(r"\bgit clone (?:--depth 1 )?(\S+) (\S+)\s*&&\s*cd (\S+)\s*&&\s*CGO_ENABLED=0 go install (\S+)", text)
    assert m, f"expected git clone URL DIR && cd DIR && CGO_ENABLED=0 go install PKG in {text!r}"
    url, dest, cd, pkg = m.groups()
    assert url == CLONE_URL, url
    assert cd == dest, "go install runs in the clone"
    assert pkg == "./cmd/agent-vault"
    listed = subprocess.run(
        ["go", "list", "-f", "{{.Name}} {{.ImportPath}}", pkg],
        cwd=ROOT, capture_output=True, text=True, check=True, env=clean_env(),
    ).stdout.split()
    assert listed == ["main", EXPECTED_IMPORT], f"{pkg} is not this module's CLI ({listed})"
    module = re.search(r"^module (\S+)", (ROOT / "go.mod").read_text(), re.MULTILINE).group(1)  # type: ignore[union-attr]
    assert url == "https://" + module, "the clone URL is the module's repository"


# -- Docker ------------------------------------------------------------------------------------------------------


@dataclass
class Instr:
    op: str
    args: str


def dockerfile_stages(text: str) -> list[list[Instr]]:
    """The instructions of each stage (continuation lines joined, comments dropped)."""
    logical: list[str] = []
    cur = ""
    for line in text.splitlines():
        if not cur and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        logical.append(cur + line)
        cur = ""
    assert not cur, "dangling line continuation"
    stages: list[list[Instr]] = []
    for line in logical:
        op, _, args = line.strip().partition(" ")
        if op.upper() == "FROM":
            stages.append([])
        assert stages, "the Dockerfile must start with FROM"
        stages[-1].append(Instr(op.upper(), args.strip()))
    return stages


KEYISH = re.compile(r"KEY|SECRET|TOKEN|PASSW|AGE-SECRET-KEY", re.IGNORECASE)


def test_dockerfile_is_multi_stage_and_bakes_no_key() -> None:
    r = recipes()
    text = r["Dockerfile"]
    assert "AGE-SECRET-KEY" not in text and "AGENT_VAULT_KEY" not in text
    stages = dockerfile_stages(text)
    assert len(stages) >= 2, "multi-stage: a build stage and a runtime stage"
    names = {}
    for i, st in enumerate(stages):
        m = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", st[0].args, re.IGNORECASE)
        assert m, st[0].args
        if m.group(2):
            names[m.group(2)] = i
    build, final = stages[:-1], stages[-1]

    # The CLI is installed with go install in a build stage, and only there.
    build_runs = " ".join(ins.args for st in build for ins in st if ins.op == "RUN")
    check_clone_and_install(build_runs)
    assert any(ins.args.startswith("golang:") for st in build for ins in st if ins.op == "FROM")
    assert not any("go install" in ins.args for ins in final if ins.op == "RUN")

    # The runtime stage copies the binary from the build stage (GOPATH is /go in the golang images).
    from_copies = [ins.args for ins in final if ins.op == "COPY" and "--from=" in ins.args]
    assert any(
        re.search(r"--from=(\S+)\s+/go/bin/agent-vault\s+/usr/local/bin/agent-vault$", a)
        and names.get(re.search(r"--from=(\S+)", a).group(1), len(stages)) < len(stages) - 1  # type: ignore[union-attr]
        for a in from_copies
    ), from_copies

    for st in stages:
        for ins in st:
            # No ARG or ENV names or holds anything like a key (build args end up in the image history).
            if ins.op in ("ARG", "ENV", "LABEL"):
                assert not KEYISH.search(ins.args), f"{ins.op} {ins.args}"
            # Nothing copied or added from the context is a key file or an agent-vault home.
            if ins.op in ("COPY", "ADD"):
                srcs = [w for w in shlex.split(ins.args) if not w.startswith("--")][:-1]
                for s in srcs:
                    assert not re.search(r"\.key$|\.pem$|(^|/)\.agent-vault/?$|agents/", s), f"{ins.op} {s}"
            if ins.op == "RUN":
                assert "--mount=type=secret" not in ins.args and not KEYISH.search(ins.args.replace("ca-certificates", ""))

    # A non-root user runs the entrypoint, which is the tested docker-entrypoint.sh.
    users = [ins.args for ins in final if ins.op == "USER"]
    assert users and users[-1] not in ("root", "0"), users
    entry = [ins.args for ins in final if ins.op == "ENTRYPOINT"]
    assert len(entry) == 1
    entry_argv = json.loads(entry[0])
    assert isinstance(entry_argv, list) and len(entry_argv) == 1, "exec form, so that signals reach the app"
    copies = [ins.args for ins in final if ins.op == "COPY" and "docker-entrypoint.sh" in ins.args]
    assert len(copies) == 1 and shlex.split(copies[0])[-1] == entry_argv[0], copies
    if any("--chmod" in ins.args for ins in final):
        assert text.startswith("# syntax=docker/dockerfile:1"), "COPY --chmod needs the BuildKit syntax directive"
    workdirs = [ins.args for ins in final if ins.op == "WORKDIR"]
    assert workdirs == ["/app"]
    cmd = [ins.args for ins in final if ins.op == "CMD"]
    assert len(cmd) == 1 and json.loads(cmd[0])[0].startswith("/app/")


def dockerignore_matcher(patterns: list[str]) -> Any:
    """Docker's .dockerignore rules, for the syntax the recipe uses: patterns are relative to the context root;
    ``*`` and ``?`` do not cross ``/``; ``**`` matches any number of directories; a pattern that matches a
    directory excludes what is below it; ``!`` re-includes; the last matching pattern wins."""
    rules: list[tuple[bool, re.Pattern[str]]] = []
    for raw in patterns:
        pat = raw.strip()
        if not pat or pat.startswith("#"):
            continue
        neg = pat.startswith("!")
        pat = pat[1:].strip().strip("/") if neg else pat.strip("/")
        rx = ""
        i = 0
        while i < len(pat):
            if pat.startswith("**/", i):
                rx += "(?:.*/)?"
                i += 3
            elif pat.startswith("**", i):
                rx += ".*"
                i += 2
            elif pat[i] == "*":
                rx += "[^/]*"
                i += 1
            elif pat[i] == "?":
                rx += "[^/]"
                i += 1
            else:
                rx += re.escape(pat[i])
                i += 1
        rules.append((neg, re.compile(rx + "(?:/.*)?")))

    def excluded(rel: str) -> bool:
        out = False
        for neg, rx in rules:
            if rx.fullmatch(rel):
                out = not neg
        return out

    return excluded


def build_context_copy(context: Path, dest: Path, dockerignore: str) -> list[str]:
    """Copy ``context`` to ``dest`` leaving out what ``.dockerignore`` excludes; return the excluded paths."""
    excluded = dockerignore_matcher(dockerignore.splitlines())
    left_out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(context):
        rel_dir = os.path.relpath(dirpath, context)
        for name in filenames:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if excluded(rel):
                left_out.append(rel)
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.join(dirpath, name), target, follow_symlinks=False)
        for d in list(dirnames):
            rel = os.path.normpath(os.path.join(rel_dir, d))
            # Docker still walks an excluded directory when a ! pattern may re-include something in it; the
            # patterns used here only re-include inside .agent-vault, which is never excluded as a whole.
            if excluded(rel) and not rel.startswith(".agent-vault"):
                dirnames.remove(d)
                left_out.append(rel + "/")
    return left_out


@dataclass
class Image:
    """The emulated image: /app (WORKDIR), /usr/local/bin and the app user's HOME, as directories here."""

    app: Path
    usr_local_bin: Path
    home: Path
    entrypoint: Path
    cmd: list[str]

    def env(self, **extra: str) -> dict[str, str]:
        return {"PATH": f"{self.usr_local_bin}:/usr/bin:/bin", "HOME": str(self.home), **extra}

    def host_argv(self, argv: list[str]) -> list[str]:
        """Map image paths (/app/...) in a command to the emulated directories."""
        return [str(self.app / a[len("/app/"):]) if a.startswith("/app/") else a for a in argv]


@pytest.fixture()
def image(project: Project, tmp_path: Path) -> Image:
    """The build context (the project, plus key files a developer left lying around, the Dockerfile, the
    entrypoint and the .dockerignore of the README) copied into an emulated image."""
    r = recipes()
    context = tmp_path / "context"
    shutil.copytree(project.repo, context, symlinks=True)
    (context / "Dockerfile").write_text(r["Dockerfile"])
    (context / "docker-entrypoint.sh").write_text(r["docker-entrypoint.sh"])
    (context / ".dockerignore").write_text(r[".dockerignore"])
    # Stray key material in the project directory must stay out of the image.
    (context / "owner.key").write_text(project.key("my-app"))
    (context / "deploy" / "keys").mkdir(parents=True)
    (context / "deploy" / "keys" / "my-app.key").write_text(project.key("my-app"))
    (context / "tls.pem").write_text("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n")
    (context / ".env").write_text("AGENT_VAULT_KEY=...\n")

    root = tmp_path / "image"
    img = Image(root / "app", root / "usr-local-bin", root / "home-app", root / "usr-local-bin" / "docker-entrypoint.sh", [])
    left_out = build_context_copy(context, img.app, r[".dockerignore"])
    assert {"owner.key", "deploy/keys/my-app.key", "tls.pem", ".env", ".git/"} <= set(left_out), left_out
    assert not any(left.startswith(".agent-vault/") for left in left_out), left_out
    assert not list(img.app.rglob("*.key")) or all("public.key" in p.name for p in img.app.rglob("*.key"))
    for agent in ("my-app", "ci", "intruder"):
        assert (img.app / ".agent-vault" / "agents" / agent / "public.key").is_file()

    # COPY --from=build /go/bin/agent-vault /usr/local/bin/agent-vault; COPY --chmod=0755 docker-entrypoint.sh ...
    img.usr_local_bin.mkdir(parents=True)
    (img.usr_local_bin / "agent-vault").symlink_to(agent_vault_bin())
    shutil.copy(img.app / "docker-entrypoint.sh", img.entrypoint)  # from the filtered context, as COPY does
    img.entrypoint.chmod(0o755)
    img.home.mkdir()
    final = dockerfile_stages(r["Dockerfile"])[-1]
    img.cmd = json.loads(next(ins.args for ins in final if ins.op == "CMD"))
    return img


FAKE_DOCKER = r'''#!{python}
"""Stand-in for the docker CLI (see the test module docstring)."""
import json, os, subprocess, sys
cfg = json.load(open({config!r}))
args = sys.argv[1:]
with open(cfg["log"], "a") as log:
    log.write(json.dumps(args) + "\n")
if args[:1] == ["build"]:
    sys.exit(0)
if args[:1] != ["run"]:
    sys.exit("docker stand-in: only build and run are emulated")
env = dict(cfg["env"])
rest = args[1:]
image = None
while rest:
    a = rest.pop(0)
    if a == "--rm":
        continue
    if a in ("-e", "--env"):
        spec = rest.pop(0)
        name, eq, value = spec.partition("=")
        if eq:
            env[name] = value
        elif name in os.environ:
            env[name] = os.environ[name]
        continue
    if a.startswith("-"):
        sys.exit("docker stand-in: unexpected option " + a)
    image = a
    break
if image != cfg["image"]:
    sys.exit("docker stand-in: unknown image %r" % image)
cmd = rest or cfg["cmd"]
sys.exit(subprocess.run([cfg["entrypoint"]] + cmd, cwd=cfg["workdir"], env=env).returncode)
'''


def test_docker_run_starts_the_app_with_the_value_and_without_the_key(image: Image, project: Project, tmp_path: Path) -> None:
    run_block = recipes()["docker-run"]
    built = re.search(r"docker build -t (\S+) \.", run_block)
    assert built, "docker build -t NAME ."
    assert "--build-arg" not in run_block and "--secret" not in run_block
    assert re.search(r"docker run .*-e AGENT_VAULT_KEY(\s|$)", run_block), "the key is passed by name, not by value"

    # The operator's machine: the owner's key files, and a docker that runs the emulated image.
    report = tmp_path / "report.json"
    fake = tmp_path / "fake-bin"
    fake.mkdir()
    config = tmp_path / "docker.json"
    config.write_text(json.dumps({
        "log": str(tmp_path / "docker.log"),
        "image": built.group(1),
        "env": image.env(REPORT=str(report)),  # REPORT: where the stand-in application writes its report
        "entrypoint": str(image.entrypoint),
        "cmd": image.host_argv(image.cmd),
        "workdir": str(image.app),
    }))
    (fake / "docker").write_text(FAKE_DOCKER.replace("{python}", sys.executable).replace("{config!r}", repr(str(config))))
    (fake / "docker").chmod(0o755)
    script = tmp_path / "docker-run.sh"
    script.write_text(run_block)
    res = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=tmp_path,
        env={"PATH": f"{fake}:{system_path()}", "HOME": str(project.owner_home), "LC_ALL": "C"},
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert res.returncode == 0, res.stderr
    got = json.loads(report.read_text())
    assert got == {"argv0": "server", "value_sha256": hashlib.sha256(VALUE.encode()).hexdigest(), "sees_key": False}
    assert VALUE not in res.stdout + res.stderr
    # No docker command line carried the key or a value.
    for line in (tmp_path / "docker.log").read_text().splitlines():
        argv = json.loads(line)
        assert not any("AGE-SECRET-KEY" in a or VALUE in a for a in argv), argv
    # The container's own home got the high-water mark; the operator's key was pinned (no trust on first use).
    assert list((image.home / ".agent-vault" / "state").glob("*.json"))
    assert not (image.home / ".agent-vault" / "known_vaults").exists()


@pytest.mark.parametrize(
    ("case", "code"),
    [("no key", 3), ("empty key", 3), ("agent not granted", 5), ("tampered vault", 6)],
)
def test_entrypoint_stops_before_the_app_when_a_read_fails(image: Image, project: Project, tmp_path: Path, case: str, code: int) -> None:
    report = tmp_path / "report.json"
    env = image.env(REPORT=str(report))
    if case == "empty key":
        env["AGENT_VAULT_KEY"] = ""
    elif case == "agent not granted":
        env["AGENT_VAULT_KEY"] = project.key("intruder")
    elif case == "tampered vault":
        env["AGENT_VAULT_KEY"] = project.key("my-app")
        enc = image.app / ".agent-vault" / "secrets" / "stripe" / "api-key.enc"
        enc.write_bytes(enc.read_bytes()[:-1] + b"\x00")
    res = subprocess.run(
        [str(image.entrypoint), *image.host_argv(image.cmd)],
        cwd=image.app, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert res.returncode == code, (res.returncode, res.stderr)
    assert not report.exists(), "the application must not start"
    assert res.stdout == "" and VALUE not in res.stderr
    if case in ("no key", "empty key"):
        assert "AGENT_VAULT_KEY is not set" in res.stderr


def test_entrypoint_is_posix_sh() -> None:
    script = recipes()["docker-entrypoint.sh"]
    assert script.startswith("#!/bin/sh\n")
    assert "set -eu" in script and 'exec "$@"' in script and "unset AGENT_VAULT_KEY" in script
    # export NAME="$(...)" would hide a failed read behind export's own status.
    assert not re.search(r"export \w+=\"?\$\(", script)
    subprocess.run(["sh", "-n"], input=script, text=True, check=True)


# -- GitHub Actions ----------------------------------------------------------------------------------------------


def workflow() -> dict[Any, Any]:  # not every key is a string: YAML 1.1 reads a bare `on` as True
    wf = yaml.safe_load(recipes()["github-actions"])
    assert isinstance(wf, dict)
    return wf


def test_workflow_structure() -> None:
    wf = workflow()
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` key as the boolean true
    assert on, "the workflow has triggers"
    assert wf.get("permissions") == {"contents": "read"}, "least privilege for the token"
    assert "AGENT_VAULT_KEY" not in (wf.get("env") or {}), "the key is given to the step that needs it only"
    (job,) = wf["jobs"].values()
    assert "AGENT_VAULT_KEY" not in (job.get("env") or {})
    assert str(job["runs-on"]).startswith("ubuntu-")
    steps = job["steps"]
    checkout = [s for s in steps if str(s.get("uses", "")).startswith("actions/checkout@v")]
    ours = [s for s in steps if str(s.get("uses", "")).split("@")[0] == "agent-vault/agent-vault"]
    assert len(checkout) == 1 and len(ours) == 1, "checkout, then this repository's action"
    action_step = ours[0]
    assert "@" in action_step["uses"] and action_step["uses"].split("@")[1], "the action is pinned to a ref"
    with_ = action_step.get("with") or {}
    assert with_.get("key") == "${{ secrets.AGENT_VAULT_KEY }}", "the key comes from a secret, as an input"
    assert "STRIPE_API_KEY=stripe/api-key" in str(with_.get("secrets", "")).splitlines()
    for st in steps:
        assert "AGENT_VAULT_KEY" not in (st.get("env") or {}), st
        assert "set -x" not in str(st.get("run", "")), "tracing would print values"
        assert "agent-vault get" not in str(st.get("run", "")), "the action reads and masks the values"
    users = [st for st in steps if "run" in st]
    assert users and steps.index(checkout[0]) < steps.index(action_step) < min(steps.index(u) for u in users)


def run_workflow(project: Project, tmp_path: Path, secrets: dict[str, str]) -> tuple[list[StepRun], Runner]:
    """Run the README's workflow as a runner would (see the module docstring); return each step's outcome and the
    runner's state."""
    wf = workflow()
    (job,) = wf["jobs"].values()
    runner = Runner(tmp_path / "runner" / "work" / "project", tmp_path / "runner" / "temp", tmp_path / "runner" / "home")
    runner.workspace.parent.mkdir(parents=True)
    runner.setup()
    runner.workspace.rmdir()

    def expand(value: Any) -> str:
        def sub(m: re.Match[str]) -> str:
            expr = m.group(1)
            sm = re.fullmatch(r"secrets\.([A-Za-z_][A-Za-z0-9_]*)", expr)
            assert sm, f"the test emulates only ${{{{ secrets.X }}}} expressions, not {expr!r}"
            return secrets.get(sm.group(1), "")  # GitHub gives "" for a secret that is not set

        return EXPR.sub(sub, str(value))

    results: list[StepRun] = []
    for i, step in enumerate(job["steps"]):
        name = step.get("name") or step.get("uses") or f"step {i}"
        assert "if" not in step, "conditions are not emulated"
        if "uses" in step:
            action = step["uses"].split("@")[0]
            with_ = {k: expand(v) for k, v in (step.get("with") or {}).items()}
            if action == "actions/checkout":
                assert "repository" not in with_, "the test emulates the checkout of this repository only"
                dest = runner.workspace / with_.get("path", "")
                subprocess.run(["git", "clone", "-q", str(project.repo), str(dest)], check=True, env=clean_env(HOME=str(runner.home)))
                results.append(StepRun(name, 0, "", ""))
            elif action == "agent-vault/agent-vault":
                runs, _ = run_action(runner, with_, system_path())
                results.extend(runs)
                if runs[-1].returncode != 0:
                    break
            else:
                raise AssertionError(f"action {action} is not emulated by this test")
            continue
        env = runner.base_env(system_path())
        for scope in (wf.get("env"), job.get("env"), step.get("env")):
            env.update({k: expand(v) for k, v in (scope or {}).items()})
        run, _ = runner.run_bash(name, expand(step["run"]), env, runner.workspace / step.get("working-directory", ""))
        results.append(run)
        if run.returncode != 0:
            break  # later steps do not run
    return results, runner


def masked_log(results: list[StepRun]) -> str:
    """The log a runner would show: workflow-command lines consumed, registered masks applied from then on."""
    masks: list[str] = []
    shown: list[str] = []
    for r in results:
        for line in (r.stdout + r.stderr).splitlines():
            if line.startswith("::add-mask::"):
                mask = line[len("::add-mask::"):].replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")
                if mask:
                    masks.append(mask)
                continue
            for m in masks:
                line = line.replace(m, "***")
            shown.append(line)
    return "\n".join(shown)


def test_workflow_runs_and_masks_the_value(project: Project, tmp_path: Path) -> None:
    results, runner = run_workflow(project, tmp_path, {"AGENT_VAULT_KEY": project.key("ci")})
    failed = [r for r in results if r.returncode != 0]
    assert not failed, failed
    assert [r.name for r in results] == ["actions/checkout@v4", "Set up Go", "Install agent-vault", "Export secrets", "Deploy"]
    assert (runner.runner_temp / "agent-vault" / "bin" / "agent-vault").exists(), "the action installed the CLI"
    report = json.loads((runner.runner_temp / "report.json").read_text())
    assert report == {"argv0": "deploy.sh", "value_sha256": hashlib.sha256(VALUE.encode()).hexdigest(), "sees_key": False}
    out = "".join(r.stdout for r in results)
    assert f"::add-mask::{VALUE}" in out.splitlines(), "the value is registered as a mask"
    assert VALUE not in masked_log(results), "the value reaches the log unmasked"
    assert "first use" not in "".join(r.stderr for r in results), "the key from the secret is pinned"


@pytest.mark.parametrize(
    ("case", "code"),
    [("secret not set", 3), ("agent not granted", 5)],
)
def test_workflow_fails_the_job_when_the_read_fails(project: Project, tmp_path: Path, case: str, code: int) -> None:
    secrets = {} if case == "secret not set" else {"AGENT_VAULT_KEY": project.key("intruder")}
    results, runner = run_workflow(project, tmp_path, secrets)
    assert results[-1].name == "Export secrets" and results[-1].returncode == code, results[-1]
    assert not (runner.runner_temp / "report.json").exists(), "deploy must not run"
    assert "::add-mask::" not in results[-1].stdout.replace("::add-mask::AGE-SECRET-KEY", "")
    assert runner.added_env == {}

"""Runs this repository's composite GitHub Action (action.yml) as a runner would, on this machine.

Its steps run in order with ``bash --noprofile --norc -eo pipefail``, with ``GITHUB_ACTION_PATH`` set to this
checkout, ``${{ inputs.X }}``, ``${{ github.action_path }}`` and ``${{ steps.ID.outputs.X }}`` substituted, and
``if:`` conditions of the forms ``inputs.X == 'v'`` and ``inputs.X != ''`` evaluated; anything else fails the
test. ``actions/setup-go`` is emulated by checking that the Go on PATH is the version go.mod names (what
setup-go would install) and putting it first on PATH. After each step, ``$GITHUB_PATH``, ``$GITHUB_ENV`` and
``$GITHUB_OUTPUT`` are consumed as the runner consumes them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class StepRun:
    name: str
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Runner:
    """The state a job carries from step to step."""

    workspace: Path
    runner_temp: Path
    home: Path
    paths: list[str] = field(default_factory=list)
    added_env: dict[str, str] = field(default_factory=dict)

    @property
    def files(self) -> dict[str, Path]:
        return {n: self.runner_temp / n.lower() for n in ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")}

    def setup(self) -> None:
        for d in (self.workspace, self.runner_temp, self.home):
            d.mkdir(parents=True, exist_ok=True)
        for f in self.files.values():
            f.touch()

    def base_env(self, system_path: str) -> dict[str, str]:
        env = {
            "PATH": os.pathsep.join([*self.paths, system_path]),
            "HOME": str(self.home),
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(self.workspace),
            "RUNNER_TEMP": str(self.runner_temp),
            "RUNNER_OS": "Linux",
            "LC_ALL": "C",
            "GIT_CONFIG_NOSYSTEM": "1",
            **{k: str(v) for k, v in self.files.items()},
            # The Go caches of this machine, as setup-go's would be: the build needs no download.
            **go_env(),
        }
        env.update(self.added_env)
        return env

    def run_bash(self, name: str, script: str, env: dict[str, str], cwd: Path) -> tuple[StepRun, dict[str, str]]:
        """Run one ``run:`` step; on success consume what it asked of the runner and return its outputs."""
        path = self.runner_temp / f"step-{len(list(self.runner_temp.glob('step-*.sh')))}.sh"
        path.write_text(script)
        res = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(path)],
                             cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
        run = StepRun(name, res.returncode, res.stdout, res.stderr)
        outputs = parse_env_file(self.files["GITHUB_OUTPUT"].read_text())
        self.files["GITHUB_OUTPUT"].write_text("")
        if res.returncode != 0:
            return run, {}
        self.paths[:0] = [line for line in self.files["GITHUB_PATH"].read_text().splitlines()[::-1] if line]
        self.files["GITHUB_PATH"].write_text("")
        self.added_env.update(parse_env_file(self.files["GITHUB_ENV"].read_text()))
        self.files["GITHUB_ENV"].write_text("")
        return run, outputs


def parse_env_file(text: str) -> dict[str, str]:
    """NAME=VALUE lines and NAME<<DELIM ... DELIM blocks, as in $GITHUB_ENV and $GITHUB_OUTPUT."""
    out: dict[str, str] = {}
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    while lines:
        line = lines.pop(0)
        if "<<" in line and "=" not in line.split("<<")[0]:
            key, delim = line.split("<<", 1)
            body = []
            while lines and lines[0] != delim:
                body.append(lines.pop(0))
            assert lines, f"unterminated {key}<<{delim}"
            lines.pop(0)
            out[key] = "\n".join(body)
        elif "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
        else:
            raise AssertionError(f"malformed line in a runner file: {line!r}")
    return out


def go_env() -> dict[str, str]:
    names = ["GOCACHE", "GOMODCACHE", "GOPATH", "GOFLAGS", "GOPROXY", "GOTOOLCHAIN"]
    out = subprocess.run(["go", "env", *names], capture_output=True, text=True, check=True).stdout.splitlines()
    return {k: v for k, v in zip(names, out) if v}


def action() -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "action.yml").read_text())
    assert isinstance(doc, dict)
    return doc


def run_action(runner: Runner, with_: dict[str, Any], system_path: str) -> tuple[list[StepRun], dict[str, str]]:
    """Run action.yml with the inputs ``with_``; return each step's outcome and the action's outputs."""
    doc = action()
    assert doc["runs"]["using"] == "composite"
    declared = doc.get("inputs") or {}
    unknown = set(with_) - set(declared)
    assert not unknown, f"inputs the action does not declare: {unknown}"
    inputs = {k: str(with_.get(k, (v or {}).get("default", ""))) for k, v in declared.items()}
    step_outputs: dict[str, dict[str, str]] = {}

    def expand(value: Any) -> str:
        def sub(m: re.Match[str]) -> str:
            expr = m.group(1)
            if mm := re.fullmatch(r"inputs\.([A-Za-z0-9_-]+)", expr):
                return inputs[mm.group(1)]
            if expr == "github.action_path":
                return str(ROOT)
            if mm := re.fullmatch(r"steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)", expr):
                return step_outputs.get(mm.group(1), {}).get(mm.group(2), "")
            raise AssertionError(f"expression not emulated: {expr!r}")

        return EXPR.sub(sub, str(value))

    def condition(expr: str) -> bool:
        if m := re.fullmatch(r"inputs\.([A-Za-z0-9_-]+)\s*==\s*'([^']*)'", expr.strip()):
            return inputs[m.group(1)] == m.group(2)
        if m := re.fullmatch(r"inputs\.([A-Za-z0-9_-]+)\s*!=\s*''", expr.strip()):
            return inputs[m.group(1)] != ""
        raise AssertionError(f"condition not emulated: {expr!r}")

    results: list[StepRun] = []
    for i, step in enumerate(doc["runs"]["steps"]):
        name = step.get("name") or f"action step {i}"
        if "if" in step and not condition(step["if"]):
            continue
        if "uses" in step:
            assert step["uses"].split("@")[0] == "actions/setup-go", step["uses"]
            with_go = {k: expand(v) for k, v in (step.get("with") or {}).items()}
            assert with_go.get("go-version-file") == str(ROOT / "go.mod")
            want = re.search(r"^go (\S+)", (ROOT / "go.mod").read_text(), re.MULTILINE).group(1)  # type: ignore[union-attr]
            have = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()
            assert have == "go" + want, f"setup-go would install go{want}; this machine has {have}"
            runner.paths[:0] = [str(Path(shutil.which("go") or "go").resolve().parent)]
            results.append(StepRun(name, 0, "", ""))
            continue
        assert step.get("shell") == "bash", "composite run steps name their shell"
        env = runner.base_env(system_path)
        env["GITHUB_ACTION_PATH"] = str(ROOT)
        env.update({k: expand(v) for k, v in (step.get("env") or {}).items()})
        run, outputs = runner.run_bash(name, expand(step["run"]), env, runner.workspace)
        results.append(run)
        if "id" in step:
            step_outputs[step["id"]] = outputs
        if run.returncode != 0:
            break
    outs = {k: expand(v.get("value", "")) for k, v in (doc.get("outputs") or {}).items()}
    return results, outs

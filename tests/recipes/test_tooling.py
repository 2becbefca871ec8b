"""make test's own output (scripts/test-all.sh): one line per suite, and a failing suite's output only."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_all(tmp_path: Path, *suites: str) -> subprocess.CompletedProcess[str]:
    # A stand-in make: target test-bad fails loudly, test-quiet succeeds with lots of output, build fails
    # when BUILD_FAILS is set; every call is recorded.
    fake = tmp_path / "make"
    fake.write_text(
        "#!/bin/bash\n"
        'echo "$2" >> "$CALLS"\n'
        'case $2 in\n'
        '  test-bad) echo "detail of the failure"; echo "assertion failed: 1 != 2" >&2; exit 3 ;;\n'
        '  build) if [ -n "${BUILD_FAILS:-}" ]; then echo "compile error"; exit 2; fi ;;\n'
        '  *) for i in $(seq 50); do echo "noise line $i"; done ;;\n'
        "esac\n"
    )
    fake.chmod(0o755)
    env = dict(os.environ, MAKE=str(fake), CALLS=str(tmp_path / "calls"), TEST_LOG_DIR=str(tmp_path / "logs"))
    return subprocess.run([str(ROOT / "scripts" / "test-all.sh"), *suites], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_one_line_per_suite_when_everything_passes(tmp_path: Path) -> None:
    res = run_all(tmp_path, "deps", "build", "quiet", "other")
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:-1]] == [["ok", "deps"], ["ok", "build"], ["ok", "quiet"], ["ok", "other"]]
    assert lines[-1] == "make test: all 4 suites passed"
    assert "noise" not in res.stdout and res.stderr == ""
    assert (tmp_path / "calls").read_text().split() == ["deps", "build", "test-quiet", "test-other"]


def test_a_failing_suite_shows_its_output_and_the_others_still_run(tmp_path: Path) -> None:
    res = run_all(tmp_path, "build", "bad", "quiet")
    assert res.returncode == 1
    out = res.stdout
    assert out.splitlines()[0].startswith("ok    build")
    assert "FAIL  bad" in out and "make test-bad exited 3" in out and str(tmp_path / "logs" / "bad.log") in out
    assert "      | detail of the failure" in out and "      | assertion failed: 1 != 2" in out
    assert "noise" not in out, "a passing suite's output is not shown"
    assert any(line.startswith("ok    quiet") for line in out.splitlines()), "later suites run after a failure"
    assert out.splitlines()[-1] == "make test: FAILED: bad"


def test_a_failing_build_stops_the_run(tmp_path: Path) -> None:
    os.environ["BUILD_FAILS"] = "1"
    try:
        res = run_all(tmp_path, "build", "quiet")
    finally:
        del os.environ["BUILD_FAILS"]
    assert res.returncode == 1
    assert "FAIL  build" in res.stdout and "      | compile error" in res.stdout
    assert "quiet" not in res.stdout
    assert (tmp_path / "calls").read_text().split() == ["build"]


def test_demo_prints_pasteable_commands_without_colour_codes_off_a_terminal() -> None:
    bin_ = os.environ.get("AGENT_VAULT_BIN", "")
    assert bin_ and os.access(bin_, os.X_OK), "run with make test-recipes (AGENT_VAULT_BIN)"
    res = subprocess.run([str(ROOT / "scripts" / "demo.sh"), bin_], capture_output=True, text=True, timeout=300,
                         stdin=subprocess.DEVNULL, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "\x1b" not in res.stdout + res.stderr, "no terminal escape codes when stdout is not a terminal"
    lines = res.stdout.splitlines()
    commands = [line for line in lines if line.startswith("agent-vault ")]
    assert "agent-vault get stripe/api-key --key ~/.agent-vault/agents/ci.key" in commands
    assert any(c.endswith("""-- sh -c 'echo "deploying with $STRIPE_KEY"'""") for c in commands), commands
    for c in commands:  # each is a valid shell command line, as printed
        assert subprocess.run(["bash", "-n", "-c", c], check=False).returncode == 0, c
    assert not any(line.startswith("$ ") for line in lines), "no prompt in front of a command"
    assert any(line.startswith("# exit status 6") for line in lines)


def test_release_tools_are_built_in_the_background_before_the_release_suite(tmp_path: Path) -> None:
    res = run_all(tmp_path, "build", "quiet", "release")
    assert res.returncode == 0, res.stdout + res.stderr
    assert [line.split()[:2] for line in res.stdout.splitlines()[:-1]] == [["ok", "build"], ["ok", "quiet"], ["ok", "release"]]
    calls = (tmp_path / "calls").read_text().split()
    assert sorted(calls) == sorted(["build", "release-tools", "test-quiet", "test-release"])
    assert calls.index("release-tools") < calls.index("test-release"), "the release suite waits for its tools"
    # Without a release suite, no tools are built.
    (tmp_path / "calls").unlink()
    assert run_all(tmp_path, "build", "quiet").returncode == 0
    assert (tmp_path / "calls").read_text().split() == ["build", "test-quiet"]

"""The runner runs real processes: argv byte for byte, timeouts, typed errors, raw output kept."""

from __future__ import annotations

import json
import sys
import time

import pytest

from ctrtool import runner
from ctrtool.errors import ToolFailed, ToolNotInstalled, ToolTimeout, Unreachable

PY = sys.executable


def test_arguments_reach_the_tool_byte_for_byte():
    tricky = ["a b", "'q'", '"dq"', "; rm -rf /", "$(id)", "`id`", "line\nbreak", "-leading", "*", "ünï"]
    result = runner.run([PY, "-c", "import json,sys; print(json.dumps(sys.argv[1:]))", *tricky], timeout=10)
    assert json.loads(result.stdout) == tricky


def test_missing_tool_is_typed():
    with pytest.raises(ToolNotInstalled) as info:
        runner.run(["ctrtool-no-such-tool-xyz", "images"], timeout=5)
    assert "not installed" in info.value.message and info.value.hint


def test_exit_code_and_stderr_are_reported():
    with pytest.raises(ToolFailed) as info:
        runner.run([PY, "-c", "import sys; sys.stderr.write('boom happened\\n'); sys.exit(7)"], timeout=10)
    assert info.value.returncode == 7
    assert "exit code 7" in info.value.message and "boom happened" in info.value.message


def test_timeout_kills_the_whole_process_group(tmp_path):
    marker = tmp_path / "child.pid"
    code = (
        f"import subprocess,time; p=subprocess.Popen(['sleep','60']); "
        f"open({str(marker)!r},'w').write(str(p.pid)); time.sleep(60)"
    )
    with pytest.raises(ToolTimeout) as info:
        runner.run([PY, "-c", code], timeout=3)
    assert "timed out after 3s" in info.value.message
    child = int(marker.read_text())
    # the grandchild was killed with its group (it may linger as a zombie until reaped by init). A
    # SIGKILL is delivered asynchronously: on a loaded machine the process may still be listed as
    # sleeping for a moment after kill() returned (CI saw "S"), so its state is read until it changes
    state = "?"
    for _ in range(200):
        try:
            with open(f"/proc/{child}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            state = "gone"
        if state in ("Z", "X", "gone"):
            break
        time.sleep(0.05)
    assert state in ("Z", "X", "gone"), f"the grandchild {child} is still {state} 10 s after the timeout"


def test_classifier_turns_stderr_into_a_precise_error():
    def classify(rc, stderr):
        return Unreachable("tool", "unix:///x.sock", stderr.strip()) if "refused" in stderr else None

    with pytest.raises(Unreachable, match="connection refused"):
        runner.run(
            [PY, "-c", "import sys; sys.stderr.write('connection refused'); sys.exit(1)"], timeout=10, classify=classify
        )


def test_not_understood_keeps_the_raw_output(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    result = runner.run([PY, "-c", "print('garbage <html>')"], timeout=10)
    err = runner.not_understood(result, "expected JSON")
    assert err.saved_to and err.saved_to.startswith(str(tmp_path))
    assert "garbage <html>" in open(err.saved_to).read()
    assert err.saved_to in err.message


def test_trace_counts_calls(tmp_path, monkeypatch):
    trace = tmp_path / "trace.jsonl"
    monkeypatch.setenv("CTRTOOL_TRACE", str(trace))
    runner.run(["true"], timeout=5)
    runner.run(["false"], timeout=5, check=False)
    lines = [json.loads(x) for x in trace.read_text().splitlines()]
    assert [(x["argv"], x["returncode"]) for x in lines] == [(["true"], 0), (["false"], 1)]


def test_unset_env_removes_variables(monkeypatch):
    monkeypatch.setenv("DOCKER_CONTEXT", "elsewhere")
    out = runner.run(
        [PY, "-c", "import os; print(os.environ.get('DOCKER_CONTEXT'))"], timeout=10, unset_env=["DOCKER_CONTEXT"]
    ).stdout
    assert out.strip() == "None"

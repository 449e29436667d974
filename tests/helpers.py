"""Run the real ctrtool CLI in a subprocess, as a user would."""

from __future__ import annotations

import json
import subprocess
import sys


def ctrtool(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    # the timeout is a safety net against a hang, not a timing assertion
    return subprocess.run(
        [sys.executable, "-m", "ctrtool", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def ctrtool_json(*args: str, env: dict[str, str], expect: int = 0):
    proc = ctrtool(*args, "-o", "json", env=env)
    assert proc.returncode == expect, proc.stderr
    return json.loads(proc.stdout), proc


def pane(tmux: list[str], session: str) -> str:
    """What a tmux session's window shows now (capture-pane drops trailing blanks)."""
    return subprocess.run([*tmux, "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def wait_for_screen(tmux: list[str], session: str, text: str, seconds: float = 30) -> str:
    import time

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        screen = pane(tmux, session)
        if text in screen:
            return screen
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared on the screen:\n{pane(tmux, session)}")

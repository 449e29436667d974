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


def doctor(*args: str, env: dict[str, str]) -> tuple[dict[str, dict], subprocess.CompletedProcess]:
    """`ctrtool doctor -o json ARGS`: the results by check name, and the process (its exit status)."""
    proc = ctrtool("doctor", *args, "-o", "json", env=env)
    assert proc.returncode in (0, 1, 3), proc.stderr
    return {r["check"]: r for r in json.loads(proc.stdout)}, proc


# ctrtool's commands that ask before they change something (and so take --yes)
CONSENTING = ("copy", "load", "rmi", "rm", "tag", "prune", "stop", "kill", "save")


def apply_fix(fix: dict, env: dict[str, str]) -> None:
    """Do what a doctor fix says: write its lines into its file (the whole file: doctor gives every
    line it needs), then run its commands (ctrtool command lines, run as the CLI; or a tool's own)."""
    import shlex

    if fix["file"]:
        with open(fix["file"], "w") as fh:
            fh.write("\n".join(fix["lines"]) + "\n")
    for line in fix["commands"]:
        argv = shlex.split(line)
        assert argv[0] in ("ctrtool", "ctr", "docker", "crictl"), line
        assert "--yes" not in argv and "-y" not in argv, f"advice carries its own consent: {line}"
        if argv[0] == "ctrtool":
            # the person who runs it answers the prompt: here, the test says yes for them
            consent = ["--yes"] if argv[1] in CONSENTING else []
            proc = ctrtool(*argv[1:], *consent, env=env)
        else:
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, (line, proc.stderr)


# the variables that point the tools and ctrtool at a lab (`ctrtool lab env`), for a shell started
# in a terminal (tmux) that must reach the same lab
LAB_ENDPOINT_KEYS = (
    "DOCKER_HOST",
    "CONTAINERD_ADDRESS",
    "CONTAINER_RUNTIME_ENDPOINT",
    "IMAGE_SERVICE_ENDPOINT",
    "CRI_CONFIG_FILE",
)


def lab_exports(lab_env: dict[str, str], *extra: str) -> str:
    """`NAME=value ...` (shell-quoted) of the lab's endpoint variables and ``extra`` ones, for `env`."""
    import shlex

    keys = (*LAB_ENDPOINT_KEYS, *extra)
    return " ".join(f"{k}={shlex.quote(v)}" for k, v in lab_env.items() if k in keys)

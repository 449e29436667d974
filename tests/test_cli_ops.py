"""The routed commands' usage errors and help: no daemon needed, nothing is run."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ctrtool.cli import app

runner = CliRunner()
CLEAN_ENV = {
    "XDG_CONFIG_HOME": "/nonexistent-ctrtool-test",
    "CTRTOOL_CONFIG": "",
    "NO_COLOR": "1",
    "DOCKER_HOST": "unix:///nonexistent/d.sock",
    "CONTAINERD_ADDRESS": "/nonexistent/c.sock",
    "CONTAINER_RUNTIME_ENDPOINT": "unix:///nonexistent/c.sock",
}


def invoke(*args):
    return runner.invoke(app, list(args), env=CLEAN_ENV)


def flat(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


@pytest.mark.parametrize(
    "args, words",
    [
        (["exec", "-b", "docker", "web"], "no command given"),
        (["exec", "-b", "docker", "web", "--"], "no command given"),
        (["exec", "-b", "docker", "-n", "default", "web", "--", "true"], "-n/--namespace is for ctr"),
        (["rm", "-b", "crictl", "-n", "default", "web"], "crictl works in containerd namespace k8s.io only"),
        (["stop", "-b", "nerdctl", "web"], "unknown backend 'nerdctl'"),
        (["ps", "-o", "xml"], "'xml' is not one of"),
        (["inspect", "--type", "volume", "x"], "'volume' is not one of container, image, pod"),
        (["load", "-b", "docker", "/nonexistent/image.tar"], "/nonexistent/image.tar: no such file"),
        (["kill", "-s", "NOPE", "web"], "unknown signal 'NOPE'"),
        (["prune", "-b", "docker", "-n", "default"], "-n/--namespace is for ctr"),
        (["prune", "-b", "crictl", "-n", "default"], "crictl works in containerd namespace k8s.io only"),
    ],
)
def test_usage_errors_exit_2_before_any_tool_runs(args, words):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert words in flat(result.output)


def test_help_lists_the_new_commands():
    result = invoke("--help")
    for command in (
        "ps",
        "pods",
        "inspect",
        "logs",
        "exec",
        "start",
        "stop",
        "kill",
        "rm",
        "rmi",
        "prune",
        "tag",
        "pull",
        "load",
        "save",
    ):
        assert f" {command} " in flat(result.output)


def test_destructive_commands_offer_yes_and_dry_run():
    for command in ("stop", "kill", "rm", "rmi", "prune", "save"):
        text = flat(invoke(command, "--help").output)
        assert "--yes" in text and "--dry-run" in text
    for command in ("start", "tag", "pull", "load"):
        assert "--dry-run" in flat(invoke(command, "--help").output)


def test_start_up_imports_no_pexpect_and_no_adapter():
    import subprocess
    import sys

    code = (
        "import sys, ctrtool.cli; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pexpect', 'rich', 'yaml') "
        "or m.startswith('ctrtool.adapters.')))"
    )
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert got.stdout.strip() == "[]"

"""CLI behaviour that needs no daemon: usage errors, config errors, help, debug tracebacks."""

from __future__ import annotations

import os

import pytest
from helpers import ctrtool
from typer.testing import CliRunner

from ctrtool.cli import app

runner = CliRunner()
CLEAN_ENV = {"XDG_CONFIG_HOME": "/nonexistent-ctrtool-test", "CTRTOOL_CONFIG": "", "NO_COLOR": "1"}


def invoke(*args, env=None):
    return runner.invoke(app, list(args), env={**CLEAN_ENV, **(env or {})})


def flat(text: str) -> str:
    """Help and usage errors come in rich boxes wrapped at 80 columns: compare words only."""
    return " ".join(text.replace("│", " ").split())


@pytest.mark.parametrize(
    "args, words",
    [
        (["images", "-o", "xml"], "'xml' is not one of table, wide, json, yaml"),
        (["images", "--backend", "nerdctl"], "unknown backend 'nerdctl'"),
        (["images", "--backend", "ctr", "--all-backends"], "either --backend or --all-backends"),
        (["info", "-o", "csv"], "'csv' is not one of"),
    ],
)
def test_bad_input_is_a_usage_error(args, words):
    result = invoke(*args)
    assert result.exit_code == 2
    assert words in flat(result.output)


def test_bad_config_file_names_path_and_line(tmp_path):
    conf = tmp_path / "config.yaml"
    conf.write_text("timeout: 5\nctr:\n  adress: /x.sock\n")
    result = invoke("images", env={"CTRTOOL_CONFIG": str(conf)})
    assert result.exit_code == 2
    assert f"config file {conf}:3: unknown key 'ctr.adress'" in result.output
    assert "Traceback" not in result.output


def test_help_lists_the_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("images", "info", "where", "lab"):
        assert command in result.output
    assert "3 partial result" in flat(result.output)


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.startswith("ctrtool ")


def test_expected_failure_has_no_traceback_unless_debug(tmp_path):
    # a file where the socket should be: docker itself runs, and fails to connect
    (tmp_path / "docker.sock").write_text("")
    env = {**os.environ, **CLEAN_ENV, "DOCKER_HOST": f"unix://{tmp_path}/docker.sock"}
    env.pop("CTRTOOL_DEBUG", None)
    plain = ctrtool("images", "--backend", "docker", env=env)
    assert plain.returncode == 1
    lines = plain.stderr.strip().splitlines()
    assert lines[0].startswith(f"ctrtool: error: docker (unix://{tmp_path}/docker.sock): cannot reach the daemon")
    assert lines[1].startswith("  hint: ")
    assert len(lines) == 2 and plain.stdout == ""
    debug = ctrtool("images", "--backend", "docker", env={**env, "CTRTOOL_DEBUG": "1"})
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr and "ctrtool: debug: run: docker" in debug.stderr


@pytest.mark.parametrize(
    "backend,variable,value,words",
    [
        (
            "docker",
            "DOCKER_HOST",
            "unix:///nonexistent/docker.sock",
            "is dockerd running at this endpoint? set DOCKER_HOST",
        ),
        (
            "ctr",
            "CONTAINERD_ADDRESS",
            "/nonexistent/containerd.sock",
            "is containerd running at this endpoint? set CONTAINERD_ADDRESS",
        ),
        (
            "crictl",
            "CONTAINER_RUNTIME_ENDPOINT",
            "unix:///nonexistent/cri.sock",
            "is the CRI runtime running at this endpoint? set CONTAINER_RUNTIME_ENDPOINT",
        ),
    ],
)
def test_unreachable_hint_comes_from_the_backends_descriptor(backend, variable, value, words):
    """Adapters say only that the daemon did not answer; the CLI words the hint from the backend's
    descriptor, for a single-backend command and for a backend in a listing alike."""
    env = {**os.environ, **CLEAN_ENV, variable: value}
    env.pop("CTRTOOL_DEBUG", None)
    got = ctrtool("images", "--backend", backend, env=env)
    assert got.returncode == 1, got.stderr
    lines = got.stderr.strip().splitlines()
    assert "cannot reach the daemon" in lines[0], got.stderr
    assert lines[1].startswith(f"  hint: {words}"), got.stderr
    assert f"no socket at {value.removeprefix('unix://')}" in lines[0], got.stderr
    gone = ctrtool("inspect", "--backend", backend, "nothing-here", env=env)
    assert gone.returncode == 1 and f"hint: {words}" in gone.stderr, gone.stderr


def test_the_crictl_hint_names_the_config_file_crictl_reads(tmp_path):
    """With CRI_CONFIG_FILE set, the hint named /etc/crictl.yaml, a file crictl does not read then."""
    conf = tmp_path / "my-crictl.yaml"
    conf.write_text("runtime-endpoint: unix:///nonexistent/cri.sock\n")
    env = {**os.environ, **CLEAN_ENV, "CRI_CONFIG_FILE": str(conf)}
    for name in ("CONTAINER_RUNTIME_ENDPOINT", "IMAGE_SERVICE_ENDPOINT", "CTRTOOL_DEBUG"):
        env.pop(name, None)
    got = ctrtool("images", "--backend", "crictl", env=env)
    assert got.returncode == 1, got.stderr
    assert f"set runtime-endpoint in {conf}" in got.stderr, got.stderr
    assert "/etc/crictl.yaml" not in got.stderr
    # the same words when no endpoint is found at all (crictl's file without runtime-endpoint)
    from ctrtool.config import Settings, endpoint_hint

    settings = Settings(env={"CRI_CONFIG_FILE": str(conf)})
    assert endpoint_hint("crictl", settings).endswith(f"set runtime-endpoint in {conf}")
    conf.write_text("timeout: 3\n")
    assert settings.endpoint("crictl").hint == endpoint_hint("crictl", settings)
    assert endpoint_hint("crictl", Settings(env={})).endswith("set runtime-endpoint in /etc/crictl.yaml")


def test_a_missing_socket_is_reported_at_once_not_after_the_timeout():
    """ctr 1.6 dials a missing socket until its deadline: ctrtool says at once that it is missing,
    without starting the tool (no tool call in the trace)."""
    env = {**os.environ, **CLEAN_ENV, "CONTAINERD_ADDRESS": "/nonexistent/containerd.sock", "CTRTOOL_DEBUG": "1"}
    got = ctrtool("--timeout", "600", "images", "--backend", "ctr", env=env, timeout=60)
    assert got.returncode == 1
    assert "no socket at /nonexistent/containerd.sock" in got.stderr
    assert "debug: run:" not in got.stderr


def test_no_backend_found_is_a_clear_error(tmp_path):
    env = {
        **os.environ,
        **CLEAN_ENV,
        "PATH": str(tmp_path),
        "HOME": str(tmp_path),
        "CRI_CONFIG_FILE": str(tmp_path / "none.yaml"),
    }
    for name in ("DOCKER_HOST", "CONTAINERD_ADDRESS", "CONTAINER_RUNTIME_ENDPOINT", "IMAGE_SERVICE_ENDPOINT"):
        env.pop(name, None)
    proc = ctrtool("images", env=env)
    assert proc.returncode == 1
    assert "no backend found" in proc.stderr


def test_lab_up_as_non_root_is_refused_and_creates_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    target = tmp_path / "lab"
    result = invoke("lab", "up", "--dir", str(target))
    assert result.exit_code == 1
    assert "the lab needs root" in flat(result.output)
    assert not target.exists()


def test_lab_help_names_its_commands():
    result = invoke("lab", "--help")
    assert result.exit_code == 0
    for command in ("up", "down", "status", "env"):
        assert command in result.output


def test_wide_tables_show_each_id_column_once(capsys):
    """`pods -o wide` (and ps, images) had two "POD ID" columns: the short one and the full one."""
    from ctrtool.commands.ps import POD_COLUMNS
    from ctrtool.output import Output

    pod = {
        "id": "a" * 64,
        "name": "web",
        "pod_namespace": "default",
        "state": "ready",
        "status": "SANDBOX_READY",
        "containers": 1,
        "uid": "u",
        "attempt": 0,
        "created": None,
    }
    row = type("Pod", (), pod)()
    for fmt, full in (("table", False), ("wide", True)):
        Output(fmt).table(POD_COLUMNS, [row])
        printed = capsys.readouterr().out
        header = printed.splitlines()[0]
        assert header.count("POD ID") == 1
        assert (("a" * 64) in printed) == full and ("UID" in header) == full


@pytest.mark.parametrize(
    "word, translated",
    [("stats", True), ("cp", True), ("system", True), ("build", False), ("commit", False)],
)
def test_a_docker_command_is_pointed_to_translate_not_guessed_as_a_typo(word, translated):
    """`ctrtool stats` once answered "Did you mean 'start'?": a docker habit, not a typo."""
    got = ctrtool(word, "x", env=dict(os.environ))
    assert got.returncode == 2 and got.stdout == ""
    assert f"ctrtool has no command '{word}' (it is docker's)" in got.stderr
    assert "Did you mean" not in got.stderr
    assert (f"ctrtool translate -- docker {word} ..." in got.stderr) is translated
    assert ("does not cover" in got.stderr) is not translated


def test_a_typo_still_gets_clicks_suggestion():
    got = ctrtool("imagez", env=dict(os.environ))
    assert got.returncode == 2 and "Did you mean 'images'?" in got.stderr


def test_the_image_id_shown_is_the_one_the_rows_tool_prints():
    """Docker 29 on containerd's image store prints the manifest digest as IMAGE ID; the tables of
    `images` and `nodes images` show that on docker's rows, the config digest elsewhere."""
    from ctrtool.commands.images import image_id_shown

    config, manifest = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    assert image_id_shown("docker", "moby", config, manifest) == manifest
    assert image_id_shown("docker", None, config, None) == config  # docker on overlay2
    assert image_id_shown("ctr", "moby", config, manifest) == config
    assert image_id_shown("crictl", "k8s.io", None, manifest) == manifest

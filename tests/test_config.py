"""Config file validation and endpoint precedence: flag > environment > config file > default."""

from __future__ import annotations

import hashlib
import json
import socket

import pytest

from ctrtool.config import Flags, load, parse_config
from ctrtool.errors import ConfigError, UsageError


@pytest.fixture
def sock(tmp_path):
    """A real unix socket file (endpoint discovery looks for sockets, not just paths)."""
    path = tmp_path / "x.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    yield str(path)
    s.close()


def write(tmp_path, text, name="config.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def settings(tmp_path, flags=None, env=None, config_text=None):
    env = dict(env or {})
    env.setdefault("HOME", str(tmp_path))
    env.setdefault("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    env.setdefault("CRI_CONFIG_FILE", str(tmp_path / "no-crictl.yaml"))
    env.setdefault("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    if config_text is not None:
        env["CTRTOOL_CONFIG"] = write(tmp_path, config_text)
    return load(flags or Flags(), env=env)


def test_valid_config_is_read(tmp_path):
    data = parse_config("c.yaml", "timeout: 3\nbackends: [ctr, crictl]\nctr:\n  address: /x.sock\n")
    assert data == {"timeout": 3, "backends": ["ctr", "crictl"], "ctr": {"address": "/x.sock"}}


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("timeout: 3\ndocker:\n  hots: unix:///x\n", 3, "unknown key 'docker.hots'"),
        ("timeout: soon\n", 1, "'timeout' must be a number"),
        ("timeout: -1\n", 1, "positive"),
        ("ctr:\n  address: [a, b]\n", 2, "'ctr.address' must be a string"),
        ("backends: [docker, nerdctl]\n", 1, "unknown backend 'nerdctl'"),
        ("ctr: x\n", 1, "'ctr' must be a mapping"),
        ("a: [1, 2\nb: 3\n", 2, "not valid YAML"),
        ("- just\n- a list\n", 1, "top level must be a mapping"),
    ],
)
def test_bad_config_names_file_line_and_problem(text, line, words):
    with pytest.raises(ConfigError) as info:
        parse_config("/etc/ctrtool/config.yaml", text)
    assert info.value.message.startswith(f"config file /etc/ctrtool/config.yaml:{line}:")
    assert words in info.value.message


def test_explicit_missing_config_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load(Flags(config=str(tmp_path / "nope.yaml")), env={"HOME": str(tmp_path)})


def test_containerd_precedence_flag_env_file_default(tmp_path, sock):
    text = "ctr:\n  address: /from/file.sock\n"
    s = settings(tmp_path, Flags(containerd_address="/from/flag.sock"), {"CONTAINERD_ADDRESS": "/from/env.sock"}, text)
    assert (s.endpoint("ctr").address, s.endpoint("ctr").source) == ("/from/flag.sock", "flag --address")
    s = settings(tmp_path, None, {"CONTAINERD_ADDRESS": "/from/env.sock"}, text)
    assert (s.endpoint("ctr").address, s.endpoint("ctr").source) == ("/from/env.sock", "env CONTAINERD_ADDRESS")
    s = settings(tmp_path, None, None, text)
    assert s.endpoint("ctr").address == "/from/file.sock"
    assert "ctr.address in" in s.endpoint("ctr").source


def defaults(monkeypatch, backend, sockets):
    """The backend's default sockets (its descriptor's), replaced for a test."""
    import dataclasses
    import importlib

    module = importlib.import_module(f"ctrtool.adapters.{backend}")
    monkeypatch.setattr(module, "DESCRIPTOR", dataclasses.replace(module.DESCRIPTOR, default_sockets=sockets))


def test_default_socket_is_searched_and_reported(tmp_path, sock, monkeypatch):
    defaults(monkeypatch, "ctr", (str(tmp_path / "missing.sock"), sock))
    ep = settings(tmp_path).endpoint("ctr")
    assert ep.address == sock and "found" in ep.source
    defaults(monkeypatch, "ctr", (str(tmp_path / "missing.sock"),))
    ep = settings(tmp_path).endpoint("ctr")
    assert ep.address is None
    with pytest.raises(Exception, match="no endpoint found.*missing.sock"):
        ep.require()


def test_a_plain_file_is_not_taken_for_a_socket(tmp_path, monkeypatch):
    plain = tmp_path / "not-a-socket"
    plain.write_text("")
    defaults(monkeypatch, "docker", (f"unix://{plain}",))
    assert settings(tmp_path).endpoint("docker").address is None


def test_crictl_reads_its_own_config_file_below_env(tmp_path):
    crictl_yaml = write(
        tmp_path, "runtime-endpoint: unix:///from/crictl.sock\nimage-endpoint: unix:///img.sock\n", "crictl.yaml"
    )
    s = settings(tmp_path, env={"CRI_CONFIG_FILE": crictl_yaml})
    ep = s.endpoint("crictl")
    assert ep.address == "unix:///from/crictl.sock"
    assert ep.image_address == "unix:///img.sock"
    assert ep.source == f"runtime-endpoint in {crictl_yaml}"
    assert ep.tool_config == crictl_yaml
    s = settings(tmp_path, env={"CRI_CONFIG_FILE": crictl_yaml, "CONTAINER_RUNTIME_ENDPOINT": "unix:///env.sock"})
    assert s.endpoint("crictl").address == "unix:///env.sock"
    s = settings(
        tmp_path,
        Flags(runtime_endpoint="unix:///flag.sock"),
        {"CRI_CONFIG_FILE": crictl_yaml, "CONTAINER_RUNTIME_ENDPOINT": "unix:///env.sock"},
    )
    assert s.endpoint("crictl").address == "unix:///flag.sock"


def test_broken_crictl_config_is_reported_with_its_line(tmp_path):
    crictl_yaml = write(tmp_path, "runtime-endpoint: unix:///x\n  bad: [\n", "crictl.yaml")
    s = settings(tmp_path, env={"CRI_CONFIG_FILE": crictl_yaml})
    with pytest.raises(ConfigError, match=rf"{crictl_yaml}:\d+: not valid YAML"):
        s.endpoint("crictl")


def test_docker_host_env_beats_current_context_and_context_is_resolved(tmp_path):
    cfg = tmp_path / "docker-config"
    meta = cfg / "contexts" / "meta" / hashlib.sha256(b"remote").hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps({"Name": "remote", "Endpoints": {"docker": {"Host": "unix:///ctx.sock"}}})
    )
    (cfg / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    ep = settings(tmp_path).endpoint("docker")
    assert (ep.address, ep.context) == ("unix:///ctx.sock", "remote")
    assert "current context" in ep.source
    ep = settings(tmp_path, env={"DOCKER_HOST": "unix:///env.sock"}).endpoint("docker")
    assert (ep.address, ep.context, ep.source) == ("unix:///env.sock", None, "env DOCKER_HOST")
    with pytest.raises(UsageError, match="docker context 'nope'"):
        settings(tmp_path, env={"DOCKER_CONTEXT": "nope"}).endpoint("docker")


def test_timeout_precedence(tmp_path):
    assert settings(tmp_path).timeout == 10
    assert settings(tmp_path, config_text="timeout: 4\n").timeout == 4
    assert settings(tmp_path, env={"CTRTOOL_TIMEOUT": "3"}, config_text="timeout: 4\n").timeout == 3
    assert settings(tmp_path, Flags(timeout=2), {"CTRTOOL_TIMEOUT": "3"}, "timeout: 4\n").timeout == 2
    with pytest.raises(UsageError, match="CTRTOOL_TIMEOUT"):
        settings(tmp_path, env={"CTRTOOL_TIMEOUT": "soon"}).timeout


def test_ctr_namespace_from_env_or_config(tmp_path):
    assert settings(tmp_path).ctr_namespace()[0] is None
    assert settings(tmp_path, config_text="ctr:\n  namespace: k8s.io\n").ctr_namespace()[0] == "k8s.io"
    s = settings(tmp_path, env={"CONTAINERD_NAMESPACE": "default"}, config_text="ctr:\n  namespace: k8s.io\n")
    assert s.ctr_namespace() == ("default", "env CONTAINERD_NAMESPACE")


def test_the_usual_sockets_are_looked_at_in_order():
    """containerd's own, then k3s's and RKE2's (both /run/k3s/containerd), then the containerd that
    dockerd starts for itself: found with no flags (tests/test_discovery_lab.py starts one)."""
    from ctrtool.adapters import get_descriptor

    assert get_descriptor("ctr").default_sockets == (
        "/run/containerd/containerd.sock",
        "/run/k3s/containerd/containerd.sock",
        "/run/docker/containerd/containerd.sock",
    )
    assert get_descriptor("crictl").default_sockets[:2] == (
        "unix:///run/containerd/containerd.sock",
        "unix:///run/k3s/containerd/containerd.sock",
    )

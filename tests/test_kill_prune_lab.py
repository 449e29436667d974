"""kill against the real lab, with consent: nothing is signalled without it."""

from __future__ import annotations

import json
import re
import shlex

import pytest

from helpers import ctrtool
from workloads import Native

pytestmark = pytest.mark.lab

# PID 1 says so on stdout when it gets SIGUSR1 (a shell as PID 1 ignores signals it does not trap)
USR1_SCRIPT = "trap 'echo got-usr1' USR1; echo ready; while :; do sleep 3600 & wait $!; done"


@pytest.fixture
def native(lab, lab_env):
    tools = Native(lab, lab_env)
    yield tools
    tools.cleanup()


def docker_argv(env, *args):
    return shlex.join(["docker", "--host", env["DOCKER_HOST"], *args])


def ctr_argv(env, *args):
    return shlex.join(["ctr", "--address", env["CONTAINERD_ADDRESS"], "--namespace", "default", *args])


def crictl_line(env, *args) -> re.Pattern:
    ep = env["CONTAINER_RUNTIME_ENDPOINT"]
    prefix = shlex.join(["crictl", "--config", env["CRI_CONFIG_FILE"], "--runtime-endpoint", ep,
                         "--image-endpoint", ep])
    return re.compile(re.escape(prefix) + r" --timeout \d+s " + re.escape(shlex.join(args)) + "\n")


# -- kill -------------------------------------------------------------------------------------------

def test_docker_kill_with_consent_a_signal_and_sigkill(native, lab_env):
    name = "ctl-kill-docker"
    native.docker_run(name, script=USR1_SCRIPT)
    native.wait(lambda: "ready" in native.docker("logs", name).stdout)
    refused = ctrtool("kill", name, env=lab_env)
    assert refused.returncode == 5 and refused.stdout == ""
    assert "refusing to send SIGKILL to container ctl-kill-docker (docker)" in refused.stderr
    assert native.docker_state(name) == "running"

    dry = ctrtool("kill", "--dry-run", "-s", "usr1", name, env=lab_env)
    assert (dry.returncode, dry.stdout) == (0, docker_argv(lab_env, "kill", "--signal", "SIGUSR1", name) + "\n")
    dry = ctrtool("kill", "--dry-run", name, env=lab_env)
    assert dry.stdout == docker_argv(lab_env, "kill", "--signal", "SIGKILL", name) + "\n"
    assert "got-usr1" not in native.docker("logs", name).stdout and native.docker_state(name) == "running"

    usr1 = ctrtool("kill", "--yes", "--signal", "10", name, env=lab_env)  # 10 is SIGUSR1
    assert (usr1.returncode, usr1.stdout) == (0, f"{name}\n"), usr1.stderr
    native.wait(lambda: "got-usr1" in native.docker("logs", name).stdout)
    assert native.docker_state(name) == "running", "a trapped signal does not end it"

    killed = ctrtool("kill", "-y", name, env=lab_env)
    assert (killed.returncode, killed.stdout) == (0, f"{name}\n"), killed.stderr
    state = native.docker("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name).stdout.split()
    assert state == ["exited", "137"]
    again = ctrtool("kill", "-y", name, env=lab_env)
    assert again.returncode == 0 and again.stdout == "" and "not running (exited); nothing to do" in again.stderr


def test_ctr_kill_keeps_the_stopped_task(native, lab_env):
    name = "ctl-kill-ctr"
    native.ctr_run("default", name)
    assert ctrtool("kill", "-b", "ctr", name, env=lab_env).returncode == 5
    assert native.ctr_task("default", name) == "RUNNING"
    dry = ctrtool("kill", "-b", "ctr", "--dry-run", name, env=lab_env)
    assert dry.stdout == ctr_argv(lab_env, "tasks", "kill", "--signal", "SIGKILL", name) + "\n"
    dry = ctrtool("kill", "-b", "ctr", "--dry-run", "-s", "HUP", name, env=lab_env)
    assert dry.stdout == ctr_argv(lab_env, "tasks", "kill", "--signal", "SIGHUP", name) + "\n"
    assert native.ctr_task("default", name) == "RUNNING"

    killed = ctrtool("kill", "-b", "ctr", "--yes", name, env=lab_env)
    assert (killed.returncode, killed.stdout) == (0, f"{name}\n"), killed.stderr
    # ctrtool waited for it, as docker kill does: stopped at once, the task kept
    assert native.ctr_task("default", name) == "STOPPED"
    assert name in native.ctr_containers("default")
    row = json.loads(ctrtool("ps", "-b", "ctr", "-n", "default", "-a", "-o", "json", env=lab_env).stdout)
    assert [r["state"] for r in row if r["id"] == name] == ["exited"]


def test_crictl_kill_is_stop_with_no_grace_and_other_signals_are_refused(native, lab_env):
    pod = native.pod("ctl-kill-pod")
    cid = native.cri_container(pod, "ctl-kill-pod", "ctl-kill-box", script=USR1_SCRIPT)
    assert ctrtool("kill", "-b", "crictl", "ctl-kill-box", env=lab_env).returncode == 5
    assert native.cri_state(cid) == "CONTAINER_RUNNING"
    dry = ctrtool("kill", "-b", "crictl", "--dry-run", "-s", "9", "ctl-kill-box", env=lab_env)
    assert crictl_line(lab_env, "stop", "--timeout", "0", cid).fullmatch(dry.stdout), dry.stdout

    usr1 = ctrtool("kill", "-b", "crictl", "--yes", "-s", "SIGUSR1", "ctl-kill-box", env=lab_env)
    assert usr1.returncode == 2 and usr1.stdout == ""
    error, hint = usr1.stderr.splitlines()
    assert error.startswith("ctrtool: error: crictl cannot send SIGUSR1: the CRI has no kill call")
    command = f"ctrtool kill --backend ctr -n k8s.io --signal SIGUSR1 {cid}"
    assert command in hint
    assert native.cri_state(cid) == "CONTAINER_RUNNING"
    # what the hint says works: the CRI's container is a task in containerd namespace k8s.io
    followed = ctrtool(*shlex.split(command)[1:], "--yes", env=lab_env)
    assert followed.returncode == 0, followed.stderr
    native.wait(lambda: "got-usr1" in native.crictl("logs", cid).stdout)

    killed = ctrtool("kill", "-b", "crictl", "--yes", "ctl-kill-box", env=lab_env)
    assert (killed.returncode, killed.stdout) == (0, "ctl-kill-box\n"), killed.stderr
    assert native.cri_state(cid) == "CONTAINER_EXITED"


def test_kill_without_backend_is_all_or_nothing(native, lab_env):
    native.docker_run("ctl-kill-many")
    pod = native.pod("ctl-kill-pod2")
    cid = native.cri_container(pod, "ctl-kill-pod2", "ctl-kill-box2")
    # crictl cannot send SIGTERM: nothing is sent to either
    proc = ctrtool("kill", "--yes", "-s", "TERM", "ctl-kill-many", "ctl-kill-box2", env=lab_env)
    assert proc.returncode == 2 and "crictl cannot send SIGTERM" in proc.stderr
    assert native.docker_state("ctl-kill-many") == "running" and native.cri_state(cid) == "CONTAINER_RUNNING"
    bad = ctrtool("kill", "--yes", "-s", "NOPE", "ctl-kill-many", env=lab_env)
    assert bad.returncode == 2 and "unknown signal 'NOPE'" in bad.stderr
    done = ctrtool("kill", "--yes", "ctl-kill-many", "ctl-kill-box2", env=lab_env)
    assert (done.returncode, done.stdout) == (0, "ctl-kill-many\nctl-kill-box2\n"), done.stderr
    assert native.docker_state("ctl-kill-many") == "exited" and native.cri_state(cid) == "CONTAINER_EXITED"

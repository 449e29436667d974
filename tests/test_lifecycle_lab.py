"""start, stop and rm against the real lab, and consent: nothing is stopped or deleted without it.

Without a terminal and without --yes: exit 5 and nothing changes (checked with the native tool);
--dry-run prints the exact commands and changes nothing; on a terminal the user is asked.
"""

from __future__ import annotations

import os
import re
import sys

import pexpect
import pytest
from helpers import ctrtool
from workloads import crictl_line, ctr_argv, docker_argv

pytestmark = pytest.mark.lab

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_docker_stop_start_rm_with_consent(native, lab_env):
    name = "ctl-life-docker"
    native.docker_run(name)
    refused = ctrtool("stop", name, env=lab_env)
    assert refused.returncode == 5 and "refusing to stop container" in refused.stderr and "--yes" in refused.stderr
    assert refused.stdout == "" and native.docker_state(name) == "running"

    dry = ctrtool("stop", "--dry-run", "-t", "3", name, env=lab_env)
    assert (dry.returncode, dry.stdout) == (0, docker_argv(lab_env, "stop", "-t", "3", name) + "\n")
    assert native.docker_state(name) == "running"

    stopped = ctrtool("stop", "--yes", name, env=lab_env)
    assert (stopped.returncode, stopped.stdout) == (0, f"{name}\n"), stopped.stderr
    assert native.docker_state(name) == "exited"
    again = ctrtool("stop", "--yes", name, env=lab_env)
    assert again.returncode == 0 and "nothing to do" in again.stderr and again.stdout == ""

    started = ctrtool("start", name, env=lab_env)
    assert started.returncode == 0 and native.docker_state(name) == "running"

    running = ctrtool("rm", "--yes", name, env=lab_env)
    assert running.returncode == 1 and "is running" in running.stderr and "--force" in running.stderr
    assert ctrtool("rm", "-f", name, env=lab_env).returncode == 5
    dry = ctrtool("rm", "-f", "--dry-run", name, env=lab_env)
    assert dry.stdout == docker_argv(lab_env, "rm", "--force", name) + "\n"
    assert native.docker_state(name) == "running"
    assert ctrtool("rm", "-f", "--yes", name, env=lab_env).returncode == 0
    assert native.docker_state(name) is None


def test_ctr_stop_start_rm_with_consent(native, lab_env):
    name = "ctl-life-ctr"
    native.ctr_run("default", name)
    assert ctrtool("stop", "-b", "ctr", name, env=lab_env).returncode == 5
    assert native.ctr_task("default", name) == "RUNNING"
    dry = ctrtool("stop", "-b", "ctr", "--dry-run", name, env=lab_env)
    assert dry.stdout == (
        ctr_argv(lab_env, "tasks", "kill", name)
        + "\n"
        + ctr_argv(lab_env, "tasks", "kill", "--signal", "SIGKILL", name)
        + "\n"
    )
    assert "the second command runs only if the task still runs after 10s" in dry.stderr
    assert native.ctr_task("default", name) == "RUNNING"

    assert ctrtool("stop", "-b", "ctr", "--yes", name, env=lab_env).returncode == 0
    assert native.ctr_task("default", name) == "STOPPED", "the task stays, stopped, like docker's container"
    dry = ctrtool("start", "-b", "ctr", "--dry-run", name, env=lab_env)
    assert dry.stdout == (
        ctr_argv(lab_env, "tasks", "delete", name)
        + "\n"
        + ctr_argv(lab_env, "tasks", "start", "--detach", "--null-io", name)
        + "\n"
    )
    assert ctrtool("start", "-b", "ctr", name, env=lab_env).returncode == 0
    assert native.ctr_task("default", name) == "RUNNING"

    assert ctrtool("rm", "-b", "ctr", "-f", name, env=lab_env).returncode == 5
    assert name in native.ctr_containers("default")
    dry = ctrtool("rm", "-b", "ctr", "-f", "--dry-run", name, env=lab_env)
    assert dry.stdout == (
        ctr_argv(lab_env, "tasks", "delete", "--force", name)
        + "\n"
        + ctr_argv(lab_env, "containers", "rm", name)
        + "\n"
    )
    assert ctrtool("rm", "-b", "ctr", "-f", "--yes", name, env=lab_env).returncode == 0
    assert name not in native.ctr_containers("default") and native.ctr_task("default", name) is None


def test_ctr_stop_kills_a_task_that_ignores_its_stop_signal(native, lab_env):
    name = "ctl-life-stubborn"
    native.ctr_run("default", name, script="trap '' TERM; while :; do sleep 3600 & wait $!; done")
    proc = ctrtool("stop", "-b", "ctr", "-t", "1", "--yes", name, env=lab_env)
    assert proc.returncode == 0, proc.stderr
    assert native.ctr_task("default", name) == "STOPPED"


def test_crictl_start_stop_rm_with_consent(native, lab_env):
    pod = native.pod("ctl-life-pod")
    cid = native.cri_container(pod, "ctl-life-pod", "ctl-life-box", start=False)
    assert native.cri_state(cid) == "CONTAINER_CREATED"
    dry = ctrtool("start", "-b", "crictl", "--dry-run", "ctl-life-box", env=lab_env)
    assert crictl_line(lab_env, "start", cid).fullmatch(dry.stdout), dry.stdout
    assert native.cri_state(cid) == "CONTAINER_CREATED"
    assert ctrtool("start", "-b", "crictl", "ctl-life-box", env=lab_env).returncode == 0
    assert native.cri_state(cid) == "CONTAINER_RUNNING"

    assert ctrtool("stop", "-b", "crictl", "ctl-life-box", env=lab_env).returncode == 5
    assert native.cri_state(cid) == "CONTAINER_RUNNING"
    dry = ctrtool("stop", "-b", "crictl", "--dry-run", "ctl-life-box", env=lab_env)
    assert crictl_line(lab_env, "stop", "--timeout", "10", cid).fullmatch(dry.stdout), dry.stdout
    assert ctrtool("stop", "-b", "crictl", "--yes", "ctl-life-box", env=lab_env).returncode == 0
    assert native.cri_state(cid) == "CONTAINER_EXITED"

    restart = ctrtool("start", "-b", "crictl", "ctl-life-box", env=lab_env)
    assert restart.returncode == 1 and "starts a container only once" in restart.stderr

    assert ctrtool("rm", "-b", "crictl", "ctl-life-box", env=lab_env).returncode == 5
    assert native.cri_state(cid) == "CONTAINER_EXITED"
    assert ctrtool("rm", "-b", "crictl", "--yes", "ctl-life-box", env=lab_env).returncode == 0
    assert native.cri_state(cid) is None


def test_on_a_terminal_it_asks_and_only_yes_goes_ahead(native, lab_env):
    name = "ctl-life-ask"
    native.docker_run(name)
    argv = ["-m", "ctrtool", "rm", "--force", name]

    def session():
        return pexpect.spawn(
            sys.executable,
            argv,
            env={**lab_env, "PYTHONPATH": REPO},
            cwd=REPO,
            encoding="utf-8",
            timeout=60,
            dimensions=(40, 200),
        )

    child = session()
    child.expect(re.escape(f"remove container {name} (docker)?"))
    child.expect(re.escape(docker_argv(lab_env, "rm", "--force", name)))
    child.expect(re.escape("Proceed? [y/N]"))
    child.sendline("")  # the default is no
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 5 and native.docker_state(name) == "running"

    child = session()
    child.expect(re.escape("Proceed? [y/N]"))
    child.sendline("y")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and native.docker_state(name) is None


def test_several_containers_one_question_and_all_or_nothing(native, lab_env):
    native.docker_run("ctl-many-1")
    native.ctr_run("default", "ctl-many-2")
    refused = ctrtool("rm", "-f", "ctl-many-1", "ctl-many-2", env=lab_env)
    assert refused.returncode == 5
    assert native.docker_state("ctl-many-1") == "running" and native.ctr_task("default", "ctl-many-2") == "RUNNING"
    done = ctrtool("rm", "-f", "--yes", "ctl-many-1", "ctl-many-2", env=lab_env)
    assert done.returncode == 0 and done.stdout == "ctl-many-1\nctl-many-2\n"
    assert native.docker_state("ctl-many-1") is None and "ctl-many-2" not in native.ctr_containers("default")


def test_rm_without_force_removes_stopped_and_never_started_containers(native, lab_env):
    native.docker_create("ctl-rm-created")
    native.ctr_run("default", "ctl-rm-stopped")
    native.ctr("default", "tasks", "kill", "--signal", "SIGKILL", "ctl-rm-stopped")
    native.wait(lambda: native.ctr_task("default", "ctl-rm-stopped") == "STOPPED")
    native.ctr_without_task("default", "ctl-rm-no-task")
    pod = native.pod("ctl-rm-pod")
    cid = native.cri_container(pod, "ctl-rm-pod", "ctl-rm-new", start=False)

    dry = ctrtool("rm", "-b", "ctr", "--dry-run", "ctl-rm-stopped", "ctl-rm-no-task", env=lab_env)
    assert dry.stdout == (
        ctr_argv(lab_env, "tasks", "delete", "ctl-rm-stopped")
        + "\n"
        + ctr_argv(lab_env, "containers", "rm", "ctl-rm-stopped")
        + "\n"
        + ctr_argv(lab_env, "containers", "rm", "ctl-rm-no-task")
        + "\n"
    )
    for args in (["ctl-rm-created"], ["-b", "ctr", "ctl-rm-stopped", "ctl-rm-no-task"], ["ctl-rm-new"]):
        proc = ctrtool("rm", "--yes", *args, env=lab_env)
        assert proc.returncode == 0, proc.stderr
    assert native.docker_state("ctl-rm-created") is None
    assert not {"ctl-rm-stopped", "ctl-rm-no-task"} & set(native.ctr_containers("default"))
    assert native.cri_state(cid) is None

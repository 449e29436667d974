"""kill and prune against the real lab, with consent: nothing is signalled or removed without it.

The lab's own images (localhost/ctrtool/demo:1.0, localhost/ctrtool/pause:3.6) are never pruned
for real: docker's real prune runs only when the dangling images are this test's own scratch
images, and crictl's `rmi --prune` (which would remove both lab images) is only ever refused or
dry-run.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import types

import pexpect
import pytest
from helpers import ctrtool
from registry import scratch_image
from workloads import crictl_line, ctr_argv, docker_argv

pytestmark = pytest.mark.lab

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = "localhost/ctrtool/demo:1.0"
DEMO_ID = "sha256:10da968d4b97b257d0a6d346712cd6d3bc4cb63b2b5032eabab3e008e4fb5e7a"
PAUSE = "localhost/ctrtool/pause:3.6"
# PID 1 says so on stdout when it gets SIGUSR1 (a shell as PID 1 ignores signals it does not trap)
USR1_SCRIPT = "trap 'echo got-usr1' USR1; echo ready; while :; do sleep 3600 & wait $!; done"


def lab_images_untouched(native) -> None:
    assert native.docker_image_ids()[DEMO] == DEMO_ID
    assert DEMO in native.ctr("default", "images", "ls", "--quiet").stdout.split()
    cri = json.loads(native.crictl("images", "-o", "json").stdout)["images"]
    assert {DEMO, PAUSE} <= {t for i in cri for t in i.get("repoTags") or []}


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


# -- prune --------------------------------------------------------------------------------------------


@pytest.fixture
def dangling(native, tmp_path):
    """A dangling docker image of this test's own: a scratch image whose name a second scratch
    image took over. Both are removed afterwards."""
    ref = "localhost/ctrtool/prune-scratch:1"
    ids = []  # docker's own IDs: the config digest on overlay2, the manifest's on containerd's image store
    for n, image in enumerate((scratch_image(ref), scratch_image(ref))):
        path = tmp_path / f"{n}.tar"
        path.write_bytes(image.archive)
        native.docker("load", "--input", str(path))
        ids.append(native.docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip())
    old, new = ids
    yield types.SimpleNamespace(id=old)
    native.docker("image", "rm", "--force", ref, new, check=False)
    native.docker("image", "rm", "--force", old, check=False)


def dangling_ids(native) -> list[str]:
    return native.docker("image", "ls", "--filter", "dangling=true", "--quiet", "--no-trunc").stdout.split()


def test_docker_prune_says_what_it_removes_and_asks(native, dangling, lab_env):
    if dangling_ids(native) != [dangling.id]:
        pytest.fail(
            f"dangling images other than this test's own in the lab's docker: {dangling_ids(native)}; "
            "not pruning for real"
        )
    short = dangling.id[:19]
    refused = ctrtool("prune", "-b", "docker", env=lab_env)
    assert refused.returncode == 5 and refused.stdout == ""
    assert (
        f"refusing to remove 1 dangling image from docker's store (untagged {short}) without confirmation"
    ) in refused.stderr
    dry = ctrtool("prune", "-b", "docker", "--dry-run", env=lab_env)
    assert (dry.returncode, dry.stdout) == (0, docker_argv(lab_env, "image", "prune", "--force") + "\n")
    assert f"untagged {short}" in dry.stderr
    everything = ctrtool("prune", "-b", "docker", "--all", "--dry-run", env=lab_env)
    assert everything.stdout == docker_argv(lab_env, "image", "prune", "--force", "--all") + "\n"
    assert DEMO in everything.stderr and "localhost/ctrtool/prune-scratch:1" in everything.stderr
    assert dangling_ids(native) == [dangling.id]

    # on a terminal: the question names the images; the default is no
    child = pexpect.spawn(
        sys.executable,
        ["-m", "ctrtool", "prune", "-b", "docker"],
        env={**lab_env, "PYTHONPATH": REPO},
        cwd=REPO,
        encoding="utf-8",
        timeout=60,
        dimensions=(40, 250),
    )
    child.expect(re.escape(f"remove 1 dangling image from docker's store (untagged {short})?"))
    child.expect(re.escape(docker_argv(lab_env, "image", "prune", "--force")))
    child.expect(re.escape("Proceed? [y/N]"))
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 5 and dangling_ids(native) == [dangling.id]

    # a dangling image a container uses is kept, by docker and in what ctrtool says
    native.docker("create", "--name", "ctl-prune-user", "--network", "none", dangling.id, "true")
    native.made.append(("docker", "ctl-prune-user"))
    used = ctrtool("prune", "-b", "docker", "--dry-run", env=lab_env)
    assert used.stdout == "" and "every one is used by a container; nothing to do" in used.stderr
    native.docker("rm", "ctl-prune-user")

    done = ctrtool("prune", "-b", "docker", "--yes", env=lab_env)
    assert (done.returncode, done.stdout) == (0, f"{dangling.id}\n"), done.stderr
    assert dangling_ids(native) == []
    assert native.docker("image", "inspect", dangling.id, check=False).returncode != 0
    assert native.docker("image", "inspect", "localhost/ctrtool/prune-scratch:1", check=False).returncode == 0
    lab_images_untouched(native)


def test_crictl_prune_has_only_the_all_kind_and_warns_about_the_sandbox_image(native, lab_env, lab):
    dangling_only = ctrtool("prune", "-b", "crictl", "--yes", env=lab_env)
    assert dangling_only.returncode == 2
    assert "crictl cannot remove only the dangling (untagged) images" in dangling_only.stderr
    assert "add --all" in dangling_only.stderr

    refused = ctrtool("prune", "-b", "crictl", "--all", env=lab_env)
    assert refused.returncode == 5 and refused.stdout == ""
    error = refused.stderr.splitlines()[0]
    pinned = lab.profile.containerd_major >= 2
    if not pinned:
        # the lab's images: no container uses them now, and containerd 1.6 pins nothing
        assert "remove 2 images no container uses" in error and DEMO in error and PAUSE in error
        assert f"the sandbox (pause) image {PAUSE} among them (new pods need it)" in error
    else:
        # containerd 2.x pins the CRI's sandbox image (pinned_images.sandbox): crictl keeps it
        assert "remove 1 image no container uses" in error and DEMO in error and PAUSE not in error
        assert json.loads(native.crictl("inspecti", "-o", "json", PAUSE).stdout)["status"]["pinned"] is True
    dry = ctrtool("prune", "-b", "crictl", "-a", "--dry-run", env=lab_env)
    assert crictl_line(lab_env, "rmi", "--prune").fullmatch(dry.stdout), dry.stdout

    # an image a container uses is not in the list
    pod = native.pod("ctl-prune-pod")
    native.cri_container(pod, "ctl-prune-pod", "ctl-prune-box", start=False)
    in_use = ctrtool("prune", "-b", "crictl", "-a", "--dry-run", env=lab_env)
    if not pinned:
        assert "remove 1 image no container uses" in in_use.stderr and DEMO not in in_use.stderr
    else:
        assert "every image is used by a container or pinned" in in_use.stderr
    lab_images_untouched(native)


def test_ctr_has_no_prune_and_prune_needs_a_backend(lab_env):
    proc = ctrtool("prune", "-b", "ctr", "--all", "--yes", env=lab_env)
    assert proc.returncode == 2 and proc.stdout == ""
    error, hint = proc.stderr.splitlines()
    assert error.startswith("ctrtool: error: ctr has no prune")
    assert "ctrtool rmi --backend ctr -n default REF" in hint and "ctrtool prune --backend crictl --all" in hint
    where = ctrtool("prune", "--dry-run", env=lab_env)
    assert where.returncode == 2 and "say where to prune: --backend docker|ctr|crictl" in where.stderr

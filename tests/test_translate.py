"""`ctrtool translate`: docker command lines into crictl, ctr, nerdctl and podman, flag by flag.

No daemon needed. The flags themselves are checked against the real tools' --help in
test_translate_flags.py, and a sample is run against the lab in test_translate_lab.py.
"""

from __future__ import annotations

import json
import shlex

import pytest
import yaml
from typer.testing import CliRunner

from ctrtool.cli import app
from ctrtool.translate import Ids, translate, translate_all
from ctrtool.translate.errors import DockerUsageError, NotCovered, TableError
from ctrtool.translate.tables import TARGETS, check_table, data_path, grammar, load_table, table

FIXED = Ids(name=lambda: "ctrtool-test", exec_id=lambda: "ctrtool-exec-test", uid=lambda: "00000000-uid")
runner = CliRunner()
CLEAN_ENV = {"XDG_CONFIG_HOME": "/nonexistent-ctrtool-test", "CTRTOOL_CONFIG": "", "NO_COLOR": "1"}


def t(cmd: str, tool: str = "crictl", namespace: str = "k8s.io"):
    return translate(shlex.split(cmd), tool, namespace, FIXED)


def dropped(tr) -> list[str]:
    return [u["arg"] for u in tr.unsupported]


def invoke(*args):
    return runner.invoke(app, ["translate", *args], env=CLEAN_ENV)


# -- every command of the coverage list, for crictl and ctr, flag by flag --------------------------

CASES = [
    # docker command, tool, expected command (None: no equivalent), expected untranslated args
    # -- attach
    ("attach web", "crictl", "crictl attach --stdin web", []),
    ("attach --no-stdin web", "crictl", "crictl attach web", []),
    (
        "attach --sig-proxy=false --detach-keys ctrl-x web",
        "crictl",
        "crictl attach --stdin web",
        ["--detach-keys ctrl-x"],
    ),
    ("attach web", "ctr", "ctr -n k8s.io tasks attach web", []),
    (
        "attach --no-stdin --sig-proxy=false web",
        "ctr",
        "ctr -n k8s.io tasks attach web",
        ["--no-stdin", "--sig-proxy=false"],
    ),
    # -- exec
    ("exec -it web sh", "crictl", "crictl exec --interactive --tty web sh", []),
    ("exec web ls -la /", "crictl", "crictl exec web ls -la /", []),
    (
        "exec -d -e A=1 --env-file f --privileged -u 0 -w /tmp --detach-keys x web ls",
        "crictl",
        "crictl exec web ls",
        ["-d", "-e A=1", "--env-file f", "--privileged", "-u 0", "-w /tmp", "--detach-keys x"],
    ),
    (
        "exec -it -u 0 -w /tmp web sh",
        "ctr",
        "ctr -n k8s.io tasks exec --tty --user 0 --cwd /tmp --exec-id ctrtool-exec-test web sh",
        [],
    ),
    ("exec -d web sleep 1", "ctr", "ctr -n k8s.io tasks exec --detach --exec-id ctrtool-exec-test web sleep 1", []),
    (
        "exec -e A=1 --privileged web ls",
        "ctr",
        "ctr -n k8s.io tasks exec --exec-id ctrtool-exec-test web ls",
        ["-e A=1", "--privileged"],
    ),
    # -- images
    ("images", "crictl", "crictl images", []),
    ("images -a --digests --no-trunc -q", "crictl", "crictl images --digests --no-trunc --quiet", []),
    (
        "images --format json --filter dangling=true busybox",
        "crictl",
        "crictl images --output json --filter dangling=true busybox",
        [],
    ),
    (
        "images --format '{{.ID}}' -f label=a=b -f reference=bu* --tree",
        "crictl",
        "crictl images",
        ["--format '{{.ID}}'", "-f label=a=b", "-f 'reference=bu*'", "--tree"],
    ),
    ("images", "ctr", "ctr -n k8s.io images ls", []),
    ("images busybox:1.36", "ctr", "ctr -n k8s.io images ls name==docker.io/library/busybox:1.36", []),
    ("images localhost/ctrtool/demo", "ctr", r"ctr -n k8s.io images ls 'name~=^localhost/ctrtool/demo[:@]'", []),
    (
        "images -q --format json -f dangling=true 'bu*'",
        "ctr",
        "ctr -n k8s.io images ls",
        ["-q", "--format json", "-f dangling=true", "'bu*'"],
    ),
    # -- info
    ("info", "crictl", "crictl info", []),
    ("info -f '{{.Driver}}'", "crictl", "crictl info", ["-f '{{.Driver}}'"]),
    ("info", "ctr", None, []),
    # -- inspect
    ("inspect web", "crictl", "crictl inspect web", []),
    ("inspect --type image busybox", "crictl", "crictl inspecti busybox", []),
    ("inspect --type=container -s -f json web", "crictl", "crictl inspect --output json web", ["-s"]),
    ("inspect --type volume v", "crictl", None, []),
    ("container inspect a b", "crictl", "crictl inspect a b", []),
    ("image inspect --platform linux/arm64 busybox", "crictl", "crictl inspecti busybox", ["--platform linux/arm64"]),
    ("inspect web", "ctr", "ctr -n k8s.io containers info web", []),
    ("container inspect a b", "ctr", "ctr -n k8s.io containers info a", ["b"]),
    ("inspect --type image busybox", "ctr", None, []),
    ("image inspect busybox", "ctr", None, []),
    # -- logs
    ("logs web", "crictl", "crictl logs web", []),
    ("logs -f -t -n 20 --since 10m web", "crictl", "crictl logs --follow --timestamps --tail 20 --since 10m web", []),
    ("logs --tail all --until 5m --details web", "crictl", "crictl logs web", ["--until 5m", "--details"]),
    ("logs web", "ctr", None, []),
    # -- ps
    ("ps", "crictl", "crictl ps", []),
    ("ps -a -q --no-trunc -n 3 -l", "crictl", "crictl ps --all --quiet --no-trunc --last 3 --latest", []),
    (
        "ps -f name=web -f label=a=b -f label=c -f status=exited -f ancestor=busybox -f id=abc",
        "crictl",
        "crictl ps --name web --label a=b --label c --state exited --image busybox --id abc",
        [],
    ),
    (
        "ps -f status=paused -f name=a -f name=b -f before=x -s --format '{{.ID}}'",
        "crictl",
        "crictl ps --name a",
        ["-f status=paused", "-f name=b", "-f before=x", "-s", "--format '{{.ID}}'"],
    ),
    ("ps --format json", "crictl", "crictl ps --output json", []),
    ("ps", "ctr", "ctr -n k8s.io tasks ls", []),
    ("ps -a -q --no-trunc", "ctr", "ctr -n k8s.io containers ls --quiet", []),
    (
        "ps -n 2 -l -s -f name=x --format json",
        "ctr",
        "ctr -n k8s.io tasks ls",
        ["-n 2", "-l", "-s", "-f name=x", "--format json"],
    ),
    # -- stats
    ("stats", "crictl", "crictl stats --watch", []),
    ("stats --no-stream -a --format json web", "crictl", "crictl stats --all --output json web", []),
    ("stats --no-stream a b --no-trunc", "crictl", "crictl stats a", ["--no-trunc", "b"]),
    ("stats --no-stream web", "ctr", "ctr -n k8s.io tasks metrics web", []),
    ("stats --format json -a web", "ctr", "ctr -n k8s.io tasks metrics --format json web", ["-a"]),
    ("stats", "ctr", None, []),
    # -- version
    ("version", "crictl", "crictl version", []),
    ("version -f json", "ctr", "ctr -n k8s.io version", ["-f json"]),
    # -- create / run (the config files are checked below)
    ("create --name db busybox", "crictl", 'crictl create "$POD_ID" db-container.json db-pod.json', []),
    (
        "run -d --name web --pull never busybox sleep 9",
        "crictl",
        "crictl run --no-pull web-container.json web-pod.json",
        [],
    ),
    (
        "run --rm --restart always -p 80 --runtime runc --name web busybox",
        "crictl",
        "crictl run --runtime runc web-container.json web-pod.json",
        ["--rm", "--restart always"],
    ),
    (
        "create --name db busybox",
        "ctr",
        "ctr -n k8s.io containers create --allow-new-privs --seccomp docker.io/library/busybox:latest db",
        [],
    ),
    (
        "run -d --name web -e A=1 -w /w -l k=v --memory 64m --cpus 0.5 --privileged --network host "
        "--read-only --cap-add net_admin -v /h:/c:ro busybox sleep 9",
        "ctr",
        "ctr -n k8s.io run --detach --env A=1 --cwd /w --label k=v --memory-limit 67108864 --cpus 0.5 --privileged "
        "--net-host --read-only --cap-add CAP_NET_ADMIN --mount type=bind,src=/h,dst=/c,options=rbind:ro "
        "--allow-new-privs docker.io/library/busybox:latest web sleep 9",
        [],
    ),
    (
        "run -d --rm --name web --entrypoint /bin/echo busybox hi",
        "ctr",
        "ctr -n k8s.io run --detach --allow-new-privs --seccomp docker.io/library/busybox:latest web /bin/echo hi",
        ["--rm"],
    ),
    (
        "run --rm --name web -u 1000 -p 80:80 --hostname h busybox",
        "ctr",
        "ctr -n k8s.io run --rm --allow-new-privs --seccomp docker.io/library/busybox:latest web",
        ["-u 1000", "-p 80:80", "--hostname h"],
    ),
    (
        "run --network bridge -d --security-opt no-new-privileges --security-opt seccomp=unconfined busybox",
        "ctr",
        "ctr -n k8s.io run --cni --detach docker.io/library/busybox:latest ctrtool-test",
        [],
    ),
    # -- kill
    ("kill web db", "crictl", "crictl stop --timeout 0 web db", []),
    ("kill -s KILL web", "crictl", "crictl stop --timeout 0 web", []),
    ("kill -s sigkill web", "crictl", "crictl stop --timeout 0 web", []),
    ("kill -s 9 web", "crictl", "crictl stop --timeout 0 web", []),
    ("kill -s hup web", "crictl", None, []),  # never SIGKILL for another signal: no equivalent
    ("kill -s TERM web", "crictl", None, []),
    ("kill web", "ctr", "ctr -n k8s.io tasks kill --signal SIGKILL web", []),
    ("kill -s HUP web db", "ctr", "ctr -n k8s.io tasks kill --signal HUP web", ["db"]),
    # -- pull
    ("pull busybox", "crictl", "crictl pull busybox", []),
    (
        "pull -a -q --platform linux/arm64 --disable-content-trust=false busybox",
        "crictl",
        "crictl pull busybox",
        ["-a", "-q", "--platform linux/arm64", "--disable-content-trust=false"],
    ),
    (
        "pull --platform linux/arm64 busybox",
        "ctr",
        "ctr -n k8s.io images pull --platform linux/arm64 docker.io/library/busybox:latest",
        [],
    ),
    # -- rm
    ("rm -f a b", "crictl", "crictl rm --force a b", []),
    ("rm -v -l a", "crictl", "crictl rm a", ["-v", "-l"]),
    ("rm a b", "ctr", "ctr -n k8s.io containers rm a b", []),
    ("rm -f a", "ctr", "ctr -n k8s.io containers rm a", ["-f"]),
    # -- rmi
    ("rmi busybox localhost/x:1", "crictl", "crictl rmi busybox localhost/x:1", []),
    (
        "rmi -f --no-prune --platform linux/amd64 busybox",
        "crictl",
        "crictl rmi busybox",
        ["--no-prune", "--platform linux/amd64"],
    ),
    (
        "rmi -f busybox localhost/x:1",
        "ctr",
        "ctr -n k8s.io images rm docker.io/library/busybox:latest localhost/x:1",
        [],
    ),
    # -- start
    ("start a b", "crictl", "crictl start a b", []),
    ("start -a -i a", "crictl", "crictl start a", ["-a", "-i"]),
    ("start a", "ctr", "ctr -n k8s.io tasks start --detach a", []),
    ("start -a a b", "ctr", "ctr -n k8s.io tasks start a", ["b"]),
    # -- stop
    ("stop a b", "crictl", "crictl stop --timeout 10 a b", []),
    ("stop -t 3 a", "crictl", "crictl stop --timeout 3 a", []),
    ("stop --time 3 -s INT a", "crictl", "crictl stop --timeout 3 a", ["-s INT"]),
    ("stop a", "ctr", "ctr -n k8s.io tasks kill a", []),
    ("stop -s SIGINT -t 5 a", "ctr", "ctr -n k8s.io tasks kill --signal SIGINT a", ["-t 5"]),
    # -- update
    (
        "update --cpus 1.5 -m 1g --cpuset-cpus 0-1 --cpuset-mems 0 -c 512 --cpu-period 100 --cpu-quota 50 a",
        "crictl",
        "crictl update --cpu-period 100000 --cpu-quota 150000 --memory 1073741824 --cpuset-cpus 0-1 --cpuset-mems 0 "
        "--cpu-share 512 --cpu-period 100 --cpu-quota 50 a",
        [],
    ),
    (
        "update --memory-swap -1 --pids-limit 5 --restart no --blkio-weight 10 a",
        "crictl",
        "crictl update a",
        ["--memory-swap -1", "--pids-limit 5", "--restart no", "--blkio-weight 10"],
    ),
    ("update -m 1g a", "ctr", None, []),
    # -- load / save / tag
    ("load -i x.tar", "crictl", None, []),
    (
        "load -i x.tar --platform linux/amd64 -q",
        "ctr",
        "ctr -n k8s.io images import --platform linux/amd64 x.tar",
        ["-q"],
    ),
    ("load", "ctr", "ctr -n k8s.io images import -", []),
    ("save -o out.tar busybox", "crictl", None, []),
    (
        "save -o out.tar busybox localhost/x:1",
        "ctr",
        "ctr -n k8s.io images export out.tar docker.io/library/busybox:latest localhost/x:1",
        [],
    ),
    ("save busybox", "ctr", "ctr -n k8s.io images export - docker.io/library/busybox:latest", []),
    ("tag busybox x", "crictl", None, []),
    (
        "tag busybox x:1",
        "ctr",
        "ctr -n k8s.io images tag --force docker.io/library/busybox:latest docker.io/library/x:1",
        [],
    ),
    # -- pause / unpause / top
    ("pause a", "crictl", None, []),
    ("pause a b", "ctr", "ctr -n k8s.io tasks pause a", ["b"]),
    ("unpause a", "crictl", None, []),
    ("unpause a", "ctr", "ctr -n k8s.io tasks resume a", []),
    ("top a", "crictl", None, []),
    ("top a -ef", "ctr", "ctr -n k8s.io tasks ps a", ["-ef"]),
    # -- image prune
    ("image prune", "crictl", None, []),
    ("image prune -a -f", "crictl", "crictl rmi --prune", []),
    ("image prune -a --filter until=24h", "crictl", None, []),  # without the filter it would remove more
    ("image prune -a", "ctr", None, []),
    # -- system df
    ("system df", "crictl", "crictl imagefsinfo --output table", []),
    ("system df --format json -v", "crictl", "crictl imagefsinfo --output json", ["-v"]),
    ("system df -v", "ctr", "ctr -n k8s.io snapshots usage", []),
    # -- cp, restart, system prune: no crictl or ctr equivalent, a pointer instead (nerdctl has them)
    ("cp web:/etc/hosts .", "crictl", None, []),
    ("container cp -a web:/etc/hosts .", "ctr", None, []),
    ("cp -L -a web:/etc/hosts .", "nerdctl", "nerdctl --namespace k8s.io cp --follow-link web:/etc/hosts .", ["-a"]),
    ("restart -t 5 web", "crictl", None, []),
    ("container restart web", "ctr", None, []),
    ("restart -t 5 -s HUP web", "nerdctl", "nerdctl --namespace k8s.io restart --time 5 web", ["-s HUP"]),
    ("system prune -a -f", "crictl", None, []),
    ("system prune", "ctr", None, []),
    ("system prune -a -f", "nerdctl", "nerdctl --namespace k8s.io system prune --all --force", []),
    ("system prune --volumes", "nerdctl", None, []),  # nerdctl's also removes named volumes
    # -- nerdctl keeps docker's language
    ("stop -t 3 a", "nerdctl", "nerdctl --namespace k8s.io stop --time 3 a", []),
    (
        "ps -a -f ancestor=x -f status=exited",
        "nerdctl",
        "nerdctl --namespace k8s.io ps --all --filter status=exited",
        ["-f ancestor=x"],
    ),
    ("container inspect a", "nerdctl", "nerdctl --namespace k8s.io inspect --type container a", []),
    ("system df", "nerdctl", None, []),
]


@pytest.mark.parametrize("docker, tool, expected, untranslated", CASES, ids=[f"{c[1]}: docker {c[0]}" for c in CASES])
def test_translation(docker, tool, expected, untranslated):
    tr = t(docker, tool)
    assert tr.command == expected
    assert dropped(tr) == untranslated
    if expected is None:
        assert tr.argv is None and tr.reason


def test_every_command_of_the_coverage_list_is_translated():
    kubernetes_mapping = {
        "attach",
        "exec",
        "images",
        "info",
        "inspect",
        "logs",
        "ps",
        "stats",
        "version",
        "create",
        "kill",
        "pull",
        "rm",
        "rmi",
        "run",
        "start",
        "stop",
        "update",
    }
    crictl_lacks = {"load", "save", "tag", "pause", "unpause", "top", "image prune", "system df"}
    covered = set(grammar().commands)
    assert kubernetes_mapping | crictl_lacks <= covered
    tested = {
        shlex.split(c[0])[0]
        if shlex.split(c[0])[0] not in ("image", "system", "container")
        else " ".join(shlex.split(c[0])[:2])
        for c in CASES
    }
    for tool in ("crictl", "ctr"):
        tested_here = {
            (" ".join(shlex.split(c[0])[:2]) if shlex.split(c[0])[0] in ("image", "system") else shlex.split(c[0])[0])
            for c in CASES
            if c[1] == tool
        }
        assert (kubernetes_mapping | crictl_lacks) - tested_here == set(), tool
    assert tested


def test_kill_with_another_signal_has_no_crictl_equivalent_and_points_to_ctr():
    """Found in use: `docker kill -s HUP x` became `crictl stop --timeout 0 x`, which kills."""
    tr = t("kill -s HUP x")
    assert tr.argv is None
    assert "SIGKILL" in tr.reason
    assert "ctr -n k8s.io tasks kill --signal HUP <CRI container ID>" in tr.notes[0]
    ctr = t("kill -s HUP x", "ctr")
    assert ctr.argv == ["ctr", "-n", "k8s.io", "tasks", "kill", "--signal", "HUP", "x"]
    result = invoke("docker", "kill", "-s", "HUP", "x")
    assert result.exit_code == 4
    assert result.stdout.startswith("# crictl: no equivalent: ")
    assert "ctr -n k8s.io tasks kill --signal HUP" in result.stdout
    result = invoke("--run", "docker", "kill", "-s", "HUP", "x")
    assert result.exit_code == 4 and "ctr -n k8s.io tasks kill --signal HUP" in " ".join(result.output.split())


@pytest.mark.parametrize(
    "docker, tool, pointers",
    [
        ("cp web:/etc/hosts .", "crictl", ["crictl exec CONTAINER-ID tar", "kubectl cp", "/proc/PID/root"]),
        ("cp web:/etc/hosts .", "ctr", ["/proc/PID/root", "ctr -n k8s.io snapshots mounts /mnt/x CONTAINER-ID"]),
        (
            "restart web",
            "crictl",
            ["crictl stop --timeout 10 CONTAINER-ID", "crictl create POD-ID", "crictl start NEW-ID"],
        ),
        (
            "restart web",
            "ctr",
            [
                "ctr -n k8s.io tasks kill CONTAINER-ID",
                "ctr -n k8s.io tasks rm CONTAINER-ID",
                "ctr -n k8s.io tasks start --detach CONTAINER-ID",
            ],
        ),
        (
            "system prune -a",
            "crictl",
            ["crictl rm $(crictl ps -a --state exited -q)", "crictl rmi --prune", "networks", "build cache"],
        ),
        (
            "system prune",
            "crictl",
            [
                "crictl rm $(crictl ps -a --state exited -q)",
                "crictl rmi $(crictl images --filter dangling=true -q)",
                "Not `crictl rmi --prune`",
            ],
        ),
        ("system prune", "ctr", ["ctr -n k8s.io containers rm", "ctr -n k8s.io images rm"]),
    ],
)
def test_cp_restart_and_system_prune_point_to_what_to_do_instead(docker, tool, pointers):
    """They were "not covered" (exit 2) with no word on what to do."""
    tr = t(docker, tool)
    assert tr.argv is None and tr.reason
    text = " ".join(tr.notes)
    for pointer in pointers:
        assert pointer in text, pointer
    result = invoke("-o", "json", "--to", tool, "--", "docker", *shlex.split(docker))
    assert result.exit_code == 4
    data = json.loads(result.stdout)
    assert set(data) == {"tool", "argv", "command", "reason", "unsupported", "notes", "files", "before"}
    assert data["argv"] is None and data["notes"] == tr.notes


def test_crictl_lacks_what_ctr_has_and_says_so():
    for docker in ("load -i x.tar", "save -o x.tar busybox", "tag a b", "pause a", "unpause a", "top a"):
        crictl, ctr = t(docker, "crictl"), t(docker, "ctr")
        assert crictl.argv is None and ctr.argv is not None, docker
        assert any("ctr -n k8s.io" in n for n in crictl.notes), f"crictl's notes for `{docker}` point to ctr"


def test_docker_load_explains_why_the_namespace_matters():
    tr = t("load -i x.tar", "ctr")
    assert tr.argv[:3] == ["ctr", "-n", "k8s.io"]
    assert any("kubelet" in n and "default" in n for n in tr.notes)
    other = t("load -i x.tar", "ctr", namespace="default")
    assert other.argv[:3] == ["ctr", "-n", "default"]


# -- untranslatable flags are reported, never silently dropped --------------------------------------

_SAMPLE = {
    "bool": None,
    "int": "5",
    "decimal": "1.5",
    "bytes": "64m",
    "swapbytes": "128m",
    "string": "xy",
    "list": "xy",
}
_ARGS = {"container": "web", "image": "busybox", "object": "web", "command": "sh", "path": "web:/etc/hosts"}
# docker flags that turn docker into what the target does anyway (checked one by one)
_SAME_BY_DEFAULT = {
    ("crictl", "attach", "--sig-proxy"),  # =false: crictl attach forwards no signals (a note says so)
    ("crictl", "run", "--sig-proxy"),  # =false: crictl run does not attach, so forwards no signals
}


def _sample_args(spec) -> list[str]:
    return [_ARGS[a.kind] for a in spec.args if not a.optional]


@pytest.mark.parametrize("tool", TARGETS)
def test_no_docker_flag_is_silently_dropped(tool):
    """Adding any one docker flag changes the translation, adds a note, or is reported as not translated."""
    silent = []
    for name, spec in grammar().commands.items():
        base_args = _sample_args(spec)
        base = translate([*name.split(), *base_args], tool, ids=FIXED)
        for flag in spec.flags:
            if flag.alias_of:
                continue
            value = _SAMPLE[flag.type]
            if flag.type == "bool" and flag.default:
                tokens = [f"{flag.long}=false"]
            else:
                tokens = [flag.long] if value is None else [flag.long, value]
            tr = translate([*name.split(), *tokens, *base_args], tool, ids=FIXED)
            if tr.argv is None and base.argv is None:
                continue  # no equivalent at all: the reason says why, whatever the flags
            changed = (
                tr.argv != base.argv
                or tr.files != base.files
                or tr.reason != base.reason
                or set(tr.notes) ^ set(base.notes)
                or tr.unsupported != base.unsupported
            )
            if not changed and (tool, name, flag.long) not in _SAME_BY_DEFAULT:
                silent.append(f"docker {name} {' '.join(tokens)}")
    assert not silent, f"{tool}: translated as if the flag were not there, without a word:\n" + "\n".join(silent)


# -- docker's grammar: management forms, bundles, values, `--` -----------------------------------


@pytest.mark.parametrize(
    "management, plain",
    [
        ("container ls -a", "ps -a"),
        ("container list -a", "ps -a"),
        ("container ps -a", "ps -a"),
        ("image ls -q", "images -q"),
        ("image list", "images"),
        ("image rm busybox", "rmi busybox"),
        ("image remove busybox", "rmi busybox"),
        ("container rm -f a", "rm -f a"),
        ("container remove a", "rm a"),
        ("container exec -it a sh", "exec -it a sh"),
        ("container logs -f a", "logs -f a"),
        ("container stop a", "stop a"),
        ("container kill a", "kill a"),
        ("container start a", "start a"),
        ("container run -d busybox", "run -d busybox"),
        ("container create busybox", "create busybox"),
        ("container attach a", "attach a"),
        ("container stats --no-stream", "stats --no-stream"),
        ("container top a", "top a"),
        ("container pause a", "pause a"),
        ("container unpause a", "unpause a"),
        ("container update -m 1g a", "update -m 1g a"),
        ("image pull busybox", "pull busybox"),
        ("image load -i x", "load -i x"),
        ("image save -o x busybox", "save -o x busybox"),
        ("image tag a b", "tag a b"),
        ("system info", "info"),
    ],
)
@pytest.mark.parametrize("tool", TARGETS)
def test_management_forms_translate_like_the_plain_ones(management, plain, tool):
    a, b = t(management, tool), t(plain, tool)
    assert (a.argv, a.unsupported, a.reason) == (b.argv, b.unsupported, b.reason)


@pytest.mark.parametrize(
    "bundled, spelled",
    [
        ("ps -aq", "ps -a -q"),
        ("ps -qa", "ps --quiet --all"),
        ("ps -an5", "ps -a -n 5"),
        ("ps -an 5", "ps -a -n 5"),
        ("ps -n=5", "ps --last=5"),
        ("ps -n5", "ps --last 5"),
        ("exec -it web sh", "exec -i -t web sh"),
        ("rm -fv a", "rm -f -v a"),
        ("logs -ftn3 a", "logs -f -t -n 3 a"),
        ("images -aq", "images --all --quiet"),
        ("ps -a=true", "ps -a"),
        ("stop -t=3 a", "stop --timeout 3 a"),
    ],
)
def test_combined_short_flags_and_value_forms(bundled, spelled):
    for tool in ("crictl", "ctr"):
        assert t(bundled, tool).argv == t(spelled, tool).argv


def test_the_word_docker_is_optional_and_flags_may_follow_arguments():
    assert t("docker ps -a").argv == t("ps -a").argv == ["crictl", "ps", "--all"]
    assert t("rm a -f").argv == t("rm -f a").argv
    # but not for run, create, exec, top, tag: there the rest belongs to the container's command
    assert t("exec web ls -a").argv == ["crictl", "exec", "web", "ls", "-a"]


def test_a_bool_turned_off_is_not_given():
    assert t("ps --all=false").argv == t("ps").argv
    assert t("ps -a=0 -q").argv == ["crictl", "ps", "--quiet"]
    assert t("rm --force=false a").argv == ["crictl", "rm", "a"]


def test_double_dash_ends_docker_flags_and_a_leading_dash_argument_is_protected():
    tr = t("rm -- -weird")
    assert tr.argv == ["crictl", "rm", "--", "-weird"]
    tr = t("rm -f -- -a b", "ctr")
    assert tr.argv == ["ctr", "-n", "k8s.io", "containers", "rm", "--", "-a", "b"]
    assert t("exec -- -c sh", "ctr").argv[-3:] == ["--", "-c", "sh"]


def test_last_value_wins_for_single_value_flags_and_lists_keep_all():
    assert t("logs -n 5 --tail 7 a").argv == ["crictl", "logs", "--tail", "7", "a"]
    tr = t("run -d -e A=1 -e B=2 --name x busybox", "ctr")
    assert tr.argv.count("--env") == 2


def test_global_docker_flags_are_reported():
    tr = t("docker -H unix:///var/run/docker.sock --context x ps")
    assert tr.argv == ["crictl", "ps"]
    assert dropped(tr) == ["-H unix:///var/run/docker.sock", "--context x"]


def test_help_translates_to_the_targets_help():
    assert t("ps --help").argv == ["crictl", "ps", "--help"]
    assert t("image rm -h busybox", "ctr").argv == ["ctr", "-n", "k8s.io", "images", "rm", "--help"]
    # -h is --hostname for run and create
    assert t("run -h box --name x busybox", "ctr").argv[-2:] == ["docker.io/library/busybox:latest", "x"]


@pytest.mark.parametrize(
    "docker, error, words",
    [
        ("", DockerUsageError, "no docker command"),
        ("docker", DockerUsageError, "no docker command"),
        ("frobnicate", DockerUsageError, "unknown docker command 'frobnicate'"),
        ("image frob", DockerUsageError, "unknown docker command `docker image frob`"),
        ("container", DockerUsageError, "needs a subcommand"),
        ("ps --bogus", DockerUsageError, "unknown flag: --bogus"),
        ("ps -z", DockerUsageError, "unknown shorthand flag: 'z'"),
        ("ps -n", DockerUsageError, "flag needs an argument"),
        ("ps --last", DockerUsageError, "flag needs an argument"),
        ("ps -n x", DockerUsageError, 'invalid argument "x"'),
        ("ps --all=maybe", DockerUsageError, "not a boolean"),
        ("update -m 5x a", DockerUsageError, 'invalid argument "5x"'),
        ("ps a", DockerUsageError, "accepts no arguments"),
        ("tag a", DockerUsageError, "requires 2 arguments"),
        ("logs a b", DockerUsageError, "requires 1 argument"),
        ("exec web", DockerUsageError, "requires at least 2 arguments"),
        ("images a b", DockerUsageError, "requires at most 1 argument"),
        ("---x ps", DockerUsageError, "bad flag syntax"),
        ("build .", NotCovered, "`docker build` is not covered"),
        ("network ls", NotCovered, "`docker network` is not covered"),
        ("container prune", NotCovered, "`docker container prune` is not covered"),
        ("run --name 'a b' busybox", DockerUsageError, "invalid container name"),
        ("run --name a busybox", DockerUsageError, "invalid container name"),  # docker wants 2 characters or more
    ],
)
def test_bad_docker_command_lines(docker, error, words):
    with pytest.raises(error) as info:
        t(docker)
    assert words in info.value.message
    assert info.value.exit_code == 2


# -- ctr wants full references; crictl configs for run/create --------------------------------------


def test_ctr_gets_full_image_references_and_says_so():
    tr = t("rmi busybox quay.io/a/b:1 localhost:5000/c", "ctr")
    assert tr.argv[-3:] == ["docker.io/library/busybox:latest", "quay.io/a/b:1", "localhost:5000/c:latest"]
    assert any("busybox -> docker.io/library/busybox:latest" in n for n in tr.notes)
    ids = t("rmi 10da968d4b97", "ctr")
    assert ids.argv[-1] == "10da968d4b97" and any("not IDs" in n for n in ids.notes)


def test_crictl_run_writes_the_pod_and_container_configs():
    tr = t(
        "run -d --name web -e A=1 -e B=2 -l tier=db -w /srv -t -i --privileged --network host --pid host "
        "-v /data:/data:ro -p 127.0.0.1:8080:80/udp --memory 256m --cpus 0.5 --cap-add NET_ADMIN "
        "--cap-drop CAP_CHOWN -u 1000:1000 --read-only --hostname h --dns 1.1.1.1 --sysctl net.x=1 "
        "--entrypoint /bin/sh busybox -c 'echo hi'"
    )
    assert tr.argv == ["crictl", "run", "web-container.json", "web-pod.json"]
    assert dropped(tr) == []
    pod = json.loads(tr.files["web-pod.json"])
    ctr = json.loads(tr.files["web-container.json"])
    assert pod["metadata"] == {"name": "web", "namespace": "default", "uid": "00000000-uid", "attempt": 0}
    assert pod["hostname"] == "h" and pod["dns_config"] == {"servers": ["1.1.1.1"]}
    assert pod["port_mappings"] == [{"container_port": 80, "host_port": 8080, "host_ip": "127.0.0.1", "protocol": 1}]
    assert pod["linux"]["security_context"] == {"privileged": True, "namespace_options": {"network": 2, "pid": 2}}
    assert pod["linux"]["sysctls"] == {"net.x": "1"}
    assert ctr["image"] == {"image": "busybox"}
    assert ctr["command"] == ["/bin/sh"] and ctr["args"] == ["-c", "echo hi"]
    assert ctr["envs"] == [{"key": "A", "value": "1"}, {"key": "B", "value": "2"}]
    assert ctr["labels"] == {"tier": "db"} and ctr["working_dir"] == "/srv"
    assert ctr["tty"] is True and ctr["stdin"] is True
    assert ctr["mounts"] == [{"host_path": "/data", "container_path": "/data", "readonly": True}]
    sc = ctr["linux"]["security_context"]
    assert sc["privileged"] is True and sc["readonly_rootfs"] is True
    assert sc["capabilities"] == {"add_capabilities": ["NET_ADMIN"], "drop_capabilities": ["CHOWN"]}
    assert sc["run_as_user"] == {"value": 1000} and sc["run_as_group"] == {"value": 1000}
    assert "seccomp" not in sc, "privileged: no seccomp, as with docker"
    assert ctr["linux"]["resources"] == {"memory_limit_in_bytes": 268435456, "cpu_period": 100000, "cpu_quota": 50000}


def test_crictl_run_applies_docker_default_seccomp_unless_unconfined():
    tr = t("run --name aa busybox")
    assert json.loads(tr.files["aa-container.json"])["linux"]["security_context"]["seccomp"] == {"profile_type": 0}
    tr = t("run --name aa --security-opt seccomp=unconfined busybox")
    assert json.loads(tr.files["aa-container.json"])["linux"]["security_context"]["seccomp"] == {"profile_type": 1}


def test_crictl_create_needs_a_pod_first():
    tr = t("create --name db busybox")
    assert [b.command for b in tr.before] == ["crictl runp db-pod.json"]
    assert tr.before[0].capture == "POD_ID"
    assert shlex.split(tr.command) == tr.argv and tr.argv[2] == "$POD_ID"


def test_crictl_run_without_a_name_makes_one_up():
    tr = t("run busybox")
    assert tr.argv == ["crictl", "run", "ctrtool-test-container.json", "ctrtool-test-pod.json"]
    assert any("ctrtool-test" in n for n in tr.notes)


def test_values_that_need_the_caller_environment_are_reported():
    tr = t("run --name aa -e FROM_MY_SHELL busybox")
    assert dropped(tr) == ["-e FROM_MY_SHELL"]
    tr = t("run -d --name aa -e FROM_MY_SHELL -v named:/data busybox", "ctr")
    assert dropped(tr) == ["-e FROM_MY_SHELL", "-v named:/data"]


# -- output: text, JSON, exit codes ---------------------------------------------------------------


def test_text_output_is_a_shell_snippet_with_comments():
    result = invoke("--", "docker", "ps", "-a", "-s")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "crictl ps --all"
    assert "# not translated: -s (the CRI reports no container sizes)" in lines
    assert all(line.startswith("# ") for line in lines[1:])


def test_quiet_prints_only_the_command():
    result = invoke("-q", "--to", "ctr", "docker", "rmi", "busybox")
    assert result.exit_code == 0
    assert result.stdout == "ctr -n k8s.io images rm docker.io/library/busybox:latest\n"


def test_text_output_for_crictl_run_writes_the_files_then_runs():
    result = invoke("-q", "docker", "create", "--name", "db", "busybox")
    lines = result.stdout.splitlines()
    assert lines[0] == "cat > db-pod.json <<'EOF'"
    assert "POD_ID=$(crictl runp db-pod.json)" in lines
    assert lines[-1] == 'crictl create "$POD_ID" db-container.json db-pod.json'


def test_no_equivalent_is_exit_4_and_says_why():
    result = invoke("docker", "load", "-i", "x.tar")
    assert result.exit_code == 4
    assert result.stdout.startswith("# crictl: no equivalent: the CRI has no image import")
    assert "ctr -n k8s.io images import" in result.stdout


def test_json_for_one_target_is_an_object():
    result = invoke("-o", "json", "--to", "ctr", "--", "docker", "ps", "-a", "-s")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert set(data) == {"tool", "argv", "command", "reason", "unsupported", "notes", "files", "before"}
    assert data["tool"] == "ctr" and data["argv"] == ["ctr", "-n", "k8s.io", "containers", "ls"]
    assert shlex.split(data["command"]) == data["argv"]
    assert data["unsupported"] == [{"arg": "-s", "reason": "ctr lists no sizes (`ctr snapshots usage` has them)"}]
    assert data["reason"] is None and isinstance(data["notes"], list)


def test_json_for_all_targets_is_a_list_and_exit_4_only_when_none_has_one():
    result = invoke("-o", "json", "--to", "all", "docker", "load", "-i", "x.tar")
    data = json.loads(result.stdout)
    assert [d["tool"] for d in data] == ["crictl", "ctr", "nerdctl", "podman"]
    assert data[0]["argv"] is None and data[0]["command"] is None and data[0]["reason"]
    assert result.exit_code == 0, "ctr, nerdctl and podman have one"
    result = invoke("-o", "json", "--to", "all", "docker", "system", "df")
    assert result.exit_code == 0
    result = invoke("-o", "json", "--to", "all", "docker", "inspect", "--type", "secret", "x")
    assert result.exit_code == 0  # nerdctl passes --type on
    result = invoke("-o", "json", "--to", "crictl", "docker", "tag", "a", "b")
    assert result.exit_code == 4 and json.loads(result.stdout)["argv"] is None


def test_yaml_output():
    result = invoke("-o", "yaml", "--to", "ctr", "docker", "kill", "a")
    assert yaml.safe_load(result.stdout)["argv"][-3:] == ["--signal", "SIGKILL", "a"]


@pytest.mark.parametrize(
    "args, words",
    [
        (["--to", "docker", "docker", "ps"], "--to 'docker' is not one of"),
        (["-o", "xml", "docker", "ps"], "-o 'xml' is not one of"),
        ([], "no docker command to translate"),
        (["docker", "ps", "--bogus"], "unknown flag: --bogus"),
        (["docker", "build", "."], "not covered"),
        (["--yes", "docker", "rm", "a"], "--yes only go(es) with --run"),
        (["--run", "--to", "all", "docker", "ps"], "--run needs one target"),
        (["--run", "-o", "json", "docker", "ps"], "-o json/yaml applies to translations only"),
    ],
)
def test_usage_errors_exit_2(args, words):
    result = invoke(*args)
    assert result.exit_code == 2
    assert words in " ".join(result.output.split())


def test_translate_options_stop_at_the_docker_command():
    """Everything after `docker` belongs to docker, even -o and -q."""
    result = invoke("docker", "ps", "-q")
    assert result.stdout.splitlines()[0] == "crictl ps --quiet"
    result = invoke("docker", "logs", "-t", "a")
    assert result.stdout.splitlines()[0] == "crictl logs --timestamps a"


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["--run", "docker", "load", "-i", "x"], 4, "crictl has no equivalent of `docker load`"),
        (["--run", "docker", "ps", "-s"], 4, "not running an incomplete translation: -s"),
        (["--run", "docker", "exec", "-it", "a", "sh"], 2, "needs a terminal (-t) and stdin is not one"),
        (["--run", "--to", "ctr", "docker", "run", "-t", "busybox"], 2, "needs a terminal (-t)"),
        (["--run", "docker", "attach", "a"], 2, "--run does not attach to running containers"),
        (["--run", "--to", "ctr", "docker", "exec", "-i", "a", "cat"], 2, "ctr loses an early end of input"),
        (["--run", "--to", "nerdctl", "docker", "ps"], 2, "no nerdctl adapter"),
        (["--run", "--to", "podman", "docker", "ps"], 2, "--run does not run podman"),
    ],
)
def test_run_refuses_what_it_cannot_do_faithfully_before_running_anything(args, code, words):
    result = invoke(*args)
    assert result.exit_code == code, result.output
    assert words in " ".join(result.output.split())


def test_run_dry_run_prints_the_exact_commands(tmp_path):
    env = {
        **CLEAN_ENV,
        "CONTAINER_RUNTIME_ENDPOINT": f"unix://{tmp_path}/cri.sock",
        "CONTAINERD_ADDRESS": f"{tmp_path}/containerd.sock",
        "CRI_CONFIG_FILE": str(tmp_path / "none.yaml"),
    }
    result = runner.invoke(app, ["translate", "--run", "--dry-run", "--to", "ctr", "docker", "rmi", "busybox"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        f"ctr --address {tmp_path}/containerd.sock -n k8s.io images rm docker.io/library/busybox:latest"
    )


@pytest.mark.parametrize("version, local", [("2.4.2+unknown", True), ("1.6.20~ds1", False)])
@pytest.mark.parametrize("docker", [["save", "-o", "out.tar", "busybox"], ["load", "-i", "in.tar"]])
def test_run_moves_archives_in_ctrs_client_where_it_has_a_transfer_service(tmp_path, version, local, docker):
    """ctr 2.x's transfer service wrote a truncated archive now and then (CI: a translated `docker
    save -o FILE`); --run adds --local there, as ctrtool's own save and load do; ctr 1.x has none."""
    fake = tmp_path / "bin" / "ctr"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\necho 'ctr github.com/containerd/containerd {version}'\n")
    fake.chmod(0o755)
    env = {
        **CLEAN_ENV,
        "PATH": f"{fake.parent}:/usr/bin:/bin",
        "CONTAINERD_ADDRESS": f"{tmp_path}/containerd.sock",
        "CRI_CONFIG_FILE": str(tmp_path / "none.yaml"),
    }
    result = runner.invoke(app, ["translate", "--run", "--dry-run", "--to", "ctr", "docker", *docker], env=env)
    assert result.exit_code == 0, result.output
    words = result.stdout.split()
    verb = "export" if docker[0] == "save" else "import"
    assert words[words.index(verb) + 1 : words.index(verb) + 2] == (
        ["--local"] if local else [words[words.index(verb) + 1]]
    )
    assert ("--local" in words) is local
    printed = runner.invoke(app, ["translate", "--to", "ctr", "docker", *docker], env=env)
    assert "add --local" in printed.stdout


def test_run_of_a_destructive_command_without_a_terminal_is_refused(tmp_path):
    env = {**CLEAN_ENV, "CONTAINERD_ADDRESS": f"{tmp_path}/containerd.sock"}
    # (an image: a container name is looked up first, so that the question names its ID)
    result = runner.invoke(app, ["translate", "--run", "--to", "ctr", "docker", "rmi", "busybox"], env=env)
    assert result.exit_code == 5
    assert "refusing to remove images (ctr) without confirmation" in result.output


# -- the tables: validated when loaded, errors name the file and the entry ------------------------


def _crictl_data():
    with open(data_path("crictl.yaml")) as fh:
        return yaml.safe_load(fh)


@pytest.mark.parametrize(
    "edit, entry, words",
    [
        (
            lambda d: d["commands"]["ps"]["flags"].update({"--bogus": ["--x"]}),
            "commands.ps.flags.--bogus",
            "not a flag of `docker ps`",
        ),
        (
            lambda d: d["commands"]["ps"]["flags"].pop("--all"),
            "commands.ps.flags",
            "docker flag --all of `docker ps` has no rule",
        ),
        (
            lambda d: d["commands"]["ps"]["flags"].update({"--all": {"emmit": ["--all"]}}),
            "commands.ps.flags.--all",
            "unknown key(s) emmit",
        ),
        (
            lambda d: d["commands"]["ps"]["flags"].update({"--last": {"emit": ["--last"], "convert": "nope"}}),
            "commands.ps.flags.--last.convert",
            "unknown converter 'nope'",
        ),
        (
            lambda d: d["commands"]["ps"]["flags"].update({"--last": ["--last", "{valeu}"]}),
            "commands.ps.flags.--last.emit",
            "unknown placeholder {valeu}",
        ),
        (lambda d: d["commands"].pop("tag"), "commands", "no entry for docker command(s): tag"),
        (lambda d: d["commands"].update({"frob": {"none": "x"}}), "commands.frob", "not a docker command"),
        (lambda d: d["commands"]["ps"].update({"argv": "ps"}), "commands.ps.argv", "must be a list of strings"),
        (
            lambda d: d["commands"]["load"].update({"argv": ["x"]}),
            "commands.load",
            "an entry with `none` takes only notes",
        ),
        (
            lambda d: d["commands"]["inspect"]["dispatch"].update({"absent": "nope"}),
            "commands.inspect.dispatch.absent",
            "no variant 'nope'",
        ),
        (
            lambda d: d["commands"]["exec"].update({"argv": ["exec", "{slot:who}"]}),
            "commands.exec.argv",
            "no slot 'who'",
        ),
        (lambda d: d.update({"tool": "docker"}), "tool", "must be one of crictl, ctr, nerdctl, podman"),
    ],
)
def test_a_broken_table_is_a_clear_error_naming_file_and_entry(edit, entry, words):
    data = _crictl_data()
    edit(data)
    with pytest.raises(TableError) as info:
        check_table(data, "crictl.yaml", grammar())
    assert info.value.message.startswith(f"translation table crictl.yaml: {entry}: ")
    assert words in info.value.message


def test_invalid_yaml_names_the_file_and_line(tmp_path):
    bad = tmp_path / "ctr.yaml"
    bad.write_text("tool: ctr\ncommands:\n  ps: [unclosed\n")
    with pytest.raises(TableError) as info:
        load_table(str(bad), grammar())
    assert str(bad) in info.value.message and "line" in info.value.message


def test_a_broken_table_is_reported_by_the_cli_without_traceback(monkeypatch, tmp_path):
    from ctrtool.translate import tables

    bad = tmp_path / "crictl.yaml"
    data = _crictl_data()
    data["commands"]["ps"]["flags"]["--all"] = {"emit": ["--all"], "convert": "nope"}
    bad.write_text(yaml.safe_dump(data))
    monkeypatch.setattr(
        tables,
        "data_path",
        lambda name: (
            str(bad)
            if name == "crictl.yaml"
            else str(tmp_path.parent / name)
            if False
            else tables.os.path.join(tables.DATA_DIR, name)
        ),
    )
    tables.table.cache_clear()
    try:
        result = invoke("docker", "ps")
    finally:
        tables.table.cache_clear()
    assert result.exit_code == 1
    assert f"translation table {bad}: commands.ps.flags.--all.convert: unknown converter" in " ".join(
        result.output.split()
    )
    assert "Traceback" not in result.output


def test_tables_ship_as_package_data():
    import pathlib

    import tomllib

    pyproject = tomllib.loads((pathlib.Path(__file__).parent.parent / "pyproject.toml").read_text())
    assert "translate/data/*.yaml" in pyproject["tool"]["setuptools"]["package-data"]["ctrtool"]


def test_translate_all_gives_one_translation_per_target():
    assert [x.tool for x in translate_all(["ps"], ids=FIXED)] == list(TARGETS)
    for tool in TARGETS:
        assert table(tool).tool == tool


# -- --run resolves docker container names into CRI IDs, through the crictl adapter's listings -------
# (`crictl ps -a -o json` and `crictl pods -o json` recorded together from the lab: pods h2-web-5d8f
# with containers app (running) and sidecar (created), h2-api-77c with app (running))


def _fixture(name):
    import pathlib

    return json.loads((pathlib.Path(__file__).parent / "fixtures" / "translate" / name).read_text())


class FakeCrictl:
    """The crictl adapter's public listing methods, answering with the recorded output parsed by the
    adapter's own parsers; counts the calls."""

    name = "crictl"

    def __init__(self):
        self.calls = []

    def containers(self, namespaces=None):
        from ctrtool.adapters.crictl import parse_ps

        self.calls.append("containers")
        return parse_ps(
            _fixture("crictl_ps_--all_--output_json.json"), _fixture("crictl_pods_--output_json.json"), "k8s.io"
        )

    def pods(self):
        from ctrtool.adapters.crictl import parse_pods

        self.calls.append("pods")
        return parse_pods(
            _fixture("crictl_pods_--output_json.json"), _fixture("crictl_ps_--all_--output_json.json"), "k8s.io"
        )

    def run(self, *args, **kwargs):
        raise AssertionError(f"translate parsed crictl {' '.join(args)} itself instead of asking the adapter")


def _ids():
    records = FakeCrictl().containers()
    return {(r.pod, r.name): r.id for r in records}


def test_resolve_by_name_pod_and_dockershim_name_and_prefix():
    from ctrtool.translate.run import pick_cri

    records, ids = FakeCrictl().containers(), _ids()
    namespaces = lambda: {p.id: p.pod_namespace for p in FakeCrictl().pods()}  # noqa: E731
    sidecar = ids[("h2-web-5d8f", "sidecar")]
    assert pick_cri("sidecar", records, full=False) == sidecar
    assert pick_cri("h2-web-5d8f/app", records, full=False) == ids[("h2-web-5d8f", "app")]
    assert (
        pick_cri("k8s_app_h2-api-77c_default_0000-api_0", records, full=False, pod_namespaces=namespaces)
        == ids[("h2-api-77c", "app")]
    )
    # crictl takes a unique ID prefix as it is; ctr wants the full ID
    assert pick_cri(sidecar[:8], records, full=False) == sidecar[:8]
    assert pick_cri(sidecar[:8], records, full=True) == sidecar
    assert pick_cri(sidecar, records, full=True) == sidecar


def test_resolve_refuses_ambiguous_and_unknown_names():
    from ctrtool.errors import Ambiguous, NotFound
    from ctrtool.translate.run import pick_cri

    records = FakeCrictl().containers()
    with pytest.raises(Ambiguous) as info:
        pick_cri("app", records, full=False)  # two running containers named app, in two pods
    assert info.value.exit_code == 2 and "ambiguous" in info.value.message
    assert "h2-web-5d8f" in " ".join(info.value.candidates) and "h2-api-77c" in " ".join(info.value.candidates)
    with pytest.raises(NotFound) as info:
        pick_cri("nope", records, full=False)
    assert info.value.exit_code == 1


def test_resolve_rewrites_only_container_arguments_through_the_adapter():
    """translate/run.py asks the adapter's containers() (issue 8: it parsed crictl's JSON itself);
    the pods are listed only for a dockershim-style name."""
    from ctrtool.translate import run as run_mod

    sidecar = _ids()[("h2-web-5d8f", "sidecar")]
    fake = FakeCrictl()
    tr = t("exec sidecar echo sidecar")
    tr, changed = run_mod.resolve_containers(tr, fake, None)
    assert tr.argv == ["crictl", "exec", sidecar, "echo", "sidecar"]
    assert changed == [("sidecar", sidecar)] and fake.calls == ["containers"]
    fake = FakeCrictl()
    tr, _ = run_mod.resolve_containers(t("logs k8s_app_h2-api-77c_default_0000-api_0"), fake, None)
    assert tr.argv == ["crictl", "logs", _ids()[("h2-api-77c", "app")]] and fake.calls == ["containers", "pods"]


def test_run_resolves_names_without_being_asked_and_says_so(monkeypatch, capsys):
    """Found in use: `translate --run -- docker logs NAME` without --resolve gave crictl's truncated NotFound."""
    from ctrtool.translate import run as run_mod

    fake = FakeCrictl()
    ran = []

    class Streamed:
        returncode = 0
        stderr_tail = ""

    def stream(argv, stdin=False, withhold=None):
        ran.append(argv)
        return Streamed()

    fake.argv = lambda *args: ["crictl", *args]
    fake.stream = stream
    fake.classify = lambda code, err: None
    monkeypatch.setattr("ctrtool.adapters.adapter_class", lambda name: lambda settings: fake)
    tr = t("logs -f sidecar")
    assert run_mod.run(tr, None) == 0
    sidecar = _ids()[("h2-web-5d8f", "sidecar")]
    assert ran == [["crictl", "logs", "--follow", sidecar]]
    assert f"# resolved container sidecar -> {sidecar}" in capsys.readouterr().err


def test_crictl_rmi_guard_asks_the_adapter_for_the_images():
    from ctrtool.model import ImageRecord
    from ctrtool.translate.errors import NoEquivalent
    from ctrtool.translate.run import guard_crictl_rmi

    def record(ref, image_id):
        return ImageRecord("crictl", "k8s.io", ref, image_id, None, 1, "content", None)

    class Images:
        def images(self, namespaces=None):
            return [
                record("localhost/a:1", "sha256:aa"),
                record("localhost/a:2", "sha256:aa"),
                record("localhost/b:1", "sha256:bb"),
            ]

        def run(self, *args, **kwargs):
            raise AssertionError("translate parsed crictl output itself")

    with pytest.raises(NoEquivalent) as info:
        guard_crictl_rmi(t("rmi localhost/a:1"), Images())
    assert "would also remove localhost/a:2" in info.value.message
    guard_crictl_rmi(t("rmi localhost/b:1"), Images())  # its only tag: crictl rmi is docker rmi
    guard_crictl_rmi(t("rmi localhost/a:1 localhost/a:2"), Images())  # both named


def test_names_and_ids_are_containers_or_images_as_the_target_reads_them():
    assert t("inspect web").containers == [2] and t("inspect web").images == []
    tr = t("inspect --type image busybox")
    assert tr.containers == [] and tr.images == [2]
    assert t("rmi a b", "ctr").images == [5, 6]
    assert t("exec web ls").containers == [2], "the command is not a container name"
    assert t("run --name /web busybox").files.keys() == {"web-pod.json", "web-container.json"}


def test_a_value_that_looks_like_a_table_placeholder_stays_as_it_is():
    """Found by hypothesis: templates are filled in one pass, the user's text is never re-read."""
    assert t("logs --since '{key}' web").argv == ["crictl", "logs", "--since", "{key}", "web"]
    assert t("logs --since '{value}' web").argv == ["crictl", "logs", "--since", "{value}", "web"]
    assert t("ps -f 'label={key}={value}'").argv == ["crictl", "ps", "--label", "{key}={value}"]
    tr = t("run --name box -e 'A={name}' busybox echo '{uid}'")
    assert json.loads(tr.files["box-container.json"])["envs"] == [{"key": "A", "value": "{name}"}]
    assert json.loads(tr.files["box-container.json"])["args"] == ["echo", "{uid}"]


# -- docker inspect --format: docker's template fields as the CRI's ------------------------------------


def _recorded(name):
    import pathlib

    return json.loads((pathlib.Path(__file__).parent / "fixtures" / "translate" / name).read_text())


@pytest.mark.parametrize(
    "docker, cri",
    [
        ("{{.State.Pid}}", "{{.info.pid}}"),
        ("{{.State.Status}}", "{{.status.state}}"),
        ("{{.State.Running}}", '{{(eq .status.state "CONTAINER_RUNNING")}}'),
        ("{{.State.ExitCode}}", "{{.status.exitCode}}"),
        ("{{.State.StartedAt}} {{.State.FinishedAt}}", "{{.status.startedAt}} {{.status.finishedAt}}"),
        ("{{.Created}}", "{{.status.createdAt}}"),
        ("{{.Id}} {{.Name}}", "{{.status.id}} {{.status.metadata.name}}"),
        ("{{.Config.Image}} {{.Image}}", "{{.status.image.image}} {{.status.imageRef}}"),
        ("{{.Config.Labels}}", "{{.status.labels}}"),
        (
            '{{index .Config.Labels "app"}} {{.Config.Labels.app}}',
            '{{index .status.labels "app"}} {{.status.labels.app}}',
        ),
        ("{{json .Config.Labels}}", "{{json .status.labels}}"),
        (
            "{{range .Mounts}}{{.Source}}:{{.Destination}}:{{.RW}} {{end}}",
            "{{range .status.mounts}}{{.hostPath}}:{{.containerPath}}:{{(not .readonly)}} {{end}}",
        ),
        ("{{range .Mounts}}{{$.Id}}{{end}}", "{{range .status.mounts}}{{$.status.id}}{{end}}"),
        (
            "{{if .State.Running}}up{{else}}{{.State.ExitCode}}{{end}}",
            '{{if (eq .status.state "CONTAINER_RUNNING")}}up{{else}}{{.status.exitCode}}{{end}}',
        ),
        ("{{- .State.Pid -}}\n", "{{- .info.pid -}}\n"),
        ('{{printf "%d" .State.Pid}}', '{{printf "%d" .info.pid}}'),
        ("pid={{.State.Pid}}", "pid={{.info.pid}}"),
    ],
)
def test_inspect_format_becomes_a_crictl_go_template(docker, cri):
    """Found in use: `--format '{{.State.Pid}}'` was "not translated" although crictl has -o go-template."""
    tr = translate(["inspect", "--format", docker, "web"], "crictl", ids=FIXED)
    assert tr.argv == ["crictl", "inspect", "--output", "go-template", "--template", cri, "web"]
    assert tr.unsupported == []


def test_inspect_format_for_images_and_several_objects():
    tr = translate(
        ["image", "inspect", "-f", "{{.Id}} {{.RepoTags}} {{.Config.Cmd}} {{.RootFS.Layers}}", "busybox"],
        "crictl",
        ids=FIXED,
    )
    assert (
        tr.argv[-2]
        == "{{.status.id}} {{.status.repoTags}} {{.info.imageSpec.config.Cmd}} {{.info.imageSpec.rootfs.diff_ids}}"
    )
    tr = translate(["inspect", "--type", "image", "-f", "{{.Size}}", "busybox"], "crictl", ids=FIXED)
    assert tr.argv[-2] == "{{.status.size}}" and any("unpacked" in n for n in tr.notes)
    # crictl runs the template on the list when given several: walked with range, a line each
    tr = translate(["inspect", "-f", "{{.State.Pid}} {{$.Id}}", "a", "b"], "crictl", ids=FIXED)
    assert tr.argv[-3] == "{{range $c := .}}{{.info.pid}} {{$c.status.id}}\n{{end}}"


@pytest.mark.parametrize(
    "docker, words",
    [
        ("{{.NetworkSettings.IPAddress}}", "the IP address is the pod's"),
        ("{{.State.Paused}}", "no paused state"),
        ("{{.Config.Cmd}}", ".info.runtimeSpec.process.args"),
        ("{{.HostConfig.Memory}}", ".status.resources.linux"),
        ("{{.Bogus}}", "no CRI field for it"),
        ('{{join .Config.Env ","}}', "no `join` function"),
        ("{{range $i, $m := .Mounts}}{{$m.Source}}{{end}}", "variables"),
        ("{{range .Config.Env}}{{.}}{{end}}", "only a range over .Mounts"),
        ("{{range .Mounts}}{{.Type}}{{end}}", "CRI mounts are bind mounts"),
        ("{{if .State.Running}}up", "without its `end`"),
        ("plain text", "no template action"),
    ],
)
def test_inspect_format_fields_without_a_cri_counterpart_say_why(docker, words):
    tr = translate(["inspect", "--format", docker, "web"], "crictl", ids=FIXED)
    assert tr.argv == ["crictl", "inspect", "web"]
    assert [u["arg"] for u in tr.unsupported] == [shlex.join(["--format", docker])]
    assert words in tr.unsupported[0]["reason"]


def test_every_mapped_template_field_is_in_crictls_real_output():
    """The CRI paths of data/templates.yaml exist in `crictl inspect` / `inspecti` JSON recorded
    from a real container (with a bind mount) and image in the lab."""
    import re

    from ctrtool.translate.templates import elements, fields

    def walk(obj, path):
        for part in path.strip(".").split("."):
            assert isinstance(obj, dict) and part in obj, f"{path}: no {part!r}"
            obj = obj[part]
        return obj

    for kind, recorded in (("container", "crictl_inspect_running.json"), ("image", "crictl_inspecti.json")):
        data = _recorded(recorded)
        for name, mapping in fields(kind).items():
            if mapping.path is None:
                assert mapping.none
                continue
            for path in re.findall(r"(?<![\w$])(\.\w+(?:\.\w+)*)", mapping.path):
                value = walk(data, path)
                if name in elements(kind):
                    item = value[0]
                    for sub in elements(kind)[name].values():
                        for p in re.findall(r"(?<![\w$])(\.\w+(?:\.\w+)*)", sub.path or ""):
                            walk(item, p)


def test_ctr_has_no_templates_and_says_where_the_fields_are():
    tr = translate(["inspect", "-f", "{{.State.Pid}}", "web"], "ctr", ids=FIXED)
    assert tr.argv == ["ctr", "-n", "k8s.io", "containers", "info", "web"]
    assert "ctr containers info" in tr.unsupported[0]["reason"] and "ctr tasks ls" in tr.unsupported[0]["reason"]


@pytest.mark.parametrize(
    "docker, pointer",
    [
        ("build -t app:1 .", "ctrtool copy IMAGE --from docker --to crictl"),
        ("image build .", "ctrtool copy IMAGE --from docker --to crictl"),
        ("buildx build .", "ctrtool copy IMAGE --from docker --to crictl"),
        ("volume ls", "docker run -v HOSTDIR:DIR"),
        ("compose up", "ctrtool translate -- docker run"),
        ("container prune", "crictl rm $(crictl ps -a --state exited -q)"),
    ],
)
def test_not_covered_commands_say_what_to_do_instead(docker, pointer):
    """build, volume, compose (a CLI plugin: it was "unknown docker command") and container prune were
    "not covered" with only the list of translated commands as hint."""
    result = invoke("--", "docker", *shlex.split(docker))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].endswith("is not covered by ctrtool translate"), lines
    assert pointer in lines[1] and len(lines) == 2, lines


def test_a_pointer_for_a_command_that_is_translated_or_unknown_is_refused():
    from ctrtool.translate.grammar import Grammar

    with open(data_path("docker.yaml"), encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    for words in ("ps", "no-such-command", "image pull", "image no-such"):
        with pytest.raises(TableError, match=f"instead.{words}"):
            Grammar(dict(data, instead={words: "do something else"}), "docker.yaml")
    with pytest.raises(TableError, match="instead.build"):
        Grammar(dict(data, instead={"build": ""}), "docker.yaml")


def test_the_stop_note_on_crictls_default_timeout_only_when_docker_s_default_is_used():
    """`docker stop -t 30` was translated to --timeout 30 with the note "hence --timeout 10"."""
    given = t("stop -t 30 web", "crictl")
    assert given.argv is not None and given.argv[-3:] == ["--timeout", "30", "web"]
    assert not any("--timeout 10" in n for n in given.notes), given.notes
    default = t("stop web", "crictl")
    assert default.argv is not None and default.argv[-3:] == ["--timeout", "10", "web"]
    assert any("hence --timeout 10" in n for n in default.notes), default.notes

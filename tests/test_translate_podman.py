"""`ctrtool translate --to podman`: podman keeps docker's language; these are where it differs
(ctrtool/translate/data/podman.yaml). Its flags are checked against podman's --help in
tests/test_translate_flags.py."""

from __future__ import annotations

import shlex

import pytest
from typer.testing import CliRunner

from ctrtool.cli import app
from ctrtool.translate import Ids, translate
from ctrtool.translate.effects import target_effect, translation_stronger

FIXED = Ids(name=lambda: "ctrtool-test", exec_id=lambda: "ctrtool-exec-test", uid=lambda: "00000000-uid")
runner = CliRunner()


def t(cmd: str):
    return translate(shlex.split(cmd), "podman", "k8s.io", FIXED)


def dropped(tr) -> list[str]:
    return [u["arg"] for u in tr.unsupported]


def notes(tr) -> str:
    return " ".join(tr.notes)


CASES = [
    # docker's flags as they are: no --namespace, no prefix
    ("ps -a", "podman ps --all", []),
    ("ps -aq --no-trunc", "podman ps --all --quiet --no-trunc", []),
    ("ps -a -f ancestor=x -f publish=80", "podman ps --all --filter ancestor=x", ["-f publish=80"]),
    ("images -a --digests", "podman images --all --digests", []),
    ("images --tree", "podman images", ["--tree"]),
    ("exec -it -u 1000 -w /tmp web sh", "podman exec --interactive --tty --user 1000 --workdir /tmp web sh", []),
    ("logs -f --details web", "podman logs --follow web", ["--details"]),
    ("kill -s HUP web", "podman kill --signal HUP web", []),
    ("stop -t 3 web", "podman stop --time 3 web", []),
    ("stop -s HUP web", "podman stop web", ["-s HUP"]),
    ("restart -t 5 web", "podman restart --time 5 web", []),
    ("rm -fv web", "podman rm --force --volumes web", []),
    ("inspect --type image busybox", "podman inspect --type image busybox", []),
    ("container inspect -s web", "podman container inspect --size web", []),
    ("image inspect --platform linux/arm64 busybox", "podman image inspect busybox", ["--platform linux/arm64"]),
    # podman resolves short names through registries.conf: written in full, as docker means them
    ("pull busybox", "podman pull docker.io/library/busybox:latest", []),
    (
        "run -d --name web -p 8080:80 nginx",
        "podman run --detach --name web --publish 8080:80 docker.io/library/nginx:latest",
        [],
    ),
    ("run --gpus all --rm busybox", "podman run --rm docker.io/library/busybox:latest", ["--gpus all"]),
    ("tag busybox x:1", "podman tag docker.io/library/busybox:latest docker.io/library/x:1", []),
    # save: docker's archive, every argument an image
    (
        "save -o f.tar busybox",
        "podman save --format docker-archive --multi-image-archive --output f.tar docker.io/library/busybox:latest",
        [],
    ),
    ("load -i f.tar", "podman load --input f.tar", []),
    # cp -a is podman's --archive=false (podman's -a is on by default and chowns)
    ("cp -a web:/etc/hosts .", "podman cp --archive=false web:/etc/hosts .", []),
    ("cp -L web:/etc/hosts .", "podman cp web:/etc/hosts .", ["-L"]),
    ("image prune -a -f --filter until=24h", "podman image prune --all --force --filter until=24h", []),
    ("system prune -a -f", "podman system prune --all --force", []),
    ("system df -v", "podman system df --verbose", []),
    ("update --cpus 2 --restart always web", "podman update --cpus 2 web", ["--restart always"]),
    # no equivalent: leaving the flag out would do more than docker
    ("rmi -f busybox", None, []),
    ("system prune --volumes", None, []),
    ("image prune --filter label!=keep", None, []),
    ("inspect --type secret x", None, []),
]


@pytest.mark.parametrize("docker, expected, untranslated", CASES, ids=[c[0] for c in CASES])
def test_podman_translation(docker, expected, untranslated):
    tr = t(docker)
    assert tr.command == expected
    assert dropped(tr) == untranslated
    if expected is None:
        assert tr.argv is None and tr.reason
    else:
        assert translation_stronger(tr) is None


def test_ps_says_which_containers_podman_lists():
    tr = t("ps -a")
    assert "--external" in notes(tr) and "CRI-O" in notes(tr)


def test_rmi_force_has_no_equivalent_because_podman_removes_the_containers_too():
    tr = t("rmi -f busybox")
    assert "removes every container that uses the image" in tr.reason
    plain = t("rmi busybox")
    assert plain.command == "podman rmi busybox" and translation_stronger(plain) is None
    assert target_effect("podman", ["podman", "rmi", "--force", "busybox"]).family == "remove-container"


def test_images_say_what_the_image_id_is_and_which_store():
    tr = t("images")
    assert "config digest" in notes(tr) and "/var/lib/containers/storage" in notes(tr)


@pytest.mark.parametrize(
    "argv, family, level",
    [
        (["podman", "kill", "web"], "end", (3,)),
        (["podman", "stop", "web"], "end", (2 + 1 / 11,)),
        (["podman", "rm", "--all", "--force"], "remove-container", (2, 2)),
        (["podman", "rmi", "docker.io/library/busybox:latest"], "remove-image", (1,)),
        (["podman", "rmi", "--all"], "remove-image", (3,)),
        (["podman", "image", "prune", "--all"], "prune-images", (2, 2)),
        (["podman", "image", "prune", "--external"], "prune-images", (3, 2)),
        (["podman", "system", "prune", "--volumes"], "prune-system", (1, 2, 2)),
        (["podman", "--root", "/x", "container", "kill", "-s", "HUP", "web"], "end", (1,)),
        (["podman", "pause", "web"], "pause", (1,)),
        (["podman", "ps", "--all"], "other", ()),
    ],
)
def test_podman_effects(argv, family, level):
    got = target_effect("podman", argv)
    assert (got.family, got.level) == (family, level)


def test_cli_to_podman_and_run_refused():
    result = runner.invoke(app, ["translate", "--to", "podman", "--", "docker", "save", "-o", "f.tar", "busybox"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith("podman save --format docker-archive")
    result = runner.invoke(app, ["translate", "--run", "--to", "podman", "docker", "ps"])
    assert result.exit_code == 2 and "does not run podman" in " ".join(result.output.split())

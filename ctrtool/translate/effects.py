"""How strong an action a command line is: the one place that says so, for docker's command lines
and for the translations (crictl, ctr, nerdctl and podman argv lists).

The rule (tests/test_translate_strength.py checks it for every entry of every table, and
``--run`` refuses a translation that breaks it): a translation never does more than the docker
command it stands for. Leaving a docker flag out is allowed only where that does less (no
`--volumes`, no `--rm`); where leaving it out would do more (a SIGKILL for `kill -s HUP`, a prune
without its `--filter`, crictl's immediate kill for a `stop` without `--timeout`), the table says
`none` and there is no translation.

An :class:`Effect` has a family (what kind of change) and a level, a tuple compared component by
component: a translation is stronger when it is in another destructive family than docker's, or
when any component of its level is higher. Families and levels:

* ``end`` (processes of a container end or get a signal): a signal that is not SIGKILL, with no
  escalation (1); a stop with a grace period T: SIGTERM (or another signal), T seconds, then SIGKILL
  (2 + 1/(T+1), so a shorter grace is stronger; waiting for ever is 2); SIGKILL at once (3), which
  a stop with a grace of 0 is too.
* ``remove-container``: (force: 1 only stopped containers, 2 running ones too (killed);
  scope: 1 the containers named, 2 every container).
* ``remove-image``: (1 one name; 2 the whole image with all its names; 3 every image).
* ``prune-images``: (scope: 1 dangling, 2 every unused image; 1 with a filter, 2 without).
* ``prune-system``: (images: 1 dangling, 2 unused; volumes: 0 none, 1 anonymous, 2 every unused;
  1 with a filter, 2 without).
* ``pause``: (1,).
* ``other``: changes nothing that exists, or only adds and starts things (run, pull, tag, load,
  exec, update, start, ...): never compared, but no translation of one may be destructive.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .grammar import DockerCall

OTHER = "other"
DESTRUCTIVE = ("end", "remove-container", "remove-image", "prune-images", "prune-system", "pause")
FOREVER = -1  # a grace period that never runs out


@dataclass(frozen=True)
class Effect:
    family: str
    level: tuple[float, ...] = ()
    words: str = ""

    def __str__(self) -> str:
        return self.words or self.family


def stronger(target: Effect, docker: Effect) -> bool:
    """Whether ``target`` does more than ``docker``."""
    if target.family == OTHER:
        return False
    if target.family != docker.family:
        return True
    return any(t > d for t, d in zip(target.level, docker.level))


# -- the building blocks ----------------------------------------------------------------------------


def signal_name(value: str) -> str:
    """docker's reading of a signal: a number, or a name with or without SIG, any case."""
    v = value.strip().upper()
    if v.isdigit():
        return {"9": "KILL", "15": "TERM", "1": "HUP", "2": "INT"}.get(v, v)
    return v[3:] if v.startswith("SIG") else v


def signal(value: str) -> Effect:
    name = signal_name(value)
    if name == "KILL":
        return Effect("end", (3,), "SIGKILL at once")
    return Effect("end", (1,), f"signal {name} (no escalation)")


def stop(grace: int, sig: str | None = None) -> Effect:
    """SIGTERM (or ``sig``), ``grace`` seconds (negative: for ever), then SIGKILL."""
    if sig is not None and signal_name(sig) == "KILL":
        return Effect("end", (3,), "SIGKILL at once (the stop signal)")
    if grace < 0:
        return Effect("end", (2,), "stop, waiting for ever")
    if grace == 0:
        return Effect("end", (3,), "SIGKILL at once (no grace period)")
    return Effect("end", (2 + 1 / (grace + 1),), f"stop, SIGKILL after {grace} s")


def _int(value: str | None, default: int) -> int:
    if value is None:
        return default
    try:
        return int(value, 10)
    except ValueError:
        return default


def _flag(args: Sequence[str], *names: str) -> str | None:
    """The value of a flag in a command line we made ourselves: ``--x v``, ``--x=v``, ``-x v``;
    "true" for a flag given without a value when it is the last token or followed by a flag."""
    value = None
    for i, tok in enumerate(args):
        if tok == "--":
            break
        for name in names:
            if tok == name:
                nxt = args[i + 1] if i + 1 < len(args) else None
                value = nxt if nxt is not None and (not nxt.startswith("-") or re.fullmatch(r"-\d+", nxt)) else "true"
            elif tok.startswith(name + "="):
                value = tok.split("=", 1)[1]
    return value


def _bool_flag(args: Sequence[str], *names: str) -> bool:
    for tok in args:
        if tok == "--":
            break
        if tok in names or any(tok.startswith(n + "=") and tok.split("=", 1)[1] in ("true", "1") for n in names):
            return True
        # bundled short flags: -af
        if (
            len(tok) > 2
            and tok.startswith("-")
            and not tok.startswith("--")
            and any(len(n) == 2 and n[1] in tok[1:] for n in names if not n.startswith("--"))
        ):
            return True
    return False


_IMAGE_ID = re.compile(r"^(sha256:)?[0-9a-f]{12,64}$")


def _image_scope(refs: Sequence[str]) -> int:
    """1: names only (each removes one name); 2: an image ID (the whole image)."""
    return 2 if any(_IMAGE_ID.match(r) for r in refs) else 1


# -- docker ----------------------------------------------------------------------------------------


def docker_effect(call: DockerCall) -> Effect:
    """What the docker command line does."""
    from .engine import effective

    given = effective(call)
    cmd = call.command
    if cmd == "kill":
        return signal(given.get("--signal", "KILL"))
    if cmd in ("stop", "restart"):
        return stop(_int(given.get("--timeout"), 10), given.get("--signal"))
    if cmd == "rm":
        return Effect(
            "remove-container",
            (2 if "--force" in given else 1, 1),
            "remove containers" + (", killing running ones" if "--force" in given else " (stopped only)"),
        )
    if cmd == "rmi":
        scope = _image_scope(call.args)
        return Effect("remove-image", (scope,), "remove an image" if scope == 2 else "remove names of images")
    if cmd == "image prune":
        return Effect(
            "prune-images",
            (2 if "--all" in given else 1, 1 if "--filter" in given else 2),
            "remove " + ("every unused image" if "--all" in given else "dangling images"),
        )
    if cmd == "system prune":
        return Effect(
            "prune-system",
            (2 if "--all" in given else 1, 1 if "--volumes" in given else 0, 1 if "--filter" in given else 2),
            "remove unused data",
        )
    if cmd == "pause":
        return Effect("pause", (1,), "pause containers")
    return Effect(OTHER)


# -- the targets -----------------------------------------------------------------------------------


def _words(argv: Sequence[str], globals_with_value: Sequence[str]) -> list[str]:
    """The argv after the tool's name and its global flags."""
    out = list(argv[1:])
    while out and out[0].startswith("-"):
        if out[0] in globals_with_value and len(out) > 1:
            out = out[2:]
        else:
            out = out[1:]
    return out


def _positional(args: Sequence[str], with_value: Sequence[str]) -> list[str]:
    out, skip = [], False
    rest = list(args)
    for i, tok in enumerate(rest):
        if skip:
            skip = False
            continue
        if tok == "--":
            out.extend(rest[i + 1 :])
            break
        if tok.startswith("-"):
            skip = tok in with_value
            continue
        out.append(tok)
    return out


# the management commands (nerdctl's and podman's `container rm`, ...) that are a short command
_SHORT_COMMANDS = {
    "container kill": "kill",
    "container stop": "stop",
    "container restart": "restart",
    "container rm": "rm",
    "container remove": "rm",
    "image rm": "rmi",
    "image remove": "rmi",
    "container pause": "pause",
}


def _command(words: Sequence[str], groups: Sequence[str]) -> tuple[str, list[str]]:
    """The command (a group's two words, e.g. "image prune"; a management command as its short
    one, e.g. "container rm" as "rm") and its arguments, from a docker-like tool's ``words``."""
    if len(words) > 1 and words[0] in groups:
        cmd, args = f"{words[0]} {words[1]}", list(words[2:])
    else:
        cmd, args = (words[0], list(words[1:])) if words else ("", [])
    return _SHORT_COMMANDS.get(cmd, cmd), args


def target_effect(tool: str, argv: Sequence[str]) -> Effect:
    """What the target's command line does (one command; for a translation with `before` steps,
    call it for each)."""
    argv = [str(t) for t in argv]
    if tool == "crictl":
        words = _words(
            argv, ("--runtime-endpoint", "-r", "--image-endpoint", "-i", "--timeout", "-t", "--config", "-c")
        )
        cmd, args = (words[0], words[1:]) if words else ("", [])
        if cmd == "stop":
            return stop(_int(_flag(args, "--timeout", "-t"), 0))  # crictl's default: 0, SIGKILL at once
        if cmd == "rm":
            return Effect(
                "remove-container",
                (2 if _bool_flag(args, "--force", "-f") else 1, 2 if _bool_flag(args, "--all", "-a") else 1),
                "crictl rm",
            )
        if cmd == "rmi":
            if _bool_flag(args, "--all", "-a"):
                return Effect("remove-image", (3,), "remove every image")
            if _bool_flag(args, "--prune", "-q"):
                return Effect("prune-images", (2, 2), "remove every unused image")
            return Effect("remove-image", (2,), "remove whole images (with all their names)")
        if cmd in ("rmp", "stopp"):
            return Effect("remove-pod", (1,), f"crictl {cmd}")
        return Effect(OTHER)
    if tool == "ctr":
        words = _words(argv, ("-n", "--namespace", "--address", "-a", "--timeout", "--connect-timeout"))
        group = (
            {
                "t": "tasks",
                "task": "tasks",
                "c": "containers",
                "container": "containers",
                "i": "images",
                "image": "images",
            }.get(words[0], words[0])
            if words
            else ""
        )
        sub = words[1] if len(words) > 1 else ""
        args = words[2:]
        removing = sub in ("rm", "remove", "delete", "del")
        if group == "tasks" and sub == "kill":
            return signal(_flag(args, "--signal", "-s") or "TERM")
        if group == "tasks" and removing:
            return Effect("end", (3,) if _bool_flag(args, "--force", "-f") else (0,), "delete tasks")
        if group == "tasks" and sub == "pause":
            return Effect("pause", (1,), "pause")
        if group == "containers" and removing:
            return Effect("remove-container", (1, 1), "remove stopped containers")  # ctr refuses a running one
        if group == "images" and removing:
            return Effect("remove-image", (1,), "remove image names")  # ctr removes the name given only
        if group in ("snapshots", "snapshot", "content", "leases", "namespaces") and removing:
            return Effect(f"remove-{group}", (1,), f"ctr {group} rm")
        return Effect(OTHER)
    if tool == "nerdctl":
        words = _words(
            argv,
            (
                "--namespace",
                "-n",
                "--address",
                "-a",
                "--host",
                "-H",
                "--snapshotter",
                "--storage-driver",
                "--cni-path",
                "--cni-netconfpath",
                "--data-root",
                "--cgroup-manager",
                "--insecure-registry",
                "--host-gateway-ip",
            ),
        )
        cmd, args = _command(words, ("container", "image", "system"))
        if cmd == "kill":
            return signal(_flag(args, "--signal", "-s") or "KILL")
        if cmd in ("stop", "restart"):
            return stop(_int(_flag(args, "--time", "-t"), 10))
        if cmd == "rm":
            return Effect("remove-container", (2 if _bool_flag(args, "--force", "-f") else 1, 1), "nerdctl rm")
        if cmd == "rmi":
            return Effect("remove-image", (_image_scope(_positional(args, ())),), "nerdctl rmi")
        if cmd == "image prune":
            return Effect(
                "prune-images",
                (2 if _bool_flag(args, "--all", "-a") else 1, 1 if _flag(args, "--filter") else 2),
                "nerdctl image prune",
            )
        if cmd == "system prune":
            # nerdctl's --volumes prunes every unused volume (its volume prune has no anonymous-only mode)
            return Effect(
                "prune-system",
                (2 if _bool_flag(args, "--all", "-a") else 1, 2 if _bool_flag(args, "--volumes") else 0, 2),
                "nerdctl system prune",
            )
        if cmd == "container prune":
            return Effect("prune-containers", (1,), "nerdctl container prune")
        if cmd == "pause":
            return Effect("pause", (1,), "pause")
        return Effect(OTHER)
    if tool == "podman":
        return _podman_effect(argv)
    return Effect(OTHER)


# podman's global flags that take a value (`podman --help`, podman 4.3.1)
_PODMAN_GLOBALS = (
    "--cgroup-manager",
    "--conmon",
    "--connection",
    "-c",
    "--events-backend",
    "--hooks-dir",
    "--identity",
    "--log-level",
    "--namespace",
    "--network-cmd-path",
    "--network-config-dir",
    "--root",
    "--runroot",
    "--runtime",
    "--runtime-flag",
    "--ssh",
    "--storage-driver",
    "--storage-opt",
    "--tmpdir",
    "--url",
    "--volumepath",
)


def _podman_effect(argv: Sequence[str]) -> Effect:
    words = _words(argv, _PODMAN_GLOBALS)
    cmd, args = _command(words, ("container", "image", "system", "pod"))
    # --all (-a) on kill, stop, restart, rm, rmi, pause: every container (image), not the ones named
    every = _bool_flag(args, "--all", "-a")
    if cmd == "kill":
        return signal(_flag(args, "--signal", "-s") or "KILL")
    if cmd in ("stop", "restart"):
        return stop(_int(_flag(args, "--time", "-t"), 10))
    if cmd == "rm":
        return Effect(
            "remove-container",
            (2 if _bool_flag(args, "--force", "-f") else 1, 2 if every else 1),
            "podman rm",
        )
    if cmd == "rmi":
        if _bool_flag(args, "--force", "-f"):
            # podman rmi -f removes the containers that use the image first, running ones too
            return Effect("remove-container", (2, 1), "podman rmi --force (and the containers using the image)")
        if every:
            return Effect("remove-image", (3,), "remove every image")
        # without -f podman removes one name of an image that has more (as docker does)
        return Effect("remove-image", (_image_scope(_positional(args, ())),), "podman rmi")
    if cmd == "image prune":
        if _bool_flag(args, "--external"):
            return Effect("prune-images", (3, 2), "podman image prune --external (images other tools' containers use)")
        return Effect(
            "prune-images",
            (2 if every else 1, 1 if _flag(args, "--filter") else 2),
            "podman image prune",
        )
    if cmd == "system prune":
        # podman's --volumes prunes every unused volume, named ones too
        return Effect(
            "prune-system",
            (2 if every else 1, 2 if _bool_flag(args, "--volumes") else 0, 1 if _flag(args, "--filter") else 2),
            "podman system prune",
        )
    if cmd == "container prune":
        return Effect("prune-containers", (1,), "podman container prune")
    if cmd == "pause":
        return Effect("pause", (1,), "pause")
    return Effect(OTHER)


# Translations that can do more than docker depending on what is stored, and what keeps them from
# it: `crictl rmi NAME` removes the whole image with every name it has (a CRI limitation), where
# `docker rmi NAME` removes the one name. --run checks first and refuses when the image has other
# names (run.guard_crictl_rmi); the printed command carries a note saying so.
GUARDED = {("crictl", "rmi"): "--run refuses when the image has other names (translate/run.py guard_crictl_rmi)"}


def translation_stronger(tr, guarded: bool = True) -> str | None:
    """Why a translation does more than its docker command, or None. Checks every command it
    runs (the `before` steps too). ``guarded``: count the checks --run makes (GUARDED)."""
    if tr.argv is None or tr.docker is None or tr.help:
        return None
    docker = docker_effect(tr.docker)
    for argv in [b.argv for b in tr.before] + [tr.argv]:
        got = target_effect(tr.tool, argv)
        if (
            guarded
            and (tr.tool, tr.docker.command) in GUARDED
            and got == Effect("remove-image", (2,), "remove whole images (with all their names)")
        ):
            continue
        if stronger(got, docker):
            return f"`{' '.join(map(str, argv))}` ({got}) does more than `{tr.docker.typed}` ({docker})"
    return None

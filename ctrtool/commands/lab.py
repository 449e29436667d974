"""`ctrtool lab up|down|status|env`: the local lab of real daemons (see ctrtool/lab)."""

from __future__ import annotations

import shlex
from typing import Annotated, Optional

import typer

from .. import completion
from ..output import Output
from .common import OutputOpt, check_format, handle_errors

app = typer.Typer(
    help="A local lab: containerd with CRI, dockerd and a demo image (or, with --profile kube, a Kubernetes "
    "cluster of kubelets on their own containerds; with --profile crio, CRI-O and podman on one "
    "containers/storage store), isolated in one directory.",
    no_args_is_help=True,
)

DirOpt = Annotated[
    Optional[str],
    typer.Option(
        "--dir",
        "-d",
        metavar="PATH",
        help="Lab directory (default: $CTRTOOL_LAB_DIR, else /var/tmp/ctrtool-lab, or /var/tmp/ctrtool-lab-PROFILE "
        "for a profile other than debian).",
    ),
]
ProfileOpt = Annotated[
    Optional[str],
    typer.Option(
        "--profile",
        "-p",
        metavar="NAME",
        autocompletion=completion.profiles,
        help="What the lab runs: debian (Debian 12's containerd 1.6 and dockerd 20.10, docker on overlay2), modern "
        "(containerd 2.4.2 and dockerd 29 on containerd's image store, built once with Go), modern-overlay2 "
        "(the same, docker on overlay2), kube (a Kubernetes v1.37.2 cluster: etcd, control plane and --nodes "
        "kubelets, each on its own containerd 2.4.2; built once with Go), crio (CRI-O 1.37.0, built once from its "
        "source, and podman sharing its containers/storage store, plus a rootless user's store). Default: the "
        "profile the lab directory "
        "was made with, else debian.",
    ),
]


NodesOpt = Annotated[
    Optional[int],
    typer.Option(
        "--nodes",
        "-N",
        metavar="N",
        help="Profile kube: how many nodes (kubelets, each on its own containerd). Default: as the lab was "
        "made, else 2.",
    ),
]


CrioNodesOpt = Annotated[
    Optional[int],
    typer.Option(
        "--crio-nodes",
        metavar="N",
        help="Profile kube: how many more nodes run on CRI-O 1.37 (node-crio-1, ...: a kubelet each on its own "
        "CRI-O, built once from source as for --profile crio; needs conmon, podman and crictl) beside the "
        "containerd ones. Default: as the lab was made, else 0.",
    ),
]


def _lab(
    directory: Optional[str],
    profile: Optional[str] = None,
    nodes: Optional[int] = None,
    crio_nodes: Optional[int] = None,
):
    from ..errors import UsageError
    from ..lab import open_lab

    if directory is not None and not directory.strip():
        raise UsageError("--dir is empty", "give the lab's directory, or leave --dir out for the default")
    return open_lab(directory, profile, nodes, crio_nodes)


def _progress(out: Output):
    return lambda message: out.note(message)


@app.command("up")
@handle_errors
def up(
    directory: DirOpt = None,
    profile: ProfileOpt = None,
    nodes: NodesOpt = None,
    crio_nodes: CrioNodesOpt = None,
    output: OutputOpt = "table",
) -> None:
    """Start the lab (idempotent): containerd with CRI, dockerd, a CNI config, and the demo image
    imported into docker, containerd `default` and `k8s.io`. Needs root. Labs of different profiles
    run side by side, each in its own directory. --profile kube starts a Kubernetes cluster instead:
    etcd, apiserver, controller-manager, scheduler and N nodes, the demo image in each node's k8s.io;
    --crio-nodes adds nodes on CRI-O (a mixed cluster). --profile crio starts CRI-O with podman on its store: a CRI-O pod and a podman container."""
    out = Output(check_format(output))
    lab = _lab(directory, profile, nodes, crio_nodes)
    status = lab.up(progress=_progress(out))
    _show_status(out, status)
    if not out.structured:
        out.note(f'point the tools at it: eval "$(ctrtool lab env{_dir_arg(lab.directory)})"')


@app.command("down")
@handle_errors
def down(
    directory: DirOpt = None,
    profile: ProfileOpt = None,
    purge: Annotated[bool, typer.Option("--purge", help="Also delete the lab directory.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do it without asking.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would be done; do nothing.")] = False,
    output: OutputOpt = "table",
) -> None:
    """Stop what `lab up` started (by pid), remove the lab's workloads and mounts; --purge deletes the
    directory. Only a directory `lab up` made (its .ctrtool-lab marker) is touched. Asks first (on a
    terminal; --yes without one), as every change does; --dry-run shows what it would do."""
    from ..safety import approve

    out = Output(check_format(output))
    lab = _lab(directory, profile)
    actions = lab.down_actions(purge)
    what = f"stop the lab in {lab.directory}" + (" and delete it" if purge else "")
    if not actions:
        out.note(f"{what}: nothing runs or is mounted there" + ("" if not purge else ", and it is gone"))
    elif not approve(what, actions, yes=yes, dry_run=dry_run):
        return
    result = lab.down(purge=purge, progress=_progress(out))
    if out.structured:
        out.data(result)


@app.command("status")
@handle_errors
def status(directory: DirOpt = None, profile: ProfileOpt = None, output: OutputOpt = "table") -> None:
    """Show whether the lab's daemons run, with their pids, sockets and logs. Exit 1 when not running."""
    out = Output(check_format(output))
    result = _lab(directory, profile).status()
    _show_status(out, result)
    if not all(d.get("running") for d in result.get("daemons", [])):
        raise typer.Exit(1)


@app.command("env")
@handle_errors
def env(directory: DirOpt = None, profile: ProfileOpt = None) -> None:
    """Print shell exports that point docker, ctr, crictl, podman and ctrtool at the lab:
    eval "$(ctrtool lab env)"."""
    values = _lab(directory, profile).env()
    out = Output()
    out.lines(f"export {k}={shlex.quote(v)}" for k, v in values.items())
    out.lines(["unset DOCKER_CONTEXT"])


def _show_status(out: Output, status: dict) -> None:
    if out.structured:
        out.data(status)
        return
    from ..output import Column

    out.table(
        [
            Column("DAEMON", lambda d: d.get("name")),
            Column("RUNNING", lambda d: "yes" if d.get("running") else "no"),
            Column("PID", lambda d: d.get("pid")),
            Column("SOCKET", lambda d: d.get("socket"), shape="path"),
            Column("LOG", lambda d: d.get("log"), shape="path", drop=1),
        ],
        status.get("daemons", []),
        title=f"lab {status.get('directory')} ({status.get('profile_summary')})",
    )


def _dir_arg(directory: object) -> str:
    return f" --dir {shlex.quote(str(directory))}"

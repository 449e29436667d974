"""`ctrtool nodes ...`: ctrtool's read-only reports on every chosen node of a Kubernetes cluster,
through the Kubernetes API (kubectl, with the user's kubeconfig and context), merged into one view.

The CLI layer: options, what each node is asked (ctrtool command lines), and how the answers are
shown. How the pods are made, watched and removed is :mod:`ctrtool.fleet.run`; the calls are the
kubectl adapter's.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from ..output import Column, Output, human_size, short_id
from .common import OutputOpt, YesOpt, check_format, handle_errors

if TYPE_CHECKING:
    from ..doctor.result import Result
    from ..fleet.run import FleetRun, NodeOutcome
    from ..model import ImageRecord, StoreUsage

app = typer.Typer(
    name="nodes",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Every node of a Kubernetes cluster at once: ctrtool's read-only reports (images, df, doctor, "
    "where an image is) run on each chosen node by a short-lived privileged pod, through the Kubernetes "
    "API with kubectl's own configuration; one merged view with a NODE column. Needs ctrtool's node "
    "image on the nodes (`ctrtool nodes build-image`) and the RBAC of `ctrtool nodes rbac`. Exit "
    "status 3: some nodes gave no answer (each is a row with the reason).",
)

KubeconfigOpt = Annotated[
    Optional[str],
    typer.Option("--kubeconfig", metavar="PATH", help="kubeconfig file (as kubectl; default KUBECONFIG)."),
]
ContextOpt = Annotated[
    Optional[str], typer.Option("--context", metavar="NAME", help="kubeconfig context (as kubectl).")
]
KubeNamespaceOpt = Annotated[
    Optional[str],
    typer.Option(
        "--namespace",
        "-n",
        metavar="NS",
        help="Namespace for ctrtool's pods (as kubectl -n; default the context's). It must admit privileged pods.",
    ),
]
SelectorOpt = Annotated[
    Optional[str], typer.Option("--selector", "-l", metavar="SELECTOR", help="Nodes with these labels (as kubectl -l).")
]
NodesOpt = Annotated[Optional[str], typer.Option("--nodes", metavar="NAME[,NAME...]", help="These nodes.")]
AllOpt = Annotated[bool, typer.Option("--all", help="Every node.")]
AsOpt = Annotated[Optional[str], typer.Option("--as", metavar="USER", help="Impersonate USER (as kubectl --as).")]
AsGroupOpt = Annotated[
    Optional[list[str]], typer.Option("--as-group", metavar="GROUP", help="Impersonate GROUP (as kubectl; repeatable).")
]
NodeImageOpt = Annotated[
    Optional[str],
    typer.Option(
        "--node-image",
        metavar="REF",
        help="ctrtool's node image (default localhost/ctrtool-node:VERSION, or CTRTOOL_NODE_IMAGE). A reference "
        "from a registry is pulled if not present; the default is never pulled.",
    ),
]
FleetTimeoutOpt = Annotated[
    float, typer.Option("--timeout", metavar="SECONDS", help="Time for the whole run; nodes not done by then are rows.")
]
ParallelOpt = Annotated[int, typer.Option("--parallel", metavar="N", help="At most N of ctrtool's pods at once.")]
DryRunOpt = Annotated[
    bool,
    typer.Option(
        "--dry-run", help="Print the pods that would be created (YAML, with namespace and RBAC); create none."
    ),
]

K8S_MARKS = {True: "✓", False: "✗", None: "?"}


class Target:
    """The options every `nodes` command shares, checked before any call."""

    def __init__(
        self,
        *,
        command_path: str,
        kubeconfig: str | None,
        context: str | None,
        namespace: str | None,
        selector: str | None,
        nodes: str | None,
        all_nodes: bool,
        as_user: str | None,
        as_groups: list[str] | None,
        node_image: str | None,
        timeout: float,
        parallel: int,
        dry_run: bool,
        output: str,
    ):
        from ..errors import UsageError

        if not 1 <= timeout <= 86400:
            raise UsageError(f"--timeout {timeout:g}: give 1 to 86400 seconds")
        if not 1 <= parallel <= 10000:
            raise UsageError(f"--parallel {parallel}: give 1 to 10000")
        self.names = [n.strip() for n in (nodes or "").split(",") if n.strip()]
        if nodes is not None and not self.names:
            raise UsageError("--nodes names no node", "e.g. --nodes node-1,node-2")
        import re

        for name in self.names:  # a node's name is a DNS subdomain (RFC 1123)
            if len(name) > 253 or not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name):
                raise UsageError(
                    f"--nodes: {name!r} is not a node name", "node names are lower-case DNS names, e.g. node-1"
                )
        if sum((bool(selector), nodes is not None, all_nodes)) != 1:
            raise UsageError(
                "choose the nodes: exactly one of --all, --nodes NAME[,NAME...] or -l/--selector",
                f"e.g. `{command_path} --all`; each chosen node runs a short-lived privileged pod",
            )
        self.selector = selector
        self.all_nodes = all_nodes
        self.timeout = timeout
        self.parallel = parallel
        self.dry_run = dry_run
        fmt = check_format(output)
        self.out = Output(fmt)
        self.image = node_image or os.environ.get("CTRTOOL_NODE_IMAGE") or _default_image()
        from ..refs import normalize_ref

        if normalize_ref(self.image) is None:
            raise UsageError(
                f"node image {self.image!r} is not an image reference", "e.g. registry.example/ctrtool-node:0.1.0"
            )
        from ..adapters.kubectl import Kubectl

        self.kube = Kubectl(kubeconfig, context, namespace, as_user=as_user, as_groups=as_groups or [])


def _default_image() -> str:
    from .. import __version__

    return f"localhost/ctrtool-node:{__version__}"


def _progress(out: Output) -> Callable[[str], None]:
    if out.structured or not sys.stderr.isatty():
        return lambda _m: None
    return out.note


def _fleet(
    t: Target, command: str, reports_for: Callable[[str], list[list[str]]]
) -> tuple[FleetRun, list[NodeOutcome]]:
    """Run the reports on the chosen nodes: (the run, every node's outcome sorted by node). With
    --dry-run, print the plan and exit 0."""
    from ..fleet import run as fleet_run
    from ..imagebuild import platform_arch

    # ctrtool's own image is built here, for this machine's CPU; a published one may be multi-arch
    arch = platform_arch() if t.image == _default_image() else None
    targets, others = fleet_run.select_nodes(
        t.kube, selector=t.selector, names=t.names, all_nodes=t.all_nodes, arch=arch
    )
    fleet = fleet_run.plan(t.kube, targets, reports_for, image=t.image, timeout=t.timeout, command=command)
    if t.dry_run:
        _print_plan(fleet, others)
        raise typer.Exit(0)
    if targets:
        fleet = fleet_run.execute(t.kube, fleet, timeout=t.timeout, parallel=t.parallel, progress=_progress(t.out))
        if fleet.cleanup_error:
            t.out.warn(
                f"ctrtool's pods in namespace {fleet.namespace} may remain: {fleet.cleanup_error} "
                f"(`kubectl delete pods -n {fleet.namespace} -l ctrtool.io/run={fleet.run_id}`; the next run "
                "removes them once expired)"
            )
    outcomes = sorted(others + fleet.outcomes, key=lambda o: o.node)
    return fleet, outcomes


def _print_plan(fleet: FleetRun, others: list[NodeOutcome]) -> None:
    import yaml

    from ..fleet import rbac_text

    head = [
        "# ctrtool nodes --dry-run: nothing was created.",
        f"# namespace: {fleet.namespace} (not created; it must exist and admit privileged pods)",
        f"# {len(fleet.manifests)} pod(s) would be created there, labelled ctrtool.io/run={fleet.run_id}, "
        "and deleted at the end of the run.",
        "# The RBAC a user needs (`ctrtool nodes rbac` prints it as a manifest to apply):",
    ]
    head += ["#   " + line for line in rbac_text().splitlines() if line and not line.startswith("#")]
    head += [f"# skipped: {o.node}: {o.status} ({o.reason})" for o in others]
    sys.stdout.write("\n".join(head) + "\n")
    for manifest in fleet.manifests:
        sys.stdout.write("---\n" + yaml.safe_dump(manifest, sort_keys=False))
    sys.stdout.flush()


def _exit(outcomes: list[NodeOutcome], problem: bool = False) -> None:
    answered = [o for o in outcomes if o.answered]
    if not answered:
        raise typer.Exit(1)
    if any(o.status != "ok" for o in outcomes):
        raise typer.Exit(3)
    raise typer.Exit(1 if problem else 0)


def _node_fields(o: NodeOutcome) -> dict[str, Any]:
    return {
        "node": o.node,
        "status": o.status,
        "reason": o.reason,
        "pod": o.pod,
        "seconds": o.seconds,
        "found": (o.result or {}).get("found"),
    }


def _silent(outcomes: list[NodeOutcome]) -> list[tuple[str, str]]:
    """Each node that gave nothing, and why in words: "(status: reason)"."""
    return [(o.node, f"({o.status}: {o.reason})" if o.reason else f"({o.status})") for o in outcomes if not o.answered]


def _show_partial(t: Target, outcomes: list[NodeOutcome]) -> None:
    """After a table: the reasons of nodes that answered in part, and how to get ctrtool's image
    onto nodes that lack it."""
    for o in outcomes:
        if o.answered and o.status != "ok":
            t.out.warn(f"{o.node}: {o.reason}")
    if any(o.status == "no-image" for o in outcomes):
        t.out.note(
            f"hint: {t.image} is imported on each node, never pulled: `ctrtool nodes build-image -o F`, then "
            "`ctr -n k8s.io images import F` on the node; or push it to a registry and pass --node-image "
            "(docs/nodes.md)"
        )


def _option(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


# the options every `nodes` command shares, declared once (in this order after each command's own)
FLEET_OPTIONS = (
    _option("all_nodes", AllOpt, False),
    _option("nodes", NodesOpt, None),
    _option("selector", SelectorOpt, None),
    _option("output", OutputOpt, "table"),
    _option("kubeconfig", KubeconfigOpt, None),
    _option("context", ContextOpt, None),
    _option("namespace", KubeNamespaceOpt, None),
    _option("as_user", AsOpt, None),
    _option("as_groups", AsGroupOpt, None),
    _option("node_image", NodeImageOpt, None),
    _option("timeout", FleetTimeoutOpt, 120.0),
    _option("parallel", ParallelOpt, 50),
    _option("dry_run", DryRunOpt, False),
)


def fleet_options(fn: Callable[..., None]) -> Callable[..., None]:
    """A `nodes` command takes its own parameters (``ctx`` first) and ``target``: the shared
    options (:data:`FLEET_OPTIONS`), which typer sees after the command's own, checked into a
    :class:`Target` before the command runs."""
    own = [p for p in inspect.signature(fn, eval_str=True).parameters.values() if p.name != "target"]

    @functools.wraps(fn)
    def command(ctx: typer.Context, *args: Any, **kwargs: Any) -> None:
        shared = {p.name: kwargs.pop(p.name) for p in FLEET_OPTIONS}
        fn(ctx, *args, target=Target(command_path=ctx.command_path, **shared), **kwargs)

    params = [*own, *FLEET_OPTIONS]
    command.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    return command


# ---- images ----------------------------------------------------------------------------------


@app.command("images")
@handle_errors
@fleet_options
def images(
    ctx: typer.Context,
    repository: Annotated[
        Optional[str], typer.Argument(metavar="[REPO[:TAG]]", help="Only this repository (and tag).")
    ] = None,
    *,
    target: Target,
) -> None:
    """Every image in every store (docker, each containerd namespace, the CRI) of every chosen node:
    `ctrtool images` on each node, with a NODE column. K8S: whether that node's kubelet can use
    the name."""
    from .common import check_names
    from .images import shown_id

    if repository is not None:
        check_names("image", [repository])
    t = target
    report = ["images", "-o", "json"] + ([repository] if repository else [])
    _, outcomes = _fleet(t, "ctrtool nodes images", lambda _n: [report])
    if t.out.structured:
        t.out.data([_node_fields(o) | {"images": _json(o.images)} for o in outcomes])
    else:
        # (node, one of its images, or None and why the node gave none)
        rows: list[tuple[str, ImageRecord | None, str | None]] = []
        for o in outcomes:
            rows += [(o.node, r, None) for r in o.images or []]
        rows += [(node, None, why) for node, why in _silent(outcomes)]
        t.out.table(
            [
                Column("NODE", lambda r: r[0]),
                Column("BACKEND", lambda r: r[1].backend if r[1] else r[2]),
                Column("NAMESPACE", lambda r: r[1] and r[1].namespace, drop=3),
                Column("IMAGE", lambda r: (r[1].ref or "<none>") if r[1] else None),
                Column("IMAGE ID", lambda r: short_id(shown_id(r[1])) if r[1] else None, drop=4),
                Column("SIZE", lambda r: human_size(r[1].size) if r[1] else None, drop=2),
                Column("K8S", lambda r: K8S_MARKS[r[1].kubelet_visible] if r[1] else None, drop=1),
            ],
            rows,
            caption=[("K8S", "K8S: ✓ that node's kubelet can use this name, ✗ it cannot, ? not known")] if rows else [],
        )
        _show_partial(t, outcomes)
    _exit(outcomes)


# ---- df --------------------------------------------------------------------------------------


@app.command("df")
@handle_errors
@fleet_options
def df(
    ctx: typer.Context,
    *,
    target: Target,
) -> None:
    """The bytes each image store uses on every chosen node, and how much is unpacked more than
    once: `ctrtool df` on each node, with a NODE column and a total per node."""
    t = target
    _, outcomes = _fleet(t, "ctrtool nodes df", lambda _n: [["df", "-o", "json"]])
    if t.out.structured:
        t.out.data([_node_fields(o) | {"df": o.df} for o in outcomes])
    else:
        rows: list[_DfLine] = []
        for o in outcomes:
            if o.df is not None:
                rows += [_DfLine(o.node, s) for s in o.df.stores]
                rows.append(_DfLine(o.node, words="unpacked more than once", total=o.df.duplicated, has_total=True))
        rows += [_DfLine(node, words=why) for node, why in _silent(outcomes)]
        t.out.table(
            [
                Column("NODE", lambda r: r.node),
                Column("STORE", lambda r: (r.usage.store or None) if r.usage else r.words),
                Column("SEEN BY", lambda r: (", ".join(r.usage.seen_by) or None) if r.usage else None, drop=3),
                Column("ITEMS", lambda r: r.usage.items if r.usage else None, drop=2),
                Column(
                    "SIZE",
                    lambda r: human_size(r.usage.bytes) if r.usage else human_size(r.total) if r.has_total else None,
                ),
                Column("DUPLICATED", lambda r: human_size(r.usage.duplicated) if r.usage else None, drop=1),
                Column("PATH", lambda r: r.usage.path if r.usage else None, shape="path", drop=4),
            ],
            rows,
        )
        _show_partial(t, outcomes)
    _exit(outcomes)


@dataclass
class _DfLine:
    """A line of `nodes df`: a store of a node, the node's total, or why the node gave nothing."""

    node: str
    usage: StoreUsage | None = None
    words: str | None = None  # the total's words, or why the node gave nothing
    total: int | None = None  # bytes unpacked more than once on the node
    has_total: bool = False


# ---- doctor ----------------------------------------------------------------------------------


@app.command("doctor")
@handle_errors
@fleet_options
def doctor(
    ctx: typer.Context,
    image: Annotated[
        Optional[str], typer.Option("--image", metavar="REF", help="Also check that each node's kubelet can use REF.")
    ] = None,
    *,
    target: Target,
) -> None:
    """`ctrtool doctor` on every chosen node: one line per node and check (the problems first), each
    node's full report in JSON. Exit status 1: a problem found on some node."""
    from .common import check_names

    if image is not None:
        check_names("image", [image])
    t = target
    report = ["doctor", "-o", "json"] + (["--image", image] if image else [])
    _, outcomes = _fleet(t, "ctrtool nodes doctor", lambda _n: [report])
    from ..doctor.result import Status

    problem = False
    if t.out.structured:
        t.out.data([_node_fields(o) | {"checks": _json(o.checks)} for o in outcomes])
    # (node, one of its checks, or None and why the node gave none), the problems first
    rows: list[tuple[str, Result | None, str | None]] = []
    order = [Status.FAIL, Status.WARN, Status.SKIPPED, Status.OK]
    for o in outcomes:
        checks = o.checks or []
        problem = problem or any(c.status in (Status.WARN, Status.FAIL) for c in checks)
        rows += [(o.node, c, None) for c in sorted(checks, key=lambda c: order.index(c.status))]
    if not t.out.structured:
        rows += [(node, None, why) for node, why in _silent(outcomes)]
        t.out.table(
            [
                Column("NODE", lambda r: r[0]),
                Column("CHECK", lambda r: r[1].check if r[1] else r[2]),
                Column("STATUS", lambda r: r[1].status.value if r[1] else None),
                Column("SUMMARY", lambda r: r[1] and r[1].summary, shape="text"),
                Column("FIX", lambda r: first_fix(r[1]) if r[1] else None, shape="text", drop=1),
            ],
            rows,
        )
        _show_partial(t, outcomes)
    _exit(outcomes, problem)


def first_fix(check: Result) -> str | None:
    for fix in check.fixes:
        if fix.commands:
            return str(fix.commands[0])
        if fix.file:
            return f"in {fix.file}: " + "; ".join(fix.lines)
        return fix.summary
    return None


def _json(records: list[Any] | None) -> list[dict[str, Any]] | None:
    """Records (a node's, parsed where they arrived) as their JSON, which is what the node printed."""
    return None if records is None else [r.to_dict() for r in records]


# ---- where -----------------------------------------------------------------------------------


@app.command("where")
@handle_errors
@fleet_options
def where(
    ctx: typer.Context,
    image: Annotated[str, typer.Argument(metavar="IMAGE", help="The image reference (as in a pod spec) or id.")],
    *,
    target: Target,
) -> None:
    """Which nodes hold IMAGE, in which stores, and whether each node's kubelet can use it. For
    nodes where a pod of IMAGE waits (Pending: ErrImageNeverPull, ImagePullBackOff, ...), that
    node's `ctrtool doctor --image IMAGE` verdict and fix."""
    from ..fleet import where as where_mod
    from .common import check_names

    check_names("image", [image])
    t = target
    waiting = where_mod.waiting_pods(t.kube, image)
    doctor_report = ["doctor", "--image", image, "-o", "json"]

    def reports_for(node: str) -> list[list[str]]:
        return [["images", "-o", "json"]] + ([doctor_report] if node in waiting else [])

    _, outcomes = _fleet(t, "ctrtool nodes where", reports_for)
    rows = [where_mod.row(o, image, waiting.get(o.node, [])) for o in outcomes]
    unscheduled = waiting.get("", [])
    if t.out.structured:
        t.out.data([_node_fields(o) | r.to_dict() for o, r in zip(outcomes, rows)])
    else:
        t.out.table(
            [
                Column("NODE", lambda r: r.node),
                Column("STORES", lambda r: where_mod.stores_words(r) if r.answered else r.missing, shape="text"),
                Column("K8S", lambda r: K8S_MARKS[r.kubelet_visible] if r.answered else None),
                # what `where` is for: wrapped, never left out
                Column("PODS WAITING", lambda r: where_mod.pods_words(r.pods) or None, shape="text"),
                Column("DOCTOR", lambda r: where_mod.verdict_words(r.doctor), shape="text"),
            ],
            rows,
            caption=["K8S: ✓ that node's kubelet can use the image, ✗ it cannot"]
            + [f"not scheduled on any node yet: {where_mod.pods_words(unscheduled)}" for _ in unscheduled[:1]],
        )
        _show_partial(t, outcomes)
    _exit(outcomes)


# ---- the node image and the RBAC -------------------------------------------------------------


@app.command("rbac")
@handle_errors
def rbac() -> None:
    """Print the minimal RBAC `ctrtool nodes` needs, as a manifest: `ctrtool nodes rbac | kubectl
    apply -f -`, after editing its subjects. It also makes namespace `ctrtool` (admitting privileged
    pods) for `-n ctrtool`."""
    from ..fleet import rbac_text

    sys.stdout.write(rbac_text())
    sys.stdout.flush()


@app.command("build-image")
@handle_errors
def build_image(
    output_file: Annotated[
        str,
        typer.Option("--output", "-o", metavar="FILE", help="Where to write the image archive (docker-archive tar)."),
    ],
    ref: Annotated[
        Optional[str],
        typer.Option("--tag", metavar="REF", help="The image's name (default localhost/ctrtool-node:VERSION)."),
    ] = None,
    yes: YesOpt = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be written; write nothing.")] = False,
) -> None:
    """Build ctrtool's node image: ctrtool, its own Python and a static busybox, nothing else; no
    registry needed. Import it on every node (`ctr -n k8s.io images import FILE`), or push it to
    your registry and pass `--node-image`. The file is written whole or not at all; overwriting an
    existing file asks first."""
    from ..errors import UsageError
    from ..fleet import nodeimage
    from ..refs import normalize_ref
    from ..safety import approve
    from .imageops import check_output_path

    if output_file == "-":
        raise UsageError("build-image writes a file, not stdout", "give -o FILE")
    check_output_path(output_file)
    name = ref or _default_image()
    if normalize_ref(name) is None:
        raise UsageError(f"--tag {name!r} is not an image reference", "e.g. registry.example/ctrtool-node:0.1.0")
    exists = os.path.lexists(output_file)
    argv = ["ctrtool", "nodes", "build-image", "-o", output_file, "--tag", name]
    what = f"{'overwrite' if exists else 'write'} {output_file} with ctrtool's node image {name}"
    if not approve(what, [argv], yes=yes or not exists, dry_run=dry_run):
        return
    built = nodeimage.build(output_file, name)
    Output().note(
        f"wrote {output_file}: {built.ref} ({human_size(built.archive_bytes)}, {human_size(built.gzip_bytes)} "
        "compressed)"
    )

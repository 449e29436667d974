"""`ctrtool translate --run`: run a translation through ctrtool's adapters, so that the endpoint
flags, the timeout and the error classification are the same as for every other command, and a
destructive translation asks for consent like every other destructive command (ctrtool.safety).
Container names are looked up and images listed with the adapters' own listings
(``containers()``, ``pods()``, ``images()``): nothing here parses a tool's output.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import Any

from ..errors import Ambiguous, NotFound, UsageError
from .convert import normalize_ref
from .engine import Placeholder, Translation, join
from .errors import NoEquivalent


def check_runnable(tr: Translation, ignore_unsupported: bool) -> None:
    """Refuse, before anything runs, what --run cannot do faithfully."""
    docker = tr.docker.typed if tr.docker else "docker"
    if tr.argv is None:
        raise NoEquivalent(
            f"{tr.tool} has no equivalent of `{docker}`: {tr.reason}", tr.notes[0] if tr.notes else "nothing was run"
        )
    from .effects import translation_stronger

    stronger = translation_stronger(tr)
    if stronger:
        raise NoEquivalent(f"not running a translation that does more than docker would: {stronger}", "nothing was run")
    if tr.unsupported and not ignore_unsupported:
        dropped = ", ".join(u["arg"] for u in tr.unsupported)
        raise NoEquivalent(
            f"not running an incomplete translation: {dropped} "
            f"{'has' if len(tr.unsupported) == 1 else 'have'} no {tr.tool} equivalent",
            "--ignore-unsupported runs it without them; nothing was run",
        )
    if tr.tool == "nerdctl":
        raise UsageError(
            "--run has no nerdctl adapter: ctrtool runs docker, ctr and crictl only",
            "run the printed command yourself; nothing was run",
        )
    if tr.tool == "podman":
        # ctrtool's podman adapter reads stores; it does not run podman's container commands (and
        # its store flags would pick the store, not the user's podman): the printed command takes
        # docker's names as they are, so the user runs it
        raise UsageError(
            "--run does not run podman: ctrtool runs ctr and crictl translations only",
            "run the printed command yourself (podman takes docker's names and flags); nothing was run",
        )
    streams = set(tr.stream)
    if "attach" in streams:
        raise UsageError(
            f"--run does not attach to running containers (`{tr.command}`)",
            "run the printed command yourself; nothing was run",
        )
    if "tty" in streams and not _terminal():
        raise UsageError(
            f"`{tr.command}` needs a terminal (-t) and stdin is not one",
            "run it from a terminal, or without -t; nothing was run",
        )
    if (
        "stdin" in streams
        and "tty" not in streams
        and tr.tool == "ctr"
        and tr.docker is not None
        and tr.docker.command in ("exec", "run", "start")
    ):
        # ctr passes the end of its input on only if the process was registered by then
        # (containerd issue 4489): `ctrtool exec -i` waits for that, a plain ctr call cannot
        raise UsageError(
            f"--run does not pass stdin to `{tr.command}`: ctr loses an early end of input",
            "`ctrtool exec -b ctr -i ...` handles it; or drop -i; nothing was run",
        )


def _terminal() -> bool:
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def run(
    tr: Translation,
    settings: Any,
    *,
    yes: bool = False,
    dry_run: bool = False,
    resolve: bool = False,
    ignore_unsupported: bool = False,
    quiet: bool = False,
) -> int:
    """Run ``tr``; return the exit status (the tool's own for a streamed command)."""
    from .. import safety
    from ..adapters import adapter_class

    check_runnable(tr, ignore_unsupported)
    adapter = adapter_class(tr.tool)(settings)
    # docker users give names; crictl and ctr want IDs: always looked up when running (--resolve
    # is kept for scripts that pass it), and said on stderr
    tr, changed = resolve_containers(tr, adapter, settings)
    if changed and not quiet:
        for name, cid in changed:
            sys.stderr.write(f"# resolved container {name} -> {cid}\n")
        sys.stderr.flush()
    tmpdir = None
    try:
        argv, before = list(tr.argv or []), [list(b.argv or []) for b in tr.before]
        if tr.files and not dry_run:
            tmpdir = tempfile.mkdtemp(prefix="ctrtool-translate-")
            paths = {}
            for name, content in tr.files.items():
                path = os.path.join(tmpdir, name)
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(content)
                paths[name] = path
            argv = [paths.get(t, t) if not isinstance(t, Placeholder) else t for t in argv]
            before = [[paths.get(t, t) for t in b] for b in before]
        argv = _in_client(tr, adapter, argv)
        shown = [adapter.argv(*b[1:]) for b in before] + [adapter.argv(*argv[1:])]
        if tr.destructive:
            if not safety.approve(f"{tr.destructive} ({tr.tool})", shown, yes=yes, dry_run=dry_run):
                return 0  # dry run: printed, nothing changed
        elif dry_run:
            for cmd in shown:
                sys.stdout.write(join(cmd) + "\n")
            sys.stdout.flush()
            return 0
        if tr.tool == "crictl" and tr.docker is not None and tr.docker.command == "rmi":
            guard_crictl_rmi(tr, adapter)
        if not quiet:
            for cmd in before:
                sys.stderr.write(f"# {join(cmd)}\n")
            sys.stderr.write(f"# {join(argv)}\n")
            sys.stderr.flush()
        captured: dict[str, str] = {}
        for step, cmd in zip(tr.before, before):
            result = adapter.run(*cmd[1:])
            if step.capture:
                captured["$" + step.capture] = result.stdout.strip()
        argv = [captured.get(t, t) if isinstance(t, Placeholder) else t for t in argv]
        if tr.stream:
            return _streamed(tr, adapter, argv)
        result = adapter.run(*argv[1:])
        sys.stdout.write(result.stdout)
        sys.stdout.flush()
        if result.stderr:
            sys.stderr.write(result.stderr)
            sys.stderr.flush()
        return 0
    finally:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)


def _in_client(tr: Translation, adapter: Any, argv: list[Any]) -> list[Any]:
    """ctr's ``images export`` and ``images import`` moved in the client where ctr has a transfer
    service (2.x: ``--local``, as ctrtool's own save and load do; the service's stream came out
    truncated now and then), so that what runs is what ctrtool trusts; the printed translation
    says so in a note."""
    if tr.tool != "ctr":
        return argv
    for i in range(1, len(argv) - 1):
        if argv[i] == "images" and argv[i + 1] in ("export", "import"):
            return [*argv[: i + 2], *adapter.in_client(), *argv[i + 2 :]]
    return argv


def _streamed(tr: Translation, adapter: Any, argv: list[str]) -> int:
    """A command whose output (or terminal) goes straight to the user, through the adapter's own
    passthrough and pty runners: no timeout, Ctrl-C reaches the tool, its exit status is ours."""
    full = adapter.argv(*argv[1:])
    exec_report = tr.tool == "crictl" and tr.docker is not None and tr.docker.command == "exec"
    withhold = None
    if exec_report:
        from ..adapters.crictl import is_exit_report

        withhold = is_exit_report
    if "tty" in tr.stream:
        got = adapter.interactive(full, withhold=withhold)
    else:
        got = adapter.stream(full, stdin="stdin" in tr.stream, withhold=withhold)
    if exec_report:
        from ..adapters.crictl import exec_status

        return exec_status(got)
    if got.returncode != 0:
        error = adapter.classify(got.returncode, got.stderr_tail)
        if error is not None:
            raise error
    return got.returncode


# -- container names -> IDs ------------------------------------------------------------------------
#
# Through the adapters' own listings (Adapter.containers(), .pods(), .images()): the same calls,
# endpoints, timeout and parsing as `ctrtool ps`, `pods` and `images`; nothing here reads a tool's
# output. On top of them, what docker users type: CRI container names, POD/NAME, dockershim-style
# k8s_NAME_POD_NAMESPACE_UID_ATTEMPT names, ID prefixes.


def resolve_containers(tr: Translation, adapter: Any, settings: Any) -> tuple[Translation, list[tuple[str, str]]]:
    """Replace docker container names by the IDs the tool wants; returns the translation and the
    (name, ID) pairs that changed.

    crictl, and ctr in namespace k8s.io (the CRI container ID is the containerd container ID
    there): the crictl adapter's container listing (and its pod listing, only for a dockershim-
    style name, for the pod's namespace). ctr in another namespace: the ctr adapter's listing of
    that namespace, for ID prefixes (ctr itself wants full IDs).
    """
    if not tr.containers:
        return tr, []
    namespace = _ctr_namespace(tr)
    if tr.tool == "crictl" or namespace == "k8s.io":
        if tr.tool == "crictl":
            cri = adapter
        else:
            from ..adapters import adapter_class

            cri = adapter_class("crictl")(settings)
        records = cri.containers()
        pods: dict[str, Any] = {}

        def pod_namespaces() -> dict[str, Any]:
            if not pods:
                pods.update({p.id: p.pod_namespace for p in cri.pods()})
            return pods

        def pick(name: str) -> str:
            return pick_cri(name, records, full=tr.tool == "ctr", pod_namespaces=pod_namespaces)
    else:
        ids = [r.id for r in adapter.containers([namespace or "default"])]

        def pick(name: str) -> str:
            return _pick_prefix(name, ids)

    argv = list(tr.argv or [])
    changed = []
    for i in tr.containers:
        new = pick(argv[i])
        if new != argv[i]:
            changed.append((argv[i], new))
        argv[i] = new
    tr.argv = argv
    return tr, changed


def _ctr_namespace(tr: Translation) -> str | None:
    if tr.tool != "ctr" or not tr.argv or len(tr.argv) < 3 or tr.argv[1] != "-n":
        return None
    return tr.argv[2]


def _pick_prefix(name: str, ids: list[str]) -> str:
    if name in ids:
        return name
    hits = [i for i in ids if i.startswith(name)]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise Ambiguous(f"container ID prefix {name!r} is ambiguous", [h[:12] for h in hits[:5]], "give more of the ID")
    raise NotFound("container", name, "this containerd namespace", "`ctr -n NAMESPACE containers ls` lists them")


def pick_cri(name: str, records: list[Any], full: bool, pod_namespaces: Any = dict) -> str:
    """The CRI container ``name`` stands for, among the crictl adapter's ContainerRecords: an exact
    ID, a unique ID prefix (kept as it is for crictl, which takes prefixes; the full ID for ctr),
    the CRI container name, POD/NAME, or k8s_NAME_POD_NAMESPACE_UID_ATTEMPT (``pod_namespaces()``:
    pod sandbox ID -> the pod's Kubernetes namespace, asked only for such a name). Several with
    the name: the one running, else Ambiguous."""
    exact = [r for r in records if r.id == name]
    if exact:
        return exact[0].id
    prefix = [r for r in records if r.id.startswith(name)] if len(name) >= 3 else []
    if len(prefix) == 1:
        return prefix[0].id if full else name
    by_name = [r for r in records if r.name == name]
    if not by_name and "/" in name:
        pod, _, cname = name.partition("/")
        by_name = [r for r in records if r.pod == pod and r.name == cname]
    if not by_name and name.startswith("k8s_"):
        parts = name.split("_")
        if len(parts) >= 4:
            cname, pod, ns = parts[1], parts[2], parts[3]
            namespaces = pod_namespaces()
            by_name = [r for r in records if r.name == cname and r.pod == pod and namespaces.get(r.pod_id) == ns]
    if len(by_name) > 1:
        running = [r for r in by_name if r.state == "running"]
        if len(running) == 1:
            by_name = running
    if len(by_name) == 1:
        return by_name[0].id
    if by_name:
        raise Ambiguous(
            f"container name {name!r} is ambiguous",
            [f"{r.id[:13]} (pod {r.pod or '?'}, {r.state})" for r in by_name[:5]],
            "give the container ID, or POD/CONTAINER",
        )
    if len(prefix) > 1:
        raise Ambiguous(
            f"container ID prefix {name!r} is ambiguous", [r.id[:13] for r in prefix[:5]], "give more of the ID"
        )
    raise NotFound(
        "container",
        name,
        "the CRI's containers (crictl ps -a)",
        "a name may be the CRI container name, POD/CONTAINER or an ID prefix",
    )


# -- crictl rmi removes whole images ----------------------------------------------------------------


def guard_crictl_rmi(tr: Translation, adapter: Any) -> None:
    """crictl rmi REF removes the image with every tag; docker rmi REF removes one tag. Refuse
    when that would take other tags with it (the crictl adapter's image listing: one record per
    tag, with the image ID)."""
    records = adapter.images()
    refs = [(tr.argv or [])[i] for i in tr.images]
    wanted = {normalize_ref(r) or r for r in refs} | set(refs)
    for ref in refs:
        full = normalize_ref(ref) or ref
        ids = {r.id for r in records if r.ref in (full, ref)}
        others = sorted({r.ref for r in records if r.id in ids and r.ref and r.ref not in wanted})
        if others:
            raise NoEquivalent(
                f"crictl rmi {ref} would also remove {', '.join(others)}: the CRI removes whole images, "
                "docker rmi removes one tag",
                f"remove only this tag with ctr: ctrtool translate --to ctr --run -- docker rmi {ref}",
            )

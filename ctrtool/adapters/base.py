"""The adapter interface, name matching and the helpers adapters share.

An adapter is the only place that knows one tool's flags and output format. It builds argv lists,
runs them through :mod:`ctrtool.runner`, parses the output and returns the typed records of
:mod:`ctrtool.model`. It never formats anything for people.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from ..config import Endpoint, Settings
from ..errors import Ambiguous, InvalidState, NotFound, PullFailed, ToolError, ToolTimeout, Unsupported
from ..facts import Answer, CriImage, Plugin, Unpacked
from ..model import (
    BackendInfo,
    ContainerRecord,
    ImageRecord,
    ImageTarget,
    LayerRecord,
    Plan,
    PodRecord,
    State,
    StoredItem,
)
from ..runner import Deadline, LineFilter, Result, Streamed, run, run_interactive, run_passthrough


def is_image_layer(key: str) -> bool:
    """A snapshot holds an image layer when its key is the layer's chain id (how containerd's
    unpacker names them); containers' snapshots are named after the container ("<id>", "<id>-init")."""
    return bool(re.fullmatch(r"sha256:[0-9a-f]{64}", key))


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """chain[0] = diff[0]; chain[i] = sha256 of "chain[i-1] diff[i]" (the OCI image spec)."""
    import hashlib

    out: list[str] = []
    for diff in diff_ids:
        out.append(diff if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {diff}".encode()).hexdigest())
    return out


def tree_size(path: str) -> int:
    """Bytes of the files under ``path``, in one walk: apparent sizes of regular files and symlinks
    (like ``du --apparent-size -b`` without the directories' own blocks), a hard-linked file once."""
    total = 0
    seen: set[tuple[int, int]] = set()
    stack = [path]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
                continue
            if st.st_nlink > 1:
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def named_images(images: Sequence[tuple[str, Sequence[str]]], limit: int = 10) -> str:
    """(id, names) pairs in words for a plan's ``what``: "localhost/app:1, localhost/app:latest;
    untagged sha256:4f1c2a3b9d0e" (images apart by "; "), named ones first, the first ``limit``
    of them and how many more."""
    ordered = sorted(images, key=lambda pair: (not pair[1], sorted(pair[1]), pair[0]))
    words = [", ".join(names) if names else f"untagged {image_id[:19]}" for image_id, names in ordered[:limit]]
    if len(ordered) > limit:
        words.append(f"and {len(ordered) - limit} more")
    return "; ".join(words)


def place(backend: str, namespace: str | None) -> str:
    """Where something is, in words: "docker", "ctr namespace default", "crictl (k8s.io)"."""
    if backend == "ctr":
        return f"ctr namespace {namespace}"
    if backend == "crictl" and namespace:
        return f"crictl ({namespace})"
    return backend


def match_containers(records: Sequence[ContainerRecord], ref: str) -> list[ContainerRecord]:
    """The containers ``ref`` names, best kind of match first: the exact id, else the exact name,
    else a unique id prefix (as the tools accept). More than one result means ambiguous."""
    for test in (lambda r: r.id == ref, lambda r: r.name == ref, lambda r: len(ref) >= 3 and r.id.startswith(ref)):
        found = [r for r in records if test(r)]
        if found:
            return found
    return []


def resolve_container(records: Sequence[ContainerRecord], ref: str, where: str) -> ContainerRecord:
    """The one container ``ref`` names among ``records`` (one listing of one place)."""
    found = match_containers(records, ref)
    if not found:
        raise NotFound("container", ref, where)
    if len(found) > 1:
        raise Ambiguous(
            f"{ref!r} matches {len(found)} containers in {where}",
            [describe_container(r) for r in found],
            "give the container's ID",
        )
    return found[0]


def describe_container(r: ContainerRecord) -> str:
    pod = f", pod {r.pod}" if r.pod else ""
    return f"{r.id[:12]} ({r.name}{pod}, {r.state})"


def image_names(ref: str) -> list[str]:
    """The names a short reference stands for, as docker and the CRI normalise it:
    ``busybox`` -> ``busybox:latest``, ``docker.io/library/busybox:latest`` (ctrtool/refs.py)."""
    from ..refs import names_for

    return names_for(ref)


def canonical_ref(ref: str) -> str:
    """The full form of an image name: ``busybox`` -> ``docker.io/library/busybox:latest``."""
    from ..refs import canonical

    return canonical(ref)


def match_images(records: Sequence[ImageRecord], ref: str) -> tuple[list[ImageRecord], bool]:
    """The image records ``ref`` names, and whether it named them by name (else by id): the same
    name (both normalised), else the exact id or manifest digest, else a prefix of either."""
    want = canonical_ref(ref)
    found = [r for r in records if r.ref and (r.ref == ref or canonical_ref(r.ref) == want)]
    if found:
        return found, True
    bare = ref[7:] if ref.startswith("sha256:") else ref
    hexish = re.fullmatch(r"[0-9a-f]{3,64}", bare) is not None
    for test in (
        lambda r: r.id == f"sha256:{bare}" or r.digest == f"sha256:{bare}",
        # a prefix of the id, or of the manifest digest: Docker 29 on containerd's image store
        # prints that as its IMAGE ID
        lambda r: hexish and any(d and d[7:].startswith(bare) for d in (r.id, r.digest)),
    ):
        found = [r for r in records if test(r)]
        if found:
            return found, False
    return [], False


def all_lines(_line: str) -> bool:
    """A stderr filter that keeps everything back: for a pull, whose failure ctrtool reports in
    one line of its own (the tool's progress, on stdout, still shows)."""
    return True


def pull_failure(adapter: Adapter, ref: str, got: Streamed) -> ToolError:
    """The error for a failed pull: registry unreachable, image not in the registry, or the
    tool's own failure. It names the tool and the reference."""
    text = got.stderr_tail
    detail = _pull_detail(text)
    tool = adapter.binary
    if stderr_mentions(
        text,
        "connection refused",
        "no such host",
        "i/o timeout",
        "network is unreachable",
        "no route to host",
        "tls handshake timeout",
        "server misbehaving",
        "dial tcp",
    ):
        return PullFailed(
            tool,
            ref,
            f"registry unreachable: {detail}",
            "check the registry's name and port, the network, DNS and any proxy (for docker "
            "and the CRI, the daemon's own proxy settings count, not this shell's)",
            endpoint=adapter.endpoint.address,
            argv=got.argv,
        )
    if stderr_mentions(text, "not found", "manifest unknown", "does not exist"):
        return PullFailed(
            tool,
            ref,
            f"not found in the registry: {detail}",
            "check the repository and the tag",
            endpoint=adapter.endpoint.address,
            argv=got.argv,
        )
    err = adapter.classify(got.returncode, text)
    if err is not None:
        return err
    from ..errors import ToolFailed

    return ToolFailed(tool, got.returncode, text, endpoint=adapter.endpoint.address, argv=got.argv)


def _pull_detail(stderr: str) -> str:
    """The most telling line of a failed pull, without the tools' log decorations."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for line in reversed(lines):
        m = re.search(r'msg="(.*?)"(?: |$)', line)
        text = m[1].replace('\\"', '"') if m else line
        text = re.sub(r"^(Error response from daemon: |ctr: |E\d{4} [\d:.]+\s+\d+ \S+\] )", "", text)
        if text:
            return text
    return "(no message)"


class Adapter:
    """Base of the docker, ctr and crictl adapters.

    One adapter object serves one command: its :class:`Deadline` bounds the time all of its tool
    calls may take together (the per-backend timeout).
    """

    name: ClassVar[str]

    def __init__(self, settings: Settings, endpoint: Endpoint | None = None, timeout: float | None = None):
        self.settings = settings
        self.endpoint = endpoint or settings.endpoint(self.name)
        self.binary = settings.binary(self.name)
        self.deadline = Deadline(settings.timeout if timeout is None else timeout)
        # facts the user should know about a result that is still usable (printed on stderr)
        self.warnings: list[str] = []

    # -- what every backend answers ----------------------------------------------------------
    def images(self, namespaces: Sequence[str] | None = None) -> list[ImageRecord]:
        raise NotImplementedError

    def info(self) -> BackendInfo:
        raise NotImplementedError

    def answer(self) -> Answer:
        """The daemon behind the endpoint, asked with one cheap call: whether it answers (else the
        tool's error) and what it says of itself (`ctrtool doctor`)."""
        raise Unsupported(f"{self.name} cannot be asked whether its daemon answers")

    # -- what `ctrtool doctor` asks of the CRI's view and of containerd's client (one call each;
    # Unsupported where the backend has no such thing) --------------------------------------------
    def cri_info(self) -> dict[str, Any]:
        """The CRI runtime's status and configuration (``crictl info``)."""
        raise Unsupported(f"{self.name} does not speak the CRI")

    def cri_images(self) -> list[CriImage]:
        """The CRI's images: id, names, pinned (``crictl images -o json``)."""
        raise Unsupported(f"{self.name} does not speak the CRI")

    def imagefs(self) -> str | None:
        """The mount point of the CRI's image filesystem."""
        raise Unsupported(f"{self.name} does not speak the CRI")

    def client_version(self) -> str | None:
        """The tool's own version (the client's), when it knows it."""
        raise Unsupported(f"{self.name} does not say its client's version")

    def snapshotter_of(self, cri_info: dict[str, Any], imagefs: str | None) -> str | None:
        """The snapshotter the CRI unpacks images for, from its info and image filesystem."""
        raise Unsupported(f"{self.name} does not speak the CRI")

    def sandbox_image_of(self, cri_info: dict[str, Any], images: Sequence[CriImage]) -> str | None:
        """The pod sandbox (pause) image the CRI runtime uses, from its info and images."""
        raise Unsupported(f"{self.name} does not speak the CRI")

    def containerd_plugins(self) -> list[Plugin]:
        """The plugins of the containerd this backend reaches (``ctr plugins ls``)."""
        raise Unsupported(f"{self.name} cannot list containerd's plugins")

    def unpacked(self, namespace: str) -> list[Unpacked]:
        """Each image of containerd namespace ``namespace`` and the snapshotters it is unpacked in."""
        raise Unsupported(f"{self.name} cannot list containerd's snapshots")

    def namespaces(self) -> list[str]:
        """The containerd namespaces this backend works in ([] when that does not apply)."""
        return []

    def layers(self, ref: str, namespaces: Sequence[str] | None = None) -> list[LayerRecord]:
        """Each layer of image ``ref`` and every copy of it this backend finds on disk (sizes of
        unpacked copies left None: core counts each distinct directory once). NotFound when the
        image is not here. Tool calls do not depend on the number of images."""
        raise Unsupported(f"{self.name} cannot show layers")

    def plan_reclaim(self, orphans: Sequence[Any]) -> Plan:
        """Remove orphans (:class:`.containerd_account.Orphan`) through the tool's API."""
        raise Unsupported(f"{self.name} cannot remove containerd's orphans")

    def account_roots(self) -> list[tuple[str, Callable[[], Any]]]:
        """The storage roots this backend's tool keeps, each with the function that classifies
        every path under it for the byte account (:mod:`ctrtool.account`). None by default."""
        return []

    def disk_usage(self, namespaces: Sequence[str] | None = None) -> list[StoredItem]:
        """Everything this backend's stores hold on disk for images: each unpacked layer directory
        once (sizes left None for core to walk), and containerd's blobs that images refer to. A
        fixed number of tool calls per backend (ctr: per namespace), however many images."""
        raise Unsupported(f"{self.name} cannot show disk usage")

    # -- containers and pods ---------------------------------------------------------------
    def containers(self, namespaces: Sequence[str] | None = None) -> list[ContainerRecord]:
        """Every container (any state), with a constant number of tool calls."""
        raise NotImplementedError

    def pods(self) -> list[PodRecord]:
        raise Unsupported(
            f"{self.name} has no pods: pods are the CRI's (kubelet's) view", "use `ctrtool pods` (crictl)"
        )

    def operation_namespace(self, namespace: str | None) -> str | None:
        """The one namespace a routed operation works in (ctr: -n, else its default)."""
        return None

    def container_namespace(self) -> str | None:
        """The namespace this backend's containers and images are in, when it is fixed (crictl)."""
        return None

    def image_namespace(self, namespace: str | None) -> str | None:
        """The containerd namespace an image operation here works in, or None when the images are in
        a store of the backend's own (docker's graph driver)."""
        return self.operation_namespace(namespace) or self.container_namespace()

    def image_target(self, ref: str, records: Sequence[ImageRecord], where: str) -> ImageTarget:
        found, by_name = match_images(records, ref)
        if not found:
            raise NotFound("image", ref, where)
        ids = list(dict.fromkeys(r.id or r.digest or r.ref for r in found))
        if len(ids) > 1:
            raise Ambiguous(
                f"{ref!r} matches {len(ids)} images in {where}",
                [f"{r.ref or '<none>'} ({(r.id or '?')[:19]})" for r in found],
                "give the full name",
            )
        first = found[0]
        key = first.id or first.digest
        tags = [r.ref for r in records if r.ref and key and (r.id or r.digest) == key]
        if by_name:
            name = first.ref
        else:
            name = self.name_for_id(first, tags)
        return ImageTarget(self.name, first.namespace, name or "", first.id, tags)

    def name_for_id(self, record: ImageRecord, tags: list[str]) -> str:
        """What to hand the tool for an image the user named by id: the id itself (docker and
        the CRI take ids)."""
        return record.id or record.ref or ""

    def inspect_container(self, c: ContainerRecord) -> Any:
        raise NotImplementedError

    def inspect_image(self, image: ImageTarget) -> Any:
        raise NotImplementedError

    def inspect_pod(self, pod: PodRecord) -> Any:
        raise Unsupported(f"{self.name} has no pods", "use `ctrtool inspect --backend crictl --type pod`")

    def find_pod(self, ref: str) -> PodRecord:
        raise Unsupported(f"{self.name} has no pods", "pods are the CRI's: use --backend crictl")

    # -- streaming and interactive -------------------------------------------------------------
    def logs(self, c: ContainerRecord, follow: bool = False, tail: int | None = None, since: str | None = None) -> int:
        raise Unsupported(f"{self.name} cannot show logs")

    @staticmethod
    def _logs_flags(follow: bool, tail: int | None, since: str | None) -> list[str]:
        """`logs` flags as docker and crictl both spell them."""
        return (
            (["--follow"] if follow else [])
            + (["--tail", str(tail)] if tail is not None else [])
            + (["--since", since] if since else [])
        )

    def exec(self, c: ContainerRecord, command: Sequence[str], interactive: bool = False, tty: bool = False) -> int:
        raise NotImplementedError

    # -- changes: each returns a Plan (the exact commands) before anything runs ------------------
    def plan_start(self, c: ContainerRecord) -> Plan:
        raise NotImplementedError

    def plan_stop(self, c: ContainerRecord, seconds: int) -> Plan:
        raise NotImplementedError

    def plan_kill(self, c: ContainerRecord, signal: str) -> Plan:
        """Send ``signal`` (a normalised name, ``SIGKILL``, ``SIGUSR1``, or a number) to the
        container's main process."""
        raise NotImplementedError

    def plan_rm(self, c: ContainerRecord, force: bool = False) -> Plan:
        raise NotImplementedError

    def plan_rmi(self, image: ImageTarget, force: bool = False) -> Plan:
        raise NotImplementedError

    def plan_tag(self, image: ImageTarget, target: str, replaces: ImageRecord | None = None) -> Plan:
        """Give ``image`` the name ``target``. ``replaces``: the image ``target`` names now, which
        loses the name (destructive: asks first)."""
        raise NotImplementedError

    def plan_pull(self, ref: str, namespace: str | None = None) -> Plan:
        raise NotImplementedError

    def _plan(self, what: str, commands: list[list[str]], destructive: bool = False, grace: float = 0) -> Plan:
        """A plan that runs ``commands`` one after another, each through the runner. ``grace``: time
        the tool itself waits on purpose (a stop's grace period), on top of the per-backend timeout."""

        def execute() -> None:
            self.fresh_deadline(grace)
            for argv in commands:
                self.run_argv(argv)

        return Plan(what, commands, execute, destructive)

    def _save_plan(self, what: str, argv: list[str], path: str) -> Plan:
        """A save: the tool writes the archive to its stdout, which ctrtool points at a temporary file
        next to ``path`` and renames onto it once complete (or leaves as its own stdout for "-").
        ``what``: "save IMAGES from docker", without the target."""
        from ..runner import run_to_file

        to_file = path != "-"
        replacing = to_file and os.path.exists(path)
        return Plan(
            f"{what} to {path if to_file else 'stdout'}" + (f", replacing {path}" if replacing else ""),
            [argv],
            lambda: (
                run_to_file(
                    argv, path, endpoint=self.endpoint.address, unset_env=self.unset_env(), classify=self.classify
                )
                and None
            ),
            destructive=replacing,
            note=f"the archive is written to a temporary file next to {path} and renamed onto it once complete"
            if to_file
            else None,
        )

    def _pull_plan(self, argv: list[str], ref: str, what: str) -> Plan:
        """A pull: the tool's progress goes to stderr, its own error lines are kept back and
        replaced by one line of ctrtool's (:func:`pull_failure`); returns the reference pulled."""

        def execute() -> str:
            got = self.stream(argv, stdout_to_stderr=True, withhold=all_lines)
            if got.returncode != 0:
                raise pull_failure(self, ref, got)
            return ref

        return Plan(what, [argv], execute)

    def plan_load(self, path: str, namespace: str | None = None, replaces: Sequence[str] = ()) -> Plan:
        """Load the archive at ``path``. ``replaces``: references it holds that name other images
        here now, which the load moves (destructive: asks first)."""
        raise NotImplementedError

    def plan_save(self, images: Sequence[ImageTarget], path: str, namespace: str | None = None) -> Plan:
        """Write ``images`` as one archive to ``path`` ("-": stdout), atomically
        (:func:`ctrtool.runner.run_to_file`); replacing an existing file is destructive."""
        raise NotImplementedError

    def plan_prune(self, unused: bool, namespace: str | None = None) -> Plan:
        """Remove the images nothing needs: the dangling (untagged) ones, or with ``unused`` every
        image no container uses. The plan's ``what`` names the images the tool would remove as far
        as it can tell beforehand; ``execute()`` returns the IDs of the images removed."""
        raise NotImplementedError

    # -- shared checks ---------------------------------------------------------------------------
    def fresh_deadline(self, grace: float = 0) -> None:
        """A Plan runs after the user said yes, which may have taken a while: its calls get the
        whole per-backend timeout again, plus ``grace``: what the tool waits on purpose (``docker stop
        -t 10`` takes 10 s with a container that ignores SIGTERM, and was cut off at 10 s: issue 10).
        What the adapter read before is forgotten too (:meth:`forget`): a plan's calls, and the
        check after a change, read the truth, not what was so before the change."""
        self.deadline = Deadline(self.settings.timeout + grace)
        self.forget()

    # what an adapter keeps of what it read (attribute names in its __dict__): dropped by forget()
    cached: tuple[str, ...] = ()

    def forget(self) -> None:
        """Drop every cached read (containerd's meta.db, ...): no cache survives a change that
        ctrtool itself made."""
        for key in self.cached:
            self.__dict__.pop(key, None)

    @staticmethod
    def require_running(c: ContainerRecord, doing: str) -> None:
        if c.state != State.RUNNING:
            raise InvalidState(
                f"cannot {doing}: container {c.name} ({place(c.backend, c.namespace)}) is {c.state}, not running",
                f"start it first: ctrtool start --backend {c.backend}"
                + (f" -n {c.namespace}" if c.backend == "ctr" else "")
                + f" {c.name}",
            )

    @staticmethod
    def refuse_running(c: ContainerRecord, doing: str) -> None:
        if c.state in (State.RUNNING, State.PAUSED):
            raise InvalidState(
                f"cannot {doing}: container {c.name} ({place(c.backend, c.namespace)}) is {c.state}",
                "stop it first, or add --force to kill it",
            )

    # -- copying images between stores ---------------------------------------------------------
    def export_argv(self, ref: str, namespace: str | None) -> list[str]:
        """The call that writes image ``ref`` as a tar archive on stdout."""
        raise Unsupported(f"{self.name} cannot export images")

    def import_argv(self, namespace: str | None) -> list[str]:
        """The call that reads a tar archive of images on stdin."""
        raise Unsupported(f"{self.name} cannot import images")

    def parse_import(self, stdout: str) -> list[str]:
        """The references an import (``import_argv``) says it loaded."""
        return []

    # -- running the tool ------------------------------------------------------------------
    def connection_args(self) -> list[str]:
        """The flags that point the tool at :attr:`endpoint`."""
        raise NotImplementedError

    def unset_env(self) -> Sequence[str]:
        return ()

    def containers_view(self, namespaces: Sequence[str] | None = None) -> tuple[list[ContainerRecord], set[str]]:
        """The containers, and the ids of the pod sandboxes among what other views show (the CRI
        knows them from the same listing; others know none)."""
        return self.containers(namespaces), set()

    def classify(self, returncode: int, stderr: str) -> ToolError | None:
        """A failed call's precise error (unreachable, permission denied), marked with this backend
        so that the CLI layer can word its hint from the backend's descriptor."""
        err = self.classify_stderr(returncode, stderr)
        if err is not None:
            err.backend = self.name
        return err

    def classify_stderr(self, returncode: int, stderr: str) -> ToolError | None:
        """Map a failed call's stderr to a precise error. The tool's words only: no hints here."""
        return None

    def argv(self, *args: str) -> list[str]:
        return [self.binary, *self.connection_args(), *args]

    # stderr lines this tool prints on every call that say nothing about the call (ctr 2.x on a
    # cgroup v1 host: a deprecation warning): held back unless CTRTOOL_DEBUG is set
    noise: ClassVar[tuple[str, ...]] = ()

    def is_noise(self, line: str) -> bool:
        return (
            bool(self.noise)
            and not self.settings.env.get("CTRTOOL_DEBUG")
            and any(re.search(pattern, line) for pattern in self.noise)
        )

    def _quiet(self, result: Result, check: bool) -> Result:
        if self.noise and result.stderr:
            from dataclasses import replace

            result = replace(
                result,
                stderr="".join(line for line in result.stderr.splitlines(keepends=True) if not self.is_noise(line)),
            )
        if check and result.returncode != 0:
            raise self.failed(result)
        return result

    def _require_socket(self, argv: Sequence[str]) -> None:
        """A unix socket endpoint that does not exist is unreachable now: say so at once. (ctr 1.6
        keeps dialing a missing socket until its deadline, so the user waited the whole timeout.)
        Only a missing file counts; a path ctrtool may not look at is left to the tool."""
        address = self.endpoint.address or ""
        path = address[len("unix://") :] if address.startswith("unix://") else address
        if not path.startswith("/"):
            return
        try:
            os.stat(path)
        except FileNotFoundError:
            from ..errors import Unreachable

            err = Unreachable(self.binary, address, f"no socket at {path}", argv=list(argv))
            err.backend = self.name
            raise err from None
        except OSError:
            return

    def run(self, *args: str, check: bool = True, input: str | None = None) -> Result:
        self._require_socket(self.argv(*args))
        remaining = self.deadline.remaining()
        if remaining <= 0:
            raise ToolTimeout(self.binary, self.deadline.seconds, endpoint=self.endpoint.address, argv=self.argv(*args))
        try:
            result = run(
                self.argv(*args),
                timeout=remaining,
                endpoint=self.endpoint.address,
                unset_env=self.unset_env(),
                check=False,
                input=input,
                classify=self.classify,
            )
        except ToolTimeout as exc:
            # report the backend's whole budget, which is what the user configured
            raise ToolTimeout(exc.tool, self.deadline.seconds, endpoint=exc.endpoint, argv=exc.argv) from None
        return self._quiet(result, check)

    def run_argv(self, argv: Sequence[str], check: bool = True, bounded: bool = True) -> Result:
        """Run a full argv made by this adapter (a step of a Plan). ``bounded=False``: no deadline,
        for calls that move data for as long as it takes (load, save)."""
        self._require_socket(argv)
        timeout = None
        if bounded:
            timeout = self.deadline.remaining()
            if timeout <= 0:
                raise ToolTimeout(self.binary, self.deadline.seconds, endpoint=self.endpoint.address, argv=list(argv))
        return self._quiet(
            run(
                argv,
                timeout=timeout,
                endpoint=self.endpoint.address,
                unset_env=self.unset_env(),
                check=False,
                classify=self.classify,
            ),
            check,
        )

    def stream(
        self,
        argv: Sequence[str],
        stdin: bool = False,
        stdout_to_stderr: bool = False,
        withhold: LineFilter | None = None,
        stdin_gate: Callable[[], bool] | None = None,
    ) -> Streamed:
        """Run a full argv with its output going straight to the user (logs, exec, pull).
        Not bounded by the backend's timeout: it runs until the tool ends or the user stops it."""
        self._require_socket(argv)
        return run_passthrough(
            argv,
            endpoint=self.endpoint.address,
            unset_env=self.unset_env(),
            stdin=stdin,
            stdout_to_stderr=stdout_to_stderr,
            withhold=self._withhold(withhold),
            stdin_gate=stdin_gate,
        )

    def _withhold(self, withhold: LineFilter | None) -> LineFilter | None:
        if not self.noise:
            return withhold
        return lambda line: self.is_noise(line) or bool(withhold and withhold(line))

    def interactive(self, argv: Sequence[str], withhold: LineFilter | None = None) -> Streamed:
        self._require_socket(argv)
        return run_interactive(
            argv, endpoint=self.endpoint.address, unset_env=self.unset_env(), withhold=self._withhold(withhold)
        )

    def failed(self, result: Result) -> ToolError:
        from ..runner import failure

        return failure(result, endpoint=self.endpoint.address, classify=self.classify)


def plan_copy(
    source: Adapter,
    image: ImageTarget,
    target: Adapter,
    target_ns: str | None,
    verify: Adapter,
    verify_ns: str | None,
    exists: bool,
    what: str,
) -> Plan:
    """``source export | target import``, streamed through ctrtool (no temporary file), then a
    listing by ``verify`` (the tool that must see the image: crictl for the CRI) that it is there.
    ``exists``: the target already has this reference, which the copy replaces (destructive).
    ``execute()`` returns the matching records in the target, or raises a typed error that names
    the failing side."""
    from ..runner import failure, run_pipe

    src_argv = source.export_argv(image.ref, image.namespace)
    dst_argv = target.import_argv(target_ns)

    def execute() -> list[ImageRecord]:
        piped = run_pipe(
            src_argv,
            dst_argv,
            source_unset_env=source.unset_env(),
            target_unset_env=target.unset_env(),
            label=f"copying {image.ref}",
        )
        bad = piped.failed_side()
        if bad is not None:
            side = source if bad is piped.source else target
            raise failure(bad, endpoint=side.endpoint.address, classify=side.classify)
        # the check is a call of its own: the copy may have taken longer than the whole timeout
        verify.fresh_deadline()
        records = verify.images([verify_ns] if verify_ns else None)
        found = match_images(records, image.ref)[0]
        if image.id and not found:
            # the same image by id, under no name or its id-name: never another name it had there
            found = [r for r in records if r.id == image.id and (not r.ref or r.ref.startswith("sha256:"))]
        if not found:
            loaded = ", ".join(target.parse_import(piped.target.stdout)) or "nothing it named"
            raise ToolError(
                verify.binary,
                f"after the copy, {place(verify.name, verify_ns)} does not list "
                f"{image.ref} (the import reported: {loaded})",
                "list what is there with: ctrtool images --backend " + verify.name,
                argv=dst_argv,
            )
        return found

    return Plan(
        what,
        [src_argv, dst_argv],
        execute,
        destructive=exists,
        piped=True,
        note=f"{image.ref} is already in {place(verify.name, verify_ns)}: the copy replaces it" if exists else None,
    )


def parallel(calls: Mapping[Any, Callable[[], Any]]) -> dict[Any, Any]:
    """Run independent calls in threads; return their results by key, or raise the first error.

    Every call is itself bounded by its adapter's deadline, so this never waits longer than that.
    """
    if len(calls) <= 1:
        return {key: fn() for key, fn in calls.items()}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(8, len(calls))) as pool:
        futures = {key: pool.submit(fn) for key, fn in calls.items()}
        return {key: fut.result() for key, fut in futures.items()}


def stderr_mentions(stderr: str, *needles: str) -> bool:
    low = stderr.lower()
    return any(n.lower() in low for n in needles)


def realpath_or_none(path: str | None) -> str | None:
    return os.path.realpath(path) if path else None

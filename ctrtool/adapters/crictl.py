"""crictl: the kubelet's view, through the CRI. With containerd, the CRI plugin works in
containerd namespace ``k8s.io`` and shares that namespace's images and snapshots with ``ctr -n k8s.io``.

Calls per ``images``: ``crictl images -o json``, ``crictl version`` and ``crictl imagefsinfo -o json``,
all in parallel. Never one call per image. Calls per ``ps`` (and ``pods``): ``crictl ps -a -o json``,
``crictl pods -o json`` and ``crictl version``, in parallel; names are resolved to the IDs crictl
needs from that one listing. The CRI has no tag, import or export: those operations are refused
with the ctr command for namespace k8s.io instead.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
from collections.abc import Sequence
from typing import Any

from .. import model
from ..errors import Ambiguous, InvalidState, NotFound, PermissionDenied, ToolError, Unreachable, Unsupported
from ..facts import Answer, CriImage
from ..model import (
    BackendInfo,
    ContainerRecord,
    CopyKind,
    ImageRecord,
    ImageTarget,
    LayerCopy,
    LayerRecord,
    Plan,
    PodRecord,
    SizeKind,
    State,
    StoredItem,
)
from ..runner import Result, Streamed, not_understood
from . import discovery
from .base import Adapter
from .descriptor import Descriptor, NamespaceRule, NodeDaemon
from .shared import canonical_ref, chain_ids, is_image_layer, parallel, stderr_mentions

CRI_CONTAINERD_NAMESPACE = "k8s.io"  # fixed in containerd's CRI plugin

DESCRIPTOR = Descriptor(
    name="crictl",
    module="crictl",
    discover=discovery.cri,
    cls="CrictlAdapter",
    tool="crictl",
    role="the kubelet's view, through the CRI",
    node_daemon=NodeDaemon.CRI,
    namespace_rule=NamespaceRule.FIXED,
    namespace=CRI_CONTAINERD_NAMESPACE,
    owns_namespace=True,
    env=("CONTAINER_RUNTIME_ENDPOINT", "IMAGE_SERVICE_ENDPOINT", "CRI_CONFIG_FILE"),
    config_keys={"runtime-endpoint": str, "image-endpoint": str, "binary": str, "config": str},
    default_sockets=(
        "unix:///run/containerd/containerd.sock",
        "unix:///run/k3s/containerd/containerd.sock",
        "unix:///run/crio/crio.sock",
        "unix:///var/run/cri-dockerd.sock",
    ),
    daemon="the CRI runtime",
    # {tool_config}: the crictl config file crictl reads here (CRI_CONFIG_FILE, else /etc/crictl.yaml)
    endpoint_hint="set CONTAINER_RUNTIME_ENDPOINT, pass --runtime-endpoint, or set runtime-endpoint in {tool_config}",
    tool_config=discovery.cri_config_path,
    archives=False,
    moves_via="ctr",
    has_pods=True,
)


class CrictlAdapter(Adapter):
    name = "crictl"
    # crictl 1.37 with no config file says so on every call
    noise = (r'level=warning msg="Config \\".*\\" does not exist, trying next',)

    def unset_env(self) -> Sequence[str]:
        # a CRI_CONFIG_FILE naming a file that does not exist makes crictl 1.37 fail every call
        # ("load config file: stat ..."): ctrtool has found the endpoints itself, so leave it out
        return () if self.endpoint.tool_config else ("CRI_CONFIG_FILE",)

    def connection_args(self) -> list[str]:
        ep = self.endpoint
        args = []
        if ep.tool_config:
            args += ["--config", ep.tool_config]
        args += ["--runtime-endpoint", ep.require(), "--image-endpoint", ep.image_address or ep.require()]
        # crictl's own per-request timeout: within our budget for this backend
        seconds = max(1, math.ceil(min(self.deadline.remaining(), self.deadline.seconds)))
        args += ["--timeout", f"{seconds}s"]
        return args

    def classify_stderr(self, returncode: int, stderr: str) -> ToolError | None:
        if stderr_mentions(stderr, "validate service connection", "connection error", "error while dialing"):
            detail = _error_line(stderr)
            if stderr_mentions(stderr, "permission denied"):
                return PermissionDenied(self.binary, self.endpoint.address, detail)
            return Unreachable(
                self.binary,
                self.endpoint.address,
                detail,
            )
        return None

    # -- queries ---------------------------------------------------------------------------
    def _json(self, *args: str) -> Any:
        result = self.run(*args, "--output", "json")
        return _json(result, self.endpoint.address)

    def version(self) -> dict[str, str]:
        return parse_version(self.run("version").stdout)

    def answer(self) -> Answer:
        """``crictl version``: the CRI runtime's name, version and API version."""
        v = self.version()
        return Answer(
            "version",
            version=v.get("RuntimeVersion") or None,
            runtime=v.get("RuntimeName") or None,
            api=v.get("RuntimeApiVersion") or None,
        )

    def imagefs(self) -> str | None:
        return parse_imagefs_mountpoint(self._json("imagefsinfo"))

    # -- facts for `ctrtool doctor` (each one call) --------------------------------------------
    def cri_info(self) -> dict[str, Any]:
        """``crictl info -o json``: the CRI runtime's status and configuration."""
        result = self.run("info", "--output", "json")
        data = _json(result, self.endpoint.address)
        if not isinstance(data, dict):
            raise not_understood(result, "expected a JSON object", self.endpoint.address)
        return data

    def image_list(self) -> Any:
        """``crictl images -o json`` as crictl prints it (images with repoTags, pinned, ...)."""
        return self._json("images")

    def client_version(self) -> str | None:
        """crictl's own version (``crictl --version``): "v1.37.0", or None when the binary does not
        know it (a ``go install`` build says "unknown")."""
        return parse_client_version(self.run("--version").stdout)

    def snapshotter_of(self, cri_info: dict[str, Any], imagefs: str | None) -> str | None:
        return containerd_snapshotter(cri_info, imagefs)

    def sandbox_image_of(self, cri_info: dict[str, Any], images: Sequence[CriImage]) -> str | None:
        listed = {"images": [{"repoTags": i.repo_tags, "pinned": i.pinned} for i in images]}
        return sandbox_image(json.dumps(cri_info), listed)

    def cri_images(self) -> list[CriImage]:
        """``crictl images -o json``, typed."""
        got = self.image_list()
        rows = got.get("images") if isinstance(got, dict) else None
        return [
            CriImage(
                i.get("id"),
                [t for t in i["repoTags"] if isinstance(t, str)] if isinstance(i.get("repoTags"), list) else None,
                i.get("pinned"),
            )
            for i in rows or []
            if isinstance(i, dict)
        ]

    def images(self, namespaces: Sequence[str] | None = None) -> list[ImageRecord]:
        got = parallel(
            {"images": lambda: self.run("images", "--output", "json"), "version": self.version, "fs": self.imagefs}
        )
        namespace = cri_namespace(got["version"])
        if namespaces and namespace not in namespaces:
            return []
        result = got["images"]
        fs = got["fs"]
        address = self.endpoint.image_address or self.endpoint.address
        store = content = None
        if namespace:  # containerd: the snapshotter's root is <root>/io.containerd.snapshotter.v1.<name>
            snapshotter = _snapshotter_of(fs)
            store = model.containerd_snapshots(address, namespace, fs, snapshotter)
            content = model.containerd_content(
                address, os.path.join(os.path.dirname(fs), "io.containerd.content.v1.content") if fs else None
            )
        elif fs:
            store = model.Store(model.StoreKind.SNAPSHOTS, model.daemon_id(address), fs)
        try:
            return parse_images(_json(result, self.endpoint.address), namespace, store, content)
        except ValueError as exc:
            raise not_understood(result, str(exc), self.endpoint.address) from None

    def layers(self, ref: str, namespaces: Sequence[str] | None = None) -> list[LayerRecord]:
        """``images -o json`` ‖ ``version`` ‖ ``imagefsinfo`` (the image, the namespace, the
        snapshotter's root), then one ``inspecti`` of that image (its diff ids). The CRI's unpacked
        layers are containerd's snapshots in its namespace: the snapshotter's metadata.db maps them
        to directories (the same copies ``ctr -n k8s.io`` sees). crictl does not say where the
        compressed blobs are: those come from ctr."""
        from .ctr import snapshot_dirs
        from .shared import match_images

        records = self.images(namespaces)
        found = match_images(records, ref)[0]
        namespace = found[0].namespace if found else None
        if not found:
            raise NotFound("image", ref, "crictl" + (f" ({records[0].namespace})" if records else ""))
        image = found[0]
        data = self._inspect("inspecti", image.id or image.ref or ref)
        info = (data or {}).get("info") or {}
        diff_ids = (((info.get("imageSpec") or {}).get("rootfs")) or {}).get("diff_ids")
        if not isinstance(diff_ids, list):
            from ..errors import OutputNotUnderstood

            raise OutputNotUnderstood(
                self.binary, "`inspecti` gave no info.imageSpec.rootfs.diff_ids", None, endpoint=self.endpoint.address
            )
        root = image.store.path if image.store else None
        if not root or namespace is None:
            raise Unsupported("crictl's runtime is not containerd with a snapshotter ctrtool knows")
        # the snapshotter's root is <containerd root>/io.containerd.snapshotter.v1.<name>
        dirs = snapshot_dirs(root, os.path.basename(root).rsplit(".", 1)[-1])
        out = []
        for index, (diff, chain) in enumerate(zip(diff_ids, chain_ids(diff_ids))):
            path = dirs.get((namespace, chain))
            copies = (
                [LayerCopy(self.name, namespace, CopyKind.UNPACKED, path, namespaces=[namespace], seen_by=[self.name])]
                if path
                else []
            )
            out.append(LayerRecord(index, diff, chain, None, copies))
        return out

    def disk_usage(self, namespaces: Sequence[str] | None = None) -> list[StoredItem]:
        """``version`` ‖ ``imagefsinfo`` (the namespace, the snapshotter's root); the CRI's
        unpacked layers are the committed snapshots of its namespace in the snapshotter's
        metadata.db (the same directories ``ctr -n k8s.io`` reaches). Blobs come from ctr."""
        from .ctr import snapshot_dirs

        got = parallel({"version": self.version, "fs": self.imagefs})
        namespace, root = cri_namespace(got["version"]), got["fs"]
        if namespaces and namespace not in namespaces:
            return []
        if not root or namespace is None:
            raise Unsupported("crictl's runtime is not containerd with a snapshotter ctrtool knows")
        kinds: dict[tuple[str, str], str] = {}
        dirs = snapshot_dirs(root, os.path.basename(root).rsplit(".", 1)[-1], kinds)
        return [
            StoredItem(
                self.name,
                ns,
                CopyKind.UNPACKED if kinds[(ns, key)] == "committed" and is_image_layer(key) else CopyKind.CONTAINER,
                key,
                path,
                root,
                seen_by=[self.name],
            )
            for (ns, key), path in sorted(dirs.items())
            if ns == namespace
        ]

    def namespaces(self) -> list[str]:
        ns = cri_namespace(self.version())
        return [ns] if ns else []

    # -- containers and pods ----------------------------------------------------------------------
    def _listing(self, namespaces: Sequence[str] | None = None) -> tuple[str | None, Any, Any]:
        got = parallel(
            {
                "ps": lambda: self.run("ps", "--all", "--output", "json"),
                "pods": lambda: self.run("pods", "--output", "json"),
                "version": self.version,
            }
        )
        return cri_namespace(got["version"]), got["ps"], got["pods"]

    def container_namespace(self) -> str | None:
        return CRI_CONTAINERD_NAMESPACE  # on containerd; the listing's records say it for sure

    def containers(self, namespaces: Sequence[str] | None = None) -> list[ContainerRecord]:
        namespace, ps, pods = self._listing()
        if namespaces and namespace not in namespaces:
            return []
        try:
            return parse_ps(_json(ps, self.endpoint.address), _json(pods, self.endpoint.address), namespace)
        except ValueError as exc:
            raise not_understood(ps, str(exc), self.endpoint.address) from None

    def containers_view(self, namespaces: Sequence[str] | None = None) -> tuple[list[ContainerRecord], set[str]]:
        """The containers and, from the same listing, the pod sandboxes' ids (ctr -n k8s.io shows
        each sandbox as a container)."""
        namespace, ps, pods = self._listing()
        if namespaces and namespace not in namespaces:
            return [], set()
        try:
            records = parse_ps(_json(ps, self.endpoint.address), _json(pods, self.endpoint.address), namespace)
            return records, {str(p.get("id")) for p in _pod_items(_json(pods, self.endpoint.address))}
        except ValueError as exc:
            raise not_understood(ps, str(exc), self.endpoint.address) from None

    def pods(self) -> list[PodRecord]:
        namespace, ps, pods = self._listing()
        try:
            return parse_pods(_json(pods, self.endpoint.address), _json(ps, self.endpoint.address), namespace)
        except ValueError as exc:
            raise not_understood(pods, str(exc), self.endpoint.address) from None

    def find_pod(self, ref: str) -> PodRecord:
        pods = self.pods()
        for test in (lambda p: p.id == ref, lambda p: p.name == ref, lambda p: len(ref) >= 3 and p.id.startswith(ref)):
            found = [p for p in pods if test(p)]
            if len(found) > 1:
                raise Ambiguous(
                    f"{ref!r} matches {len(found)} pods",
                    [f"{p.id[:12]} ({p.name}, namespace {p.pod_namespace}, {p.state})" for p in found],
                    "give the pod's ID",
                )
            if found:
                return found[0]
        raise NotFound("pod", ref, "crictl")

    def _inspect(self, what: str, ident: str) -> Any:
        # crictl takes no flags after its arguments
        return _json(self.run(what, "--output", "json", ident), self.endpoint.address)

    def inspect_container(self, c: ContainerRecord) -> Any:
        return self._inspect("inspect", c.id)

    def inspect_image(self, image: ImageTarget) -> Any:
        return self._inspect("inspecti", image.id or image.ref)

    def inspect_pod(self, pod: PodRecord) -> Any:
        return self._inspect("inspectp", pod.id)

    def logs(self, c: ContainerRecord, follow: bool = False, tail: int | None = None, since: str | None = None) -> int:
        return self.stream(self.argv("logs", *self._logs_flags(follow, tail, since), c.id)).returncode

    def exec(self, c: ContainerRecord, command: Sequence[str], interactive: bool = False, tty: bool = False) -> int:
        """crictl exits 1 whatever the command's exit status, and reports the status in a log
        line ("command terminated with exit code N"): that line is kept back and N returned."""
        self.require_running(c, "exec")
        flags = (["--interactive"] if interactive else []) + (["--tty"] if tty else [])
        argv = self.argv("exec", *flags, c.id, *command)
        got = (
            self.interactive(argv, withhold=is_exit_report)
            if tty
            else self.stream(argv, stdin=interactive, withhold=is_exit_report)
        )
        return exec_status(got)

    # -- changes ---------------------------------------------------------------------------------
    def plan_start(self, c: ContainerRecord) -> Plan:
        what = f"start container {c.name} (crictl, pod {c.pod})"
        if c.state == State.RUNNING:
            return Plan(what, [], lambda: None, note="already running")
        if c.state != State.CREATED:
            raise InvalidState(
                f"cannot start container {c.name} ({c.id[:12]}): it is {c.state}, and the "
                "CRI starts a container only once",
                "the kubelet replaces an exited container with a new one; with crictl, "
                "`crictl create` a new container in the pod",
            )
        return self._plan(what, [self.argv("start", c.id)])

    def plan_stop(self, c: ContainerRecord, seconds: int) -> Plan:
        what = f"stop container {c.name} (crictl, pod {c.pod}): its stop signal, then SIGKILL after {seconds}s"
        if c.state != State.RUNNING:
            return Plan(what, [], lambda: None, note=f"not running ({c.state})")
        # crictl's own default is 0: SIGKILL at once. Its request timeout (in connection_args) must
        # outlast the grace period: the argv is made with the plan's deadline
        self.fresh_deadline(seconds)
        return self._plan(what, [self.argv("stop", "--timeout", str(seconds), c.id)], destructive=True, grace=seconds)

    def plan_kill(self, c: ContainerRecord, signal: str) -> Plan:
        """The CRI has no kill call: StopContainer with timeout 0 is SIGKILL at once
        (``crictl stop --timeout 0``), and no other signal can be sent through it."""
        if signal != "SIGKILL":
            raise Unsupported(
                f"crictl cannot send {signal}: the CRI has no kill call, it only stops containers "
                "(the stop signal, then SIGKILL after a timeout)",
                f"drop --signal for SIGKILL (crictl stop --timeout 0), or use `ctrtool stop`; to send "
                f"{signal} to the task behind the CRI's back, in containerd namespace k8s.io: "
                f"ctrtool kill --backend ctr -n k8s.io --signal {signal} {c.id}",
            )
        what = f"send SIGKILL to container {c.name} (crictl, pod {c.pod})"
        if c.state != State.RUNNING:
            return Plan(what, [], lambda: None, note=f"not running ({c.state})")
        return self._plan(what, [self.argv("stop", "--timeout", "0", c.id)], destructive=True)

    def plan_rm(self, c: ContainerRecord, force: bool = False) -> Plan:
        if not force:
            self.refuse_running(c, "remove it")
        flags = ["--force"] if force else []
        return self._plan(
            f"remove container {c.name} ({c.id[:12]}, crictl, pod {c.pod})",
            [self.argv("rm", *flags, c.id)],
            destructive=True,
        )

    def plan_rmi(self, image: ImageTarget, force: bool = False) -> Plan:
        """``crictl rmi``: the CRI removes an image even while a container runs from it, so ctrtool
        looks first (one ``ps -a``): a running container's image is refused without ``--force``,
        and the question names every container that uses it."""
        names = ", ".join(t for t in image.tags if not t.startswith("sha256:")) or image.ref
        users = [c for c in self.containers() if uses_image(c, image)]
        running = [c for c in users if c.state == State.RUNNING]
        if running and not force:
            raise InvalidState(
                f"image {image.ref} is used by running CRI container(s) "
                f"{', '.join(f'{c.name} ({c.id[:13]}, pod {c.pod or c.pod_id})' for c in running)}: "
                "crictl would remove it from under them",
                "stop them first (the kubelet restarts a pod's containers: delete the pod), or add --force "
                "to remove the image anyway",
            )
        using = (
            "; containers that use it: " + ", ".join(f"{c.name} ({c.state}, pod {c.pod or c.pod_id})" for c in users)
            if users
            else ""
        )
        return self._plan(
            f"remove image {image.ref} from the CRI ({image.namespace or 'its store'}): "
            f"the CRI removes the whole image, every name of it ({names}){using}",
            [self.argv("rmi", image.ref)],
            destructive=True,
        )

    def plan_tag(self, image: ImageTarget, target: str, replaces: ImageRecord | None = None) -> Plan:
        # ctr works on names: given an image ID, the hint names the image by one of its names (ctr
        # refuses an ID with several names)
        name = next((t for t in image.tags if not t.startswith("sha256:")), image.ref)
        raise Unsupported(
            "crictl cannot tag images: the CRI has no tag call",
            "the CRI sees containerd namespace k8s.io: "
            + shlex.join(["ctrtool", "tag", "--backend", "ctr", "-n", "k8s.io", name, target]),
        )

    def plan_pull(self, ref: str, namespace: str | None = None) -> Plan:
        return self._pull_plan(self.argv("pull", ref), ref, f"pull {ref} through the CRI")

    def plan_load(self, path: str, namespace: str | None = None, replaces: Sequence[str] = ()) -> Plan:
        raise Unsupported(
            "crictl cannot load images: the CRI has no import call",
            "import it into containerd namespace k8s.io, the one the kubelet sees: "
            f"ctrtool load --backend ctr -n k8s.io {path}  (runs: ctr -n k8s.io images import {path})",
        )

    def plan_save(self, images: Sequence[ImageTarget], path: str, namespace: str | None = None) -> Plan:
        refs = " ".join(i.ref for i in images)
        raise Unsupported(
            "crictl cannot save images: the CRI has no export call",
            f"export them from containerd namespace k8s.io: ctrtool save --backend ctr -n k8s.io "
            f"-o {path} {refs}  (runs: ctr -n k8s.io images export {path} {refs})",
        )

    def plan_prune(self, unused: bool, namespace: str | None = None) -> Plan:
        """``crictl rmi --prune``: every image no container (in any state) uses, except pinned ones.
        The CRI has no dangling-only mode, so that needs ``unused`` (--all). crictl counts containers
        only, not pod sandboxes: the sandbox (pause) image goes too unless the runtime pins it."""
        from .shared import named_images

        if not unused:
            raise Unsupported(
                "crictl cannot remove only the dangling (untagged) images: `crictl rmi --prune` "
                "removes every image no container uses",
                "add --all to remove every unused image; or remove untagged ones one by one: "
                "ctrtool rmi --backend crictl ID  (`ctrtool images -b crictl` lists them)",
            )
        got = parallel(
            {
                "images": lambda: self.run("images", "--output", "json"),
                "ps": lambda: self.run("ps", "--all", "--output", "json"),
                "info": lambda: self.run("info", "--output", "json", check=False),
            }
        )
        listed = {key: _json(got[key], self.endpoint.address) for key in ("images", "ps")}
        try:
            doomed = prune_candidates(listed["images"], listed["ps"])
        except ValueError as exc:
            raise not_understood(
                got["images" if "images" in str(exc) else "ps"], str(exc), self.endpoint.address
            ) from None
        argv = self.argv("rmi", "--prune")
        where = f"through the CRI in {self.container_namespace()}"
        if not doomed:
            return Plan(
                f"remove the images no container uses {where}",
                [],
                lambda: None,
                note="every image is used by a container or pinned"
                if listed["images"]["images"]
                else "there are no images",
            )
        # only to warn about the sandbox image: without `crictl info` the list is still right
        sandbox = sandbox_image(got["info"].stdout if got["info"].returncode == 0 else "{}", listed["images"])
        what = (
            f"remove {len(doomed)} image{'s' if len(doomed) > 1 else ''} no container uses {where} "
            f"({named_images([(i, names) for i, names, _digests in doomed])})"
        )
        if sandbox and any(sandbox in {canonical_ref(n) for n in names} for _i, names, _d in doomed):
            what += f", the sandbox (pause) image {sandbox} among them (new pods need it)"

        def execute() -> list[str]:
            self.fresh_deadline()
            removed = set(parse_deleted(self.run_argv(argv).stdout))
            return [i for i, names, digests in doomed if removed & {i, *names, *digests}]

        return Plan(
            what,
            [argv],
            execute,
            destructive=True,
            note="what crictl removes is decided again when it runs, with the images and containers there are then",
        )

    def info(self) -> BackendInfo:
        got = parallel(
            {
                "info": lambda: self.run("info", "--output", "json"),
                "version": self.version,
                "fs": self.imagefs,
                "images": lambda: self._json("images"),
            }
        )
        version, info = got["version"], _json(got["info"], self.endpoint.address)
        config = info.get("config") if isinstance(info, dict) else None
        config = config if isinstance(config, dict) else {}
        root = config.get("containerdRootDir")
        state = config.get("stateDir")
        namespace = cri_namespace(version)
        runtime = " ".join(v for v in (version.get("RuntimeName"), version.get("RuntimeVersion")) if v)
        return BackendInfo(
            backend=self.name,
            version=version.get("RuntimeApiVersion"),
            endpoint=self.endpoint.address,
            endpoint_source=self.endpoint.source,
            root=root,
            # the CRI plugin's state dir is <containerd state>/io.containerd.grpc.v1.cri
            state=os.path.dirname(state) if state and state.endswith("io.containerd.grpc.v1.cri") else state,
            storage_driver=containerd_snapshotter(info, got["fs"]) if namespace else None,
            store=got["fs"],
            content_store=os.path.join(root, "io.containerd.content.v1.content") if root else None,
            namespaces=[namespace] if namespace else [],
            image_count=len({i.get("id") for i in (got["images"] or {}).get("images") or [] if isinstance(i, dict)}),
            runtime=runtime or None,
            image_store="containerd" if namespace else None,
            containerd=self.endpoint.address if namespace else None,
            sandbox_image=sandbox_image(got["info"].stdout, got["images"]) if namespace else None,
        )


# -- parsers (pure functions, tested on recorded output) ---------------------------------------


def prune_candidates(images: Any, ps: Any) -> list[tuple[str, list[str], list[str]]]:
    """What ``crictl rmi --prune`` removes, from ``crictl images -o json`` and ``crictl ps -a -o json``:
    (id, tags, repo digests) of every image that is not pinned and that no container uses (by its
    imageRef, or by the image it names)."""
    if not isinstance(images, dict) or not isinstance(images.get("images"), list):
        raise ValueError("expected an object with an 'images' list")
    if not isinstance(ps, dict) or not isinstance(ps.get("containers", []), list):
        raise ValueError("expected an object with a 'containers' list")
    ids: dict[str, str] = {}  # any name of an image (tags in their full form) -> its id
    for image in images["images"]:
        for name in [image.get("id"), *(image.get("repoDigests") or [])]:
            if name:
                ids[name] = image.get("id")
        for tag in image.get("repoTags") or []:
            ids[canonical_ref(tag)] = image.get("id")
    used = set()
    for item in ps.get("containers") or []:
        for name in (item.get("imageRef"), (item.get("image") or {}).get("image")):
            if name:
                found = ids.get(name) or ids.get(canonical_ref(name))
                if found:
                    used.add(found)
    return [
        (image["id"], list(image.get("repoTags") or []), list(image.get("repoDigests") or []))
        for image in images["images"]
        if image.get("id") not in used and not image.get("pinned")
    ]


def sandbox_image(info_json: str, images: Any = None) -> str | None:
    """The pod sandbox (pause) image in its full form. containerd 1.6 and 1.7 say it in ``crictl
    info -o json`` (config.sandboxImage); 2.x moved it to the CRI images plugin's pinned images
    (``pinned_images.sandbox``), which ``crictl info`` no longer shows: then it is the image the CRI
    lists as pinned in ``crictl images -o json`` (``images``). None when neither says."""
    try:
        config = json.loads(info_json).get("config")
        image = config.get("sandboxImage") if isinstance(config, dict) else None
    except (ValueError, AttributeError):
        image = None
    if isinstance(image, str) and image:
        return canonical_ref(image)
    pinned = [
        tag
        for i in ((images or {}).get("images") or [])
        if isinstance(i, dict) and i.get("pinned")
        for tag in (i.get("repoTags") or [])
    ]
    return canonical_ref(pinned[0]) if len(pinned) == 1 else None


def containerd_snapshotter(info: Any, imagefs_root: str | None) -> str | None:
    """The CRI's snapshotter: config.containerd.snapshotter (containerd 1.6, 1.7), else the name
    of the image filesystem's directory, io.containerd.snapshotter.v1.<name> (2.x, where the
    snapshotter moved to the CRI images plugin and left ``crictl info``)."""
    config = info.get("config") if isinstance(info, dict) else None
    section = config.get("containerd") if isinstance(config, dict) else None
    named = section.get("snapshotter") if isinstance(section, dict) else None
    return named if isinstance(named, str) and named else _snapshotter_of(imagefs_root)


def parse_deleted(stdout: str) -> list[str]:
    """``crictl rmi``: "Deleted: NAME" per name of each image removed (tags, else repo digests)."""
    return [m[1].strip() for m in re.finditer(r"^Deleted: (.+)$", stdout, re.M)]


def cri_namespace(version: dict[str, str]) -> str | None:
    return CRI_CONTAINERD_NAMESPACE if version.get("RuntimeName") == "containerd" else None


def parse_version(stdout: str) -> dict[str, str]:
    """``crictl version`` prints ``Key:  value`` lines (it has no JSON output)."""
    out = {}
    for line in stdout.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            out[key.strip()] = value.strip()
    return out


def parse_client_version(stdout: str) -> str | None:
    """``crictl --version``: "crictl version v1.37.0" -> "v1.37.0"; None for "unknown"."""
    m = re.search(r"version\s+(v?\d+\.\d+[^\s]*)", stdout)
    return m[1] if m else None


def parse_imagefs_mountpoint(data: Any) -> str | None:
    try:
        filesystems = data["status"]["imageFilesystems"]
        return filesystems[0]["fsId"]["mountpoint"] if filesystems else None
    except (KeyError, TypeError, IndexError):
        return None


def _snapshotter_of(root: str | None) -> str | None:
    """The snapshotter's name from its root directory (io.containerd.snapshotter.v1.<name>)."""
    base = os.path.basename(root.rstrip("/")) if root else ""
    prefix = "io.containerd.snapshotter.v1."
    return base[len(prefix) :] if base.startswith(prefix) else None


def parse_images(
    data: Any, namespace: str | None, store: model.Store | None, content: model.Store | None = None
) -> list[ImageRecord]:
    """One record per tag (or one untagged record) from ``crictl images -o json``."""
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ValueError("expected an object with an 'images' list")
    records = []
    for image in data["images"]:
        digests = image.get("repoDigests") or []
        digest = digests[0].partition("@")[2] if digests else None
        try:
            size = int(image.get("size"))
        except (TypeError, ValueError):
            size = None
        for tag in image.get("repoTags") or [None]:
            records.append(
                ImageRecord(
                    backend="crictl",
                    namespace=namespace,
                    ref=tag,
                    id=image.get("id"),
                    digest=digest,
                    size=size,
                    size_kind=SizeKind.CONTENT if namespace else SizeKind.REPORTED,
                    store=store,
                    content=content,
                )
            )
    return records


# the CRI's container states -> the one vocabulary
CONTAINER_STATES = {
    "CONTAINER_RUNNING": State.RUNNING,
    "CONTAINER_CREATED": State.CREATED,
    "CONTAINER_EXITED": State.EXITED,
    "CONTAINER_UNKNOWN": State.UNKNOWN,
}
POD_STATES = {"SANDBOX_READY": "ready", "SANDBOX_NOTREADY": "notready"}


def uses_image(c: ContainerRecord, image: ImageTarget) -> bool:
    """Whether CRI container ``c`` runs from ``image``: the CRI names a container's image by its
    id (``sha256:...``) or by a name the image has."""
    if not c.image:
        return False
    if image.id and c.image in (image.id, image.id.removeprefix("sha256:")):
        return True
    names = {image.ref, *image.tags}
    try:
        return c.image in names or canonical_ref(c.image) in {canonical_ref(n) for n in names}
    except ValueError:
        return False


def cri_time(nanoseconds: Any) -> str | None:
    """The CRI's createdAt (nanoseconds since the epoch, as a string) -> RFC 3339, UTC."""
    from datetime import datetime, timezone

    try:
        seconds = int(nanoseconds) / 1e9
    except (TypeError, ValueError):
        return None
    if seconds <= 0:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ps(ps: Any, pods: Any, namespace: str | None) -> list[ContainerRecord]:
    """``crictl ps -a -o json`` with the pod names from ``crictl pods -o json``."""
    if not isinstance(ps, dict) or not isinstance(ps.get("containers", []), list):
        raise ValueError("expected an object with a 'containers' list")
    pod_names = {p.get("id"): (p.get("metadata") or {}).get("name") for p in _pod_items(pods)}
    records = []
    for item in ps.get("containers") or []:
        meta = item.get("metadata") or {}
        image = (item.get("image") or {}).get("image") or item.get("imageRef") or None
        state = item.get("state")
        records.append(
            ContainerRecord(
                backend="crictl",
                namespace=namespace,
                id=item["id"],
                name=meta.get("name") or item["id"],
                image=image,
                state=CONTAINER_STATES.get(state, State.UNKNOWN),
                status=state,
                pod=pod_names.get(item.get("podSandboxId")),
                pod_id=item.get("podSandboxId"),
                created=cri_time(item.get("createdAt")),
                labels={str(k): str(v) for k, v in (item.get("labels") or {}).items()},
            )
        )
    return records


def _pod_items(pods: Any) -> list[dict[str, Any]]:
    if not isinstance(pods, dict) or not isinstance(pods.get("items", []), list):
        raise ValueError("expected an object with an 'items' list of pods")
    return pods.get("items") or []


def parse_pods(pods: Any, ps: Any, namespace: str | None) -> list[PodRecord]:
    """``crictl pods -o json``, with each pod's number of containers from ``crictl ps -a -o json``."""
    counts: dict[str, int] = {}
    for item in (ps or {}).get("containers") or []:
        counts[item.get("podSandboxId")] = counts.get(item.get("podSandboxId"), 0) + 1
    records = []
    for item in _pod_items(pods):
        meta = item.get("metadata") or {}
        state = item.get("state")
        attempt = meta.get("attempt")
        records.append(
            PodRecord(
                backend="crictl",
                namespace=namespace,
                id=item["id"],
                name=meta.get("name") or item["id"],
                pod_namespace=meta.get("namespace"),
                uid=meta.get("uid"),
                state=POD_STATES.get(state or "", "unknown"),
                status=state,
                created=cri_time(item.get("createdAt")),
                attempt=int(attempt) if isinstance(attempt, (int, str)) and str(attempt).isdigit() else None,
                containers=counts.get(item["id"], 0),
            )
        )
    return records


EXIT_REPORT = re.compile(r"execing command in container \S+: command terminated with exit code (\d+)")


def is_exit_report(line: str) -> bool:
    return EXIT_REPORT.search(line) is not None


def exec_status(got: Streamed) -> int:
    """The command's own exit status: crictl's report of it when there is one."""
    for line in got.withheld:
        m = EXIT_REPORT.search(line)
        if m:
            return int(m[1])
    return got.returncode


def _json(result: Result, endpoint: str | None) -> Any:
    try:
        return json.loads(result.stdout)
    except ValueError as exc:
        raise not_understood(result, f"invalid JSON ({exc})", endpoint) from None


def _error_line(stderr: str) -> str:
    """crictl logs with logrus: prefer the msg of the last error line."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for line in reversed(lines):
        if "level=fatal" in line or "level=error" in line:
            start = line.find('msg="')
            if start >= 0:
                return line[start + 5 :].rstrip('"').replace('\\"', '"')
            return line
    return lines[-1] if lines else ""

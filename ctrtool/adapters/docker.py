"""docker: its own image store (graph driver directory under its data root).

Calls per ``images``: ``docker image ls -q``, then one ``docker image inspect`` for all image ids at
once (never one call per image). The store directory comes from the layers' own paths with overlay2;
with any other graph driver ``docker info`` is asked as well.

Calls per ``ps``: one ``docker ps --all --no-trunc --size=false --format '{{json .}}'``. Operations
take the container's name (docker resolves it) after ctrtool has found it in that listing.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .. import model
from ..errors import PermissionDenied, ToolError, Unreachable
from ..facts import Answer
from ..model import (
    BackendInfo,
    ContainerRecord,
    CopyKind,
    ImageRecord,
    ImageTarget,
    LayerCopy,
    LayerRecord,
    Plan,
    SizeKind,
    State,
    Store,
    StoredItem,
    ViewOf,
)
from ..runner import Result, not_understood
from . import discovery
from .base import Adapter
from .descriptor import Descriptor, NamespaceRule, NodeDaemon
from .shared import chain_ids, stderr_mentions

# docker runs its containers (and, on containerd's image store, keeps its images) in this containerd
# namespace unless dockerd is started with --containerd-namespace; `docker info` reports it since API
# 1.46 (Containerd.Namespaces.Containers), older daemons do not.
DOCKER_CONTAINERD_NAMESPACE = "moby"

DESCRIPTOR = Descriptor(
    name="docker",
    module="docker",
    discover=discovery.docker_cli,
    cls="DockerAdapter",
    tool="docker",
    role="docker's images: its own graph driver store, or a namespace of containerd's image store",
    node_daemon=NodeDaemon.OWN,
    namespace_rule=NamespaceRule.NONE,
    namespace=DOCKER_CONTAINERD_NAMESPACE,
    owns_namespace=True,
    env=("DOCKER_HOST", "DOCKER_CONTEXT"),
    config_keys={"host": str, "context": str, "binary": str},
    default_sockets=("unix:///var/run/docker.sock",),
    daemon="dockerd",
    reports_containerd=True,
    digest_is_id_in_namespace=True,
    endpoint_hint="set DOCKER_HOST, pass --docker-host, or set docker.host in the ctrtool config file",
)


@dataclass(frozen=True)
class DockerStore:
    """Where this dockerd keeps its images, from `docker info`."""

    store: Store  # graph driver directory, or its namespace's snapshots in containerd
    content: Store | None  # containerd's content store (containerd image store only)
    namespace: str | None  # the containerd namespace of its images (containerd image store only)
    containerd: str | None  # containerd's address as docker reports it

    @property
    def on_containerd(self) -> bool:
        return self.content is not None


def docker_store(info: dict[str, Any]) -> DockerStore:
    """docker's image store from `docker info`: overlay2 (or another graph driver) under its data
    root, or containerd's image store (driver-type io.containerd.snapshotter.v1): then its images
    are namespace Containerd.Namespaces.Containers of the containerd at Containerd.Address."""
    root, driver = info.get("DockerRootDir"), info.get("Driver")
    containerd: dict[str, Any] = info["Containerd"] if isinstance(info.get("Containerd"), dict) else {}
    address = containerd.get("Address") or None
    on_containerd = any(
        isinstance(pair, list) and len(pair) == 2 and pair[0] == "driver-type" and "snapshotter" in str(pair[1])
        for pair in info.get("DriverStatus") or []
    )
    if not on_containerd:
        path = os.path.join(root, driver) if root and driver else None
        return DockerStore(model.graph_store(root, path, driver), None, None, address)
    namespace = (containerd.get("Namespaces") or {}).get("Containers") or DOCKER_CONTAINERD_NAMESPACE
    return DockerStore(
        model.containerd_snapshots(address, namespace, None, driver),
        model.containerd_content(address, None),
        namespace,
        address,
    )


class DockerAdapter(Adapter):
    name = "docker"

    def connection_args(self) -> list[str]:
        if self.endpoint.context:
            return ["--context", self.endpoint.context]
        return ["--host", self.endpoint.require()]

    def unset_env(self) -> Sequence[str]:
        # we always say where to connect; these would conflict with --host/--context
        return ("DOCKER_HOST", "DOCKER_CONTEXT")

    def classify_stderr(self, returncode: int, stderr: str) -> ToolError | None:
        if stderr_mentions(stderr, "permission denied while trying to connect"):
            return PermissionDenied(self.binary, self.endpoint.address, _first_line(stderr))
        if stderr_mentions(
            stderr, "cannot connect to the docker daemon", "error during connect", "is the docker daemon running"
        ):
            return Unreachable(
                self.binary,
                self.endpoint.address,
                _first_line(stderr),
            )
        return None

    # -- the fast path: the Engine API on the local socket ---------------------------------------
    def api(self) -> Any:
        """docker's Engine API (:class:`.dockerapi.EngineAPI`) when ``--via auto`` and the endpoint
        is a local unix socket (not a context), else None: the CLI then."""
        if "_api" not in self.__dict__:
            from .dockerapi import EngineAPI, socket_path

            path = None if self.settings.via == "tools" or self.endpoint.context else socket_path(self.endpoint.address)
            self.__dict__["_api"] = EngineAPI(path, self.deadline.remaining) if path else None
        return self.__dict__["_api"]

    def _via_api(self, ask: str, *args: Any) -> Any:
        """``api.<ask>(*args)``, or None when the API is not used or did not answer (from then on
        this adapter asks the CLI: it says what is wrong in its own words)."""
        api = self.api()
        if api is None:
            return None
        from .dockerapi import ApiUnavailable

        try:
            got = getattr(api, ask)(*args)
        except ApiUnavailable:
            api.close()
            self.__dict__["_api"] = None
            return None
        self.__dict__["_api_used"] = True
        return got

    # -- queries ---------------------------------------------------------------------------
    def _info(self, tool: bool = False) -> dict[str, Any]:
        got = None if tool else self._via_api("info")
        if got is not None:
            self.__dict__["_account_info"] = got  # the byte account's root comes from it too
            return got
        result = self.run("info", "--format", "{{json .}}")
        data = _json(result, self.endpoint.address)
        if not isinstance(data, dict) or "DockerRootDir" not in data:
            raise not_understood(result, "expected a JSON object with DockerRootDir", self.endpoint.address)
        if not tool:
            self.__dict__["_account_info"] = data
        return data

    def daemon_info(self) -> dict[str, Any]:
        """``docker info`` as JSON, from the docker CLI itself: `ctrtool doctor` shows the tool call
        as its evidence, and what a user running docker would get."""
        return self._info(tool=True)

    def answer(self) -> Answer:
        """``docker info``: its version, data root and the containerd it works with."""
        info = self.daemon_info()
        containerd = info["Containerd"] if isinstance(info.get("Containerd"), dict) else {}
        version = info.get("ServerVersion")
        return Answer(
            "info",
            version=None if version is None else str(version),
            runtime="docker",  # Docker Engine (doctor's end-of-life table names it so)
            root=info.get("DockerRootDir"),
            containerd=containerd.get("Address") or None,
            excerpt=f"ServerVersion: {version}",
        )

    def _image_ids(self) -> list[str]:
        got = self._via_api("image_ids")
        if got is not None:
            return got
        result = self.run("image", "ls", "--quiet", "--no-trunc")
        return parse_image_ids(result.stdout)

    def _inspect(self, ids: list[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        got = self._via_api("inspect", ids)
        if got is not None:
            return got
        result = self.run("image", "inspect", *ids, check=False)
        if result.returncode != 0 and not stderr_mentions(result.stderr, "no such image"):
            from ..runner import failure

            raise failure(result, endpoint=self.endpoint.address, classify=self.classify)
        # an image removed between the two calls is simply not listed
        data = _json(result, self.endpoint.address) if result.stdout.strip() else []
        if not isinstance(data, list):
            raise not_understood(result, "expected a JSON list", self.endpoint.address)
        return data

    def images(self, namespaces: Sequence[str] | None = None) -> list[ImageRecord]:
        """``image ls -q`` then one ``image inspect`` of them all (plus ``info`` unless overlay2):
        through the Engine API on a local socket with ``--via auto`` (``source`` "api"), else the
        CLI."""
        records = self._image_records()
        if self.__dict__.get("_api_used") and self.api() is not None:
            for r in records:
                r.source = "api"
        return records

    def _image_records(self) -> list[ImageRecord]:
        items = self._inspect(self._image_ids())
        path = overlay2_store(items)
        if path is not None:  # overlay2 says where its layers are: no `docker info` needed
            return parse_inspect(items, model.graph_store(os.path.dirname(path), path, "overlay2"))
        if not items:
            return []
        where = docker_store(self._info())
        return parse_inspect(items, where.store, where.content)

    def store(self) -> DockerStore:
        return docker_store(self._info())

    def image_namespace(self, namespace: str | None) -> str | None:
        """On containerd's image store, docker's images are a containerd namespace (one `docker info`)."""
        return self.store().namespace

    def namespaces(self) -> list[str]:
        return [DOCKER_CONTAINERD_NAMESPACE]

    def _view_of_containerd(self, items: list[dict[str, Any]]) -> None:
        """On containerd's image store, docker's layers are its namespace's snapshots: say so (core
        reads them through the backend that reads a whole containerd)."""
        if items and overlay2_store(items) is None:
            where = docker_store(self._info())
            if where.on_containerd and where.containerd:
                raise ViewOf(self.name, where.store, where.containerd)

    def layers(self, ref: str, namespaces: Sequence[str] | None = None) -> list[LayerRecord]:
        """One ``docker image inspect REF`` (diff ids, the overlay2 directory); then docker's own
        map on disk, ``<data-root>/image/overlay2/layerdb/sha256/<chain id>/cache-id``, names each
        layer's directory ``<data-root>/overlay2/<cache-id>/diff``."""
        result = self.run("image", "inspect", ref, check=False)
        if result.returncode != 0:
            if stderr_mentions(result.stderr, "no such image"):
                from ..errors import NotFound

                raise NotFound("image", ref, "docker")
            raise self.failed(result)
        data = _json(result, self.endpoint.address)
        if not isinstance(data, list) or not data or not isinstance(data[0], dict):
            raise not_understood(result, "expected a JSON list with one image", self.endpoint.address)
        item = data[0]
        store = overlay2_store([item])
        self._view_of_containerd([item])
        if store is None:
            from ..errors import Unsupported

            driver = (item.get("GraphDriver") or {}).get("Name")
            raise Unsupported(
                f"docker's graph driver is {driver}: ctrtool maps layers to directories for overlay2 only"
            )
        diff_ids = (item.get("RootFS") or {}).get("Layers") or []
        return docker_layers(os.path.dirname(store), store, diff_ids)

    def disk_usage(self, namespaces: Sequence[str] | None = None) -> list[StoredItem]:
        """``image ls -q`` then one ``image inspect`` of every image; each distinct layer (chain
        id) is mapped to its overlay2 directory through docker's layer database, once."""
        items = self._inspect(self._image_ids())
        if not items:
            return []
        store = overlay2_store(items)
        self._view_of_containerd(items)
        if store is None:
            from ..errors import Unsupported

            driver = (items[0].get("GraphDriver") or {}).get("Name")
            raise Unsupported(
                f"docker's graph driver is {driver}: ctrtool maps layers to directories for overlay2 only"
            )
        out: dict[str, StoredItem] = {}
        for item in items:
            diff_ids = (item.get("RootFS") or {}).get("Layers") or []
            for chain in chain_ids(diff_ids):
                if chain not in out:
                    out[chain] = StoredItem(
                        "docker",
                        None,
                        CopyKind.UNPACKED,
                        chain,
                        layer_dir(os.path.dirname(store), store, chain),
                        store,
                        seen_by=["docker"],
                    )
        return list(out.values())

    # -- containers ----------------------------------------------------------------------------
    def containers(self, namespaces: Sequence[str] | None = None) -> list[ContainerRecord]:
        # --size=false: a template that prints every field would otherwise make docker compute
        # each container's disk usage
        result = self.run("ps", "--all", "--no-trunc", "--size=false", "--format", "{{json .}}")
        try:
            return parse_ps(result.stdout)
        except ValueError as exc:
            raise not_understood(result, str(exc), self.endpoint.address) from None

    def inspect_container(self, c: ContainerRecord) -> Any:
        return _json(self.run("container", "inspect", c.id), self.endpoint.address)[0]

    def inspect_image(self, image: ImageTarget) -> Any:
        return _json(self.run("image", "inspect", image.ref), self.endpoint.address)[0]

    def logs(self, c: ContainerRecord, follow: bool = False, tail: int | None = None, since: str | None = None) -> int:
        return self.stream(self.argv("logs", *self._logs_flags(follow, tail, since), c.id)).returncode

    def exec(self, c: ContainerRecord, command: Sequence[str], interactive: bool = False, tty: bool = False) -> int:
        self.require_running(c, "exec")
        flags = (["--interactive"] if interactive else []) + (["--tty"] if tty else [])
        argv = self.argv("exec", *flags, c.id, *command)
        if tty:
            return self.interactive(argv).returncode
        return self.stream(argv, stdin=interactive).returncode

    # -- changes ---------------------------------------------------------------------------------
    def plan_start(self, c: ContainerRecord) -> Plan:
        if c.state == State.RUNNING:
            return Plan(f"start container {c.name} (docker)", [], lambda: None, note="already running")
        return self._plan(f"start container {c.name} (docker)", [self.argv("start", c.name)])

    def plan_stop(self, c: ContainerRecord, seconds: int) -> Plan:
        what = f"stop container {c.name} (docker): its stop signal, then SIGKILL after {seconds}s"
        if c.state not in (State.RUNNING, State.PAUSED):
            return Plan(what, [], lambda: None, note=f"not running ({c.state})")
        return self._plan(what, [self.argv("stop", "-t", str(seconds), c.name)], destructive=True, grace=seconds)

    def plan_kill(self, c: ContainerRecord, signal: str) -> Plan:
        what = f"send {signal} to container {c.name} (docker)"
        if c.state not in (State.RUNNING, State.PAUSED):
            return Plan(what, [], lambda: None, note=f"not running ({c.state})")
        return self._plan(what, [self.argv("kill", "--signal", signal, c.name)], destructive=True)

    def plan_rm(self, c: ContainerRecord, force: bool = False) -> Plan:
        if not force:
            self.refuse_running(c, "remove it")
        flags = ["--force"] if force else []
        return self._plan(f"remove container {c.name} (docker)", [self.argv("rm", *flags, c.name)], destructive=True)

    def name_for_id(self, record: ImageRecord, tags: list[str]) -> str:
        """The ID docker itself knows: on containerd's image store (Docker 29) the manifest digest
        (``docker image rm`` of the config digest is "No such image" there), else the config digest."""
        if record.namespace and record.digest:
            return record.digest
        return super().name_for_id(record, tags)

    def plan_rmi(self, image: ImageTarget, force: bool = False) -> Plan:
        flags = ["--force"] if force else []
        return self._plan(
            f"remove image {image.ref} from docker's store",
            [self.argv("image", "rm", *flags, image.ref)],
            destructive=True,
        )

    def plan_tag(self, image: ImageTarget, target: str, replaces: ImageRecord | None = None) -> Plan:
        moved = (
            (
                f", moving {target} away from image {(replaces.id or '?')[:19]} (which keeps its other names, "
                f"or is left untagged)"
            )
            if replaces is not None
            else ""
        )
        return self._plan(
            f"tag {image.ref} as {target} (docker){moved}",
            [self.argv("tag", image.ref, target)],
            destructive=replaces is not None,
        )

    def plan_pull(self, ref: str, namespace: str | None = None) -> Plan:
        return self._pull_plan(self.argv("pull", ref), ref, f"pull {ref} into docker's store")

    def plan_load(self, path: str, namespace: str | None = None, replaces: Sequence[str] = ()) -> Plan:
        argv = self.argv("load", "--input", path)

        def execute() -> list[str]:
            return parse_loaded(self.run_argv(argv, bounded=False).stdout)

        moved = f", replacing {', '.join(replaces)} (now other images)" if replaces else ""
        return Plan(f"load {path} into docker's store{moved}", [argv], execute, destructive=bool(replaces))

    def plan_save(self, images: Sequence[ImageTarget], path: str, namespace: str | None = None) -> Plan:
        return self._save_plan(
            f"save {', '.join(i.ref for i in images)} from docker", self.argv("save", *(i.ref for i in images)), path
        )

    def export_argv(self, ref: str, namespace: str | None) -> list[str]:
        return self.argv("save", ref)

    def import_argv(self, namespace: str | None) -> list[str]:
        return self.argv("load")

    def parse_import(self, stdout: str) -> list[str]:
        return parse_loaded(stdout)

    def _used_image_ids(self) -> set[str]:
        """The image IDs of all containers, in any state (what `docker image prune` keeps): one
        ``ps`` and one ``container inspect`` for all of them."""
        ids = [c.id for c in self.containers()]
        if not ids:
            return set()
        # a container removed between the two calls is simply not there
        result = self.run("container", "inspect", "--format", "{{.Image}}", *ids, check=False)
        if result.returncode != 0 and not stderr_mentions(result.stderr, "no such container"):
            raise self.failed(result)
        return set(parse_image_ids(result.stdout))

    def plan_prune(self, unused: bool, namespace: str | None = None) -> Plan:
        """``docker image prune --force`` (dangling images) or with ``--all`` (every image no
        container uses). What it would remove is read first: the images docker lists (dangling:
        ``image ls --filter dangling=true``) that no container, running or not, uses."""
        from .shared import named_images, parallel

        calls: dict[str, Callable[[], Any]] = {"images": self.images, "used": self._used_image_ids}
        if not unused:
            calls["dangling"] = lambda: parse_image_ids(
                self.run("image", "ls", "--filter", "dangling=true", "--quiet", "--no-trunc").stdout
            )
        got = parallel(calls)
        names: dict[str, list[str]] = {}
        for r in got["images"]:
            own = docker_image_id(r)  # the ID docker lists, prunes and prints
            if own:
                names.setdefault(own, []).extend([r.ref] if r.ref else [])
        keep = got["used"]
        wanted = set(got["dangling"]) if not unused else set(names)
        doomed = [(i, refs) for i, refs in names.items() if i in wanted and i not in keep]
        kind = "unused" if unused else "dangling"
        argv = self.argv("image", "prune", "--force", *(["--all"] if unused else []))
        if not doomed:
            return Plan(
                f"remove {kind} images from docker's store",
                [],
                lambda: None,
                note="every one is used by a container" if wanted else f"there are no {kind} images",
            )
        what = (
            f"remove {len(doomed)} {kind} image{'s' if len(doomed) > 1 else ''} from docker's store "
            f"({named_images(doomed)})"
        )
        candidates = [i for i, _ in doomed]

        def execute() -> list[str]:
            self.fresh_deadline()
            removed = parse_pruned(self.run_argv(argv).stdout)
            return [i for i in candidates if i in removed]  # "deleted:" lines name layers too

        return Plan(
            what,
            [argv],
            execute,
            destructive=True,
            note="what docker removes is decided again when it runs, with the images and containers there are then",
        )

    def account_roots(self) -> list[tuple[str, Callable[[], Any]]]:
        """docker's data root, classified from its own layer and image databases (read-only)."""
        data = self.__dict__.get("_account_info") or self._info()
        root, driver = data.get("DockerRootDir"), data.get("Driver")
        if not isinstance(root, str) or not root:
            return []

        def classify() -> Any:
            from .docker_account import classify

            return classify(root, driver if isinstance(driver, str) else None)

        return [(root, classify)]

    def info(self) -> BackendInfo:
        data = self._info()
        where = docker_store(data)
        return BackendInfo(
            backend=self.name,
            version=data.get("ServerVersion"),
            endpoint=self.endpoint.address,
            endpoint_source=self.endpoint.source,
            root=data.get("DockerRootDir"),
            state=None,  # dockerd's --exec-root is not reported by `docker info`
            storage_driver=data.get("Driver"),
            store=where.store.path,  # on containerd's image store: core fills it in from containerd
            content_store=where.content.path if where.content else None,
            namespaces=[
                where.namespace
                or (data.get("Containerd") or {}).get("Namespaces", {}).get("Containers")
                or DOCKER_CONTAINERD_NAMESPACE
            ],
            image_count=data.get("Images"),
            image_store="containerd" if where.on_containerd else "graph",
            containerd=where.containerd,
        )


# -- parsers (pure functions, tested on recorded output) ---------------------------------------


def docker_image_id(record: ImageRecord) -> str | None:
    """The image ID docker itself prints for a record: the config digest on its graph driver, the
    manifest's (index's) digest on containerd's image store (then in ``digest``)."""
    return record.digest if record.content is not None else record.id


def parse_image_ids(stdout: str) -> list[str]:
    """Unique ids from ``docker image ls -q --no-trunc`` (one line per tag), in order."""
    seen: dict[str, None] = {}
    for line in stdout.splitlines():
        line = line.strip()
        if line:
            seen.setdefault(line, None)
    return list(seen)


def docker_layers(root: str, store: str, diff_ids: Sequence[str]) -> list[LayerRecord]:
    """Each layer's overlay2 directory, from docker's layer database on disk."""
    records = []
    for index, (diff, chain) in enumerate(zip(diff_ids, chain_ids(diff_ids))):
        path = layer_dir(root, store, chain)
        records.append(
            LayerRecord(
                index,
                diff,
                chain,
                None,
                [LayerCopy(backend="docker", namespace=None, kind=CopyKind.UNPACKED, path=path, seen_by=["docker"])],
            )
        )
    return records


def layer_dir(root: str, store: str, chain: str) -> str:
    """The overlay2 directory of the layer with chain id ``chain``, from docker's layer database:
    ``<root>/image/overlay2/layerdb/sha256/<chain>/cache-id`` names ``<store>/<cache-id>/diff``."""
    from ..errors import LayoutNotUnderstood

    algo, _, hexpart = chain.partition(":")
    meta = os.path.join(root, "image", "overlay2", "layerdb", algo, hexpart)
    from ..safeio import read_regular

    try:
        cache_id = read_regular(os.path.join(meta, "cache-id"), 4096).decode("ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise LayoutNotUnderstood(
            f"docker's layer database has no readable cache-id for layer {chain} "
            f"({(getattr(exc, 'strerror', None) or str(exc)).lower()})",
            meta,
        ) from None
    path = os.path.join(store, cache_id, "diff")
    if not re.fullmatch(r"[0-9a-f]{16,128}", cache_id) or not os.path.isdir(path):
        raise LayoutNotUnderstood(
            f"layer {chain}: docker's layer database names {cache_id!r}, "
            "which is not a directory in its overlay2 store",
            path,
        )
    return path


def overlay2_store(items: list[dict[str, Any]]) -> str | None:
    """overlay2 keeps each layer in <store>/<layer id>/diff: the store is read off an image's
    UpperDir, which saves a ``docker info`` call. None for other drivers (then ask docker info)."""
    for item in items:
        driver = item.get("GraphDriver") or {}
        upper = (driver.get("Data") or {}).get("UpperDir")
        if driver.get("Name") == "overlay2" and upper and os.path.basename(upper) == "diff":
            return os.path.dirname(os.path.dirname(upper))
    return None


def parse_inspect(items: list[dict[str, Any]], store: Store | None, content: Store | None = None) -> list[ImageRecord]:
    """One record per tag (or one untagged record) from ``docker image inspect`` output.

    On its graph driver, docker's image ID is the config digest. On containerd's image store
    (``content`` given) it is the digest of the image's manifest or index (``Descriptor``): that
    goes in ``digest``, and the config digest is left for core to find in containerd's content store."""
    records: list[ImageRecord] = []
    for item in items:
        size = item.get("Size")
        digests = item.get("RepoDigests") or []
        tags = item.get("RepoTags") or [None]
        target = (item.get("Descriptor") or {}).get("digest") if isinstance(item.get("Descriptor"), dict) else None
        for tag in tags:
            if content is None:
                image_id, digest = item.get("Id"), _digest_for(tag, digests)
            else:
                image_id, digest = None, target or item.get("Id")
            records.append(
                ImageRecord(
                    backend="docker",
                    namespace=store.namespace if store else None,
                    ref=tag,
                    id=image_id,
                    digest=digest,
                    size=size if isinstance(size, int) else None,
                    size_kind=SizeKind.UNPACKED if content is None else SizeKind.CONTENT_AND_UNPACKED,
                    store=store,
                    content=content,
                    created=model.rfc3339_utc(item.get("Created")),
                    diff_ids=[str(d) for d in ((item.get("RootFS") or {}).get("Layers") or [])],
                )
            )
    return records


def _digest_for(tag: str | None, repo_digests: list[str]) -> str | None:
    """The manifest digest docker recorded for this tag's repository (RepoDigests), if any."""
    repo = tag.rsplit(":", 1)[0] if tag and ":" in tag.rsplit("/", 1)[-1] else tag
    fallback = None
    for entry in repo_digests:
        name, _, digest = entry.partition("@")
        if repo is not None and name == repo:
            return digest
        fallback = fallback or digest
    return fallback


# docker's container states -> the one vocabulary ("restarting": between two runs, so unknown)
STATES = {
    "running": State.RUNNING,
    "created": State.CREATED,
    "exited": State.EXITED,
    "dead": State.EXITED,
    "removing": State.EXITED,
    "paused": State.PAUSED,
}


def parse_ps(stdout: str) -> list[ContainerRecord]:
    """``docker ps -a --no-trunc --format '{{json .}}'``: one JSON object per line."""
    records = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"a line is not JSON ({exc})") from None
        if not isinstance(item, dict) or "ID" not in item:
            raise ValueError("expected one JSON object with an ID per line")
        state = str(item.get("State") or "").lower()
        records.append(
            ContainerRecord(
                backend="docker",
                namespace=None,
                id=item["ID"],
                name=str(item.get("Names") or "").split(",")[0] or item["ID"],
                image=item.get("Image") or None,
                state=STATES.get(state, State.UNKNOWN),
                status=item.get("Status") or state or None,
                pod=None,
                pod_id=None,
                created=docker_time(item.get("CreatedAt")),
                labels=_labels(item.get("Labels")),
            )
        )
    return records


def _labels(text: Any) -> dict[str, str]:
    """``docker ps``'s Labels: "k=v,k2=v2" (a value with a comma cannot be told apart: docker
    joins them so)."""
    if not isinstance(text, str) or not text:
        return {}
    out: dict[str, str] = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        if key:
            out[key] = value
    return out


def docker_time(text: str | None) -> str | None:
    """ "2024-01-02 03:04:05 +0000 UTC" (Go's time.String) -> "2024-01-02T03:04:05Z"."""
    from datetime import datetime, timezone

    if not text:
        return None
    m = re.match(r"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.\d+)? ([+-]\d{4})", text)
    if not m:
        return None
    moment = datetime.strptime(f"{m[1]} {m[2]} {m[3]}", "%Y-%m-%d %H:%M:%S %z")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_pruned(stdout: str) -> set[str]:
    """``docker image prune``: the IDs on its "deleted: sha256:..." lines (images and layers)."""
    return {m[1] for m in re.finditer(r"^deleted: (sha256:[0-9a-f]{64})\s*$", stdout, re.M)}


def parse_loaded(stdout: str) -> list[str]:
    """``docker load``: "Loaded image: REF" or "Loaded image ID: sha256:..." per image."""
    return [m[1].strip() for m in re.finditer(r"^Loaded image(?: ID)?: (.+)$", stdout, re.M)]


def _json(result: Result, endpoint: str | None) -> Any:
    try:
        return json.loads(result.stdout)
    except ValueError as exc:
        raise not_understood(result, f"invalid JSON ({exc})", endpoint) from None


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return text.strip()

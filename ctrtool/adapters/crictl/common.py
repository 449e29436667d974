"""What every part of crictl's adapter shares: reaching the CRI, its namespace, errors, JSON calls."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ...errors import ToolError
from ..base import Adapter
from ..shared import dial_failure, stderr_mentions
from .parse import CRI_CONTAINERD_NAMESPACE, cri_namespace, error_line, load_json, parse_version


class CrictlBase(Adapter):
    """crictl's connection, environment and error words (the parts' common base)."""

    cached = ("_runtime_facts",)

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
            return dial_failure(self.binary, self.endpoint.address, stderr, error_line(stderr))
        return None

    # -- queries ---------------------------------------------------------------------------
    def _json(self, *args: str) -> Any:
        result = self.run(*args, "--output", "json")
        return load_json(result, self.endpoint.address)

    def namespaces(self) -> list[str]:
        ns = cri_namespace(self.version())
        return [ns] if ns else []

    def container_namespace(self) -> str | None:
        return CRI_CONTAINERD_NAMESPACE  # on containerd; the listing's records say it for sure

    def version(self) -> dict[str, str]:
        return parse_version(self.run("version").stdout)

    def runtime_store(self, imagefs: str | None) -> Any:
        """The store of a CRI runtime that is not containerd, from the image filesystem it names:
        CRI-O names its containers/storage image metadata, ``<graphroot>/<driver>-images``. None
        for a directory ctrtool does not know the layout of (then it says nothing of it)."""
        from ... import model
        from ..cstorage import conf_of_images_dir

        conf = conf_of_images_dir(imagefs) if imagefs else None
        return model.containers_storage(conf.graphroot, conf.driver) if conf else None

    def storage_conf(self, imagefs: str | None) -> Any:
        """The containers/storage store behind a CRI runtime's image filesystem (CRI-O), or
        Unsupported: a CRI runtime ctrtool cannot map to directories."""
        from ...errors import Unsupported
        from ..cstorage import conf_of_images_dir

        conf = conf_of_images_dir(imagefs) if imagefs else None
        if conf is None:
            raise Unsupported(
                f"crictl's runtime names its image filesystem {imagefs or '(nothing)'}: neither a containerd "
                "snapshotter nor a containers/storage store ctrtool knows"
            )
        return conf

    def _inspect(self, what: str, ident: str) -> Any:
        # crictl takes no flags after its arguments
        return load_json(self.run(what, "--output", "json", ident), self.endpoint.address)

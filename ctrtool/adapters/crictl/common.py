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

    def _inspect(self, what: str, ident: str) -> Any:
        # crictl takes no flags after its arguments
        return load_json(self.run(what, "--output", "json", ident), self.endpoint.address)

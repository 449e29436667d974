"""What every part of docker's adapter shares: reaching the daemon (its CLI, or its Engine API for
reads), errors, and where its images are stored."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...errors import PermissionDenied, ToolError, Unreachable
from ...model import ViewOf
from ...runner import not_understood
from ..base import Adapter
from ..shared import stderr_mentions
from .parse import DockerStore, docker_store, first_line, load_json, overlay2_store, parse_image_ids


class DockerBase(Adapter):
    """docker's connection, error words, daemon info and store (the parts' common base)."""

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
            return PermissionDenied(self.binary, self.endpoint.address, first_line(stderr))
        if stderr_mentions(
            stderr, "cannot connect to the docker daemon", "error during connect", "is the docker daemon running"
        ):
            return Unreachable(
                self.binary,
                self.endpoint.address,
                first_line(stderr),
            )
        return None

    # -- the fast path: the Engine API on the local socket ---------------------------------------
    def api(self) -> Any:
        """docker's Engine API (:class:`.dockerapi.EngineAPI`) when ``--via auto`` and the endpoint
        is a local unix socket (not a context), else None: the CLI then."""
        if "_api" not in self.__dict__:
            from ..dockerapi import EngineAPI, socket_path

            path = None if self.settings.via == "tools" or self.endpoint.context else socket_path(self.endpoint.address)
            self.__dict__["_api"] = EngineAPI(path, self.deadline.remaining) if path else None
        return self.__dict__["_api"]

    def _via_api(self, ask: str, *args: Any) -> Any:
        """``api.<ask>(*args)``, or None when the API is not used or did not answer (from then on
        this adapter asks the CLI: it says what is wrong in its own words)."""
        api = self.api()
        if api is None:
            return None
        from ..dockerapi import ApiUnavailable

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
        data = load_json(result, self.endpoint.address)
        if not isinstance(data, dict) or "DockerRootDir" not in data:
            raise not_understood(result, "expected a JSON object with DockerRootDir", self.endpoint.address)
        if not tool:
            self.__dict__["_account_info"] = data
        return data

    def daemon_info(self) -> dict[str, Any]:
        """``docker info`` as JSON, from the docker CLI itself: `ctrtool doctor` shows the tool call
        as its evidence, and what a user running docker would get."""
        return self._info(tool=True)

    def store(self) -> DockerStore:
        return docker_store(self._info())

    def _view_of_containerd(self, items: list[dict[str, Any]]) -> None:
        """On containerd's image store, docker's layers are its namespace's snapshots: say so (core
        reads them through the backend that reads a whole containerd)."""
        if items and overlay2_store(items) is None:
            where = docker_store(self._info())
            if where.on_containerd and where.containerd:
                raise ViewOf(self.name, where.store, where.containerd)

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
            from ...runner import failure

            raise failure(result, endpoint=self.endpoint.address, classify=self.classify)
        # an image removed between the two calls is simply not listed
        data = load_json(result, self.endpoint.address) if result.stdout.strip() else []
        if not isinstance(data, list):
            raise not_understood(result, "expected a JSON list", self.endpoint.address)
        return data

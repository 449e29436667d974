"""docker's Engine API over its unix socket, read-only, with Python's own http.client: what ``docker
image ls`` / ``image inspect`` / ``info`` ask dockerd, without starting a docker process.

Only GET requests, only on a local unix socket (a docker context, tcp or ssh endpoint takes the CLI
path). Unversioned paths: dockerd answers them at its own API version, and the fields ctrtool reads
(Id, RepoTags, RepoDigests, Size, Created, Descriptor, GraphDriver, RootFS; DockerRootDir, Driver,
DriverStatus, Containerd) are the same JSON the CLI prints. Anything unexpected (no socket, refused,
an HTTP error, not JSON) raises :class:`ApiUnavailable`: the caller asks the CLI instead, which
reports the problem in its own words.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import quote


class ApiUnavailable(Exception):
    """The Engine API did not answer as expected: use the docker CLI."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def socket_path(address: str | None) -> str | None:
    """The socket file of a ``unix://`` docker endpoint (or a bare path); None for any other."""
    if not address:
        return None
    if address.startswith("unix://"):
        return address[len("unix://") :] or None
    return address if address.startswith("/") else None


class EngineAPI:
    """One keep-alive connection to dockerd; GET only. ``remaining()``: the seconds the backend has
    left (its deadline): each request gets at most that."""

    def __init__(self, path: str, remaining: Callable[[], float]):
        self.path = path
        self.remaining = remaining
        self.conn = _UnixConnection(path, max(remaining(), 0.01))

    def get(self, url: str, missing_ok: bool = False) -> Any:
        """The JSON at ``url``; None for a 404 when ``missing_ok``."""
        left = self.remaining()
        if left <= 0:
            raise ApiUnavailable(f"GET {url}: no time left")
        self.conn.timeout = left
        if self.conn.sock is not None:
            self.conn.sock.settimeout(left)
        try:
            self.conn.request("GET", url, headers={"Host": "docker", "Accept": "application/json"})
            resp = self.conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise ApiUnavailable(f"GET {url}: {exc}") from None
        if resp.status == 404 and missing_ok:
            return None
        if resp.status != 200:
            raise ApiUnavailable(f"GET {url}: HTTP {resp.status}")
        try:
            return json.loads(body)
        except ValueError as exc:
            raise ApiUnavailable(f"GET {url}: not JSON ({exc})") from None

    def image_ids(self) -> list[str]:
        """What ``docker image ls -q --no-trunc`` lists: each image id once, in dockerd's order."""
        data = self.get("/images/json")
        if not isinstance(data, list) or not all(isinstance(i, dict) and i.get("Id") for i in data):
            raise ApiUnavailable("GET /images/json: expected a list of images with Id")
        return list(dict.fromkeys(i["Id"] for i in data))

    def inspect(self, ids: list[str]) -> list[dict[str, Any]]:
        """What ``docker image inspect ID...`` prints; an image gone meanwhile is left out."""
        out = []
        for image_id in ids:
            item = self.get(f"/images/{quote(image_id, safe=':')}/json", missing_ok=True)
            if item is None:
                continue
            if not isinstance(item, dict):
                raise ApiUnavailable(f"GET /images/{image_id}/json: expected an object")
            out.append(item)
        return out

    def info(self) -> dict[str, Any]:
        data = self.get("/info")
        if not isinstance(data, dict) or "DockerRootDir" not in data:
            raise ApiUnavailable("GET /info: expected an object with DockerRootDir")
        return data

    def close(self) -> None:
        self.conn.close()

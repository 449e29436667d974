"""Test images that are not the lab's, and a minimal local registry (distribution API v2, read
only, plain HTTP on 127.0.0.1) to pull them from: docker, containerd and the CRI all use plain HTTP
for a registry on localhost."""

from __future__ import annotations

import gzip
import hashlib
import json
import secrets
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ctrtool import imagebuild as lab_image


@dataclass
class TestImage:
    ref: str
    id: str
    archive: bytes  # a docker-archive tar (docker load, ctr images import)
    config: bytes
    layer: bytes  # uncompressed


def scratch_image(ref: str) -> TestImage:
    """A tiny image of its own (a few files, a unique label): its id is shared with nothing, so
    removing it through the CRI (which removes every name of an image) touches nothing else."""
    layer = lab_image.release_layer()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = lab_image.image_config(
        [diff_id],
        ["ctrtool test"],
        arch=lab_image.platform_arch(),
        cmd=["/bin/sh"],
        labels={"ctrtool.test": secrets.token_hex(8)},
    )
    archive, image_id = lab_image.docker_archive(ref, config, [layer])
    return TestImage(ref, image_id, archive, lab_image.canonical_json(config), layer)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Registry:
    """Serves images under any repository name: ``localhost:PORT/<repo>:<tag>``."""

    def __init__(self):
        self.manifests: dict[str, bytes] = {}  # "repo:tag" and digests -> manifest
        self.blobs: dict[str, bytes] = {}
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_HEAD(self):
                self._answer(head=True)

            def do_GET(self):
                self._answer(head=False)

            def _answer(self, head: bool):
                path = self.path.split("?", 1)[0]
                body, kind, digest = b"{}", "application/json", None
                if path in ("/v2", "/v2/"):
                    pass
                elif "/manifests/" in path:
                    repo, ref = path[4:].split("/manifests/", 1)
                    key = ref if ref.startswith("sha256:") else f"{repo}:{ref}"
                    if key not in registry.manifests:
                        return self._missing("MANIFEST_UNKNOWN")
                    body = registry.manifests[key]
                    kind, digest = "application/vnd.docker.distribution.manifest.v2+json", _digest(body)
                elif "/blobs/" in path:
                    digest = path.rsplit("/", 1)[1]
                    if digest not in registry.blobs:
                        return self._missing("BLOB_UNKNOWN")
                    body, kind = registry.blobs[digest], "application/octet-stream"
                else:
                    return self._missing("NAME_UNKNOWN")
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Docker-Distribution-API-Version", "registry/2.0")
                if digest:
                    self.send_header("Docker-Content-Digest", digest)
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def _missing(self, code: str):
                body = json.dumps({"errors": [{"code": code, "message": "not here"}]}).encode()
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add(self, repo: str, tag: str, image: TestImage) -> str:
        layer = gzip.compress(image.layer, mtime=0)
        self.blobs[_digest(layer)] = layer
        self.blobs[_digest(image.config)] = image.config
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {
                    "mediaType": "application/vnd.docker.container.image.v1+json",
                    "size": len(image.config),
                    "digest": _digest(image.config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "size": len(layer),
                        "digest": _digest(layer),
                    }
                ],
            }
        ).encode()
        self.manifests[f"{repo}:{tag}"] = manifest
        self.manifests[_digest(manifest)] = manifest
        return f"localhost:{self.port}/{repo}:{tag}"

    def __enter__(self) -> Registry:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def trusted_by_the_cri(lab, registry: Registry):
    """The node set up the way an operator lets containerd 2.x's CRI pull from a plain-HTTP registry:
    a hosts.toml for it in the CRI's registry config_path (the lab's containerd/certs.d). containerd
    1.x uses plain HTTP for a registry on localhost by itself. Removed on exit."""
    import contextlib
    import shutil

    @contextlib.contextmanager
    def trusted():
        host = f"localhost:{registry.port}"
        directory = lab.registry_hosts_dir / host
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "hosts.toml").write_text(
            f'server = "http://{host}"\n\n[host."http://{host}"]\n  capabilities = ["pull", "resolve"]\n'
        )
        try:
            yield
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    return trusted()

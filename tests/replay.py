"""A replay runner: the adapters' tool calls answered from the outputs recorded from the real tools
(scripts/record_fixtures.py), so that core's routing and merging run without daemons.

A fixture set is a directory (tests/fixtures: the debian profile; tests/fixtures/profiles/<name>:
another stack) of <tool>/<slug>.json files and the environment the lab gave the tools
(recorded-from.json). Every call an adapter makes is looked up by its slug (the recorder's name for
it: the argv without connection flags) and answered with the recorded exit code, stdout and stderr;
a call that was not recorded fails the test. The content store's recorded path is pointed at the
blobs copied beside the fixtures.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from ctrtool import runner

ROOT = Path(__file__).resolve().parent / "fixtures"
sys.path.insert(0, str(ROOT.parent.parent / "scripts"))

from record_fixtures import slug  # noqa: E402


class Replay:
    def __init__(self, fixtures: Path):
        self.fixtures = fixtures
        meta = json.loads((fixtures / "recorded-from.json").read_text())
        self.env: dict[str, str] = meta.get("env") or self._lab_env(meta["lab_dir"])
        self.content_root: str = meta["content_root"]
        self.calls: list[list[str]] = []
        self.answers: dict[tuple[str, str], dict[str, Any]] = {}
        for path in fixtures.glob("*/*.json"):
            data = json.loads(path.read_text())
            self.answers[(path.parent.name, path.stem)] = data

    def __call__(
        self, argv, *, timeout=None, endpoint=None, unset_env=(), check=True, input=None, classify=None, **_ignored
    ) -> runner.Result:
        argv = list(argv)
        tool = os.path.basename(argv[0])
        self.calls.append(argv)
        recorded = self.answers.get((tool, slug(argv)))
        if recorded is None:
            raise AssertionError(f"not recorded: {tool} {slug(argv)} ({argv})")
        stdout = recorded["stdout"].replace(self.content_root, str(self.fixtures / "ctr" / "content"))
        result = runner.Result(argv, recorded["returncode"], stdout, recorded["stderr"], 0.0)
        if check and result.returncode != 0:
            raise runner.failure(result, endpoint=endpoint, classify=classify)
        return result

    @staticmethod
    def _lab_env(lab_dir: str) -> dict[str, str]:
        """What `ctrtool lab env` gave the tools, for a recording that did not keep it."""
        from ctrtool.lab import Lab

        return {k: v for k, v in Lab(lab_dir, "debian").env().items() if k not in ("PATH", "CTRTOOL_LAB_DIR")}

    def install(self, monkeypatch) -> Replay:
        import ctrtool.adapters.base as base

        monkeypatch.setattr(base, "run", self)
        monkeypatch.setattr(runner, "run", self)
        # the recorded endpoints' sockets are not here: nothing is dialled, so nothing to check
        monkeypatch.setattr(base.Adapter, "_require_socket", lambda adapter, argv: None)
        return self

    def settings(self):
        from ctrtool.config import Flags, load

        env = {
            k: v
            for k, v in os.environ.items()
            if k
            not in (
                "DOCKER_HOST",
                "DOCKER_CONTEXT",
                "CONTAINERD_ADDRESS",
                "CONTAINERD_NAMESPACE",
                "CTRTOOL_CONFIG",
                "CONTAINER_RUNTIME_ENDPOINT",
                "IMAGE_SERVICE_ENDPOINT",
                "CRI_CONFIG_FILE",
                "CONTAINERS_STORAGE_CONF",
                "CTRTOOL_PASSWD_FILE",
            )
        }
        env.update(self.env)
        env["XDG_CONFIG_HOME"] = "/nonexistent-ctrtool-replay"
        # a replay answers tool calls: the tool path, never a live containerd's files on this machine
        env["CTRTOOL_VIA"] = "tools"
        # nor this machine's podman stores: a rootful one that does not exist, no users' homes
        env["CONTAINERS_STORAGE_CONF"] = str(ROOT.parent / "replay_no_podman" / "storage.conf")
        env["CTRTOOL_PASSWD_FILE"] = str(ROOT.parent / "replay_no_podman" / "passwd")
        return load(Flags(), env=env)
